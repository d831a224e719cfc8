/* The read loop: XREADGROUP over the pool's stream. After every (re)connect it
 * first replays this consumer's own pending entries (cursor from "0"), then
 * reads new ones (">", BLOCK <= 2000 ms so signals are seen). Redis faults are
 * waited out (reconnect, recreate the group, back off); the loop only ends on stop. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/channel.h"
#include "workers/worker.h"

/* Loop state that survives iterations. */
typedef struct sl_consume {
    char cursor[SL_STREAM_ID_MAX]; /* replay position */
    int replaying;                 /* reading own pending entries, not ">" */
    int group_ready;
    unsigned failures;             /* consecutive failed rounds, drives the backoff */
    uint64_t replayed;             /* entries seen in the current replay */
    uint32_t *deliveries;          /* per entry of a replayed batch */
    size_t deliveries_cap;
    char count[16], block[24];     /* XREADGROUP arguments as text */
} sl_consume;

void sl_worker_tick(sl_worker *w)
{
    atomic_store_explicit(&w->slot->heartbeat_mono_ms, sl_now_mono_ms(), memory_order_relaxed);
    if (w->reopen && *w->reopen) {
        *w->reopen = 0;
        if (sl_log_reopen() != 0) SL_LOG(SL_WARN, "log reopen failed; logging to stderr");
    }
    if (*w->stop) return;
    if (w->parent && getppid() != w->parent) {
        SL_LOG(SL_WARN, "supervisor gone (parent changed); stopping", SL_I("parent", w->parent));
        *w->stop = 1;
    } else if (w->chan_fd >= 0 && sl_channel_gone(w->chan_fd)) {
        SL_LOG(SL_WARN, "supervisor channel closed; stopping");
        *w->stop = 1;
    }
}

/* Wait before the next round after a failure: capped exponential backoff with
 * full jitter, interruptible by stop. */
static void back_off(sl_worker *w, sl_consume *c)
{
    int64_t delay = sl_backoff_ms(w->cfg->reconnect_min_ms, w->cfg->reconnect_max_ms, c->failures,
                                  w->cfg->reconnect_min_ms / 2 > 10 ? w->cfg->reconnect_min_ms / 2 : 10);
    if (c->failures < 64) c->failures++;
    sl_sleep_ms(delay, w->stop);
}

static void start_replay(sl_consume *c)
{
    c->replaying = 1;
    c->replayed = 0;
    snprintf(c->cursor, sizeof(c->cursor), "0");
}

