/* Redis Cluster hash slots (hashslot.h). Written here because the one C
 * library that routes by slot, hiredis-cluster, is not in Debian 12 (and needs
 * hiredis >= 1.0); the function is a dozen lines. Bitwise CRC: keys are short
 * and a queue's slot is computed once, so a 512-byte table buys nothing. */
#include "common/hashslot.h"

#include <string.h>

uint16_t sl_crc16(const char *s, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)(unsigned char)s[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned sl_hashslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from) /* "{}" hashes the whole key */
            return sl_crc16(key + from, (size_t)(close - (key + from))) & (SL_HASHSLOTS - 1);
    }
    return sl_crc16(key, len) & (SL_HASHSLOTS - 1);
}
