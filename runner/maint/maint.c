/* Periodic maintenance (see maint.h): the promoter (sluice_promote per queue,
 * every supervisor.promote_interval) and lease extension (sluice_extend per
 * running job, every jobs.lease/3), on the supervisor's loop. The moves of
 * killed jobs (settle/release) are in jobs.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/functions.h"
#include "common/keys.h"
#include "common/limit.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/util.h"
#include "runner/maint/internal.h"
#include "runner/maint/maint.h"
#include "runner/maint/schedules.h"
#include "runner/maint/trim.h"

/* Entries one sluice_promote call moves at most; a full batch goes again at once. */
#define SL_MAINT_PROMOTE_BATCH 1000
#define SL_MAINT_PROMOTE_BATCH_S "1000"

static void sl_ms_tv(int64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

/* ---- promoter ----------------------------------------------------------- */

static void sl_maint_promote(sl_maint_queue *q);

static void sl_maint_on_promoted(void *arg, redisReply *r)
{
    sl_maint_queue *q = arg;
    sl_maint *m = q->m;
    q->inflight = 0;
    if (!r)
        return; /* connection lost or timed out: the next tick tries again */
    if (r->type != REDIS_REPLY_INTEGER) {
        m->stats.promote_errors++;
        if (!q->failing)
            SL_LOG(SL_WARN, "sluice_promote failed; retrying every promote_interval", SL_S("queue", q->name),
                   SL_S("error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
        q->failing = 1;
        if (sl_functions_missing(r))
            sl_mconn_reset(m->conn, "function library missing");
        return;
    }
    if (q->failing)
        SL_LOG(SL_INFO, "sluice_promote works again", SL_S("queue", q->name));
    q->failing = 0;
    m->stats.promoted += (uint64_t)r->integer;
    m->owner.promoted(m->owner.ctx, q->queue, (uint64_t)r->integer);
    if (r->integer > 0)
        SL_LOG(SL_DEBUG, "promoted scheduled entries", SL_S("queue", q->name), SL_I("entries", r->integer));
    if (r->integer >= SL_MAINT_PROMOTE_BATCH && q->active)
        sl_maint_promote(q); /* more are due: no need to wait a tick */
}

/* One FCALL sluice_promote for q, unless one is in flight or Redis is not ready. */
static void sl_maint_promote(sl_maint_queue *q)
{
    if (q->inflight)
        return;
    const char *argv[] = {"FCALL", "sluice_promote", "1", q->sched, SL_MAINT_PROMOTE_BATCH_S};
    size_t lens[] = {5, 14, 1, strlen(q->sched), strlen(SL_MAINT_PROMOTE_BATCH_S)};
    if (sl_mconn_call(q->m->conn, SL_MCONN_NOW, sl_maint_on_promoted, q, 5, argv, lens) == 0)
        q->inflight = 1;
}

static void sl_maint_promote_all(sl_maint *m)
{
    for (sl_maint_queue *q = m->queues; q; q = q->next)
        if (q->active)
            sl_maint_promote(q);
}

static void sl_maint_on_promote_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_maint_promote_all(arg);
}

/* The promoter's queues: every distinct queue of the config's pools (each
 * queue of a pools[].queues list), each
 * partition of a partitioned one on its own (its own schedule, one hash slot
 * per call). A queue dropped by a reload is only marked inactive (a call in
 * flight still points at it). */
static int sl_maint_use_queue(sl_maint *m, const char *queue, int nparts, int j);

static int sl_maint_set_queues(sl_maint *m)
{
    const sl_config *cfg = m->cfg;
    for (sl_maint_queue *q = m->queues; q; q = q->next)
        q->active = 0;
    for (size_t i = 0; i < cfg->npools; i++)
        for (size_t k = 0; k < cfg->pools[i].nqueues; k++) { /* pools[].queues: each of them */
            const char *queue = cfg->pools[i].queues[k].name;
            int nparts = sl_part_count(cfg, queue);
            for (int j = 0; j < nparts; j++)
                if (sl_maint_use_queue(m, queue, nparts, j) != 0)
                    return -1;
        }
    return 0;
}

/* Mark partition j of queue (of nparts) served, adding it when new. 0 or -1. */
static int sl_maint_use_queue(sl_maint *m, const char *queue, int nparts, int j)
{
    char name[SL_PARTITION_NAME_MAX];
    if (sl_part_name(name, sizeof name, queue, nparts, j) != 0)
        return 0; /* cannot happen: names are checked at load */
    sl_maint_queue *q = m->queues;
    while (q && strcmp(q->name, name) != 0)
        q = q->next;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q)
            return -1;
        q->m = m;
        if (sl_fmt(q->name, sizeof q->name, "%s", name) != 0 || sl_fmt(q->queue, sizeof q->queue, "%s", queue) != 0 ||
            sl_key_sched(q->sched, sizeof q->sched, name) != 0 ||
            sl_key_cancels(q->cancels, sizeof q->cancels, name) != 0) {
            free(q);
            return 0; /* cannot happen: names are at most 64 characters */
        }
        q->next = m->queues;
        m->queues = q;
    }
    q->active = 1;
    return 0;
}

