/* Alert thresholds (alerts.* in the config), evaluated after every sample of
 * a group: backlog (lag + pending), oldest pending age, and DLQ growth within
 * alerts.window. A crossing logs one "alert raised" warning, the way back one
 * "alert cleared" line; sluice_alert{alert} follows the state (0/1). */
#include "common/log.h"
#include "runner/http/metrics.h"

const char *sl_alert_name(int a)
{
    static const char *const names[SL_ALERT_N] = {"backlog", "oldest_pending", "dlq_growth"};
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
