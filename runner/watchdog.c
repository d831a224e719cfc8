/* Hard job timeouts: every 100 ms, read each live worker's shared status slot
 * and SIGKILL a worker whose running job passed its timeout, then have the
 * job's attempt counted (maint.c settles it). Reading shared memory only: no
 * syscall per job and no message from the worker needed. Cancelled running
 * jobs the same way: told to stop through the slot's cancel_seq, killed after
 * jobs.cancel_grace and settled as cancelled. */

#include <stdatomic.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/maint/maint.h"
#include "runner/supervisor.h"

/* Check one slot; kill its worker if its job is over time, and settle the job. */
static void sl_sup_watch_slot(sl_pool_slot *s, int64_t now)
{
    sl_job_snap snap;
    if (!s->pid || !s->shm || s->kill_reason)
        return;
    if (sl_slot_snapshot(s->shm, &snap) != 0)
        return; /* idle, or a job just ended: look again next tick */
    if (s->cancel_seq && snap.seq == s->cancel_seq && now >= s->cancel_deadline_ms) {
        SL_LOG(SL_WARN, "cancelled job did not stop within jobs.cancel_grace; killing the worker",
               SL_S("pool", s->pool->name), SL_I("slot", s->index), SL_I("pid", s->pid), SL_S("job_id", snap.id),
               SL_S("stream_id", snap.stream_id), SL_I("grace_ms", s->pool->sup->cfg->cancel_grace_ms));
        sl_pool_slot_kill(s, "cancelled");
        sl_maint_worker w;
        sl_pool_slot_worker(s, &w);
        if (sl_maint_settle_cancelled(s->pool->sup->maint, &w, s, &snap) == 0)
            s->hold++; /* until the maintenance reports the move's end (supervisor.c) */
        return;
    }
    if (snap.timeout_ms <= 0 || now - snap.started_mono_ms <= snap.timeout_ms)
        return;

    SL_LOG(SL_ERROR, "job passed its hard timeout; killing the worker", SL_S("pool", s->pool->name),
           SL_I("slot", s->index), SL_I("pid", s->pid), SL_S("consumer", s->consumer), SL_S("job_id", snap.id),
           SL_S("job_type", snap.type), SL_S("stream_id", snap.stream_id), SL_S("reason", "timeout"),
           SL_I("timeout_ms", snap.timeout_ms), SL_I("elapsed_ms", now - snap.started_mono_ms),
           SL_I("attempt", snap.attempt));
    sl_pool_slot_kill(s, "timeout");
    /* The snapshot was taken before the kill: it is the job the worker held. */
    sl_maint_worker w;
    sl_pool_slot_worker(s, &w);
    if (sl_maint_settle_timeout(s->pool->sup->maint, &w, s, &snap, now - snap.started_mono_ms) == 0)
        s->hold++; /* until the maintenance reports the move's end (supervisor.c) */
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

void sl_sup_on_cancel_seen(void *ctx, const char *pool, int slot, uint64_t seq)
{
    sl_sup *sup = ctx;
    sl_job_snap snap;
    sl_pool *p = sup->pools;
    while (p && strcmp(p->name, pool) != 0)
        p = p->next;
    sl_pool_slot *s = p && slot >= 0 && slot < p->nslots ? p->slots[slot] : NULL;
    if (!s || !s->pid || !s->shm || s->kill_reason || s->cancel_seq == seq || sl_slot_snapshot(s->shm, &snap) != 0 ||
        snap.seq != seq)
        return; /* gone, already told, or that job ended */
    s->cancel_seq = seq;
    s->cancel_deadline_ms = sl_now_mono_ms() + sup->cfg->cancel_grace_ms;
    atomic_store_explicit(&s->shm->cancel_seq, seq, memory_order_relaxed);
    SL_LOG(SL_INFO, "running job cancelled; its handler is told to stop", SL_S("pool", p->name), SL_I("slot", s->index),
           SL_I("pid", s->pid), SL_S("job_id", snap.id), SL_S("stream_id", snap.stream_id),
           SL_I("grace_ms", sup->cfg->cancel_grace_ms));
}

int sl_sup_watchdog_start(sl_sup *sup)
{
    struct timeval tv = {0, SL_SUP_WATCHDOG_MS * 1000};
    sup->watchdog = event_new(sup->base, -1, EV_PERSIST, sl_sup_watchdog_tick, sup);
    if (!sup->watchdog)
        return -1;
    return event_add(sup->watchdog, &tv);
}
