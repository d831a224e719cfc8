/* Fenced acks (acks.h): queued as jobs finish, journaled, sent as one FCALL
 * sluice_ack per stream with the next command on the connection, replies read
 * back later; the command wrapper that keeps that pipeline in order; and how a
 * failed write's reply is classified. Callers learn only whether a write
 * happened; the entry stays pending whenever it did not, so nothing is lost. */
#include "workers/acks.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/journal.h"
#include "workers/worker.h"

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The more serious of two outcomes: LOST > BUSY > REFUSED > OK. */
static sl_write_rc worse(sl_write_rc a, sl_write_rc b)
{
    static const int rank[] = {[SL_WRITE_OK] = 0, [SL_WRITE_REFUSED] = 1, [SL_WRITE_BUSY] = 2, [SL_WRITE_LOST] = 3};
    return rank[b] > rank[a] ? b : a;
}

/* What a failed write's reply means: none (connection lost) LOST, a transient
 * error (OOM, LOADING, ...) BUSY, anything else REFUSED. */
sl_write_rc sl_write_classify(const redisReply *r)
{
    return !r ? SL_WRITE_LOST : sl_redis_reply_transient(r) ? SL_WRITE_BUSY : SL_WRITE_REFUSED;
}

sl_write_rc sl_write_report(sl_worker *w, const char *what, const redisReply *r)
{
    if (!r) {
        SL_LOG(SL_WARN, "redis write failed", SL_S("command", what), SL_S("error", sl_redis_errstr(w->redis)));
        return SL_WRITE_LOST;
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r->type == REDIS_REPLY_ERROR ? r->str : "");
    sl_write_rc rc = sl_write_classify(r);
    int busy = rc == SL_WRITE_BUSY;
    SL_LOG(busy ? SL_WARN : SL_ERROR, busy ? "redis write deferred" : "redis write refused", SL_S("command", what),
           SL_S("error", msg[0] ? msg : "unexpected reply"));
    return rc;
}

/* Write hiredis' output buffer to the socket now, so the acks are on their
 * way before the next job starts. Returns 0, or -1 (connection dropped). */
static int write_out(sl_worker *w)
{
    redisContext *c = sl_redis_context(w->redis);
    int done = 0;
    while (c && !done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            SL_LOG(SL_WARN, "redis write failed", SL_S("command", "FCALL sluice_ack"),
                   SL_S("error", c->errstr[0] ? c->errstr : "connection lost"));
            sl_redis_disconnect(w->redis);
            return -1;
        }
    }
    return c ? 0 : -1;
}

/* Append one FCALL sluice_ack per (stream, first send or resend) with every
 * unsent ack of that kind to hiredis' output buffer, without writing it: acks
 * of both kinds never share a call, so a refusal of a resent ack (acked before
 * the connection dropped) is not counted as a late result. Ids with and without
 * a done-marker share a call (empty job id = no marker). Returns 0, or -1 (not
 * connected: nothing marked sent). */
static int append_unsent(sl_worker *w)
{
    sl_acks *a = &w->acks;
    for (int s = 0; s < SL_NSTREAMS; s++) {
        for (int resent = 0; resent < 2; resent++) {
            size_t ids = 0;
            int markers = 0;
            int64_t fence = INT64_MAX; /* the oldest fence the acks were read under */
            for (size_t i = 0; i < a->n; i++) {
                const sl_ack *k = &a->v[i];
                if (!k->sent && !k->applied && k->stream == s && (k->sends > 0) == resent) {
                    ids++, markers |= k->marker;
                    if (k->fence < fence)
                        fence = k->fence;
                }
            }
            if (ids == 0)
                continue;
            /* Resent acks, and acks of entries read before any fence was known,
             * always take the owner check ("" fence). */
            char *fa = a->fence_arg[a->ncalls];
            if (resent || fence < 0)
                fa[0] = '\0';
            else
                sl_fmt_ll(fa, fence);
            const char **av = a->argv;
            int argc = 0;
            av[argc++] = "FCALL", av[argc++] = "sluice_ack", av[argc++] = "2", av[argc++] = w->keys[s];
            av[argc++] = w->fence_key, av[argc++] = w->pool->group, av[argc++] = w->consumer;
            av[argc++] = markers ? w->done_prefix : "", av[argc++] = markers ? w->done_ttl : "0", av[argc++] = fa;
            for (size_t i = 0; i < a->n; i++) {
                const sl_ack *k = &a->v[i];
                if (k->sent || k->applied || k->stream != s || (k->sends > 0) != resent)
                    continue;
                av[argc++] = k->sid;
                if (markers)
                    av[argc++] = k->marker ? k->job_id : "";
            }
            if (sl_redis_append_argv(w->redis, argc, av, NULL) != 0)
                return -1;
            int call = (int)a->ncalls++;
            a->calls[call] = (sl_ack_call){s, resent, ids, a->n};
            for (size_t i = 0; i < a->n; i++) {
                sl_ack *k = &a->v[i];
                if (k->sent || k->applied || k->stream != s || (k->sends > 0) != resent)
                    continue;
                if (a->calls[call].first == a->n)
                    a->calls[call].first = i;
                k->sent = 1;
                k->call = call;
                k->sends++;
                a->queued--;
            }
        }
    }
    a->oldest_mono_ms = 0;
    a->unjournaled = 0;
    return 0;
}

