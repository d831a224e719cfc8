/* HTTP endpoint suite: a real `sluice run` with real workers and the test
 * plugins, scraped over a socket with a tiny HTTP/1.0 client. /metrics counts
 * (checked by promtool), /healthz, /readyz, /status, alerts, counters that
 * survive a worker kill, cancelled jobs, and the shipped alert rules and
 * dashboard. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/support/run.h"
#include "tests/support/sup.h"
#include "tests/support/th.h"

static redisContext *rc;
/* `sluice run -c http.json`, log http-sup.log. Its log is counted in
 * occurrences (th_count_in_file), not lines. */
static th_sup sup;
static int http_port;
static const char *sup_extra = ""; /* extra supervisor members, ending with a comma */
static char rec_path[512];

static void setup(void)
{
    th_flushall();
    rc = th_redis();
    char *cfg = th_tmp_path("http.json");
    th_sup_init(&sup, "http", cfg, "http-sup.log");
    free(cfg);
    snprintf(rec_path, sizeof rec_path, "%s/http-rec.txt", th_tmpdir());
}

static void teardown(void)
{
    th_sup_kill(&sup);
    sup_extra = "";
    if (rc)
        redisFree(rc);
    rc = NULL;
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ------------------------------------------------------------ */

/* GET path on the supervisor's endpoint (th_http_get). */
static int http_get(const char *path, char **body)
{
    return th_http_get(http_port, path, body);
}

/* Write the config: extra top-level members ("" or ending with a comma),
 * supervisor members, and the pools (printf format). */
static void write_cfg(const char *url, const char *extra, const char *pools_fmt, ...)
{
    char *pools = NULL, *text = NULL;
    va_list ap;
    va_start(ap, pools_fmt);
    cr_assert(vasprintf(&pools, pools_fmt, ap) > 0);
    va_end(ap);
    http_port = th_free_port();
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_max\":\"300ms\",\"command_timeout\":\"3s\"},"
                       "\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\",%s"
                       "\"supervisor\":{%s\"worker_path\":\"%s\",\"shutdown_timeout\":\"5s\","
                       "\"http_listen\":\"127.0.0.1:%d\",\"stats_interval\":\"200ms\","
                       "\"restart_backoff_min\":\"100ms\",\"restart_backoff_max\":\"500ms\"},"
                       "\"pools\":[%s]}\n",
                       url ? url : th_redis_url(), SLUICE_TEST_PLUGIN_DIR, extra, sup_extra, SLUICE_WORKER_BIN,
                       http_port, pools) > 0);
    free(th_write_file("http.json", text)); /* sup.cfg */
    free(text);
    free(pools);
}

/* Poll path until its status is code (and the body has needle, if given). */
static int wait_http(const char *path, int code, const char *needle, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 50) {
        char *body;
        int c = http_get(path, &body);
        int ok = c == code && (!needle || (body && strstr(body, needle)));
        free(body);
        if (ok)
            return 1;
        th_sleep_ms(50);
    }
    return 0;
}