/* ---- lease extension ---------------------------------------------------- */

static void sl_maint_on_extended(void *arg, redisReply *r)
{
    sl_maint *m = arg;
    sl_maint_stats *st = &m->stats;
    m->extend_inflight--;
    if (!r)
        return;
    if (r->type == REDIS_REPLY_INTEGER) {
        st->extend_calls++;
        st->extended += (uint64_t)r->integer;
        if (r->integer == 0)
            st->extend_missed++; /* the job just ended, or the entry is no longer ours */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        SL_LOG(SL_WARN, "sluice_extend failed", SL_S("error", r->str));
        if (sl_functions_missing(r))
            sl_mconn_reset(m->conn, "function library missing");
    }
}

/* The reply of a command whose result only matters when it is an error. */
static void sl_maint_on_hold_extended(void *arg, redisReply *r)
{
    (void)arg;
    if (r && r->type == REDIS_REPLY_ERROR)
        SL_LOG(SL_WARN, "limit bookkeeping failed (sluice_limit_extend or publishing the limits)",
               SL_S("error", r->str));
}

/* Keep w's running job fresh so live consumers do not reclaim it (called by
 * the owner's each_running). */
static void sl_maint_extend_job(sl_maint *m, const sl_maint_worker *w, const sl_job_snap *snap)
{
    char stream[SL_KEY_MAX];
    if (!snap->stream_id[0] || sl_maint_job_stream(w, snap, stream, sizeof stream) != 0)
        return;
    const char *argv[] = {"FCALL", "sluice_extend", "1", stream, w->group, w->consumer, snap->stream_id};
    if (sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_extended, m, 7, argv, NULL) == 0)
        m->extend_inflight++;
    char holder[SL_KEY_MAX + 64], hold_ms[24];
    if (!snap->hold_key[0] ||
        sl_limit_holder(holder, sizeof holder, w->consumer, snap->in_retry_stream, snap->stream_id) != 0)
        return;
    /* Its concurrency slot lives as long as its lease (docs/limits.md). */
    (void)snprintf(hold_ms, sizeof hold_ms, "%lld", (long long)m->cfg->lease_ms);
    const char *hv[] = {"FCALL", "sluice_limit_extend", "1", snap->hold_key, holder, hold_ms};
    (void)sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_hold_extended, m, 6, hv, NULL);
}

static void sl_maint_on_lease_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_maint *m = arg;
    (void)fd;
    (void)what;
    /* A round still unanswered means Redis is slow: do not pile up more;
     * the connection's command timeout resolves it. */
    if (m->extend_inflight > 0 || !sl_mconn_ready(m->conn))
        return;
    m->owner.each_running(m->owner.ctx, sl_maint_extend_job, m);
}

/* ---- life --------------------------------------------------------------- */

/* Publish the config's limits in sluice:{:limits} for sluice stats (at every
 * connect and reload; the reply is not waited for). */
