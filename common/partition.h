/* Partitioned queues (queues.<Q>.partitions): the names of a queue's
 * partitions, the count a producer or worker uses, and the producer's choice
 * of partition. Partition i of queue Q is addressed as the queue "Q#i" by the
 * key builders (common/keys.c), so all its keys carry the tag {Q#i}; a queue
 * of one partition is "Q" itself and keeps its key names. Pure but for the
 * seed of the spread: no I/O. The hash is FNV-1a so any language can
 * reproduce the choice (docs/enqueue.md, "Partitioned queues"). */
#ifndef SL_COMMON_PARTITION_H
#define SL_COMMON_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"

/** Most partitions of a queue (queues.<Q>.partitions is 1..SL_PARTITIONS_MAX). */
#define SL_PARTITIONS_MAX 1024
/** Longest partition name with its NUL: a 64-character queue, '#', 4 digits. */
#define SL_PARTITION_NAME_MAX (64 + 1 + 4 + 1)

/** FNV-1a, 32 bits (offset basis 2166136261, prime 16777619) of s[0..len). */
uint32_t sl_part_hash(const char *s, size_t len);

/** Queue's partition count from the config: queues.<queue>.partitions, 1 for
 *  a queue without an entry or when cfg is NULL. */
int sl_part_count(const sl_config *cfg, const char *queue);

/** The name of partition i of a queue of n partitions: "Q" when n is 1, else
 *  "Q#i". Returns 0, or -1 when i is out of 0..n-1 or the name does not fit. */
int sl_part_name(char *buf, size_t size, const char *queue, int n, int i);

/** The queue and partition of a name "Q#i" (i canonical decimal): a pointer to
 *  Q in name with its length in *qlen, the index in *index; a name without '#'
 *  is itself with index -1 (an unpartitioned queue). NULL when name has a '#'
 *  not followed by a canonical index below SL_PARTITIONS_MAX. */
const char *sl_part_split(const char *name, size_t *qlen, int *index);

/** A discovery value (the text of sluice:{Q}:partitions): 1..SL_PARTITIONS_MAX,
 *  or -1 when s[0..len) is not such a canonical decimal. */
int sl_part_parse_count(const char *s, size_t len);

/** The even spread of jobs without keys: a round robin from a random start,
 *  per producer. Zero-initialise; the first pick seeds it. */
typedef struct sl_part_rr {
    uint32_t next;
    int seeded;
} sl_part_rr;

/**
 * The partition, 0..n-1, of a job enqueued into a queue of n partitions:
 * FNV-1a(idem_key) mod n when an idempotency key is given (so a duplicate
 * meets its key), else FNV-1a(partition_key) mod n when one is given (per-key
 * affinity), else the next of the round robin rr. NULL or "" means not given.
 * Always 0 when n <= 1.
 */
int sl_part_pick(int n, const char *idem_key, const char *partition_key, sl_part_rr *rr);

#endif
