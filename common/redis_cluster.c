/* The Redis Cluster router behind sl_redis (redis.h) for redis+cluster:// URLs.
 *
 * Ours, and kept small: hiredis-cluster is not in Debian 12 and needs hiredis
 * >= 1.0 (Debian 12 has 0.14). What it does:
 * - the slot map from CLUSTER SHARDS (Redis 7.0), else CLUSTER SLOTS, asked of
 *   a connected master or the URL's seeds (common/slotmap.c);
 * - one blocking context per master, opened on first use;
 * - each command goes to the master of its key's slot (common/cmdkey.c,
 *   common/hashslot.c); a command without a key goes where the previous one
 *   went, so MULTI/EXEC follow their WATCH and WAIT follows its write;
 * - MOVED: the slot's new owner is taken at once, the whole map is read again
 *   (at most every REFRESH_MIN_MS) and the command resent; ASK: ASKING and
 *   resend once to the node named; TRYAGAIN and CLUSTERDOWN: waited out with
 *   backoff within redis.command_timeout, then the error is the caller's;
 * - pipelines: each command goes to its own slot's master and its reply is
 *   read from there in the order appended. A redirected command was not run,
 *   so it alone is resent (from the bytes kept for it): no XADD twice, no ack
 *   dropped. Before a node is used for a resend, the replies still owed on it
 *   are read and kept, so the resend's reply is never confused with them.
 * An I/O error on any node drops every connection (the caller reconnects,
 * which reads the map again): the same contract as one server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdkey.h"
#include "common/hashslot.h"
#include "common/redis_int.h"
#include "common/slotmap.h"
#include "common/util.h"

#define MAX_REDIRECTS 16 /* MOVED/ASK hops for one command */
#define REFRESH_MIN_MS 100 /* between two full map reads caused by MOVED */
#define ARGV_SCAN 32 /* arguments looked at for the routing key */

typedef struct pend {
    int node; /* where it was sent */
    int slot; /* its key's slot, -1 for none */
    char *buf; /* the command, for a resend */
    size_t len;
    redisReply *ready; /* its reply, when read early (before a resend on that node) */
} pend;

struct sl_cluster {
    sl_slotmap map;
    redisContext *ctx[SL_SLOTMAP_MAX_NODES]; /* per map node, NULL until used */
    int cur; /* node of the last command, -1 before any */
    unsigned char dirty[SL_SLOTMAP_MAX_NODES]; /* sent to since the last sl_redis_wait */
    int stale; /* a MOVED was seen: read the whole map when no pipeline is pending */
    int64_t refreshed_ms;
    pend *pq; /* pipelined commands whose replies are not returned yet, oldest first */
    size_t pq_head, pq_len, pq_cap;
};

static void pend_clear(sl_cluster *cl)
{
    for (size_t i = 0; i < cl->pq_len; i++) {
        pend *e = &cl->pq[(cl->pq_head + i) % cl->pq_cap];
        free(e->buf);
        if (e->ready)
            freeReplyObject(e->ready);
    }
    cl->pq_head = cl->pq_len = 0;
}

void sl_cluster_disconnect(sl_redis *r)
{
    sl_cluster *cl = r->cl;
    if (!cl)
        return;
    pend_clear(cl);
    for (size_t i = 0; i < SL_SLOTMAP_MAX_NODES; i++)
        if (cl->ctx[i]) {
            redisFree(cl->ctx[i]);
            cl->ctx[i] = NULL;
        }
    r->ctx = NULL;
}

void sl_cluster_free(sl_redis *r)
{
    if (!r->cl)
        return;
    sl_cluster_disconnect(r);
    free(r->cl->pq);
    free(r->cl);
    r->cl = NULL;
}

static redisReply *fail_io(sl_redis *r, int node, const char *why)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%d", r->cl->map.nodes[node].host, r->cl->map.nodes[node].port);
    snprintf(r->errstr, sizeof r->errstr, "redis %s (cluster node %s): %s", r->name, where, why);
    sl_cluster_disconnect(r);
    return NULL;
}

