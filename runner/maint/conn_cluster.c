/* The supervisor's connection to a Redis Cluster (redis+cluster:// URL): a
 * router over one sl_mconn "link" per master, each a plain one-server
 * connection with its own reconnect, timeouts and handshake (so the function
 * library is checked and loaded on every master, and again on a master that
 * is new or reconnected after a failover).
 *
 * Ours for the reason common/redis_cluster.c gives (no cluster client for
 * hiredis 0.14 in Debian 12); the same rules, asynchronously:
 * - the slot map comes from CLUSTER SHARDS (else CLUSTER SLOTS) through any
 *   ready link, or, before the first map and whenever no link is ready, from
 *   links to the URL's seeds; it is read again every MAP_EVERY_MS, after a
 *   MOVED, and while a master's link is down (a failover changes the map);
 * - a command goes to the master of its key's slot (common/cmdkey.c), one
 *   without a key to any ready master;
 * - MOVED: the slot's new owner is taken at once and the command resent;
 *   ASK: ASKING then the command on the node named, once; TRYAGAIN and
 *   CLUSTERDOWN: resent every RETRY_MS until redis.command_timeout, then the
 *   error is the caller's. A redirected command was not run, so resending it
 *   runs it once.
 * Links that leave the map are freed on the next tick, never inside one of
 * their own callbacks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cmdkey.h"
#include "common/hashslot.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/slotmap.h"
#include "common/util.h"
#include "runner/maint/conn_int.h"

#define MAX_REDIRECTS 16
#define RETRY_MS 50 /* TRYAGAIN/CLUSTERDOWN, or no master for the slot yet */
#define MAP_EVERY_MS 10000 /* a new master or a failover is seen within this */
#define MAP_DOWN_MS 1000 /* re-read the map this often while a master's link is down */
#define MAX_RETIRED 64

typedef struct sl_mrouter {
    sl_slotmap *map; /* NULL until the first map */
    sl_mconn *links[SL_SLOTMAP_MAX_NODES]; /* per map node */
    sl_mconn *seeds[SL_URL_MAX_HOSTS]; /* while there is no usable link */
    sl_mconn *retired[MAX_RETIRED]; /* freed on the next tick */
    size_t nretired;
    int map_inflight, map_slots; /* a map read is in flight; it is CLUSTER SLOTS */
    int64_t map_ms; /* when the last map was taken */
    int64_t map_asked_ms;
} sl_mrouter;

static void rt_refresh(sl_mconn *c);

static int link_ready(const sl_mconn *l)
{
    return l && sl_mconn_ready(l);
}

static void retire(sl_mrouter *rt, sl_mconn *l)
{
    if (!l)
        return;
    if (rt->nretired < MAX_RETIRED)
        rt->retired[rt->nretired++] = l;
    else
        sl_mconn_free(l); /* not reached in practice: the tick frees them every 100 ms */
}

/* A link is ready (again): read the map when there is none yet, and tell the
 * owner (maintenance promotes at once after a reconnect). */
static void rt_link_ready(void *arg)
{
    sl_mconn *c = arg;
    if (!c->rt)
        return;
    if (!c->rt->map)
        rt_refresh(c);
    else if (c->on_ready)
        c->on_ready(c->ready_arg);
}