/* The value of the sample line that starts with `series` ("name{...}"), -1 if absent. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static double metric(const char *series)
{
    char *body;
    if (http_get("/metrics", &body) != 200) {
        free(body);
        return -1;
    }
    double v = sample(body, series);
    free(body);
    return v;
}

static int wait_metric(const char *series, double want, int timeout_ms)
{
    for (int t = 0; t < timeout_ms; t += 50) {
        if (metric(series) == want)
            return 1;
        th_sleep_ms(50);
    }
    return 0;
}

static void xadd(const char *q, const char *type, int n)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(rc, "XADD sluice:{%s} * type %s payload {}", q, type);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(rc, (void **)&r), REDIS_OK);
        cr_assert(r && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

/* Feed text to `promtool ARGS` on stdin (text NULL: none); its exit status. */
static int promtool(const char *args, const char *text, char *out, size_t outlen)
{
    char cmd[1024];
    if (system("command -v promtool >/dev/null 2>&1") != 0)
        cr_assert_fail("promtool not found: install the Debian package `prometheus` (scripts/deps.sh test)");
    char *in = th_write_file("promtool-in.txt", text ? text : "");
    snprintf(cmd, sizeof cmd, "promtool %s < %s 2>&1", args, in);
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    size_t n = fread(out, 1, outlen - 1, f);
    out[n] = '\0';
    free(in);
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define REC "\"settings\":{\"record_file\":\"%s\"}"
#define GOOD_POOLS \
    "{\"name\":\"rec\",\"queue\":\"hq\",\"workers\":2,\"block\":\"200ms\",\"plugins\":[\"record\",\"fail\"]," REC "}"
#define ID(x) "sluice_jobs_total{queue=\"hq\",group=\"rec\",type=\"" x

/* Every sluice_* name in file must be a family (or a histogram series) of text. */
static void names_exist(const char *file, const char *text)
{
    char *path, *doc;
    cr_assert(asprintf(&path, "%s/%s", SLUICE_SOURCE_DIR, file) > 0);
    doc = th_read_file(path);
    cr_assert(doc, "cannot read %s", path);
    int found = 0;
    for (const char *p = doc; (p = strstr(p, "sluice_"));) {
        if (p > doc && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'))) {
            p++;
            continue;
        }
        char name[128];
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        snprintf(name, sizeof name, "%.*s", (int)n, p);
        p += n;
        static const char *const sfx[] = {"_bucket", "_sum", "_count"};
        for (int i = 0; i < 3; i++) {
            size_t l = strlen(name), k = strlen(sfx[i]);
            if (l > k && strcmp(name + l - k, sfx[i]) == 0) {
                char fam[160];
                snprintf(fam, sizeof fam, "# TYPE %.*s histogram", (int)(l - k), name);
                if (strstr(text, fam))
                    name[l - k] = '\0';
            }
        }
        char type[160];
        snprintf(type, sizeof type, "# TYPE %s ", name);
        cr_expect(strstr(text, type), "%s uses %s, which /metrics does not have", file, name);
        found++;
    }
    cr_assert_gt(found, 5, "%s names almost no metric", file);
    free(doc);
    free(path);
}

/* ---- tests -------------------------------------------------------------- */

Test(http, metrics_count_jobs_and_pass_promtool)
{
    char out[8192], *body = NULL;
    write_cfg(NULL, "", GOOD_POOLS, rec_path);
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 200, NULL, 15000), "never ready");
    xadd("hq", "test.record", 200);
    xadd("hq", "test.fail", 20);
    cr_assert(wait_metric(ID("test.record") "\",outcome=\"ok\"}", 200, 20000), "ok never reached 200: %g",
              metric(ID("test.record") "\",outcome=\"ok\"}"));
    cr_assert(wait_metric(ID("test.fail") "\",outcome=\"dead\"}", 20, 10000));
    th_sleep_ms(300); /* nothing more may come */
    cr_assert_eq(http_get("/metrics", &body), 200);
    cr_assert_eq(sample(body, ID("test.record") "\",outcome=\"ok\"}"), 200);
    cr_assert_eq(sample(body, ID("test.record") "\",outcome=\"dead\"}"), 0);
    cr_assert_eq(sample(body, ID("test.fail") "\",outcome=\"dead\"}"), 20);
    cr_assert_eq(sample(body, ID("test.fail") "\",outcome=\"ok\"}"), 0);
    cr_assert_eq(sample(body, "sluice_dead_letters_total{queue=\"hq\",group=\"rec\",reason=\"failed\"}"), 20);
    cr_assert_eq(sample(body, "sluice_job_duration_seconds_count{queue=\"hq\",group=\"rec\"}"), 220);
    cr_assert_eq(sample(body, "sluice_job_duration_seconds_bucket{queue=\"hq\",group=\"rec\",le=\"+Inf\"}"), 220);
    cr_assert_eq(sample(body, "sluice_workers{pool=\"rec\",state=\"idle\"}") +
                     sample(body, "sluice_workers{pool=\"rec\",state=\"running\"}"),
                 2);
    cr_assert_eq(sample(body, "sluice_redis_up"), 1);
    cr_assert(strstr(body, "sluice_build_info{version=\""));
    int rcode = promtool("check metrics", body, out, sizeof out);
    cr_assert_eq(rcode, 0, "promtool check metrics failed:\n%s", out);
    /* The gauges arrive with the next sample. */
    cr_assert(wait_metric("sluice_dlq_length{queue=\"hq\",group=\"rec\"}", 20, 5000));
    cr_assert(wait_metric("sluice_group_pending{queue=\"hq\",group=\"rec\"}", 0, 5000));
    cr_assert(wait_metric("sluice_stream_length{queue=\"hq\"}", 220, 5000));
    free(body);
    cr_assert_eq(http_get("/metrics", &body), 200);
    names_exist("config/prometheus/alerts.yml", body);
    names_exist("config/grafana/sluice.json", body);
    free(body);

    /* The stats stream for `sluice stats`: cumulative processed, retried,
     * dead and unwritten counts of the group, once a sample has them all. */
    long long st[4] = {-1, -1, -1, -1};
    static const char *const st_names[4] = {"processed", "retried", "dead", "unwritten"};
    for (int tries = 0; tries < 250 && st[0] != 200; tries++) {
        redisReply *r = redisCommand(rc, "XREVRANGE sluice:{hq}:stats:rec + - COUNT 1");
        cr_assert(r && r->type == REDIS_REPLY_ARRAY, "XREVRANGE");
        if (r->elements == 1) {
            const redisReply *f = r->element[0]->element[1];
            for (size_t k = 0; k + 1 < f->elements; k += 2)
                for (int i = 0; i < 4; i++)
                    if (strcmp(f->element[k]->str, st_names[i]) == 0)
                        st[i] = strtoll(f->element[k + 1]->str, NULL, 10);
        }
        freeReplyObject(r);
        if (st[0] != 200)
            th_sleep_ms(20);
    }
    cr_assert_eq(st[0], 200, "processed");
    cr_assert_eq(st[1], 0, "retried");
    cr_assert_eq(st[2], 20, "dead");
    cr_assert_eq(st[3], 0, "unwritten");

    /* Counters of a worker killed with SIGKILL stay. */
    pid_t kids[8];
    int n = th_sup_workers(&sup, kids, 8);
    cr_assert_eq(n, 2);
    kill(kids[0], SIGKILL);
    cr_assert(wait_metric("sluice_worker_restarts_total{pool=\"rec\",cause=\"crash\"}", 1, 5000));
    cr_assert(wait_http("/readyz", 200, NULL, 10000));
    cr_assert_eq(metric(ID("test.record") "\",outcome=\"ok\"}"), 200);
    cr_assert_eq(metric(ID("test.fail") "\",outcome=\"dead\"}"), 20);
    cr_assert_eq(metric("sluice_job_duration_seconds_count{queue=\"hq\",group=\"rec\"}"), 220);
    th_sup_stop(&sup, 15000);
}

