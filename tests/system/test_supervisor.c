/* Supervisor suite: real `sluice run` processes spawning real sluice-worker
 * processes with the test plugins, against a real Redis. Covers spawning, crash
 * restart, graceful and fast stop, hard timeouts, resizing by signal, reload,
 * exit 78 and `run -t`. Every wait polls; no sleep and no duration is an
 * assertion (a timeout only guards against a hang). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/sup.h"
#include "tests/support/th.h"

#define MAX_KIDS 64
#define WORKER "\"worker_path\":\"" SLUICE_WORKER_BIN "\""
#define SUP_DEFAULT WORKER ",\"shutdown_timeout\":\"10s\""
/* A pool (short XREADGROUP block so stops are quick); `more` adds members. */
#define POOL(name, q, n, plugin, more)                                                                                \
    "{\"name\":\"" name "\",\"queue\":\"" q "\",\"workers\":" #n ",\"plugins\":[" plugin "],\"block\":\"200ms\"" more \
    "}"
/* A pool of the record plugin; takes the record file as its format argument. */
#define REC_POOL(name, q, n) POOL(name, q, n, "\"record\"", ",\"settings\":{\"record_file\":\"%s\"}")

static redisContext *rc;
static th_sup sv; /* `sluice run -c sluice.json`, log supervisor.log */
static char rec_path[512];

static void setup(void)
{
    th_flushall();
    rc = th_redis();
    char *cfg = th_tmp_path("sluice.json");
    th_sup_init(&sv, "supervisor", cfg, "supervisor.log");
    free(cfg);
    snprintf(rec_path, sizeof rec_path, "%s/rec.txt", th_tmpdir());
}

/* A failed assertion must not leave a supervisor behind; its workers follow
 * it through PR_SET_PDEATHSIG. */
static void teardown(void)
{
    th_sup_kill(&sv);
    if (rc)
        redisFree(rc);
    rc = NULL;
}

TestSuite(supervisor, .init = setup, .fini = teardown, .timeout = 45);

/* ---- helpers ------------------------------------------------------------ */

/* (Re)write sluice.json: supervisor members, extra top-level members ("" or
 * ending with a comma) and the pools (a printf format). */
static void write_cfg(const char *sup, const char *extra, const char *pools_fmt, ...)
{
    char *pools = NULL, *text = NULL;
    va_list ap;
    va_start(ap, pools_fmt);
    cr_assert(vasprintf(&pools, pools_fmt, ap) > 0);
    va_end(ap);
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\",%s"
                       "\"supervisor\":{%s,\"restart_backoff_min\":\"100ms\",\"restart_backoff_max\":\"1s\"},"
                       "\"pools\":[%s]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, extra, sup, pools) > 0);
    free(th_write_file("sluice.json", text)); /* sv.cfg */
    free(text);
    free(pools);
}

/* Wait for the supervisor to exit; returns its exit code. */
static int sup_exit(int timeout_ms)
{
    int st = th_sup_wait_exit(&sv, timeout_ms);
    cr_assert(WIFEXITED(st), "supervisor died: status %d", st);
    return WEXITSTATUS(st);
}

static int has_pid(const pid_t *pids, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return 1;
    return 0;
}

/* Argument `opt` of a worker, from /proc/<pid>/cmdline ("" if gone). */
static void arg_of(pid_t pid, const char *opt, char *out, size_t n)
{
    char path[64], buf[4096];
    out[0] = '\0';
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
        if (strcmp(buf + i, opt) == 0 && i + strlen(buf + i) + 1 < len) {
            snprintf(out, n, "%s", buf + i + strlen(buf + i) + 1);
            return;
        }
}

/* Workers whose `opt` argument is `value`, into out. */
static int workers_with(const char *opt, const char *value, pid_t *out)
{
    pid_t pids[MAX_KIDS];
    int n = th_sup_workers(&sv, pids, MAX_KIDS), m = 0;
    char v[256];
    for (int i = 0; i < n; i++) {
        arg_of(pids[i], opt, v, sizeof v);
        if (strcmp(v, value) == 0)
            out[m++] = pids[i];
    }
    return m;
}

