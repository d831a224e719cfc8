/* /metrics: the registry rendered in the Prometheus text format 0.0.4, one
 * family at a time (# HELP, # TYPE, then its samples). Names and labels are
 * the contract of docs/metrics.md and docs/operations.md: change neither. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "runner/http/metrics.h"
#include "runner/maint/schedules.h"
#include "sluice/version.h"

static const char *const sl_outcome_names[SL_OUT_N] = {"ok", "retry", "unwritten", "dead", "skipped", "cancelled"};
static const char *const sl_reason_names[SL_REASON_N] = {
#define X(r) #r,
    SL_SLOT_REASONS
#undef X
};
static const char *const sl_cause_names[SL_CAUSE_N] = {"crash", "timeout", "config", "exit"};
static const char *const sl_state_names[] = {"starting", "idle", "running", "stopping"};

/* A label value with \, " and newline escaped (names are restricted, but a
 * type name comes from a plugin). */
static const char *sl_esc(const char *s, char *buf, size_t n)
{
    size_t j = 0;
    for (; *s && j + 3 < n; s++) {
        if (*s == '\\' || *s == '"') {
            buf[j++] = '\\';
            buf[j++] = *s;
        } else if (*s == '\n') {
            buf[j++] = '\\';
            buf[j++] = 'n';
        } else {
            buf[j++] = *s;
        }
    }
    buf[j] = '\0';
    return buf;
}

static void sl_fam(struct evbuffer *o, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A histogram family: cumulative buckets, sum (seconds) and count per group. */
static void sl_hist(struct evbuffer *o, sl_metrics *m, sl_mx_counts **tot, int wait)
{
    static const int64_t bounds[SL_SLOT_NBUCKETS] = SL_SLOT_BUCKETS_US;
    const char *name = wait ? "sluice_job_wait_seconds" : "sluice_job_duration_seconds";
    sl_fam(o, name, "histogram",
           wait ? "Time from a job's enqueued_at to its handler start (jobs with enqueued_at only)."
                : "Handler run time of jobs.");
    int i = 0;
    for (sl_mx_group *g = m->groups; g; g = g->next, i++) {
        const uint64_t *cnt = wait ? tot[i]->wait : tot[i]->dur;
        uint64_t sum_us = wait ? tot[i]->wait_sum_us : tot[i]->dur_sum_us, acc = 0;
        for (int b = 0; b < SL_SLOT_NBUCKETS; b++) {
            acc += cnt[b];
            evbuffer_add_printf(o, "%s_bucket{queue=\"%s\",group=\"%s\",le=\"%g\"} %llu\n", name, g->queue, g->group,
                                (double)bounds[b] / 1e6, (unsigned long long)acc);
        }
        acc += cnt[SL_SLOT_NBUCKETS];
        evbuffer_add_printf(o, "%s_bucket{queue=\"%s\",group=\"%s\",le=\"+Inf\"} %llu\n", name, g->queue, g->group,
                            (unsigned long long)acc);
        evbuffer_add_printf(o, "%s_sum{queue=\"%s\",group=\"%s\"} %.6f\n", name, g->queue, g->group,
                            (double)sum_us / 1e6);
        evbuffer_add_printf(o, "%s_count{queue=\"%s\",group=\"%s\"} %llu\n", name, g->queue, g->group,
                            (unsigned long long)acc);
    }
}

static void sl_jobs(struct evbuffer *o, sl_metrics *m, sl_mx_counts **tot)
{
    char t[2 * SL_SLOT_TYPE_LEN];
    int i = 0;
    sl_fam(o, "sluice_jobs_total", "counter",
           "Jobs by final outcome of their run: ok, retry, unwritten, dead, skipped.");
    for (sl_mx_group *g = m->groups; g; g = g->next, i++) {
        const sl_mx_counts *c = tot[i];
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): sl_metrics_render sets tot[i] for each group
        for (int r = 0; r <= c->ntypes; r++) {
            int row = r < c->ntypes ? r : SL_MX_UNTYPED;
            if (row == SL_MX_UNTYPED) {
                uint64_t any = 0;
                for (int k = 0; k < SL_OUT_N; k++)
                    any |= c->outcome[row][k];
                if (!any)
                    continue;
            }
            const char *type = row == SL_MX_UNTYPED ? "(none)" : sl_esc(c->type[row], t, sizeof t);
            for (int k = 0; k < SL_OUT_CANCELLED; k++) /* cancelled jobs have a family of their own */
                evbuffer_add_printf(o, "sluice_jobs_total{queue=\"%s\",group=\"%s\",type=\"%s\",outcome=\"%s\"} %llu\n",
                                    g->queue, g->group, type, sl_outcome_names[k],
                                    (unsigned long long)c->outcome[row][k]);
        }
    }
    sl_fam(o, "sluice_jobs_cancelled_total", "counter",
           "Jobs cancelled (sluice jobs cancel) when a worker came to them: skipped before they ran, stopped, or "
           "killed after jobs.cancel_grace.");
    i = 0;
    for (sl_mx_group *g = m->groups; g; g = g->next, i++) {
        const sl_mx_counts *c = tot[i];
        for (int r = 0; r <= c->ntypes; r++) {
            int row = r < c->ntypes ? r : SL_MX_UNTYPED;
            if (row == SL_MX_UNTYPED && !c->outcome[row][SL_OUT_CANCELLED])
                continue;
            evbuffer_add_printf(o, "sluice_jobs_cancelled_total{queue=\"%s\",group=\"%s\",type=\"%s\"} %llu\n",
                                g->queue, g->group, row == SL_MX_UNTYPED ? "(none)" : sl_esc(c->type[row], t, sizeof t),
                                (unsigned long long)c->outcome[row][SL_OUT_CANCELLED]);
        }
    }
    sl_fam(o, "sluice_dead_letters_total", "counter", "Jobs moved to a dead-letter stream, by reason.");
    i = 0;
    for (sl_mx_group *g = m->groups; g; g = g->next, i++)
        for (int r = 0; r < SL_REASON_N; r++)
            evbuffer_add_printf(o, "sluice_dead_letters_total{queue=\"%s\",group=\"%s\",reason=\"%s\"} %llu\n",
                                g->queue, g->group, sl_reason_names[r], (unsigned long long)tot[i]->dead[r]);
}

