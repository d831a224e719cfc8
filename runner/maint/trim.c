/* Retention on the supervisor's loop (see trim.h): a timer every
 * retention.interval sends one FCALL sluice_trim per stream through the
 * maintenance connection; what may go is decided atomically inside Redis
 * (common/functions.lua), never from state read here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/util.h"
#include "runner/maint/internal.h"
#include "runner/maint/trim.h"

/* Entries one sluice_trim call removes at most (bounds the time Redis spends in
 * one call); a full batch goes again at once. */
#define SL_TRIM_BATCH 10000
#define SL_TRIM_BATCH_S "10000"

struct sl_maint_trim {
    sl_maint *m;
    struct event *ev;
    int64_t period_ms; /* current timer period, 0 = not armed */
    sl_trim_queue *queues;
};

static void sl_trim_call(sl_trim_stream *s);

static void sl_trim_on_reply(void *arg, redisReply *r)
{
    sl_trim_stream *s = arg;
    sl_trim_queue *q = s->q;
    s->inflight = 0;
    if (!r)
        return; /* connection lost or timed out: the next tick tries again */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING) {
        if (!s->failing)
            SL_LOG(SL_WARN, "sluice_trim failed; retrying every retention.interval", SL_S("queue", q->name),
                   SL_S("stream", s->key), SL_S("error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
        /* No sl_mconn_reset on "Function not found": the promoter's tick notices
         * a flushed library within promote_interval, and a library of the same
         * version without sluice_trim (an older build) would not be replaced
         * by a reconnect anyway. */
        s->failing = 1;
        return;
    }
    if (s->failing)
        SL_LOG(SL_INFO, "sluice_trim works again", SL_S("queue", q->name), SL_S("stream", s->key));
    s->failing = 0;
    long long n = r->element[0]->integer;
    if (n <= 0)
        return;
    q->trimmed_total += (uint64_t)n;
    if (s->retry)
        q->retry_trimmed_total += (uint64_t)n;
    SL_LOG(SL_INFO, "trimmed stream", SL_S("queue", q->name), SL_S("stream", s->key), SL_I("entries", n),
           SL_S("trim_point", r->element[1]->str), SL_S("floor", r->element[2]->str));
    if (n >= SL_TRIM_BATCH && s->active && q->active)
        sl_trim_call(s); /* more to remove: no need to wait a tick */
}

/* One FCALL sluice_trim on s, unless one is in flight or Redis is not ready.
 * Work stream: the queue's policy; retry stream: mode "acked". */
static void sl_trim_call(sl_trim_stream *s)
{
    char age[24] = "0", len[24] = "0";
    if (s->inflight)
        return;
    if (!s->retry) {
        (void)snprintf(age, sizeof age, "%lld", (long long)s->q->max_age_ms);
        (void)snprintf(len, sizeof len, "%lld", (long long)s->q->max_len);
    }
    const char *argv[] = {"FCALL", "sluice_trim", "1", s->key, age, len, SL_TRIM_BATCH_S, "acked"};
    int argc = s->retry ? 8 : 7;
    if (sl_mconn_call(s->q->t->m->conn, SL_MCONN_NOW, sl_trim_on_reply, s, argc, argv, NULL) == 0)
        s->inflight = 1;
}

static void sl_trim_on_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_maint_trim *t = arg;
    (void)fd;
    (void)what;
    if (!sl_mconn_ready(t->m->conn))
        return;
    for (sl_trim_queue *q = t->queues; q; q = q->next)
        for (sl_trim_stream *s = q->streams; q->active && s; s = s->next)
            if (s->active)
                sl_trim_call(s);
}

/* ---- the set of queues and streams -------------------------------------- */

static sl_trim_queue *sl_trim_queue_get(sl_maint_trim *t, const char *name)
{
    sl_trim_queue *q = t->queues;
    while (q && strcmp(q->name, name) != 0)
        q = q->next;
    if (q)
        return q;
    if (!(q = calloc(1, sizeof *q)))
        return NULL;
    q->t = t;
    if (sl_fmt(q->name, sizeof q->name, "%s", name) != 0) {
        free(q);
        return NULL; /* cannot happen: names are at most 64 characters */
    }
    q->next = t->queues;
    t->queues = q;
    return q;
}