/* The worker running as consumer name, or 0. */
static pid_t worker_of(const char *consumer)
{
    pid_t p[MAX_KIDS];
    return workers_with("--consumer", consumer, p) ? p[0] : 0;
}

struct respawn_arg {
    const char *consumer;
    pid_t old;
};

static int respawned(void *arg)
{
    struct respawn_arg *a = arg;
    pid_t p = worker_of(a->consumer);
    return p != 0 && p != a->old;
}

/* XADD a job; returns its id (caller frees). */
static char *xadd(const char *q, const char *type, const char *payload)
{
    redisReply *r = redisCommand(rc, "XADD sluice:{%s} * type %s payload %s", q, type, payload);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD failed");
    char *id = strdup(r->str);
    freeReplyObject(r);
    return id;
}

struct pending_arg {
    const char *q, *g;
    long long want;
};

static int pending_is(void *arg)
{
    struct pending_arg *a = arg;
    char stream[128];
    snprintf(stream, sizeof stream, "sluice:{%s}", a->q);
    return th_pending(rc, stream, a->g) == a->want; /* -1 while the group does not exist */
}

/* Wait until the one job pending in group g of queue q runs; its worker's pid. */
static pid_t wait_job_running(const char *q, const char *g)
{
    struct pending_arg pa = {q, g, 1};
    cr_assert(th_wait_until(pending_is, &pa, 10000), "job not delivered");
    redisReply *r = redisCommand(rc, "XPENDING sluice:{%s} %s - + 10", q, g);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1, "expected one pending entry");
    pid_t pid = worker_of(r->element[0]->element[1]->str);
    freeReplyObject(r);
    cr_assert(pid > 0, "no worker holds the pending entry");
    cr_assert(th_wait_until(th_in_sleep, &pid, 10000), "job never started in %d", (int)pid);
    return pid;
}

static int recorded_at_least(void *arg)
{
    return th_count_lines(rec_path) >= *(long *)arg;
}

/* Index of the first supervisor log line after `after` containing a and b,
 * or -1; with count non-NULL, counts all such lines instead. */
static int log_find(const char *a, const char *b, int after, int *count)
{
    char *text = th_read_file(sv.log), *save = NULL;
    int i = 0, found = -1;
    if (count)
        *count = 0;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save), i++) {
        if (i <= after || !strstr(line, a) || !strstr(line, b))
            continue;
        if (!count) {
            found = i;
            break;
        }
        ++*count;
    }
    free(text);
    return found;
}

/* ---- tests -------------------------------------------------------------- */

