/* common/redis_cluster.c against a real 3-master Redis Cluster: sl_redis with a
 * redis+cluster:// URL sends every command to the master of its key's slot,
 * follows MOVED (a slot moved after the map was read) and ASK (a slot in
 * migration), keeps pipelines in order across nodes and resends only the
 * redirected commands of a pipeline (INCR counts prove nothing ran twice or not
 * at all), runs keyless commands per node, and says what is wrong with a seed
 * that is not a cluster node. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashslot.h"
#include "common/redis.h"
#include "support/cluster.h"

static th_cluster cl;

static void setup(void)
{
    th_cluster_start(&cl, 3);
}

static void teardown(void)
{
    th_cluster_stop(&cl);
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 180);

static sl_redis *connect_url(const char *url)
{
    char err[512] = "";
    sl_redis *r = sl_redis_new(url, NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    return r;
}

static long long get_int(th_cluster *c, int node, const char *key)
{
    redisReply *r = th_cluster_cmd(c, node, "GET %s", key);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* A key whose slot is on node. */
static void key_on(int node, const char *prefix, char *buf, size_t n)
{
    for (int i = 0;; i++) {
        snprintf(buf, n, "%s{%d}", prefix, i);
        if (th_cluster_node_of(&cl, buf) == node)
            return;
    }
}

Test(cluster, commands_go_to_the_master_of_their_slot)
{
    /* only the last seed is given: the map comes from it */
    char url[128];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", cl.srv[2].port);
    sl_redis *r = connect_url(url);
    cr_assert_eq(sl_redis_nodes(r), 3);
    int per_node[3] = {0};
    for (int k = 0; k < 90; k++) {
        char key[64];
        snprintf(key, sizeof key, "sluice:{q%d}:n", k);
        redisReply *rep = sl_redis_cmd(r, "INCRBY %s %d", key, k + 1);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == k + 1, "%s: %s", key,
                  rep && rep->str ? rep->str : sl_redis_errstr(r));
        freeReplyObject(rep);
        int node = th_cluster_node_of(&cl, key);
        cr_assert_eq(get_int(&cl, node, key), k + 1, "%s is on its master", key);
        per_node[node]++;
    }
    for (int i = 0; i < 3; i++)
        cr_assert_gt(per_node[i], 0, "node %d got keys", i);
    /* FCALL-style: the first key routes; keyless commands go to some master */
    const char *argv[] = {"EVAL", "return redis.call('GET', KEYS[1])", "1", "sluice:{q7}:n"};
    redisReply *rep = sl_redis_cmdargv(r, 4, argv, NULL);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "8") == 0, "EVAL: %s",
              rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    rep = sl_redis_cmd(r, "PING");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    sl_redis_free(r);
}

Test(cluster, keyless_commands_run_on_each_master)
{
    sl_redis *r = connect_url(cl.url);
    for (int k = 0; k < 60; k++) {
        redisReply *rep = sl_redis_cmd(r, "SET scan:{%d} v", k);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
        freeReplyObject(rep);
    }
    long long total = 0;
    for (int n = 0; n < sl_redis_nodes(r); n++) {
        const char *argv[] = {"DBSIZE"};
        redisReply *rep = sl_redis_cmdargv_at(r, n, 1, argv, NULL);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s", sl_redis_errstr(r));
        total += rep->integer;
        freeReplyObject(rep);
        char name[300];
        cr_assert(strstr(sl_redis_node_name(r, n, name, sizeof name), "127.0.0.1:"), "%s", name);
    }
    cr_assert_eq(total, 60, "every key counted once over the masters");
    sl_redis_free(r);
}

Test(cluster, pipelines_keep_order_across_nodes)
{
    sl_redis *r = connect_url(cl.url);
    enum { N = 600, KEYS = 30 };
    for (int i = 0; i < N; i++) {
        char key[64], val[16];
        snprintf(key, sizeof key, "sluice:{p%d}", i % KEYS);
        snprintf(val, sizeof val, "%d", i);
        const char *argv[] = {"RPUSH", key, val};
        cr_assert_eq(sl_redis_append_argv(r, 3, argv, NULL), 0, "%s", sl_redis_errstr(r));
    }
    for (int i = 0; i < N; i++) {
        redisReply *rep = sl_redis_get_reply(r);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "%s", sl_redis_errstr(r));
        cr_assert_eq(rep->integer, i / KEYS + 1, "reply %d is the RPUSH of element %d", i, i);
        freeReplyObject(rep);
    }
    for (int k = 0; k < KEYS; k++) {
        char key[64];
        snprintf(key, sizeof key, "sluice:{p%d}", k);
        redisReply *rep = th_cluster_cmd(&cl, th_cluster_node_of(&cl, key), "LRANGE %s 0 -1", key);
        cr_assert_eq(rep->elements, N / KEYS);
        for (size_t j = 0; j < rep->elements; j++)
            cr_assert_eq(atoi(rep->element[j]->str), (int)j * KEYS + k, "%s in order", key);
        freeReplyObject(rep);
    }
    sl_redis_free(r);
}