/* The context of node ix, opened when needed; NULL (everything dropped) on failure. */
static redisContext *node_ctx(sl_redis *r, int ix)
{
    sl_cluster *cl = r->cl;
    if (!cl->ctx[ix]) {
        char who[300];
        snprintf(who, sizeof who, "%s:%d", cl->map.nodes[ix].host, cl->map.nodes[ix].port);
        cl->ctx[ix] = sl_redis_open(r, cl->map.nodes[ix].host, cl->map.nodes[ix].port, NULL, 0, who);
        if (!cl->ctx[ix]) {
            char why[sizeof r->errstr];
            snprintf(why, sizeof why, "%s", r->errstr);
            sl_cluster_disconnect(r);
            snprintf(r->errstr, sizeof r->errstr, "redis %s: %.600s", r->name, why);
            return NULL;
        }
    }
    return cl->ctx[ix];
}

/* Ask c for the slot map into m: CLUSTER SHARDS, else CLUSTER SLOTS. 0, or -1 with why. */
static int read_map(redisContext *c, sl_slotmap *m, char *why, size_t whyn)
{
    redisReply *rep = redisCommand(c, "CLUSTER SHARDS");
    if (!rep) {
        snprintf(why, whyn, "%s", c->errstr);
        return -1;
    }
    int rc;
    if (rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "cluster support disabled")) {
        snprintf(why, whyn, "it is not a cluster node (cluster support disabled): use a redis:// URL for one server");
        rc = -1;
    } else if (rep->type == REDIS_REPLY_ERROR) { /* before Redis 7.0 */
        freeReplyObject(rep);
        rep = redisCommand(c, "CLUSTER SLOTS");
        if (!rep) {
            snprintf(why, whyn, "%s", c->errstr);
            return -1;
        }
        rc = rep->type == REDIS_REPLY_ERROR ? (snprintf(why, whyn, "CLUSTER SLOTS: %.200s", rep->str), -1)
                                            : sl_slotmap_from_slots(m, rep, c->tcp.host, why, whyn);
    } else {
        rc = sl_slotmap_from_shards(m, rep, c->tcp.host, why, whyn);
    }
    freeReplyObject(rep);
    if (rc == 0 && m->nnodes == 0) {
        snprintf(why, whyn, "the cluster has no master with slots yet");
        rc = -1;
    }
    return rc;
}

/* The index of master host:port in m, or -1. */
static int find_node(const sl_slotmap *m, const char *host, int port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return (int)i;
    return -1;
}

/* Take map m: contexts to masters that stay are kept, the others closed.
 * Only while no pipeline is pending (pending entries name nodes by index). */
static void take_map(sl_redis *r, const sl_slotmap *m)
{
    sl_cluster *cl = r->cl;
    redisContext *keep[SL_SLOTMAP_MAX_NODES] = {0};
    int newcur = -1;
    for (size_t j = 0; j < m->nnodes; j++) {
        int i = find_node(&cl->map, m->nodes[j].host, m->nodes[j].port);
        if (i >= 0 && cl->ctx[i]) {
            keep[j] = cl->ctx[i];
            cl->ctx[i] = NULL;
            if (i == cl->cur)
                newcur = (int)j;
        }
    }
    for (size_t i = 0; i < SL_SLOTMAP_MAX_NODES; i++)
        if (cl->ctx[i])
            redisFree(cl->ctx[i]);
    memcpy(cl->ctx, keep, sizeof keep);
    memset(cl->dirty, 1, sizeof cl->dirty); /* indices changed: the next wait asks every master */
    cl->map = *m;
    cl->cur = newcur;
    r->ctx = newcur >= 0 ? cl->ctx[newcur] : NULL;
}

