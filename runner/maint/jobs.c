/* The Redis side of killed jobs (see maint.h): a hard timeout counts an
 * attempt (sluice_settle: retry or dead letter "timeout"), a kill at a stop
 * gives the entry back (sluice_release), a kill after a cancel's grace settles
 * it as cancelled (sluice_cancel_settle). The slot is held meanwhile, so its
 * next worker cannot replay the entry before the move is decided. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/functions.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/util.h"
#include "runner/maint/internal.h"
#include "runner/maint/maint.h"

typedef enum sl_move_kind { SL_MOVE_RETRY, SL_MOVE_DEAD, SL_MOVE_RELEASE, SL_MOVE_CANCEL } sl_move_kind;

/* One move in flight; the owner holds the slot (token) until its reply (or
 * none) arrives. The worker's names are copied: nothing here points into the
 * owner's slots. */
typedef struct sl_maint_move {
    sl_maint *m;
    void *token;
    char pool[128];
    int slot;
    char queue[128], group[128], consumer[320];
    sl_move_kind kind;
    char job_id[sizeof(((sl_job_snap *)0)->id)];
    char stream_id[sizeof(((sl_job_snap *)0)->stream_id)];
    char type[sizeof(((sl_job_snap *)0)->type)];
    uint32_t attempt;
    int64_t delay_ms;
} sl_maint_move;

int sl_maint_job_part(const sl_maint_worker *w, const sl_job_snap *snap, char *part, size_t n)
{
    const char *q = snap->queue[0] ? snap->queue : w->queue; /* a pool of several queues: the job's */
    if (!q[0])
        return -1;
    return snap->partition >= 0 ? sl_fmt(part, n, "%s#%d", q, snap->partition) : sl_fmt(part, n, "%s", q);
}

int sl_maint_job_stream(const sl_maint_worker *w, const sl_job_snap *snap, char *buf, size_t n)
{
    char part[SL_PARTITION_NAME_MAX];
    if (!w->group[0] || sl_maint_job_part(w, snap, part, sizeof part) != 0)
        return -1;
    return snap->in_retry_stream ? sl_key_retry(buf, n, part, w->group) : sl_key_stream(buf, n, part);
}

/* The move ended: report it to the owner, which drops its hold (and may
 * respawn or free the slot: nothing here touches it). */
static void sl_maint_move_done(sl_maint_move *mv)
{
    sl_maint_owner owner = mv->m->owner;
    void *token = mv->token;
    free(mv);
    owner.moved(owner.ctx, token);
}

static void sl_maint_on_settled(void *arg, redisReply *r)
{
    sl_maint_move *mv = arg;
    sl_maint_stats *st = &mv->m->stats;
    const char *pool = mv->pool;

    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        mv->m->owner.timed_out(mv->m->owner.ctx, mv->queue, mv->group, mv->type, mv->kind == SL_MOVE_DEAD);
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1 && mv->kind == SL_MOVE_RETRY) {
        st->timeout_retried++;
        SL_LOG(SL_WARN, "timed-out job scheduled for a retry", SL_S("pool", pool), SL_I("slot", mv->slot),
               SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id), SL_I("attempt", mv->attempt),
               SL_I("delay_ms", mv->delay_ms), SL_S("reason", "timeout"), SL_S("outcome", "retried"));
    } else if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        st->timeout_dead++;
        SL_LOG(SL_ERROR, "timed-out job dead-lettered: attempts exhausted", SL_S("pool", pool), SL_I("slot", mv->slot),
               SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id), SL_I("attempt", mv->attempt),
               SL_S("reason", "timeout"), SL_S("outcome", "dead"));
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        st->timeout_refused++;
        SL_LOG(SL_WARN, "timed-out job not settled: its entry is no longer the worker's", SL_S("pool", pool),
               SL_I("slot", mv->slot), SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id),
               SL_S("outcome", "refused"));
    } else {
        st->timeout_unsettled++;
        SL_LOG(SL_WARN,
               "timed-out job not settled (no answer from redis); respawning anyway: the new worker "
               "replays the entry and max_deliveries bounds it",
               SL_S("pool", pool), SL_I("slot", mv->slot), SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id),
               SL_S("outcome", "unsettled"), SL_S("error", r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply"));
        if (sl_functions_missing(r))
            sl_mconn_reset(mv->m->conn, "function library missing");
    }
    sl_maint_move_done(mv);
}