Test(cluster, moved_after_the_map_was_read)
{
    sl_redis *r = connect_url(cl.url);
    char key[64], other[64];
    key_on(0, "mv", key, sizeof key);
    key_on(1, "stay", other, sizeof other);
    unsigned slot = sl_hashslot(key, strlen(key));
    redisReply *rep = sl_redis_cmd(r, "SET %s 100", key);
    freeReplyObject(rep);
    th_cluster_move_slot(&cl, slot, 0, 2); /* r's map still says node 0 */
    rep = sl_redis_cmd(r, "INCR %s", key);
    cr_assert(rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 101, "%s",
              rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    cr_assert_eq(get_int(&cl, 2, key), 101);

    /* a pipeline whose commands meet the move again, mixed with another node's */
    th_cluster_move_slot(&cl, slot, 2, 1);
    for (int i = 0; i < 50; i++) {
        const char *a1[] = {"INCR", key}, *a2[] = {"INCR", other};
        cr_assert_eq(sl_redis_append_argv(r, 2, i % 2 ? a2 : a1, NULL), 0);
    }
    long long last_key = 0, last_other = 0;
    for (int i = 0; i < 50; i++) {
        rep = sl_redis_get_reply(r);
        cr_assert(rep && rep->type == REDIS_REPLY_INTEGER, "reply %d: %s", i,
                  rep && rep->str ? rep->str : sl_redis_errstr(r));
        if (i % 2) {
            cr_assert_eq(rep->integer, last_other + 1);
            last_other = rep->integer;
        } else {
            cr_assert_eq(rep->integer, i == 0 ? 102 : last_key + 1, "reply %d in order", i);
            last_key = rep->integer;
        }
        freeReplyObject(rep);
    }
    cr_assert_eq(get_int(&cl, 1, key), 101 + 25, "each redirected INCR ran exactly once");
    cr_assert_eq(get_int(&cl, 1, other), 25);
    sl_redis_free(r);
}

Test(cluster, ask_during_a_migration)
{
    sl_redis *r = connect_url(cl.url);
    char key[64], fid[64], tid[64];
    key_on(0, "ask", key, sizeof key);
    unsigned slot = sl_hashslot(key, strlen(key));
    redisReply *id = th_cluster_cmd(&cl, 0, "CLUSTER MYID");
    snprintf(fid, sizeof fid, "%s", id->str);
    freeReplyObject(id);
    id = th_cluster_cmd(&cl, 1, "CLUSTER MYID");
    snprintf(tid, sizeof tid, "%s", id->str);
    freeReplyObject(id);
    freeReplyObject(th_cluster_cmd(&cl, 1, "CLUSTER SETSLOT %u IMPORTING %s", slot, fid));
    freeReplyObject(th_cluster_cmd(&cl, 0, "CLUSTER SETSLOT %u MIGRATING %s", slot, tid));
    /* the key is not on node 0: node 0 answers ASK, the router asks node 1 */
    redisReply *rep = sl_redis_cmd(r, "SET %s asked", key);
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    rep = th_cluster_cmd(&cl, 1, "ASKING");
    freeReplyObject(rep);
    rep = th_cluster_cmd(&cl, 1, "GET %s", key);
    cr_assert(rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "asked") == 0, "the key was written on node 1");
    freeReplyObject(rep);
    /* in a pipeline too, and GET (also asked) sees it */
    const char *g[] = {"GET", key};
    cr_assert_eq(sl_redis_append_argv(r, 2, g, NULL), 0);
    rep = sl_redis_get_reply(r);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "asked") == 0, "%s",
              rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    sl_redis_free(r);
}

Test(cluster, watch_multi_exec_follow_their_key)
{
    sl_redis *r = connect_url(cl.url);
    char key[64];
    key_on(2, "tx", key, sizeof key);
    redisReply *rep = sl_redis_cmd(r, "PING"); /* on some node, maybe not 2 */
    freeReplyObject(rep);
    freeReplyObject(sl_redis_cmd(r, "WATCH %s", key));
    freeReplyObject(sl_redis_cmd(r, "MULTI"));
    freeReplyObject(sl_redis_cmd(r, "SET %s in-tx", key));
    rep = sl_redis_cmd(r, "EXEC");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1, "EXEC: %s",
              rep && rep->str ? rep->str : "?");
    freeReplyObject(rep);
    rep = th_cluster_cmd(&cl, 2, "GET %s", key);
    cr_assert_str_eq(rep->str, "in-tx");
    freeReplyObject(rep);
    sl_redis_free(r);
}

Test(cluster, a_seed_that_is_not_a_cluster_node)
{
    th_server plain = {0};
    th_server_start(&plain);
    char url[128], err[256];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", plain.port);
    sl_redis *r = sl_redis_new(url, NULL, err, sizeof err);
    cr_assert_not_null(r);
    cr_assert_eq(sl_redis_connect(r), -1);
    cr_assert(strstr(sl_redis_errstr(r), "not a cluster node") && strstr(sl_redis_errstr(r), "use a redis:// URL"),
              "%s", sl_redis_errstr(r));
    sl_redis_free(r);
    th_server_kill(&plain);

    /* a dead first seed is skipped */
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d,127.0.0.1:%d", th_free_port(), cl.srv[1].port);
    r = connect_url(url);
    cr_assert_eq(sl_redis_nodes(r), 3);
    sl_redis_free(r);
}
