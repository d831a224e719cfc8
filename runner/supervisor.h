/* The supervisor's state, private to runner/: the event loop, the running
 * config, and its pools of worker slots. supervisor.c owns the loop and the
 * signals; pool.c the pools; slot.c one slot's process; reload.c SIGHUP;
 * watchdog.c the hard job timeouts; view.c what the metrics see of the
 * pools. Its parts, maint/ (the periodic Redis maintenance over its own async
 * connection) and http/ (metrics and the endpoint), include nothing of this
 * header: the supervisor hands them what they need (sl_maint_owner,
 * sl_mx_owner) and they report back through those callbacks. The supervisor
 * owns its pools; a pool owns its slots. */
#ifndef SL_RUNNER_SUPERVISOR_H
#define SL_RUNNER_SUPERVISOR_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/worker_slot.h"
#include "runner/http/metrics.h"
#include "runner/maint/maint.h"
#include "runner/maint/snapshot.h"

struct event_base;
struct event;
struct bufferevent;
struct sl_pool;
struct sl_sup;
struct sl_maint;
struct sl_metrics;
struct sl_http;

/** A worker that lived at least this long resets its slot's crash counter. */
#define SL_SUP_STABLE_MS 30000
/** An exit 127 (exec failed) within this time of the spawn is a "fast" failure. */
#define SL_SUP_FAST_EXIT_MS 2000
/** This many consecutive fast 127 exits disable a slot like exit 78. */
#define SL_SUP_MAX_EXEC_FAILURES 3
/** Period of the hard-timeout watchdog. */
#define SL_SUP_WATCHDOG_MS 100

/** Where a slot is in its life. A live process (pid != 0) is STARTING or READY. */
typedef enum sl_pool_phase {
    SL_PHASE_EMPTY, /* no process; spawned by the next sync if wanted */
    SL_PHASE_BACKOFF, /* no process; the timer respawns it after a crash */
    SL_PHASE_STARTING, /* process running, has not said "ready" */
    SL_PHASE_READY, /* process running and ready */
    SL_PHASE_DISABLED /* exited 78 or could not exec: not respawned until a reload */
} sl_pool_phase;

/** What a slot reports to its pool (bits of sl_pool_slot.events). */
enum {
    SL_SLOT_EV_REPLACED = 1u, /* a rolling restart's replacement said "ready": the roll moves on */
    SL_SLOT_EV_BACKOFF_OVER = 2u /* the restart backoff ended: the slot is empty, to respawn */
};

/** One worker position of a pool: a stable consumer name and at most one process. */
typedef struct sl_pool_slot {
    struct sl_pool *pool;
    int index;
    char consumer[320]; /* <hostname>-<pool>-<index> */
    sl_pool_phase phase;
    pid_t pid; /* the live process, 0 if none */
    unsigned gen; /* pool generation the process runs */
    int64_t started_ms; /* monotonic time of the spawn */
    sl_slot *shm; /* the process's status slot, NULL if none */
    struct bufferevent *chan; /* channel to the process, NULL once closed */
    struct event *timer; /* backoff (no process) or stop deadline (process) */
    unsigned events; /* SL_SLOT_EV_* not yet acted on by the pool */
    struct event *wake; /* the owner's, activated with each event (sl_pool_slot_new) */
    const char *stop_reason; /* non-NULL once SIGTERM was sent */
    const char *kill_reason; /* non-NULL once SIGKILL was sent */
    int restarting; /* being replaced by a rolling restart */
    unsigned crashes; /* consecutive crashes, for the backoff */
    unsigned exec_failures; /* consecutive fast exits with 127 */
    int hold; /* Redis moves of its killed job still in flight (the maintenance
               * reports each one's end): no respawn, no free */
    char queue[128]; /* queue and group of the live process (pool config at spawn) */
    char group[128];
    uint64_t cancel_seq; /* job_seq of its running job that was cancelled (0: none) */
    int64_t cancel_deadline_ms; /* then: when its worker is killed (monotonic) */
} sl_pool_slot;

/** A pool: the slots of one pools[] entry of the config. */
typedef struct sl_pool {
    struct sl_sup *sup;
    char *name;
    const sl_pool_cfg *cfg; /* points into sup->cfg; NULL once removed */
    char *fingerprint; /* sl_cfg_pool_fingerprint of the config it runs */
    unsigned gen; /* bumped when the fingerprint changes */
    unsigned roll_abort_gen; /* a rolling restart to this gen failed: stop it */
    int want; /* target number of workers */
    int removed; /* gone from the config: stop everything, then free */
    sl_pool_slot **slots; /* slots[i] or NULL, i < nslots */
    int nslots;
    struct sl_pool *next;
} sl_pool;

/** The buffers behind sl_sup_view (view.c). */
typedef struct sl_sup_view_buf {
    sl_mx_view view;
    sl_mx_pool_view *pools;
    sl_mx_slot_view *slots;
    int pools_cap, slots_cap;
} sl_sup_view_buf;

/** The supervisor. */
typedef struct sl_sup {
    struct event_base *base;
    sl_config *cfg;
    char *cfg_json; /* sl_cfg_to_json(cfg): holds the password, never log it */
    size_t cfg_json_len;
    const char *cfg_path;
    char hostname[256];
    sl_pool *pools;
    struct event *watchdog;
    int stopping; /* graceful stop in progress: spawn nothing */
    int closing; /* tearing down after the loop: callbacks change nothing */
    int exit_code;
    struct sl_maint *maint; /* periodic Redis maintenance (maint.c) */
    struct sl_metrics *metrics; /* counters, gauges, alerts (metrics.c) */
    struct sl_http *http; /* /metrics, /healthz, /readyz, /status (http.c); NULL when off */
    struct event *wake; /* activated by a slot's event: the pools act on them (supervisor.c) */
    sl_sup_view_buf view; /* what the metrics read of the pools (view.c) */
} sl_sup;

