/* The supervisor's metrics registry: job counters summed from the workers'
 * status slots (plus the totals of exited workers, folded in at reaping),
 * per-pool restart counts, per-queue/group gauges sampled from Redis, alert
 * state, and the renderers behind /metrics, /healthz, /readyz and /status.
 *
 * A part of the supervisor that never calls into it: the owner hands it, at
 * creation, an sl_mx_owner (the loop, the hostname, the maintenance connection
 * and counters, and a read-only view of its pools and slots), and reports
 * what it counts (sl_metrics_reaped, _promoted, _timeout).
 * Private to runner/. Names are fixed by docs/metrics.md. */
#ifndef SL_RUNNER_METRICS_H
#define SL_RUNNER_METRICS_H

#include <stdint.h>

#include "common/config.h"
#include "common/worker_slot.h"
#include "runner/maint/conn.h"
#include "runner/maint/maint.h"

struct evbuffer;
struct event_base;

/** Distinct handler types a queue/group keeps counters for; more share "(other)". */
#define SL_MX_TYPES 256
/** Row of the jobs without a handler type (bad input, unknown type, full table). */
#define SL_MX_UNTYPED SL_MX_TYPES

/** Why a worker exited without being asked to (sluice_worker_restarts_total{cause}). */
typedef enum sl_mx_cause { SL_CAUSE_CRASH, SL_CAUSE_TIMEOUT, SL_CAUSE_CONFIG, SL_CAUSE_EXIT, SL_CAUSE_N } sl_mx_cause;

/** Alerts evaluated after each sample (sluice_alert{alert}). */
typedef enum sl_mx_alert { SL_ALERT_BACKLOG, SL_ALERT_OLDEST, SL_ALERT_DLQ, SL_ALERT_REDIS, SL_ALERT_N } sl_mx_alert;

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
    uint64_t limited[16]; /* jobs deferred by limit i of the config (sl_slot.limited) */
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

/** One slot of a pool, as the supervisor shows it (strings point into it). */
typedef struct sl_mx_slot_view {
    int index;
    int pid; /* the live process, 0 if none */
    const char *consumer;
    const char *phase; /* "empty", "backoff", "starting", "ready", "disabled" */
    int ready; /* phase "ready" */
    const char *queue, *group; /* of the live process ("" if none ran yet) */
    sl_slot *shm; /* its status slot, NULL if none */
} sl_mx_slot_view;

/** One pool, as the supervisor shows it. */
typedef struct sl_mx_pool_view {
    const char *name;
    const char *queue, *group; /* of its config; "" once removed */
    int want, live, removed;
    int nslots;
    const sl_mx_slot_view *slots; /* the slots that exist, by index */
} sl_mx_pool_view;

/** The supervisor's pools and slots at one moment. */
typedef struct sl_mx_view {
    int stopping, closing;
    int npools;
    const sl_mx_pool_view *pools; /* in the supervisor's order */
} sl_mx_view;

/** What the owner hands the registry. */
typedef struct sl_mx_owner {
    void *ctx;
    struct event_base *base;
    const char *hostname;
    sl_mconn *conn; /* the maintenance connection: the gauges sample over it */
    const sl_maint_stats *maint_stats; /* lease extensions */
    const sl_maint *maint; /* its schedules (sl_maint_schedules_of) */
    /** The pools and slots now (never NULL; no pools when out of memory),
     *  valid until the owner's state next changes: read it at once. */
    const sl_mx_view *(*view)(void *ctx);
} sl_mx_owner;

typedef struct sl_metrics {
    sl_mx_owner owner;
    const sl_config *cfg; /* the running config (sl_metrics_reload) */
    sl_mx_group *groups;
    sl_mx_pool *pools;
    sl_mx_queue *queues;
    int64_t started_ms; /* monotonic */
    struct event *sample_ev; /* the gauges' timer (gauges.c) */
    int64_t sample_ms; /* current period */
} sl_metrics;

/* metrics.c */
/** A registry for cfg's pools (owner is copied); sampling starts with
 *  sl_gauges_start. NULL on error. */
sl_metrics *sl_metrics_new(const sl_config *cfg, const sl_mx_owner *owner);
/** Free (after sl_maint_free: in-flight samples point into it), the gauges'
 *  timer too. NULL-safe. */
void sl_metrics_free(sl_metrics *m);
/** The config was replaced by cfg: the groups to sample. 0 or -1 (out of memory). */
int sl_metrics_reload(sl_metrics *m, const sl_config *cfg);
/** A worker of pool, started on queue/group, was reaped: fold its status slot's
 *  totals (shm, NULL if none) into its group; count the restart cause when the
 *  exit was not asked for (cause < 0: none). */
void sl_metrics_reaped(sl_metrics *m, const char *pool, const char *queue, const char *group, sl_slot *shm, int cause);
/** sluice_promote moved n entries of queue. */
void sl_metrics_promoted(sl_metrics *m, const char *queue, uint64_t n);
/** A job the supervisor settled after killing its worker for a hard timeout:
 *  counted as outcome retry, or dead with reason timeout (the worker could not). */
void sl_metrics_timeout(sl_metrics *m, const char *queue, const char *group, const char *type, int dead);
/** A cancelled job whose worker the supervisor killed after jobs.cancel_grace
 *  was settled as cancelled (sluice_jobs_cancelled_total). */
void sl_metrics_cancelled(sl_metrics *m, const char *queue, const char *group, const char *type);
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
/** Start the stats_interval sampling timer. 0 or -1. */
int sl_gauges_start(sl_metrics *m);
/** Re-arm the timer after a reload when stats_interval changed. 0 or -1. */
int sl_gauges_arm(sl_metrics *m);
/** 1 when the maintenance connection is ready. */
int sl_gauges_redis_up(const sl_metrics *m);

/* alerts.c */
/** Evaluate the alerts of g after a sample; log crossings. */
void sl_alerts_eval(sl_mx_group *g, int64_t now_ms);
const char *sl_alert_name(int a);
/**
 * A pool stuck on Redis errors: it has live workers and every one of them has
 * been in a streak of Redis errors (sl_slot.redis_error_since_mono_ms) for at
 * least `after` ms. 1 with *for_ms (the shortest streak) and *kind (that
 * worker's sl_redis_err), else 0.
 */
int sl_pool_stuck(const sl_mx_pool_view *p, int64_t now_ms, int64_t after, int64_t *for_ms, int *kind);
/** The redis_errors alert of every active group, from its pools (every
 *  sampling tick, whether Redis answers or not). */
void sl_alerts_redis_eval(sl_metrics *m, int64_t now_ms);

/* status.c */
/** /healthz body: NULL when healthy, else JSON of the reasons (caller frees). */
char *sl_status_health(sl_metrics *m);
/** /readyz body: NULL when ready, else JSON of the reasons (caller frees). */
char *sl_status_ready(sl_metrics *m);
/** /status JSON (caller frees), NULL when out of memory. */
char *sl_status_json(sl_metrics *m);

#endif
