/* Reclaim: take over entries idle past jobs.lease from consumers that stopped
 * working them (a dead host), with XAUTOCLAIM on both streams (never JUSTID,
 * so delivery counts grow and the crash budget holds). Ids XAUTOCLAIM reports
 * deleted while pending are counted, logged and dead-lettered "trimmed". */
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
    for (int s = 0; s < SL_NSTREAMS; s++) snprintf(rc->cursor[s], sizeof(rc->cursor[s]), "0-0");
    rc->next_mono_ms = 0;
}

int sl_reclaim_due(const sl_reclaim *rc)
{
    return sl_now_mono_ms() >= rc->next_mono_ms;
}

/* Dead-letter one id XAUTOCLAIM dropped as deleted: reason "trimmed". Not a
 * fenced move (nothing is pending any more, so sluice_settle would refuse it):
 * XAUTOCLAIM reports each deleted id to exactly one caller, so exactly one
 * worker writes this. The fields are gone; the record keeps the ids. */
static void dead_letter_deleted(sl_worker *w, int stream, const char *id)
{
    char maxlen[24], failed_at[24];
    snprintf(maxlen, sizeof(maxlen), "%" PRId64, w->cfg->dlq_maxlen > 0 ? w->cfg->dlq_maxlen : 0);
    snprintf(failed_at, sizeof(failed_at), "%" PRId64, sl_now_wall_ms());
    const char *argv[] = {"XADD", w->dlq_key, "MAXLEN", "~", maxlen, "*", "id", id, "reason", "trimmed", "error",
                          "entry deleted from the stream while pending (reported by XAUTOCLAIM at reclaim)",
                          "attempts", "1", "deliveries", "0", "original_id", id, "original_stream", w->keys[stream],
                          "group", w->pool->group, "consumer", w->consumer, "failed_at", failed_at};
    int off = w->cfg->dlq_maxlen > 0 ? 0 : 3; /* uncapped: drop MAXLEN ~ n */
    if (off) argv[3] = argv[0], argv[4] = argv[1];
    redisReply *r = sl_worker_cmd(w, (int)(sizeof(argv) / sizeof(argv[0])) - off, argv + off, NULL);
    if (r && r->type == REDIS_REPLY_STRING)
        atomic_fetch_add_explicit(&w->slot->jobs_dead, 1, memory_order_relaxed);
    else
        sl_outcome_write_failed(w, "XADD (dead letter of a deleted entry)", r);
    if (r) freeReplyObject(r);
}

/* Count, log and dead-letter ("trimmed") the ids XAUTOCLAIM dropped from the
 * pending list because their entries were deleted (Redis >= 7). */
static void report_deleted(sl_worker *w, int stream, const redisReply *d)
{
    if (!d || d->type != REDIS_REPLY_ARRAY || d->elements == 0) return;
    char ids[DELETED_LOGGED * (SL_STREAM_ID_MAX + 1) + 4] = "";
    size_t len = 0;
    for (size_t i = 0; i < d->elements && i < DELETED_LOGGED; i++) {
        const redisReply *x = d->element[i];
        if (x->type != REDIS_REPLY_STRING) continue;
        int n = snprintf(ids + len, sizeof(ids) - len, "%s%s", len ? "," : "", x->str);
        if (n > 0 && (size_t)n < sizeof(ids) - len) len += (size_t)n;
    }
    if (d->elements > DELETED_LOGGED && len + 4 < sizeof(ids)) memcpy(ids + len, ",...", 5);
    atomic_fetch_add_explicit(&w->slot->reclaim_deleted, d->elements, memory_order_relaxed);
    SL_LOG(SL_WARN, "XAUTOCLAIM reported entries deleted while pending; dead-lettering them as trimmed",
           SL_S("stream", w->keys[stream]), SL_S("group", w->pool->group), SL_I("deleted", d->elements),
           SL_S("ids", ids));
    for (size_t i = 0; i < d->elements; i++)
        if (d->element[i]->type == REDIS_REPLY_STRING) dead_letter_deleted(w, stream, d->element[i]->str);
}

/* XAUTOCLAIM on one stream from its cursor. *out gets the reply (caller frees)
 * when it has entries to run. Returns 0, 1 when the group is missing, or -1
 * when the connection was lost. */
static int claim(sl_worker *w, sl_reclaim *rc, int stream, redisReply **out)
{
    char lease[24], count[16];
    snprintf(lease, sizeof(lease), "%" PRId64, w->cfg->lease_ms);
    snprintf(count, sizeof(count), "%d", w->pool->read_count);
    const char *argv[] = {"XAUTOCLAIM", w->keys[stream], w->pool->group, w->consumer, lease,
                          rc->cursor[stream], "COUNT", count};
    redisReply *r = sl_worker_cmd(w, 8, argv, NULL);
    *out = NULL;
    if (!r) return -1;
    if (sl_redis_reply_is(r, "NOGROUP")) {
        freeReplyObject(r);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_ARRAY) {
        sl_outcome_write_failed(w, "XAUTOCLAIM", r);
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
    for (int s = 0; s < SL_NSTREAMS && !*w->stop; s++) {
        redisReply *r = NULL;
        int st = claim(w, rc, s, &r);
        if (st != 0) return st;
        if (strcmp(rc->cursor[s], "0-0") != 0) more = 1;
        if (!r) continue;
        const redisReply *e = r->element[1];
        atomic_fetch_add_explicit(&w->slot->reclaimed, e->elements, memory_order_relaxed);
        SL_LOG(SL_INFO, "reclaimed entries idle past the lease", SL_S("stream", w->keys[s]),
               SL_I("entries", e->elements), SL_I("lease_ms", w->cfg->lease_ms));
        sl_batch_reset(b, 1);
        int run = sl_batch_add(b, s, e) == 0 ? 0 : -2;
        if (run == 0 && sl_batch_deliveries(w, b) != 0) run = -1;
        if (run == 0) run = sl_batch_run(w, b);
        if (run == -2) SL_LOG(SL_ERROR, "unexpected XAUTOCLAIM entry list; left pending", SL_S("stream", w->keys[s]));
        freeReplyObject(r);
        sl_batch_reset(b, 0);
        if (run == -1) return -1;
    }
    /* A cursor that has not wrapped continues next round; else wait lease/2. */
    rc->next_mono_ms = sl_now_mono_ms() + (more ? 0 : w->cfg->lease_ms / 2);
    return 0;
}
