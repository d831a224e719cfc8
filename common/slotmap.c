/* Redis Cluster slot map (slotmap.h). Ours, like the hash slot: hiredis 0.14
 * has no cluster support and hiredis-cluster is not in Debian 12. */
#include "common/slotmap.h"

#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "unexpected cluster topology reply: %s", what);
    return -1;
}

static void reset(sl_slotmap *m)
{
    memset(m->owner, 0xFF, sizeof m->owner); /* SL_SLOTMAP_NONE */
    m->nnodes = m->covered = 0;
}

int sl_slotmap_node_index(sl_slotmap *m, const char *host, size_t hostlen, long long port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->nodes[i].port == port && strlen(m->nodes[i].host) == hostlen &&
            memcmp(m->nodes[i].host, host, hostlen) == 0)
            return (int)i;
    if (m->nnodes == SL_SLOTMAP_MAX_NODES || hostlen >= sizeof m->nodes[0].host)
        return -1;
    sl_slotmap_node *n = &m->nodes[m->nnodes];
    memcpy(n->host, host, hostlen);
    n->host[hostlen] = '\0';
    n->port = (int)port;
    return (int)m->nnodes++;
}

/* Give slots [lo, hi] to node ix. 0, or -1 for a range out of bounds. */
static int assign(sl_slotmap *m, long long lo, long long hi, int ix)
{
    if (lo < 0 || hi < lo || hi >= SL_HASHSLOTS)
        return -1;
    for (long long s = lo; s <= hi; s++) {
        if (m->owner[s] == SL_SLOTMAP_NONE)
            m->covered++;
        m->owner[s] = (uint16_t)ix;
    }
    return 0;
}

/* The value of name in a flat RESP2 map [k1, v1, k2, v2...], or NULL. */
static const redisReply *map_get(const redisReply *map, const char *name)
{
    if (!map || map->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, name) == 0)
            return map->element[i + 1];
    return NULL;
}

static int is_str(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING;
}

int sl_slotmap_from_shards(sl_slotmap *m, const redisReply *r, const char *asked, char *err, size_t errlen)
{
    reset(m);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "CLUSTER SHARDS is not an array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *slots = map_get(r->element[i], "slots"), *nodes = map_get(r->element[i], "nodes");
        if (!slots || slots->type != REDIS_REPLY_ARRAY || slots->elements % 2 || !nodes ||
            nodes->type != REDIS_REPLY_ARRAY)
            return fail(err, errlen, "a shard without slots and nodes arrays");
        const redisReply *master = NULL;
        for (size_t j = 0; j < nodes->elements && !master; j++) {
            const redisReply *role = map_get(nodes->element[j], "role");
            if (is_str(role) && strcmp(role->str, "master") == 0)
                master = nodes->element[j];
        }
        if (!master || slots->elements == 0)
            continue;
        const redisReply *host = map_get(master, "endpoint"), *port = map_get(master, "port");
        if (!is_str(host) || host->len == 0 || strcmp(host->str, "?") == 0)
            host = map_get(master, "ip");
        if (!is_str(host) || !port || port->type != REDIS_REPLY_INTEGER)
            return fail(err, errlen, "a master without an address");
        /* "": the node does not know its own address (a cluster of one node
         * that never met another): the node we asked, as we reached it */
        const char *h = host->len ? host->str : asked;
        int ix = sl_slotmap_node_index(m, h, strlen(h), port->integer);
        if (ix < 0)
            return fail(err, errlen, "too many masters, or a host name too long");
        for (size_t k = 0; k < slots->elements; k += 2) {
            const redisReply *lo = slots->element[k], *hi = slots->element[k + 1];
            if (lo->type != REDIS_REPLY_INTEGER || hi->type != REDIS_REPLY_INTEGER ||
                assign(m, lo->integer, hi->integer, ix) != 0)
                return fail(err, errlen, "a slot range out of bounds");
        }
    }
    return 0;
}

int sl_slotmap_from_slots(sl_slotmap *m, const redisReply *r, const char *asked, char *err, size_t errlen)
{
    reset(m);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "CLUSTER SLOTS is not an array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return fail(err, errlen, "a range without start, end and master");
        const redisReply *n = e->element[2];
        if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 || !is_str(n->element[0]) ||
            n->element[1]->type != REDIS_REPLY_INTEGER)
            return fail(err, errlen, "a master without an address");
        const char *h = n->element[0]->len ? n->element[0]->str : asked; /* "": as for CLUSTER SHARDS */
        int ix = sl_slotmap_node_index(m, h, strlen(h), n->element[1]->integer);
        if (ix < 0)
            return fail(err, errlen, "too many masters, or a host name too long");
        if (assign(m, e->element[0]->integer, e->element[1]->integer, ix) != 0)
            return fail(err, errlen, "a slot range out of bounds");
    }
    return 0;
}

void sl_slotmap_set_owner(sl_slotmap *m, unsigned slot, int ix)
{
    if (slot < SL_HASHSLOTS && ix >= 0 && (size_t)ix < m->nnodes) {
        if (m->owner[slot] == SL_SLOTMAP_NONE)
            m->covered++;
        m->owner[slot] = (uint16_t)ix;
    }
}

const sl_slotmap_node *sl_slotmap_lookup(const sl_slotmap *m, unsigned slot)
{
    if (slot >= SL_HASHSLOTS || m->owner[slot] == SL_SLOTMAP_NONE)
        return NULL;
    return &m->nodes[m->owner[slot]];
}
