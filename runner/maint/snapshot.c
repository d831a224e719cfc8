/* The seqlock-style copy of a status slot's running job (see snapshot.h). */
#include <stdatomic.h>
#include <string.h>

#include "runner/maint/snapshot.h"

/* Copy a NUL-terminated string out of shared memory, always terminated. */
static void sl_sup_copy_shared(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n - 1] = '\0';
}

int sl_slot_snapshot(sl_slot *sh, sl_job_snap *out)
{
    if (!sh || atomic_load_explicit(&sh->state, memory_order_acquire) != SL_SLOT_RUNNING)
        return -1;
    uint64_t seq = atomic_load_explicit(&sh->job_seq, memory_order_acquire);
    /* The worker writes the job fields before bumping job_seq: if the
     * sequence is unchanged after the copy, they all belong to this job. */
    sl_sup_copy_shared(out->id, sh->job_id, sizeof out->id);
    sl_sup_copy_shared(out->type, sh->job_type, sizeof out->type);
    sl_sup_copy_shared(out->stream_id, sh->job_stream_id, sizeof out->stream_id);
    sl_sup_copy_shared(out->hold_key, sh->job_hold_key, sizeof out->hold_key);
    sl_sup_copy_shared(out->queue, sh->job_queue, sizeof out->queue);
    out->in_retry_stream = atomic_load_explicit(&sh->job_in_retry_stream, memory_order_relaxed) != 0;
    out->partition = atomic_load_explicit(&sh->job_partition, memory_order_relaxed);
    out->attempt = atomic_load_explicit(&sh->job_attempt, memory_order_relaxed);
    out->deliveries = atomic_load_explicit(&sh->job_deliveries, memory_order_relaxed);
    out->max_attempts = atomic_load_explicit(&sh->job_max_attempts, memory_order_relaxed);
    out->backoff_base_ms = atomic_load_explicit(&sh->job_backoff_base_ms, memory_order_relaxed);
    out->backoff_cap_ms = atomic_load_explicit(&sh->job_backoff_cap_ms, memory_order_relaxed);
    out->timeout_ms = atomic_load_explicit(&sh->job_timeout_ms, memory_order_relaxed);
    out->started_mono_ms = atomic_load_explicit(&sh->job_started_mono_ms, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&sh->job_seq, memory_order_relaxed) != seq ||
        atomic_load_explicit(&sh->state, memory_order_relaxed) != SL_SLOT_RUNNING)
        return -1; /* that job just ended */
    out->seq = seq;
    return 0;
}
