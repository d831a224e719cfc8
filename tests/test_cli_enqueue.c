/* `sluice enqueue` run as the real binary (SLUICE_BIN) against a real
 * redis-server: one job, 2,500 stdin lines, a bad line's number and exit code,
 * --help, usage errors, URL precedence and a redacted password. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(cli_enqueue, .init = setup, .timeout = 60);

/* Output of one run. */
typedef struct run_result {
    int code; /* exit code, or -1 if killed by a signal */
    char *out;
    char *err;
} run_result;

/*
 * Run SLUICE_BIN with args (NULL-terminated, without argv[0]), stdin from
 * stdin_text (NULL: /dev/null), environment plus env_kv ("K=V" or "K" to unset;
 * may be NULL). Captures stdout and stderr separately through temp files.
 */
static run_result run_cli(const char *const *args, const char *stdin_text, const char *env_kv)
{
    static int seq;
    char in_path[512], out_path[512], err_path[512];
    char *argv[32];
    int n = 0;
    run_result res = {0};

    seq++;
    snprintf(in_path, sizeof in_path, "%s/cli-%d-%d.in", th_tmpdir(), (int)getpid(), seq);
    snprintf(out_path, sizeof out_path, "%s/cli-%d-%d.out", th_tmpdir(), (int)getpid(), seq);
    snprintf(err_path, sizeof err_path, "%s/cli-%d-%d.err", th_tmpdir(), (int)getpid(), seq);
    FILE *f = fopen(in_path, "w");
    cr_assert_not_null(f);
    if (stdin_text != NULL)
        fputs(stdin_text, f);
    fclose(f);

    argv[n++] = SLUICE_BIN;
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open(in_path, O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in < 0 || out < 0 || err < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        if (env_kv != NULL) {
            if (strchr(env_kv, '='))
                putenv((char *)env_kv);
            else
                unsetenv(env_kv);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    cr_assert(th_wait_exit(pid, 30000, &status), "sluice enqueue did not finish");
    res.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    res.out = th_read_file(out_path);
    res.err = th_read_file(err_path);
    cr_assert(res.out && res.err);
    return res;
}

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

static long long xlen(const char *queue)
{
    redisContext *r = th_redis();
    long long n = th_int(r, "XLEN sluice:{%s}", queue);
    redisFree(r);
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(cli_enqueue, one_job)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "mail", "email.send", "{\"to\":\"a@b.c\"}", NULL};
    run_result r = run_cli(args, NULL, "SLUICE_REDIS_URL");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(count_lines(r.out), 1, "one id: %s", r.out);

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
    run_free(&r);
}

Test(cli_enqueue, options_quiet_and_default_payload)
{
    const char *args[] = {"enqueue", "-q", "--id", "job-1", "--correlation-id", "corr 1",
                          "--causation-id", "cause-1", "q", "t", NULL};
    char env[400];
    snprintf(env, sizeof env, "SLUICE_REDIS_URL=%s", th_redis_url());
    run_result r = run_cli(args, NULL, env);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "", "-q prints nothing");

    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 1);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 12);
    cr_assert_str_eq(fv->element[3]->str, "{}");
    cr_assert_str_eq(fv->element[5]->str, "job-1");
    cr_assert_str_eq(fv->element[9]->str, "corr 1");
    cr_assert_str_eq(fv->element[11]->str, "cause-1");
    freeReplyObject(rep);
    redisFree(c);
    run_free(&r);
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
    run_result r = run_cli(args, text, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(xlen("bulk"), N);
    cr_assert_eq(count_lines(r.out), N, "one id per job");
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
    run_free(&r);
    free(text);
}

Test(cli_enqueue, bad_stdin_line_reports_its_number)
{
    const char *text = "{\"n\":1}\n\n{\"n\":2}\n{\"n\":3\n{\"n\":4}\n";
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "-", NULL};
    run_result r = run_cli(args, text, NULL);
    cr_assert_eq(r.code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "stdin line 4: payload is not valid JSON"), "%s", r.err);
    cr_assert(strstr(r.err, "enqueued 2 jobs"), "lines before the bad one went out: %s", r.err);
    cr_assert_eq(xlen("q"), 2, "nothing from the bad line on");
    cr_assert_eq(count_lines(r.out), 2);
    run_free(&r);
}

Test(cli_enqueue, bad_json_argument_is_a_usage_error)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "{nope}", NULL};
    run_result r = run_cli(args, NULL, NULL);
    cr_assert_eq(r.code, 2, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "payload is not valid JSON: expected a string key at offset 1"), "%s", r.err);
    cr_assert_eq(xlen("q"), 0);
    run_free(&r);

    const char *args2[] = {"enqueue", "-u", th_redis_url(), "q", "Bad.Type", NULL};
    r = run_cli(args2, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "invalid type \"Bad.Type\""), "%s", r.err);
    run_free(&r);

    const char *args3[] = {"enqueue", "-u", th_redis_url(), "q", "t", "-", "--id", "x", NULL};
    r = run_cli(args3, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "--id"), "%s", r.err);
    run_free(&r);
}

Test(cli_enqueue, negative_number_payload_after_double_dash)
{
    const char *args[] = {"enqueue", "-u", th_redis_url(), "q", "t", "--", "-1", NULL};
    run_result r = run_cli(args, NULL, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(xlen("q"), 1);
    run_free(&r);
}

Test(cli_enqueue, help_exits_0)
{
    const char *args[] = {"enqueue", "--help", NULL};
    run_result r = run_cli(args, NULL, NULL);
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "usage: sluice enqueue", 21) == 0, "%s", r.out);
    cr_assert_str_eq(r.err, "");
    run_free(&r);
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
        run_result r = run_cli(cases[i], NULL, NULL);
        cr_assert_eq(r.code, 2, "case %zu: %s", i, r.err);
        cr_assert(strstr(r.err, msgs[i]), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "");
        run_free(&r);
    }
}

Test(cli_enqueue, url_flag_beats_environment_and_password_is_hidden)
{
    /* -u wins over a broken $SLUICE_REDIS_URL. */
    const char *args[] = {"enqueue", "-q", "-u", th_redis_url(), "q", "t", NULL};
    run_result r = run_cli(args, NULL, "SLUICE_REDIS_URL=redis://127.0.0.1:1/0");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    run_free(&r);
    cr_assert_eq(xlen("q"), 1);

    /* Without -u the environment is used; a failure exits 1 without the password. */
    const char *args2[] = {"enqueue", "q", "t", NULL};
    r = run_cli(args2, NULL, "SLUICE_REDIS_URL=redis://u:hunter2pw@127.0.0.1:1/0");
    cr_assert_eq(r.code, 1, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "127.0.0.1:1"), "%s", r.err);
    cr_assert_null(strstr(r.err, "hunter2pw"), "%s", r.err);
    cr_assert_null(strstr(r.out, "hunter2pw"));
    run_free(&r);

    const char *args3[] = {"enqueue", "--urll=redis://:hunter2pw@h", "q", "t", NULL};
    r = run_cli(args3, NULL, NULL);
    cr_assert_eq(r.code, 2);
    cr_assert_null(strstr(r.err, "hunter2pw"), "%s", r.err);
    run_free(&r);
}
