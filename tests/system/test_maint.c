/* Maintenance suite: the supervisor's own Redis work, with real `sluice run`
 * processes, real workers and test plugins against a real Redis — promotion of
 * delayed jobs and retries (also from two supervisors at once, and after a
 * reload), hard timeouts counted as attempts, lease extension against a
 * thief. Stops and Redis faults: test_maint_stop.c. Every wait polls. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/support/mt.h"

/* Fast everything: tiny promote interval, restart backoff and XREADGROUP block. */
#define SUP_FAST                                                               \
    "\"worker_path\":\"" SLUICE_WORKER_BIN "\",\"promote_interval\":\"20ms\"," \
    "\"restart_backoff_min\":\"20ms\",\"restart_backoff_max\":\"200ms\""
#define POOL(name, q, n, plugin, more)                                                                                \
    "{\"name\":\"" name "\",\"queue\":\"" q "\",\"workers\":" #n ",\"plugins\":[" plugin "],\"block\":\"200ms\"" more \
    "}"
#define REC(file) ",\"settings\":{\"record_file\":\"" file "\"}"

TestSuite(maint, .init = mt_setup, .fini = mt_teardown, .timeout = 90);

/* A log needle, for th_wait_until. */
struct logw {
    const th_sup *s;
    const char *a;
};

/* ---- promotion ---------------------------------------------------------- */

Test(maint, delayed_jobs_are_promoted_and_completed)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST, "", POOL("rec", "md1", 2, "\"record\"", REC("@REC@")));
    th_sup_start(&mt_s1);
    mt_wait_library(&mt_s1);
    mt_schedule("md1", "late", 300, 200, "test.record", "{}");
    mt_wait_records(300, 20000);
    mt_wait_settled("md1", "rec", 5000);
    th_rec *r;
    int n = th_read_recs(mt_rec_path, &r);
    cr_assert_eq(n, 300);
    cr_assert_eq(th_recs_distinct(r, n), 300);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{md1}"), 300, "every entry promoted exactly once");
    free(r);
    th_sup_stop(&mt_s1, 10000);
}

Test(maint, two_supervisors_promote_each_entry_once)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST, "",
                 POOL("pa", "md2", 2, "\"record\"", ",\"group\":\"g\"" REC("@REC@")));
    mt_write_cfg(&mt_s2, "s2", NULL, "", SUP_FAST, "",
                 POOL("pb", "md2", 2, "\"record\"", ",\"group\":\"g\"" REC("@REC@")));
    th_sup_start(&mt_s1);
    th_sup_start(&mt_s2);
    mt_wait_library(&mt_s1);
    mt_wait_library(&mt_s2);
    mt_schedule("md2", "dup", 1000, 300, "test.record", "{}");
    mt_wait_records(1000, 30000);
    mt_wait_settled("md2", "g", 5000);
    th_sleep_ms(300); /* a duplicate promotion would show up as extra records */
    th_rec *r;
    int n = th_read_recs(mt_rec_path, &r);
    cr_assert_eq(n, 1000);
    cr_assert_eq(th_recs_distinct(r, n), 1000);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{md2}"), 1000);
    free(r);
    th_sup_stop(&mt_s1, 10000);
    th_sup_stop(&mt_s2, 10000);
}

Test(maint, retries_end_to_end)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST,
                 "\"max_attempts\":5,\"backoff_base\":\"5ms\",\"backoff_cap\":\"20ms\"",
                 POOL("rt", "md3", 2, "\"retry\"", REC("@REC@")));
    th_sup_start(&mt_s1);
    mt_wait_library(&mt_s1);
    mt_xadd("md3", 200, "test.retry", "{\"succeed_on\":3}");
    mt_wait_records(200, 30000);
    mt_wait_settled("md3", "rt", 5000);
    th_rec *r;
    int n = th_read_recs(mt_rec_path, &r);
    cr_assert_eq(n, 200);
    cr_assert_eq(th_recs_distinct(r, n), 200);
    for (int i = 0; i < n; i++)
        cr_assert_eq(r[i].attempt, 3, "job %s completed on attempt %d", r[i].id, r[i].attempt);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{md3}:dlq:rt"), 0);
    free(r);
    th_sup_stop(&mt_s1, 10000);
}

/* A reload adds a pool on a new queue: the promoter serves it. */
Test(maint, reload_adds_a_queue_to_the_promoter)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST, "", POOL("ra", "md4", 1, "\"record\"", REC("@REC@")));
    th_sup_start(&mt_s1);
    mt_wait_library(&mt_s1);
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST, "",
                 POOL("ra", "md4", 1, "\"record\"", REC("@REC@")) "," POOL("rb", "md5", 1, "\"record\"", REC("@REC@")));
    cr_assert_eq(kill(mt_s1.pid, SIGHUP), 0);
    cr_assert(th_sup_wait_log(&mt_s1, "\"msg\":\"config reloaded\"", 5000));
    mt_schedule("md5", "new", 5, 50, "test.record", "{}");
    mt_wait_records(5, 10000);
    mt_wait_settled("md5", "rb", 5000);
    th_sup_stop(&mt_s1, 10000);
}

