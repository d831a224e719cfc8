/* Fault suite, worker and supervisor faults: kill -9 of workers, segfaulting
 * and hanging jobs, retry/fail/exhaustion, SIGTERM and kill -9 of the
 * supervisor. Each scenario runs >= 1000 jobs through real processes and the
 * accounting checker (support/acct.h) proves that no job is lost. All but the
 * frozen reader are rows of one table run by fx_scenario_run (support/fx.h). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/acct.h"
#include "support/fx.h"
#include "support/run.h"

#define N 1000

TestSuite(faults_workers, .init = fx_suite_init, .fini = fx_suite_fini);

/* Payload {"n":i,"sleep_ms":10}. */
static void p_sleep10(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":10}", i);
}

/* Every completion of every job ran with deliveries == 1 and attempt == 1. */
static void assert_first_delivery(fx_scene *s, const acct_counts *k)
{
    (void)k;
    for (int i = 0; i < s->sc->n; i++) {
        const acct_job *j = acct_job_get(s->a, s->ids[i]);
        cr_assert(j && j->completions == 1, "%s: job %s completed %d times", s->sc->title, s->ids[i],
                  j ? j->completions : 0);
        cr_assert_eq(j->deliveries_max, 1, "%s: job %s ran with deliveries %u: the stop spent a delivery", s->sc->title,
                     s->ids[i], j->deliveries_max);
        cr_assert_eq(j->attempt, 1, "%s: job %s ran as attempt %u", s->sc->title, s->ids[i], j->attempt);
    }
}

/* 1. kill -9 of random workers every 200 ms while 1200 jobs run. */
static long kill9_random(fx_scene *s)
{
    int kills = 0;
    srand(12345);
    while (kills < 12 && th_count_lines(s->run.record) < s->sc->n) {
        th_sleep_ms(200);
        pid_t p[16];
        int w = th_sup_workers(&s->run.sup, p, 16);
        if (w > 0 && kill(p[rand() % w], SIGKILL) == 0)
            kills++;
    }
    fprintf(stderr, "scenario 1: %d workers killed with -9\n", kills);
    cr_assert_geq(kills, 10, "only %d kills happened before the jobs were done", kills);
    return kills;
}

static void kill9_random_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    cr_assert_eq(th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL), s->injected,
                 "supervisor saw %ld crashes for %ld kills", th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL),
                 s->injected);
}

/* 2. Poison jobs (1%) segfault their worker: DLQ "crashed" after max_deliveries. */
static void p_poison(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, i % 100 == 7 ? "{\"n\":%d,\"crash\":true}" : "{\"n\":%d}", i);
}

static void poison_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    for (int i = 7; i < N; i += 100) {
        const acct_job *j = acct_job_get(s->a, s->ids[i]);
        cr_assert_str_eq(j->reason, "crashed", "poison %s: reason %s", s->ids[i], j->reason);
        cr_assert_eq(j->deliveries, 4, "poison %s: deliveries %ld, want max_deliveries+1 = 4", s->ids[i],
                     j->deliveries);
        cr_assert_eq(j->completions, 0);
    }
    /* Each poison job ran (and crashed) exactly max_deliveries times. */
    cr_assert_eq(th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL), 3 * N / 100, "%ld worker crashes, want %d",
                 th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL), 3 * N / 100);
}

/* 3. Hanging jobs (1%): timeout 200ms, max_attempts 2 -> DLQ "timeout", attempts 2. */
static void p_hang(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, i % 100 == 3 ? "{\"n\":%d,\"hang\":true}" : "{\"n\":%d}", i);
}

