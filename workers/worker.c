/* The worker's process-wide tick (worker.h): the heartbeat in the status slot,
 * a log reopen on request, and noticing that the supervisor is gone. Called
 * by the read loop once per round and by the batch before each job. And the
 * keys of the queue partition the worker is on (sl_worker_set_lane). */
#include <stdatomic.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/channel.h"
#include "workers/worker.h"

int sl_worker_set_lane(sl_worker *w, int queue, int i)
{
    const char *g = w->pool->group;
    const char *q = w->part;

    if (queue < 0 || (size_t)queue >= w->pool->nqueues)
        return -1;
    w->queue_index = queue;
    w->queue = w->pool->queues[queue].name;
    w->env.queue = w->queue;
    w->nparts = sl_part_count(w->cfg, w->queue);
    if (sl_part_name(w->part, sizeof(w->part), w->queue, w->nparts, i) != 0)
        return -1;
    w->part_index = i;
    return sl_key_stream(w->keys[SL_STREAM_MAIN], sizeof(w->keys[0]), q) != 0 ||
                   sl_key_retry(w->keys[SL_STREAM_RETRY], sizeof(w->keys[0]), q, g) != 0 ||
                   sl_key_dlq(w->dlq_key, sizeof(w->dlq_key), q, g) != 0 ||
                   sl_key_sched(w->sched_key, sizeof(w->sched_key), q) != 0 ||
                   sl_key_done(w->done_prefix, sizeof(w->done_prefix), q, g, "") != 0 ||
                   sl_key_fence(w->fence_key, sizeof(w->fence_key), q, g) != 0 ||
                   sl_key_cancels(w->cancels_key, sizeof(w->cancels_key), q) != 0
               ? -1
               : 0;
}

int64_t sl_worker_tick(sl_worker *w)
{
    int64_t now = sl_now_mono_ms();
    atomic_store_explicit(&w->slot->heartbeat_mono_ms, now, memory_order_relaxed);
    if (w->reopen && *w->reopen) {
        *w->reopen = 0;
        if (sl_log_reopen() != 0)
            SL_LOG(SL_WARN, "log reopen failed; logging to stderr");
    }
    if (*w->stop)
        return now;
    /* getppid() and poll() are syscalls: at most every SL_PARENT_CHECK_MS, not per
     * job (PR_SET_PDEATHSIG also stops us when the supervisor dies). */
    if (now < w->next_parent_check_mono_ms)
        return now;
    w->next_parent_check_mono_ms = now + SL_PARENT_CHECK_MS;
    if (w->parent && getppid() != w->parent) {
        SL_LOG(SL_WARN, "supervisor gone (parent changed); stopping", SL_I("parent", w->parent));
        *w->stop = 1;
    } else if (w->chan_fd >= 0 && sl_channel_gone(w->chan_fd)) {
        SL_LOG(SL_WARN, "supervisor channel closed; stopping");
        *w->stop = 1;
    }
    return now;
}

void sl_worker_redis_error(sl_worker *w, const redisReply *r)
{
    int kind = !r                                                                 ? SL_RERR_UNREACHABLE
               : sl_redis_reply_is(r, "MOVED") || sl_redis_reply_is(r, "ASK")     ? SL_RERR_MOVED
               : sl_redis_reply_is(r, "NOPERM")                                   ? SL_RERR_NOPERM
               : sl_redis_reply_is(r, "WRONGTYPE")                                ? SL_RERR_WRONGTYPE
               : sl_redis_reply_transient(r) || sl_redis_reply_is(r, "UNBLOCKED") ? SL_RERR_UNAVAILABLE
                                                                                  : SL_RERR_OTHER;
    int64_t zero = 0;
    atomic_compare_exchange_strong_explicit(&w->slot->redis_error_since_mono_ms, &zero, sl_now_mono_ms(),
                                            memory_order_relaxed, memory_order_relaxed);
    atomic_store_explicit(&w->slot->redis_error_kind, kind, memory_order_relaxed);
}
