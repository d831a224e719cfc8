/* Outcome writes: batched XACK, the atomic dead-letter move (a Lua script:
 * XADD to the DLQ, then XACK) and the retry placeholder. Callers learn only
 * whether the write happened; the entry stays pending whenever it did not, so
 * nothing is lost. */
#include "workers/outcome.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

int sl_acks_init(sl_acks *a, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->ids = calloc(cap, sizeof(*a->ids));
    a->argv = calloc(cap + 3, sizeof(*a->argv));
    if (!a->ids || !a->argv) {
        sl_acks_free(a);
        return -1;
    }
    a->cap = cap;
    return 0;
}

void sl_acks_free(sl_acks *a)
{
    free(a->ids);
    free(a->argv);
    memset(a, 0, sizeof(*a));
}

/* Log an error reply or a lost connection for a write. */
static sl_write_rc write_failed(sl_worker *w, const char *what, const redisReply *r)
{
    if (!r) {
        SL_LOG(SL_WARN, "redis write failed", SL_S("command", what), SL_S("error", sl_redis_errstr(w->redis)));
        return SL_WRITE_LOST;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r->type == REDIS_REPLY_ERROR ? r->str : "");
    int busy = sl_redis_reply_transient(r);
    SL_LOG(busy ? SL_WARN : SL_ERROR, busy ? "redis write deferred" : "redis write refused", SL_S("command", what),
           SL_S("error", msg[0] ? msg : "unexpected reply"));
    return busy ? SL_WRITE_BUSY : SL_WRITE_REFUSED;
}

sl_write_rc sl_outcome_flush(sl_worker *w)
{
    sl_acks *a = &w->acks;
    if (a->n == 0) return SL_WRITE_OK;
    a->argv[0] = "XACK";
    a->argv[1] = w->stream_key;
    a->argv[2] = w->pool->group;
    for (size_t i = 0; i < a->n; i++) a->argv[i + 3] = a->ids[i];
    redisReply *r = sl_redis_cmdargv(w->redis, (int)(a->n + 3), a->argv, NULL);
    sl_write_rc rc = SL_WRITE_OK;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        rc = write_failed(w, "XACK", r);
        /* Keep the ids to resend unless resending cannot help (NOGROUP, a bad
         * reply): those entries stay pending and are replayed instead. */
        if (rc != SL_WRITE_REFUSED) {
            if (r) freeReplyObject(r);
            return rc;
        }
    } else if ((size_t)r->integer != a->n) {
        SL_LOG(SL_WARN, "XACK acknowledged fewer entries than sent (already acked or claimed elsewhere)",
               SL_I("sent", a->n), SL_I("acked", r->integer));
    }
    if (r) freeReplyObject(r);
    a->n = 0;
    return rc;
}

sl_write_rc sl_outcome_ack(sl_worker *w, const char *stream_id)
{
    sl_acks *a = &w->acks;
    if (a->n == a->cap) {
        sl_write_rc rc = sl_outcome_flush(w);
        if (rc != SL_WRITE_OK && a->n == a->cap) return rc; /* still full: entry stays pending */
    }
    snprintf(a->ids[a->n++], SL_STREAM_ID_MAX, "%s", stream_id);
    return SL_WRITE_OK;
}

/* Room for argc arguments in the worker's scratch arrays. */
static int argv_reserve(sl_worker *w, size_t argc)
{
    if (w->argv_cap >= argc) return 0;
    size_t cap = w->argv_cap ? w->argv_cap : 64;
    while (cap < argc) cap *= 2;
    const char **av = realloc(w->argv, cap * sizeof(*av));
    if (!av) return -1;
    w->argv = av;
    size_t *lv = realloc(w->lens, cap * sizeof(*lv));
    if (!lv) return -1;
    w->lens = lv;
    w->argv_cap = cap;
    return 0;
}