static void hang_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    for (int i = 3; i < N; i += 100) {
        const acct_job *j = acct_job_get(s->a, s->ids[i]);
        cr_assert_str_eq(j->reason, "timeout", "hung job %s: reason %s", s->ids[i], j->reason);
        cr_assert_eq(j->attempts, 2, "hung job %s: attempts %ld, want 2", s->ids[i], j->attempts);
    }
    /* Killed once per attempt, never more. */
    cr_assert_eq(th_sup_log_count(&s->run.sup, "job passed its hard timeout", NULL), 2 * N / 100,
                 "%ld timeout kills, want %d", th_sup_log_count(&s->run.sup, "job passed its hard timeout", NULL),
                 2 * N / 100);
}

/* 4. RETRY then OK, FAIL, and exhausted retries, mixed (max_attempts 3). */
static void p_mixed(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    static const char *kinds[] = {"", ",\"retry_until\":3", ",\"fail\":true", ",\"retry_until\":10"};
    snprintf(buf, n, "{\"n\":%d%s}", i, kinds[i % 10 < 4 ? i % 10 : 0]);
}

static void mixed_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    char(*ids)[64] = s->ids;
    for (int i = 0; i < N; i++) {
        const acct_job *j = acct_job_get(s->a, ids[i]);
        switch (i % 10) {
        case 1:
            cr_assert(j->completions == 1 && j->attempt == 3, "retry job %s: %d completions, attempt %u", ids[i],
                      j->completions, j->attempt);
            break;
        case 2:
            cr_assert_str_eq(j->reason, "failed", "job %s", ids[i]);
            cr_assert_eq(j->attempts, 1, "failed job %s: attempts %ld", ids[i], j->attempts);
            break;
        case 3:
            cr_assert_str_eq(j->reason, "exhausted", "job %s", ids[i]);
            cr_assert_eq(j->attempts, 3, "exhausted job %s: attempts %ld", ids[i], j->attempts);
            break;
        default:
            cr_assert(j->completions == 1 && j->attempt == 1, "job %s: %d completions, attempt %u", ids[i],
                      j->completions, j->attempt);
        }
        if (j->completions)
            cr_assert_eq(j->deliveries_max, 1, "job %s: deliveries %u", ids[i], j->deliveries_max);
    }
}

/* 5. SIGTERM under load, then a new supervisor: nothing lost, no delivery
 * spent by the stop. Jobs 0 and 1 run 5 s on two of the four workers: they
 * are killed at shutdown_timeout (2 s) and released, then run again. */
static void p_long_first(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":%d}", i, i < 2 ? 5000 : 10);
}

