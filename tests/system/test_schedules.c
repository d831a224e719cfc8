/* Schedules (config key schedules, docs/scheduling.md) under real supervisors:
 * three supervisors running "@every 1s" and a seconds-field cron enqueue each
 * tick exactly once, with none missing while one of them is up (one is killed
 * with SIGKILL halfway); after every supervisor was stopped for 5 s, one that
 * starts applies each schedule's missed policy (skip, one, all) to exactly
 * the ticks nobody enqueued; pause, resume, trigger and next from the CLI. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/run.h"
#include "support/sup.h"
#include "th.h"

#define NSUP 3
#define NPARTS 2
#define MAXT 512

static th_sup sups[NSUP];

static void setup(void)
{
    th_flushall();
}

static void teardown(void)
{
    for (int i = 0; i < NSUP; i++)
        th_sup_kill(&sups[i]);
}

TestSuite(schedules, .init = setup, .fini = teardown, .timeout = 240);

/* A config of queue "cq" (NPARTS partitions) with schedules (a JSON array's
 * members) and a pool recording every job it runs into rec. */
static char *write_config_http(const char *name, const char *schedules, const char *rec, int port)
{
    char *json = NULL, file[64], listen[32] = "null";
    if (port > 0)
        snprintf(listen, sizeof listen, "\"127.0.0.1:%d\"", port);
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"http_listen\":%s,\"promote_interval\":\"50ms\","
                       "\"shutdown_timeout\":\"5s\"},\"queues\":{\"cq\":{\"partitions\":%d}},"
                       "\"schedules\":[%s],"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"cq\",\"group\":\"g\",\"workers\":1,"
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, listen, NPARTS, schedules, rec) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *cfg = th_write_file(file, json);
    free(json);
    return cfg;
}

static char *write_config(const char *name, const char *schedules, const char *rec)
{
    return write_config_http(name, schedules, rec, 0);
}

/* The ticks of schedule name enqueued so far: the ids cron:NAME:T of every
 * partition's stream (each entry once: the streams are never trimmed here),
 * sorted, into t; the count. */
static int enqueued_ticks(const char *name, long long *t)
{
    redisContext *c = th_redis();
    char prefix[80];
    int n = 0;
    snprintf(prefix, sizeof prefix, "cron:%s:", name);
    for (int p = 0; p < NPARTS; p++) {
        redisReply *r = redisCommand(c, "XRANGE sluice:{cq#%d} - +", p);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        for (size_t i = 0; i < r->elements; i++) {
            const char *id = th_field_str(r->element[i]->element[1], "id");
            if (id && strncmp(id, prefix, strlen(prefix)) == 0 && strncmp(id + strlen(prefix), "trigger:", 8) != 0) {
                cr_assert_lt(n, MAXT);
                t[n++] = strtoll(id + strlen(prefix), NULL, 10);
            }
        }
        freeReplyObject(r);
    }
    redisFree(c);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            long long x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return n;
}

/* t[0..n) are distinct and step by step ms with no hole between from and to. */
static void assert_each_tick_once(const char *name, const long long *t, int n, long long step)
{
    for (int i = 1; i < n; i++) {
        cr_assert_neq(t[i], t[i - 1], "%s: tick %lld enqueued twice", name, t[i]);
        cr_assert_eq(t[i] - t[i - 1], step, "%s: ticks missing between %lld and %lld", name, t[i - 1], t[i]);
    }
    for (int i = 0; i < n; i++)
        cr_assert_eq(t[i] % step, 0, "%s: tick %lld is not on the schedule", name, t[i]);
}

static int count_ticks(void *arg)
{
    long long t[MAXT];
    return enqueued_ticks(arg, t) >= 10;
}