/* Read the whole map again from a connected master. 0 or -1 (map kept). */
static int refresh(sl_redis *r)
{
    sl_cluster *cl = r->cl;
    sl_slotmap *m = malloc(sizeof *m);
    char why[256];
    int rc = -1;
    if (!m)
        return -1;
    for (size_t i = 0; i < cl->map.nnodes && rc != 0; i++)
        if (cl->ctx[i])
            rc = read_map(cl->ctx[i], m, why, sizeof why);
    if (rc == 0) {
        redisContext *cur = r->ctx;
        take_map(r, m);
        if (!r->ctx && cur) /* the last node left the map: any other will do for keyless commands */
            for (size_t i = 0; i < cl->map.nnodes && !r->ctx; i++)
                if (cl->ctx[i])
                    r->ctx = cl->ctx[i], cl->cur = (int)i;
    }
    cl->stale = 0;
    cl->refreshed_ms = sl_now_mono_ms();
    free(m);
    return rc;
}

int sl_cluster_connect(sl_redis *r)
{
    if (!r->cl && !(r->cl = calloc(1, sizeof *r->cl))) {
        snprintf(r->errstr, sizeof r->errstr, "redis %s: out of memory", r->name);
        return -1;
    }
    sl_cluster *cl = r->cl;
    sl_slotmap *m = malloc(sizeof *m);
    if (!m) {
        snprintf(r->errstr, sizeof r->errstr, "redis %s: out of memory", r->name);
        return -1;
    }
    /* The seeds first, then the masters of the last map (a seed may be gone). */
    int nseeds = r->url.nhosts, nknown = (int)cl->map.nnodes;
    char tried[sizeof r->errstr] = "";
    size_t tl = 0;
    for (int i = 0; i < nseeds + nknown; i++) {
        const char *host = i < nseeds ? r->url.hosts[i].host : cl->map.nodes[i - nseeds].host;
        int port = i < nseeds ? r->url.hosts[i].port : cl->map.nodes[i - nseeds].port;
        char who[300], why[512];
        snprintf(who, sizeof who, "%s:%d", host, port);
        redisContext *c = sl_redis_open(r, host, port, NULL, 0, who);
        if (!c) {
            snprintf(why, sizeof why, "%.500s", r->errstr);
        } else if (read_map(c, m, why, sizeof why) == 0) {
            cl->map.nnodes = 0; /* no context is open: nothing to keep */
            take_map(r, m);
            free(m);
            /* The seed's context serves its own slots when it is a master. */
            int ix = find_node(&cl->map, host, port);
            if (ix >= 0) {
                cl->ctx[ix] = c;
            } else {
                redisFree(c);
                ix = 0;
            }
            cl->cur = ix;
            cl->refreshed_ms = sl_now_mono_ms();
            cl->stale = 0;
            if (!node_ctx(r, ix))
                return -1;
            r->ctx = cl->ctx[ix];
            r->errstr[0] = '\0';
            return 0;
        } else {
            redisFree(c);
        }
        if (tl < sizeof tried)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "%s%s: %s", tl ? "; " : "", who, why);
    }
    free(m);
    snprintf(r->errstr, sizeof r->errstr, "redis %s: no seed node gave the cluster's slot map (%s)", r->name, tried);
    return -1;
}

/* Node of slot (-1: the node of the previous command), or -1 when no master serves it. */
static int node_for(sl_cluster *cl, int slot)
{
    if (slot < 0)
        return cl->cur >= 0 ? cl->cur : 0;
    uint16_t o = cl->map.owner[slot];
    return o == SL_SLOTMAP_NONE ? -1 : o;
}

