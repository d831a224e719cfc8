/* The supervisor fixture (see sup.h). */
#include "sup.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_KIDS 64
#define MAX_ARGS 16

void th_sup_init(th_sup *s, const char *name, const char *cfg, const char *log)
{
    snprintf(s->name, sizeof s->name, "%s", name);
    snprintf(s->cfg, sizeof s->cfg, "%s", cfg);
    if (log)
        snprintf(s->log, sizeof s->log, "%s/%s", th_tmpdir(), log);
    else
        snprintf(s->log, sizeof s->log, "%s/%s.log", th_tmpdir(), name);
}

void th_sup_startv(th_sup *s, char *const extra[], char *const env[])
{
    char *argv[MAX_ARGS] = {SLUICE_BIN, "run", "-c", s->cfg};
    int n = 4;
    for (int i = 0; extra && extra[i]; i++) {
        cr_assert(n < MAX_ARGS - 1, "%s: too many arguments", s->name);
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    s->pid = th_spawn(argv, env, s->log);
}

void th_sup_start(th_sup *s)
{
    th_sup_startv(s, NULL, NULL);
}

void th_sup_start_nofile(th_sup *s, int n)
{
    char lim[64];
    snprintf(lim, sizeof lim, "ulimit -n %d && exec \"$0\" run -c \"$1\"", n);
    char *argv[] = {"/bin/sh", "-c", lim, SLUICE_BIN, s->cfg, NULL};
    s->pid = th_spawn(argv, NULL, s->log);
}

int th_sup_wait_exit(th_sup *s, int timeout_ms)
{
    int st = -1;
    cr_assert(th_wait_exit(s->pid, timeout_ms, &st), "%s: supervisor did not exit (see %s)", s->name, s->log);
    s->pid = 0;
    return st;
}

int th_sup_term(th_sup *s, int timeout_ms)
{
    cr_assert_eq(kill(s->pid, SIGTERM), 0);
    int st = -1;
    cr_assert(th_wait_exit(s->pid, timeout_ms, &st), "%s: supervisor did not exit after SIGTERM (see %s)", s->name,
              s->log);
    s->pid = 0;
    return st;
}

void th_sup_stop(th_sup *s, int timeout_ms)
{
    int st = th_sup_term(s, timeout_ms);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: supervisor exit status %d (see %s)", s->name, st, s->log);
}

void th_sup_kill(th_sup *s)
{
    if (s->pid > 0)
        th_kill(s->pid);
    s->pid = 0;
}

int th_sup_workers(const th_sup *s, pid_t *out, int max)
{
    pid_t tmp[MAX_KIDS];
    return th_children(s->pid, "sluice-worker", out ? out : tmp, out ? max : MAX_KIDS);
}

struct nwait {
    const th_sup *s;
    int n;
};

static int has_workers(void *arg)
{
    struct nwait *w = arg;
    return th_sup_workers(w->s, NULL, 0) == w->n;
}

void th_sup_wait_workers(const th_sup *s, int n, int timeout_ms)
{
    struct nwait w = {s, n};
    cr_assert(th_wait_until(has_workers, &w, timeout_ms), "%s: expected %d workers, have %d (see %s)", s->name, n,
              th_sup_workers(s, NULL, 0), s->log);
}

long th_sup_log_count(const th_sup *s, const char *a, const char *b)
{
    return th_count_lines_with(s->log, a, b);
}

struct logw {
    const th_sup *s;
    const char *needle;
};

static int log_has(void *arg)
{
    struct logw *w = arg;
    return th_sup_log_count(w->s, w->needle, NULL) > 0;
}

int th_sup_wait_log(const th_sup *s, const char *needle, int timeout_ms)
{
    struct logw w = {s, needle};
    return th_wait_until(log_has, &w, timeout_ms);
}
