/* The running job of a worker, copied out of its status slot (shared memory
 * written only by the worker): what the watchdog checks, the maintenance
 * moves (settle, release, lease extension) and /status shows.
 * Private to runner/. */
#ifndef SL_RUNNER_MAINT_SNAPSHOT_H
#define SL_RUNNER_MAINT_SNAPSHOT_H

#include <stdint.h>

#include "common/worker_slot.h"

/** A consistent copy of a worker's running job, read from its status slot. */
typedef struct sl_job_snap {
    char id[sizeof(((sl_slot *)0)->job_id)];
    char type[sizeof(((sl_slot *)0)->job_type)];
    char stream_id[sizeof(((sl_slot *)0)->job_stream_id)];
    int in_retry_stream;
    int partition; /* of the queue's partitions, -1 for a queue of one */
    char queue[sizeof(((sl_slot *)0)->job_queue)]; /* the job's queue ("": the worker's, sl_maint_worker.queue) */
    uint32_t attempt, deliveries, max_attempts;
    int64_t backoff_base_ms, backoff_cap_ms;
    int64_t timeout_ms, started_mono_ms;
    uint64_t seq; /* its job_seq */
    char hold_key[sizeof(((sl_slot *)0)->job_hold_key)]; /* a concurrency slot it holds, "" none */
} sl_job_snap;

/** Copy the running job out of a status slot (seqlock-style: the strings are
 *  kept only if job_seq did not change meanwhile). 0 with *out when the state
 *  is RUNNING and the copy is consistent; -1 otherwise. */
int sl_slot_snapshot(sl_slot *sh, sl_job_snap *out);

#endif
