/* `sluice jobs run-now QUEUE ID` under `sluice run`: a job delayed by an hour
 * and a retry waiting an hour for its backoff each run within seconds once
 * made due now; the retry on its next attempt. A job that is not scheduled
 * (already run, or unknown) is refused with exit 1 and says why; nothing runs
 * twice. Also a partitioned queue, whose job sits in one partition. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_sup sup;

static void setup(void)
{
    th_flushall();
}

static void teardown(void)
{
    th_sup_kill(&sup);
}

TestSuite(run_now, .init = setup, .fini = teardown, .timeout = 120);

static int retry_scheduled(void *arg)
{
    th_run_result r = TH_RUN("jobs", "show", "-u", th_redis_url(), arg, "r1");
    int yes = r.code == 0 && strstr(r.out, "scheduled until") && strstr(r.out, "(attempt 2) for group g");
    th_run_free(&r);
    return yes;
}

static void start(const char *queue, int partitions, const char *rec)
{
    char *json = NULL;
    cr_assert(
        asprintf(&json,
                 "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                 "\"supervisor\":{\"promote_interval\":\"50ms\"},\"queues\":{\"%s\":{\"partitions\":%d}},"
                 "\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"group\":\"g\",\"workers\":1,"
                 "\"plugins\":[\"record\",\"retry\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                 th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queue, partitions, queue, rec) > 0);
    char *cfg = th_write_file("run-now.json", json);
    free(json);
    th_sup_init(&sup, "run-now", cfg, "run-now.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 1, 30000);
    free(cfg);
}

static void run_now_scenario(const char *queue, int partitions)
{
    char *rec = th_tmp_path("run-now.txt");
    unlink(rec);
    start(queue, partitions, rec);
    const char *url = th_redis_url();
    th_run_result r = TH_RUN("enqueue", "-q", "-u", url, "--id", "d1", "--delay", "1h", queue, "test.record", "{}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("enqueue", "-q", "-u", url, "--id", "r1", queue, "test.retry",
               "{\"succeed_on\":2,\"retry_after\":3600000}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    cr_assert(th_wait_until(retry_scheduled, (void *)queue, 20000), "r1 waits an hour for attempt 2 (see %s)", sup.log);
    th_sleep_ms(300);
    cr_assert_eq(th_count_lines(rec), 0, "nothing ran yet");

    r = TH_RUN("jobs", "run-now", "-u", url, queue, "d1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "due now: was scheduled until ") && strstr(r.out, "(delayed job, for every group)"), "%s",
              r.out);
    th_run_free(&r);
    th_lines w = {rec, 1};
    cr_assert(th_wait_until(th_has_lines, &w, 20000), "d1 ran (see %s)", sup.log);
    cr_assert_eq(th_count_lines_with(rec, "d1 ", NULL), 1);

    r = TH_RUN("jobs", "run-now", "--json", "-u", url, queue, "r1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "\"due_now\":\ttrue") && strstr(r.out, "\"group\":\t\"g\""), "%s", r.out);
    th_run_free(&r);
    w.n = 2;
    cr_assert(th_wait_until(th_has_lines, &w, 20000), "r1 ran (see %s)", sup.log);
    cr_assert_eq(th_count_lines_with(rec, "r1 2 ", NULL), 1, "r1 completed on attempt 2");

    /* no longer scheduled: refused, and nothing runs again */
    r = TH_RUN("jobs", "run-now", "-u", url, queue, "d1");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "job d1 of queue ") && strstr(r.err, " is not scheduled"), "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("jobs", "run-now", "-u", url, queue, "nosuch");
    cr_assert_eq(r.code, 1);
    th_run_free(&r);
    r = TH_RUN("jobs", "run-now", "-u", url, queue);
    cr_assert_eq(r.code, 2, "usage");
    th_run_free(&r);
    th_sleep_ms(500);
    cr_assert_eq(th_count_lines(rec), 2, "each ran once");
    th_sup_stop(&sup, 20000);
    free(rec);
}

Test(run_now, a_delayed_job_and_a_waiting_retry_run_now)
{
    run_now_scenario("nq", 1);
}

Test(run_now, in_a_partitioned_queue)
{
    run_now_scenario("npq", 4);
}