/* sluice CLI command on the test's Redis, asserting exit 0; its stdout into
 * out (n bytes), if given. */
static void cli_ok(char *out, size_t n, const char *const *argv)
{
    th_run_result r = th_run_argv(argv);
    cr_assert_eq(r.code, 0, "sluice %s %s: %s %s", argv[0], argv[1], r.out, r.err);
    if (out)
        snprintf(out, n, "%s", r.out);
    th_run_free(&r);
}

typedef struct note_wait {
    const char *file, *line;
} note_wait;

static int has_note(void *arg)
{
    const note_wait *w = arg;
    return th_count_lines_with(w->file, w->line, NULL) > 0;
}

#define CANCELLED(x) "sluice_jobs_cancelled_total{queue=\"cq\",group=\"g\",type=\"" x "\"}"

/* A job cancelled while queued behind a running one (its worker skips it), a
 * running one that stops at should_stop and one killed after
 * jobs.cancel_grace are counted once each, in sluice_jobs_cancelled_total
 * only; a job the cancel removes itself (scheduled) is not. */
Test(http, cancelled_jobs_are_counted_and_pass_promtool)
{
    char out[8192], *body = NULL;
    const char *url = th_redis_url();
    char *start = th_tmp_path("http-cancel-start.txt"), *gate = th_tmp_path("http-cancel-gate");
    unlink(start), unlink(gate);
    write_cfg(NULL, "\"jobs\":{\"cancel_grace\":\"1s\"},",
              "{\"name\":\"c\",\"queue\":\"cq\",\"group\":\"g\",\"workers\":1,\"block\":\"200ms\","
              "\"plugins\":[\"cancel\"],\"settings\":{\"record_file\":\"%s\",\"start_file\":\"%s\","
              "\"gate_file\":\"%s\"}}",
              rec_path, start, gate);
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 200, NULL, 15000), "never ready");

    /* g1 holds the only worker; d1 is read in the same batch (the group is
     * paused while both are added), cancelled while g1 runs */
    cli_ok(NULL, 0, (const char *const[]){"pause", "-u", url, "cq", "--group", "g", NULL});
    th_sleep_ms(500); /* a read in flight when the pause came ends (block 200ms) */
    cli_ok(NULL, 0,
           (const char *const[]){"enqueue", "-q", "-u", url, "--id", "g1", "cq", "test.cancel.gate", "{}", NULL});
    cli_ok(NULL, 0,
           (const char *const[]){"enqueue", "-q", "-u", url, "--id", "d1", "cq", "test.cancel.quick", "{}", NULL});
    cli_ok(NULL, 0,
           (const char *const[]){"enqueue", "-q", "-u", url, "--id", "s1", "--delay", "1h", "cq", "test.cancel.quick",
                                 "{}", NULL});
    cli_ok(NULL, 0, (const char *const[]){"resume", "-u", url, "cq", "--group", "g", NULL});
    note_wait w = {start, "g1 start"};
    cr_assert(th_wait_until(has_note, &w, 20000), "g1 never started (see %s)", sup.log);
    cli_ok(out, sizeof out, (const char *const[]){"jobs", "cancel", "--json", "-u", url, "cq", "d1", NULL});
    cr_assert(strstr(out, "\"open\":\t1"), "d1 is held by g1's worker, which settles it: %s", out);
    cli_ok(out, sizeof out, (const char *const[]){"jobs", "cancel", "--json", "-u", url, "cq", "s1", NULL});
    cr_assert(strstr(out, "\"state\":\t\"scheduled\""), "%s", out);
    cr_assert(th_write_file("http-cancel-gate", "go") != NULL);
    cr_assert(wait_metric(CANCELLED("test.cancel.quick"), 1, 20000), "d1 skipped: %g",
              metric(CANCELLED("test.cancel.quick")));

    /* running: L1 stops at should_stop, I1 ignores it and is killed */
    cli_ok(NULL, 0,
           (const char *const[]){"enqueue", "-q", "-u", url, "--id", "L1", "cq", "test.cancel.loop", "{}", NULL});
    w.line = "L1 start";
    cr_assert(th_wait_until(has_note, &w, 20000), "L1 never started (see %s)", sup.log);
    cli_ok(NULL, 0, (const char *const[]){"jobs", "cancel", "-u", url, "cq", "L1", NULL});
    cr_assert(wait_metric(CANCELLED("test.cancel.loop"), 1, 20000), "L1 stopped: %g",
              metric(CANCELLED("test.cancel.loop")));
    cli_ok(NULL, 0,
           (const char *const[]){"enqueue", "-q", "-u", url, "--id", "I1", "cq", "test.cancel.ignore", "{}", NULL});
    w.line = "I1 start";
    cr_assert(th_wait_until(has_note, &w, 20000), "I1 never started (see %s)", sup.log);
    cli_ok(NULL, 0, (const char *const[]){"jobs", "cancel", "-u", url, "cq", "I1", NULL});
    cr_assert(wait_metric(CANCELLED("test.cancel.ignore"), 1, 30000), "I1 killed: %g",
              metric(CANCELLED("test.cancel.ignore")));
    cr_assert(wait_http("/readyz", 200, NULL, 15000), "the killed worker is replaced");
    th_sleep_ms(500); /* nothing more may come */

    cr_assert_eq(http_get("/metrics", &body), 200);
    cr_assert_eq(sample(body, CANCELLED("test.cancel.quick")), 1, "d1 only: s1 never reached a worker");
    cr_assert_eq(sample(body, CANCELLED("test.cancel.loop")), 1);
    cr_assert_eq(sample(body, CANCELLED("test.cancel.ignore")), 1);
    cr_assert_eq(sample(body, CANCELLED("test.cancel.gate")), 0);
    /* s1, removed from the schedule by the cancel itself, is counted in Redis */
    cr_assert(wait_metric("sluice_cancels_removed_total{queue=\"cq\",state=\"scheduled\"}", 1, 10000), "s1: %g",
              metric("sluice_cancels_removed_total{queue=\"cq\",state=\"scheduled\"}"));
    cr_assert_eq(metric("sluice_cancels_removed_total{queue=\"cq\",state=\"queued\"}"), 0,
                 "d1 was held by a worker: it counts as skipped, not here");
    cr_assert_eq(sample(body, "sluice_jobs_total{queue=\"cq\",group=\"g\",type=\"test.cancel.gate\",outcome=\"ok\"}"),
                 1);
    static const char *const outcomes[] = {"ok", "retry", "unwritten", "dead", "skipped"};
    static const char *const types[] = {"test.cancel.quick", "test.cancel.loop", "test.cancel.ignore"};
    for (size_t t = 0; t < 3; t++)
        for (size_t k = 0; k < 5; k++) {
            char series[256];
            snprintf(series, sizeof series, "sluice_jobs_total{queue=\"cq\",group=\"g\",type=\"%s\",outcome=\"%s\"}",
                     types[t], outcomes[k]);
            cr_assert_eq(sample(body, series), 0, "a cancelled job has no other outcome: %s", series);
        }
    cr_assert_null(strstr(body, "outcome=\"cancelled\""), "cancelled is a family of its own");
    int rcode = promtool("check metrics", body, out, sizeof out);
    cr_assert_eq(rcode, 0, "promtool check metrics failed:\n%s", out);
    free(body);
    free(start), free(gate);
    th_sup_stop(&sup, 15000);
}