Test(schedules, three_supervisors_enqueue_each_tick_once)
{
    char *rec = th_tmp_path("three.txt");
    char *cfg = write_config("three",
                             "{\"name\":\"every\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\"},"
                             "{\"name\":\"secs\",\"cron\":\"*/2 * * * * *\",\"tz\":\"Europe/Berlin\","
                             "\"queue\":\"cq\",\"type\":\"test.record\",\"payload\":{\"k\":[1,2]}}",
                             rec);
    for (int i = 0; i < NSUP; i++) {
        char name[16];
        snprintf(name, sizeof name, "sup%d", i);
        th_sup_init(&sups[i], name, cfg, NULL);
        char identity[48]; /* distinct consumer names on one host */
        snprintf(identity, sizeof identity, "SLUICE_IDENTITY=host%d", i);
        char *env[] = {identity, NULL};
        th_sup_startv(&sups[i], NULL, env);
    }
    for (int i = 0; i < NSUP; i++)
        th_sup_wait_workers(&sups[i], 1, 30000);
    th_sleep_ms(4000);
    kill(sups[1].pid, SIGKILL); /* its worker goes too: it exits when its supervisor's channel closes */
    th_sup_kill(&sups[1]);
    cr_assert(th_wait_until(count_ticks, "every", 60000), "10 ticks of every (see %s)", sups[0].log);
    th_sleep_ms(6000);
    th_sup_stop(&sups[0], 20000);
    th_sup_stop(&sups[2], 20000);

    long long t[MAXT], s[MAXT];
    int n = enqueued_ticks("every", t), m = enqueued_ticks("secs", s);
    fprintf(stderr, "three supervisors: every %d ticks %lld..%lld, secs %d ticks\n", n, t[0], t[n - 1], m);
    cr_assert_geq(n, 14, "ran about 14 s: at least 14 ticks of @every 1s, got %d", n);
    cr_assert_geq(m, 6, "at least 6 ticks of */2 seconds, got %d", m);
    assert_each_tick_once("every", t, n, 1000);
    assert_each_tick_once("secs", s, m, 2000);
    /* Each enqueued job ran exactly once, but for the last ticks: the stop
     * may leave them in the stream for the next start. */
    th_rec *r;
    int nr = th_read_recs(rec, &r);
    cr_assert_eq(th_recs_distinct(r, nr), nr, "no job ran twice");
    cr_assert_geq(nr, n + m - 4, "the jobs ran (%d of %d)", nr, n + m);
    free(r);
    /* Exactly one supervisor won each tick: the "enqueued" log lines add up. */
    long lines = 0;
    for (int i = 0; i < NSUP; i++)
        lines += th_sup_log_count(&sups[i], "schedule tick enqueued", NULL);
    /* (One fewer if sup1's kill landed between its enqueue and the reply.) */
    cr_assert(lines == n + m || lines == n + m - 1, "one enqueue per tick over all supervisors (%ld lines, %d ticks)",
              lines, n + m);
    free(cfg);
    free(rec);
}

/* The "missed" line of s's log for schedule name: its counts and range. */
typedef struct missed_line {
    long long missed, enqueue, first, last;
} missed_line;

static missed_line read_missed(const th_sup *s, const char *name)
{
    char *log = th_read_file(s->log), want[64];
    missed_line m = {-1, -1, -1, -1};
    snprintf(want, sizeof want, "schedule=%s ", name);
    cr_assert(log);
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "schedule missed ticks") || !strstr(line, want))
            continue;
        const char *p;
        cr_assert(p = strstr(line, " missed="));
        m.missed = strtoll(p + 8, NULL, 10);
        cr_assert(p = strstr(line, " enqueue="));
        m.enqueue = strtoll(p + 9, NULL, 10);
        cr_assert(p = strstr(line, " first_missed="));
        m.first = strtoll(p + 14, NULL, 10);
        cr_assert(p = strstr(line, " last_missed="));
        m.last = strtoll(p + 13, NULL, 10);
    }
    free(log);
    return m;
}

static int started_three(void *arg)
{
    return th_sup_log_count(arg, "schedule started", NULL) >= 6;
}