/* pool.c */
/** A pool for cfg (in sup->cfg) with no slots yet; takes ownership of
 *  fingerprint. NULL when out of memory. */
sl_pool *sl_pool_new(sl_sup *sup, const sl_pool_cfg *cfg, char *fingerprint);
/** Free a pool and its slots; only when none has a live process. */
void sl_pool_free(sl_pool *p);
/** The slots' events (SL_SLOT_EV_*): clear them and reconcile the pool if any
 *  was set. Run by the supervisor's wake event, never from a slot's callback. */
void sl_pool_on_events(sl_pool *p);
/** s's process exited with wait status `status` (reaped by the supervisor):
 *  the slot classifies it, then the pool reconciles. May free s. */
void sl_pool_reaped(sl_pool_slot *s, int status);
/**
 * Reconcile a pool with its target: spawn wanted slots that have no process,
 * SIGTERM live ones that are no longer wanted, free empty unwanted slots, and
 * advance a rolling restart by one slot when none is in progress. May free any
 * slot of the pool (never the pool itself).
 */
void sl_pool_sync(sl_pool *p);
/** Number of live processes. */
int sl_pool_live(const sl_pool *p);
/** Number of held slots (sl_pool_slot_hold). */
int sl_pool_held(const sl_pool *p);
/** Is slot index i wanted (inside the target, pool not removed, not stopping)? */
int sl_pool_wants(const sl_pool *p, int i);
/** Free removed pools whose last process has been reaped. */
void sl_pools_collect(sl_sup *sup);

/* slot.c
 *
 * A slot reports to its owner, it does not call it: its own callbacks (the
 * channel's "ready", the backoff timer) record an SL_SLOT_EV_* in s->events
 * and activate `wake`; the supervisor's wake callback then has the pool act
 * (sl_pool_on_events), after the slot's callback has returned. So no slot is
 * ever freed under its own callback. Exits come from the supervisor's reaping
 * through the pool (sl_pool_reaped), which acts on what the slot reports. */
/** A slot of p at index; wake is activated with each of its events. NULL when out of memory. */
sl_pool_slot *sl_pool_slot_new(sl_pool *p, int index, struct event *wake);
void sl_pool_slot_free(sl_pool_slot *s);
/** Spawn a process for an empty slot. On failure the slot goes to backoff. */
void sl_pool_slot_spawn(sl_pool_slot *s);
/** SIGTERM the process and arm the shutdown_timeout deadline (once). */
void sl_pool_slot_stop(sl_pool_slot *s, const char *reason);
/** SIGKILL the process now (once), with a reason for the logs. */
void sl_pool_slot_kill(sl_pool_slot *s, const char *reason);
/** The process exited with wait status `status`: classify, log, arrange a
 *  respawn or disable the slot. Never frees s; the caller (sl_pool_reaped)
 *  reconciles the pool next. @return 1 when the slot was the replacement of a
 *  rolling restart and got disabled by the new config (the pool stops the
 *  roll), else 0. */
int sl_pool_slot_exited(sl_pool_slot *s, int status);
/** SIGKILL the process at a stop (shutdown_timeout, second SIGINT); a job it
 *  was running is released (sluice_release) so it spends no delivery. */
void sl_pool_slot_kill_release(sl_pool_slot *s, const char *reason);
/** Who s's process is, for the maintenance (points into s: valid while s lives). */
void sl_pool_slot_worker(const sl_pool_slot *s, sl_maint_worker *w);

/* supervisor.c */
/** Find the slot whose live process is pid, or NULL. */
sl_pool_slot *sl_sup_find_pid(sl_sup *sup, pid_t pid);
/** After a state change: end the loop if a stop finished or every slot is disabled. */
void sl_sup_check_done(sl_sup *sup);

/* reload.c */
/** SIGHUP: reload the config file; keep the running config on any error. */
void sl_sup_reload(sl_sup *sup);
/** Replace sup->cfg_json with that of sup->cfg. 0 or -1. */
int sl_sup_set_cfg_json(sl_sup *sup);

/** Register schemas_dir's schemas in the registry (runner/schemas_dir.c); logs failures. */
void sl_sup_register_schemas(sl_sup *sup);

/**
 * Publish the partition count of every queue of cfg (its queues entries and
 * its pools' queues) in sluice:{Q}:partitions: SET to N when N > 1, deleted
 * when 1 (partitions.c). A count that differs from the published one is
 * refused while the old partitions hold pending, undelivered, retrying or
 * scheduled entries.
 * @return 0; -1 refused, err names the queue and the work left; -2 Redis
 *         unavailable or an error (err says which) while some queue is
 *         partitioned (with none, that is only a warning and 0: nothing to
 *         publish, as before partitions existed).
 */
int sl_sup_publish_partitions(const sl_config *cfg, char *err, size_t errlen);

/* view.c */
/** The pools and slots now, for the metrics registry (sl_mx_owner.view; ctx
 *  is the sl_sup). Valid until the next call. Never NULL. */
const sl_mx_view *sl_sup_view(void *ctx);
/** Free the view's buffers. */
void sl_sup_view_free(sl_sup *sup);

/* watchdog.c */
/** Start the 100 ms hard-timeout timer. 0 or -1. */
int sl_sup_watchdog_start(sl_sup *sup);
/** The maintenance saw pool's slot's running job seq in its cancel set
 *  (sl_maint_owner.cancel_seen; ctx is the sl_sup): its handler's should_stop
 *  turns true, and the watchdog kills its worker after jobs.cancel_grace. */
void sl_sup_on_cancel_seen(void *ctx, const char *pool, int slot, uint64_t seq);

#endif
