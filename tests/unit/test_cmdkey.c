/* Tests for common/cmdkey.c: the key each command is routed by in a cluster. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/cmdkey.h"

/* The routing key of a command written as space-separated words, or "" for none. */
static const char *key_of(const char *words)
{
    static char copy[512], out[512];
    const char *argv[32];
    int argc = 0;
    snprintf(copy, sizeof copy, "%s", words);
    for (char *t = strtok(copy, " "); t && argc < 32; t = strtok(NULL, " "))
        argv[argc++] = t;
    const char *k = NULL;
    size_t n = 0;
    if (!sl_cmd_key(argc, argv, NULL, &k, &n))
        return "";
    snprintf(out, sizeof out, "%.*s", (int)n, k);
    return out;
}

Test(cmdkey, plain_commands_take_the_first_argument)
{
    cr_assert_str_eq(key_of("XADD sluice:{q} * k v"), "sluice:{q}");
    cr_assert_str_eq(key_of("get k"), "k");
    cr_assert_str_eq(key_of("ZRANGE sluice:{q}:sched 0 -1"), "sluice:{q}:sched");
    cr_assert_str_eq(key_of("WATCH sluice:{:schemas}"), "sluice:{:schemas}");
    cr_assert_str_eq(key_of("XAUTOCLAIM s g c 0 0-0"), "s");
}

Test(cmdkey, scripts_take_their_first_key)
{
    cr_assert_str_eq(key_of("FCALL sluice_ack 3 sluice:{q} f d a b"), "sluice:{q}");
    cr_assert_str_eq(key_of("fcall_ro sluice_peek 1 k"), "k");
    cr_assert_str_eq(key_of("EVALSHA abc 2 a b"), "a");
    cr_assert_str_eq(key_of("FCALL sluice_version 0"), "");
    cr_assert_str_eq(key_of("EVAL return 0"), "", "malformed: no key");
}

Test(cmdkey, streams_and_subcommands)
{
    cr_assert_str_eq(key_of("XREADGROUP GROUP g c COUNT 10 BLOCK 5 STREAMS sluice:{q} >"), "sluice:{q}");
    cr_assert_str_eq(key_of("XREAD COUNT 1 STREAMS a b 0 0"), "a");
    cr_assert_str_eq(key_of("XREAD COUNT 1"), "");
    cr_assert_str_eq(key_of("XGROUP CREATE sluice:{q} g $ MKSTREAM"), "sluice:{q}");
    cr_assert_str_eq(key_of("XINFO GROUPS sluice:{q}"), "sluice:{q}");
    cr_assert_str_eq(key_of("XINFO HELP"), "");
    cr_assert_str_eq(key_of("MEMORY USAGE k"), "k");
}

Test(cmdkey, keyless_commands)
{
    const char *none[] = {
        "PING",           "INFO memory", "SCAN 0 MATCH x",   "MULTI", "EXEC", "WAIT 1 100", "FUNCTION LOAD REPLACE x",
        "CLUSTER SHARDS", "TIME",        "client setname x", "ROLE"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        cr_assert_str_eq(key_of(none[i]), "", "%s", none[i]);
    cr_assert_str_eq(key_of("GET"), "", "no argument");
    cr_assert_eq(sl_cmd_key(0, NULL, NULL, NULL, NULL), 0);
}

Test(cmdkey, binary_lengths)
{
    const char *argv[] = {"XADDxx", "k\0ey", "*"};
    size_t lens[] = {4, 4, 1};
    const char *k;
    size_t n;
    cr_assert_eq(sl_cmd_key(3, argv, lens, &k, &n), 1);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(k, "k\0ey", 4), 0);
}
