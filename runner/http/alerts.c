/* Alert thresholds (alerts.* in the config), evaluated after every sample of
 * a group: backlog (lag + pending), oldest pending age, and DLQ growth within
 * alerts.window. A crossing logs one "alert raised" warning, the way back one
 * "alert cleared" line; sluice_alert{alert} follows the state (0/1). */
#include <stdatomic.h>
#include <string.h>

#include "common/log.h"
#include "runner/http/metrics.h"

const char *sl_alert_name(int a)
{
    static const char *const names[SL_ALERT_N] = {"backlog", "oldest_pending", "dlq_growth", "redis_errors"};
    return a >= 0 && a < SL_ALERT_N ? names[a] : "?";
}

/* Remember (now, dlq length); return the growth since the oldest sample
 * still inside the window (never negative: a purge is not growth). */
static int64_t sl_alerts_dlq_growth(sl_mx_group *g, int64_t now, int64_t window)
{
    g->dlq_t[g->dlq_head] = now;
    g->dlq_v[g->dlq_head] = g->dlq;
    g->dlq_head = (g->dlq_head + 1) % SL_MX_DLQ_HIST;
    if (g->dlq_n < SL_MX_DLQ_HIST)
        g->dlq_n++;
    int64_t base = g->dlq;
    for (int k = 0; k < g->dlq_n; k++) {
        int i = (g->dlq_head - 1 - k + 2 * SL_MX_DLQ_HIST) % SL_MX_DLQ_HIST;
        if (now - g->dlq_t[i] > window)
            break;
        base = g->dlq_v[i];
    }
    return g->dlq > base ? g->dlq - base : 0;
}

static void sl_alerts_set(sl_mx_group *g, int a, int on, int64_t value, int64_t threshold, const char *unit)
{
    if (on == g->alert[a])
        return;
    g->alert[a] = on;
    SL_LOG(on ? SL_WARN : SL_INFO, on ? "alert raised" : "alert cleared", SL_S("queue", g->queue),
           SL_S("group", g->group), SL_S("alert", sl_alert_name(a)), SL_I("value", value), SL_I("threshold", threshold),
           SL_S("unit", unit));
}

void sl_alerts_eval(sl_mx_group *g, int64_t now)
{
    const sl_config *cfg = g->m->cfg;
    int64_t backlog = g->lag + g->pending;
    int64_t window = cfg->alert_window_ms > 0 ? cfg->alert_window_ms : 300000;
    int64_t growth = sl_alerts_dlq_growth(g, now, window);
    sl_alerts_set(g, SL_ALERT_BACKLOG, cfg->alert_backlog > 0 && backlog > cfg->alert_backlog, backlog,
                  cfg->alert_backlog, "entries");
    sl_alerts_set(g, SL_ALERT_OLDEST,
                  cfg->alert_oldest_pending_ms > 0 && g->oldest_age_ms > cfg->alert_oldest_pending_ms, g->oldest_age_ms,
                  cfg->alert_oldest_pending_ms, "ms");
    sl_alerts_set(g, SL_ALERT_DLQ, cfg->alert_dlq_growth > 0 && growth > cfg->alert_dlq_growth, growth,
                  cfg->alert_dlq_growth, "entries");
}

int sl_pool_stuck(const sl_mx_pool_view *p, int64_t now_ms, int64_t after, int64_t *for_ms, int *kind)
{
    int live = 0;
    int64_t shortest = INT64_MAX;
    for (int i = 0; i < p->nslots; i++) {
        const sl_mx_slot_view *s = &p->slots[i];
        if (!s->pid || !s->shm || s->shm->version < 5)
            continue;
        live++;
        int64_t since = atomic_load_explicit(&s->shm->redis_error_since_mono_ms, memory_order_relaxed);
        if (since == 0 || now_ms - since < after)
            return 0;
        if (now_ms - since < shortest) {
            shortest = now_ms - since;
            *kind = atomic_load_explicit(&s->shm->redis_error_kind, memory_order_relaxed);
        }
    }
    if (live == 0)
        return 0;
    *for_ms = shortest;
    return 1;
}

void sl_alerts_redis_eval(sl_metrics *m, int64_t now_ms)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    int64_t after = m->cfg->redis_error_after_ms;
    for (sl_mx_group *g = m->groups; g; g = g->next) {
        if (!g->active)
            continue;
        int stuck = 0, kind = 0;
        int64_t for_ms = 0;
        for (int k = 0; k < v->npools && !stuck; k++) {
            const sl_mx_pool_view *p = &v->pools[k];
            if (!p->removed && strcmp(p->queue, g->queue) == 0 && strcmp(p->group, g->group) == 0)
                stuck = sl_pool_stuck(p, now_ms, after, &for_ms, &kind);
        }
        if (stuck != g->alert[SL_ALERT_REDIS] && stuck)
            SL_LOG(SL_WARN, "pool stuck on redis errors", SL_S("queue", g->queue), SL_S("group", g->group),
                   SL_S("error", sl_redis_err_name(kind)), SL_I("for_ms", for_ms));
        sl_alerts_set(g, SL_ALERT_REDIS, stuck, for_ms, after, "ms");
    }
}