/* One per-group counter family from a field of the totals. */
static void sl_group_counter(struct evbuffer *o, sl_metrics *m, sl_mx_counts **tot, const char *name, const char *help,
                             size_t off)
{
    int i = 0;
    sl_fam(o, name, "counter", help);
    for (sl_mx_group *g = m->groups; g; g = g->next, i++)
        evbuffer_add_printf(o, "%s{queue=\"%s\",group=\"%s\"} %llu\n", name, g->queue, g->group,
                            // NOLINTNEXTLINE(clang-analyzer-core.NullDereference): tot[i] is set for each group
                            (unsigned long long)*(const uint64_t *)((const char *)tot[i] + off));
}

/* The schedules this supervisor runs: its own calls' outcomes, the lateness
 * of the last tick it enqueued, and the next tick (docs/scheduling.md). */
static void sl_schedules(struct evbuffer *o, const sl_metrics *m)
{
    const sl_mschedule *list = sl_maint_schedules_of(m->owner.maint); /* families even when empty */
    sl_fam(o, "sluice_schedule_ticks_total", "counter",
           "Ticks of a schedule by what this supervisor's call did: enqueued, duplicate (another supervisor did), "
           "paused, missed (skipped by the missed policy), missed_enqueued.");
    for (const sl_mschedule *e = list; e; e = e->next) {
        const struct {
            const char *name;
            uint64_t n;
        } rows[] = {{"enqueued", e->enqueued - e->missed_enqueued},
                    {"missed_enqueued", e->missed_enqueued},
                    {"duplicate", e->duplicates},
                    {"paused", e->paused_ticks},
                    {"missed", e->missed_skipped}};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
            evbuffer_add_printf(o, "sluice_schedule_ticks_total{schedule=\"%s\",queue=\"%s\",outcome=\"%s\"} %llu\n",
                                e->name, e->queue, rows[i].name, (unsigned long long)rows[i].n);
    }
    sl_fam(o, "sluice_schedule_errors_total", "counter", "Failed calls of a schedule (retried).");
    for (const sl_mschedule *e = list; e; e = e->next)
        evbuffer_add_printf(o, "sluice_schedule_errors_total{schedule=\"%s\",queue=\"%s\"} %llu\n", e->name, e->queue,
                            (unsigned long long)e->errors);
    sl_fam(o, "sluice_schedule_lag_seconds", "gauge",
           "Redis time minus the tick when this supervisor last enqueued a tick of the schedule.");
    for (const sl_mschedule *e = list; e; e = e->next)
        if (e->enqueued > 0)
            evbuffer_add_printf(o, "sluice_schedule_lag_seconds{schedule=\"%s\",queue=\"%s\"} %.3f\n", e->name,
                                e->queue, (double)e->lag_ms / 1000.0);
    sl_fam(o, "sluice_schedule_next_tick_timestamp_seconds", "gauge",
           "The schedule's next tick not yet handled (Unix time); in the past means it is overdue.");
    for (const sl_mschedule *e = list; e; e = e->next)
        if (e->active && e->started && e->next_tick >= 0)
            evbuffer_add_printf(o, "sluice_schedule_next_tick_timestamp_seconds{schedule=\"%s\",queue=\"%s\"} %.3f\n",
                                e->name, e->queue, (double)e->next_tick / 1000.0);
    sl_fam(o, "sluice_schedule_last_tick_timestamp_seconds", "gauge",
           "The latest tick of the schedule this supervisor saw handled, by it or a peer (Unix time).");
    for (const sl_mschedule *e = list; e; e = e->next)
        if (e->last_tick > 0)
            evbuffer_add_printf(o, "sluice_schedule_last_tick_timestamp_seconds{schedule=\"%s\",queue=\"%s\"} %.3f\n",
                                e->name, e->queue, (double)e->last_tick / 1000.0);
}

