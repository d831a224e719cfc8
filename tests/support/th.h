/* Test harness shared by the criterion suites: a real redis-server, temp dirs,
 * config files, child processes and polling helpers. No mocks: tests talk to a
 * real redis-server and run the real binaries and plugins.
 *
 * Redis: th_redis_url() returns $SLUICE_TEST_REDIS_URL (set by `make test`), or
 * starts a private redis-server on a free loopback port in a temp dir, once per
 * test process, stopped at exit. Each suite should th_flushall() in its init.
 *
 * Paths from the build (compile definitions): SLUICE_BIN, SLUICE_WORKER_BIN,
 * SLUICE_TEST_PLUGIN_DIR, SLUICE_PLUGIN_DIR, SLUICE_SOURCE_DIR, SLUICE_BUILD_DIR.
 *
 * The fixture family in tests/support/, one prefix per layer, each built on
 * the ones above it:
 *   th.c   th_*      harness: Redis, temp files, processes, polling, XINFO readers
 *   run.c  th_run*   one run of the sluice binary with captured output
 *   sup.c  th_sup_*  a `sluice run` supervisor: start, wait for workers, stop, log
 *   acct.c acct_*    the no-loss ledger: what became of every enqueued job
 *   fx.c   fx_*      fault scenarios: "faulty" plugin configs, producers, a
 *                    killable AOF redis-server, the table skeleton, fx_settle
 *   mt.c   mt_*      maintenance suites: generated configs, the record file,
 *                    delayed jobs, pending/scheduled waits
 * A helper two suites need goes here, in the lowest layer it fits.
 */
#ifndef TH_H
#define TH_H

#include <stddef.h>
#include <sys/types.h>

#include "common/hiredis_compat.h"

/** URL of the test Redis. */
const char *th_redis_url(void);
/** Register schema for type in the test Redis's schema registry (asserts). */
void th_register_schema(const char *type, const char *schema);
/** A new connected hiredis context to it (asserts on failure). */
redisContext *th_redis(void);
/** FLUSHALL the test Redis. */
void th_flushall(void);
/** Run a command, assert a non-error reply, return the integer (or -1 for nil). */
long long th_int(redisContext *c, const char *fmt, ...);

/** A fresh private temp directory (removed at exit unless TH_KEEP=1). */
const char *th_tmpdir(void);
/** Write text to <tmpdir>/<name>, return the malloc'd full path. */
char *th_write_file(const char *name, const char *text);
/** Read a whole file (NULL if missing). Caller frees. */
char *th_read_file(const char *path);
/** Count lines in a file (0 if missing). */
long th_count_lines(const char *path);

/** fork+exec argv (NULL-terminated) with stdout+stderr appended to log_path
 *  (NULL: inherit). Extra environment "K=V" strings (NULL-terminated, may be NULL). */
pid_t th_spawn(char *const argv[], char *const env[], const char *log_path);
/** Wait up to timeout_ms for pid to exit. Returns 1 and the wait status, or 0 on timeout. */
int th_wait_exit(pid_t pid, int timeout_ms, int *status);
/** A loopback TCP port nothing is bound to right now (the kernel's pick). */
int th_free_port(void);
/** Kill with SIGKILL if still running and reap. */
void th_kill(pid_t pid);

/** Poll pred(arg) every 20 ms until it returns non-zero or timeout_ms passes.
 *  Returns the last value of pred. */
int th_wait_until(int (*pred)(void *), void *arg, int timeout_ms);

/** Sleep ms milliseconds. */
void th_sleep_ms(int ms);

/** PIDs of the direct children of `parent` whose /proc/<pid>/comm equals comm.
 *  Returns how many were written to out (at most max). */
int th_children(pid_t parent, const char *comm, pid_t *out, int max);

/** <tmpdir>/<name>, malloc'd. */
char *th_tmp_path(const char *name);

/** Start a standalone sluice-worker (--config FILE --pool POOL --consumer NAME),
 *  its output appended to <tmpdir>/<log>. */
pid_t th_worker_start(const char *config, const char *pool, const char *consumer, const char *log);
/** SIGTERM a worker and assert it exits 0 within timeout_ms (SIGKILL otherwise). */
void th_worker_stop(pid_t pid, int timeout_ms);

/** Consumers of group in stream (XINFO CONSUMERS), -1 when there is no such group. */
long th_consumers(redisContext *c, const char *stream, const char *group);
/** 1 if consumer is in group of stream, 0 if not, -1 when there is no such group. */
int th_has_consumer(redisContext *c, const char *stream, const char *group, const char *consumer);
/** The integer field (e.g. "pending", "entries-read") of group in XINFO GROUPS
 *  stream; -1 when the stream, the group or the field is missing. */
long long th_group_field(redisContext *c, const char *stream, const char *group, const char *field);

/** Argument of the th_wait_until predicates below. */
typedef struct th_want {
    redisContext *c;
    const char *key; /* a stream, or a file path */
    long long n;
} th_want;
/** The file w->key has at least w->n lines. */
int th_lines_at_least(void *w);
/** The stream w->key has at least w->n entries. */
int th_xlen_at_least(void *w);

#endif
