/* A batch: the entries of one read (XREADGROUP of both streams, a replay, an
 * XAUTOCLAIM), run one at a time. Keeps the leases of prefetched entries fresh
 * while earlier ones run, and gives unstarted ones back at a graceful stop.
 * Private to workers/ (consume.c, reclaim.c). */
#ifndef SL_WORKER_BATCH_H
#define SL_WORKER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/redis.h"

struct sl_worker;

/** One entry; id and fields borrow from the reply the batch was built from. */
typedef struct sl_entry {
    int stream; /* SL_STREAM_MAIN or SL_STREAM_RETRY */
    const char *id;
    const redisReply *fields; /* array, or nil/NULL for an entry deleted while pending */
    uint32_t deliveries; /* 1 for fresh entries, from XPENDING otherwise */
    int skip; /* settled or taken over before it started: do not run */
} sl_entry;

typedef struct sl_batch {
    sl_entry *v;
    size_t n, cap;
    size_t next; /* first entry not started yet */
    size_t bytes; /* field names and values of the entries, in bytes */
    int64_t fresh_mono_ms; /* when the entries were asked for (before the read was sent)
                             or last extended: the age their leases may have */
    int settle_each; /* replayed/reclaimed: read each outcome before the next job */
    const char **argv; /* extend/release scratch */
    size_t argv_cap;
} sl_batch;

void sl_batch_free(sl_batch *b);

/** Start a new batch (forget the previous one's entries). asked_mono_ms: when
 *  the read that delivers them was sent (CLOCK_MONOTONIC ms), not when its reply
 *  came: a worker frozen meanwhile (SIGSTOP, a stalled VM) holds entries whose
 *  leases ran for all that time, and the take-over check must see that age. */
void sl_batch_reset(sl_batch *b, int settle_each, int64_t asked_mono_ms);

/**
 * Append the entries of one stream: an array of [id, fields] pairs as XREADGROUP
 * and XAUTOCLAIM return them (fields may be nil). Deliveries start at 1.
 * @return 0, or -1 on a malformed list (nothing added) or out of memory
 */
int sl_batch_add(sl_batch *b, int stream, const redisReply *entries);

/** Delivery counts of the batch's entries from XPENDING (they are this
 *  consumer's). Returns 0, or -1 when the connection was lost. */
int sl_batch_deliveries(struct sl_worker *w, sl_batch *b);

/**
 * Run the entries in order until done or stop. Before each start, entries read
 * more than jobs.lease/2 ago get their leases extended (sluice_extend); those
 * the extension missed are checked: taken over by another consumer -> skipped,
 * deleted from the stream -> dead-lettered "trimmed" now (a reclaimer would
 * otherwise dead-letter what this worker still runs from memory). On stop,
 * unstarted entries are released and handed off (sluice_release with the
 * fence key): no delivery spent, and live workers reclaim them at once.
 * @return 0, or -1 when the connection was lost
 */
int sl_batch_run(struct sl_worker *w, sl_batch *b);

#endif
