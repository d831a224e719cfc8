/* The supervisor's periodic Redis maintenance: promote due scheduled entries,
 * extend the leases of running jobs, settle jobs killed for a hard timeout and
 * release jobs killed at a stop. Everything goes through one async connection
 * (conn.h) on the supervisor's loop: nothing here ever blocks it.
 *
 * The maintenance is a part of the supervisor and never calls into it: its
 * owner hands it, at creation, the loop, the config and an sl_maint_owner of
 * callbacks (the running jobs to extend; what became of a move and of a
 * promotion), and gives it each killed job with a copy of who ran it
 * (sl_maint_worker). Private to runner/. */
#ifndef SL_RUNNER_MAINT_H
#define SL_RUNNER_MAINT_H

#include <stdint.h>

#include "common/config.h"
#include "runner/maint/snapshot.h"

struct event_base;
struct sl_mconn;

typedef struct sl_maint sl_maint;

/** Maintenance counters (for metrics and the exit log), cumulative since start. */
typedef struct sl_maint_stats {
    uint64_t promoted; /* scheduled entries moved by sluice_promote */
    uint64_t promote_errors; /* error replies of sluice_promote */
    uint64_t extend_calls; /* sluice_extend calls answered */
    uint64_t extended; /* leases extended */
    uint64_t extend_missed; /* running job's entry no longer ours (or trimmed) */
    uint64_t timeout_retried; /* hard timeouts settled as a retry */
    uint64_t timeout_dead; /* hard timeouts dead-lettered (attempts exhausted) */
    uint64_t timeout_refused; /* settle refused: the entry was no longer the worker's */
    uint64_t timeout_unsettled; /* no answer (Redis down/slow): the respawned worker replays it */
    uint64_t released; /* jobs killed at shutdown given back without spending a delivery */
    uint64_t release_missed; /* release refused (entry gone or not ours) or unanswered */
} sl_maint_stats;

/** Who runs (or ran) a job: the worker's pool and slot (for the logs) and the
 *  keys of its jobs (queue and group it was started with, its consumer). The
 *  maintenance copies what it keeps. */
typedef struct sl_maint_worker {
    const char *pool;
    int slot;
    const char *queue, *group, *consumer;
} sl_maint_worker;

/** Called by the owner's each_running for one running job. */
typedef void (*sl_maint_job_fn)(sl_maint *m, const sl_maint_worker *w, const sl_job_snap *snap);

/** What the owner hands the maintenance; every callback gets ctx. */
typedef struct sl_maint_owner {
    void *ctx;
    /** Call fn(m, ...) for every live worker running a job now that is not
     *  being killed (for the lease extension). */
    void (*each_running)(void *ctx, sl_maint_job_fn fn, sl_maint *m);
    /** The move of a killed job that sl_maint_settle_timeout or sl_maint_release
     *  accepted for token has ended (answered, refused or unanswered): the
     *  owner drops the hold it took. Called once per accepted move. */
    void (*moved)(void *ctx, void *token);
    /** sluice_promote moved n entries of queue (n may be 0). */
    void (*promoted)(void *ctx, const char *queue, uint64_t n);
    /** A timed-out job was settled: a retry, or dead with reason timeout. */
    void (*timed_out)(void *ctx, const char *queue, const char *group, const char *type, int dead);
    /** The running job seq of slot `slot` of pool `pool` is in its queue's
     *  cancel set (sluice jobs cancel): tell it to stop, and kill its worker
     *  after jobs.cancel_grace. May come more than once for one job. */
    void (*cancel_seen)(void *ctx, const char *pool, int slot, uint64_t seq);
    /** A cancelled job whose worker was killed was settled as cancelled. */
    void (*cancel_settled)(void *ctx, const char *queue, const char *group, const char *type);
} sl_maint_owner;

/** Start maintenance on base for cfg (kept until sl_maint_reload gives the
 *  next one); owner is copied. Connects at once.
 *  @return NULL on out of memory or a bad redis.url (logged). */
sl_maint *sl_maint_new(struct event_base *base, const sl_config *cfg, const sl_maint_owner *owner);

/** Stop: in-flight moves end with "no reply" (owner->moved runs for each). NULL-safe. */
void sl_maint_free(sl_maint *m);

/** The config was replaced (SIGHUP) by cfg: new queues, intervals and redis.* settings. */
void sl_maint_reload(sl_maint *m, const sl_config *cfg);

/** The counters so far. */
const sl_maint_stats *sl_maint_stats_of(const sl_maint *m);

/** The cancels of queue (all its partitions) that ended in sluice_cancel
 *  itself, as last read from Redis: scheduled jobs removed, unread entries
 *  deleted (no worker counts them). */
void sl_maint_cancels_removed(const sl_maint *m, const char *queue, uint64_t *scheduled, uint64_t *queued);

/** The schedules run so far (schedules.h), for metrics. */
const struct sl_mschedule *sl_maint_schedules_of(const sl_maint *m);

/** The maintenance connection (the gauges sample over it). */
struct sl_mconn *sl_maint_conn(const sl_maint *m);

/**
 * The watchdog SIGKILLed w's worker for a hard timeout; snap is the job it ran,
 * read before the kill. Counts the attempt with sluice_settle: a retry after
 * the handler's backoff while attempts are left, else a dead letter with
 * reason "timeout". m NULL: nothing (the new worker replays it).
 * @return 0 when the move is in flight: the owner holds the slot (no respawn)
 *         until owner->moved(token), which comes when Redis answers or
 *         redis.command_timeout passes; -1 when nothing was sent.
 */
int sl_maint_settle_timeout(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap,
                            int64_t elapsed_ms);

/**
 * w's worker was SIGKILLed at a stop while running snap's job: give the entry
 * back with sluice_release (no delivery spent). Returns like a settle, and the
 * owner holds the slot the same way, so the supervisor waits for the answer
 * (bounded by redis.command_timeout) before it exits.
 */
int sl_maint_release(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap);

/**
 * The supervisor killed w's worker after jobs.cancel_grace: its running job
 * snap was cancelled. Settles it as cancelled (sluice_cancel_settle, outcome
 * "killed"), never as a retry. Returns and holds like sl_maint_settle_timeout.
 */
int sl_maint_settle_cancelled(sl_maint *m, const sl_maint_worker *w, void *token, const sl_job_snap *snap);

/**
 * w's slot is removed for good (a scale-down or a removed pool, not a supervisor
 * stop): delete its consumer from its group on the work and the retry stream
 * with sluice_delconsumer, which keeps a consumer that still holds pending
 * entries (their lease lapses and another consumer reclaims them). Queued on
 * the maintenance connection; the outcome is logged. m NULL: nothing.
 */
void sl_maint_forget_consumer(sl_maint *m, const sl_maint_worker *w);

#endif