Test(http, health_ready_status_and_404)
{
    char *body;
    write_cfg(NULL, "", GOOD_POOLS, rec_path);
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 200, "ready", 15000));
    cr_assert(wait_http("/healthz", 200, "ok", 5000));
    cr_assert_eq(http_get("/nope", NULL), 404);
    cr_assert_eq(http_get("/status", &body), 200);
    cJSON *j = cJSON_Parse(body);
    cr_assert(j, "status is not JSON: %s", body);
    cr_assert_eq(cJSON_GetObjectItem(j, "pid")->valuedouble, sup.pid);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "redis_up")));
    cJSON *pools = cJSON_GetObjectItem(j, "pools");
    cr_assert_eq(cJSON_GetArraySize(pools), 1);
    cJSON *ws = cJSON_GetObjectItem(cJSON_GetArrayItem(pools, 0), "workers");
    cr_assert_eq(cJSON_GetArraySize(ws), 2);
    cJSON *w0 = cJSON_GetArrayItem(ws, 0);
    cr_assert_gt(cJSON_GetObjectItem(w0, "pid")->valuedouble, 0);
    cr_assert(strstr(cJSON_GetObjectItem(w0, "consumer")->valuestring, "-rec-0"));
    cr_assert(cJSON_GetObjectItem(w0, "counters"));
    cJSON_Delete(j);
    free(body);
    th_sup_stop(&sup, 15000);
}

