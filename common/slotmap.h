/* Redis Cluster slot map: which master serves each of the 16384 hash slots
 * (common/hashslot.h), read from CLUSTER SHARDS (Redis 7.0) or, from older
 * servers, CLUSTER SLOTS. The map the connection layer routes commands by.
 * Pure: parses replies, no I/O; fixed size, no allocation. */
#ifndef SL_COMMON_SLOTMAP_H
#define SL_COMMON_SLOTMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/hashslot.h"
#include "common/hiredis_compat.h"

/** Masters a map can hold (a cluster of more shards is refused, with a message). */
#define SL_SLOTMAP_MAX_NODES 256
/** owner[] of a slot no master serves (the cluster is incomplete or changing). */
#define SL_SLOTMAP_NONE 0xFFFF

/** One master: where to connect. */
typedef struct sl_slotmap_node {
    char host[256];
    int port;
} sl_slotmap_node;

typedef struct sl_slotmap {
    uint16_t owner[SL_HASHSLOTS]; /* index into nodes, or SL_SLOTMAP_NONE */
    sl_slotmap_node nodes[SL_SLOTMAP_MAX_NODES];
    size_t nnodes;
    size_t covered; /* slots with an owner; SL_HASHSLOTS when the map is complete */
} sl_slotmap;

/**
 * Fill m from a CLUSTER SHARDS reply: every shard's "slots" ranges go to the
 * node of that shard whose "role" is master (its "endpoint", else its "ip",
 * and "port"). A master whose address is "" (a node that knows no address of
 * its own: a one-node cluster) is `asked`, the host the reply came from.
 * Shards without a master, or without slots, are skipped.
 * @return 0, or -1 with err when the reply is not CLUSTER SHARDS' shape or
 *         holds more than SL_SLOTMAP_MAX_NODES masters
 */
int sl_slotmap_from_shards(sl_slotmap *m, const redisReply *r, const char *asked, char *err, size_t errlen);

/**
 * Fill m from a CLUSTER SLOTS reply: [[start, end, [host, port, id...], replicas...]...];
 * the first node of each range is its master ("" host: `asked`).
 * @return 0, or -1 with err as sl_slotmap_from_shards
 */
int sl_slotmap_from_slots(sl_slotmap *m, const redisReply *r, const char *asked, char *err, size_t errlen);

/** The index of host[0..hostlen):port in m's nodes, added when new (a MOVED
 *  to a master the map has not seen); -1 when m is full or the name too long. */
int sl_slotmap_node_index(sl_slotmap *m, const char *host, size_t hostlen, long long port);

/** Slot now belongs to node ix (what a MOVED reply says), until the next full map. */
void sl_slotmap_set_owner(sl_slotmap *m, unsigned slot, int ix);

/** The master serving slot, or NULL when none does. */
const sl_slotmap_node *sl_slotmap_lookup(const sl_slotmap *m, unsigned slot);

#endif
