/* Fault suite, worker and supervisor faults: kill -9 of workers, segfaulting
 * and hanging jobs, retry/fail/exhaustion, SIGTERM and kill -9 of the
 * supervisor. Each scenario runs >= 1000 jobs through real processes and the
 * accounting checker (support/acct.h) proves that no job is lost. */
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

/* Payload {"n":i,"sleep_ms":*arg}. */
static void p_sleep(int i, char *buf, size_t n, void *arg)
{
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":%d}", i, *(int *)arg);
}


/* Every completion of every job ran with deliveries == 1 and attempt == 1. */
static void assert_first_delivery(acct_ledger *a, char (*ids)[64], int n, const char *title)
{
    for (int i = 0; i < n; i++) {
        const acct_job *j = acct_job_get(a, ids[i]);
        cr_assert(j && j->completions == 1, "%s: job %s completed %d times", title, ids[i], j ? j->completions : 0);
        cr_assert_eq(j->deliveries_max, 1, "%s: job %s ran with deliveries %u: the stop spent a delivery", title,
                     ids[i], j->deliveries_max);
        cr_assert_eq(j->attempt, 1, "%s: job %s ran as attempt %u", title, ids[i], j->attempt);
    }
}

/* 1. kill -9 of random workers every 200 ms while 1200 jobs run. */
Test(faults_workers, kill9_random_workers, .timeout = 150)
{
    const int n = 1200, ms = 10;
    fx_run r;
    /* A high crash budget: this scenario is about loss, not the "crashed" DLQ. */
    fx_setup(&r, "s1", &(fx_cfg){.queue = "s1", .read_count = 5, .jobs = "\"max_deliveries\":50"});
    acct_ledger *a = fx_ledger = acct_new("s1", "s1", r.record);
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s1", 4);
    fx_xadd(fx_rc, "s1", "test.acct", n, p_sleep, (void *)&ms, a, NULL);
    int kills = 0;
    srand(12345);
    while (kills < 12 && th_count_lines(r.record) < n) {
        th_sleep_ms(200);
        pid_t p[16];
        int w = fx_workers(&r, p, 16);
        if (w > 0 && kill(p[rand() % w], SIGKILL) == 0) kills++;
    }
    cr_assert_geq(kills, 10, "only %d kills happened before the jobs were done", kills);
    acct_counts k;
    char title[64];
    snprintf(title, sizeof(title), "1 (kill -9 of %d workers)", kills);
    fx_settle(a, fx_rc, &r, title, FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, n);
    cr_assert_eq(k.dead, 0);
    cr_assert_leq(k.duplicates, kills, "%ld duplicates for %d kills", k.duplicates, kills);
    cr_assert_eq(fx_log_count(&r, "\"worker crashed\""), kills, "supervisor saw %ld crashes for %d kills",
                 fx_log_count(&r, "\"worker crashed\""), kills);
    fx_stop(&r, 15000);
}

/* 2. Poison jobs (1%) segfault their worker: DLQ "crashed" after max_deliveries. */
static void p_poison(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, i % 100 == 7 ? "{\"n\":%d,\"crash\":true}" : "{\"n\":%d}", i);
}

Test(faults_workers, poison_segfault_crashed, .timeout = 150)
{
    fx_run r;
    fx_setup(&r, "s2", &(fx_cfg){.queue = "s2", .jobs = "\"max_deliveries\":3"});
    acct_ledger *a = fx_ledger = acct_new("s2", "s2", r.record);
    static char ids[N][64];
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s2", 4);
    fx_xadd(fx_rc, "s2", "test.acct", N, p_poison, NULL, a, ids);
    acct_counts k;
    fx_settle(a, fx_rc, &r, "2 (poison segfault 1%)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, N - N / 100);
    cr_assert_eq(k.dead, N / 100);
    cr_assert_eq(k.by_reason[ACCT_crashed], N / 100);
    cr_assert_eq(k.duplicates, 0);
    for (int i = 7; i < N; i += 100) {
        const acct_job *j = acct_job_get(a, ids[i]);
        cr_assert_str_eq(j->reason, "crashed", "poison %s: reason %s", ids[i], j->reason);
        cr_assert_eq(j->deliveries, 4, "poison %s: deliveries %ld, want max_deliveries+1 = 4", ids[i], j->deliveries);
        cr_assert_eq(j->completions, 0);
    }
    /* Each poison job ran (and crashed) exactly max_deliveries times. */
    cr_assert_eq(fx_log_count(&r, "\"worker crashed\""), 3 * N / 100, "%ld worker crashes, want %d",
                 fx_log_count(&r, "\"worker crashed\""), 3 * N / 100);
    fx_stop(&r, 15000);
}

/* 3. Hanging jobs (1%): timeout 200ms, max_attempts 2 -> DLQ "timeout", attempts 2. */
static void p_hang(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, i % 100 == 3 ? "{\"n\":%d,\"hang\":true}" : "{\"n\":%d}", i);
}

