/* common/slotmap.c against a real 3-master Redis Cluster (three
 * cluster-enabled redis-servers, slots assigned with CLUSTER ADDSLOTSRANGE and
 * joined with CLUSTER MEET): the map from CLUSTER SHARDS and the one from
 * CLUSTER SLOTS agree, cover every slot, and send every key to the master
 * that takes it; each other master answers MOVED to that one. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashslot.h"
#include "common/slotmap.h"
#include "support/run.h"
#include "support/th.h"

#define NODES 3
static th_server srv[NODES] = {{.cluster = 1}, {.cluster = 1}, {.cluster = 1}};
static redisContext *rc[NODES];

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "%s", c->errstr);
    return r;
}

static void ok(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "%s: %s", fmt, r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
}

/* Every node says cluster_state:ok and sees NODES shards with a master. */
static int cluster_ready(void *arg)
{
    (void)arg;
    for (int i = 0; i < NODES; i++) {
        redisReply *r = cmd(rc[i], "CLUSTER INFO");
        int up = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
                 strstr(r->str, "cluster_known_nodes:3");
        freeReplyObject(r);
        if (!up)
            return 0;
    }
    return 1;
}

static void setup(void)
{
    static const int lo[NODES] = {0, 5461, 10923}, hi[NODES] = {5460, 10922, 16383};
    for (int i = 0; i < NODES; i++) {
        th_server_start(&srv[i]);
        rc[i] = th_server_connect(&srv[i]);
        ok(rc[i], "CLUSTER ADDSLOTSRANGE %d %d", lo[i], hi[i]);
    }
    for (int i = 1; i < NODES; i++)
        ok(rc[0], "CLUSTER MEET 127.0.0.1 %d", srv[i].port);
    cr_assert(th_wait_until(cluster_ready, NULL, 60000), "the cluster did not form (see %s)", srv[0].log);
}

static void teardown(void)
{
    for (int i = 0; i < NODES; i++) {
        if (rc[i])
            redisFree(rc[i]);
        th_server_kill(&srv[i]);
    }
}

TestSuite(slotmap, .init = setup, .fini = teardown, .timeout = 180);

static int node_of_port(int port)
{
    for (int i = 0; i < NODES; i++)
        if (srv[i].port == port)
            return i;
    return -1;
}

/* A map of every node's view, read with command (SHARDS or SLOTS). */
static void read_map(sl_slotmap *m, int node, int shards)
{
    char err[256] = "";
    redisReply *r = cmd(rc[node], shards ? "CLUSTER SHARDS" : "CLUSTER SLOTS");
    int rcode = shards ? sl_slotmap_from_shards(m, r, "127.0.0.1", err, sizeof err)
                       : sl_slotmap_from_slots(m, r, "127.0.0.1", err, sizeof err);
    cr_assert_eq(rcode, 0, "%s", err);
    freeReplyObject(r);
}

Test(slotmap, shards_and_slots_agree_and_cover_every_slot)
{
    static sl_slotmap a, b;
    for (int node = 0; node < NODES; node++) {
        read_map(&a, node, 1);
        read_map(&b, node, 0);
        cr_assert_eq(a.nnodes, NODES);
        cr_assert_eq(b.nnodes, NODES);
        cr_assert_eq(a.covered, SL_HASHSLOTS);
        cr_assert_eq(b.covered, SL_HASHSLOTS);
        for (unsigned s = 0; s < SL_HASHSLOTS; s++) {
            const sl_slotmap_node *x = sl_slotmap_lookup(&a, s), *y = sl_slotmap_lookup(&b, s);
            cr_assert(x && y && x->port == y->port && strcmp(x->host, y->host) == 0, "slot %u", s);
        }
        cr_assert_eq(sl_slotmap_lookup(&a, 0)->port, srv[0].port);
        cr_assert_eq(sl_slotmap_lookup(&a, 5460)->port, srv[0].port);
        cr_assert_eq(sl_slotmap_lookup(&a, 5461)->port, srv[1].port);
        cr_assert_eq(sl_slotmap_lookup(&a, 10923)->port, srv[2].port);
        cr_assert_eq(sl_slotmap_lookup(&a, 16383)->port, srv[2].port);
        cr_assert_null(sl_slotmap_lookup(&a, SL_HASHSLOTS));
    }
}

