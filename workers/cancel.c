/* Cancelled jobs on the worker's side (cancel.h). */
#include "workers/cancel.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

void sl_cancel_probe_argv(const sl_worker *w, const char **argv)
{
    argv[0] = "EXISTS";
    argv[1] = w->cancels_key;
}

void sl_cancel_probe_result(sl_worker *w, const redisReply *r)
{
    w->cancel_check = !r || r->type != REDIS_REPLY_INTEGER || r->integer != 0;
    w->cancel_probed_mono_ms = sl_now_mono_ms();
}

int sl_cancel_probe_due(const sl_worker *w, int64_t now_mono_ms)
{
    return !w->cancel_check && now_mono_ms - w->cancel_probed_mono_ms >= SL_CANCEL_PROBE_AGE_MS;
}

int sl_cancel_probe(sl_worker *w)
{
    const char *argv[2];
    sl_cancel_probe_argv(w, argv);
    redisReply *r = sl_worker_cmd(w, 2, argv, NULL);
    if (!r)
        return -1;
    sl_cancel_probe_result(w, r);
    freeReplyObject(r);
    return 0;
}

/* The stream key a job is pending in (d->stream), and its cancel record's key. */
static int keys_of(const sl_worker *w, const sl_job *job, char *record, size_t n)
{
    return sl_key_cancelled(record, n, w->part, job->id);
}

int sl_cancel_begin(sl_worker *w, const sl_job *job, sl_settle *d, int64_t run_ttl_ms, sl_write_rc *rc)
{
    char record[2 * SL_KEY_MAX], ttl[SL_INT_TEXT_SIZE];
    *rc = SL_WRITE_OK;
    if (keys_of(w, job, record, sizeof record) != 0)
        return 0; /* cannot happen: ids are at most 128 bytes */
    sl_fmt_ll(ttl, run_ttl_ms > 0 ? run_ttl_ms : 1);
    const char *argv[] = {"FCALL", "sluice_begin", "3",         w->keys[d->stream], w->cancels_key,
                          record,  w->pool->group, w->consumer, job->stream_id,     job->id,
                          ttl};
    redisReply *r = sl_worker_cmd(w, 11, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        *rc = sl_write_report(w, "FCALL sluice_begin", r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    long long v = r->integer;
    freeReplyObject(r);
    if (v == 0)
        return 0;
    if (v > 0) {
        sl_settle_record(w, d, SL_OUT_CANCELLED);
    } else {
        atomic_fetch_add_explicit(&w->slot->late_results, 1, memory_order_relaxed);
        SL_LOG(SL_INFO, "cancelled job not run: its entry is another consumer's now", SL_S("job_id", job->id),
               SL_S("stream_id", job->stream_id));
    }
    return 1;
}

int sl_cancel_requested(const sl_worker *w)
{
    uint64_t c = atomic_load_explicit(&w->slot->cancel_seq, memory_order_relaxed);
    return c != 0 && c == atomic_load_explicit(&w->slot->job_seq, memory_order_relaxed);
}

sl_write_rc sl_cancel_stopped(sl_worker *w, const sl_job *job, sl_settle *d)
{
    char record[2 * SL_KEY_MAX];
    if (keys_of(w, job, record, sizeof record) != 0)
        return SL_WRITE_REFUSED;
    const char *argv[] = {"FCALL",  "sluice_cancel_settle", "3",         w->keys[d->stream], w->cancels_key,
                          record,   w->pool->group,         w->consumer, job->stream_id,     job->id,
                          "stopped"};
    redisReply *r = sl_worker_cmd(w, 11, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        sl_write_rc rc = sl_write_report(w, "FCALL sluice_cancel_settle", r);
        if (r)
            freeReplyObject(r);
        return rc; /* the entry stays pending: its replay finds the job cancelled (sluice_begin) */
    }
    int ok = r->integer == 1;
    freeReplyObject(r);
    if (ok)
        sl_settle_record(w, d, SL_OUT_CANCELLED);
    else
        atomic_fetch_add_explicit(&w->slot->late_results, 1, memory_order_relaxed);
    return SL_WRITE_OK;
}
