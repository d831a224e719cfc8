/* Retry and dead-letter moves (settle.h): one FCALL sluice_settle per job,
 * atomic with its ack, held and resent when Redis defers it; and the record of
 * every job's outcome (status-slot counters and the job's log line). */
#include "workers/settle.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The slot's reason counter of a dead-letter reason. */
static sl_slot_reason reason_ix(const char *reason)
{
    static const char *const names[] = {
#define X(r) #r,
        SL_SLOT_REASONS
#undef X
    };
    for (int i = 0; reason && i < SL_REASON_other; i++)
        if (strcmp(reason, names[i]) == 0)
            return (sl_slot_reason)i;
    return SL_REASON_other;
}

void sl_settle_record(sl_worker *w, const sl_settle *s, int outcome)
{
    static const char *const names[SL_OUT_N] = {"ok", "retry", "unwritten", "dead", "skipped", "cancelled"};
    static const char *const msgs[SL_OUT_N] = {"job completed",
                                               "job scheduled for retry",
                                               "job outcome not written; entry stays pending",
                                               "job dead-lettered",
                                               "job already done in this group; acked without running",
                                               "job cancelled"};
    sl_slot *sl = w->slot;
    if (outcome < 0 || outcome >= SL_OUT_N)
        return;
    _Atomic uint64_t *row =
        s->type_slot > 0 && s->type_slot <= SL_SLOT_TYPES ? sl->type_outcome[s->type_slot - 1] : sl->untyped_outcome;
    count(&row[outcome], 1);
    if (outcome == SL_OUT_DEAD)
        count(&sl->dead_reason[reason_ix(s->reason)], 1);
    int loud = outcome == SL_OUT_RETRY || outcome == SL_OUT_UNWRITTEN || outcome == SL_OUT_DEAD;
    if (!loud && !w->cfg->log_jobs)
        return;
    sl_log_level lvl = loud ? SL_WARN : SL_INFO;
    if (!sl_log_enabled(lvl))
        return;
    const char *reason = outcome == SL_OUT_DEAD ? s->reason : outcome == SL_OUT_RETRY ? "retry" : "";
    if (outcome == SL_OUT_UNWRITTEN)
        reason = s->reason ? s->reason : "write_error";
    SL_LOG(lvl, msgs[outcome], SL_S("queue", w->queue), SL_S("group", w->pool->group),
           SL_S("job_id", s->job_id ? s->job_id : s->stream_id), SL_S("type", s->type ? s->type : ""),
           SL_I("attempt", s->attempt), SL_S("outcome", names[outcome]), SL_I("duration_ms", s->duration_ms),
           SL_S("reason", reason ? reason : ""), SL_S("correlation_id", s->correlation_id ? s->correlation_id : ""),
           SL_S("stream_id", s->stream_id), SL_I("deliveries", s->deliveries),
           SL_I("delay_ms", outcome == SL_OUT_RETRY ? s->delay_ms : 0), SL_S("error", s->error ? s->error : ""));
}

/* Count a settled move (the v2 totals) and record its outcome. */
static void settled(sl_worker *w, const sl_settle *s)
{
    if (s->defer)
        return; /* counted in sl_slot.limited by limits.c */
    count(s->retry ? &w->slot->jobs_retried : &w->slot->jobs_dead, 1);
    sl_settle_record(w, s, s->retry ? SL_OUT_RETRY : SL_OUT_DEAD);
}

/* Copy s into w->held (its strings into the held buffers). */
static void hold(sl_worker *w, const sl_settle *s, sl_write_rc rc)
{
    sl_held_settle *h = &w->held;
    if (!h->active) {
        memset(h, 0, sizeof(*h));
        h->s = *s;
        sl_copy(h->stream_id, sizeof(h->stream_id), s->stream_id);
        sl_copy(h->job_id, sizeof(h->job_id), s->job_id ? s->job_id : s->stream_id);
        sl_copy(h->type, sizeof(h->type), s->type ? s->type : "");
        sl_copy(h->reason, sizeof(h->reason), s->reason ? s->reason : "");
        sl_copy(h->error, sizeof(h->error), s->error ? s->error : "");
        sl_copy(h->correlation_id, sizeof(h->correlation_id), s->correlation_id ? s->correlation_id : "");
        sl_copy(h->limit_at, sizeof(h->limit_at), s->limit_at ? s->limit_at : "");
        h->s.limit_at = h->limit_at;
        h->s.stream_id = h->stream_id, h->s.job_id = h->job_id, h->s.type = h->type;
        h->s.reason = h->reason, h->s.error = h->error, h->s.correlation_id = h->correlation_id;
        h->active = 1;
        SL_LOG(SL_WARN, "job result kept: its retry/dead-letter move is resent until Redis takes it",
               SL_S("job_id", h->job_id), SL_S("stream_id", h->stream_id),
               SL_S("outcome", s->defer   ? "defer"
                               : s->retry ? "retry"
                                          : "dead"));
    }
    h->sends++;
    if (rc == SL_WRITE_LOST)
        h->maybe_written = 1;
}

/* One FCALL sluice_settle of s and its reply. quiet: a resend of a held settle
 * (failures not logged again, a refusal after a lost connection not late). */
