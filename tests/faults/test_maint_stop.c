/* Maintenance suite, stops and faults: a job killed at shutdown_timeout or by
 * a second SIGINT is released (no delivery spent), and a Redis that stops
 * answering (SIGSTOP) neither blocks the supervisor nor ends promotion. Real
 * `sluice run` processes and workers; every wait polls. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

TestSuite(maint_stop, .init = mt_setup, .fini = mt_teardown, .timeout = 90);

/* ---- stops -------------------------------------------------------------- */

/* The one pending entry of group g on stream: its delivery count (-1: none). */
static long long delivery_count(const char *stream, const char *g)
{
    redisReply *r = redisCommand(mt_rc, "XPENDING %s %s - + 10", stream, g);
    long long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        n = r->element[0]->element[3]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Start s (one worker), run a 5 s record job, wait until it sleeps in the handler. */
static void start_long_job(th_sup *s, const char *q)
{
    th_sup_start(s);
    th_sup_wait_workers(s, 1, 10000);
    mt_wait_library(s);
    mt_xadd(q, 1, "test.record", "{\"sleep_ms\":5000}");
    pid_t w[1];
    cr_assert_eq(th_sup_workers(s, w, 1), 1);
    cr_assert(th_wait_until(th_in_sleep, &w[0], 10000), "job never started");
}

Test(maint_stop, shutdown_timeout_releases_the_killed_job)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST ",\"shutdown_timeout\":\"300ms\"", "\"timeout\":\"30s\"",
                 POOL("rel", "md8", 1, "\"record\"", REC("@REC@")));
    start_long_job(&mt_s1, "md8");
    th_sup_stop(&mt_s1, 5000);
    cr_assert_eq(th_sup_log_count(&mt_s1, "did not stop within shutdown_timeout", NULL), 1);
    cr_assert_eq(th_sup_log_count(&mt_s1, "released the killed worker's job", NULL), 1);
    cr_assert_eq(delivery_count("sluice:{md8}", "rel"), 0, "the killed job spent a delivery");
    cr_assert_eq(th_count_lines(mt_rec_path), 0);

    /* The same slot (consumer name) replays it: its first counted delivery. */
    th_sup_start(&mt_s1);
    mt_wait_records(1, 15000);
    mt_wait_settled("md8", "rel", 5000);
    th_rec *r;
    cr_assert_eq(th_read_recs(mt_rec_path, &r), 1);
    cr_assert_eq(r[0].deliveries, 1);
    free(r);
    th_sup_stop(&mt_s1, 10000);
}

Test(maint_stop, second_sigint_releases_the_killed_job)
{
    mt_write_cfg(&mt_s1, "s1", NULL, "", SUP_FAST ",\"shutdown_timeout\":\"30s\"", "\"timeout\":\"30s\"",
                 POOL("rel", "md9", 1, "\"record\"", REC("@REC@")));
    start_long_job(&mt_s1, "md9");
    cr_assert_eq(kill(mt_s1.pid, SIGINT), 0);
    cr_assert(th_sup_wait_log(&mt_s1, "graceful stop", 5000));
    cr_assert_eq(kill(mt_s1.pid, SIGINT), 0);
    /* The fast stop, by what it does, not how long it takes (60 s only guards
     * against a hang): it exits 0 by the second-SIGINT path, which kills the
     * worker (the 5 s job never finished: nothing recorded) rather than
     * draining it or waiting for shutdown_timeout (30 s), and releases its job. */
    int st = th_sup_wait_exit(&mt_s1, 60000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_eq(th_sup_log_count(&mt_s1, "second SIGINT: killing all workers now", NULL), 1);
    cr_assert_eq(th_sup_log_count(&mt_s1, "did not stop within shutdown_timeout", NULL), 0);
    cr_assert_eq(th_count_lines(mt_rec_path), 0, "the job ran to its end: the worker was drained, not killed");
    cr_assert_eq(th_sup_log_count(&mt_s1, "released the killed worker's job", NULL), 1);
    cr_assert_eq(delivery_count("sluice:{md9}", "rel"), 0);
}

/* ---- Redis faults ------------------------------------------------------- */

/* A private redis-server (mt_own_redis, killed by mt_teardown) that this test
 * may freeze; mt_rc talks to it from then on. */
static void start_own_redis(void)
{
    th_server_start(&mt_own_redis);
    redisFree(mt_rc);
    mt_rc = th_server_connect(&mt_own_redis);
}

/* While Redis is frozen (SIGSTOP) the supervisor still answers a signal
 * (SIGTTIN: one more worker) and drops the stuck maintenance command
 * ("maintenance paused"); both are asserted before Redis is let go, so an
 * answer that had to wait for Redis cannot pass. The 60 s waits only guard
 * against a hang; no time is asserted. */
Test(maint_stop, a_paused_redis_does_not_block_the_supervisor)
{
    start_own_redis();
    mt_write_cfg(&mt_s1, "s1", mt_own_redis.url,
                 ",\"command_timeout\":\"1s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"300ms\"", SUP_FAST, "",
                 POOL("pz", "md10", 1, "\"record\"", REC("@REC@")));
    th_sup_start(&mt_s1);
    th_sup_wait_workers(&mt_s1, 1, 10000);
    mt_wait_library(&mt_s1);
    mt_schedule("md10", "paused", 1, 1000, "test.record", "{}");

    cr_assert_eq(kill(mt_own_redis.pid, SIGSTOP), 0);
    int64_t t0 = sl_now_mono_ms();
    th_sleep_ms(300);
    cr_assert_eq(kill(mt_s1.pid, SIGTTIN), 0);
    th_sup_wait_workers(&mt_s1, 2, 60000);
    cr_assert(th_sup_wait_log(&mt_s1, "maintenance paused", 60000), "the stuck command was never dropped");
    /* The scenario: a pause of about 3 s in all (longer if the waits took longer). */
    int64_t paused = sl_now_mono_ms() - t0;
    if (paused < 3000)
        th_sleep_ms((int)(3000 - paused));
    cr_assert_eq(kill(mt_own_redis.pid, SIGCONT), 0);

    mt_wait_records(1, 15000);
    cr_assert(th_sup_wait_log(&mt_s1, "redis maintenance connection restored", 5000));
    th_sup_stop(&mt_s1, 10000);
}

/* `sluice run -t` checks plugins only: it must not need Redis. */