/* The dead-letter move as one script: XADD to the DLQ, then XACK only if the
 * XADD succeeded. Not MULTI/EXEC: EXEC does not roll back, so a runtime error
 * in the XADD (WRONGTYPE at the DLQ key) would still run the XACK and lose the
 * job. redis.call raises on error, so a failed XADD aborts the script before
 * the ack, and the entry stays pending. Both keys share the {queue} hash tag.
 * KEYS: dlq, stream. ARGV: group, entry id, field, value, ... */
static const char dead_letter_lua[] =
    "local id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))\n"
    "redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])\n"
    "return id\n";

sl_write_rc sl_outcome_dead_letter(sl_worker *w, const sl_dead *d)
{
    char attempts[16], deliveries[16], failed_at[24];
    snprintf(attempts, sizeof(attempts), "%" PRIu32, d->attempts);
    snprintf(deliveries, sizeof(deliveries), "%" PRIu32, d->deliveries);
    snprintf(failed_at, sizeof(failed_at), "%" PRId64, sl_now_wall_ms());
    /* Our fields come after the originals so readers that fold fields into a
     * map (last one wins) see ours even if the producer used the same names. */
    const char *extra[] = {"reason",        d->reason,      "error",           d->error ? d->error : "",
                           "attempts",      attempts,       "deliveries",      deliveries,
                           "original_id",   d->stream_id,   "original_stream", w->stream_key,
                           "group",         w->pool->group, "consumer",        w->consumer,
                           "failed_at",     failed_at};
    size_t nextra = sizeof(extra) / sizeof(extra[0]);
    size_t argc = 7 + 2 * d->nfields + nextra;
    if (argv_reserve(w, argc) != 0) {
        SL_LOG(SL_ERROR, "dead-letter failed: out of memory", SL_S("stream_id", d->stream_id));
        return SL_WRITE_BUSY;
    }
    size_t k = 0;
#define ARG(s, n) (w->argv[k] = (s), w->lens[k++] = (n))
    ARG("EVAL", 4);
    ARG(dead_letter_lua, sizeof(dead_letter_lua) - 1);
    ARG("2", 1);
    ARG(w->dlq_key, strlen(w->dlq_key));
    ARG(w->stream_key, strlen(w->stream_key));
    ARG(w->pool->group, strlen(w->pool->group));
    ARG(d->stream_id, strlen(d->stream_id));
    for (size_t i = 0; i < d->nfields; i++) {
        ARG(d->fields[i].name, d->fields[i].name_len);
        ARG(d->fields[i].value, d->fields[i].value_len);
    }
    for (size_t i = 0; i < nextra; i++) ARG(extra[i], strlen(extra[i]));
#undef ARG
    redisReply *r = sl_redis_cmdargv(w->redis, (int)k, w->argv, w->lens);
    sl_write_rc rc = SL_WRITE_OK;
    if (!r || r->type != REDIS_REPLY_STRING) rc = write_failed(w, "EVAL (dead-letter XADD+XACK)", r);
    if (r) freeReplyObject(r);
    if (rc == SL_WRITE_OK)
        SL_LOG(SL_WARN, "job dead-lettered", SL_S("stream_id", d->stream_id),
               SL_S("job_id", d->job_id ? d->job_id : d->stream_id), SL_S("type", d->type ? d->type : ""),
               SL_S("reason", d->reason), SL_S("error", d->error ? d->error : ""), SL_I("attempts", d->attempts),
               SL_I("deliveries", d->deliveries), SL_S("dlq", w->dlq_key));
    return rc;
}

sl_write_rc sl_outcome_retry(sl_worker *w, const sl_job *job, const struct sl_handler *h, const sluice_ctx *ctx,
                             uint32_t deliveries)
{
    (void)w;
    const char *err = sl_host_ctx_error(ctx);
    SL_LOG(SL_WARN, "retry scheduling not available yet; entry left pending", SL_S("job_id", job->id),
           SL_S("type", h->type), SL_S("stream_id", job->stream_id), SL_I("attempt", job->attempt),
           SL_I("deliveries", deliveries), SL_S("error", err ? err : ""),
           SL_I("retry_after_ms", ctx->has_retry_after ? (long long)ctx->retry_after_ms : -1));
    return SL_WRITE_OK;
}