Test(faults_workers, hang_timeout, .timeout = 150)
{
    fx_run r;
    fx_setup(&r, "s3", &(fx_cfg){.queue = "s3", .jobs = "\"timeout\":\"200ms\",\"max_attempts\":2"});
    acct_ledger *a = fx_ledger = acct_new("s3", "s3", r.record);
    static char ids[N][64];
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s3", 4);
    fx_xadd(fx_rc, "s3", "test.acct", N, p_hang, NULL, a, ids);
    acct_counts k;
    fx_settle(a, fx_rc, &r, "3 (hang 1%, timeout 200ms)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, N - N / 100);
    cr_assert_eq(k.dead, N / 100);
    cr_assert_eq(k.by_reason[ACCT_timeout], N / 100);
    cr_assert_eq(k.duplicates, 0);
    for (int i = 3; i < N; i += 100) {
        const acct_job *j = acct_job_get(a, ids[i]);
        cr_assert_str_eq(j->reason, "timeout", "hung job %s: reason %s", ids[i], j->reason);
        cr_assert_eq(j->attempts, 2, "hung job %s: attempts %ld, want 2", ids[i], j->attempts);
    }
    /* Killed once per attempt, never more. */
    cr_assert_eq(fx_log_count(&r, "job passed its hard timeout"), 2 * N / 100, "%ld timeout kills, want %d",
                 fx_log_count(&r, "job passed its hard timeout"), 2 * N / 100);
    fx_stop(&r, 15000);
}

/* 4. RETRY then OK, FAIL, and exhausted retries, mixed (max_attempts 3). */
static void p_mixed(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    static const char *kinds[] = {"", ",\"retry_until\":3", ",\"fail\":true", ",\"retry_until\":10"};
    snprintf(buf, n, "{\"n\":%d%s}", i, kinds[i % 10 < 4 ? i % 10 : 0]);
}

Test(faults_workers, retry_fail_exhausted, .timeout = 150)
{
    fx_run r;
    fx_setup(&r, "s4", &(fx_cfg){.queue = "s4", .jobs = "\"max_attempts\":3"});
    acct_ledger *a = fx_ledger = acct_new("s4", "s4", r.record);
    static char ids[N][64];
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s4", 4);
    fx_xadd(fx_rc, "s4", "test.acct", N, p_mixed, NULL, a, ids);
    acct_counts k;
    fx_settle(a, fx_rc, &r, "4 (retry/fail/exhausted)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, 8 * N / 10);
    cr_assert_eq(k.by_reason[ACCT_failed], N / 10);
    cr_assert_eq(k.by_reason[ACCT_exhausted], N / 10);
    cr_assert_eq(k.dead, 2 * N / 10);
    cr_assert_eq(k.duplicates, 0);
    for (int i = 0; i < N; i++) {
        const acct_job *j = acct_job_get(a, ids[i]);
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
        if (j->completions) cr_assert_eq(j->deliveries_max, 1, "job %s: deliveries %u", ids[i], j->deliveries_max);
    }
    fx_stop(&r, 15000);
}

/* 5. SIGTERM under load, then a new supervisor: nothing lost, no delivery
 * spent by the stop. Jobs 0 and 1 run 5 s on two of the four workers: they
 * are killed at shutdown_timeout (2 s) and released, then run again. */
static void p_long_first(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":%d}", i, i < 2 ? 5000 : 10);
}

Test(faults_workers, sigterm_under_load, .timeout = 150)
{
    fx_run r;
    fx_setup(&r, "s5", &(fx_cfg){.queue = "s5"});
    acct_ledger *a = fx_ledger = acct_new("s5", "s5", r.record);
    static char ids[N][64];
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s5", 4);
    fx_xadd(fx_rc, "s5", "test.acct", N, p_long_first, NULL, a, ids);
    fx_wait_records(&r, 100, 60000);
    int st = fx_stop(&r, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor exit status %d", st);
    long killed = fx_log_count(&r, "did not stop within shutdown_timeout");
    acct_counts k;
    acct_check(a, fx_rc, &k);
    fprintf(stderr, "scenario 5: stopped with %ld completed, %ld pending, %ld workers killed at shutdown_timeout\n",
            k.completed, k.pending, killed);
    cr_assert_lt(k.completed, N, "everything finished before the stop: the scenario tested nothing");
    cr_assert_geq(killed, 1, "no job was running past shutdown_timeout: the kill-and-release path went untested");
    fx_start(&r);
    fx_settle(a, fx_rc, &r, "5 (SIGTERM under load, restart)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, N);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.duplicates, 0);
    assert_first_delivery(a, ids, N, "scenario 5");
    fx_stop(&r, 20000);
}

/* 10. The supervisor killed with -9: its workers exit on their own, a new
 * supervisor (same consumer names) finishes the pending jobs. */
Test(faults_workers, supervisor_kill9, .timeout = 150)
{
    const int ms = 10;
    fx_run r;
    fx_setup(&r, "s10", &(fx_cfg){.queue = "s10"});
    acct_ledger *a = fx_ledger = acct_new("s10", "s10", r.record);
    static char ids[N][64];
    fx_start(&r);
    fx_wait_consumers(fx_rc, &r, "s10", 4);
    fx_xadd(fx_rc, "s10", "test.acct", N, p_sleep, (void *)&ms, a, ids);
    fx_wait_records(&r, 300, 60000);
    pid_t w[16];
    int nw = fx_workers(&r, w, 16);
    cr_assert_eq(nw, 4);
    th_kill(r.sup);
    int left = nw;
    for (int waited = 0; left && waited < 10000; waited += 50) {
        th_sleep_ms(50);
        left = 0;
        for (int i = 0; i < nw; i++) left += fx_alive(w[i]);
    }
    cr_assert_eq(left, 0, "%d workers of the killed supervisor still run after 10 s", left);
    acct_counts k;
    acct_check(a, fx_rc, &k);
    fprintf(stderr, "scenario 10: supervisor killed with %ld completed, %ld pending\n", k.completed, k.pending);
    cr_assert_lt(k.completed, N, "everything finished before the kill: the scenario tested nothing");
    fx_start(&r);
    fx_settle(a, fx_rc, &r, "10 (supervisor kill -9, restart)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, N);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.duplicates, 0);
    assert_first_delivery(a, ids, N, "scenario 10");
    fx_stop(&r, 20000);
}

/* 1 while a client of the test Redis blocks in XREADGROUP (CLIENT LIST flags=b). */
static int reader_blocked(void *arg)
{
    (void)arg;
    redisReply *r = redisCommand(fx_rc, "CLIENT LIST");
    int blocked = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "flags=b ") &&
                  strstr(r->str, "cmd=xreadgroup");
    if (r) freeReplyObject(r);
    return blocked;
}

/* Lines of a log file containing needle. */
static long file_count(const char *path, const char *needle)
{
    char *text = th_read_file(path);
    long n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    free(text);
    return n;
}

/* 11. A worker frozen (SIGSTOP) while it blocks in XREADGROUP: entries are
 * delivered into its socket, another worker takes them over past the lease and
 * runs them. On SIGCONT the frozen worker must see that its batch is older than
 * the lease, find the entries taken over and skip them: every job runs once. */
Test(faults_workers, frozen_reader_skips_taken_over, .timeout = 150)
{
    const int n = 10;
    fx_run r;
    fx_setup(&r, "s11", &(fx_cfg){.queue = "s11", .read_count = n});
    acct_ledger *a = fx_ledger = acct_new("s11", "s11", r.record);
    pid_t frozen = th_worker_start(r.cfg, "s11", "s11-frozen", "s11-frozen.log");
    char *flog = th_tmp_path("s11-frozen.log");
    /* Freeze it inside a blocked read: it spends nearly all its time there. */
    int blocked = 0;
    for (int i = 0; i < 50 && !blocked; i++) {
        th_sleep_ms(100);
        cr_assert_eq(kill(frozen, SIGSTOP), 0);
        th_sleep_ms(50);
        blocked = reader_blocked(NULL);
        if (!blocked) kill(frozen, SIGCONT);
    }
    cr_assert(blocked, "could not freeze the worker inside XREADGROUP (see %s)", flog);
    /* One transaction: the blocked read is served once, with all n entries. */
    th_cmd(fx_rc, "MULTI");
    for (int i = 0; i < n; i++) th_cmd(fx_rc, "XADD sluice:{s11} * type test.acct payload {\"n\":%d}", i);
    redisReply *ex = redisCommand(fx_rc, "EXEC");
    cr_assert(ex && ex->type == REDIS_REPLY_ARRAY && ex->elements == (size_t)n, "EXEC failed");
    for (size_t i = 0; i < ex->elements; i++) acct_add(a, ex->element[i]->str);
    freeReplyObject(ex);
    cr_assert_eq(th_int(fx_rc, "XLEN sluice:{s11}"), n);
    /* Delivered to the frozen consumer; another one takes them over past the lease (1 s). */
    pid_t other = th_worker_start(r.cfg, "s11", "s11-other", "s11-other.log");
    fx_wait_records(&r, n, 30000);
    acct_counts k;
    cr_assert(acct_wait_settled(a, fx_rc, 30000, &k), "not settled before the thaw: pending=%ld", k.pending);
    cr_assert_eq(kill(frozen, SIGCONT), 0);
    /* Its batch is settled one way or the other: run again (records) or skipped (log). */
    for (int i = 0; i < 300 && th_count_lines(r.record) < 2 * n &&
                    file_count(flog, "taken over by another consumer") < n;
         i++)
        th_sleep_ms(50);
    th_worker_stop(frozen, 15000);
    th_worker_stop(other, 15000);
    fx_settle(a, fx_rc, &r, "11 (frozen reader, taken over)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, n);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.duplicates, 0, "%ld jobs ran twice: the thawed worker ran entries taken over (see %s)",
                 k.duplicates, flog);
    cr_assert_eq(file_count(flog, "taken over by another consumer"), n, "see %s", flog);
    free(flog);
}