Test(slotmap, every_key_goes_to_the_master_that_takes_it)
{
    static sl_slotmap m;
    read_map(&m, 1, 1);
    char key[64];
    int taken = 0, moved = 0;
    for (int k = 0; k < 300; k++) {
        snprintf(key, sizeof key, k % 3 ? "sluice:{q%d}:dlq:g" : "plain-key-%d", k);
        unsigned slot = sl_hashslot(key, strlen(key));
        const sl_slotmap_node *n = sl_slotmap_lookup(&m, slot);
        cr_assert_not_null(n);
        int owner = node_of_port(n->port);
        cr_assert_geq(owner, 0);
        for (int i = 0; i < NODES; i++) {
            redisReply *r = cmd(rc[i], "SET %s v", key);
            if (i == owner) {
                cr_assert_eq(r->type, REDIS_REPLY_STATUS, "%s on its master: %s", key, r->str);
                taken++;
            } else {
                char want[64];
                snprintf(want, sizeof want, "MOVED %u 127.0.0.1:%d", slot, n->port);
                cr_assert(r->type == REDIS_REPLY_ERROR && strcmp(r->str, want) == 0, "%s: %s, want %s", key, r->str,
                          want);
                moved++;
            }
            freeReplyObject(r);
        }
    }
    cr_assert_eq(taken, 300);
    cr_assert_eq(moved, 600);
}

Test(slotmap, a_reply_of_another_shape_is_refused)
{
    static sl_slotmap m;
    char err[256];
    redisReply *r = cmd(rc[0], "PING");
    cr_assert_eq(sl_slotmap_from_shards(&m, r, "127.0.0.1", err, sizeof err), -1);
    cr_assert(strstr(err, "CLUSTER SHARDS is not an array"), "%s", err);
    cr_assert_eq(sl_slotmap_from_slots(&m, r, "127.0.0.1", err, sizeof err), -1);
    cr_assert_eq(m.covered, 0);
    freeReplyObject(r);
    r = cmd(rc[0], "CLUSTER SLOTS"); /* SLOTS' shape is not SHARDS' */
    cr_assert_eq(sl_slotmap_from_shards(&m, r, "127.0.0.1", err, sizeof err), -1);
    cr_assert(strstr(err, "a shard without slots and nodes arrays"), "%s", err);
    freeReplyObject(r);
}

/* A cluster of one node that never met another does not know its own
 * address: CLUSTER SHARDS and CLUSTER SLOTS name it "". The map uses the
 * address it was asked at, and the CLI and the C client work on it. */
Test(slotmap, a_one_node_cluster_is_reached_at_the_address_it_was_asked_at)
{
    static th_server one = {.cluster = 1};
    th_server_start(&one);
    redisContext *c = th_server_connect(&one);
    ok(c, "CLUSTER ADDSLOTSRANGE 0 16383");
    for (int tries = 0;; tries++) {
        redisReply *r = cmd(c, "CLUSTER INFO");
        int up = strstr(r->str, "cluster_state:ok") != NULL;
        freeReplyObject(r);
        if (up)
            break;
        cr_assert_lt(tries, 500, "the one-node cluster is not ok");
        th_sleep_ms(20);
    }
    static sl_slotmap a, b;
    char err[256] = "";
    for (int shards = 0; shards < 2; shards++) {
        redisReply *r = cmd(c, shards ? "CLUSTER SHARDS" : "CLUSTER SLOTS");
        sl_slotmap *m = shards ? &a : &b;
        int rcode = shards ? sl_slotmap_from_shards(m, r, "127.0.0.1", err, sizeof err)
                           : sl_slotmap_from_slots(m, r, "127.0.0.1", err, sizeof err);
        cr_assert_eq(rcode, 0, "%s", err);
        freeReplyObject(r);
        cr_assert_eq(m->nnodes, 1);
        cr_assert_str_eq(m->nodes[0].host, "127.0.0.1", "the address asked at, not \"%s\"", m->nodes[0].host);
        cr_assert_eq(m->nodes[0].port, one.port);
        cr_assert_eq(m->covered, SL_HASHSLOTS);
    }
    char url[128];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", one.port);
    th_run_result r = TH_RUN("enqueue", "-q", "-u", url, "oneq", "test.record", "{}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("stats", "-u", url, "oneq");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "length 1"), "%s", r.out);
    th_run_free(&r);
    redisFree(c);
    th_server_kill(&one);
}