/* Log an error reply (or lost connection) and decide what to do next. */
static void read_failed(sl_worker *w, sl_consume *c, const char *what, const redisReply *r)
{
    if (!r) {
        SL_LOG(SL_WARN, "redis read failed; reconnecting", SL_S("command", what),
               SL_S("error", sl_redis_errstr(w->redis)));
        return; /* the next round's ensure reconnects with backoff */
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
    if (sl_redis_reply_is(r, "NOGROUP")) {
        SL_LOG(SL_WARN, "consumer group missing; recreating it", SL_S("stream", w->stream_key),
               SL_S("group", w->pool->group));
        c->group_ready = 0;
        start_replay(c);
        back_off(w, c); /* a group that keeps vanishing must not make us spin */
        return;
    }
    /* UNBLOCKED: a blocked read cut short by a role change (failover); transient. */
    int transient = sl_redis_reply_transient(r) || sl_redis_reply_is(r, "UNBLOCKED");
    SL_LOG(transient ? SL_WARN : SL_ERROR, "redis error; backing off", SL_S("command", what), SL_S("error", msg));
    back_off(w, c);
}

/* XGROUP CREATE <key> <group> <start_at> MKSTREAM; BUSYGROUP means it exists. */
static int ensure_group(sl_worker *w, sl_consume *c)
{
    const char *argv[] = {"XGROUP", "CREATE", w->stream_key, w->pool->group, w->pool->start_at, "MKSTREAM"};
    redisReply *r = sl_redis_cmdargv(w->redis, 6, argv, NULL);
    int ok = r && (r->type == REDIS_REPLY_STATUS || sl_redis_reply_is(r, "BUSYGROUP"));
    if (ok) {
        if (r->type == REDIS_REPLY_STATUS)
            SL_LOG(SL_INFO, "consumer group created", SL_S("stream", w->stream_key), SL_S("group", w->pool->group),
                   SL_S("start_at", w->pool->start_at));
        c->group_ready = 1;
    } else {
        read_failed(w, c, "XGROUP CREATE", r);
    }
    if (r) freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Entries of an XREADGROUP reply for our single stream, or NULL when there are
 * none (nil reply, or an empty list). *bad is set when the reply is malformed. */
static const redisReply *entries_of(const redisReply *r, int *bad)
{
    *bad = 0;
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2 || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        *bad = r->type != REDIS_REPLY_ARRAY || r->elements != 0;
        return NULL;
    }
    const redisReply *e = r->element[0]->element[1];
    for (size_t i = 0; i < e->elements; i++) {
        const redisReply *x = e->element[i];
        if (x->type != REDIS_REPLY_ARRAY || x->elements != 2 || x->element[0]->type != REDIS_REPLY_STRING) {
            *bad = 1;
            return NULL;
        }
    }
    return e->elements ? e : NULL;
}

/* Delivery counts for a replayed batch: one XPENDING over the batch's id range
 * for this consumer, matched by id (both lists are in id order). Entries not
 * found count as 1. Returns 0, or -1 if the connection was lost. */
static int replay_deliveries(sl_worker *w, sl_consume *c, const redisReply *e)
{
    if (e->elements > c->deliveries_cap) {
        uint32_t *d = realloc(c->deliveries, e->elements * sizeof(*d));
        if (!d) return -1;
        c->deliveries = d;
        c->deliveries_cap = e->elements;
    }
    for (size_t i = 0; i < e->elements; i++) c->deliveries[i] = 1;
    char n[16];
    snprintf(n, sizeof(n), "%zu", e->elements);
    const char *argv[] = {"XPENDING", w->stream_key, w->pool->group, e->element[0]->element[0]->str,
                          e->element[e->elements - 1]->element[0]->str, n, w->consumer};
    redisReply *r = sl_redis_cmdargv(w->redis, 7, argv, NULL);
    if (!r) return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        read_failed(w, c, "XPENDING", r); /* counts unknown: treat as first deliveries */
        freeReplyObject(r);
        return 0;
    }
    size_t j = 0;
    for (size_t i = 0; i < r->elements && j < e->elements; i++) {
        const redisReply *p = r->element[i];
        if (p->type != REDIS_REPLY_ARRAY || p->elements < 4 || p->element[0]->type != REDIS_REPLY_STRING ||
            p->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        while (j < e->elements && strcmp(e->element[j]->element[0]->str, p->element[0]->str) != 0) j++;
        if (j < e->elements && p->element[3]->integer > 0)
            c->deliveries[j++] = p->element[3]->integer > UINT32_MAX ? UINT32_MAX : (uint32_t)p->element[3]->integer;
    }
    freeReplyObject(r);
    return 0;
}

/* Run a batch. Returns 0, or -1 when the connection was lost mid-batch. */
static int run_batch(sl_worker *w, sl_consume *c, const redisReply *e)
{
    if (c->replaying && replay_deliveries(w, c, e) != 0) return -1;
    for (size_t i = 0; i < e->elements && !*w->stop; i++) {
        const redisReply *x = e->element[i];
        const char *id = x->element[0]->str;
        if (c->replaying) {
            snprintf(c->cursor, sizeof(c->cursor), "%s", id); /* advance even past entries left pending */
            c->replayed++;
        }
        sl_write_rc rc = sl_job_handle(w, id, x->element[1], c->replaying ? c->deliveries[i] : 1);
        if (rc == SL_WRITE_OK && c->replaying) rc = sl_outcome_flush(w); /* settle replays one by one */
        if (rc == SL_WRITE_LOST) return -1;
        if (rc == SL_WRITE_BUSY) w->resync = 1;
    }
    return 0;
}

/* One round: be connected, flush acks, have the group, read, run the batch. */
static void round_once(sl_worker *w, sl_consume *c)
{
    if (!sl_redis_connected(w->redis)) {
        if (sl_redis_ensure(w->redis, w->stop) != 0) return;
        start_replay(c); /* a lost connection may have lost acks: entries are still ours */
    }
    sl_write_rc frc = sl_outcome_flush(w);
    if (frc == SL_WRITE_LOST) return;
    if (frc == SL_WRITE_BUSY) { /* acks kept: wait, then send them again */
        back_off(w, c);
        return;
    }
    if (w->resync) { /* a deferred outcome left an entry pending: wait, then replay it */
        w->resync = 0;
        back_off(w, c);
        start_replay(c);
        return;
    }
    if (!c->group_ready && ensure_group(w, c) != 0) return;

    /* Replay reads one entry at a time: reading history bumps the delivery
     * count of every entry returned, and after a crash only the entry that is
     * about to run should be charged (the crash budget counts deliveries). */
    const char *rd[11] = {"XREADGROUP", "GROUP", w->pool->group, w->consumer, "COUNT",
                          c->replaying ? "1" : c->count};
    int argc;
    if (c->replaying) { /* own pending entries after the cursor: never blocks */
        rd[6] = "STREAMS", rd[7] = w->stream_key, rd[8] = c->cursor;
        argc = 9;
    } else {
        rd[6] = "BLOCK", rd[7] = c->block, rd[8] = "STREAMS", rd[9] = w->stream_key, rd[10] = ">";
        argc = 11;
    }
    redisReply *r = sl_redis_cmdargv(w->redis, argc, rd, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        read_failed(w, c, "XREADGROUP", r);
        if (r) freeReplyObject(r);
        return;
    }
    int bad;
    const redisReply *e = entries_of(r, &bad);
    if (bad) {
        SL_LOG(SL_ERROR, "unexpected XREADGROUP reply shape; backing off", SL_I("type", r->type));
        freeReplyObject(r);
        back_off(w, c);
        return;
    }
    if (!e) {
        if (c->replaying) {
            c->replaying = 0;
            if (c->replayed)
                SL_LOG(SL_INFO, "pending entries replayed", SL_I("entries", c->replayed));
        }
    } else if (run_batch(w, c, e) != 0) {
        freeReplyObject(r);
        return;
    }
    freeReplyObject(r);
    /* A clean round ends the backoff; a deferred outcome keeps it growing. */
    if (sl_outcome_flush(w) == SL_WRITE_OK && !w->resync) c->failures = 0;
}

void sl_consume_run(sl_worker *w)
{
    sl_consume c = {.group_ready = 0};
    snprintf(c.count, sizeof(c.count), "%d", w->pool->read_count);
    snprintf(c.block, sizeof(c.block), "%" PRId64, w->pool->block_ms);
    start_replay(&c);
    atomic_store_explicit(&w->slot->state, SL_SLOT_IDLE, memory_order_release);
    while (!*w->stop) {
        sl_worker_tick(w);
        if (*w->stop) break;
        round_once(w, &c);
    }
    atomic_store_explicit(&w->slot->state, SL_SLOT_STOPPING, memory_order_release);
    /* Last chance for this batch's acks: one reconnect attempt, no waiting. */
    if (w->acks.n && !sl_redis_connected(w->redis)) sl_redis_connect(w->redis);
    if (w->acks.n && sl_outcome_flush(w) != SL_WRITE_OK)
        SL_LOG(SL_WARN, "acks not sent at stop; those entries stay pending and will be replayed",
               SL_I("entries", w->acks.n));
    free(c.deliveries);
}