static const sl_mx_pool_view *sl_live_pool(const sl_mx_view *v, const char *name)
{
    for (int p = 0; p < v->npools; p++)
        if (strcmp(v->pools[p].name, name) == 0 && !v->pools[p].removed)
            return &v->pools[p];
    return NULL;
}

static void sl_workers(struct evbuffer *o, sl_metrics *m)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    sl_fam(o, "sluice_jobs_in_flight", "gauge", "Jobs whose handler is running now.");
    for (sl_mx_pool *mp = m->pools; mp; mp = mp->next) {
        const sl_mx_pool_view *p = sl_live_pool(v, mp->name);
        int n = 0;
        for (int i = 0; p && i < p->nslots; i++)
            if (p->slots[i].pid && p->slots[i].shm &&
                atomic_load_explicit(&p->slots[i].shm->state, memory_order_relaxed) == SL_SLOT_RUNNING)
                n++;
        evbuffer_add_printf(o, "sluice_jobs_in_flight{pool=\"%s\"} %d\n", mp->name, n);
    }
    sl_fam(o, "sluice_workers", "gauge", "Live worker processes by state.");
    for (sl_mx_pool *mp = m->pools; mp; mp = mp->next) {
        const sl_mx_pool_view *p = sl_live_pool(v, mp->name);
        int n[4] = {0};
        for (int i = 0; p && i < p->nslots; i++) {
            const sl_mx_slot_view *s = &p->slots[i];
            if (!s->pid)
                continue;
            int st = s->shm ? atomic_load_explicit(&s->shm->state, memory_order_relaxed) : SL_SLOT_STARTING;
            n[st >= 0 && st < 4 ? st : 0]++;
        }
        for (int k = 0; k < 4; k++)
            evbuffer_add_printf(o, "sluice_workers{pool=\"%s\",state=\"%s\"} %d\n", mp->name, sl_state_names[k], n[k]);
    }
    sl_fam(o, "sluice_worker_restarts_total", "counter",
           "Worker exits nobody asked for, by cause: crash, timeout (hard timeout kill), config (exit 78), exit.");
    for (sl_mx_pool *mp = m->pools; mp; mp = mp->next)
        for (int k = 0; k < SL_CAUSE_N; k++)
            evbuffer_add_printf(o, "sluice_worker_restarts_total{pool=\"%s\",cause=\"%s\"} %llu\n", mp->name,
                                sl_cause_names[k], (unsigned long long)mp->restarts[k]);
}

