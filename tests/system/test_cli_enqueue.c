/* `sluice enqueue` run as the real binary (SLUICE_BIN) against a real
 * redis-server: one job, 2,500 stdin lines, a bad line's number and exit code,
 * --help, usage errors, URL precedence and a redacted password, delayed jobs
 * (--delay, --at) and idempotency keys (--key, --key-ttl). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/trace.h"
#include "support/run.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(cli_enqueue, .init = setup, .timeout = 60);

static long long xlen(const char *queue)
{
    redisContext *r = th_redis();
    long long n = th_int(r, "XLEN sluice:{%s}", queue);
    redisFree(r);
    return n;
}

Test(cli_enqueue, one_job)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "mail", "email.send", "{\"to\":\"a@b.c\"}", NULL};
    th_run_result r = th_run_io(args, NULL, "SLUICE_REDIS_URL");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(th_count_in(r.out, "\n"), 1, "one id: %s", r.out);

    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "XRANGE sluice:{mail} - +");
    cr_assert(rep && rep->elements == 1);
    char want[64];
    snprintf(want, sizeof want, "%s\n", rep->element[0]->element[0]->str);
    cr_assert_str_eq(r.out, want, "stdout is the job id");
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_str_eq(fv->element[1]->str, "email.send");
    cr_assert_str_eq(fv->element[3]->str, "{\"to\":\"a@b.c\"}");
    freeReplyObject(rep);
    redisFree(c);
    th_run_free(&r);
}

Test(cli_enqueue, options_quiet_and_default_payload)
{
    const char *args[] = {"enqueue", "-q", "--id", "job-1", "--correlation-id", "corr 1", "--causation-id",
                          "cause-1", "q",  "t",    NULL};
    char env[400];
    snprintf(env, sizeof env, "SLUICE_REDIS_URL=%s", th_redis_url());
    th_run_result r = th_run_io(args, NULL, env);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "", "-q prints nothing");

    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 1);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 14, "type, payload, id, enqueued_at, correlation_id, causation_id, traceparent");
    cr_assert_str_eq(fv->element[3]->str, "{}");
    cr_assert_str_eq(fv->element[5]->str, "job-1");
    cr_assert_str_eq(fv->element[9]->str, "corr 1");
    cr_assert_str_eq(fv->element[11]->str, "cause-1");
    cr_assert_str_eq(fv->element[12]->str, "traceparent");
    cr_assert(sl_trace_valid(fv->element[13]->str), "a new W3C trace: %s", fv->element[13]->str);
    freeReplyObject(rep);
    redisFree(c);
    th_run_free(&r);
}

Test(cli_enqueue, stdin_2500_lines)
{
    enum { N = 2500 };
    size_t cap = (size_t)N * 40 + 64, used = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 0; i < N; i++) {
        used += (size_t)snprintf(text + used, cap - used, "{\"n\":%d}\n", i);
        if (i % 1000 == 10)
            used += (size_t)snprintf(text + used, cap - used, "\n  \r\n"); /* blank lines skipped */
    }
    const char *args[] = {"enqueue", "-u", th_redis_url(), "bulk", "bulk.item", "-", NULL};
    th_run_result r = th_run_io(args, text, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(xlen("bulk"), N);
    cr_assert_eq(th_count_in(r.out, "\n"), N, "one id per job");
    cr_assert(strstr(r.err, "enqueued 2500 jobs"), "%s", r.err);

    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "XRANGE sluice:{bulk} - +");
    cr_assert(rep && rep->elements == N);
    for (int i = 0; i < N; i += 499) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        cr_assert_str_eq(rep->element[i]->element[1]->element[3]->str, want, "order kept");
    }
    freeReplyObject(rep);
    redisFree(c);
    th_run_free(&r);
    free(text);
}

Test(cli_enqueue, bad_stdin_line_reports_its_number)
{
    const char *text = "{\"n\":1}\n\n{\"n\":2}\n{\"n\":3\n{\"n\":4}\n";
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "-", NULL};
    th_run_result r = th_run_io(args, text, NULL);
    cr_assert_eq(r.code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "stdin line 4: payload is not valid JSON"), "%s", r.err);
    cr_assert(strstr(r.err, "enqueued 2 jobs"), "lines before the bad one went out: %s", r.err);
    cr_assert_eq(xlen("q"), 2, "nothing from the bad line on");
    cr_assert_eq(th_count_in(r.out, "\n"), 2);
    th_run_free(&r);
}