static long sigterm_restart(fx_scene *s)
{
    int st = th_sup_term(&s->run.sup, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor exit status %d", st);
    long killed = th_sup_log_count(&s->run.sup, "did not stop within shutdown_timeout", NULL);
    acct_counts k;
    acct_check(s->a, s->c, &k);
    fprintf(stderr, "scenario 5: stopped with %ld completed, %ld pending, %ld workers killed at shutdown_timeout\n",
            k.completed, k.pending, killed);
    cr_assert_lt(k.completed, N, "everything finished before the stop: the scenario tested nothing");
    cr_assert_geq(killed, 1, "no job was running past shutdown_timeout: the kill-and-release path went untested");
    th_sup_start(&s->run.sup);
    return 1;
}

/* 10. The supervisor killed with -9: its workers exit on their own, a new
 * supervisor (same consumer names) finishes the pending jobs. */
static long supervisor_kill9_restart(fx_scene *s)
{
    pid_t w[16];
    int nw = th_sup_workers(&s->run.sup, w, 16);
    cr_assert_eq(nw, 4);
    th_kill(s->run.sup.pid);
    int left = nw;
    for (int waited = 0; left && waited < 10000; waited += 50) {
        th_sleep_ms(50);
        left = 0;
        for (int i = 0; i < nw; i++)
            left += th_alive(w[i], TH_ZOMBIE_DEAD);
    }
    cr_assert_eq(left, 0, "%d workers of the killed supervisor still run after 10 s", left);
    acct_counts k;
    acct_check(s->a, s->c, &k);
    fprintf(stderr, "scenario 10: supervisor killed with %ld completed, %ld pending\n", k.completed, k.pending);
    cr_assert_lt(k.completed, N, "everything finished before the kill: the scenario tested nothing");
    th_sup_start(&s->run.sup);
    return 1;
}

/* The scenarios of this suite that share the skeleton (fx_scenario_run):
 * supervisor, N jobs, a fault, the no-loss check and exact counts. */
enum { KILL9_RANDOM, POISON, HANG, MIXED, SIGTERM_LOAD, SUPERVISOR_KILL9 };
static const fx_scenario scenarios[] = {
    [KILL9_RANDOM] = {.title = "1 (kill -9 of random workers)",
                      /* A high crash budget: this scenario is about loss, not the "crashed" DLQ. */
                      .cfg = {.queue = "s1", .read_count = 5, .jobs = "\"max_deliveries\":50"},
                      .n = 1200,
                      .payload = p_sleep10,
                      .fault = kill9_random,
                      .completed = 1200,
                      .dead = 0,
                      .max_dups = FX_DUPS_PER_FAULT,
                      .check = kill9_random_check,
                      .stop_ms = 15000},
    [POISON] = {.title = "2 (poison segfault 1%)",
                .cfg = {.queue = "s2", .jobs = "\"max_deliveries\":3"},
                .n = N,
                .payload = p_poison,
                .completed = N - N / 100,
                .dead = N / 100,
                .by_reason = {{ACCT_crashed, N / 100}},
                .max_dups = 0,
                .check = poison_check,
                .stop_ms = 15000},
    [HANG] = {.title = "3 (hang 1%, timeout 200ms)",
              .cfg = {.queue = "s3", .jobs = "\"timeout\":\"200ms\",\"max_attempts\":2"},
              .n = N,
              .payload = p_hang,
              .completed = N - N / 100,
              .dead = N / 100,
              .by_reason = {{ACCT_timeout, N / 100}},
              .max_dups = 0,
              .check = hang_check,
              .stop_ms = 15000},
    [MIXED] = {.title = "4 (retry/fail/exhausted)",
               .cfg = {.queue = "s4", .jobs = "\"max_attempts\":3"},
               .n = N,
               .payload = p_mixed,
               .completed = 8 * N / 10,
               .dead = 2 * N / 10,
               .by_reason = {{ACCT_failed, N / 10}, {ACCT_exhausted, N / 10}},
               .max_dups = 0,
               .check = mixed_check,
               .stop_ms = 15000},
    [SIGTERM_LOAD] = {.title = "5 (SIGTERM under load, restart)",
                      .cfg = {.queue = "s5"},
                      .n = N,
                      .payload = p_long_first,
                      .wait_records = 100,
                      .fault = sigterm_restart,
                      .completed = N,
                      .dead = 0,
                      .max_dups = 0,
                      .check = assert_first_delivery,
                      .stop_ms = 20000},
    [SUPERVISOR_KILL9] = {.title = "10 (supervisor kill -9, restart)",
                          .cfg = {.queue = "s10"},
                          .n = N,
                          .payload = p_sleep10,
                          .wait_records = 300,
                          .fault = supervisor_kill9_restart,
                          .completed = N,
                          .dead = 0,
                          .max_dups = 0,
                          .check = assert_first_delivery,
                          .stop_ms = 20000},
};

Test(faults_workers, kill9_random_workers, .timeout = 150)
{
    fx_scenario_run(&scenarios[KILL9_RANDOM]);
}
Test(faults_workers, poison_segfault_crashed, .timeout = 150)
{
    fx_scenario_run(&scenarios[POISON]);
}
Test(faults_workers, hang_timeout, .timeout = 150)
{
    fx_scenario_run(&scenarios[HANG]);
}
Test(faults_workers, retry_fail_exhausted, .timeout = 150)
{
    fx_scenario_run(&scenarios[MIXED]);
}
Test(faults_workers, sigterm_under_load, .timeout = 150)
{
    fx_scenario_run(&scenarios[SIGTERM_LOAD]);
}
Test(faults_workers, supervisor_kill9, .timeout = 150)
{
    fx_scenario_run(&scenarios[SUPERVISOR_KILL9]);
}

/* 1 while a client of the test Redis blocks in XREADGROUP (CLIENT LIST flags=b). */
static int reader_blocked(void *arg)
{
    (void)arg;
    redisReply *r = redisCommand(fx_rc, "CLIENT LIST");
    int blocked = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "flags=b ") && strstr(r->str, "cmd=xreadgroup");
    if (r)
        freeReplyObject(r);
    return blocked;
}

