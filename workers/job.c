/* One stream entry, start to finish: decode the envelope, find the handler,
 * publish the job in the status slot, run the handler, and hand the result to
 * acks.c (success) or settle.c (retry, dead letter). Bad input never crashes
 * the worker: it is dead-lettered. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/limits.h"
#include "workers/validation.h"
#include "workers/worker.h"

/* Copy s into a fixed slot field, truncated and NUL-terminated. */
static void slot_copy(char *dst, size_t n, const char *s, size_t len)
{
    if (len >= n)
        len = n - 1;
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* The effective retry policy of a handler: its own values, else jobs.*. */
typedef struct policy {
    uint32_t max_attempts;
    int64_t base_ms, cap_ms;
} policy;

static policy policy_of(const sl_worker *w, const sl_handler *h)
{
    policy p = {h->max_attempts ? h->max_attempts : (uint32_t)w->cfg->max_attempts,
                h->backoff_base_ms ? (int64_t)h->backoff_base_ms : w->cfg->backoff_base_ms,
                h->backoff_cap_ms ? (int64_t)h->backoff_cap_ms : w->cfg->backoff_cap_ms};
    return p;
}

/* Publish the running job: strings and v2 fields first, then job_seq and state
 * (release), so a reader that sees the new seq sees the new values. */
static void slot_job_begin(sl_worker *w, int stream, const sl_job *job, const sl_handler *h, uint32_t deliveries,
                           int64_t now_mono_ms)
{
    sl_slot *s = w->slot;
    slot_copy(s->job_id, sizeof(s->job_id), job->id, strlen(job->id));
    slot_copy(s->job_type, sizeof(s->job_type), job->type, job->type_len);
    slot_copy(s->job_stream_id, sizeof(s->job_stream_id), job->stream_id, strlen(job->stream_id));
    slot_copy(s->job_hold_key, sizeof(s->job_hold_key), w->hold_key, strlen(w->hold_key));
    policy p = policy_of(w, h);
    atomic_store_explicit(&s->job_in_retry_stream, stream == SL_STREAM_RETRY, memory_order_relaxed);
    atomic_store_explicit(&s->job_partition, w->nparts > 1 ? w->part_index : -1, memory_order_relaxed);
    slot_copy(s->job_queue, sizeof(s->job_queue), w->queue, strlen(w->queue));
    atomic_store_explicit(&s->job_attempt, job->attempt, memory_order_relaxed);
    atomic_store_explicit(&s->job_deliveries, deliveries, memory_order_relaxed);
    atomic_store_explicit(&s->job_max_attempts, p.max_attempts, memory_order_relaxed);
    atomic_store_explicit(&s->job_backoff_base_ms, p.base_ms, memory_order_relaxed);
    atomic_store_explicit(&s->job_backoff_cap_ms, p.cap_ms, memory_order_relaxed);
    int64_t timeout = h->timeout_ms ? (int64_t)h->timeout_ms : w->cfg->job_timeout_ms;
    atomic_store_explicit(&s->job_timeout_ms, timeout, memory_order_relaxed);
    atomic_store_explicit(&s->job_started_mono_ms, now_mono_ms, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->job_seq, 1, memory_order_release);
    atomic_store_explicit(&s->state, SL_SLOT_RUNNING, memory_order_release);
}

static void slot_job_end(sl_worker *w)
{
    atomic_store_explicit(&w->slot->state, *w->stop ? SL_SLOT_STOPPING : SL_SLOT_IDLE, memory_order_release);
}

static void count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* 1 + the index of h's type in the slot's type table, adding it the first
 * time (name written before ntypes is raised); 0 when the table is full. One
 * worker process runs one job at a time, so a process-wide cache is enough. */
static unsigned type_slot(sl_worker *w, const sl_handler *h)
{
    static const sl_handler *seen[SL_SLOT_TYPES];
    sl_slot *s = w->slot;
    uint32_t n = atomic_load_explicit(&s->ntypes, memory_order_relaxed);
    for (uint32_t i = 0; i < n && i < SL_SLOT_TYPES; i++)
        if (seen[i] == h)
            return i + 1;
    if (n >= SL_SLOT_TYPES)
        return 0;
    seen[n] = h;
    slot_copy(s->type_name[n], sizeof(s->type_name[n]), h->type, strlen(h->type));
    atomic_store_explicit(&s->ntypes, n + 1, memory_order_release);
    return n + 1;
}

/* Add one observation (microseconds) to a slot histogram. */
static void observe(sl_slot_hist *hist, int64_t us)
{
    static const int64_t bounds[SL_SLOT_NBUCKETS] = SL_SLOT_BUCKETS_US;
    int b = 0;
    if (us < 0)
        us = 0;
    while (b < SL_SLOT_NBUCKETS && us > bounds[b])
        b++;
    atomic_fetch_add_explicit(&hist->count[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->sum_us, (uint64_t)us, memory_order_relaxed);
}

/* Fields of the reply as sl_field pairs, borrowing the reply's strings. Returns
 * the count, or -1 (with err) when the reply is not pairs of strings. */
static long fields_view(sl_worker *w, const redisReply *r, char *err, size_t errlen)
{
    if (r->elements % 2 != 0) {
        snprintf(err, errlen, "entry has an odd number of field elements (%zu)", r->elements);
        return -1;
    }
    size_t n = r->elements / 2;
    if (n > w->fields_cap) {
        size_t cap = w->fields_cap ? w->fields_cap : 16;
        while (cap < n)
            cap *= 2;
        sl_field *f = realloc(w->fields, cap * sizeof(*f));
        if (!f) {
            snprintf(err, errlen, "out of memory for %zu fields", n);
            return -1;
        }
        w->fields = f;
        w->fields_cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = r->element[2 * i], *v = r->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            snprintf(err, errlen, "field %zu is not a string pair", i);
            return -1;
        }
        w->fields[i] = (sl_field){k->str, k->len, v->str, v->len};
    }
    return (long)n;
}

/* Best-effort attempt number of an undecodable entry, for its dead letter. */
static uint32_t raw_attempt(const sl_field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (f[i].name_len == 7 && memcmp(f[i].name, "attempt", 7) == 0) {
            char *end;
            unsigned long v = strtoul(f[i].value, &end, 10);
            if (end != f[i].value && *end == '\0' && v > 0 && v <= UINT32_MAX)
                return (uint32_t)v;
        }
    }
    return 1;
}