Test(cli_enqueue, bad_json_argument_is_a_usage_error)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "{nope}", NULL};
    th_run_result r = th_run_io(args, NULL, NULL);
    cr_assert_eq(r.code, 2, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "payload is not valid JSON: expected a string key at offset 1"), "%s", r.err);
    cr_assert_eq(xlen("q"), 0);
    th_run_free(&r);

    const char *args2[] = {"enqueue", "-u", th_redis_url(), "q", "Bad.Type", NULL};
    r = th_run_io(args2, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "invalid type \"Bad.Type\""), "%s", r.err);
    th_run_free(&r);

    const char *args3[] = {"enqueue", "-u", th_redis_url(), "q", "t", "-", "--id", "x", NULL};
    r = th_run_io(args3, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--id"), "%s", r.err);
    th_run_free(&r);
}

Test(cli_enqueue, negative_number_payload_after_double_dash)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "--", "-1", NULL};
    th_run_result r = th_run_io(args, NULL, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(xlen("q"), 1);
    th_run_free(&r);
}

Test(cli_enqueue, help_exits_0)
{
    const char *args[] = {"enqueue", "--help", NULL};
    th_run_result r = th_run_io(args, NULL, NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "usage: sluice enqueue", 21) == 0, "%s", r.out);
    const char *documented[] = {"--delay DURATION",          "--at TIME",      "--key KEY",
                                "--key-ttl DURATION",        "@EPOCH_SECONDS", "Examples:",
                                "sluice enqueue --delay 10m"};
    for (size_t i = 0; i < sizeof documented / sizeof documented[0]; i++)
        cr_assert(strstr(r.out, documented[i]), "--help lacks %s", documented[i]);
    cr_assert_str_eq(r.err, "");
    th_run_free(&r);
}

/* Every line under "Examples:" of --help, run as a shell command against a
 * Redis holding the repo's own schema of order.placed.v1, exits 0 and adds
 * its job (payloads.jsonl: two lines). */
Test(cli_enqueue, help_examples_run)
{
    const char *reg[] = {"schema",
                         "register",
                         "-u",
                         th_redis_url(),
                         "order.placed.v1",
                         SLUICE_SOURCE_DIR "/config/schemas/order.placed.v1.json",
                         NULL};
    th_run_result r = th_run_io(reg, NULL, NULL);
    cr_assert_eq(r.code, 0, "schema register: %s", r.err);
    th_run_free(&r);
    const char *help[] = {"enqueue", "--help", NULL};
    r = th_run_io(help, NULL, NULL);
    const char *ex = strstr(r.out, "\nExamples:\n");
    cr_assert_not_null(ex, "%s", r.out);
    char dir[600], bindir[600];
    snprintf(dir, sizeof dir, "%s", th_tmpdir());
    snprintf(bindir, sizeof bindir, "%s", SLUICE_BIN);
    *strrchr(bindir, '/') = '\0';
    cr_assert(th_write_file("payloads.jsonl", "{\"n\":1}\n{\"n\":2}\n") != NULL);
    /* One script, so the examples' "\\" line continuations work; set -ex names
     * the example that fails. */
    const char *text = strchr(ex + 1, '\n') + 1;
    int n = 0;
    for (const char *p = text; (p = strstr(p, "  sluice enqueue ")); p++)
        n++;
    char *script = NULL;
    cr_assert(asprintf(&script, "set -ex\ncd '%s'\nexport PATH='%s':\"$PATH\" SLUICE_REDIS_URL='%s'\n%s", dir, bindir,
                       th_redis_url(), text) > 0);
    char *path = th_write_file("examples.sh", script);
    char cmd[1024], errf[700];
    snprintf(errf, sizeof errf, "%s.err", path);
    snprintf(cmd, sizeof cmd, "sh '%s' >/dev/null 2>'%s'", path, errf);
    int st = system(cmd);
    char *err = th_read_file(errf);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the examples exit %d:\n%s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
              err ? err : "");
    free(err);
    free(path);
    free(script);
    cr_assert_eq(n, 5, "five examples");
    redisContext *c = th_redis();
    cr_assert_eq(th_int(c, "XLEN sluice:{orders}"), 2, "examples 1 and 4 enqueue now");
    cr_assert_eq(th_int(c, "ZCARD sluice:{mail}:sched") + th_int(c, "ZCARD sluice:{orders}:sched"), 4,
                 "examples 2, 3 and 5 (two lines) are delayed");
    redisFree(c);
    th_run_free(&r);
}