/* The slot of a RESP-encoded command's routing key, or -1. */
static int slot_of(const char *buf, size_t len)
{
    const char *argv[ARGV_SCAN];
    size_t lens[ARGV_SCAN];
    const char *p = buf, *end = buf + len;
    int argc = 0;
    if (p >= end || *p != '*')
        return -1;
    long long n = strtoll(p + 1, NULL, 10);
    p = memchr(p, '\n', (size_t)(end - p));
    while (p && ++p < end && argc < n && argc < ARGV_SCAN && *p == '$') {
        long long l = strtoll(p + 1, NULL, 10);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || l < 0 || (size_t)(end - nl - 1) < (size_t)l + 2)
            break;
        argv[argc] = nl + 1;
        lens[argc++] = (size_t)l;
        p = nl + 1 + l + 1; /* at the '\n' after the argument */
    }
    const char *key;
    size_t keylen;
    if (!sl_cmd_key(argc, argv, lens, &key, &keylen))
        return -1;
    return (int)sl_hashslot(key, keylen);
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node (added to the
 * map when new); -1 when the reply is not that shape. */
static int redirect_target(sl_cluster *cl, const redisReply *rep, int *slot)
{
    const char *sp = strchr(rep->str, ' ');
    if (!sp)
        return -1;
    char *e;
    long s = strtol(sp + 1, &e, 10);
    if (e == sp + 1 || *e != ' ' || s < 0 || s >= SL_HASHSLOTS)
        return -1;
    const char *addr = e + 1, *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    long port = strtol(colon + 1, &e, 10);
    if (port < 1 || port > 65535)
        return -1;
    size_t hl = (size_t)(colon - addr);
    if (hl == 0) /* "MOVED 1 :6380": the node we asked, under its own address */
        return -1;
    if (addr[0] == '[' && hl > 2 && addr[hl - 1] == ']')
        addr++, hl -= 2;
    *slot = (int)s;
    return sl_slotmap_node_index(&cl->map, addr, hl, port);
}

/* Read every reply still owed on node ix into its pending entry, so ix can be
 * used for a command of its own. 0, or -1 (everything dropped). */
static int drain_node(sl_redis *r, int ix)
{
    sl_cluster *cl = r->cl;
    for (size_t i = 0; i < cl->pq_len; i++) {
        pend *e = &cl->pq[(cl->pq_head + i) % cl->pq_cap];
        if (e->node != ix || e->ready)
            continue;
        void *rep = NULL;
        if (redisGetReply(cl->ctx[ix], &rep) != REDIS_OK || !rep) {
            fail_io(r, ix, cl->ctx[ix]->errstr[0] ? cl->ctx[ix]->errstr : "connection lost");
            return -1;
        }
        e->ready = rep;
    }
    return 0;
}

/* Send buf to node ix (after ASKING when asking) and read its reply. */
static redisReply *send_on(sl_redis *r, int ix, const char *buf, size_t len, int asking)
{
    sl_cluster *cl = r->cl;
    redisContext *c = node_ctx(r, ix);
    if (!c || (cl->pq_len && drain_node(r, ix) != 0))
        return NULL;
    void *rep = NULL;
    if ((asking && redisAppendCommand(c, "ASKING") != REDIS_OK) || redisAppendFormattedCommand(c, buf, len) != REDIS_OK)
        return fail_io(r, ix, c->errstr[0] ? c->errstr : "cannot send");
    if (asking) {
        if (redisGetReply(c, &rep) != REDIS_OK || !rep)
            return fail_io(r, ix, c->errstr[0] ? c->errstr : "connection lost");
        freeReplyObject(rep);
        rep = NULL;
    }
    if (redisGetReply(c, &rep) != REDIS_OK || !rep)
        return fail_io(r, ix, c->errstr[0] ? c->errstr : "connection lost");
    cl->cur = ix;
    cl->dirty[ix] = 1;
    r->ctx = c;
    return rep;
}

/* Send a command and follow MOVED/ASK and wait out TRYAGAIN/CLUSTERDOWN, from
 * node ix (-1: by slot) and, with ask >= 0, an ASK to that node first. */
