/* Hard job timeouts: every 100 ms, read each live worker's shared status slot
 * and SIGKILL a worker whose running job passed its timeout, then have the
 * job's attempt counted (maint.c settles it). Reading shared memory only: no
 * syscall per job and no message from the worker needed. */
#include <stdatomic.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/maint/maint.h"
#include "runner/supervisor.h"

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
    out->in_retry_stream = atomic_load_explicit(&sh->job_in_retry_stream, memory_order_relaxed) != 0;
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
    return 0;
}

/* Check one slot; kill its worker if its job is over time, and settle the job. */
static void sl_sup_watch_slot(sl_pool_slot *s, int64_t now)
{
    sl_job_snap snap;
    if (!s->pid || !s->shm || s->kill_reason)
        return;
    if (sl_slot_snapshot(s->shm, &snap) != 0)
        return; /* idle, or a job just ended: look again next tick */
    if (snap.timeout_ms <= 0 || now - snap.started_mono_ms <= snap.timeout_ms)
        return;

    SL_LOG(SL_ERROR, "job passed its hard timeout; killing the worker", SL_S("pool", s->pool->name),
           SL_I("slot", s->index), SL_I("pid", s->pid), SL_S("consumer", s->consumer), SL_S("job_id", snap.id),
           SL_S("job_type", snap.type), SL_S("stream_id", snap.stream_id), SL_S("reason", "timeout"),
           SL_I("timeout_ms", snap.timeout_ms), SL_I("elapsed_ms", now - snap.started_mono_ms),
           SL_I("attempt", snap.attempt));
    sl_pool_slot_kill(s, "timeout");
    /* The snapshot was taken before the kill: it is the job the worker held. */
    sl_maint_settle_timeout(s->pool->sup->maint, s, &snap, now - snap.started_mono_ms);
}

static void sl_sup_watchdog_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_sup *sup = arg;
    int64_t now = sl_now_mono_ms();
    (void)fd;
    (void)what;
    for (sl_pool *p = sup->pools; p; p = p->next)
        for (int i = 0; i < p->nslots; i++)
            if (p->slots[i])
                sl_sup_watch_slot(p->slots[i], now);
}

int sl_sup_watchdog_start(sl_sup *sup)
{
    struct timeval tv = {0, SL_SUP_WATCHDOG_MS * 1000};
    sup->watchdog = event_new(sup->base, -1, EV_PERSIST, sl_sup_watchdog_tick, sup);
    if (!sup->watchdog)
        return -1;
    return event_add(sup->watchdog, &tv);
}