/* Per-queue gauges come from any sampled group of the queue (same stream). */
static void sl_queue_gauge(struct evbuffer *o, sl_metrics *m, const char *name, const char *help, int sched)
{
    sl_fam(o, name, "gauge", help);
    for (sl_mx_group *g = m->groups; g; g = g->next) {
        if (!g->sampled || !g->active)
            continue;
        int seen = 0;
        for (sl_mx_group *h = m->groups; h != g; h = h->next)
            seen |= h->sampled && h->active && strcmp(h->queue, g->queue) == 0;
        if (!seen)
            evbuffer_add_printf(o, "%s{queue=\"%s\"} %lld\n", name, g->queue, (long long)(sched ? g->sched : g->xlen));
    }
}

static void sl_gauges(struct evbuffer *o, sl_metrics *m)
{
    static const struct {
        const char *name, *help;
        size_t off;
        int secs;
    } fams[] = {
        {"sluice_group_pending", "Entries delivered to the group and not acknowledged (work + retry stream).",
         offsetof(sl_mx_group, pending), 0},
        {"sluice_group_lag", "Entries not yet delivered to the group (work + retry stream).",
         offsetof(sl_mx_group, lag), 0},
        {"sluice_group_oldest_pending_seconds", "Age of the group's oldest pending entry (Redis time).",
         offsetof(sl_mx_group, oldest_age_ms), 1},
        {"sluice_dlq_length", "Length of the group's dead-letter stream.", offsetof(sl_mx_group, dlq), 0},
    };
    sl_queue_gauge(o, m, "sluice_stream_length", "Length of the queue's work stream (XLEN).", 0);
    sl_queue_gauge(o, m, "sluice_scheduled", "Scheduled entries of the queue: retries and delayed jobs.", 1);
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        sl_fam(o, fams[f].name, "gauge", fams[f].help);
        for (sl_mx_group *g = m->groups; g; g = g->next) {
            if (!g->sampled || !g->active)
                continue;
            int64_t v = *(const int64_t *)((const char *)g + fams[f].off);
            if (fams[f].secs)
                evbuffer_add_printf(o, "%s{queue=\"%s\",group=\"%s\"} %.3f\n", fams[f].name, g->queue, g->group,
                                    (double)v / 1000.0);
            else
                evbuffer_add_printf(o, "%s{queue=\"%s\",group=\"%s\"} %lld\n", fams[f].name, g->queue, g->group,
                                    (long long)v);
        }
    }
    sl_fam(o, "sluice_alert", "gauge", "1 while an alert threshold of the group is crossed (alerts.* in the config).");
    for (sl_mx_group *g = m->groups; g; g = g->next)
        for (int a = 0; g->active && a < SL_ALERT_N; a++)
            evbuffer_add_printf(o, "sluice_alert{queue=\"%s\",group=\"%s\",alert=\"%s\"} %d\n", g->queue, g->group,
                                sl_alert_name(a), g->alert[a]);
}