/* Mark the stream key of q active, adding it if new. 0 or -1. */
static int sl_trim_stream_use(sl_trim_queue *q, const char *key, int retry)
{
    sl_trim_stream *s = q->streams;
    while (s && strcmp(s->key, key) != 0)
        s = s->next;
    if (!s) {
        if (!(s = calloc(1, sizeof *s)))
            return -1;
        s->q = q;
        s->retry = retry;
        (void)sl_fmt(s->key, sizeof s->key, "%s", key); /* built by sl_key_*: it fits */
        s->next = q->streams;
        q->streams = s;
    }
    s->active = 1;
    return 0;
}

/* Mark queue's streams (of pool p's group) for trimming when it has a
 * retention policy. 0 or -1 (out of memory). */
static int sl_trim_use_queue(sl_maint_trim *t, const sl_pool_cfg *p, const char *queue)
{
    const sl_config *cfg = t->m->cfg;
    char key[SL_KEY_MAX];
    const sl_queue_cfg *qc = sl_cfg_queue(cfg, queue);
    if (!sl_cfg_queue_retains(qc))
        return 0;
    sl_trim_queue *q = sl_trim_queue_get(t, queue);
    if (!q)
        return -1;
    /* A partitioned queue: every partition's streams, each kept to its
     * share of retention_max_len (rounded up). */
    int nparts = sl_part_count(cfg, queue);
    q->active = 1;
    q->max_age_ms = qc->retention_max_age_ms;
    q->max_len = (qc->retention_max_len + nparts - 1) / nparts;
    for (int j = 0; j < nparts; j++) {
        char part[SL_PARTITION_NAME_MAX];
        if (sl_part_name(part, sizeof part, queue, nparts, j) != 0 || sl_key_stream(key, sizeof key, part) != 0 ||
            sl_trim_stream_use(q, key, 0) != 0 || sl_key_retry(key, sizeof key, part, p->group) != 0 ||
            sl_trim_stream_use(q, key, 1) != 0)
            return -1;
    }
    return 0;
}

/* Every queue of the config's pools with a retention policy: its work stream
 * and the retry streams of the pools' groups. What a reload drops is only
 * marked inactive (a call in flight still points at it). */
static int sl_trim_set_queues(sl_maint_trim *t)
{
    const sl_config *cfg = t->m->cfg;
    for (sl_trim_queue *q = t->queues; q; q = q->next) {
        q->active = 0;
        for (sl_trim_stream *s = q->streams; s; s = s->next)
            s->active = 0;
    }
    for (size_t i = 0; i < cfg->npools; i++)
        for (size_t k = 0; k < cfg->pools[i].nqueues; k++) /* each queue of pools[].queues */
            if (sl_trim_use_queue(t, &cfg->pools[i], cfg->pools[i].queues[k].name) != 0)
                return -1;
    return 0;
}

/* (Re)arm the timer when retention.interval changed. 0 or -1. */
static int sl_trim_arm(sl_maint_trim *t)
{
    int64_t period = t->m->cfg->retention_interval_ms;
    struct timeval tv;
    if (period < 10)
        period = 10;
    if (t->period_ms == period)
        return 0;
    t->period_ms = period;
    tv.tv_sec = (time_t)(period / 1000);
    tv.tv_usec = (suseconds_t)((period % 1000) * 1000);
    event_del(t->ev);
    return event_add(t->ev, &tv);
}

/* ---- life --------------------------------------------------------------- */

sl_maint_trim *sl_maint_trim_new(sl_maint *m)
{
    sl_maint_trim *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->m = m;
    t->ev = event_new(m->base, -1, EV_PERSIST, sl_trim_on_tick, t);
    if (!t->ev || sl_trim_set_queues(t) != 0 || sl_trim_arm(t) != 0) {
        sl_maint_trim_free(t);
        return NULL;
    }
    return t;
}

void sl_maint_trim_reload(sl_maint_trim *t)
{
    if (!t)
        return;
    if (sl_trim_set_queues(t) != 0)
        SL_LOG(SL_ERROR, "out of memory updating the retention queues");
    if (sl_trim_arm(t) != 0)
        SL_LOG(SL_ERROR, "cannot re-arm the retention timer");
}

void sl_maint_trim_free(sl_maint_trim *t)
{
    if (!t)
        return;
    if (t->ev)
        event_free(t->ev);
    while (t->queues) {
        sl_trim_queue *q = t->queues;
        t->queues = q->next;
        while (q->streams) {
            sl_trim_stream *s = q->streams;
            q->streams = s->next;
            free(s);
        }
        free(q);
    }
    free(t);
}

const sl_trim_queue *sl_maint_trim_queues(const sl_maint_trim *t)
{
    return t ? t->queues : NULL;
}
