/* The Redis Cluster fixture (cluster.h). */
#include "support/cluster.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hashslot.h"

redisReply *th_cluster_cmd(th_cluster *c, int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->rc[i], fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "node %d: %s", i, c->rc[i]->errstr);
    return r;
}

static void ok(th_cluster *c, int i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c->rc[i], fmt, ap);
    va_end(ap);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "node %d: %s: %s", i, fmt, r && r->str ? r->str : c->rc[i]->errstr);
    freeReplyObject(r);
}

static int ready(void *arg)
{
    th_cluster *c = arg;
    char want[64];
    snprintf(want, sizeof want, "cluster_known_nodes:%d\r", c->n);
    for (int i = 0; i < c->n; i++) {
        if (!c->rc[i])
            continue;
        redisReply *r = th_cluster_cmd(c, i, "CLUSTER INFO");
        int up = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") && strstr(r->str, want);
        freeReplyObject(r);
        if (!up)
            return 0;
    }
    return 1;
}

/* Every live node says cluster_state:ok. */
static int ready_state(th_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        if (!c->rc[i])
            continue;
        redisReply *r = th_cluster_cmd(c, i, "CLUSTER INFO");
        int up = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
        freeReplyObject(r);
        if (!up)
            return 0;
    }
    return 1;
}

void th_cluster_start(th_cluster *c, int n)
{
    cr_assert(n >= 1 && n <= TH_CLUSTER_MAX);
    memset(c, 0, sizeof *c);
    c->n = c->masters = n;
    size_t ul = (size_t)snprintf(c->url, sizeof c->url, "redis+cluster://");
    for (int i = 0; i < n; i++) {
        c->srv[i].cluster = 1;
        th_server_start(&c->srv[i]);
        c->rc[i] = th_server_connect(&c->srv[i]);
        int lo = SL_HASHSLOTS * i / n, hi = SL_HASHSLOTS * (i + 1) / n - 1;
        ok(c, i, "CLUSTER ADDSLOTSRANGE %d %d", lo, hi);
        ul += (size_t)snprintf(c->url + ul, sizeof c->url - ul, "%s127.0.0.1:%d", i ? "," : "", c->srv[i].port);
    }
    for (int i = 1; i < n; i++)
        ok(c, 0, "CLUSTER MEET 127.0.0.1 %d", c->srv[i].port);
    cr_assert(th_wait_until(ready, c, 60000), "the cluster did not form (see %s)", c->srv[0].log);
}

static char *node_id(th_cluster *c, int i, char *buf, size_t n);

static int replica_up(void *arg)
{
    th_cluster *c = ((void **)arg)[0];
    int i = *(int *)((void **)arg)[1];
    if (!c->rc[i])
        return 0;
    redisReply *r = th_cluster_cmd(c, i, "INFO replication");
    int up = r->type == REDIS_REPLY_STRING && strstr(r->str, "role:slave") && strstr(r->str, "master_link_status:up");
    freeReplyObject(r);
    return up;
}

void th_cluster_wait_replica_up(th_cluster *c, int i, int timeout_ms)
{
    void *arg[2] = {c, &i};
    cr_assert(th_wait_until(replica_up, arg, timeout_ms), "node %d is not an up replica (see %s)", i, c->srv[i].log);
}

void th_cluster_start_replicated(th_cluster *c, int n)
{
    cr_assert(n >= 1 && 2 * n <= TH_CLUSTER_MAX);
    th_cluster_start(c, n);
    for (int i = n; i < 2 * n; i++) {
        c->srv[i].cluster = 1;
        th_server_start(&c->srv[i]);
        c->rc[i] = th_server_connect(&c->srv[i]);
        c->n = i + 1; /* th_cluster_stop kills it */
        ok(c, 0, "CLUSTER MEET 127.0.0.1 %d", c->srv[i].port);
    }
    cr_assert(th_wait_until(ready, c, 60000), "the replicas did not join (see %s)", c->srv[n].log);
    for (int i = n; i < 2 * n; i++) {
        char id[64];
        node_id(c, i - n, id, sizeof id);
        /* the replica must know the master first: retried while gossip spreads */
        for (int tries = 0;; tries++) {
            redisReply *r = th_cluster_cmd(c, i, "CLUSTER REPLICATE %s", id);
            int good = r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (good)
                break;
            cr_assert_lt(tries, 300, "node %d cannot replicate node %d", i, i - n);
            th_sleep_ms(20);
        }
    }
    for (int i = n; i < 2 * n; i++)
        th_cluster_wait_replica_up(c, i, 60000);
}

