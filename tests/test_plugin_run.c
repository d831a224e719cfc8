/* Plugins in real workers: a C++ plugin loaded by sluice-worker, and the
 * privilege rules of `sluice run` (supervisor.user/group, no_new_privs,
 * non-dumpable workers). Jobs go in by raw XADD; outcomes are read back from
 * Redis and the plugins' record files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(plugin_run, .init = setup, .timeout = 120);

/* XADD n jobs of type to sluice:{queue}, pipelined. */
static void xadd_jobs(redisContext *c, const char *queue, const char *type, int n)
{
    for (int i = 0; i < n; i++) redisAppendCommand(c, "XADD sluice:{%s} * type %s payload {\"n\":%d}", queue, type, i);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

static int nothing_pending(void *arg)
{
    th_want *w = arg;
    redisReply *r = redisCommand(w->c, "XPENDING %s p", w->key);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->integer == 0;
    if (r) freeReplyObject(r);
    return ok;
}

Test(plugin_run, a_cxx_plugin_runs_jobs_in_a_real_worker)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("cxx-rec.txt"), *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":"
                       "\"qcxx\",\"plugins\":[\"cxx\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("cxx.json", json);
    xadd_jobs(c, "qcxx", "test.cxx", 50);
    pid_t pid = th_worker_start(cfg, "p", "ccxx", "cxx.log");
    th_want lines = {c, rec, 50}, idle = {c, "sluice:{qcxx}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &lines, 30000), "only %ld of 50 jobs recorded", th_count_lines(rec));
    cr_assert(th_wait_until(nothing_pending, &idle, 10000), "entries still pending");
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_count_lines(rec), 50);
    cr_assert_eq(th_int(c, "XLEN sluice:{qcxx}:dlq:p"), 0);
    free(cfg);
    free(json);
    free(rec);
    redisFree(c);
}