Test(http, healthz_fails_when_redis_is_gone)
{
    th_server red = {.aof = 1};
    char *body;
    th_server_start(&red);
    write_cfg(red.url, "", GOOD_POOLS, rec_path);
    th_sup_start(&sup);
    cr_assert(wait_http("/healthz", 200, NULL, 15000));
    cr_assert(wait_http("/readyz", 200, NULL, 5000));
    th_server_kill(&red);
    cr_assert(wait_http("/healthz", 503, "redis", 10000), "healthz did not fail without redis");
    cr_assert(wait_http("/readyz", 503, "redis", 2000));
    cr_assert(wait_metric("sluice_redis_up", 0, 2000));
    cr_assert_eq(http_get("/healthz", &body), 503);
    cJSON *j = cJSON_Parse(body);
    cr_assert(j, "503 body is not JSON: %s", body);
    cr_assert(cJSON_GetArraySize(cJSON_GetObjectItem(j, "reasons")) >= 1);
    cJSON_Delete(j);
    free(body);
    th_server_start(&red);
    cr_assert(wait_http("/healthz", 200, NULL, 15000), "healthz did not recover with redis");
    th_sup_stop(&sup, 15000);
}

Test(http, healthz_fails_when_a_pool_has_no_live_worker)
{
    write_cfg(NULL, "", GOOD_POOLS ",{\"name\":\"bad\",\"queue\":\"bq\",\"workers\":1,\"plugins\":[\"init_fail\"]}",
              rec_path);
    th_sup_start(&sup);
    for (int i = 0; i < 300 && !th_count_in_file(sup.log, "config error (78)"); i++)
        th_sleep_ms(50);
    cr_assert(th_count_in_file(sup.log, "config error (78)") > 0, "the init_fail worker never exited 78");
    cr_assert(wait_http("/healthz", 503, "pool bad has no live worker", 5000));
    cr_assert(wait_http("/readyz", 503, "pool bad", 2000));
    cr_assert(wait_metric("sluice_worker_restarts_total{pool=\"bad\",cause=\"config\"}", 1, 2000));
    th_sup_stop(&sup, 15000);
}

Test(http, backlog_alert_raised_and_logged)
{
    write_cfg(NULL, "\"alerts\":{\"backlog\":5},",
              "{\"name\":\"idle\",\"queue\":\"aq\",\"workers\":0,\"plugins\":[\"ok\"]}");
    th_sup_start(&sup);
    cr_assert(wait_http("/healthz", 200, NULL, 15000));
    cr_assert(wait_metric("sluice_alert{queue=\"aq\",group=\"idle\",alert=\"backlog\"}", 0, 5000));
    xadd("aq", "test.ok", 50);
    cr_assert(wait_metric("sluice_alert{queue=\"aq\",group=\"idle\",alert=\"backlog\"}", 1, 5000));
    cr_assert(wait_metric("sluice_group_lag{queue=\"aq\",group=\"idle\"}", 50, 2000));
    th_sleep_ms(500);
    cr_assert_eq(th_count_in_file(sup.log, "\"alert raised\""), 1, "expected one alert line");
    char *log = th_read_file(sup.log);
    cr_assert(strstr(log, "\"alert\":\"backlog\""));
    free(log);
    redisReply *r = redisCommand(rc, "DEL sluice:{aq}");
    freeReplyObject(r);
    cr_assert(wait_metric("sluice_alert{queue=\"aq\",group=\"idle\",alert=\"backlog\"}", 0, 5000));
    cr_assert_eq(th_count_in_file(sup.log, "\"alert cleared\""), 1);
    th_sup_stop(&sup, 15000);
}