int th_cluster_add_master(th_cluster *c)
{
    cr_assert_lt(c->n, TH_CLUSTER_MAX);
    int i = c->n;
    c->srv[i].cluster = 1;
    th_server_start(&c->srv[i]);
    c->rc[i] = th_server_connect(&c->srv[i]);
    c->n = i + 1;
    if (c->masters == i)
        c->masters = i + 1; /* only when no replicas follow the masters */
    ok(c, 0, "CLUSTER MEET 127.0.0.1 %d", c->srv[i].port);
    cr_assert(th_wait_until(ready, c, 60000), "node %d did not join (see %s)", i, c->srv[i].log);
    return i;
}

void th_cluster_kill(th_cluster *c, int i)
{
    if (c->rc[i])
        redisFree(c->rc[i]);
    c->rc[i] = NULL;
    th_server_kill(&c->srv[i]);
}

void th_cluster_restart(th_cluster *c, int i)
{
    th_server_start(&c->srv[i]);
    c->rc[i] = th_server_connect(&c->srv[i]);
}

void th_cluster_stop(th_cluster *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        if (c->rc[i])
            redisFree(c->rc[i]);
        c->rc[i] = NULL;
        if (c->srv[i].pid)
            th_server_kill(&c->srv[i]);
    }
}

/* The master of key's slot, or -1 (none online). */
static int owner_of(th_cluster *c, const char *key)
{
    unsigned slot = sl_hashslot(key, strlen(key));
    int live = 0;
    while (live < c->n - 1 && !c->rc[live])
        live++;
    redisReply *r = th_cluster_cmd(c, live, "CLUSTER SHARDS");
    int owner = -1;
    for (size_t s = 0; s < r->elements && owner < 0; s++) {
        redisReply *shard = r->element[s], *slots = NULL, *nodes = NULL;
        for (size_t k = 0; k + 1 < shard->elements; k += 2) {
            if (strcmp(shard->element[k]->str, "slots") == 0)
                slots = shard->element[k + 1];
            if (strcmp(shard->element[k]->str, "nodes") == 0)
                nodes = shard->element[k + 1];
        }
        for (size_t k = 0; slots && k + 1 < slots->elements; k += 2)
            if (slot >= (unsigned)slots->element[k]->integer && slot <= (unsigned)slots->element[k + 1]->integer)
                for (size_t m = 0; m < nodes->elements; m++) {
                    redisReply *node = nodes->element[m];
                    long long port = -1;
                    int master = 0;
                    for (size_t j = 0; j + 1 < node->elements; j += 2) {
                        if (strcmp(node->element[j]->str, "port") == 0)
                            port = node->element[j + 1]->integer;
                        if (strcmp(node->element[j]->str, "role") == 0)
                            master = strcmp(node->element[j + 1]->str, "master") == 0;
                        if (strcmp(node->element[j]->str, "health") == 0 &&
                            strcmp(node->element[j + 1]->str, "online") != 0)
                            port = -1; /* failed (a killed master) or still loading */
                    }
                    for (int i = 0; master && i < c->n; i++)
                        if (c->srv[i].port == port)
                            owner = i;
                }
    }
    freeReplyObject(r);
    return owner;
}

int th_cluster_node_of(th_cluster *c, const char *key)
{
    int owner = owner_of(c, key);
    cr_assert_geq(owner, 0, "no node owns %s", key);
    return owner;
}

typedef struct new_master_arg {
    th_cluster *c;
    const char *key;
    int not, found;
} new_master_arg;

