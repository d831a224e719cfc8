/* Reclaim: take over entries idle past jobs.lease from consumers that stopped
 * working them (a dead host), with FCALL sluice_reclaim on both streams: an
 * idle-fenced XAUTOCLAIM (see common/functions.lua for why not XAUTOCLAIM
 * itself). Claims count a delivery, so the crash budget holds. Idle entries
 * deleted while pending come back dead-lettered "trimmed": counted and logged. */
#include "workers/reclaim.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

#define DELETED_LOGGED 5 /* ids named in the log line */

void sl_reclaim_init(sl_reclaim *rc)
{
    for (int s = 0; s < SL_NSTREAMS; s++)
        snprintf(rc->cursor[s], sizeof(rc->cursor[s]), "0-0");
    rc->next_mono_ms = 0;
    rc->fence_seen = -1;
}

int sl_reclaim_due(sl_reclaim *rc, int64_t fence)
{
    if (rc->fence_seen < 0)
        rc->fence_seen = fence; /* the first value known is the baseline */
    return fence != rc->fence_seen || sl_now_mono_ms() >= rc->next_mono_ms;
}

/* Count and log the ids sluice_reclaim found deleted from the stream while
 * pending; the function already dead-lettered them ("trimmed") and acked them. */
static void report_deleted(sl_worker *w, int stream, const redisReply *d)
{
    if (!d || d->type != REDIS_REPLY_ARRAY || d->elements == 0)
        return;
    char ids[DELETED_LOGGED * (SL_STREAM_ID_MAX + 1) + 4] = "";
    size_t len = 0;
    for (size_t i = 0; i < d->elements && i < DELETED_LOGGED; i++) {
        const redisReply *x = d->element[i];
        if (x->type != REDIS_REPLY_STRING)
            continue;
        int n = snprintf(ids + len, sizeof(ids) - len, "%s%s", len ? "," : "", x->str);
        if (n > 0 && (size_t)n < sizeof(ids) - len)
            len += (size_t)n;
    }
    if (d->elements > DELETED_LOGGED && len + 4 < sizeof(ids))
        memcpy(ids + len, ",...", 5);
    atomic_fetch_add_explicit(&w->slot->reclaim_deleted, d->elements, memory_order_relaxed);
    SL_LOG(SL_WARN, "reclaim found entries deleted while pending; dead-lettered them as trimmed",
           SL_S("stream", w->keys[stream]), SL_S("group", w->pool->group), SL_I("deleted", d->elements),
           SL_S("ids", ids));
    atomic_fetch_add_explicit(&w->slot->jobs_dead, d->elements, memory_order_relaxed);
}

/* sluice_reclaim on one stream from its cursor. *out gets the reply (caller frees)
 * when it has entries to run. Returns 0, 1 when the group is missing, or -1
 * when the connection was lost. */
static int claim(sl_worker *w, sl_reclaim *rc, int stream, redisReply **out)
{
    char lease[24], count[16], maxlen[24];
    snprintf(lease, sizeof(lease), "%" PRId64, w->cfg->lease_ms);
    snprintf(count, sizeof(count), "%d", w->pool->read_count);
    snprintf(maxlen, sizeof(maxlen), "%" PRId64, sl_cfg_dlq_maxlen(w->cfg, w->queue));
    /* With the fence key, an owner change bumps the group's fence (see sluice_ack). */
    const char *argv[] = {"FCALL",        "sluice_reclaim", "3",   w->keys[stream],    w->dlq_key, w->fence_key,
                          w->pool->group, w->consumer,      lease, rc->cursor[stream], count,      maxlen};
    const char *probe[2];
    redisReply *cancels = NULL;
    sl_cancel_probe_argv(w, probe);
    redisReply *r = sl_worker_cmd2(w, 12, argv, 2, probe, &cancels); /* the claimed jobs' cancel check (cancel.h) */
    sl_cancel_probe_result(w, cancels);
    if (cancels)
        freeReplyObject(cancels);
    *out = NULL;
    if (!r)
        return -1;
    if (sl_redis_reply_is(r, "NOGROUP")) {
        freeReplyObject(r);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        sl_write_report(w, "FCALL sluice_reclaim", r);
        snprintf(rc->cursor[stream], sizeof(rc->cursor[stream]), "0-0");
        freeReplyObject(r);
        return 0;
    }
    snprintf(rc->cursor[stream], sizeof(rc->cursor[stream]), "%s", r->element[0]->str);
    report_deleted(w, stream, r->elements > 2 ? r->element[2] : NULL);
    if (r->element[1]->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    *out = r;
    return 0;
}

int sl_reclaim_round(sl_worker *w, sl_reclaim *rc, sl_batch *b)
{
    int more = 0;
    rc->fence_seen = w->fence; /* a move after this (our own claims too) brings the next round forward */
    for (int s = 0; s < SL_NSTREAMS && !*w->stop; s++) {
        redisReply *r = NULL;
        int64_t asked = sl_now_mono_ms(); /* claimed entries' leases start after this */
        int st = claim(w, rc, s, &r);
        if (st != 0)
            return st;
        if (strcmp(rc->cursor[s], "0-0") != 0)
            more = 1;
        if (!r)
            continue;
        const redisReply *e = r->element[1];
        atomic_fetch_add_explicit(&w->slot->reclaimed, e->elements, memory_order_relaxed);
        SL_LOG(SL_INFO, "reclaimed entries idle past the lease", SL_S("stream", w->keys[s]),
               SL_I("entries", e->elements), SL_I("lease_ms", w->cfg->lease_ms));
        sl_batch_reset(b, 1, asked);
        int run = sl_batch_add(b, s, e) == 0 ? 0 : -2;
        if (run == 0 && sl_batch_deliveries(w, b) != 0)
            run = -1;
        if (run == 0)
            run = sl_batch_run(w, b);
        if (run == -2)
            SL_LOG(SL_ERROR, "unexpected sluice_reclaim entry list; left pending", SL_S("stream", w->keys[s]));
        freeReplyObject(r);
        sl_batch_reset(b, 0, 0);
        if (run == -1)
            return -1;
    }
    /* A cursor that has not wrapped continues next round; else wait lease/2. */
    rc->next_mono_ms = sl_now_mono_ms() + (more ? 0 : w->cfg->lease_ms / 2);
    return 0;
}