static sl_write_rc settle_call(sl_worker *w, const sl_settle *s, int quiet)
{
    char delay[24], attempt[16], deliveries[16], maxlen[24], excerpt[24];
    snprintf(delay, sizeof(delay), "%" PRId64, (s->retry || s->defer) && s->delay_ms > 0 ? s->delay_ms : 0);
    snprintf(attempt, sizeof(attempt), "%" PRIu32, s->attempt);
    snprintf(deliveries, sizeof(deliveries), "%" PRIu32, s->deliveries);
    snprintf(maxlen, sizeof(maxlen), "%" PRId64, sl_cfg_dlq_maxlen(w->cfg, w->queue));
    const char *argv[] = {"FCALL",
                          "sluice_settle",
                          "4",
                          w->keys[s->stream],
                          w->sched_key,
                          w->dlq_key,
                          w->keys[SL_STREAM_RETRY],
                          w->pool->group,
                          w->consumer,
                          s->stream_id,
                          s->defer   ? "defer"
                          : s->retry ? "retry"
                                     : "dead",
                          delay,
                          s->retry || s->defer ? "" : s->reason,
                          s->error ? s->error : "",
                          attempt,
                          deliveries,
                          maxlen,
                          s->job_id ? s->job_id : s->stream_id,
                          excerpt};
    /* An oversize entry's dead letter keeps an excerpt of its payload. */
    int oversize = !s->retry && !s->defer && s->reason && strcmp(s->reason, "oversize") == 0;
    if (oversize)
        snprintf(excerpt, sizeof(excerpt), "%d", SL_DLQ_PAYLOAD_EXCERPT);
    if (s->defer) /* ARGV[12] of a deferral: its reservations */
        argv[sizeof(argv) / sizeof(argv[0]) - 1] = s->limit_at ? s->limit_at : "";
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - !(oversize || s->defer);
    redisReply *r = sl_worker_cmd(w, argc, argv, NULL);
    sl_write_rc rc = SL_WRITE_OK;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        if (!quiet) {
            rc = sl_write_report(w, "FCALL sluice_settle", r);
        } else {
            rc = sl_write_classify(r);
            if (rc == SL_WRITE_REFUSED)
                sl_write_report(w, "FCALL sluice_settle", r);
        }
        if (rc == SL_WRITE_REFUSED) {
            sl_settle f = *s;
            f.reason = "write_error";
            sl_settle_record(w, &f, SL_OUT_UNWRITTEN);
        }
    } else if (r->integer == 1) {
        settled(w, s);
        char why[512];
        if (w->cfg->wait_replicas > 0 && !w->held.active &&
            sl_redis_wait(w->redis, w->cfg->wait_replicas, w->cfg->wait_timeout_ms, why, sizeof why) != 0) {
            /* on the master, not confirmed: held and sent again like a lost write (a resend of a
             * move that stands is refused; one a failover lost is made again) */
            SL_LOG(SL_ERROR, "retry/dead-letter move not confirmed by the replicas", SL_S("error", why),
                   SL_S("job_id", s->job_id ? s->job_id : s->stream_id));
            rc = SL_WRITE_LOST;
        }
    } else if (quiet && w->held.maybe_written) {
        SL_LOG(SL_INFO, "resent settle refused: written before the connection dropped, or reclaimed",
               SL_S("job_id", s->job_id ? s->job_id : s->stream_id), SL_S("stream_id", s->stream_id));
    } else {
        count(&w->slot->late_results, 1);
        sl_settle f = *s;
        f.reason = "late_result";
        f.error = SL_LATE_MSG;
        sl_settle_record(w, &f, SL_OUT_UNWRITTEN);
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

sl_write_rc sl_settle_send(sl_worker *w, const sl_settle *s)
{
    sl_write_rc rc = settle_call(w, s, 0);
    if (rc == SL_WRITE_LOST || rc == SL_WRITE_BUSY)
        hold(w, s, rc);
    return rc;
}

int sl_settle_held(const sl_worker *w)
{
    return w->held.active;
}

sl_write_rc sl_settle_resend_held(sl_worker *w)
{
    sl_held_settle *h = &w->held;
    if (!h->active)
        return SL_WRITE_OK;
    sl_write_rc rc = settle_call(w, &h->s, 1);
    if (rc == SL_WRITE_LOST || rc == SL_WRITE_BUSY) {
        hold(w, &h->s, rc);
        return rc;
    }
    if (rc == SL_WRITE_OK)
        SL_LOG(SL_INFO, "kept job result written", SL_S("job_id", h->job_id), SL_I("sends", h->sends + 1));
    h->active = 0;
    return rc;
}

sl_write_rc sl_settle_wait_held(sl_worker *w)
{
    for (unsigned attempt = 0; w->held.active; attempt++) {
        sl_worker_tick(w);
        if (*w->stop)
            return SL_WRITE_BUSY;
        int64_t min = w->cfg->reconnect_min_ms;
        sl_sleep_ms(
            sl_backoff_ms(min, w->cfg->reconnect_max_ms, attempt < 64 ? attempt : 64, min / 2 > 10 ? min / 2 : 10),
            w->stop);
        if (*w->stop)
            return SL_WRITE_BUSY;
        sl_write_rc rc = sl_settle_resend_held(w);
        if (rc != SL_WRITE_BUSY)
            return rc;
    }
    return SL_WRITE_OK;
}

sl_write_rc sl_settle_complete(sl_worker *w, const sl_settle *s, int marker)
{
    const char *argv[] = {"FCALL",     "sluice_complete", "1",       w->keys[s->stream],           w->pool->group,
                          w->consumer, s->stream_id,      s->job_id, marker ? w->done_prefix : "", w->done_ttl};
    redisReply *r = sl_worker_cmd(w, 10, argv, NULL);
    if (r && r->type == REDIS_REPLY_INTEGER) {
        if (r->integer != 1)
            count(&w->slot->late_results, 1);
        freeReplyObject(r);
        return SL_WRITE_OK;
    }
    if (r) {
        sl_write_report(w, "FCALL sluice_complete", r);
        freeReplyObject(r);
    }
    return sl_acks_queue(w, s->stream, s->stream_id, marker ? s->job_id : NULL);
}