int sl_metrics_render(sl_metrics *m, struct evbuffer *o)
{
    int n = 0, rc = -1;
    for (sl_mx_group *g = m->groups; g; g = g->next)
        n++;
    sl_mx_counts **tot = calloc((size_t)n + 1, sizeof *tot); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!tot)
        return -1;
    int i = 0;
    for (sl_mx_group *g = m->groups; g; g = g->next, i++) {
        if (!(tot[i] = malloc(sizeof **tot)))
            goto done;
        sl_metrics_total(m, g, tot[i]);
    }
    sl_fam(o, "sluice_build_info", "gauge", "Always 1; the version label tells the running sluice version.");
    evbuffer_add_printf(o, "sluice_build_info{version=\"%s\"} 1\n", SLUICE_VERSION_STRING);
    sl_fam(o, "sluice_redis_up", "gauge", "1 while the supervisor's Redis connection is ready.");
    evbuffer_add_printf(o, "sluice_redis_up %d\n", sl_gauges_redis_up(m));
    sl_jobs(o, m, tot);
    sl_hist(o, m, tot, 0);
    sl_hist(o, m, tot, 1);
    sl_workers(o, m);
    sl_group_counter(o, m, tot, "sluice_reclaimed_total", "Entries taken over from idle consumers (XAUTOCLAIM).",
                     offsetof(sl_mx_counts, reclaimed));
    sl_group_counter(o, m, tot, "sluice_reclaim_deleted_total",
                     "Entries XAUTOCLAIM found deleted while pending (dead-lettered as trimmed).",
                     offsetof(sl_mx_counts, reclaim_deleted));
    sl_group_counter(o, m, tot, "sluice_late_results_total",
                     "Acks and moves refused because the entry was no longer the worker's.",
                     offsetof(sl_mx_counts, late));
    sl_group_counter(o, m, tot, "sluice_registry_deferrals_total",
                     "Jobs left pending because the schema registry could not be read (retried after a backoff).",
                     offsetof(sl_mx_counts, registry_deferred));
    sl_fam(o, "sluice_jobs_limited_total", "counter",
           "Jobs deferred by a rate or concurrency limit (docs/limits.md): back in the queue's schedule, no attempt "
           "spent.");
    i = 0;
    for (sl_mx_group *g = m->groups; g; g = g->next, i++)
        for (size_t l = 0; m->cfg && l < m->cfg->nlimits && l < 16; l++)
            evbuffer_add_printf(o, "sluice_jobs_limited_total{queue=\"%s\",group=\"%s\",limit=\"%s\"} %llu\n", g->queue,
                                g->group, m->cfg->limits[l].name, (unsigned long long)tot[i]->limited[l]);
    sl_fam(o, "sluice_lease_extensions_total", "counter", "Leases of running jobs extended by the supervisor.");
    evbuffer_add_printf(o, "sluice_lease_extensions_total %llu\n", (unsigned long long)m->owner.maint_stats->extended);
    sl_fam(o, "sluice_promoted_total", "counter", "Scheduled entries (retries, delayed jobs) moved back when due.");
    for (sl_mx_queue *q = m->queues; q; q = q->next)
        evbuffer_add_printf(o, "sluice_promoted_total{queue=\"%s\"} %llu\n", q->name, (unsigned long long)q->promoted);
    sl_fam(o, "sluice_cancels_removed_total", "counter",
           "Cancelled jobs no worker saw: scheduled jobs the cancel removed and unread entries it deleted (counted in "
           "Redis: every supervisor of the queue shows the same value).");
    for (sl_mx_queue *q = m->queues; q; q = q->next) {
        uint64_t sch, que;
        sl_maint_cancels_removed(m->owner.maint, q->name, &sch, &que);
        evbuffer_add_printf(o, "sluice_cancels_removed_total{queue=\"%s\",state=\"scheduled\"} %llu\n", q->name,
                            (unsigned long long)sch);
        evbuffer_add_printf(o, "sluice_cancels_removed_total{queue=\"%s\",state=\"queued\"} %llu\n", q->name,
                            (unsigned long long)que);
    }
    sl_schedules(o, m);
    sl_gauges(o, m);
    rc = 0;
done:
    for (i = 0; i < n; i++)
        free(tot[i]);
    free(tot);
    return rc;
}