/* 11. A worker frozen (SIGSTOP) while it blocks in XREADGROUP: entries are
 * delivered into its socket, another worker takes them over past the lease and
 * runs them. On SIGCONT the frozen worker must see that its batch is older than
 * the lease, find the entries taken over and skip them: every job runs once.
 * Not a row of the table: no supervisor runs (two standalone workers), and its
 * 10 jobs must go in as one MULTI while the first worker is frozen. */
Test(faults_workers, frozen_reader_skips_taken_over, .timeout = 150)
{
    const int n = 10;
    fx_run r;
    fx_setup(&r, "s11", &(fx_cfg){.queue = "s11", .read_count = n});
    acct_ledger *a = fx_ledger = acct_new("s11", "s11", r.record);
    pid_t frozen = th_worker_start(r.sup.cfg, "s11", "s11-frozen", "s11-frozen.log");
    char *flog = th_tmp_path("s11-frozen.log");
    /* Freeze it inside a blocked read: it spends nearly all its time there. */
    int blocked = 0;
    for (int i = 0; i < 50 && !blocked; i++) {
        th_sleep_ms(100);
        cr_assert_eq(kill(frozen, SIGSTOP), 0);
        th_sleep_ms(50);
        blocked = reader_blocked(NULL);
        if (!blocked)
            kill(frozen, SIGCONT);
    }
    cr_assert(blocked, "could not freeze the worker inside XREADGROUP (see %s)", flog);
    /* One transaction: the blocked read is served once, with all n entries. */
    th_cmd(fx_rc, "MULTI");
    for (int i = 0; i < n; i++)
        th_cmd(fx_rc, "XADD sluice:{s11} * type test.acct payload {\"n\":%d}", i);
    redisReply *ex = redisCommand(fx_rc, "EXEC");
    cr_assert(ex && ex->type == REDIS_REPLY_ARRAY && ex->elements == (size_t)n, "EXEC failed");
    for (size_t i = 0; i < ex->elements; i++)
        acct_add(a, ex->element[i]->str);
    freeReplyObject(ex);
    cr_assert_eq(th_int(fx_rc, "XLEN sluice:{s11}"), n);
    /* Delivered to the frozen consumer; another one takes them over past the lease (1 s). */
    pid_t other = th_worker_start(r.sup.cfg, "s11", "s11-other", "s11-other.log");
    fx_wait_records(&r, n, 30000);
    acct_counts k;
    cr_assert(acct_wait_settled(a, fx_rc, 30000, &k), "not settled before the thaw: pending=%ld", k.pending);
    cr_assert_eq(kill(frozen, SIGCONT), 0);
    /* Its batch is settled one way or the other: run again (records) or skipped (log). */
    for (int i = 0;
         i < 300 && th_count_lines(r.record) < 2 * n && th_count_in_file(flog, "taken over by another consumer") < n;
         i++)
        th_sleep_ms(50);
    th_worker_stop(frozen, 15000);
    th_worker_stop(other, 15000);
    fx_settle(a, fx_rc, &r, "11 (frozen reader, taken over)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, n);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.duplicates, 0, "%ld jobs ran twice: the thawed worker ran entries taken over (see %s)", k.duplicates,
                 flog);
    cr_assert_eq(th_count_in_file(flog, "taken over by another consumer"), n, "see %s", flog);
    free(flog);
}