Test(cli_enqueue, usage_errors_exit_2)
{
    const char *missing[] = {"enqueue", "onlyqueue", NULL};
    const char *none[] = {"enqueue", NULL};
    const char *unknown[] = {"enqueue", "--bogus", "q", "t", NULL};
    const char *noval[] = {"enqueue", "q", "t", "-u", NULL};
    const char *extra[] = {"enqueue", "q", "t", "{}", "more", NULL};
    const char *const *cases[] = {missing, none, unknown, noval, extra};
    const char *msgs[] = {"missing QUEUE and TYPE", "missing QUEUE and TYPE", "unknown option '--bogus'",
                          "missing value for option '-u'", "unexpected argument 'more'"};
    for (size_t i = 0; i < 5; i++) {
        th_run_result r = th_run_io(cases[i], NULL, NULL);
        cr_assert_eq(r.code, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, msgs[i]), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "");
        th_run_free(&r);
    }
}

Test(cli_enqueue, url_flag_beats_environment_and_password_is_hidden)
{
    /* -u wins over a broken $SLUICE_REDIS_URL. */
    const char *args[] = {"enqueue", "-q", "-u", th_redis_url(), "q", "t", NULL};
    th_run_result r = th_run_io(args, NULL, "SLUICE_REDIS_URL=redis://127.0.0.1:1/0");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert_eq(xlen("q"), 1);

    /* Without -u the environment is used; a failure exits 1 without the password. */
    const char *args2[] = {"enqueue", "q", "t", NULL};
    r = th_run_io(args2, NULL, "SLUICE_REDIS_URL=redis://u:hunter2pw@127.0.0.1:1/0");
    cr_assert_eq(r.code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "127.0.0.1:1"), "%s", r.err);
    cr_assert_null(strstr(r.err, "hunter2pw"), "%s", r.err);
    cr_assert_null(strstr(r.out, "hunter2pw"));
    th_run_free(&r);

    const char *args3[] = {"enqueue", "--urll=redis://:hunter2pw@h", "q", "t", NULL};
    r = th_run_io(args3, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert_null(strstr(r.err, "hunter2pw"), "%s", r.err);
    th_run_free(&r);
}

/* ---- delayed jobs and idempotency keys ---- */

/* Score of the sched member of queue q whose field list holds "id","<id>". */
static long long due_of(redisContext *c, const char *q, const char *id)
{
    redisReply *rep = redisCommand(c, "ZRANGE sluice:{%s}:sched 0 -1 WITHSCORES", q);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY);
    char pat[200];
    snprintf(pat, sizeof pat, "\"id\",\"%s\"", id);
    long long due = -1;
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (strstr(rep->element[i]->str, pat))
            due = strtoll(rep->element[i + 1]->str, NULL, 10);
    freeReplyObject(rep);
    cr_assert_neq(due, -1, "no sched member with id %s", id);
    return due;
}

/* Copy stdout without its newline. */
static void chomp_to(char *dst, size_t n, const char *out)
{
    snprintf(dst, n, "%.*s", (int)strcspn(out, "\n"), out);
}

Test(cli_enqueue, delay_puts_the_job_in_the_schedule)
{
    redisContext *c = th_redis();
    const char *args[] = {"enqueue", "-u", th_redis_url(), "--delay", "30s", "q", "t", "{\"a\":1}", NULL};
    long long before = th_server_ms(c);
    th_run_result r = th_run_io(args, NULL, NULL);
    long long after = th_server_ms(c);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.err, "", "no log noise on stderr");
    char id[128];
    chomp_to(id, sizeof id, r.out);
    cr_assert_eq(strlen(id), 36, "a UUID job id: %s", r.out);
    cr_assert_eq(th_int(c, "ZCARD sluice:{q}:sched"), 1);
    cr_assert_eq(th_int(c, "EXISTS sluice:{q}"), 0, "nothing in the stream yet");
    long long due = due_of(c, "q", id);
    cr_assert(due >= before + 30000 && due <= after + 30000, "due %lld not in [%lld, %lld]", due, before + 30000,
              after + 30000);
    th_run_free(&r);
    redisFree(c);
}

