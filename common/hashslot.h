/* Redis Cluster hash slots: which of the 16384 slots a key belongs to, with
 * the hash-tag rule (only the part between the first "{" and the next "}" is
 * hashed, when that part is not empty). Every key of a queue carries the tag
 * {Q}, so a queue's keys share one slot. Pure: no I/O, no allocation. */
#ifndef SL_COMMON_HASHSLOT_H
#define SL_COMMON_HASHSLOT_H

#include <stddef.h>
#include <stdint.h>

/** Number of hash slots of a Redis Cluster. */
#define SL_HASHSLOTS 16384

/** CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0, no reflection) of
 *  s[0..len), the checksum Redis Cluster hashes keys with. */
uint16_t sl_crc16(const char *s, size_t len);

/** The hash slot of key[0..len), 0..SL_HASHSLOTS-1, as CLUSTER KEYSLOT gives. */
unsigned sl_hashslot(const char *key, size_t len);

#endif
