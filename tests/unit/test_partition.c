/* Partitioned queues (common/partition.c): the FNV-1a vectors other-language
 * producers reproduce, partition names, splitting them back, discovery values
 * and the producer's choice (idempotency key, partition key, round robin). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/partition.h"

Test(partition, fnv1a_vectors)
{
    cr_assert_eq(sl_part_hash("", 0), 0x811c9dc5u);
    cr_assert_eq(sl_part_hash("a", 1), 0xe40c292cu);
    cr_assert_eq(sl_part_hash("foobar", 6), 0xbf9cf968u);
    /* the docs' example (docs/enqueue.md): order-42 in a queue of 4 partitions */
    cr_assert_eq(sl_part_hash("order-42", 8) % 4, (uint32_t)sl_part_pick(4, "order-42", NULL, NULL));
}

Test(partition, names)
{
    char b[SL_PARTITION_NAME_MAX], k[SL_KEY_MAX];

    cr_assert_eq(sl_part_name(b, sizeof b, "orders", 1, 0), 0);
    cr_assert_str_eq(b, "orders", "one partition keeps the queue's own name");
    cr_assert_eq(sl_part_name(b, sizeof b, "orders", 4, 3), 0);
    cr_assert_str_eq(b, "orders#3");
    cr_assert_eq(sl_part_name(b, sizeof b, "orders", 4, 4), -1);
    cr_assert_eq(sl_part_name(b, sizeof b, "orders", 4, -1), -1);
    cr_assert_eq(sl_part_name(b, sizeof b, "orders", 0, 0), -1);
    char longq[65];
    memset(longq, 'q', 64);
    longq[64] = '\0';
    cr_assert_eq(sl_part_name(b, sizeof b, longq, 1024, 1023), 0, "the longest name fits");
    cr_assert_eq(strlen(b), 69);
    cr_assert_eq(sl_part_name(b, 8, "orders", 4, 3), -1);
    cr_assert_eq(sl_key_stream(k, sizeof k, "orders#3"), 0);
    cr_assert_str_eq(k, "sluice:{orders#3}");
    cr_assert_eq(sl_key_idem(k, sizeof k, "orders#3", "K"), 0);
    cr_assert_str_eq(k, "sluice:{orders#3}:idem:K");
    cr_assert_eq(sl_key_partitions(k, sizeof k, "orders"), 0);
    cr_assert_str_eq(k, "sluice:{orders}:partitions");
}

Test(partition, split)
{
    size_t len;
    int i;
    const char *q = sl_part_split("orders#12", &len, &i);

    cr_assert_not_null(q);
    cr_assert_eq(len, 6);
    cr_assert_eq(i, 12);
    q = sl_part_split("orders", &len, &i);
    cr_assert_not_null(q);
    cr_assert_eq(len, 6);
    cr_assert_eq(i, -1);
    cr_assert_null(sl_part_split("orders#", &len, &i));
    cr_assert_null(sl_part_split("orders#01", &len, &i));
    cr_assert_null(sl_part_split("orders#1024", &len, &i));
    cr_assert_null(sl_part_split("orders#1x", &len, &i));
    cr_assert_null(sl_part_split("#1", &len, &i));
    cr_assert_not_null(sl_part_split("orders#1023", &len, &i));
    cr_assert_not_null(sl_part_split("orders#0", &len, &i));
    cr_assert_eq(i, 0);
}

Test(partition, discovery_values)
{
    cr_assert_eq(sl_part_parse_count("4", 1), 4);
    cr_assert_eq(sl_part_parse_count("1024", 4), 1024);
    cr_assert_eq(sl_part_parse_count("1", 1), 1);
    cr_assert_eq(sl_part_parse_count("0", 1), -1);
    cr_assert_eq(sl_part_parse_count("1025", 4), -1);
    cr_assert_eq(sl_part_parse_count("04", 2), -1);
    cr_assert_eq(sl_part_parse_count("", 0), -1);
    cr_assert_eq(sl_part_parse_count("4 ", 2), -1);
}

Test(partition, count_from_the_config)
{
    char err[512];
    sl_config *c = sl_cfg_load_string("{\"plugin_dir\":\"/p\",\"queues\":{\"q\":{\"partitions\":8}},"
                                      "\"pools\":[{\"name\":\"a\",\"plugins\":[\"x\"]}]}",
                                      "<t>", SL_CFG_NO_ENV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    cr_assert_eq(sl_part_count(c, "q"), 8);
    cr_assert_eq(sl_part_count(c, "default"), 1);
    cr_assert_eq(sl_part_count(NULL, "q"), 1);
    sl_cfg_free(c);
}

Test(partition, keys_pick_by_hash_else_round_robin)
{
    sl_part_rr rr = {0};
    int seen[5] = {0};

    cr_assert_eq(sl_part_pick(1, "k", NULL, &rr), 0);
    cr_assert_eq(sl_part_pick(1, NULL, NULL, &rr), 0);
    for (int i = 0; i < 20; i++) /* 4 rounds: each partition exactly 4 times */
        seen[sl_part_pick(5, NULL, "", &rr)]++;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(seen[i], 4, "partition %d got %d of 20", i, seen[i]);
    int a = sl_part_pick(5, "idem-1", NULL, &rr);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sl_part_pick(5, "idem-1", "other", &rr), a, "the idempotency key wins");
    cr_assert_eq(a, (int)(sl_part_hash("idem-1", 6) % 5));
    cr_assert_eq(sl_part_pick(5, "", "user-7", &rr), (int)(sl_part_hash("user-7", 6) % 5));
    cr_assert_eq(sl_part_pick(5, NULL, "user-7", &rr), sl_part_pick(5, NULL, "user-7", &rr));
    /* keys spread: 1000 distinct keys over 4 partitions, none empty */
    int hit[4] = {0};
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "job-%d", i);
        hit[sl_part_pick(4, key, NULL, NULL)]++;
    }
    for (int i = 0; i < 4; i++)
        cr_assert_gt(hit[i], 150, "partition %d got %d of 1000 keys", i, hit[i]);
}