Test(schedules, after_every_supervisor_was_down_each_missed_policy_holds)
{
    static const char *const names[] = {"skip", "one", "all"};
    char *rec = th_tmp_path("missed.txt");
    char *cfg = write_config("missed",
                             "{\"name\":\"skip\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\","
                             "\"missed\":\"skip\"},"
                             "{\"name\":\"one\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\","
                             "\"missed\":\"one\"},"
                             "{\"name\":\"all\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\","
                             "\"missed\":\"all\"}",
                             rec);
    th_sup_init(&sups[0], "missed", cfg, NULL);
    th_sup_start(&sups[0]);
    th_sup_wait_workers(&sups[0], 1, 30000);
    th_sleep_ms(3000);
    th_sup_stop(&sups[0], 20000);
    long long before[3][MAXT];
    int nbefore[3];
    for (int i = 0; i < 3; i++) {
        nbefore[i] = enqueued_ticks(names[i], before[i]);
        cr_assert_geq(nbefore[i], 1, "%s ticked before the stop", names[i]);
    }
    th_sleep_ms(5000); /* every supervisor down: ticks pass with no one to enqueue them */
    th_sup_start(&sups[0]);
    cr_assert(th_wait_until(started_three, &sups[0], 30000), "restarted (see %s)", sups[0].log);
    th_sleep_ms(3000);
    th_sup_stop(&sups[0], 20000);

    for (int i = 0; i < 3; i++) {
        long long t[MAXT], last_before = before[i][nbefore[i] - 1];
        int n = enqueued_ticks(names[i], t);
        missed_line ml = read_missed(&sups[0], names[i]);
        fprintf(stderr, "missed=%s: %lld missed (%lld..%lld), %lld enqueued of them; %d ticks in all\n", names[i],
                ml.missed, ml.first, ml.last, ml.enqueue, n);
        cr_assert_geq(ml.missed, 4, "%s: 5 s down at @every 1s misses at least 4 ticks", names[i]);
        cr_assert_eq(ml.first, last_before + 1000, "%s: the first tick missed follows the last enqueued", names[i]);
        cr_assert_eq(ml.last - ml.first, (ml.missed - 1) * 1000, "%s: the missed ticks are a run", names[i]);
        long long want = i == 0 ? 0 : i == 1 ? 1 : ml.missed;
        cr_assert_eq(ml.enqueue, want, "%s: enqueues %lld of the missed ticks", names[i], want);
        /* Redis holds exactly that: the ticks before the stop, the missed ones
         * the policy keeps (for "one" the latest), then every tick after. */
        int k = 0, in_gap = 0;
        for (; k < n && t[k] <= last_before; k++)
            ;
        cr_assert_eq(k, nbefore[i], "%s: no tick before the stop was added", names[i]);
        for (int j = k; j < n && t[j] <= ml.last; j++, in_gap++)
            if (i == 1)
                cr_assert_eq(t[j], ml.last, "missed=one enqueues the latest missed tick");
        cr_assert_eq(in_gap, want, "%s: %lld missed ticks enqueued, found %d", names[i], want, in_gap);
        cr_assert_gt(n - k - in_gap, 0, "%s: ticks after the restart", names[i]);
        assert_each_tick_once(names[i], t + k + in_gap, n - k - in_gap, 1000);
        cr_assert_eq(t[k + in_gap], ml.last + 1000, "%s: every tick after the missed ones", names[i]);
        if (i == 2)
            assert_each_tick_once(names[i], t, n, 1000); /* all: no hole at all */
    }
    free(cfg);
    free(rec);
}

static int paused_shown(void *arg)
{
    (void)arg;
    th_run_result r = TH_RUN("schedules", "list", "-u", th_redis_url());
    int yes = r.code == 0 && strstr(r.out, "paused");
    th_run_free(&r);
    return yes;
}

static long long server_ms(void)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "TIME");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    redisFree(c);
    return ms;
}