Test(http, a_pool_stuck_on_redis_errors_is_not_ready_and_alerts)
{
    /* the queue's key is a string: XGROUP CREATE answers WRONGTYPE, the pool never reads */
    freeReplyObject(redisCommand(rc, "SET sluice:{wt} not-a-stream"));
    write_cfg(NULL, "\"health\":{\"redis_error_after\":\"1s\"},",
              "{\"name\":\"wtp\",\"queue\":\"wt\",\"workers\":2,\"plugins\":[\"ok\"],\"block\":\"200ms\"}");
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 503, "pool wtp: every worker has had only Redis errors (last: WRONGTYPE)", 15000),
              "see %s", sup.log);
    cr_assert(wait_metric("sluice_alert{queue=\"wt\",group=\"wtp\",alert=\"redis_errors\"}", 1, 5000));
    cr_assert_eq(th_count_in_file(sup.log, "pool stuck on redis errors"), 1);
    /* the key fixed: the group is created, a read works, the streak ends */
    freeReplyObject(redisCommand(rc, "DEL sluice:{wt}"));
    cr_assert(wait_http("/readyz", 200, "ready", 15000), "see %s", sup.log);
    cr_assert(wait_metric("sluice_alert{queue=\"wt\",group=\"wtp\",alert=\"redis_errors\"}", 0, 5000));
    th_sup_stop(&sup, 15000);
}

Test(http, a_pool_that_never_read_is_not_ready)
{
    /* a WRONGTYPE queue key and the default health.redis_error_after (30s): not stuck yet, but never read */
    freeReplyObject(redisCommand(rc, "SET sluice:{nr} not-a-stream"));
    write_cfg(NULL, "", "{\"name\":\"nrp\",\"queue\":\"nr\",\"workers\":1,\"plugins\":[\"ok\"]}");
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 503, "pool nrp has not read from queue nr yet", 15000), "see %s", sup.log);
    th_sup_stop(&sup, 15000);
}

Test(http, bind_failure_exits_78)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), st = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    write_cfg(NULL, "", GOOD_POOLS, rec_path);
    a.sin_port = htons((uint16_t)http_port);
    cr_assert(bind(fd, (struct sockaddr *)&a, len) == 0 && listen(fd, 1) == 0);
    th_sup_start(&sup);
    st = th_sup_wait_exit(&sup, 10000);
    close(fd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 78, "status %d", st);
    cr_assert(th_count_in_file(sup.log, "cannot start the http endpoint") > 0);
}

Test(http, promtool_accepts_the_alert_rules)
{
    char out[8192], args[600];
    snprintf(args, sizeof args, "check rules %s/config/prometheus/alerts.yml", SLUICE_SOURCE_DIR);
    cr_assert_eq(promtool(args, NULL, out, sizeof out), 0, "promtool check rules failed:\n%s", out);
    char *doc = th_read_file(SLUICE_SOURCE_DIR "/config/grafana/sluice.json");
    cJSON *j = cJSON_Parse(doc);
    cr_assert(j, "the dashboard is not JSON");
    cr_assert_gt(cJSON_GetArraySize(cJSON_GetObjectItem(j, "panels")), 6);
    cJSON_Delete(j);
    free(doc);
}

Test(http, healthz_fails_when_a_backlog_is_not_consumed)
{
    write_cfg(NULL, "\"health\":{\"stall_after\":\"1s\"},\"jobs\":{\"timeout\":\"1h\"},",
              "{\"name\":\"stuck\",\"queue\":\"sq\",\"workers\":1,\"block\":\"200ms\",\"plugins\":[\"hang\"]}");
    th_sup_start(&sup);
    cr_assert(wait_http("/healthz", 200, NULL, 15000));
    xadd("sq", "test.hang", 3);
    cr_assert(wait_metric("sluice_jobs_in_flight{pool=\"stuck\"}", 1, 5000));
    cr_assert(wait_http("/healthz", 503, "nothing consumed", 5000), "a stuck backlog did not fail /healthz");
    cr_assert_geq(metric("sluice_group_pending{queue=\"sq\",group=\"stuck\"}"), 1);
    cr_assert_eq(http_get("/readyz", NULL), 200, "stalled is a health failure, not a readiness one");
    char *body;
    cr_assert_eq(http_get("/status", &body), 200);
    cr_assert(strstr(body, "\"type\":\"test.hang\""), "status does not show the running job: %s", body);
    free(body);
    kill(sup.pid, SIGINT);
    kill(sup.pid, SIGINT);
    th_sup_wait_exit(&sup, 10000); /* it ends; how is not this test's subject */
}

/* Jobs the supervisor kills for their hard timeout are settled by the
 * supervisor, not the worker: they still count, as retry then dead with
 * reason timeout. */