/* Send mv's command. 0: sent, the owner holds the slot until mv is done; -1:
 * not sent (mv freed), nothing to hold. */
static int sl_maint_move_send(sl_maint_move *mv, sl_mconn_cb cb, int argc, const char **argv)
{
    if (sl_mconn_call(mv->m->conn, SL_MCONN_QUEUE, cb, mv, argc, argv, NULL) != 0) {
        SL_LOG(SL_ERROR, "cannot send the move of a killed job (out of memory?); the new worker replays it",
               SL_S("pool", mv->pool), SL_I("slot", mv->slot), SL_S("job_id", mv->job_id));
        free(mv);
        return -1;
    }
    return 0;
}

static sl_maint_move *sl_maint_move_new(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap)
{
    if (!m || !snap->stream_id[0])
        return NULL;
    sl_maint_move *mv = calloc(1, sizeof *mv);
    if (!mv)
        return NULL;
    mv->m = m;
    mv->token = token;
    mv->slot = w->slot;
    (void)sl_fmt(mv->pool, sizeof mv->pool, "%s", w->pool);
    (void)sl_fmt(mv->queue, sizeof mv->queue, "%s", snap->queue[0] ? snap->queue : w->queue);
    (void)sl_fmt(mv->group, sizeof mv->group, "%s", w->group);
    (void)sl_fmt(mv->consumer, sizeof mv->consumer, "%s", w->consumer);
    (void)sl_fmt(mv->job_id, sizeof mv->job_id, "%s", snap->id[0] ? snap->id : snap->stream_id);
    (void)sl_fmt(mv->stream_id, sizeof mv->stream_id, "%s", snap->stream_id);
    (void)sl_fmt(mv->type, sizeof mv->type, "%s", snap->type);
    return mv;
}

int sl_maint_settle_timeout(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap,
                            int64_t elapsed_ms)
{
    const sl_config *cfg;
    char stream[SL_KEY_MAX], sched[SL_KEY_MAX], dlq[SL_KEY_MAX], rstream[SL_KEY_MAX], part[SL_PARTITION_NAME_MAX];
    char delay[24], attempt[16], deliveries[16], maxlen[24], error[96];
    sl_maint_move *mv = sl_maint_move_new(m, w, token, snap);
    if (!mv)
        return -1;
    cfg = m->cfg;
    /* A worker that did not fill in a field (0) gets the jobs.* default. */
    uint32_t att = snap->attempt ? snap->attempt : 1;
    uint32_t max = snap->max_attempts ? snap->max_attempts : (uint32_t)cfg->max_attempts;
    int64_t base = snap->backoff_base_ms > 0 ? snap->backoff_base_ms : cfg->backoff_base_ms;
    int64_t cap = snap->backoff_cap_ms > 0 ? snap->backoff_cap_ms : cfg->backoff_cap_ms;
    mv->kind = att < max ? SL_MOVE_RETRY : SL_MOVE_DEAD;
    mv->attempt = att;
    mv->delay_ms = mv->kind == SL_MOVE_RETRY ? sl_backoff_ms(base, cap, att - 1, 0) : 0;
    if (sl_maint_job_stream(w, snap, stream, sizeof stream) != 0 ||
        sl_maint_job_part(w, snap, part, sizeof part) != 0 || sl_key_sched(sched, sizeof sched, part) != 0 ||
        sl_key_dlq(dlq, sizeof dlq, part, w->group) != 0 ||
        sl_key_retry(rstream, sizeof rstream, part, w->group) != 0) {
        free(mv);
        return -1;
    }
    (void)snprintf(delay, sizeof delay, "%lld", (long long)mv->delay_ms);
    (void)snprintf(attempt, sizeof attempt, "%u", att);
    (void)snprintf(deliveries, sizeof deliveries, "%u", snap->deliveries);
    (void)snprintf(maxlen, sizeof maxlen, "%lld", (long long)sl_cfg_dlq_maxlen(cfg, w->queue));
    (void)snprintf(error, sizeof error, "hard timeout: killed after %lld ms", (long long)elapsed_ms);
    const char *argv[] = {"FCALL",
                          "sluice_settle",
                          "4",
                          stream,
                          sched,
                          dlq,
                          rstream,
                          mv->group,
                          mv->consumer,
                          mv->stream_id,
                          mv->kind == SL_MOVE_RETRY ? "retry" : "dead",
                          delay,
                          "timeout",
                          error,
                          attempt,
                          deliveries,
                          maxlen,
                          mv->job_id};
    return sl_maint_move_send(mv, sl_maint_on_settled, (int)(sizeof argv / sizeof argv[0]), argv);
}