static void sl_maint_publish_limits(sl_maint *m)
{
    const sl_config *cfg = m->cfg;
    for (size_t i = 0; i < cfg->nlimits; i++) {
        char *def = sl_cfg_limit_to_json(cfg, i);
        const char *argv[] = {"HSET", SL_KEY_LIMITS, cfg->limits[i].name, def};
        if (def)
            (void)sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_hold_extended, m, 4, argv, NULL);
        free(def);
    }
}

/* Every (re)connect: promote at once (entries fell due while we were away). */
static void sl_maint_on_ready(void *arg)
{
    sl_maint *m = arg;
    sl_maint_promote_all(m);
    sl_maint_schedules_ready(m->schedules); /* re-read what peers did meanwhile */
    sl_maint_publish_limits(m);
}

/* (Re)arm a persistent timer when its period changed. 0 or -1. */
static int sl_maint_arm(struct event *ev, int64_t *cur, int64_t period)
{
    struct timeval tv;
    if (period < 10)
        period = 10;
    if (*cur == period)
        return 0;
    *cur = period;
    sl_ms_tv(period, &tv);
    event_del(ev);
    return event_add(ev, &tv);
}

static int sl_maint_timers(sl_maint *m)
{
    const sl_config *cfg = m->cfg;
    int64_t lease = cfg->lease_ms > 0 ? cfg->lease_ms / 3 : 10000;
    int64_t promote = cfg->promote_interval_ms > 0 ? cfg->promote_interval_ms : 100;
    if (sl_maint_arm(m->promote_ev, &m->promote_ms, promote) != 0 ||
        sl_maint_arm(m->lease_ev, &m->lease_tick_ms, lease) != 0)
        return -1;
    return 0;
}

sl_maint *sl_maint_new(struct event_base *base, const sl_config *cfg, const sl_maint_owner *owner)
{
    sl_maint *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base = base;
    m->cfg = cfg;
    m->owner = *owner;
    m->promote_ev = event_new(base, -1, EV_PERSIST, sl_maint_on_promote_tick, m);
    m->lease_ev = event_new(base, -1, EV_PERSIST, sl_maint_on_lease_tick, m);
    if (!m->promote_ev || !m->lease_ev || sl_maint_set_queues(m) != 0 || sl_maint_timers(m) != 0 ||
        !(m->conn = sl_mconn_new(base, cfg, sl_maint_on_ready, m)) || !(m->trim = sl_maint_trim_new(m)) ||
        !(m->schedules = sl_maint_schedules_new(m)) || sl_maint_cancel_start(m) != 0) {
        sl_maint_free(m);
        return NULL;
    }
    return m;
}

void sl_maint_free(sl_maint *m)
{
    if (!m)
        return;
    sl_mconn_free(m->conn); /* callbacks run now, with NULL replies */
    sl_maint_trim_free(m->trim); /* after the connection: its callbacks point into it */
    sl_maint_schedules_free(m->schedules);
    if (m->promote_ev)
        event_free(m->promote_ev);
    if (m->lease_ev)
        event_free(m->lease_ev);
    if (m->cancel_ev)
        event_free(m->cancel_ev);
    while (m->queues) {
        sl_maint_queue *next = m->queues->next;
        free(m->queues);
        m->queues = next;
    }
    free(m);
}

void sl_maint_reload(sl_maint *m, const sl_config *cfg)
{
    if (!m)
        return;
    m->cfg = cfg;
    if (sl_maint_set_queues(m) != 0)
        SL_LOG(SL_ERROR, "out of memory updating the promoter's queues");
    if (sl_maint_timers(m) != 0)
        SL_LOG(SL_ERROR, "cannot re-arm the maintenance timers");
    (void)sl_mconn_configure(m->conn, cfg);
    sl_maint_trim_reload(m->trim); /* retention policies and retention.interval */
    sl_maint_schedules_reload(m->schedules);
    if (sl_mconn_ready(m->conn))
        sl_maint_publish_limits(m);
}

const sl_maint_stats *sl_maint_stats_of(const sl_maint *m)
{
    return &m->stats;
}

const struct sl_mschedule *sl_maint_schedules_of(const sl_maint *m)
{
    return m ? sl_maint_schedules_list(m->schedules) : NULL;
}

sl_mconn *sl_maint_conn(const sl_maint *m)
{
    return m->conn;
}