Test(supervisor, two_workers_process_500_jobs)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q1", 2), rec_path);
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 2, 10000);
    for (int i = 0; i < 500; i++)
        redisAppendCommand(rc, "XADD sluice:{q1} * type test.record payload {}");
    for (int i = 0; i < 500; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(rc, (void **)&r) == REDIS_OK && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    long want = 500;
    cr_assert(th_wait_until(recorded_at_least, &want, 20000), "only %ld jobs recorded", th_count_lines(rec_path));
    struct pending_arg pa = {"q1", "rec", 0};
    cr_assert(th_wait_until(pending_is, &pa, 5000), "pending %lld", th_pending(rc, "sluice:{q1}", "rec"));

    th_rec *recs;
    int n = th_read_recs(rec_path, &recs);
    cr_assert_eq(n, 500);
    cr_assert_eq(th_recs_distinct(recs, n), 500);
    cr_assert_eq(th_sup_workers(&sv, NULL, 0), 2);
    free(recs);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, killed_worker_is_restarted_and_job_redelivered)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q2", 2), rec_path);
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 2, 10000);
    char *id = xadd("q2", "test.record", "{\"sleep_ms\":1500}");
    pid_t victim = wait_job_running("q2", "rec");
    char consumer[256];
    arg_of(victim, "--consumer", consumer, sizeof consumer);
    cr_assert_eq(kill(victim, SIGKILL), 0);

    struct respawn_arg ra = {consumer, victim};
    cr_assert(th_wait_until(respawned, &ra, 10000), "slot %s was not restarted", consumer);
    pid_t fresh = worker_of(consumer);
    long one = 1;
    cr_assert(th_wait_until(recorded_at_least, &one, 10000), "redelivered job never completed");
    struct pending_arg pa = {"q2", "rec", 0};
    cr_assert(th_wait_until(pending_is, &pa, 5000), "pending %lld", th_pending(rc, "sluice:{q2}", "rec"));

    th_rec *recs;
    cr_assert_eq(th_read_recs(rec_path, &recs), 1);
    cr_assert_str_eq(recs[0].id, id);
    cr_assert_eq(recs[0].deliveries, 2);
    cr_assert_eq(recs[0].pid, (long)fresh);
    cr_assert_eq(th_sup_workers(&sv, NULL, 0), 2);
    /* the crash line names the job it was running (the poison-job runbook) */
    char job[160], entry[160];
    snprintf(job, sizeof job, "\"job_id\":\"%s\",\"job_type\":\"test.record\"", id);
    snprintf(entry, sizeof entry, "\"stream_id\":\"%s\"", id);
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"worker crashed\"", job), 1, "the crash line does not name the job");
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"worker crashed\"", entry), 1,
                 "the crash line does not name the entry");
    free(recs);
    free(id);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, sigterm_finishes_the_running_job)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q3", 2), rec_path);
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 2, 10000);
    pid_t pids[MAX_KIDS];
    int n = th_sup_workers(&sv, pids, MAX_KIDS);
    char *id = xadd("q3", "test.record", "{\"sleep_ms\":1000}");
    wait_job_running("q3", "rec");
    cr_assert_eq(th_count_lines(rec_path), 0, "job finished before the stop: test proves nothing");
    th_sup_stop(&sv, 15000);

    th_rec *recs;
    cr_assert_eq(th_read_recs(rec_path, &recs), 1);
    cr_assert_str_eq(recs[0].id, id);
    cr_assert_eq(th_pending(rc, "sluice:{q3}", "rec"), 0);
    for (int i = 0; i < n; i++)
        cr_assert(!th_alive(pids[i], TH_ZOMBIE_ALIVE), "worker %d still alive (or unreaped)", (int)pids[i]);
    free(recs);
    free(id);
}

Test(supervisor, ttin_ttou_resize_every_pool)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q4", 2), rec_path);
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 2, 10000);
    pid_t orig[MAX_KIDS], now[MAX_KIDS];
    cr_assert_eq(th_sup_workers(&sv, orig, MAX_KIDS), 2);
    cr_assert_eq(kill(sv.pid, SIGTTIN), 0);
    th_sup_wait_workers(&sv, 3, 10000);
    int n = th_sup_workers(&sv, now, MAX_KIDS);
    cr_assert(has_pid(now, n, orig[0]) && has_pid(now, n, orig[1]));
    cr_assert_eq(kill(sv.pid, SIGTTOU), 0);
    th_sup_wait_workers(&sv, 2, 10000);
    n = th_sup_workers(&sv, now, MAX_KIDS);
    cr_assert(n == 2 && has_pid(now, n, orig[0]) && has_pid(now, n, orig[1]));
    th_sup_stop(&sv, 15000);
}