static void sl_maint_on_released(void *arg, redisReply *r)
{
    sl_maint_move *mv = arg;
    sl_maint_stats *st = &mv->m->stats;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        st->released++;
        SL_LOG(SL_INFO, "released the killed worker's job: no delivery spent", SL_S("pool", mv->pool),
               SL_I("slot", mv->slot), SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id));
    } else if (r && r->type == REDIS_REPLY_INTEGER) {
        st->release_missed++;
        SL_LOG(SL_INFO, "nothing to release: the killed worker's entry is gone or no longer its own",
               SL_S("pool", mv->pool), SL_I("slot", mv->slot), SL_S("job_id", mv->job_id));
    } else {
        st->release_missed++;
        SL_LOG(SL_WARN, "could not release the killed worker's job; it stays pending with this delivery counted",
               SL_S("pool", mv->pool), SL_I("slot", mv->slot), SL_S("job_id", mv->job_id),
               SL_S("error", r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply"));
    }
    sl_maint_move_done(mv);
}

int sl_maint_release(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap)
{
    char stream[SL_KEY_MAX];
    sl_maint_move *mv = sl_maint_move_new(m, w, token, snap);
    if (!mv)
        return -1;
    mv->kind = SL_MOVE_RELEASE;
    if (sl_maint_job_stream(w, snap, stream, sizeof stream) != 0) {
        free(mv);
        return -1;
    }
    const char *argv[] = {"FCALL", "sluice_release", "1", stream, mv->group, mv->consumer, mv->stream_id};
    return sl_maint_move_send(mv, sl_maint_on_released, 7, argv);
}

static void sl_maint_on_cancel_settled(void *arg, redisReply *r)
{
    sl_maint_move *mv = arg;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        mv->m->owner.cancel_settled(mv->m->owner.ctx, mv->queue, mv->group, mv->type);
        SL_LOG(SL_WARN, "cancelled job killed after jobs.cancel_grace; settled as cancelled", SL_S("pool", mv->pool),
               SL_I("slot", mv->slot), SL_S("job_id", mv->job_id), SL_S("stream_id", mv->stream_id),
               SL_S("outcome", "cancelled"));
    } else {
        SL_LOG(SL_WARN,
               "killed cancelled job not settled here; its entry stays pending and the next worker skips it "
               "(sluice_begin)",
               SL_S("pool", mv->pool), SL_I("slot", mv->slot), SL_S("job_id", mv->job_id),
               SL_S("error", r && r->type == REDIS_REPLY_ERROR ? r->str
                             : r                               ? "not the worker's entry"
                                                               : "no reply"));
        if (sl_functions_missing(r))
            sl_mconn_reset(mv->m->conn, "function library missing");
    }
    sl_maint_move_done(mv);
}