static redisReply *route(sl_redis *r, const char *buf, size_t len, int slot, int ask)
{
    sl_cluster *cl = r->cl;
    int64_t deadline = sl_now_mono_ms() + r->opts.command_timeout_ms;
    unsigned waits = 0;
    for (int hop = 0;; hop++) {
        int ix = ask >= 0 ? ask : node_for(cl, slot);
        if (ix < 0) { /* no master has the slot: the cluster is changing */
            if (cl->pq_len == 0)
                refresh(r);
            ix = node_for(cl, slot);
            if (ix < 0) {
                if (sl_now_mono_ms() >= deadline) {
                    snprintf(r->errstr, sizeof r->errstr, "redis %s: no master serves hash slot %d", r->name, slot);
                    sl_cluster_disconnect(r);
                    return NULL;
                }
                sl_sleep_ms(sl_backoff_ms(10, 500, waits++, 10), NULL);
                continue;
            }
        }
        redisReply *rep = send_on(r, ix, buf, len, ask >= 0);
        if (!rep)
            return NULL;
        int was_ask = ask >= 0, s = slot, to;
        ask = -1;
        if (sl_redis_reply_is(rep, "MOVED") && hop < MAX_REDIRECTS && (to = redirect_target(cl, rep, &s)) >= 0) {
            sl_slotmap_set_owner(&cl->map, (unsigned)s, to);
            cl->stale = 1;
            if (cl->pq_len == 0 && sl_now_mono_ms() - cl->refreshed_ms >= REFRESH_MIN_MS) {
                refresh(r);
                /* The redirect is newer than any map a node gave: it stands. */
                if ((to = redirect_target(cl, rep, &s)) >= 0)
                    sl_slotmap_set_owner(&cl->map, (unsigned)s, to);
            }
            freeReplyObject(rep);
            continue;
        }
        if (sl_redis_reply_is(rep, "ASK") && !was_ask && hop < MAX_REDIRECTS &&
            (to = redirect_target(cl, rep, &s)) >= 0) {
            ask = to;
            freeReplyObject(rep);
            continue;
        }
        if ((sl_redis_reply_is(rep, "TRYAGAIN") || sl_redis_reply_is(rep, "CLUSTERDOWN")) &&
            sl_now_mono_ms() < deadline) {
            freeReplyObject(rep);
            sl_sleep_ms(sl_backoff_ms(10, 500, waits++, 10), NULL);
            continue;
        }
        return rep;
    }
}

redisReply *sl_cluster_exec(sl_redis *r, const char *buf, size_t len)
{
    redisReply *rep = route(r, buf, len, slot_of(buf, len), -1);
    if (rep && r->cl->stale && r->cl->pq_len == 0 && sl_now_mono_ms() - r->cl->refreshed_ms >= REFRESH_MIN_MS)
        refresh(r);
    return rep;
}

int sl_cluster_append(sl_redis *r, char *buf, size_t len)
{
    sl_cluster *cl = r->cl;
    int slot = slot_of(buf, len), ix = node_for(cl, slot);
    if (ix < 0 && cl->pq_len == 0) {
        refresh(r);
        ix = node_for(cl, slot);
    }
    if (ix < 0) {
        free(buf);
        snprintf(r->errstr, sizeof r->errstr, "redis %s: no master serves hash slot %d", r->name, slot);
        sl_cluster_disconnect(r);
        return -1;
    }
    if (cl->pq_len == cl->pq_cap) {
        size_t cap = cl->pq_cap ? cl->pq_cap * 2 : 64;
        pend *q = malloc(cap * sizeof *q);
        if (!q) {
            free(buf);
            snprintf(r->errstr, sizeof r->errstr, "redis %s: out of memory", r->name);
            return -1;
        }
        for (size_t i = 0; i < cl->pq_len; i++)
            q[i] = cl->pq[(cl->pq_head + i) % cl->pq_cap];
        free(cl->pq);
        cl->pq = q;
        cl->pq_cap = cap;
        cl->pq_head = 0;
    }
    redisContext *c = node_ctx(r, ix);
    if (!c) {
        free(buf);
        return -1;
    }
    if (redisAppendFormattedCommand(c, buf, len) != REDIS_OK) {
        free(buf);
        fail_io(r, ix, c->errstr[0] ? c->errstr : "cannot send");
        return -1;
    }
    cl->pq[(cl->pq_head + cl->pq_len++) % cl->pq_cap] = (pend){.node = ix, .slot = slot, .buf = buf, .len = len};
    cl->cur = ix;
    cl->dirty[ix] = 1;
    r->ctx = c;
    return 0;
}

