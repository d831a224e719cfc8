/* The JSON endpoints: /healthz and /readyz reasons, and /status (pools,
 * workers, their current job and counters, the last sample of each group).
 * Rendered from the read-only view the supervisor hands the registry
 * (sl_mx_owner.view); nothing here blocks. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/util.h"
#include "runner/http/metrics.h"
#include "runner/maint/snapshot.h"
#include "sluice/version.h"

/* Append {"check":..., "message":...} to reasons. */
static void sl_reason(cJSON *reasons, const char *check, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sl_reason(cJSON *reasons, const char *check, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return;
    cJSON_AddStringToObject(r, "check", check);
    cJSON_AddStringToObject(r, "message", msg);
    cJSON_AddItemToArray(reasons, r);
}

/* The reasons as {"status":status,"reasons":[...]}, or NULL when there are none. */
static char *sl_reasons_json(cJSON *reasons, const char *status)
{
    char *out = NULL;
    if (cJSON_GetArraySize(reasons) == 0) {
        cJSON_Delete(reasons);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "status", status);
        cJSON_AddItemToObject(o, "reasons", reasons);
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(reasons);
    }
    return out ? out : strdup("{\"status\":\"error\",\"reasons\":[]}");
}

char *sl_status_health(sl_metrics *m)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    int64_t now = sl_now_mono_ms();
    cJSON *reasons = cJSON_CreateArray();
    if (!reasons)
        return strdup("{\"status\":\"error\"}");
    if (!sl_gauges_redis_up(m))
        sl_reason(reasons, "redis", "redis unreachable (the supervisor's connection is not ready)");
    for (int i = 0; i < v->npools; i++) {
        const sl_mx_pool_view *p = &v->pools[i];
        if (!p->removed && p->want > 0 && p->live == 0)
            sl_reason(reasons, "workers", "pool %s has no live worker (%d wanted)", p->name, p->want);
    }
    int64_t stall = m->cfg->stall_after_ms;
    for (sl_mx_group *g = m->groups; g; g = g->next) {
        if (!g->active || !g->sampled || stall <= 0 || g->lag + g->pending == 0)
            continue;
        if (now - g->progress_ms >= stall)
            sl_reason(reasons, "stalled",
                      "queue %s group %s: backlog %lld (lag %lld, pending %lld) and nothing consumed for %lld ms",
                      g->queue, g->group, (long long)g->lag + (long long)g->pending, (long long)g->lag,
                      (long long)g->pending, (long long)(now - g->progress_ms));
    }
    return sl_reasons_json(reasons, "unhealthy");
}

char *sl_status_ready(sl_metrics *m)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    int64_t now = sl_now_mono_ms();
    cJSON *reasons = cJSON_CreateArray();
    if (!reasons)
        return strdup("{\"status\":\"error\"}");
    if (!sl_gauges_redis_up(m))
        sl_reason(reasons, "redis", "redis unreachable (the supervisor's connection is not ready)");
    if (v->stopping)
        sl_reason(reasons, "stopping", "the supervisor is stopping");
    for (int k = 0; k < v->npools; k++) {
        const sl_mx_pool_view *p = &v->pools[k];
        int ready = 0;
        for (int i = 0; i < p->nslots; i++)
            ready += p->slots[i].pid && p->slots[i].ready;
        if (!p->removed && p->want > 0 && ready == 0) {
            sl_reason(reasons, "workers", "pool %s has no ready worker", p->name);
            continue;
        }
        if (p->removed || p->want == 0)
            continue;
        int consumed = 0;
        for (int i = 0; i < p->nslots; i++)
            consumed |= p->slots[i].pid && p->slots[i].shm && p->slots[i].shm->version >= 5 &&
                        atomic_load_explicit(&p->slots[i].shm->consumed, memory_order_relaxed);
        int64_t for_ms = 0;
        int kind = 0;
        if (sl_pool_stuck(p, now, m->cfg->redis_error_after_ms, &for_ms, &kind))
            sl_reason(reasons, "redis_errors",
                      "pool %s: every worker has had only Redis errors (last: %s) for %lld ms "
                      "(health.redis_error_after)",
                      p->name, sl_redis_err_name(kind), (long long)for_ms);
        else if (!consumed)
            sl_reason(reasons, "consuming", "pool %s has not read from queue %s yet", p->name, p->queue);
    }
    return sl_reasons_json(reasons, "not ready");
}

static const char *sl_state_name(int st)
{
    static const char *const names[] = {"starting", "idle", "running", "stopping"};
    return st >= 0 && st < 4 ? names[st] : "?";
}