int sl_maint_settle_cancelled(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap)
{
    char stream[SL_KEY_MAX], part[SL_PARTITION_NAME_MAX], cancels[SL_KEY_MAX], record[2 * SL_KEY_MAX];
    sl_maint_move *mv = sl_maint_move_new(m, w, token, snap);
    if (!mv)
        return -1;
    mv->kind = SL_MOVE_CANCEL;
    if (sl_maint_job_stream(w, snap, stream, sizeof stream) != 0 ||
        sl_maint_job_part(w, snap, part, sizeof part) != 0 || sl_key_cancels(cancels, sizeof cancels, part) != 0 ||
        sl_key_cancelled(record, sizeof record, part, mv->job_id) != 0) {
        free(mv);
        return -1;
    }
    const char *argv[] = {"FCALL",   "sluice_cancel_settle", "3",           stream,     cancels, record,
                          mv->group, mv->consumer,           mv->stream_id, mv->job_id, "killed"};
    return sl_maint_move_send(mv, sl_maint_on_cancel_settled, (int)(sizeof argv / sizeof argv[0]), argv);
}

/* One sluice_delconsumer in flight; the slot is gone by the time it answers. */
typedef struct sl_maint_forget {
    char stream[SL_KEY_MAX];
    char consumer[320];
} sl_maint_forget;

static void sl_maint_on_forgot(void *arg, redisReply *r)
{
    sl_maint_forget *f = arg;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        SL_LOG(SL_INFO, "deleted the consumer of a removed slot", SL_S("stream", f->stream),
               SL_S("consumer", f->consumer));
    else if (r && r->type == REDIS_REPLY_INTEGER && r->integer < 0)
        SL_LOG(SL_INFO, "kept the consumer of a removed slot: it holds pending entries, which the lease reclaim moves",
               SL_S("stream", f->stream), SL_S("consumer", f->consumer));
    else if (!r || r->type != REDIS_REPLY_INTEGER)
        SL_LOG(SL_WARN, "could not delete the consumer of a removed slot; it stays listed in the group",
               SL_S("stream", f->stream), SL_S("consumer", f->consumer),
               SL_S("error", r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply"));
    free(f);
}

/* Forget consumer w on queue's streams (each partition's work and retry stream). */
static void sl_maint_forget_on(sl_maint *m, const sl_maint_worker *w, const char *queue)
{
    int nparts = sl_part_count(m->cfg, queue);
    for (int i = 0; i < 2 * nparts; i++) {
        sl_job_snap where = {.partition = nparts > 1 ? i / 2 : -1, .in_retry_stream = i % 2};
        (void)sl_fmt(where.queue, sizeof where.queue, "%s", queue);
        sl_maint_forget *f = calloc(1, sizeof *f);
        if (!f || sl_maint_job_stream(w, &where, f->stream, sizeof f->stream) != 0 ||
            sl_fmt(f->consumer, sizeof f->consumer, "%s", w->consumer) != 0) {
            free(f);
            return;
        }
        const char *argv[] = {"FCALL", "sluice_delconsumer", "1", f->stream, w->group, w->consumer};
        if (sl_mconn_call(m->conn, SL_MCONN_QUEUE, sl_maint_on_forgot, f, 6, argv, NULL) != 0) {
            free(f);
            return;
        }
    }
}

void sl_maint_forget_consumer(sl_maint *m, const sl_maint_worker *w)
{
    if (!m || !w->queue[0] || !w->group[0] || !w->consumer[0])
        return;
    const sl_pool_cfg *p = sl_cfg_pool(m->cfg, w->pool); /* every queue of its pool, when it is still configured */
    if (!p || p->nqueues < 2 || strcmp(p->queue, w->queue) != 0) {
        sl_maint_forget_on(m, w, w->queue);
        return;
    }
    for (size_t q = 0; q < p->nqueues; q++)
        sl_maint_forget_on(m, w, p->queues[q].name);
}