Test(schedules, pause_resume_trigger_and_next_from_the_cli)
{
    char *rec = th_tmp_path("cli.txt");
    int port = th_free_port();
    char *cfg = write_config_http("cli",
                                  "{\"name\":\"tick\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\","
                                  "\"missed\":\"all\"},"
                                  "{\"name\":\"nightly\",\"cron\":\"0 3 * * *\",\"tz\":\"Europe/Berlin\","
                                  "\"queue\":\"cq\",\"type\":\"test.record\"}",
                                  rec, port);
    const char *url = th_redis_url();
    th_sup_init(&sups[0], "cli", cfg, NULL);
    th_sup_start(&sups[0]);
    th_sup_wait_workers(&sups[0], 1, 30000);
    cr_assert(th_sup_wait_log(&sups[0], "schedule tick enqueued", 30000));

    th_run_result r = TH_RUN("schedules", "next", "-u", url, "-n", "3", "nightly");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(th_count_in(r.out, " 03:00:00+0"), 3, "3 times at 03:00 Berlin time:\n%s", r.out);
    cr_assert_eq(th_count_in(r.out, ":00:00Z"), 3, "%s", r.out);
    th_run_free(&r);

    r = TH_RUN("schedules", "pause", "-u", url, "tick");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    long long paused_at = server_ms();
    cr_assert(th_wait_until(paused_shown, NULL, 10000));
    th_sleep_ms(3000);
    long long resumed_at = server_ms();
    r = TH_RUN("schedules", "resume", "-u", url, "tick");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "resumed schedule tick"), "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("schedules", "trigger", "--json", "-u", url, "tick");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"job_id\":\t\"cron:tick:trigger:"), "%s", r.out);
    th_run_free(&r);
    th_sleep_ms(2500);
    char *body = NULL;
    cr_assert_eq(th_http_get(port, "/metrics", &body), 200);
    const char *pm = "sluice_schedule_ticks_total{schedule=\"tick\",queue=\"cq\",outcome=\"paused\"} ";
    const char *at = strstr(body, pm);
    cr_assert(at, "%s", body);
    long paused_ticks = strtol(at + strlen(pm), NULL, 10);
    cr_assert(paused_ticks >= 2 && paused_ticks <= 8, "about 3 s paused at @every 1s: %ld paused ticks", paused_ticks);
    cr_assert(strstr(body, "sluice_schedule_next_tick_timestamp_seconds{schedule=\"nightly\",queue=\"cq\"} "), "%s",
              body);
    cr_assert(strstr(body, "sluice_schedule_lag_seconds{schedule=\"tick\",queue=\"cq\"} "), "%s", body);
    free(body);
    /* A restart: missed "all" must not bring back the ticks that were paused. */
    th_sup_stop(&sups[0], 20000);
    th_sup_start(&sups[0]);
    th_sup_wait_workers(&sups[0], 1, 30000);
    th_sleep_ms(2000);
    th_sup_stop(&sups[0], 20000);

    long long t[MAXT];
    int n = enqueued_ticks("tick", t), during = 0, after = 0;
    for (int i = 0; i < n; i++) {
        during += t[i] > paused_at && t[i] < resumed_at;
        after += t[i] > resumed_at;
    }
    cr_assert_eq(during, 0, "no tick enqueued while paused");
    cr_assert_geq(after, 2, "ticks again after resume");
    cr_assert_eq(th_count_lines_with(rec, "cron:tick:trigger:", NULL), 1, "the triggered job ran once");

    r = TH_RUN("schedules", "list", "--json", "-u", url);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"name\":\t\"nightly\"") && strstr(r.out, "\"state\":\t\"active\""), "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("schedules", "trigger", "-u", url, "nosuch");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "no schedule 'nosuch'"), "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("schedules", "next", "-u", url);
    cr_assert_eq(r.code, 2, "usage");
    th_run_free(&r);
    free(cfg);
    free(rec);
}