redisReply *sl_cluster_get_reply(sl_redis *r)
{
    sl_cluster *cl = r->cl;
    if (cl->pq_len == 0) {
        snprintf(r->errstr, sizeof r->errstr, "redis %s: no command pending", r->name);
        return NULL;
    }
    pend e = cl->pq[cl->pq_head];
    cl->pq_head = (cl->pq_head + 1) % cl->pq_cap;
    cl->pq_len--;
    redisReply *rep = e.ready;
    if (!rep) {
        void *v = NULL;
        if (redisGetReply(cl->ctx[e.node], &v) != REDIS_OK || !v) {
            free(e.buf);
            return fail_io(r, e.node, cl->ctx[e.node]->errstr[0] ? cl->ctx[e.node]->errstr : "connection lost");
        }
        rep = v;
    }
    int s, to;
    if (sl_redis_reply_is(rep, "MOVED") && (to = redirect_target(cl, rep, &s)) >= 0) {
        sl_slotmap_set_owner(&cl->map, (unsigned)s, to);
        cl->stale = 1;
        freeReplyObject(rep);
        rep = route(r, e.buf, e.len, e.slot, -1);
    } else if (sl_redis_reply_is(rep, "ASK") && (to = redirect_target(cl, rep, &s)) >= 0) {
        freeReplyObject(rep);
        rep = route(r, e.buf, e.len, e.slot, to);
    } else if (sl_redis_reply_is(rep, "TRYAGAIN") || sl_redis_reply_is(rep, "CLUSTERDOWN")) {
        freeReplyObject(rep);
        sl_sleep_ms(10, NULL);
        rep = route(r, e.buf, e.len, e.slot, -1);
    }
    free(e.buf);
    if (rep && cl->stale && cl->pq_len == 0 && sl_now_mono_ms() - cl->refreshed_ms >= REFRESH_MIN_MS)
        refresh(r);
    return rep;
}

int sl_cluster_nodes(const sl_redis *r)
{
    return (int)r->cl->map.nnodes;
}

redisReply *sl_cluster_exec_at(sl_redis *r, int node, const char *buf, size_t len)
{
    if (node < 0 || node >= (int)r->cl->map.nnodes) {
        snprintf(r->errstr, sizeof r->errstr, "redis %s: no cluster node %d", r->name, node);
        return NULL;
    }
    return send_on(r, node, buf, len, 0);
}

const char *sl_cluster_node_name(sl_redis *r, int node, char *buf, size_t n)
{
    if (node < 0 || node >= (int)r->cl->map.nnodes)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%s:%d", r->cl->map.nodes[node].host, r->cl->map.nodes[node].port);
    return buf;
}

int sl_cluster_wait(sl_redis *r, const char *buf, size_t len, int replicas, int *least)
{
    sl_cluster *cl = r->cl;
    int low = -1;
    for (size_t i = 0; i < cl->map.nnodes; i++) {
        if (!cl->dirty[i])
            continue;
        redisReply *rep = send_on(r, (int)i, buf, len, 0);
        if (!rep)
            return -1;
        int n = rep->type == REDIS_REPLY_INTEGER ? (int)rep->integer : -1;
        freeReplyObject(rep);
        if (n < 0) {
            snprintf(r->errstr, sizeof r->errstr, "redis %s: WAIT on a cluster master gave no count", r->name);
            return -1;
        }
        cl->dirty[i] = 0;
        if (low < 0 || n < low)
            low = n;
    }
    *least = low < 0 ? replicas : low;
    return 0;
}