int sl_acks_kept(const sl_worker *w)
{
    const sl_acks *a = &w->acks;
    if (a->fn_missing)
        return 1;
    for (size_t i = 0; i < a->n; i++)
        if (!a->v[i].sent && !a->v[i].applied && a->v[i].sends > 0)
            return 1;
    return 0;
}

int sl_acks_due(const sl_worker *w, int64_t now_mono_ms, int64_t last_job_us)
{
    const sl_acks *a = &w->acks;
    if (!a->oldest_mono_ms)
        return 0;
    /* half the queue unsent: send them now, while the rest fills (a full
     * queue would have to wait for the replies) */
    return a->unjournaled || a->queued >= SL_ACKS_MAX / 2 || last_job_us >= SL_ACK_FLUSH_JOB_US ||
           now_mono_ms - a->oldest_mono_ms >= SL_ACK_FLUSH_AGE_MS;
}

size_t sl_acks_recover(sl_worker *w)
{
    sl_acks *a = &w->acks;
    size_t n = 0;
    for (int ix = 0; ix < SL_ACKS_MAX && a->n < SL_ACKS_MAX; ix++) {
        const sl_journal_rec *r = sl_journal_live(&w->journal, ix);
        if (!r || r->stream < 0 || r->stream >= SL_NSTREAMS)
            continue;
        sl_ack *k = &a->v[a->n++];
        a->queued++;
        memset(k, 0, sizeof(*k));
        k->stream = r->stream;
        k->marker = r->marker != 0;
        k->sends = 1; /* a resend: the predecessor may have sent it */
        k->jslot = ix;
        k->fence = -1;
        sl_copy(k->sid, sizeof(k->sid), r->sid);
        sl_copy(k->job_id, sizeof(k->job_id), r->job_id);
        n++;
    }
    if (n)
        SL_LOG(SL_INFO, "acks of finished jobs recovered from the ack journal", SL_I("entries", n));
    return n;
}

sl_write_rc sl_acks_send(sl_worker *w)
{
    if (w->acks.queued == 0)
        return SL_WRITE_OK;
    if (w->acks.ncalls + 2 * SL_NSTREAMS > SL_ACK_CALLS_MAX && sl_acks_drain(w) == SL_WRITE_LOST)
        return SL_WRITE_LOST;
    return append_unsent(w) == 0 && write_out(w) == 0 ? SL_WRITE_OK : SL_WRITE_LOST;
}

/* Handle the reply of one FCALL sluice_ack. Returns 1 when its acks are
 * settled (drop them), 0 to keep them for a resend; *rc gets the outcome. */