Test(http, timeouts_are_counted_as_outcomes)
{
    write_cfg(NULL,
              "\"jobs\":{\"timeout\":\"200ms\",\"max_attempts\":2,\"backoff_base\":\"5ms\",\"backoff_cap\":\"10ms\"},",
              "{\"name\":\"hang\",\"queue\":\"tq\",\"group\":\"hg\",\"plugins\":[\"hang\"],\"workers\":1}");
    th_sup_start(&sup);
    cr_assert(wait_http("/readyz", 200, NULL, 15000), "never ready");
    xadd("tq", "test.hang", 2);
    const char *dead = "sluice_jobs_total{queue=\"tq\",group=\"hg\",type=\"test.hang\",outcome=\"dead\"}";
    const char *retry = "sluice_jobs_total{queue=\"tq\",group=\"hg\",type=\"test.hang\",outcome=\"retry\"}";
    cr_assert(wait_metric(dead, 2, 30000), "timeouts never counted as dead: %g (see %s)", metric(dead), sup.log);
    cr_assert_eq(metric(retry), 2, "one retry per job before its last attempt");
    cr_assert_eq(metric("sluice_dead_letters_total{queue=\"tq\",group=\"hg\",reason=\"timeout\"}"), 2);
}

/* ---- limits ------------------------------------------------------------- */

#define DRIP_CONNS 100

/* A child that opens n connections to the endpoint and sends each a request
 * one byte every 200 ms (a slow-drip client that never finishes), until the
 * server has closed all of them or 60 s pass. Exits 0 when every connection
 * was closed by the server, else with the number still open (max 255). */
static pid_t drip_start(int n)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid > 0)
        return pid;
    int fds[DRIP_CONNS], open_n = 0;
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)http_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (fds[i] >= 0)
            (void)connect(fds[i], (struct sockaddr *)&a, sizeof a); /* EINPROGRESS: fine */
        open_n += fds[i] >= 0;
    }
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Drip: "
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (int t = 0; t < 300 && open_n > 0; t++) {
        for (int i = 0; i < n; i++) {
            if (fds[i] < 0)
                continue;
            char c;
            ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN)) {
                close(fds[i]); /* closed (or reset) by the server */
                fds[i] = -1;
                open_n--;
                continue;
            }
            (void)send(fds[i], &req[t % (sizeof req - 1)], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        usleep(200 * 1000);
    }
    _exit(open_n > 255 ? 255 : open_n);
}

struct sup_fds {
    pid_t old;
};

/* A sluice-worker child other than w->old runs (a respawn). */
static int respawned(void *arg)
{
    struct sup_fds *w = arg;
    pid_t kids[8];
    int n = th_sup_workers(&sup, kids, 8);
    int other = 0;
    for (int i = 0; i < n; i++)
        other += kids[i] != w->old;
    return n == 2 && other == 2;
}

/* With few descriptors (RLIMIT_NOFILE 64) and a flood of slow-drip clients,
 * the supervisor keeps spawning workers and answering /healthz, closes every
 * slow client by the request deadline, and does not flood its log. */
Test(http, flood_of_slow_clients_with_few_fds)
{
    sup_extra = "\"http_timeout\":\"1s\",";
    write_cfg(NULL, "", "{\"name\":\"ok\",\"queue\":\"hl\",\"workers\":2,\"block\":\"200ms\",\"plugins\":[\"ok\"]}");
    th_sup_start_nofile(&sup, 64);
    cr_assert(wait_http("/healthz", 200, "ok", 20000), "the endpoint never became healthy");
    pid_t kids[8];
    for (int t = 0; t < 200 && th_sup_workers(&sup, kids, 8) != 2; t++)
        th_sleep_ms(50);
    cr_assert_eq(th_sup_workers(&sup, kids, 8), 2);

    pid_t drip = drip_start(DRIP_CONNS);
    th_sleep_ms(1500); /* the flood is connected and dripping */

    /* a crashed worker is respawned: the supervisor still has descriptors */
    struct sup_fds w = {kids[0]};
    cr_assert_eq(kill(kids[0], SIGKILL), 0);
    cr_assert(th_wait_until(respawned, &w, 30000), "the killed worker was not respawned");

    /* /healthz answers while the flood lasts */
    cr_assert(wait_http("/healthz", 200, "ok", 30000), "/healthz did not answer during the flood");

    /* every slow client was disconnected by the server */
    int st = 0;
    cr_assert(th_wait_exit(drip, 70000, &st), "the drip client did not finish");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%d slow connections were never closed by the server",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    cr_assert(wait_http("/healthz", 200, "ok", 10000));
    cr_assert(th_count_in_file(sup.log, "cannot spawn worker") == 0, "a spawn failed for lack of descriptors");
    long lines = th_count_lines(sup.log);
    cr_assert(lines < 300, "the supervisor's log got %ld lines", lines);
    th_sup_stop(&sup, 15000);
}

