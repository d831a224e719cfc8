/* Batches of stream entries: built from read replies, delivery counts from
 * XPENDING, run one job at a time with lease extension of the prefetched rest
 * (sluice_extend) and their release at a graceful stop (sluice_release). */
#include "workers/batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/streamid.h"
#include "common/util.h"
#include "workers/worker.h"

void sl_batch_free(sl_batch *b)
{
    free(b->v);
    free(b->argv);
    memset(b, 0, sizeof(*b));
}

void sl_batch_reset(sl_batch *b, int settle_each, int64_t asked_mono_ms)
{
    b->n = b->next = b->bytes = 0;
    b->settle_each = settle_each;
    b->fresh_mono_ms = asked_mono_ms;
}

static int valid_entry(const redisReply *x)
{
    return x->type == REDIS_REPLY_ARRAY && x->elements == 2 && x->element[0]->type == REDIS_REPLY_STRING &&
           (x->element[1]->type == REDIS_REPLY_ARRAY || x->element[1]->type == REDIS_REPLY_NIL);
}

int sl_batch_add(sl_batch *b, int stream, const redisReply *entries)
{
    if (entries->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < entries->elements; i++)
        if (!valid_entry(entries->element[i]))
            return -1;
    if (b->n + entries->elements > b->cap) {
        size_t cap = b->cap ? b->cap : 16;
        while (cap < b->n + entries->elements)
            cap *= 2;
        sl_entry *v = realloc(b->v, cap * sizeof(*v));
        if (!v)
            return -1;
        b->v = v;
        b->cap = cap;
    }
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *x = entries->element[i], *f = x->element[1];
        b->v[b->n++] = (sl_entry){stream, x->element[0]->str, f, 1, 0};
        for (size_t j = 0; f->type == REDIS_REPLY_ARRAY && j < f->elements; j++)
            b->bytes += f->element[j]->len;
    }
    return 0;
}

/* Delivery counts of entries [from, to) of one stream: one XPENDING over their
 * id range for this consumer, matched by id (both lists are in id order).
 * Entries not found keep 1. Returns 0, or -1 if the connection was lost. */
static int deliveries_of(sl_worker *w, sl_batch *b, size_t from, size_t to)
{
    char n[24];
    snprintf(n, sizeof(n), "%zu", to - from);
    const char *argv[] = {"XPENDING", w->keys[b->v[from].stream], w->pool->group, b->v[from].id, b->v[to - 1].id, n,
                          w->consumer};
    redisReply *r = sl_worker_cmd(w, 7, argv, NULL);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) { /* counts unknown: treat as first deliveries */
        sl_write_report(w, "XPENDING", r);
        freeReplyObject(r);
        return 0;
    }
    size_t j = from;
    for (size_t i = 0; i < r->elements && j < to; i++) {
        const redisReply *p = r->element[i];
        if (p->type != REDIS_REPLY_ARRAY || p->elements < 4 || p->element[0]->type != REDIS_REPLY_STRING ||
            p->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        while (j < to && strcmp(b->v[j].id, p->element[0]->str) != 0)
            j++;
        if (j < to && p->element[3]->integer > 0)
            b->v[j++].deliveries = p->element[3]->integer > UINT32_MAX ? UINT32_MAX : (uint32_t)p->element[3]->integer;
    }
    freeReplyObject(r);
    return 0;
}

int sl_batch_deliveries(sl_worker *w, sl_batch *b)
{
    for (size_t from = 0; from < b->n;) {
        size_t to = from + 1;
        while (to < b->n && b->v[to].stream == b->v[from].stream)
            to++;
        if (deliveries_of(w, b, from, to) != 0)
            return -1;
        from = to;
    }
    return 0;
}

/* FCALL fn 1 <stream> G C ids... for the unstarted entries of one stream; with
 * handoff, FCALL fn 2 <stream> <fence key> G C <lease> ids... (sluice_release's
 * hand-off). Returns how many the function reported, 0 when none were sent, or
 * -1 when the connection was lost (errors are logged and count as 0). *sent
 * gets the number of ids sent. */
static long long call_unstarted(sl_worker *w, sl_batch *b, const char *fn, int stream, size_t *sent, int handoff)
{
    size_t need = 8 + (b->n - b->next);
    if (need > b->argv_cap) {
        const char **av = realloc(b->argv, need * sizeof(*av));
        if (!av)
            return 0;
        b->argv = av;
        b->argv_cap = need;
    }
    char lease[SL_INT_TEXT_SIZE];
    int argc = 0;
    const char **av = b->argv;
    av[argc++] = "FCALL", av[argc++] = fn, av[argc++] = handoff ? "2" : "1", av[argc++] = w->keys[stream];
    if (handoff)
        av[argc++] = w->fence_key;
    av[argc++] = w->pool->group, av[argc++] = w->consumer;
    if (handoff) {
        sl_fmt_ll(lease, w->cfg->lease_ms);
        av[argc++] = lease;
    }
    int fixed = argc;
    for (size_t i = b->next; i < b->n; i++)
        if (b->v[i].stream == stream && !b->v[i].skip)
            av[argc++] = b->v[i].id;
    *sent = (size_t)(argc - fixed);
    if (argc == fixed)
        return 0;
    redisReply *r = sl_worker_cmd(w, argc, av, NULL);
    long long n = 0;
    if (!r)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        n = r->integer;
    else
        sl_write_report(w, fn, r);
    freeReplyObject(r);
    return n;
}

/* An unstarted entry the extension missed is not ours any more: a reclaimer
 * took it over, and running it would be a duplicate, so it is skipped. (An
 * entry still ours is always extended, even when it was deleted from the
 * stream meanwhile: sluice_extend records its lease, and we run it from the
 * fields we already hold.) One XPENDING of this consumer tells which are ours.
 * Returns 0, or -1 when the connection was lost. */
