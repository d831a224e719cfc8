/* The supervisor fixture of the harness: one `sluice run -c CONFIG` child with
 * its output appended to a log file, waits on its sluice-worker children, a
 * graceful stop with a timeout, and log inspection. fx.h and mt.h build on it;
 * a suite with its own config text uses it directly. Every wait polls and
 * asserts; none of them is a timing assertion. */
#ifndef TH_SUP_H
#define TH_SUP_H

#include <sys/types.h>

#include "th.h"

/** One supervisor run and its files. pid 0: not running. */
typedef struct th_sup {
    char name[64]; /* for messages */
    char cfg[512], log[512];
    pid_t pid;
} th_sup;

/** Name s, point it at config file cfg, log <tmpdir>/<log> (NULL: <name>.log);
 *  the log is not truncated. s->pid is left alone: a suite may rewrite the
 *  config of a running supervisor (then SIGHUP it); a new th_sup starts zeroed. */
void th_sup_init(th_sup *s, const char *name, const char *cfg, const char *log);
/** Start `sluice run -c cfg`, its output appended to s->log. */
void th_sup_start(th_sup *s);
/** The same with extra arguments after "-c cfg" and extra "K=V" environment
 *  strings (both NULL-terminated, either may be NULL). */
void th_sup_startv(th_sup *s, char *const extra[], char *const env[]);
/** Start it with RLIMIT_NOFILE n (through /bin/sh's ulimit, which execs sluice:
 *  s->pid is the supervisor). */
void th_sup_start_nofile(th_sup *s, int n);
/** Wait up to timeout_ms for it to exit by itself (asserts it does); its wait status. */
int th_sup_wait_exit(th_sup *s, int timeout_ms);
/** SIGTERM it and wait up to timeout_ms (asserts it exits); its wait status. */
int th_sup_term(th_sup *s, int timeout_ms);
/** SIGTERM it and assert it exits 0 within timeout_ms. */
void th_sup_stop(th_sup *s, int timeout_ms);
/** SIGKILL it if still running (a suite's .fini). */
void th_sup_kill(th_sup *s);

/** Its live sluice-worker children (at most max into out; out may be NULL). */
int th_sup_workers(const th_sup *s, pid_t *out, int max);
/** Wait until it has exactly n workers (asserts). */
void th_sup_wait_workers(const th_sup *s, int n, int timeout_ms);

/** Lines of its log containing a, and b too unless b is NULL (occurrences,
 *  not lines: th_count_in_file(s->log, needle)). */
long th_sup_log_count(const th_sup *s, const char *a, const char *b);
/** Wait until a line of its log contains needle; 1 if one did. */
int th_sup_wait_log(const th_sup *s, const char *needle, int timeout_ms);

#endif
