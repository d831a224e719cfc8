/* common/hashslot.c against a real cluster-enabled redis-server: for keys of
 * every shape (plain, tagged, nested and empty braces, binary bytes, long),
 * sl_hashslot equals what CLUSTER KEYSLOT answers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashslot.h"
#include "support/th.h"

static th_server srv = {.cluster = 1};

static void setup(void)
{
    th_server_start(&srv);
}

static void teardown(void)
{
    th_server_kill(&srv);
}

TestSuite(keyslot, .init = setup, .fini = teardown, .timeout = 120);

/* CLUSTER KEYSLOT of key[0..len) (binary-safe). */
static long long server_slot(redisContext *c, const char *key, size_t len)
{
    const char *argv[] = {"CLUSTER", "KEYSLOT", key};
    size_t lens[] = {7, 7, len};
    redisReply *r = redisCommandArgv(c, 3, argv, lens);
    cr_assert(r && r->type == REDIS_REPLY_INTEGER, "CLUSTER KEYSLOT: %s", r && r->str ? r->str : c->errstr);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

Test(keyslot, equals_the_server_for_every_shape)
{
    redisContext *c = th_server_connect(&srv);
    static const char *const shapes[] = {"",
                                         "foo",
                                         "{",
                                         "}",
                                         "{}",
                                         "{{}}",
                                         "a{b}c",
                                         "a{}b{c}",
                                         "{a}{b}",
                                         "x{{y}}z",
                                         "sluice:{orders}",
                                         "sluice:{orders}:dlq:g",
                                         "sluice:{:schemas}",
                                         "sluice:{orders#3}:sched",
                                         "{user1000}.following",
                                         "no{close"};
    int n = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++, n++)
        cr_assert_eq(sl_hashslot(shapes[i], strlen(shapes[i])), server_slot(c, shapes[i], strlen(shapes[i])),
                     "key \"%s\"", shapes[i]);
    /* Pseudo-random keys over every byte value, braces made frequent. */
    unsigned seed = 12345;
    char key[300];
    for (int k = 0; k < 2000; k++, n++) {
        size_t len = (size_t)(rand_r(&seed) % 40) + (k % 100 == 0 ? 250 : 0);
        for (size_t j = 0; j < len; j++) {
            int r = rand_r(&seed) % 10;
            key[j] = r == 0 ? '{' : r == 1 ? '}' : (char)(rand_r(&seed) % 256);
        }
        cr_assert_eq(sl_hashslot(key, len), server_slot(c, key, len), "random key %d (%zu bytes)", k, len);
    }
    cr_assert_eq(n, 2016);
    redisFree(c);
}
