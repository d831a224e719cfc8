/* The supervisor's periodic Redis maintenance: promote due scheduled entries,
 * extend the leases of running jobs, settle jobs killed for a hard timeout and
 * release jobs killed at a stop. Everything goes through one async connection
 * (conn.h) on the supervisor's loop: nothing here ever blocks it.
 * Private to runner/. */
#ifndef SL_RUNNER_MAINT_H
#define SL_RUNNER_MAINT_H

#include <stdint.h>

#include "runner/supervisor.h"

typedef struct sl_maint sl_maint;

/** Start maintenance for sup (its base and cfg); connects at once.
 *  @return NULL on out of memory or a bad redis.url (logged). */
sl_maint *sl_maint_new(sl_sup *sup);

/** Stop: in-flight moves end with "no reply" (held slots are released). NULL-safe. */
void sl_maint_free(sl_maint *m);

/** sup->cfg was replaced (SIGHUP): new queues, intervals and redis.* settings. */
void sl_maint_reload(sl_maint *m);

/**
 * The watchdog SIGKILLed s's worker for a hard timeout; snap is the job it ran,
 * read before the kill. Counts the attempt with sluice_settle: a retry after
 * the handler's backoff while attempts are left, else a dead letter with
 * reason "timeout". The slot is held (not respawned) until Redis answers, or
 * redis.command_timeout passes. m NULL: nothing (the new worker replays it).
 */
void sl_maint_settle_timeout(sl_maint *m, sl_pool_slot *s, const sl_job_snap *snap, int64_t elapsed_ms);

/**
 * s's worker was SIGKILLed at a stop while running snap's job: give the entry
 * back with sluice_release (no delivery spent). Held like a settle, so the
 * supervisor waits for the answer (bounded by redis.command_timeout) before
 * it exits.
 */
void sl_maint_release(sl_maint *m, sl_pool_slot *s, const sl_job_snap *snap);

/**
 * s is removed for good (a scale-down or a removed pool, not a supervisor
 * stop): delete its consumer from its group on the work and the retry stream
 * with sluice_delconsumer, which keeps a consumer that still holds pending
 * entries (their lease lapses and another consumer reclaims them). Queued on
 * the maintenance connection; the outcome is logged. m NULL: nothing.
 */
void sl_maint_forget_consumer(sl_maint *m, const sl_pool_slot *s);

#endif
