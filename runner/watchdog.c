/* Hard job timeouts: every 100 ms, read each live worker's shared status slot
 * and SIGKILL a worker whose running job passed its timeout. Reading shared
 * memory only: no syscall per job and no message from the worker needed. */
#include <stdatomic.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/supervisor.h"

/* Copy a NUL-terminated string out of shared memory, always terminated. */
static void sl_sup_copy_shared(char *dst, const char *src, size_t n)
{
    memcpy(dst, src, n);
    dst[n - 1] = '\0';
}

/* Check one slot; kill its worker if its job is over time. */
static void sl_sup_watch_slot(sl_pool_slot *s, int64_t now)
{
    sl_slot *sh = s->shm;
    if (!s->pid || !sh || s->kill_reason)
        return;
    if (atomic_load_explicit(&sh->state, memory_order_acquire) != SL_SLOT_RUNNING)
        return;
    uint64_t seq = atomic_load_explicit(&sh->job_seq, memory_order_acquire);
    int64_t limit = atomic_load_explicit(&sh->job_timeout_ms, memory_order_relaxed);
    int64_t started = atomic_load_explicit(&sh->job_started_mono_ms, memory_order_relaxed);
    if (limit <= 0 || now - started <= limit)
        return;

    /* The worker writes the job strings before bumping job_seq: if the
     * sequence is unchanged after the copy, they belong to this job. */
    char id[sizeof sh->job_id], type[sizeof sh->job_type], sid[sizeof sh->job_stream_id];
    sl_sup_copy_shared(id, sh->job_id, sizeof id);
    sl_sup_copy_shared(type, sh->job_type, sizeof type);
    sl_sup_copy_shared(sid, sh->job_stream_id, sizeof sid);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&sh->job_seq, memory_order_relaxed) != seq ||
        atomic_load_explicit(&sh->state, memory_order_relaxed) != SL_SLOT_RUNNING)
        return; /* that job just ended; look again next tick */

    SL_LOG(SL_ERROR, "job passed its hard timeout; killing the worker", SL_S("pool", s->pool->name),
           SL_I("slot", s->index), SL_I("pid", s->pid), SL_S("consumer", s->consumer),
           SL_S("job_id", id), SL_S("job_type", type), SL_S("stream_id", sid),
           SL_S("reason", "timeout"), SL_I("timeout_ms", limit), SL_I("elapsed_ms", now - started));
    sl_pool_slot_kill(s, "timeout");
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