Test(supervisor, sighup_resizes_and_survives_a_bad_config)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q5", 2), rec_path);
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 2, 10000);
    pid_t orig[MAX_KIDS], now[MAX_KIDS], after[MAX_KIDS];
    cr_assert_eq(th_sup_workers(&sv, orig, MAX_KIDS), 2);
    write_cfg(SUP_DEFAULT, "", REC_POOL("rec", "q5", 4), rec_path);
    cr_assert_eq(kill(sv.pid, SIGHUP), 0);
    th_sup_wait_workers(&sv, 4, 10000);
    int n = th_sup_workers(&sv, now, MAX_KIDS);
    cr_assert(has_pid(now, n, orig[0]) && has_pid(now, n, orig[1]));
    cr_assert(th_sup_wait_log(&sv, "\"msg\":\"config reloaded\"", 5000));

    free(th_write_file("sluice.json", "{\"plugin_dir\":\"/tmp\",\"pools\":[{\"name\":\"rec\","
                                      "\"plugins\":[\"record\"],\"workers\":\"many\"}]}"));
    cr_assert_eq(kill(sv.pid, SIGHUP), 0);
    cr_assert(th_sup_wait_log(&sv, "config reload failed", 5000), "reload failure not logged");
    cr_assert_eq(th_sup_log_count(&sv, "config reload failed", "pools[0].workers"), 1,
                 "the error does not name the key");
    cr_assert(th_alive(sv.pid, TH_ZOMBIE_ALIVE)); /* as kill(pid, 0) sees it */
    int m = th_sup_workers(&sv, after, MAX_KIDS);
    cr_assert_eq(m, 4);
    for (int i = 0; i < n; i++)
        cr_assert(has_pid(after, m, now[i]), "worker %d replaced", (int)now[i]);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, exit_78_is_never_respawned)
{
    write_cfg(SUP_DEFAULT, "", REC_POOL("good", "q6", 1) "," POOL("bad", "q6b", 1, "\"init_fail\"", ""), rec_path);
    th_sup_start(&sv);
    cr_assert(th_sup_wait_log(&sv, "slot disabled", 10000), "no config-error exit logged");
    th_sup_wait_workers(&sv, 1, 10000);
    th_sleep_ms(2000); /* give a wrong respawn the chance to happen */
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"worker spawned\"", "\"pool\":\"bad\""), 1);
    cr_assert(th_alive(sv.pid, TH_ZOMBIE_ALIVE)); /* as kill(pid, 0) sees it */
    cr_assert_eq(th_sup_workers(&sv, NULL, 0), 1);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, all_slots_config_error_exits_78)
{
    write_cfg(SUP_DEFAULT, "", POOL("bad", "q7", 2, "\"init_fail\"", ""));
    th_sup_start(&sv);
    cr_assert_eq(sup_exit(15000), 78);
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"worker spawned\"", "\"pool\":\"bad\""), 2);
}

Test(supervisor, unexecutable_worker_binary_exits_78)
{
    write_cfg("\"worker_path\":\"/nonexistent/sluice-worker\"", "", POOL("a", "q12", 1, "\"ok\"", ""));
    th_sup_start(&sv);
    cr_assert_eq(sup_exit(15000), 78);
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"worker spawned\"", "\"pool\":\"a\""), 3);
    cr_assert_eq(th_sup_log_count(&sv, "worker binary failed repeatedly", "/nonexistent/sluice-worker"), 1);
}

struct reload_arg {
    pid_t roll[2];
    pid_t keep;
};

static int reload_applied(void *arg)
{
    struct reload_arg *a = arg;
    pid_t p[MAX_KIDS];
    int n = workers_with("--pool", "roll", p);
    if (n != 2 || has_pid(p, n, a->roll[0]) || has_pid(p, n, a->roll[1]))
        return 0;
    if (workers_with("--pool", "keep", p) != 1 || p[0] != a->keep)
        return 0;
    return workers_with("--pool", "gone", p) == 0 && workers_with("--pool", "new", p) == 1;
}

