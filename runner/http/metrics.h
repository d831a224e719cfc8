/* The supervisor's metrics registry: job counters summed from the workers'
 * status slots (plus the totals of exited workers, folded in at reaping),
 * per-pool restart counts, per-queue/group gauges sampled from Redis, alert
 * state, and the renderers behind /metrics, /healthz, /readyz and /status.
 * Private to runner/. Names are fixed by docs/metrics.md. */
#ifndef SL_RUNNER_METRICS_H
#define SL_RUNNER_METRICS_H

#include <stdint.h>

#include "runner/supervisor.h"

struct evbuffer;

/** Distinct handler types a queue/group keeps counters for; more share "(other)". */
#define SL_MX_TYPES 256
/** Row of the jobs without a handler type (bad input, unknown type, full table). */
#define SL_MX_UNTYPED SL_MX_TYPES

/** Why a worker exited without being asked to (sluice_worker_restarts_total{cause}). */
typedef enum sl_mx_cause { SL_CAUSE_CRASH, SL_CAUSE_TIMEOUT, SL_CAUSE_CONFIG, SL_CAUSE_EXIT, SL_CAUSE_N } sl_mx_cause;

/** Alerts evaluated after each sample (sluice_alert{alert}). */
typedef enum sl_mx_alert { SL_ALERT_BACKLOG, SL_ALERT_OLDEST, SL_ALERT_DLQ, SL_ALERT_N } sl_mx_alert;

/** Summable job counters of one queue/group. */
typedef struct sl_mx_counts {
    int ntypes;
    char type[SL_MX_TYPES][SL_SLOT_TYPE_LEN];
    uint64_t outcome[SL_MX_TYPES + 1][SL_OUT_N];
    uint64_t dead[SL_REASON_N];
    uint64_t dur[SL_SLOT_NBUCKETS + 1], dur_sum_us;
    uint64_t wait[SL_SLOT_NBUCKETS + 1], wait_sum_us;
    uint64_t late, reclaimed, reclaim_deleted;
    uint64_t registry_deferred; /* jobs deferred: the schema registry could not be read */
} sl_mx_counts;

/** One in-flight Redis command of a group's sample round. */
typedef struct sl_mx_req {
    struct sl_mx_group *g;
    int kind;
} sl_mx_req;

#define SL_MX_NREQ 9
#define SL_MX_DLQ_HIST 128

/** A queue/group: counters of exited workers, last sample, health and alerts. */
typedef struct sl_mx_group {
    struct sl_mx_group *next;
    struct sl_metrics *m;
    char queue[128], group[128];
    sl_mx_counts *acc; /* totals of exited workers */
    int active; /* in the running config (sampled) */
    int start_all; /* its pools start the group at "0": a missing group lags by XLEN */
    /* the round in flight */
    sl_mx_req req[SL_MX_NREQ];
    int outstanding, round_failed;
    int64_t r_xlen, r_sched, r_dlq, r_time_ms, r_oldest_ms;
    int64_t r_pending, r_lag, r_read, r_rpending, r_rlag, r_rread;
    int r_group_exists;
    /* the last complete sample */
    int sampled;
    int64_t sampled_ms; /* monotonic */
    int64_t xlen, sched, pending, lag, dlq, oldest_age_ms, consumed;
    int64_t progress_ms; /* last time consumed changed or the backlog was empty */
    /* alerts */
    int alert[SL_ALERT_N];
    int dlq_n, dlq_head; /* ring of (time, dlq length) samples */
    int64_t dlq_t[SL_MX_DLQ_HIST], dlq_v[SL_MX_DLQ_HIST];
} sl_mx_group;

typedef struct sl_mx_pool {
    struct sl_mx_pool *next;
    char name[128];
    uint64_t restarts[SL_CAUSE_N];
} sl_mx_pool;

typedef struct sl_mx_queue {
    struct sl_mx_queue *next;
    char name[128];
    uint64_t promoted;
} sl_mx_queue;

typedef struct sl_metrics {
    sl_sup *sup;
    sl_mx_group *groups;
    sl_mx_pool *pools;
    sl_mx_queue *queues;
    int64_t started_ms; /* monotonic */
    struct event *sample_ev;
    int64_t sample_ms; /* current period */
} sl_metrics;

/* metrics.c */
/** A registry for sup; starts the stats_interval sampling timer. NULL on error. */
sl_metrics *sl_metrics_new(sl_sup *sup);
/** Free (after sl_maint_free: in-flight samples point into it). NULL-safe. */
void sl_metrics_free(sl_metrics *m);
/** The config changed: groups to sample, the interval. */
void sl_metrics_reload(sl_metrics *m);
/** s's worker was reaped: fold its slot totals into its group; count the
 *  restart cause when the exit was not asked for (cause < 0: none). */
void sl_metrics_reaped(sl_metrics *m, const sl_pool_slot *s, int cause);
/** sluice_promote moved n entries of queue. */
void sl_metrics_promoted(sl_metrics *m, const char *queue, uint64_t n);
/** A job the supervisor settled after killing its worker for a hard timeout:
 *  counted as outcome retry, or dead with reason timeout (the worker could not). */
void sl_metrics_timeout(sl_metrics *m, const char *queue, const char *group, const char *type, int dead);
/** The group record of queue/group, created on demand (NULL: out of memory). */
sl_mx_group *sl_metrics_group(sl_metrics *m, const char *queue, const char *group);
/** Totals of a group now: exited workers plus every live slot. */
void sl_metrics_total(sl_metrics *m, const sl_mx_group *g, sl_mx_counts *out);
/** Add a status slot's counters into c. */
void sl_mx_add_slot(sl_mx_counts *c, sl_slot *sh);
/** Sum of a counts' outcome column over all types. */
uint64_t sl_mx_sum(const sl_mx_counts *c, int outcome);

/* metrics_text.c */
/** /metrics: Prometheus text format 0.0.4. 0 or -1 (out of memory). */
int sl_metrics_render(sl_metrics *m, struct evbuffer *out);

/* gauges.c */
/** Start one sample round for every active group (skips busy ones). */
void sl_gauges_sample(sl_metrics *m);
/** 1 when the maintenance connection is ready. */
int sl_gauges_redis_up(const sl_sup *sup);

/* alerts.c */
/** Evaluate the alerts of g after a sample; log crossings. */
void sl_alerts_eval(sl_mx_group *g, int64_t now_ms);
const char *sl_alert_name(int a);

/* status.c */
/** /healthz body: NULL when healthy, else JSON of the reasons (caller frees). */
char *sl_status_health(sl_metrics *m);
/** /readyz body: NULL when ready, else JSON of the reasons (caller frees). */
char *sl_status_ready(sl_metrics *m);
/** /status JSON (caller frees), NULL when out of memory. */
char *sl_status_json(sl_metrics *m);

#endif