/* The "open_fds" the supervisor logged with its lowered cap, -1 if none. */
static long logged_open_fds(void)
{
    char *text = th_read_file(sup.log);
    const char *p = text ? strstr(text, "\"open_fds\":") : NULL;
    long n = p ? strtol(p + strlen("\"open_fds\":"), NULL, 10) : -1;
    free(text);
    return n;
}

/* accept() failing with EMFILE (no descriptor left at all) pauses the
 * listener and logs one line, instead of a line per failed accept. */
Test(http, accept_emfile_logs_once)
{
    write_cfg(NULL, "", "{\"name\":\"z\",\"queue\":\"hl\",\"workers\":0,\"plugins\":[\"ok\"]}");
    /* A limit L with exactly two free descriptor numbers below it (for the
     * listener and the spare one) once the supervisor is up: the supervisor logs how many
     * descriptors below L it found open when L is low; narrow L down to that
     * count + 2 (inherited descriptors above L take no room). */
    int lim = 40;
    for (int round = 0;; round++) {
        cr_assert(round < 10, "no stable descriptor count");
        cr_assert_eq(truncate(sup.log, 0) == 0 || access(sup.log, F_OK) != 0, 1);
        th_sup_start_nofile(&sup, lim);
        for (int t = 0; t < 400 && th_count_in_file(sup.log, "http endpoint listening") == 0; t++)
            th_sleep_ms(50);
        long open_fds = logged_open_fds();
        th_sup_stop(&sup, 15000);
        cr_assert(open_fds > 3, "no open_fds logged");
        if (open_fds + 2 == lim)
            break;
        lim = (int)open_fds + 2;
    }
    cr_assert_eq(truncate(sup.log, 0), 0);

    /* Room for the listener and the spare only: every accept() fails with
     * EMFILE; the spare takes the client off the backlog and closes it. */
    th_sup_start_nofile(&sup, lim);
    for (int t = 0; t < 200 && th_count_in_file(sup.log, "http endpoint listening") == 0; t++)
        th_sleep_ms(50);
    cr_assert_eq(th_count_in_file(sup.log, "http endpoint listening"), 1, "the endpoint did not start");
    for (int i = 0; i < 6; i++) {
        int code = http_get("/healthz", NULL);
        cr_assert_eq(code, -1, "a request was answered without a descriptor: %d", code);
        th_sleep_ms(100);
    }
    cr_assert(th_alive(sup.pid, TH_ZOMBIE_DEAD));
    cr_assert_eq(th_count_in_file(sup.log, "accept() failed"), 1, "accept failures were not logged once");
    long lines = th_count_lines(sup.log);
    cr_assert(lines < 20, "the supervisor's log got %ld lines", lines);
    th_sup_stop(&sup, 15000);
}

/* http_listen with port 0: the kernel picks the port, and the log says which
 * (not ":0"), so the endpoint can be found. */
Test(http, port_0_logs_the_bound_port)
{
    write_cfg(NULL, "", "{\"name\":\"ok\",\"queue\":\"hl\",\"workers\":1,\"block\":\"200ms\",\"plugins\":[\"ok\"]}");
    char *text = th_read_file(sup.cfg), old[64];
    snprintf(old, sizeof old, "127.0.0.1:%d", http_port);
    char *at = strstr(text, old);
    cr_assert(at);
    char *fixed = NULL;
    cr_assert(asprintf(&fixed, "%.*s127.0.0.1:0%s", (int)(at - text), text, at + strlen(old)) > 0);
    char *path = th_write_file("http.json", fixed);
    free(path);
    free(fixed);
    free(text);
    th_sup_start(&sup);
    for (int t = 0; t < 200 && th_count_in_file(sup.log, "\"msg\":\"http endpoint listening\"") == 0; t++)
        th_sleep_ms(50);
    char *log = th_read_file(sup.log);
    const char *l = log ? strstr(log, "\"msg\":\"http endpoint listening\"") : NULL;
    cr_assert(l, "no listening line");
    const char *a = strstr(l, "\"listen\":\"127.0.0.1:");
    cr_assert(a, "%s", l);
    http_port = atoi(a + strlen("\"listen\":\"127.0.0.1:"));
    cr_assert_gt(http_port, 0, "the log shows port 0: %.200s", l);
    char bound[80];
    snprintf(bound, sizeof bound, "\"http_listen\":\"127.0.0.1:%d\"", http_port);
    cr_assert_eq(th_count_in_file(sup.log, bound), 1, "the start line does not show the bound address");
    free(log);
    cr_assert(wait_http("/healthz", 200, "ok", 20000), "nothing answers on the logged port %d", http_port);
    th_sup_stop(&sup, 15000);
}