/* ---- hard timeouts ------------------------------------------------------ */

static int dlq_has(void *arg)
{
    return th_int(mt_rc, "XLEN sluice:{md6}:dlq:hang") >= *(long *)arg;
}

static int spawned_42(void *arg)
{
    struct logw *w = arg;
    return th_sup_log_count(w->s, w->a, NULL) == 42;
}

Test(maint, hard_timeouts_count_attempts_then_dead_letter)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST,
                 "\"timeout\":\"300ms\",\"max_attempts\":2,\"backoff_base\":\"5ms\",\"backoff_cap\":\"20ms\"",
                 POOL("hang", "md6", 2, "\"hang\"", ",\"read_count\":1"));
    th_sup_start(&mt_s1);
    th_sup_wait_workers(&mt_s1, 2, 10000);
    mt_wait_library(&mt_s1);
    mt_xadd("md6", 20, "test.hang", "{}");
    long want = 20;
    cr_assert(th_wait_until(dlq_has, &want, 60000), "only %lld dead letters",
              th_int(mt_rc, "XLEN sluice:{md6}:dlq:hang"));
    mt_wait_settled("md6", "hang", 5000);

    redisReply *r = redisCommand(mt_rc, "XRANGE sluice:{md6}:dlq:hang - +");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 20, "dead letters: %zu", r ? r->elements : 0);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *kv = r->element[i]->element[1];
        const char *reason = th_field_str(kv, "reason"), *attempts = th_field_str(kv, "attempts"),
                   *error = th_field_str(kv, "error");
        cr_assert(reason && attempts && error, "dead letter %zu lacks reason, attempts or error", i);
        cr_assert_str_eq(reason, "timeout");
        cr_assert_str_eq(attempts, "2");
        cr_assert(strstr(error, "hard timeout"), "error: %s", error);
    }
    freeReplyObject(r);
    cr_assert_eq(th_sup_log_count(&mt_s1, "job passed its hard timeout", NULL), 40);
    cr_assert_eq(th_sup_log_count(&mt_s1, "timed-out job scheduled for a retry", "\"outcome\":\"retried\""), 20);
    cr_assert_eq(th_sup_log_count(&mt_s1, "timed-out job dead-lettered", "\"outcome\":\"dead\""), 20);
    /* Every kill was followed by a restart of the slot: 2 + 40 spawns. */
    struct logw w = {&mt_s1, "\"msg\":\"worker spawned\""};
    cr_assert(th_wait_until(spawned_42, &w, 5000), "%ld spawns", th_sup_log_count(&mt_s1, w.a, NULL));
    th_sup_wait_workers(&mt_s1, 2, 5000);
    th_sup_stop(&mt_s1, 10000);
}

/* ---- leases ------------------------------------------------------------- */

static int job_started(void *arg)
{
    (void)arg;
    return th_pending(mt_rc, "sluice:{md7}", "lease") == 1;
}

Test(maint, lease_extension_keeps_a_running_job_from_thieves)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST, "\"lease\":\"1s\"",
                 POOL("lease", "md7", 1, "\"record\"", REC("@REC@")));
    th_sup_start(&mt_s1);
    th_sup_wait_workers(&mt_s1, 1, 10000);
    mt_xadd("md7", 1, "test.record", "{\"sleep_ms\":3000}");
    cr_assert(th_wait_until(job_started, NULL, 10000), "job not delivered");
    int64_t t0 = sl_now_mono_ms();
    int rounds = 0;
    /* Past the lease, and until the job is done: a reclaim must find nothing. */
    while (th_count_lines(mt_rec_path) == 0 && sl_now_mono_ms() - t0 < 8000) {
        redisReply *r = redisCommand(mt_rc, "XAUTOCLAIM sluice:{md7} lease thief 1000 0-0");
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2, "XAUTOCLAIM failed");
        cr_assert_eq(r->element[1]->elements, 0, "the thief took the running job after %lld ms",
                     (long long)(sl_now_mono_ms() - t0));
        freeReplyObject(r);
        rounds++;
        th_sleep_ms(100);
    }
    cr_assert(rounds >= 20, "job ended too early (%d rounds): the lease was never at risk", rounds);
    mt_wait_records(1, 5000);
    mt_wait_settled("md7", "lease", 5000);
    th_rec *r;
    cr_assert_eq(th_read_recs(mt_rec_path, &r), 1);
    cr_assert_eq(r[0].deliveries, 1);
    free(r);
    th_sup_stop(&mt_s1, 10000);
}

Test(maint, run_t_needs_no_redis)
{
    mt_write_cfg(&mt_s1, "s1", "redis://127.0.0.1:1/0", "", SUP_FAST, "", POOL("t", "md11", 1, "\"ok\"", ""));
    th_sup_startv(&mt_s1, (char *[]){"-t", NULL}, NULL);
    int st = th_sup_wait_exit(&mt_s1, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}