static sl_write_rc reject(sl_worker *w, sl_settle *d)
{
    count(&w->slot->jobs_rejected);
    return sl_settle_send(w, d);
}

/* RETRY: a retry after the hint or the backoff while attempts are left, else
 * a dead letter "exhausted". */
static sl_write_rc retry(sl_worker *w, const sl_job *job, const sl_handler *h, sl_settle *d)
{
    policy p = policy_of(w, h);
    d->error = sl_host_ctx_error(&w->ctx);
    if (!d->error)
        d->error = "retry requested";
    if (job->attempt >= p.max_attempts) {
        d->reason = "exhausted";
        return sl_settle_send(w, d);
    }
    d->retry = 1;
    d->delay_ms = w->ctx.has_retry_after
                      ? (int64_t)(w->ctx.retry_after_ms > INT64_MAX ? INT64_MAX : w->ctx.retry_after_ms)
                      : sl_backoff_ms(p.base_ms, p.cap_ms, job->attempt - 1, 0);
    return sl_settle_send(w, d);
}

static int64_t mono_ms(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/* Run the handler and map its result to an outcome. The slot shows the job
 * running already (sl_job_handle); t0 is when it started, or NULL when work
 * (validation, the done-marker check) ran since, so the handler's own time
 * starts with a fresh clock read. */
static sl_write_rc run(sl_worker *w, const sl_job *job, const sl_handler *h, sl_settle *d, const struct timespec *t0)
{
    int stream = d->stream;
    sluice_job view = {.size = sizeof(sluice_job),
                       .id = job->id,
                       .type = job->type,
                       .payload = job->payload,
                       .payload_len = job->payload_len,
                       .attempt = job->attempt,
                       .deliveries = d->deliveries,
                       .enqueued_at_ms = job->enqueued_at_ms,
                       .correlation_id = job->correlation_id,
                       .causation_id = job->causation_id,
                       .traceparent = job->traceparent,
                       .queue = w->queue,
                       .group = w->pool->group,
                       .stream_id = job->stream_id};
    sl_host_ctx_begin(&w->ctx, job, h->plugin);
    if (job->enqueued_at_ms > 0)
        observe(&w->slot->wait, (sl_now_wall_ms() - job->enqueued_at_ms) * 1000);
    /* For a type without a schema or done-marker, t0 and t1 are the job's only
     * monotonic clock reads: the slot's start time and the ack-flush check
     * (batch.c) reuse them. */
    struct timespec start, t1;
    if (t0)
        start = *t0;
    else
        clock_gettime(CLOCK_MONOTONIC, &start);
    sluice_result res = h->fn(&w->ctx, &view, h->data);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->job_end_mono_ms = mono_ms(&t1);
    int64_t took_us = (int64_t)(t1.tv_sec - start.tv_sec) * 1000000 + (t1.tv_nsec - start.tv_nsec) / 1000;
    int64_t took = took_us / 1000;
    w->last_job_us = took_us;
    /* The prefetch estimate: one slow job shrinks the next read at once, fast
     * ones grow it back gradually (consume.c, prefetch_count). */
    if (!w->jobs_timed)
        w->job_avg_us = (double)took_us, w->jobs_timed = 1;
    else
        w->job_avg_us += ((double)took_us - w->job_avg_us) / (took_us > w->job_avg_us ? 2.0 : 16.0);
    slot_job_end(w);
    sl_host_ctx_end(&w->ctx);
    observe(&w->slot->duration, took_us);
    d->duration_ms = took;
    if (sl_log_enabled(SL_DEBUG))
        SL_LOG(SL_DEBUG, "job finished", SL_S("job_id", job->id), SL_S("type", h->type), SL_I("result", (int)res),
               SL_I("attempt", job->attempt), SL_I("deliveries", d->deliveries), SL_I("ms", took));

    if (sl_cancel_requested(w)) /* cancelled while it ran: cancelled, whatever it returned */
        return sl_cancel_stopped(w, job, d);
    char err[96];
    switch (res) {
    case SLUICE_OK:
        count(&w->slot->jobs_ok);
        sl_settle_record(w, d, SL_OUT_OK);
        if (job->unique_key[0]) /* its key is released with the ack */
            return sl_settle_complete(w, d, (h->flags & SLUICE_HANDLER_DONE_MARKER) != 0);
        return sl_acks_queue(w, stream, job->stream_id, (h->flags & SLUICE_HANDLER_DONE_MARKER) ? job->id : NULL);
    case SLUICE_RETRY:
        count(&w->slot->jobs_retry);
        return retry(w, job, h, d);
    case SLUICE_FAIL:
        d->error = sl_host_ctx_error(&w->ctx);
        if (!d->error)
            d->error = "handler returned SLUICE_FAIL without an error message";
        break;
    default:
        snprintf(err, sizeof(err), "handler returned an invalid result (%d)", (int)res);
        d->error = err;
        break;
    }
    count(&w->slot->jobs_fail);
    d->reason = "failed";
    return sl_settle_send(w, d);
}

/* Done-marker check: 1 when this group finished the job id already (the entry
 * was acked here), 0 to run it, -1 when the check could not be made (the entry
 * stays pending; *rc says why). */
static int already_done(sl_worker *w, int stream, const sl_job *job, const sl_settle *d, sl_write_rc *rc)
{
    char key[SL_KEY_MAX];
    if (sl_fmt(key, sizeof(key), "%s%s", w->done_prefix, job->id) != 0)
        return 0;
    const char *argv[] = {"EXISTS", key};
    redisReply *r = sl_worker_cmd(w, 2, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        *rc = sl_write_report(w, "EXISTS (done-marker)", r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    int done = r->integer == 1;
    freeReplyObject(r);
    if (!done)
        return 0;
    count(&w->slot->done_skipped);
    sl_settle_record(w, d, SL_OUT_SKIPPED);
    *rc = sl_acks_queue(w, stream, job->stream_id, NULL);
    return 1;
}

/* The registry cannot be read: leave the entry pending for a replay after the
 * consume loop's backoff (SL_WRITE_BUSY sets w->resync), and give back the
 * delivery its read spent (sluice_release lowers the count by one), so an
 * outage of any length never brings the job to max_deliveries and a "crashed"
 * dead letter. SL_WRITE_LOST when the connection was lost (the release is then
 * not made: the replay after the reconnect spends one delivery). */
static sl_write_rc defer(sl_worker *w, int stream, const char *id)
{
    const char *argv[] = {"FCALL", "sluice_release", "1", w->keys[stream], w->pool->group, w->consumer, id};
    redisReply *r = sl_worker_cmd(w, 7, argv, NULL);
    if (!r)
        return SL_WRITE_LOST;
    sl_write_rc rc = SL_WRITE_BUSY;
    if (r->type != REDIS_REPLY_INTEGER && sl_write_report(w, "sluice_release", r) == SL_WRITE_LOST)
        rc = SL_WRITE_LOST;
    freeReplyObject(r);
    return rc;
}

static sl_write_rc admitted(sl_worker *w, int stream, const char *id, const sl_job *jobp, const sl_handler *h,
                            const sl_settle *dp, uint32_t deliveries);

sl_write_rc sl_job_handle(sl_worker *w, int stream, const char *id, const redisReply *fields, uint32_t deliveries)
{
    char err[512] = "";
    w->last_job_us = w->job_end_mono_ms = 0;
    sl_settle d = {.stream = stream, .stream_id = id, .job_id = id, .deliveries = deliveries, .attempt = 1};
    sl_job job;
    sl_codec_status st;
    const sl_field *fv = NULL;
    size_t nf = 0;
    if (!fields || fields->type == REDIS_REPLY_NIL) {
        st = sl_codec_decode(id, NULL, 0, (size_t)w->cfg->max_payload_bytes, &job, err, sizeof(err));
    } else {
        long n = fields->type == REDIS_REPLY_ARRAY ? fields_view(w, fields, err, sizeof(err)) : -1;
        if (n < 0) {
            if (!err[0])
                snprintf(err, sizeof(err), "entry fields are not an array (reply type %d)", fields->type);
            d.reason = sl_codec_reason(SL_CODEC_BAD_FIELD);
            d.error = err;
            return reject(w, &d);
        }
        fv = w->fields;
        nf = (size_t)n;
        st = sl_codec_decode(id, fv, nf, (size_t)w->cfg->max_payload_bytes, &job, err, sizeof(err));
    }
    if (st != SL_CODEC_OK) {
        d.reason = sl_codec_reason(st);
        if (!err[0])
            snprintf(err, sizeof(err), "%s", st == SL_CODEC_NIL ? "entry deleted or trimmed while pending" : d.reason);
        d.error = err;
        d.attempt = raw_attempt(fv, nf);
        d.job_id = st == SL_CODEC_NIL ? id : job.id;
        return reject(w, &d);
    }
    d.attempt = job.attempt;
    d.job_id = job.id;
    d.type = job.type;
    d.correlation_id = job.correlation_id;
    const sl_handler *h = sl_loader_find(w->loader, job.type, job.type_len);
    if (!h) {
        snprintf(err, sizeof(err), "no handler for type '%s' in pool %s", job.type, w->pool->name);
        d.reason = "unknown_type";
        d.error = err;
        return reject(w, &d);
    }
    d.type_slot = type_slot(w, h);
    if (w->cancel_check) { /* the queue has cancelled jobs waiting to be skipped: is this one? */
        sl_write_rc rc = SL_WRITE_OK;
        int64_t timeout = h->timeout_ms ? (int64_t)h->timeout_ms : w->cfg->job_timeout_ms;
        if (sl_cancel_begin(w, &job, &d, timeout + w->cfg->lease_ms, &rc) != 0)
            return rc;
    }
    if (deliveries > (uint32_t)w->cfg->max_deliveries) {
        snprintf(err, sizeof(err), "delivered %" PRIu32 " times without a result (worker crashed or was killed)",
                 deliveries);
        d.reason = "crashed";
        d.error = err;
        return sl_settle_send(w, &d);
    }
    sl_write_rc lrc;
    if (sl_limits_admit(w, &job, fv, nf, &d, &lrc) != SL_LIMIT_RUN)
        return lrc; /* deferred to its turn, or a limit call failed: the entry stays pending */
    sl_write_rc rc = admitted(w, stream, id, &job, h, &d, deliveries);
    sl_limits_release(w);
    return rc;
}

/* Run a job its limits admitted (sl_job_handle). */
static sl_write_rc admitted(sl_worker *w, int stream, const char *id, const sl_job *jobp, const sl_handler *h,
                            const sl_settle *dp, uint32_t deliveries)
{
    char err[512] = "";
    sl_job job = *jobp; /* copies: the steps below fill in their own fields */
    sl_settle d = *dp;
    /* The job is running from here: the slot, and with it the hard timeout
     * (jobs.timeout, the supervisor's watchdog) and the lease extension, covers
     * the payload's validation and the done-marker check as well as the
     * handler, so even a slow validation is stopped. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    slot_job_begin(w, stream, &job, h, deliveries, mono_ms(&t0));
    int valid = sl_schemas_check(w, &job, err, sizeof(err));
    if (valid == 0) { /* a payload that breaks its schema never passes: no retry */
        slot_job_end(w);
        d.reason = "schema";
        d.error = err;
        return reject(w, &d);
    }
    if (valid < 0) {
        slot_job_end(w);
        sl_schemas_deferred(w, &job, err);
        return defer(w, stream, id);
    }
    int worked = valid == 1; /* 2: no schema for the type, nothing ran */
    if (h->flags & SLUICE_HANDLER_DONE_MARKER) {
        sl_write_rc rc = SL_WRITE_OK;
        worked = 1;
        if (already_done(w, stream, &job, &d, &rc) != 0) {
            slot_job_end(w);
            return rc;
        }
    }
    return run(w, &job, h, &d, worked ? NULL : &t0);
}
