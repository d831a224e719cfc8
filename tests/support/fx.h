/* Helpers of the fault suites (tests/faults/test_faults_*.c): a supervisor run of
 * the "faulty" test plugin with tiny timeouts, pipelined raw XADD producers and
 * the table skeleton of the scenarios (a private redis-server with AOF that can
 * be killed and restarted on the same dir and port is th.h's th_server with
 * .aof = 1; process checks are th_alive). Built on th.h and sup.h (the supervisor
 * of a run is a th_sup: start, stop, workers and log with th_sup_*). */
#ifndef TH_FX_H
#define TH_FX_H

#include <stddef.h>
#include <sys/types.h>

#include "acct.h"
#include "sup.h"
#include "th.h"

extern redisContext *fx_rc; /* connection to the test Redis, made by fx_suite_init */
extern acct_ledger *fx_ledger; /* a test's ledger, freed by fx_suite_fini (also after a failed assertion) */

/** Suite init/fini of the suites built on fx: flush the test Redis and connect;
 *  free the ledger, the connection and what a scenario left (fx_scenario_run). */
void fx_suite_init(void);
void fx_suite_fini(void);

#define FX_WORKERS 4

/** What a scenario's config changes. NULL/0 members take the suite defaults. */
typedef struct fx_cfg {
    const char *queue; /* queue, pool name and group */
    int workers; /* default FX_WORKERS */
    int read_count; /* default 10 */
    const char *prefetch; /* pools[].prefetch, e.g. "0ms" (entries held in a batch); default: the product's */
    const char *jobs; /* extra members of "jobs" (after the defaults), e.g. "\"max_attempts\":2" */
    const char *redis_url; /* default th_redis_url() */
    const char *redis; /* extra members of "redis" */
} fx_cfg;

/** One scenario's supervisor (config, log) and record file. */
typedef struct fx_run {
    th_sup sup;
    char record[512];
} fx_run;

/** Write <tmp>/<name>.json for c and th_sup_init r->sup on it (log
 *  <tmp>/<name>-supervisor.log, emptied); the record file is
 *  <tmp>/<name>-record.txt. */
void fx_setup(fx_run *r, const char *name, const fx_cfg *c);
/** Wait until group `queue` of sluice:{queue} has n consumers (asserts). */
void fx_wait_consumers(redisContext *c, const fx_run *r, const char *queue, int n);
/** Wait until the record file holds at least n lines (asserts). */
void fx_wait_records(const fx_run *r, long n, int timeout_ms);

/** Writes the payload of job i into buf. */
typedef void (*fx_payload_fn)(int i, char *buf, size_t n, void *arg);
/**
 * XADD n jobs of `type` to sluice:{queue}, pipelined; payload from fn (NULL:
 * "{}"). Each id returned is added to a (may be NULL) and, when ids is not
 * NULL, copied to ids[i]. Asserts every XADD was acknowledged.
 */
void fx_xadd(redisContext *c, const char *queue, const char *type, int n, fx_payload_fn fn, void *arg, acct_ledger *a,
             char (*ids)[64]);

/** How long a fault scenario's jobs may take to settle. */
#define FX_SETTLE_MS 90000

/**
 * The no-loss check every fault scenario ends with: wait (up to timeout_ms)
 * until every job is completed or dead-lettered and nothing is pending,
 * scheduled or undelivered, print the counts line titled `title`, and assert
 * that it settled, that no job was lost, none was both completed and
 * dead-lettered, none was dead-lettered twice and no unknown id turned up.
 */
void fx_settle(acct_ledger *a, redisContext *c, const fx_run *r, const char *title, int timeout_ms, acct_counts *k);

/* ---- fault scenarios: table rows run by one skeleton ------------------- */

#define FX_REST (-1) /* fx_scenario.completed: every enqueued job not dead-lettered */
#define FX_DUPS_PER_FAULT (-1) /* fx_scenario.max_dups: at most one per fault injected */

typedef struct fx_scene fx_scene;

/**
 * One fault scenario as a table row. fx_scenario_run starts the supervisor
 * (cfg), waits for its workers, XADDs n jobs of type test.acct, waits for
 * wait_records completions, injects the fault, then runs the no-loss check
 * (fx_settle) and asserts the exact counts below, then check, then stops the
 * supervisor.
 */
typedef struct fx_scenario {
    const char *title; /* the counts line's name, e.g. "2 (poison segfault 1%)" */
    fx_cfg cfg; /* cfg.queue names the queue, pool, group and files */
    int private_redis; /* on a private AOF redis-server (th_server .aof), not the test Redis */
    int n; /* jobs enqueued before the fault (0: the fault enqueues) */
    fx_payload_fn payload; /* job i's payload (NULL: "{}") */
    long wait_records; /* completions to wait for before the fault (0: none) */
    long (*fault)(fx_scene *s); /* injects the fault, returns how many it injected; NULL: none */
    long completed; /* exactly this many jobs completed, or FX_REST */
    long dead; /* exactly this many dead-lettered */
    struct {
        acct_reason reason;
        long n; /* > 0: exactly n dead letters of this reason */
    } by_reason[2];
    long max_dups; /* runs beyond a job's first, at most (0: none), or FX_DUPS_PER_FAULT */
    void (*check)(fx_scene *s, const acct_counts *k); /* the scenario's own assertions; NULL: none */
    int stop_ms; /* the last SIGTERM must end the supervisor within this */
} fx_scenario;

/** A scenario while it runs: what its fault and check hooks work with. */
struct fx_scene {
    const fx_scenario *sc;
    fx_run run;
    redisContext *c; /* the Redis of the jobs: fx_rc or the private server's (a fault may replace it) */
    th_server red; /* the private AOF server (th.h), when sc->private_redis */
    acct_ledger *a; /* the ledger (fx_ledger) */
    char (*ids)[64]; /* ids[i]: the id of job i < sc->n */
    long added; /* jobs the fault enqueued and added to a */
    long injected; /* what the fault returned */
};

/** Run one row (asserts). The suite's .fini calls fx_suite_fini (it cleans up
 *  after a failed assertion too); rows on the test Redis need fx_suite_init. */
void fx_scenario_run(const fx_scenario *sc);

#endif
