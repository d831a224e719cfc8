/* Reclaim of entries idle past jobs.lease (FCALL sluice_reclaim on both
 * streams), every lease/2 and once after the start-up replay. Private to workers/. */
#ifndef SL_WORKER_RECLAIM_H
#define SL_WORKER_RECLAIM_H

#include <stdint.h>

#include "workers/acks.h"
#include "workers/batch.h"

struct sl_worker;

typedef struct sl_reclaim {
    char cursor[2][SL_STREAM_ID_MAX]; /* per stream; "0-0" = start of a new pass */
    int64_t next_mono_ms; /* when the next round is due */
    int64_t fence_seen; /* the group's fence when the last round started (-1 unknown) */
} sl_reclaim;

/** Cursors at the start, a round due now. */
void sl_reclaim_init(sl_reclaim *rc);
/** 1 when a round is due: its time came, or the group's fence moved since the
 *  last round (fence: the value last seen, -1 unknown). A moved fence means
 *  entries changed owner or were handed off by a stopping worker
 *  (sluice_release): look for idle ones now, not after lease/2. */
int sl_reclaim_due(sl_reclaim *rc, int64_t fence);

/**
 * One round: FCALL sluice_reclaim <stream> <dlq> G C <lease> <cursor> <read_count>
 * on each stream; claimed entries are run like replayed ones (delivery counts from
 * XPENDING, one outcome at a time). Schedules the next round: at once while a
 * cursor has not wrapped, else after lease/2.
 * @return 0; 1 when a group is missing (recreate it); -1 when the connection was lost
 */
int sl_reclaim_round(struct sl_worker *w, sl_reclaim *rc, sl_batch *b);

#endif