/* One slot: its process, state, running job and counters. */
static cJSON *sl_status_slot(const sl_mx_slot_view *s, int64_t now)
{
    cJSON *w = cJSON_CreateObject();
    if (!w)
        return NULL;
    cJSON_AddNumberToObject(w, "slot", s->index);
    cJSON_AddNumberToObject(w, "pid", s->pid);
    cJSON_AddStringToObject(w, "consumer", s->consumer);
    cJSON_AddStringToObject(w, "phase", s->phase);
    int st = s->shm ? atomic_load_explicit(&s->shm->state, memory_order_relaxed) : -1;
    cJSON_AddStringToObject(w, "state", s->pid ? sl_state_name(st) : "none");
    sl_job_snap snap;
    if (s->pid && s->shm && sl_slot_snapshot(s->shm, &snap) == 0) {
        cJSON *j = cJSON_AddObjectToObject(w, "job");
        if (j) {
            cJSON_AddStringToObject(j, "id", snap.id);
            cJSON_AddStringToObject(j, "type", snap.type);
            cJSON_AddStringToObject(j, "stream_id", snap.stream_id);
            cJSON_AddNumberToObject(j, "attempt", snap.attempt);
            cJSON_AddNumberToObject(j, "running_for_ms", (double)(now - snap.started_mono_ms));
        }
    } else {
        cJSON_AddNullToObject(w, "job");
    }
    if (s->pid && s->shm) {
        sl_mx_counts *c = calloc(1, sizeof *c);
        cJSON *k = cJSON_AddObjectToObject(w, "counters");
        if (c && k) {
            static const char *const names[SL_OUT_N] = {"ok", "retry", "failed", "dead", "skipped", "cancelled"};
            sl_mx_add_slot(c, s->shm);
            for (int o = 0; o < SL_OUT_N; o++)
                cJSON_AddNumberToObject(k, names[o], (double)sl_mx_sum(c, o));
        }
        free(c);
    }
    return w;
}

static cJSON *sl_status_groups(sl_metrics *m, int64_t now)
{
    cJSON *arr = cJSON_CreateArray();
    for (sl_mx_group *g = m->groups; arr && g; g = g->next) {
        cJSON *o = cJSON_CreateObject();
        if (!g->active || !o) {
            cJSON_Delete(o);
            continue;
        }
        cJSON_AddStringToObject(o, "queue", g->queue);
        cJSON_AddStringToObject(o, "group", g->group);
        cJSON_AddBoolToObject(o, "sampled", g->sampled);
        cJSON_AddNumberToObject(o, "stream_length", (double)g->xlen);
        cJSON_AddNumberToObject(o, "scheduled", (double)g->sched);
        cJSON_AddNumberToObject(o, "pending", (double)g->pending);
        cJSON_AddNumberToObject(o, "lag", (double)g->lag);
        cJSON_AddNumberToObject(o, "oldest_pending_ms", (double)g->oldest_age_ms);
        cJSON_AddNumberToObject(o, "dlq_length", (double)g->dlq);
        cJSON_AddNumberToObject(o, "since_progress_ms", g->sampled ? (double)(now - g->progress_ms) : 0);
        cJSON *al = cJSON_AddArrayToObject(o, "alerts");
        for (int a = 0; al && a < SL_ALERT_N; a++)
            if (g->alert[a])
                cJSON_AddItemToArray(al, cJSON_CreateString(sl_alert_name(a)));
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

char *sl_status_json(sl_metrics *m)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    int64_t now = sl_now_mono_ms();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "pid", getpid());
    cJSON_AddStringToObject(o, "version", SLUICE_VERSION_STRING);
    cJSON_AddStringToObject(o, "hostname", m->owner.hostname);
    cJSON_AddNumberToObject(o, "uptime_ms", (double)(now - m->started_ms));
    cJSON_AddBoolToObject(o, "redis_up", sl_gauges_redis_up(m));
    cJSON_AddBoolToObject(o, "stopping", v->stopping);
    cJSON *pools = cJSON_AddArrayToObject(o, "pools");
    for (int k = 0; pools && k < v->npools; k++) {
        const sl_mx_pool_view *p = &v->pools[k];
        cJSON *po = cJSON_CreateObject();
        if (!po)
            break;
        cJSON_AddStringToObject(po, "name", p->name);
        cJSON_AddStringToObject(po, "queue", p->queue);
        cJSON_AddStringToObject(po, "group", p->group);
        cJSON_AddNumberToObject(po, "workers_wanted", p->want);
        cJSON_AddNumberToObject(po, "workers_live", p->live);
        cJSON_AddBoolToObject(po, "removed", p->removed);
        cJSON *ws = cJSON_AddArrayToObject(po, "workers");
        for (int i = 0; ws && i < p->nslots; i++)
            cJSON_AddItemToArray(ws, sl_status_slot(&p->slots[i], now));
        cJSON_AddItemToArray(pools, po);
    }
    cJSON_AddItemToObject(o, "groups", sl_status_groups(m, now));
    char *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return out;
}
