/* Test harness shared by the criterion suites: a real redis-server, temp dirs,
 * config files, child processes and polling helpers. No mocks: tests talk to a
 * real redis-server and run the real binaries and plugins.
 *
 * Redis: th_redis_url() returns $SLUICE_TEST_REDIS_URL (set by `make test`), or
 * starts a private redis-server (a th_server) on a free loopback port in a temp
 * dir, once per test process, stopped at exit. A suite that needs a server of
 * its own (to kill, restart, freeze, or with AOF or a password) starts another
 * th_server. Each suite should th_flushall() in its init.
 *
 * Paths from the build (compile definitions): SLUICE_BIN, SLUICE_WORKER_BIN,
 * SLUICE_TEST_PLUGIN_DIR, SLUICE_PLUGIN_DIR, SLUICE_SOURCE_DIR, SLUICE_BUILD_DIR.
 *
 * The fixture family in tests/support/, one prefix per layer, each built on
 * the ones above it:
 *   th.c   th_*      harness: Redis and private redis-servers, temp files, line
 *                    and occurrence counts, processes, polling, XINFO/XPENDING
 *                    and field-value readers
 *   run.c  th_run*   one run of the sluice binary with captured output
 *   sup.c  th_sup_*  a `sluice run` supervisor: start, wait for workers, stop, log
 *   acct.c acct_*    the no-loss ledger: what became of every enqueued job
 *   fx.c   fx_*      fault scenarios: "faulty" plugin configs, producers, the
 *                    table skeleton, fx_settle
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
/** For th_wait_until: the file at path has at least n lines. */
typedef struct th_lines {
    const char *path;
    long n;
} th_lines;
/** th_wait_until predicate: arg is a th_lines. */
int th_has_lines(void *arg);
/** Lines of a file (0 if missing) containing a, and b too unless b is NULL. */
long th_count_lines_with(const char *path, const char *a, const char *b);
/** Occurrences of needle in text, not overlapping (0 if text is NULL); a
 *  line count of some output is th_count_in(out, "\n"). */
long th_count_in(const char *text, const char *needle);
/** The same for the text of a file (0 if missing). */
long th_count_in_file(const char *path, const char *needle);

/** fork+exec argv (NULL-terminated) with stdout+stderr appended to log_path
 *  (NULL: inherit). Extra environment "K=V" strings (NULL-terminated, may be NULL). */
pid_t th_spawn(char *const argv[], char *const env[], const char *log_path);
/** Wait up to timeout_ms for pid to exit. Returns 1 and the wait status, or 0 on timeout. */
int th_wait_exit(pid_t pid, int timeout_ms, int *status);
/** A loopback TCP port nothing is bound to right now (the kernel's pick). */
int th_free_port(void);
/** Kill with SIGKILL if still running and reap. */
void th_kill(pid_t pid);
/** Whether a process that has exited but not been reaped counts as alive. */
typedef enum th_zombie { TH_ZOMBIE_DEAD, TH_ZOMBIE_ALIVE } th_zombie;
/** 1 if pid exists; a zombie counts as z says. */
int th_alive(pid_t pid, th_zombie z);
/** Is process *(pid_t *)arg inside a sleep (its current syscall nanosleep or
 *  clock_nanosleep: a handler's sleep_ms or hang)? An idle worker waits in a
 *  Redis read instead, so this proves a job has started, not just been
 *  delivered. For th_wait_until. */
int th_in_sleep(void *pid);

/** A private redis-server, in its own dir <tmpdir>/redis-<port> with its log
 *  redis.log there. Set the options, leave the rest zero. */
typedef struct th_server {
    int aof; /* appendonly yes, appendfsync always, noeviction: a restart reloads what it acked */
    const char *password; /* requirepass (NULL: none) */
    int cluster; /* cluster-enabled yes (nodes.conf in dir), no slots assigned */
    pid_t pid; /* 0: not running */
    int port; /* 0: the first start picks a free one; later starts reuse it */
    char dir[400], log[512], url[128]; /* url has no password */
} th_server;
/** GET path from 127.0.0.1:port with HTTP/1.0: the status code (-1: no
 *  connection) and the body in *body (caller frees; may be NULL). */
int th_http_get(int port, const char *path, char **body);

/** Start it and wait until it answers (asserts). On the first start a port
 *  taken before redis-server could bind it is picked again; a restart uses the
 *  same port and dir (so an AOF server reloads its data). */
void th_server_start(th_server *s);
/** A new connection to it, not authenticated (asserts). */
redisContext *th_server_connect(const th_server *s);
/** kill -9 (after SIGCONT, a test may have stopped it) and reap; port and dir stay. */
void th_server_kill(th_server *s);

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

/** The value of field name in a flat [f, v, f, v...] reply (stream entry
 *  fields, HGETALL, XINFO): the first occurrence, NULL if absent. */
const redisReply *th_field(const redisReply *fv, const char *name);
/** Its string (NULL if absent). */
const char *th_field_str(const redisReply *fv, const char *name);
/** The string of the last occurrence, as a reader folding the fields into a
 *  map sees it (NULL if absent). */
const char *th_field_last_str(const redisReply *fv, const char *name);
/** XPENDING summary count of group on stream; -1 when the stream or the group
 *  does not exist (a caller to whom a missing group means "nothing pending"
 *  tests <= 0). */
long long th_pending(redisContext *c, const char *stream, const char *group);

/** A line of a record file (the record test plugin's):
 *  "<job id> <attempt> <pid> <deliveries>". */
typedef struct th_rec {
    char id[64];
    int attempt;
    long pid;
    int deliveries;
} th_rec;
/** The record file at path sorted by job id (caller frees *out; asserts every
 *  line parses); the line count (0 if missing). */
int th_read_recs(const char *path, th_rec **out);
/** Distinct job ids among n records sorted by id. */
int th_recs_distinct(const th_rec *r, int n);

/** XREADGROUP commands the server ran (INFO commandstats: calls, plus
 *  rejected_calls and failed_calls). */
long long th_xreadgroup_calls(redisContext *c);

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
