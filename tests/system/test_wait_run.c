/* redis.wait_replicas end to end, against a real master with one real replica
 * and `sluice run`: enqueues (the CLI through SLUICE_REDIS_WAIT_REPLICAS) and
 * acks are confirmed by the replica; with the replica stopped (SIGSTOP) an
 * enqueue is reported as an error, never a success, and the worker's acks are
 * logged as not confirmed and sent again until the replica is back; the job
 * still ran exactly once and nothing stays pending. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/run.h"
#include "support/sentinel.h"
#include "support/sup.h"
#include "th.h"

static th_server master, replica;
static th_sup sup;

static void setup(void)
{
    th_server_start(&master);
    th_server_start(&replica);
    th_make_replica(&replica, &master);
}

static void teardown(void)
{
    if (replica.pid)
        kill(replica.pid, SIGCONT);
    th_sup_kill(&sup);
    th_server_kill(&replica);
    th_server_kill(&master);
}

TestSuite(wait_run, .init = setup, .fini = teardown, .timeout = 120);

static int log_has(void *arg)
{
    return th_sup_log_count(&sup, arg, NULL) > 0;
}

static long long pending(void)
{
    redisContext *c = th_server_connect(&master);
    redisReply *p = redisCommand(c, "XPENDING sluice:{wq} g");
    long long n = p && p->type == REDIS_REPLY_ARRAY ? p->element[0]->integer : -1;
    freeReplyObject(p);
    redisFree(c);
    return n;
}

static int none_pending(void *arg)
{
    (void)arg;
    return pending() == 0;
}

Test(wait_run, enqueues_and_acks_wait_for_the_replica)
{
    char *rec = th_tmp_path("wait-run.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"wait_replicas\":1,\"wait_timeout\":\"200ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"wq\",\"group\":\"g\",\"workers\":1,"
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       master.url, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("wait-run.json", json);
    free(json);
    th_sup_init(&sup, "wait", cfg, "wait-run.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 1, 30000);

    for (int i = 0; i < 20; i++) {
        th_run_result r = th_run_io((const char *const[]){"enqueue", "-q", "-u", master.url, "wq", "test.record", NULL},
                                    NULL, "SLUICE_REDIS_WAIT_REPLICAS=1");
        cr_assert_eq(r.code, 0, "%s", r.err);
        th_run_free(&r);
    }
    th_lines w = {rec, 20};
    cr_assert(th_wait_until(th_has_lines, &w, 30000), "%ld of 20 (see %s)", th_count_lines(rec), sup.log);
    cr_assert(th_wait_until(none_pending, NULL, 30000), "acks confirmed and done");
    cr_assert_eq(th_sup_log_count(&sup, "not confirmed", NULL), 0, "with the replica up nothing fails (see %s)",
                 sup.log);

    /* the same with --wait-replicas, and the timeout of --wait-timeout */
    th_run_result r = TH_RUN("enqueue", "-q", "-u", master.url, "--wait-replicas", "1", "wq", "test.record");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("enqueue", "-q", "-u", master.url, "--wait-replicas", "2", "--wait-timeout", "50ms", "wq",
               "test.record");
    cr_assert_eq(r.code, 1, "2 replicas cannot confirm with 1 up");
    cr_assert(strstr(r.err, "0 of 2 replicas") || strstr(r.err, "1 of 2 replicas"), "%s", r.err);
    cr_assert(strstr(r.err, "(50 ms)"), "the timeout given: %s", r.err);
    th_run_free(&r);
    r = TH_RUN("enqueue", "-u", master.url, "--wait-replicas", "0", "wq", "test.record");
    cr_assert_eq(r.code, 2, "0 is not a replica count to wait for: %s", r.err);
    th_run_free(&r);
    w.n = 22;
    cr_assert(th_wait_until(th_has_lines, &w, 30000), "%ld of 22 (see %s)", th_count_lines(rec), sup.log);

    /* the replica stops taking writes */
    kill(replica.pid, SIGSTOP);
    r = th_run_io((const char *const[]){"enqueue", "-u", master.url, "wq", "test.record", NULL}, NULL,
                  "SLUICE_REDIS_WAIT_REPLICAS=1");
    cr_assert_eq(r.code, 1, "an unconfirmed enqueue is an error: %s", r.out);
    cr_assert(strstr(r.err, "enqueued on the master but the write was not confirmed: 0 of 1 replicas"), "%s", r.err);
    th_run_free(&r);
    w.n = 23; /* it is on the master: the worker runs it */
    cr_assert(th_wait_until(th_has_lines, &w, 30000), "see %s", sup.log);
    cr_assert(th_wait_until(log_has, "acks not confirmed by the replicas", 30000), "see %s", sup.log);

    kill(replica.pid, SIGCONT);
    cr_assert(th_wait_until(log_has, "acks confirmed by the replicas again", 30000), "see %s", sup.log);
    cr_assert(th_wait_until(none_pending, NULL, 30000));
    th_sleep_ms(300);
    cr_assert_eq(th_count_lines(rec), 23, "every job ran once: a resent ack does not run it again");
    th_sup_stop(&sup, 20000);
    free(cfg);
    free(rec);
}