Test(supervisor, sighup_restarts_changed_pools_one_slot_at_a_time)
{
    write_cfg(SUP_DEFAULT, "",
              POOL("roll", "q8", 2, "\"ok\"", "") "," POOL("keep", "q8", 1, "\"ok\"", "") "," POOL("gone", "q8", 1,
                                                                                                   "\"ok\"", ""));
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 4, 10000);
    struct reload_arg ra;
    pid_t keep[MAX_KIDS];
    cr_assert_eq(workers_with("--pool", "roll", ra.roll), 2);
    cr_assert_eq(workers_with("--pool", "keep", keep), 1);
    ra.keep = keep[0];

    write_cfg(SUP_DEFAULT, "",
              POOL("roll", "q8", 2, "\"ok\"", ",\"read_count\":5") "," POOL("keep", "q8", 1, "\"ok\"",
                                                                            "") "," POOL("new", "q8", 1, "\"ok\"", ""));
    cr_assert_eq(kill(sv.pid, SIGHUP), 0);
    cr_assert(th_wait_until(reload_applied, &ra, 15000), "reload not applied as expected");

    /* One slot at a time: the second replacement starts only after the first
     * replacement said ready. */
    int first = log_find("rolling restart: replacing worker", "\"pool\":\"roll\"", -1, NULL);
    int ready = log_find("\"msg\":\"worker ready\"", "\"pool\":\"roll\"", first, NULL);
    int second = log_find("rolling restart: replacing worker", "\"pool\":\"roll\"", first, NULL);
    cr_assert(first >= 0 && ready > first && second > ready, "order %d %d %d", first, ready, second);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, hard_timeout_kills_the_worker)
{
    write_cfg(SUP_DEFAULT, "\"jobs\":{\"timeout\":\"300ms\"},", POOL("hang", "q9", 1, "\"hang\"", ""));
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 1, 10000);
    pid_t first[1];
    cr_assert_eq(th_sup_workers(&sv, first, MAX_KIDS), 1);
    char consumer[256];
    arg_of(first[0], "--consumer", consumer, sizeof consumer);

    char *id = xadd("q9", "test.hang", "{}");
    cr_assert(th_sup_wait_log(&sv, "job passed its hard timeout", 10000), "hung job was never killed");
    cr_assert(th_sup_log_count(&sv, "job passed its hard timeout", id) >= 1, "timeout log lacks the job id");
    cr_assert(th_sup_log_count(&sv, "job passed its hard timeout", "\"reason\":\"timeout\"") >= 1);
    struct respawn_arg ra = {consumer, first[0]};
    cr_assert(th_wait_until(respawned, &ra, 10000), "worker not restarted after the timeout kill");
    free(id);
    th_sup_stop(&sv, 15000);
}

Test(supervisor, shutdown_timeout_kills_and_leaves_the_job_pending)
{
    write_cfg(WORKER ",\"shutdown_timeout\":\"500ms\"", "", POOL("hang", "q10", 1, "\"hang\"", ""));
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 1, 10000);
    free(xadd("q10", "test.hang", "{}"));
    wait_job_running("q10", "hang");
    th_sup_stop(&sv, 15000);
    cr_assert_eq(th_sup_log_count(&sv, "did not stop within shutdown_timeout", "\"pool\":\"hang\""), 1);
    cr_assert_eq(th_pending(rc, "sluice:{q10}", "hang"), 1);
}

Test(supervisor, second_sigint_kills_at_once)
{
    write_cfg(SUP_DEFAULT, "", POOL("hang", "q11", 1, "\"hang\"", ""));
    th_sup_start(&sv);
    th_sup_wait_workers(&sv, 1, 10000);
    free(xadd("q11", "test.hang", "{}"));
    pid_t worker = wait_job_running("q11", "hang");
    cr_assert_eq(kill(sv.pid, SIGINT), 0);
    cr_assert(th_sup_wait_log(&sv, "graceful stop", 5000));
    cr_assert_eq(kill(sv.pid, SIGINT), 0);
    /* The fast path by what it does, not by how long it takes (60 s only
     * guards against a hang): the supervisor exits 0 by the second-SIGINT
     * path, which kills the worker, rather than draining it (the hang job
     * never ends) or killing it when shutdown_timeout (10 s) runs out; the
     * killed job is neither acked nor dead-lettered: it stays pending. */
    cr_assert_eq(sup_exit(60000), 0);
    cr_assert_eq(th_sup_log_count(&sv, "second SIGINT: killing all workers now", NULL), 1);
    cr_assert_eq(th_sup_log_count(&sv, "did not stop within shutdown_timeout", NULL), 0,
                 "the worker was killed by the shutdown_timeout path, not the second SIGINT");
    cr_assert(!th_alive(worker, TH_ZOMBIE_DEAD), "worker %d outlived the fast stop", (int)worker);
    cr_assert_eq(th_pending(rc, "sluice:{q11}", "hang"), 1);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q11}:dlq:hang"), 0);
}