static int check_missed(sl_worker *w, sl_batch *b, int stream)
{
    size_t first = b->n, last = 0, count = 0;
    for (size_t i = b->next; i < b->n; i++)
        if (b->v[i].stream == stream && !b->v[i].skip) {
            if (first == b->n)
                first = i;
            last = i, count++;
        }
    if (count == 0)
        return 0;
    char n[24];
    snprintf(n, sizeof(n), "%zu", count);
    const char *argv[] = {"XPENDING", w->keys[stream], w->pool->group, b->v[first].id, b->v[last].id, n, w->consumer};
    redisReply *r = sl_worker_cmd(w, 7, argv, NULL);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        sl_write_report(w, "XPENDING", r);
        freeReplyObject(r);
        return 0;
    }
    size_t j = 0; /* both lists in id order */
    for (size_t i = first; i <= last; i++) {
        sl_entry *e = &b->v[i];
        if (e->stream != stream || e->skip)
            continue;
        while (j < r->elements && r->element[j]->type == REDIS_REPLY_ARRAY && r->element[j]->elements >= 1 &&
               sl_streamid_cmp_text(r->element[j]->element[0]->str, e->id) < 0)
            j++;
        int mine =
            j < r->elements && r->element[j]->elements >= 1 && strcmp(r->element[j]->element[0]->str, e->id) == 0;
        if (!mine) {
            e->skip = 1;
            SL_LOG(SL_INFO, "prefetched entry taken over by another consumer; not running it", SL_S("stream_id", e->id),
                   SL_S("stream", w->keys[stream]));
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Reset the idle time of every unstarted entry so live consumers do not take
 * them over while earlier jobs of the batch run. */
static int extend_unstarted(sl_worker *w, sl_batch *b)
{
    for (int s = 0; s < SL_NSTREAMS; s++) {
        size_t sent = 0;
        long long n = call_unstarted(w, b, "sluice_extend", s, &sent, 0);
        if (n < 0)
            return -1;
        if ((size_t)n < sent && check_missed(w, b, s) != 0)
            return -1;
        if (sl_log_enabled(SL_DEBUG))
            SL_LOG(SL_DEBUG, "prefetched leases extended", SL_S("stream", w->keys[s]), SL_I("entries", n));
    }
    b->fresh_mono_ms = sl_now_mono_ms();
    /* An extension is a new delivery to sluice_cancel: probe the cancel set
     * again, so a cancel after it finds these entries checked (cancel.h). */
    return sl_cancel_probe(w);
}

/* Graceful stop: give unstarted entries back without spending a delivery, and
 * hand them off: idle as long as the lease, with the group's fence bumped, so
 * that a live worker of the group reclaims them at once (sluice_release). The
 * worker cannot tell a scale-down or pool removal from other stops, and the
 * hand-off is right for all of them: a restarted slot replays whatever is still
 * its own. */
static void release_unstarted(sl_worker *w, sl_batch *b)
{
    for (int s = 0; s < SL_NSTREAMS; s++) {
        size_t sent = 0;
        long long n = call_unstarted(w, b, "sluice_release", s, &sent, 1);
        if (n <= 0)
            continue;
        atomic_fetch_add_explicit(&w->slot->released, (uint64_t)n, memory_order_relaxed);
        SL_LOG(SL_INFO, "released unstarted prefetched entries to live workers", SL_S("stream", w->keys[s]),
               SL_I("entries", n));
    }
}

int sl_batch_run(sl_worker *w, sl_batch *b)
{
    /* Every reply of a command sent before this batch's read has been read by
     * now, so the fence known is one read before these entries were delivered:
     * their acks may take sluice_ack's fast path while the fence still holds it. */
    w->batch_fence = w->fence;
    while (b->next < b->n && !*w->stop) {
        int64_t now = sl_worker_tick(w);
        if (*w->stop)
            break;
        int64_t logged = sl_log_buffered_since_ms();
        if (logged && now - logged >= SL_LOG_FLUSH_AGE_MS)
            sl_log_flush();
        if (now - b->fresh_mono_ms > w->cfg->lease_ms / 2 && extend_unstarted(w, b) != 0)
            return -1;
        if (sl_cancel_probe_due(w, now) && sl_cancel_probe(w) != 0) /* a slow batch: cancels since it was read */
            return -1;
        const sl_entry *e = &b->v[b->next++];
        if (e->skip)
            continue;
        sl_write_rc rc = sl_job_handle(w, e->stream, e->id, e->fields, e->deliveries);
        /* A result Redis deferred is kept and resent before the next job starts. */
        if (rc == SL_WRITE_BUSY && sl_settle_held(w))
            rc = sl_settle_wait_held(w);
        if (rc == SL_WRITE_OK && b->settle_each)
            rc = sl_acks_flush(w); /* settle replays one by one */
        /* Journaled acks wait for the batch's end (they leave with the next
         * read) unless a slow job or their age says otherwise; unjournaled ones
         * are on the wire before the next job starts, so a crash never re-runs
         * a finished job (docs/guarantees.md, "Acks"). */
        int64_t ended = w->job_end_mono_ms ? w->job_end_mono_ms : sl_now_mono_ms(); /* a handler ran: its end */
        if (rc == SL_WRITE_OK && b->next < b->n && sl_acks_due(w, ended, w->last_job_us))
            rc = sl_acks_send(w);
        if (rc == SL_WRITE_LOST)
            return -1;
        if (rc == SL_WRITE_BUSY)
            w->resync = 1;
    }
    if (*w->stop && b->next < b->n)
        release_unstarted(w, b); /* skipped ones are not ours or settled */
    return 0;
}
