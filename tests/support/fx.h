/* Helpers of the fault suites (tests/faults/test_faults_*.c): a supervisor run of
 * the "faulty" test plugin with tiny timeouts, pipelined raw XADD producers, a
 * private redis-server with AOF that can be killed and restarted on the same
 * dir and port, and log/process inspection. Built on th.h. */
#ifndef TH_FX_H
#define TH_FX_H

#include <stddef.h>
#include <sys/types.h>

#include "acct.h"
#include "th.h"

extern redisContext *fx_rc;     /* connection to the test Redis, made by fx_suite_init */
extern acct_ledger *fx_ledger;  /* a test's ledger, freed by fx_suite_fini (also after a failed assertion) */

/** Suite init/fini of the suites built on fx: flush the test Redis and connect;
 *  free the ledger and the connection. */
void fx_suite_init(void);
void fx_suite_fini(void);

/** What a scenario's config changes. NULL/0 members take the suite defaults. */
typedef struct fx_cfg {
    const char *queue;      /* queue, pool name and group */
    int workers;            /* default 4 */
    int read_count;         /* default 10 */
    const char *prefetch;   /* pools[].prefetch, e.g. "0ms" (entries held in a batch); default: the product's */
    const char *jobs;       /* extra members of "jobs" (after the defaults), e.g. "\"max_attempts\":2" */
    const char *redis_url;  /* default th_redis_url() */
    const char *redis;      /* extra members of "redis" */
} fx_cfg;

/** One scenario's files and supervisor. */
typedef struct fx_run {
    char name[64];
    char cfg[512], log[512], record[512];
    pid_t sup;
} fx_run;

/** Write <tmp>/<name>.json for c; the record file is <tmp>/<name>-record.txt. */
void fx_setup(fx_run *r, const char *name, const fx_cfg *c);
/** Start `sluice run -c cfg` (output appended to r->log). */
void fx_start(fx_run *r);
/** SIGTERM the supervisor and wait for it; returns its wait status. */
int fx_stop(fx_run *r, int timeout_ms);
/** Lines of the supervisor's log containing needle. */
long fx_log_count(const fx_run *r, const char *needle);
/** Live sluice-worker children of the supervisor. */
int fx_workers(const fx_run *r, pid_t *out, int max);
/** Wait until the supervisor has n workers (asserts). */
void fx_wait_workers(const fx_run *r, int n);
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

/** 1 if pid is alive and not a zombie. */
int fx_alive(pid_t pid);

/** A private redis-server with AOF (appendfsync always) in its own dir. */
typedef struct fx_redis {
    pid_t pid;
    int port;
    char dir[400], log[512], url[128];
} fx_redis;

/** Start it (the first call picks a free port and a dir; later calls reuse
 *  both, so it reloads its AOF). Waits until it answers PING (asserts). */
void fx_redis_start(fx_redis *r);
/** A new connection to it (asserts). */
redisContext *fx_redis_connect(const fx_redis *r);
/** kill -9 and reap. */
void fx_redis_kill(fx_redis *r);

#endif