static int has_new_master(void *arg)
{
    new_master_arg *a = arg;
    if (!ready_state(a->c))
        return 0;
    int m = owner_of(a->c, a->key);
    if (m < 0 || m == a->not || !a->c->rc[m])
        return 0;
    a->found = m;
    return 1;
}

int th_cluster_wait_new_master(th_cluster *c, const char *key, int not, int timeout_ms)
{
    new_master_arg a = {c, key, not, -1};
    cr_assert(th_wait_until(has_new_master, &a, timeout_ms), "no node took over %s from node %d", key, not );
    return a.found;
}

redisContext *th_cluster_route(void *arg, const char *q)
{
    th_cluster *c = arg;
    char key[200];
    snprintf(key, sizeof key, "sluice:{%s}", q);
    return c->rc[th_cluster_node_of(c, key)];
}

static char *node_id(th_cluster *c, int i, char *buf, size_t n)
{
    redisReply *r = th_cluster_cmd(c, i, "CLUSTER MYID");
    snprintf(buf, n, "%s", r->str);
    freeReplyObject(r);
    return buf;
}

typedef struct agree_arg {
    th_cluster *c;
    unsigned slot;
    int to;
} agree_arg;

static int all_agree(void *arg)
{
    agree_arg *a = arg;
    for (int i = 0; i < a->c->n; i++) {
        if (!a->c->rc[i])
            continue;
        redisReply *r = th_cluster_cmd(a->c, i, "CLUSTER SLOTS");
        int good = 0;
        for (size_t s = 0; s < r->elements; s++) {
            redisReply *e = r->element[s];
            if (a->slot >= (unsigned)e->element[0]->integer && a->slot <= (unsigned)e->element[1]->integer)
                good = e->element[2]->element[1]->integer == a->c->srv[a->to].port;
        }
        freeReplyObject(r);
        if (!good)
            return 0;
    }
    return 1;
}

void th_cluster_move_slot(th_cluster *c, unsigned slot, int from, int to)
{
    th_cluster_move_slot_paced(c, slot, from, to, NULL, 0);
}

static void migrate(th_cluster *c, int from, int to, const char *key)
{
    redisReply *m = th_cluster_cmd(c, from, "MIGRATE 127.0.0.1 %d %s 0 5000", c->srv[to].port, key);
    cr_assert(m->type == REDIS_REPLY_STATUS, "MIGRATE %s: %s", key, m->str);
    freeReplyObject(m);
}

void th_cluster_move_slot_paced(th_cluster *c, unsigned slot, int from, int to, const char *first, int pause_ms)
{
    char fid[64], tid[64];
    node_id(c, from, fid, sizeof fid);
    node_id(c, to, tid, sizeof tid);
    ok(c, to, "CLUSTER SETSLOT %u IMPORTING %s", slot, fid);
    ok(c, from, "CLUSTER SETSLOT %u MIGRATING %s", slot, tid);
    if (first) {
        migrate(c, from, to, first);
        th_sleep_ms(pause_ms);
    }
    for (;;) {
        redisReply *r = th_cluster_cmd(c, from, "CLUSTER GETKEYSINSLOT %u 100", slot);
        size_t n = r->elements;
        for (size_t k = 0; k < n; k++)
            migrate(c, from, to, r->element[k]->str);
        freeReplyObject(r);
        if (n == 0)
            break;
    }
    for (int i = 0; i < c->masters; i++)
        if (c->rc[i])
            ok(c, i, "CLUSTER SETSLOT %u NODE %s", slot, tid);
    agree_arg a = {c, slot, to};
    cr_assert(th_wait_until(all_agree, &a, 30000), "slot %u did not settle on node %d", slot, to);
}

long long th_cluster_errorstat(th_cluster *c, int i, const char *code)
{
    redisReply *r = th_cluster_cmd(c, i, "INFO errorstats");
    char want[64];
    snprintf(want, sizeof want, "errorstat_%s:count=", code);
    const char *at = r->type == REDIS_REPLY_STRING ? strstr(r->str, want) : NULL;
    long long n = at ? atoll(at + strlen(want)) : 0;
    freeReplyObject(r);
    return n;
}