Test(cli_enqueue, at_in_the_past_schedules_with_that_score)
{
    redisContext *c = th_redis();
    struct {
        const char *at, *id;
        long long want;
    } cases[] = {
        {"2023-11-14T22:13:20Z", "a1", 1700000000000LL},
        {"@1700000000", "a2", 1700000000000LL},
        {"2023-11-14T23:13:20.5+01:00", "a3", 1700000000500LL},
        {"2023-11-14t12:13:20.123456-10:00", "a4", 1700000000123LL},
        {"2024-02-29T00:00:00Z", "a5", 1709164800000LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"enqueue", "-u", th_redis_url(), "--at", cases[i].at, "--id", cases[i].id, "q",
                              "t",       NULL};
        th_run_result r = th_run_io(args, NULL, NULL);
        cr_assert_eq(r.code, 0, "%s: %s", cases[i].at, r.err);
        char want[64];
        snprintf(want, sizeof want, "%s\n", cases[i].id);
        cr_assert_str_eq(r.out, want);
        cr_assert_eq(due_of(c, "q", cases[i].id), cases[i].want, "%s", cases[i].at);
        th_run_free(&r);
    }
    cr_assert_eq(th_int(c, "EXISTS sluice:{q}"), 0);
    redisFree(c);
}

Test(cli_enqueue, key_makes_a_second_enqueue_a_duplicate)
{
    redisContext *c = th_redis();
    const char *args[] = {"enqueue",           "-u", th_redis_url(), "--key", "order-42", "orders", "order.placed.v1",
                          "{\"order_id\":42}", NULL};
    th_run_result r1 = th_run_io(args, NULL, NULL);
    cr_assert_eq(r1.code, 0, "stderr: %s", r1.err);
    cr_assert_str_eq(r1.err, "");
    th_run_result r2 = th_run_io(args, NULL, NULL);
    cr_assert_eq(r2.code, 0, "a duplicate is not a failure: %s", r2.err);
    cr_assert_str_eq(r2.out, r1.out, "the first job's id both times");
    char id[128], want[300];
    chomp_to(id, sizeof id, r1.out);
    snprintf(want, sizeof want,
             "sluice enqueue: duplicate: key 'order-42' was already used by job %s; nothing enqueued\n", id);
    cr_assert_str_eq(r2.err, want);
    cr_assert_eq(th_int(c, "XLEN sluice:{orders}"), 1);
    redisReply *rep = redisCommand(c, "XRANGE sluice:{orders} - +");
    cr_assert_str_eq(rep->element[0]->element[0]->str, id);
    freeReplyObject(rep);
    long long ttl = th_int(c, "TTL sluice:{orders}:idem:order-42");
    cr_assert(ttl > 86390 && ttl <= 86400, "default TTL 24h: %lld", ttl);
    th_run_free(&r1);
    th_run_free(&r2);

    const char *args2[] = {"enqueue", "-u",      th_redis_url(), "-q",     "--key", "k:2", "--key-ttl",
                           "90m",     "--delay", "1m",           "orders", "t",     NULL};
    r1 = th_run_io(args2, NULL, NULL);
    cr_assert_eq(r1.code, 0, "stderr: %s", r1.err);
    cr_assert_str_eq(r1.out, "", "-q");
    ttl = th_int(c, "TTL sluice:{orders}:idem:k:2");
    cr_assert(ttl > 5390 && ttl <= 5400, "--key-ttl 90m: %lld", ttl);
    cr_assert_eq(th_int(c, "ZCARD sluice:{orders}:sched"), 1);
    r2 = th_run_io(args2, NULL, NULL);
    cr_assert_eq(r2.code, 0);
    cr_assert(strstr(r2.err, "duplicate: key 'k:2'"), "%s", r2.err);
    cr_assert_eq(th_int(c, "ZCARD sluice:{orders}:sched"), 1);
    th_run_free(&r1);
    th_run_free(&r2);
    redisFree(c);
}

