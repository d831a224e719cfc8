/* Redis Cluster hash slots (common/hashslot.c): the CRC16 check value and the
 * hash-tag rules of the Redis Cluster specification, on fixed vectors. The
 * cross-check against a real server's CLUSTER KEYSLOT is tests/redis/test_keyslot.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/hashslot.h"

#define SLOT(k) sl_hashslot((k), strlen(k))

Test(hashslot, crc16_check_value)
{
    cr_assert_eq(sl_crc16("123456789", 9), 0x31C3, "the XMODEM check value");
    cr_assert_eq(sl_crc16("", 0), 0);
}

Test(hashslot, plain_keys)
{
    cr_assert_eq(SLOT("foo"), 12182);
    cr_assert_eq(SLOT("bar"), 5061);
    cr_assert_eq(SLOT(""), 0);
}

Test(hashslot, hash_tags)
{
    cr_assert_eq(SLOT("{user1000}.following"), SLOT("{user1000}.followers"));
    cr_assert_eq(SLOT("{user1000}.following"), SLOT("user1000"));
    cr_assert_eq(SLOT("foo{}{bar}"), sl_crc16("foo{}{bar}", 10) & 16383, "an empty tag hashes the whole key");
    cr_assert_eq(SLOT("foo{{bar}}zap"), SLOT("{bar"), "the tag runs from the first { to the next }");
    cr_assert_eq(SLOT("foo{bar}{zap}"), SLOT("bar"), "only the first tag counts");
    cr_assert_eq(SLOT("foo{bar"), sl_crc16("foo{bar", 7) & 16383, "no closing brace: the whole key");
    cr_assert_eq(SLOT("sluice:{orders}:dlq:g"), SLOT("orders"));
    cr_assert_eq(SLOT("sluice:{orders}"), SLOT("sluice:{orders}:r:g"), "a queue's keys share its slot");
}

Test(hashslot, binary_keys_use_their_length)
{
    const char k[] = {'a', '\0', 'b'};
    cr_assert_neq(sl_hashslot(k, 3), sl_hashslot(k, 1), "a NUL byte is part of the key");
}