/* The index of master host:port in m, or -1. */
static int find_node(const sl_slotmap *m, const char *host, int port)
{
    for (size_t i = 0; m && i < m->nnodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return (int)i;
    return -1;
}

/* Take map m (owned): links to masters that stay are kept, new masters get a
 * link, the rest (and the seed links) are retired. */
static void rt_take_map(sl_mconn *c, sl_slotmap *m)
{
    sl_mrouter *rt = c->rt;
    sl_mconn *links[SL_SLOTMAP_MAX_NODES] = {0};
    for (size_t j = 0; j < m->nnodes; j++) {
        int i = find_node(rt->map, m->nodes[j].host, m->nodes[j].port);
        if (i >= 0) {
            links[j] = rt->links[i];
            rt->links[i] = NULL;
            continue;
        }
        for (int s = 0; s < SL_URL_MAX_HOSTS && !links[j]; s++)
            if (rt->seeds[s] && rt->seeds[s]->u.port == m->nodes[j].port &&
                strcmp(rt->seeds[s]->u.host, m->nodes[j].host) == 0) {
                links[j] = rt->seeds[s];
                rt->seeds[s] = NULL;
            }
        if (!links[j])
            links[j] = sl_mconn_link_new(c, m->nodes[j].host, m->nodes[j].port, rt_link_ready, c);
    }
    for (size_t i = 0; i < SL_SLOTMAP_MAX_NODES; i++)
        retire(rt, rt->links[i]);
    for (int s = 0; s < SL_URL_MAX_HOSTS; s++) {
        retire(rt, rt->seeds[s]);
        rt->seeds[s] = NULL;
    }
    int first = rt->map == NULL;
    memcpy(rt->links, links, sizeof links);
    free(rt->map);
    rt->map = m;
    rt->map_ms = sl_now_mono_ms();
    if (first)
        SL_LOG(SL_INFO, "redis cluster slot map read", SL_S("redis", c->name), SL_I("masters", (int64_t)m->nnodes),
               SL_I("slots_covered", (int64_t)m->covered));
    if (first && c->on_ready && sl_mrouter_ready(c))
        c->on_ready(c->ready_arg);
}

static void rt_on_map(void *arg, redisReply *r)
{
    sl_mconn *c = arg;
    sl_mrouter *rt = c->rt;
    if (!rt)
        return;
    rt->map_inflight = 0;
    if (!r)
        return; /* the next tick asks again */
    if (r->type == REDIS_REPLY_ERROR && !rt->map_slots) { /* before Redis 7.0: CLUSTER SLOTS */
        rt->map_slots = 1;
        rt_refresh(c);
        return;
    }
    sl_slotmap *m = malloc(sizeof *m);
    char err[256] = "";
    int rc = !m ? -1
             : r->type == REDIS_REPLY_ERROR
                 ? (snprintf(err, sizeof err, "%.200s", r->str), -1)
                 : (rt->map_slots ? sl_slotmap_from_slots(m, r, c->u.host, err, sizeof err)
                                  : sl_slotmap_from_shards(m, r, c->u.host, err, sizeof err));
    if (rc != 0 || m->nnodes == 0) {
        SL_LOG(SL_WARN, "cannot read the redis cluster slot map; retrying", SL_S("redis", c->name),
               SL_S("error", rc != 0 ? err : "no master has slots"));
        free(m);
        return;
    }
    rt_take_map(c, m);
}

/* Read the map through a ready link; with none, make sure seed links exist
 * (each asks when it becomes ready). */
static void rt_refresh(sl_mconn *c)
{
    sl_mrouter *rt = c->rt;
    if (rt->map_inflight || c->state == SL_MC_CLOSED)
        return;
    sl_mconn *via = NULL;
    for (size_t i = 0; rt->map && i < rt->map->nnodes && !via; i++)
        if (link_ready(rt->links[i]))
            via = rt->links[i];
    for (int s = 0; s < SL_URL_MAX_HOSTS && !via; s++)
        if (link_ready(rt->seeds[s]))
            via = rt->seeds[s];
    if (!via) {
        for (int s = 0; s < c->u.nhosts; s++)
            if (!rt->seeds[s])
                rt->seeds[s] = sl_mconn_link_new(c, c->u.hosts[s].host, c->u.hosts[s].port, rt_link_ready, c);
        return;
    }
    const char *argv[] = {"CLUSTER", rt->map_slots ? "SLOTS" : "SHARDS"};
    rt->map_asked_ms = sl_now_mono_ms();
    if (sl_mconn_call(via, SL_MCONN_NOW, rt_on_map, c, 2, argv, NULL) == 0)
        rt->map_inflight = 1;
}

/* The link for q: its ASK target, its slot's master, or for no key the first
 * ready master. -1 when there is none (no map, no owner). */
static int rt_pick(const sl_mrouter *rt, const sl_mconn_req *q)
{
    if (!rt->map)
        return -1;
    if (q->ask >= 0)
        return q->ask < (int)rt->map->nnodes ? q->ask : -1;
    if (q->slot >= 0) {
        unsigned o = rt->map->owner[q->slot];
        return o == SL_SLOTMAP_NONE ? -1 : (int)o;
    }
    for (size_t i = 0; i < rt->map->nnodes; i++)
        if (link_ready(rt->links[i]))
            return (int)i;
    return -1;
}

static void rt_on_reply(void *arg, redisReply *r);

static void rt_ignore(void *arg, redisReply *r)
{
    (void)arg;
    (void)r;
}

/* Hand q to its link. 0 sent (or queued by the link), 1 kept in c's queue
 * (mode QUEUE: no link for it yet), -1 refused. */
static int rt_route(sl_mconn *c, sl_mconn_req *q, sl_mconn_mode mode)
{
    sl_mrouter *rt = c->rt;
    int ix = rt_pick(rt, q);
    sl_mconn *l = ix >= 0 ? rt->links[ix] : NULL;
    if (!l) {
        if (ix < 0 && rt->map)
            rt_refresh(c);
        if (mode == SL_MCONN_NOW)
            return -1;
        sl_mconn_push(&c->queue, q);
        return 1;
    }
    if (q->ask >= 0) {
        const char *asking[] = {"ASKING"};
        if (sl_mconn_call(l, mode, rt_ignore, NULL, 1, asking, NULL) != 0)
            return -1;
    }
    return sl_mconn_call(l, mode, rt_on_reply, q, q->argc, q->argv, q->lens) == 0 ? 0 : -1;
}

/* Resend q later (tick), or fail it when its time is up. */
static void rt_later(sl_mconn *c, sl_mconn_req *q, int64_t delay_ms)
{
    int64_t now = sl_now_mono_ms();
    if (now - q->t0 > c->command_timeout_ms) {
        q->cb(q->arg, NULL);
        sl_mconn_req_free(q);
        return;
    }
    q->not_before = now + delay_ms;
    sl_mconn_push(&c->queue, q);
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK ...": the slot and the node's index in
 * the map (-1: not a master the map knows; the map is read again). */
static int rt_target(sl_mconn *c, const redisReply *r, int *slot)
{
    const char *sp = strchr(r->str, ' ');
    char *e;
    if (!sp)
        return -1;
    long s = strtol(sp + 1, &e, 10);
    if (e == sp + 1 || *e != ' ' || s < 0 || s >= SL_HASHSLOTS)
        return -1;
    const char *addr = e + 1, *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return -1;
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (addr[0] == '[' && hl > 2 && addr[hl - 1] == ']')
        addr++, hl -= 2;
    if (hl >= sizeof host)
        return -1;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    *slot = (int)s;
    return find_node(c->rt->map, host, (int)strtol(colon + 1, NULL, 10));
}

/* A routed command's reply from its link. */
static void rt_on_reply(void *arg, redisReply *r)
{
    sl_mconn_req *q = arg;
    sl_mconn *c = q->c;
    int slot, to;
    int moved = r && sl_redis_reply_is(r, "MOVED"), ask = r && sl_redis_reply_is(r, "ASK");
    if (c->state != SL_MC_CLOSED && c->rt && r && q->hops < MAX_REDIRECTS) {
        if (moved || ask) {
            q->hops++;
            to = rt_target(c, r, &slot);
            if (moved && to >= 0)
                sl_slotmap_set_owner(c->rt->map, (unsigned)slot, to);
            if (moved || to < 0)
                rt_refresh(c);
            q->ask = ask && to >= 0 ? to : -1;
            if (to < 0) { /* a master the map has not seen yet: after the new map */
                rt_later(c, q, RETRY_MS);
                return;
            }
            if (rt_route(c, q, SL_MCONN_QUEUE) < 0) {
                q->cb(q->arg, NULL);
                sl_mconn_req_free(q);
            }
            return;
        }
        if (sl_redis_reply_is(r, "TRYAGAIN") || sl_redis_reply_is(r, "CLUSTERDOWN")) {
            q->hops++;
            q->ask = -1;
            if (sl_now_mono_ms() - q->t0 <= c->command_timeout_ms) {
                rt_later(c, q, RETRY_MS);
                return;
            }
        }
    }
    q->cb(q->arg, r);
    sl_mconn_req_free(q);
}

/* ---- the interface conn.c dispatches to ---------------------------------- */

int sl_mrouter_start(sl_mconn *c)
{
    if (!(c->rt = calloc(1, sizeof *c->rt)))
        return -1;
    rt_refresh(c);
    return 0;
}

void sl_mrouter_stop(sl_mconn *c)
{
    sl_mrouter *rt = c->rt;
    if (!rt)
        return;
    c->rt = NULL; /* callbacks of the links freed below see no router */
    for (size_t i = 0; i < SL_SLOTMAP_MAX_NODES; i++)
        sl_mconn_free(rt->links[i]);
    for (int s = 0; s < SL_URL_MAX_HOSTS; s++)
        sl_mconn_free(rt->seeds[s]);
    for (size_t i = 0; i < rt->nretired; i++)
        sl_mconn_free(rt->retired[i]);
    free(rt->map);
    free(rt);
}

void sl_mrouter_tick(sl_mconn *c)
{
    sl_mrouter *rt = c->rt;
    int64_t now = sl_now_mono_ms();
    for (size_t i = 0; i < rt->nretired; i++)
        sl_mconn_free(rt->retired[i]);
    rt->nretired = 0;
    /* Requests waiting for a map, a master or a TRYAGAIN: in order. */
    sl_mconn_list due = {0};
    for (sl_mconn_req *q = c->queue.head, *next; q; q = next) {
        next = q->next;
        if (now - q->t0 > c->command_timeout_ms) {
            sl_mconn_unlink(&c->queue, q);
            q->cb(q->arg, NULL);
            sl_mconn_req_free(q);
        } else if (rt->map && q->not_before <= now && rt_pick(rt, q) >= 0) {
            sl_mconn_unlink(&c->queue, q);
            sl_mconn_push(&due, q);
        }
    }
    while (due.head) {
        sl_mconn_req *q = due.head;
        sl_mconn_unlink(&due, q);
        if (rt_route(c, q, SL_MCONN_QUEUE) < 0) {
            q->cb(q->arg, NULL);
            sl_mconn_req_free(q);
        }
    }
    int down = 0;
    for (size_t i = 0; rt->map && i < rt->map->nnodes; i++)
        down |= !link_ready(rt->links[i]);
    if (!rt->map || now - rt->map_ms >= MAP_EVERY_MS ||
        (down && now - rt->map_asked_ms >= MAP_DOWN_MS && now - rt->map_ms >= MAP_DOWN_MS))
        rt_refresh(c);
}

int sl_mrouter_call(sl_mconn *c, sl_mconn_mode mode, sl_mconn_cb cb, void *arg, int argc, const char **argv,
                    const size_t *lens)
{
    sl_mconn_req *q = sl_mconn_req_new(c, cb, arg, argc, argv, lens);
    if (!q)
        return -1;
    const char *key;
    size_t keylen;
    if (sl_cmd_key(q->argc, q->argv, q->lens, &key, &keylen))
        q->slot = (int)sl_hashslot(key, keylen);
    q->t0 = sl_now_mono_ms();
    if (rt_route(c, q, mode) < 0) {
        sl_mconn_req_free(q);
        return -1;
    }
    return 0;
}

int sl_mrouter_ready(const sl_mconn *c)
{
    const sl_mrouter *rt = c->rt;
    for (size_t i = 0; rt->map && i < rt->map->nnodes; i++)
        if (link_ready(rt->links[i]))
            return 1;
    return 0;
}

void sl_mrouter_reset(sl_mconn *c, const char *why)
{
    for (size_t i = 0; c->rt->map && i < c->rt->map->nnodes; i++)
        if (c->rt->links[i])
            sl_mconn_reset(c->rt->links[i], why);
}

size_t sl_mrouter_inflight(const sl_mconn *c)
{
    size_t n = 0;
    for (size_t i = 0; c->rt->map && i < c->rt->map->nnodes; i++)
        if (c->rt->links[i])
            n += sl_mconn_inflight(c->rt->links[i]);
    return n;
}

void sl_mrouter_timeouts(sl_mconn *c)
{
    if (!c->rt)
        return;
    for (size_t i = 0; c->rt->map && i < c->rt->map->nnodes; i++) {
        sl_mconn *l = c->rt->links[i];
        if (l) {
            l->connect_timeout_ms = c->connect_timeout_ms;
            l->command_timeout_ms = c->command_timeout_ms;
            l->reconnect_min_ms = c->reconnect_min_ms;
            l->reconnect_max_ms = c->reconnect_max_ms;
        }
    }
}