/* Run `sluice run -t` on sluice.json; the exit code, output in *out. */
static int run_check_env(char **out, char *const env[])
{
    char *log = th_write_file("check.log", "");
    char *argv[] = {SLUICE_BIN, "run", "-t", "-c", sv.cfg, NULL};
    pid_t pid = th_spawn(argv, env, log);
    int st = 0;
    cr_assert(th_wait_exit(pid, 30000, &st), "sluice run -t hangs");
    *out = th_read_file(log);
    free(log);
    cr_assert(WIFEXITED(st), "sluice run -t died: %d", st);
    return WEXITSTATUS(st);
}

static int run_check(char **out)
{
    return run_check_env(out, NULL);
}

Test(supervisor, run_t_checks_config_and_plugins)
{
    char *out = NULL;
    write_cfg(SUP_DEFAULT, "", POOL("a", "q", 1, "\"ok\"", "") "," POOL("b", "q", 1, "\"ok\",\"record\"", ""));
    cr_assert_eq(run_check(&out), 0, "output: %s", out);
    cr_assert(strstr(out, "config OK: 2 pools, 2 plugins"), "output: %s", out);
    free(out);

    write_cfg(SUP_DEFAULT, "", POOL("a", "q", 1, "\"ok\"", "") "," POOL("broken", "q", 1, "\"init_fail\"", ""));
    cr_assert_eq(run_check(&out), 78, "output: %s", out);
    cr_assert(strstr(out, "pool broken") && !strstr(out, "pool a:"), "output: %s", out);
    free(out);

    write_cfg(SUP_DEFAULT, "", POOL("a", "q", 1, "\"ok\"", ",\"wrokers\":2"));
    cr_assert_eq(run_check(&out), 78, "output: %s", out);
    cr_assert(strstr(out, "wrokers"), "output: %s", out);
    free(out);
}

/* `run -t` and `run` share one check of supervisor.http_listen: an address
 * `run` refuses fails `run -t` too; an empty SLUICE_HTTP_LISTEN turns the
 * endpoint off. */
Test(supervisor, run_t_and_run_agree_on_http_listen)
{
    char *out = NULL;
    char *bad[] = {"SLUICE_HTTP_LISTEN=0.0.0.0", NULL};
    write_cfg(SUP_DEFAULT, "", POOL("a", "q", 1, "\"ok\"", ""));
    cr_assert_eq(run_check_env(&out, bad), 78, "output: %s", out);
    cr_assert(strstr(out, "SLUICE_HTTP_LISTEN: expected host:port"), "output: %s", out);
    free(out);

    /* "" in the environment: off, so run starts without the endpoint */
    int port = th_free_port();
    char supv[512], envv[64];
    snprintf(supv, sizeof supv, SUP_DEFAULT ",\"http_listen\":\"127.0.0.1:%d\"", port);
    write_cfg(supv, "", POOL("a", "q", 1, "\"ok\"", ""));
    char *off[] = {"SLUICE_HTTP_LISTEN=", NULL};
    cr_assert_eq(run_check_env(&out, off), 0, "output: %s", out);
    free(out);
    th_sup_startv(&sv, NULL, off);
    th_sup_wait_workers(&sv, 1, 10000);
    cr_assert(th_sup_wait_log(&sv, "\"msg\":\"supervisor started\"", 10000));
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"http endpoint listening\"", NULL), 0, "the endpoint was started");
    snprintf(envv, sizeof envv, "127.0.0.1:%d", port);
    cr_assert_eq(th_sup_log_count(&sv, "\"msg\":\"supervisor started\"", envv), 0, "http_listen was not turned off");
    th_sup_stop(&sv, 15000);
}
