/* Internals shared by maint.c (promoter, leases) and jobs.c (settle and
 * release of killed jobs). Not for the rest of runner/: use maint.h. */
#ifndef SL_RUNNER_MAINT_INT_H
#define SL_RUNNER_MAINT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "runner/maint/conn.h"
#include "runner/maint/maint.h"

struct event;

/** A queue the promoter serves. Never freed before the maint (a call in flight
 *  points at it); a reload only clears `active`. */
typedef struct sl_maint_queue {
    struct sl_maint_queue *next;
    struct sl_maint *m;
    char name[128]; /* the queue, or one partition of it (Q#i) */
    char queue[128]; /* the queue (what the owner is told of) */
    char sched[256]; /* sluice:{Q}:sched, Q: name */
    char cancels[256]; /* sluice:{Q}:cancels */
    uint64_t removed_scheduled, removed_queued; /* sluice:{Q}:cancels:removed, as last read */
    int active; /* in the current config */
    int inflight; /* a sluice_promote is outstanding: skip ticks */
    int failing; /* last call failed (logged once until it works again) */
} sl_maint_queue;

struct sl_maint {
    struct event_base *base;
    const sl_config *cfg; /* the running config (sl_maint_reload) */
    sl_maint_owner owner;
    sl_maint_stats stats;
    sl_mconn *conn;
    struct event *promote_ev, *lease_ev;
    struct event *cancel_ev; /* cancel.c: running jobs against the cancel sets */
    unsigned cancel_ticks;
    int64_t promote_ms, lease_tick_ms; /* current timer periods */
    sl_maint_queue *queues;
    int extend_inflight; /* sluice_extend calls of the last round unanswered */
    struct sl_maint_trim *trim; /* retention (trim.h) */
    struct sl_maint_schedules *schedules; /* cron and periodic jobs (schedules.h) */
};

/** Start the cancel watch (cancel.c): every SL_MAINT_CANCEL_MS, each running
 *  job is looked up in its queue's cancel set; every few seconds each queue's
 *  set is swept (sluice_cancel_sweep). 0 or -1. */
int sl_maint_cancel_start(struct sl_maint *m);

/** The partition a worker's running job came from: its queue Q, or Q#i when
 *  the worker published partition i (a partitioned queue), into part
 *  (SL_PARTITION_NAME_MAX bytes). 0 or -1. */
int sl_maint_job_part(const sl_maint_worker *w, const sl_job_snap *snap, char *part, size_t n);

/** The stream a worker's running job is pending in: sluice:{P}:r:G when it came
 *  from the retry stream, else sluice:{P}, P its partition (sl_maint_job_part;
 *  group of the process). 0 or -1. */
int sl_maint_job_stream(const sl_maint_worker *w, const sl_job_snap *snap, char *buf, size_t n);

#endif