static int call_reply(sl_worker *w, const sl_ack_call *call, const redisReply *r, sl_write_rc *rc)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 && r->element[1]->type == REDIS_REPLY_INTEGER) {
        long long refused = r->element[1]->integer;
        if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_INTEGER)
            w->fence = r->element[2]->integer;
        /* Valid until the drain compacts the queue, after every reply is read. */
        const char *sid = w->acks.v[call->first].sid;
        if (refused > 0 && call->resent) {
            /* while the replicas lag, unconfirmed acks are resent every round: say it once (sl_acks_confirm) */
            SL_LOG(w->acks.wait_failing ? SL_DEBUG : SL_INFO,
                   "resent ack refused: acked before the connection dropped, or reclaimed", SL_S("stream_id", sid),
                   SL_I("entries", refused), SL_I("acks", call->ids), SL_S("stream", w->keys[call->stream]));
        } else if (refused > 0) {
            count(&w->slot->late_results, (uint64_t)refused);
            SL_LOG(SL_WARN, SL_LATE_MSG, SL_S("stream_id", sid), SL_I("entries", refused), SL_I("acks", call->ids),
                   SL_S("stream", w->keys[call->stream]), SL_S("outcome", "ack"));
        }
        return 1;
    }
    if (sl_functions_missing(r)) {
        w->acks.fn_missing = 1;
        return 0;
    }
    sl_write_rc e = sl_write_report(w, "FCALL sluice_ack", r);
    *rc = worse(*rc, e);
    return e != SL_WRITE_BUSY; /* transient: keep and resend; otherwise the entries stay pending */
}

sl_write_rc sl_acks_drain(sl_worker *w)
{
    sl_acks *a = &w->acks;
    sl_write_rc rc = SL_WRITE_OK;
    int drop[SL_ACK_CALLS_MAX] = {0};
    for (size_t c = 0; c < a->ncalls; c++) {
        redisReply *r = rc == SL_WRITE_LOST ? NULL : sl_redis_get_reply(w->redis);
        if (!r) {
            if (rc != SL_WRITE_LOST)
                SL_LOG(SL_WARN, "redis connection lost with acks in flight; they will be resent",
                       SL_S("error", sl_redis_errstr(w->redis)));
            rc = SL_WRITE_LOST;
            continue;
        }
        drop[c] = call_reply(w, &a->calls[c], r, &rc);
        freeReplyObject(r);
    }
    size_t keep = 0;
    for (size_t i = 0; i < a->n; i++) {
        sl_ack *k = &a->v[i];
        if (k->sent) {
            k->sent = 0;
            if (drop[k->call] && w->cfg->wait_replicas > 0) { /* done once the replicas confirm it */
                k->applied = 1;
                a->applied++;
                a->v[keep++] = *k;
                continue;
            }
            if (drop[k->call]) {
                sl_journal_drop(&w->journal, k->jslot);
                continue;
            }
            a->queued++; /* kept for a resend */
            if (!a->oldest_mono_ms)
                a->oldest_mono_ms = sl_now_mono_ms();
        }
        a->v[keep++] = *k;
    }
    a->n = keep;
    a->ncalls = 0;
    return rc;
}

void sl_acks_confirm(sl_worker *w)
{
    sl_acks *a = &w->acks;
    char why[512];
    if (a->applied == 0 || a->ncalls > 0)
        return;
    int ok = sl_redis_wait(w->redis, w->cfg->wait_replicas, w->cfg->wait_timeout_ms, why, sizeof why) == 0;
    if (!ok && !a->wait_failing)
        SL_LOG(SL_ERROR, "acks not confirmed by the replicas: they will be sent again", SL_S("error", why),
               SL_I("acks", (int64_t)a->applied), SL_I("wait_replicas", w->cfg->wait_replicas));
    else if (ok && a->wait_failing)
        SL_LOG(SL_INFO, "acks confirmed by the replicas again", SL_I("wait_replicas", w->cfg->wait_replicas));
    a->wait_failing = !ok;
    size_t keep = 0;
    for (size_t i = 0; i < a->n; i++) {
        sl_ack *k = &a->v[i];
        if (k->applied) {
            k->applied = 0;
            if (ok) {
                sl_journal_drop(&w->journal, k->jslot);
                continue;
            }
            a->queued++; /* sent again: taken where it still stands, refused where it was */
            if (!a->oldest_mono_ms)
                a->oldest_mono_ms = sl_now_mono_ms();
        }
        a->v[keep++] = *k;
    }
    a->n = keep;
    a->applied = 0;
}