Test(cli_enqueue, stdin_lines_with_a_delay)
{
    redisContext *c = th_redis();
    const char *args[] = {"enqueue", "-u", th_redis_url(), "--delay", "1.5m", "q", "t", "-", NULL};
    long long before = th_server_ms(c);
    th_run_result r = th_run_io(args, "{\"n\":1}\n{\"n\":2}\n\n{\"n\":3}\n", NULL);
    long long after = th_server_ms(c);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "enqueued 3 jobs"), "%s", r.err);
    cr_assert_eq(th_count_in(r.out, "\n"), 3);
    cr_assert_eq(th_int(c, "ZCARD sluice:{q}:sched"), 3);
    cr_assert_eq(th_int(c, "EXISTS sluice:{q}"), 0);
    char id[128];
    chomp_to(id, sizeof id, r.out);
    long long due = due_of(c, "q", id);
    cr_assert(due >= before + 90000 && due <= after + 90000, "due %lld", due);
    th_run_free(&r);
    redisFree(c);
}

Test(cli_enqueue, bad_delivery_options_exit_2)
{
    struct {
        const char *args[8];
        const char *msg;
    } cases[] = {
        {{"--delay", "1s", "--at", "@1700000000"}, "sluice enqueue: --delay and --at cannot be used together"},
        {{"--delay", "soon"},
         "sluice enqueue: invalid --delay \"soon\" (expected a duration like 250ms, 30s, 5m or 1.5h)"},
        {{"--delay", "-5s"}, "invalid --delay \"-5s\""},
        {{"--at", "2026-02-29T10:00:00Z"},
         "sluice enqueue: invalid --at \"2026-02-29T10:00:00Z\" (expected an RFC 3339 "
         "time like 2026-11-26T10:00:00Z or @EPOCH_SECONDS, in 1970..9999)"},
        {{"--at", "2026-11-26 10:00:00"}, "invalid --at \"2026-11-26 10:00:00\""},
        {{"--at", "2026-11-26T10:00:00"}, "invalid --at \"2026-11-26T10:00:00\"", /* no zone */},
        {{"--at", "@"}, "invalid --at \"@\""},
        {{"--at", "@99999999999999"}, "invalid --at \"@99999999999999\""},
        {{"--at", "1969-12-31T23:59:59Z"}, "invalid --at \"1969-12-31T23:59:59Z\""},
        {{"--key", "has space"}, "sluice enqueue: invalid --key \"has space\" (expected 1 to 200 of [A-Za-z0-9_.:-])"},
        {{"--key", ""}, "invalid --key \"\""},
        {{"--key-ttl", "1h"}, "sluice enqueue: --key-ttl needs --key"},
        {{"--key", "k", "--key-ttl", "1500ms"},
         "sluice enqueue: invalid --key-ttl \"1500ms\" (expected whole seconds "
         "like 3600s, 90m or 24h, at least 1s)"},
        {{"--key", "k", "--key-ttl", "0s"}, "invalid --key-ttl \"0s\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[16] = {"enqueue", "-u", th_redis_url()};
        int n = 3;
        for (int j = 0; cases[i].args[j] != NULL; j++)
            argv[n++] = cases[i].args[j];
        argv[n++] = "q";
        argv[n++] = "t";
        argv[n] = NULL;
        th_run_result r = th_run_io(argv, NULL, NULL);
        cr_assert_eq(r.code, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, cases[i].msg), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "");
        th_run_free(&r);
    }
    /* --key names one job: not with stdin lines. */
    const char *args[] = {"enqueue", "-u", th_redis_url(), "--key", "k", "q", "t", "-", NULL};
    th_run_result r = th_run_io(args, "{}\n", NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "sluice enqueue: --key names one job; it cannot be used with \"-\""), "%s", r.err);
    th_run_free(&r);

    redisContext *c = th_redis();
    cr_assert_eq(th_int(c, "DBSIZE"), 0, "nothing written");
    redisFree(c);
}
