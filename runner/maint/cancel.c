/* The supervisor's side of cancel ("Cancel" in common/functions.lua): every
 * SL_MAINT_CANCEL_MS each running job is looked up in its queue's cancel set
 * (ZSCORE: one small command per running job, none when nothing runs); a hit
 * goes to the owner, which tells the job to stop and kills its worker after
 * jobs.cancel_grace (watchdog.c); that job is then settled here as cancelled.
 * Every SL_MAINT_SWEEP_TICKS ticks each queue's cancel set is swept, so jobs
 * settled some other way leave it and workers stop checking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/functions.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "runner/maint/internal.h"
#include "runner/maint/maint.h"

#define SL_MAINT_CANCEL_MS 250
#define SL_MAINT_SWEEP_TICKS 20

/* One ZSCORE in flight: which slot's job it asks about. */
typedef struct sl_cancel_query {
    sl_maint *m;
    char pool[128];
    int slot;
    uint64_t seq;
} sl_cancel_query;

static void sl_maint_on_cancel_score(void *arg, redisReply *r)
{
    sl_cancel_query *q = arg;
    if (r && r->type == REDIS_REPLY_STRING)
        q->m->owner.cancel_seen(q->m->owner.ctx, q->pool, q->slot, q->seq);
    free(q);
}

/* Look w's running job up in its partition's cancel set (each_running). */
static void sl_maint_cancel_query(sl_maint *m, const sl_maint_worker *w, const sl_job_snap *snap)
{
    char part[128], cancels[SL_KEY_MAX];
    if (!snap->id[0] || sl_maint_job_part(w, snap, part, sizeof part) != 0 ||
        sl_key_cancels(cancels, sizeof cancels, part) != 0)
        return;
    sl_cancel_query *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->m = m;
    q->slot = w->slot;
    q->seq = snap->seq;
    (void)sl_fmt(q->pool, sizeof q->pool, "%s", w->pool);
    const char *argv[] = {"ZSCORE", cancels, snap->id};
    if (sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_cancel_score, q, 3, argv, NULL) != 0)
        free(q);
}

static void sl_maint_on_swept(void *arg, redisReply *r)
{
    sl_maint_queue *q = arg;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0)
        SL_LOG(SL_INFO, "cancelled jobs settled elsewhere left the cancel set", SL_S("queue", q->name),
               SL_I("jobs", r->integer));
    else if (r && r->type == REDIS_REPLY_ERROR && sl_functions_missing(r))
        sl_mconn_reset(q->m->conn, "function library missing");
}

/* sluice:{Q}:cancels:removed: the cancels that ended in sluice_cancel itself. */
static void sl_maint_on_removed(void *arg, redisReply *r)
{
    sl_maint_queue *q = arg;
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        uint64_t n = strtoull(r->element[i + 1]->str, NULL, 10);
        if (strcmp(r->element[i]->str, "scheduled") == 0)
            q->removed_scheduled = n;
        else if (strcmp(r->element[i]->str, "queued") == 0)
            q->removed_queued = n;
    }
}

void sl_maint_cancels_removed(const sl_maint *m, const char *queue, uint64_t *scheduled, uint64_t *queued)
{
    *scheduled = *queued = 0;
    for (const sl_maint_queue *q = m ? m->queues : NULL; q; q = q->next)
        if (strcmp(q->queue, queue) == 0) {
            *scheduled += q->removed_scheduled;
            *queued += q->removed_queued;
        }
}

static void sl_maint_on_cancel_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_maint *m = arg;
    (void)fd;
    (void)what;
    if (!sl_mconn_ready(m->conn))
        return;
    m->owner.each_running(m->owner.ctx, sl_maint_cancel_query, m);
    if (++m->cancel_ticks % SL_MAINT_SWEEP_TICKS != 0)
        return;
    for (sl_maint_queue *q = m->queues; q; q = q->next) {
        const char *argv[] = {"FCALL", "sluice_cancel_sweep", "1", q->cancels, "100"};
        char removed[SL_KEY_MAX + 16];
        (void)snprintf(removed, sizeof removed, "%s:removed", q->cancels);
        const char *hv[] = {"HGETALL", removed};
        if (q->active) {
            (void)sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_swept, q, 5, argv, NULL);
            (void)sl_mconn_call(m->conn, SL_MCONN_NOW, sl_maint_on_removed, q, 2, hv, NULL);
        }
    }
}

int sl_maint_cancel_start(sl_maint *m)
{
    struct timeval tv = {0, SL_MAINT_CANCEL_MS * 1000};
    m->cancel_ev = event_new(m->base, -1, EV_PERSIST, sl_maint_on_cancel_tick, m);
    return m->cancel_ev ? event_add(m->cancel_ev, &tv) : -1;
}