sl_write_rc sl_acks_flush(sl_worker *w)
{
    sl_acks *a = &w->acks;
    sl_write_rc rc = sl_acks_drain(w);
    for (int pass = 0; pass < 2 && a->n && rc != SL_WRITE_LOST; pass++) {
        if (a->fn_missing) {
            char err[512];
            a->fn_missing = 0;
            if (sl_functions_ensure(w->redis, err, sizeof(err)) != 0) {
                SL_LOG(SL_WARN, "cannot load the sluice function library; acks kept", SL_S("error", err));
                return sl_redis_connected(w->redis) ? SL_WRITE_BUSY : SL_WRITE_LOST;
            }
        }
        if (sl_acks_send(w) != SL_WRITE_OK) { /* what was appended is kept by the drain */
            sl_acks_drain(w);
            return SL_WRITE_LOST;
        }
        rc = sl_acks_drain(w);
        if (!a->fn_missing)
            break;
    }
    if (rc == SL_WRITE_OK)
        sl_acks_confirm(w);
    return a->fn_missing && rc == SL_WRITE_OK ? SL_WRITE_BUSY : rc;
}

sl_write_rc sl_acks_queue(sl_worker *w, int stream, const char *stream_id, const char *job_id)
{
    sl_acks *a = &w->acks;
    if (a->n == SL_ACKS_MAX) {
        sl_write_rc rc = sl_acks_flush(w);
        if (a->n == SL_ACKS_MAX)
            return rc == SL_WRITE_OK ? SL_WRITE_BUSY : rc; /* entry stays pending */
    }
    sl_ack *k = &a->v[a->n++];
    a->queued++;
    k->stream = stream;
    k->sent = k->call = k->sends = 0;
    k->marker = job_id != NULL;
    k->fence = w->batch_fence;
    sl_copy(k->sid, sizeof(k->sid), stream_id);
    sl_copy(k->job_id, sizeof(k->job_id), job_id ? job_id : "");
    /* Journaled before it is held back: a crash from here on does not re-run the job. */
    k->jslot = sl_journal_put(&w->journal, stream, k->sid, job_id);
    if (k->jslot < 0)
        a->unjournaled = 1;
    if (!a->oldest_mono_ms)
        a->oldest_mono_ms = sl_now_mono_ms();
    return SL_WRITE_OK;
}

/* sl_worker_cmd, and with argv2 a second command in the same write whose
 * reply goes to *second (set NULL on failure). */
static redisReply *worker_cmd(sl_worker *w, int argc, const char **argv, const size_t *lens, int argc2,
                              const char **argv2, redisReply **second)
{
    sl_acks *a = &w->acks;
    redisReply *r;
    if (second)
        *second = NULL;
    else
        argv2 = NULL; /* nowhere to put its reply */
    if (a->fn_missing)
        sl_acks_flush(w); /* reload the library first */
    sl_acks_drain(w); /* no reply may be in flight before a synchronous command */
    sl_acks_confirm(w); /* nothing in flight: the place to WAIT for acks (redis.wait_replicas) */
    int piped = a->queued && append_unsent(w) == 0; /* ncalls was 0: room for every call */
    if (piped || argv2) {
        /* Queued acks and the command(s) leave in one write(); their replies come first. */
        if (sl_redis_append_argv(w->redis, argc, argv, lens) != 0 ||
            (argv2 && sl_redis_append_argv(w->redis, argc2, argv2, NULL) != 0)) {
            if (piped)
                sl_acks_drain(w);
            return NULL;
        }
        r = piped && sl_acks_drain(w) == SL_WRITE_LOST ? NULL : sl_redis_get_reply(w->redis);
        if (r && argv2 && second && !(*second = sl_redis_get_reply(w->redis))) {
            freeReplyObject(r);
            r = NULL;
        }
        if (!r)
            return NULL;
    } else {
        r = sl_redis_cmdargv(w->redis, argc, argv, lens);
    }
    if (r && strcmp(argv[0], "FCALL") == 0 && sl_functions_missing(r)) {
        char err[512];
        freeReplyObject(r);
        if (sl_functions_ensure(w->redis, err, sizeof(err)) != 0)
            SL_LOG(SL_WARN, "cannot load the sluice function library", SL_S("error", err));
        r = sl_redis_cmdargv(w->redis, argc, argv, lens); /* once; its error is the caller's */
    }
    return r;
}

redisReply *sl_worker_cmd(sl_worker *w, int argc, const char **argv, const size_t *lens)
{
    return worker_cmd(w, argc, argv, lens, 0, NULL, NULL);
}

redisReply *sl_worker_cmd2(sl_worker *w, int argc, const char **argv, int argc2, const char **argv2,
                           redisReply **second)
{
    return worker_cmd(w, argc, argv, NULL, argc2, argv2, second);
}
