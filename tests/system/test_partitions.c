/* Partitioned queues (queues.<Q>.partitions) against a real Redis and real
 * `sluice run` supervisors: the published count (sluice:{Q}:partitions), and a
 * changed count refused while the old partitions hold work. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support/run.h"
#include "tests/support/sup.h"
#include "tests/support/th.h"

static redisContext *rc;
static th_sup sup;

static void setup(void)
{
    th_flushall();
    rc = th_redis();
    memset(&sup, 0, sizeof sup);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    if (rc)
        redisFree(rc);
    rc = NULL;
}

TestSuite(partitions, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

/* <name>.json: queue q with `partitions` (0: no queues entry), one pool "p" of
 * `workers` record workers on q; th_sup_init sup on it. */
static void write_cfg(const char *name, int partitions, int workers)
{
    char *text = NULL, file[64], queues[128] = "", *rec = th_tmp_path("rec.txt");
    if (partitions > 0)
        snprintf(queues, sizeof queues, "\"queues\":{\"q\":{\"partitions\":%d}},", partitions);
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":null,\"promote_interval\":\"20ms\"},%s"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"q\",\"group\":\"g\",\"plugins\":[\"record\"],"
                       "\"workers\":%d,\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queues, workers, rec) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *path = th_write_file(file, text);
    th_sup_init(&sup, name, path, NULL);
    free(path);
    free(text);
    free(rec);
}

/* The value of a string key, "" when absent (static buffer). */
static const char *get(const char *key)
{
    static char v[64];
    redisReply *r = redisCommand(rc, "GET %s", key);
    cr_assert(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL));
    snprintf(v, sizeof v, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    return v;
}

/* Start the supervisor and wait until it runs (its count is published then). */
static void start_ok(void)
{
    th_sup_start(&sup);
    cr_assert(th_sup_wait_log(&sup, "supervisor started", 20000), "supervisor did not start");
}

/* Start it and expect it to exit 78 naming the queue's key in its log. */
static void start_refused(const char *needle)
{
    th_sup_start(&sup);
    int st = th_sup_wait_exit(&sup, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 78, "supervisor should exit 78, status %d", st);
    cr_assert_gt(th_sup_log_count(&sup, "partition count refused", "queues.q.partitions"), 0);
    cr_assert_gt(th_sup_log_count(&sup, "partition count refused", needle), 0, "log lacks %s", needle);
}

/* ---- discovery ------------------------------------------------------------ */

Test(partitions, the_supervisor_publishes_the_count_and_deletes_it_for_one)
{
    write_cfg("pub4", 4, 0);
    start_ok();
    cr_assert_str_eq(get("sluice:{q}:partitions"), "4");
    th_sup_stop(&sup, 20000);

    write_cfg("pub1", 1, 0); /* nothing left in q#0..q#3: the change is taken */
    start_ok();
    cr_assert_str_eq(get("sluice:{q}:partitions"), "", "one partition: no key");
    th_sup_stop(&sup, 20000);

    th_cmd(rc, "SET sluice:{q}:partitions 8");
    write_cfg("pub-default", 0, 0); /* no queues entry: 1, and q#0..q#7 are empty */
    start_ok();
    cr_assert_str_eq(get("sluice:{q}:partitions"), "");
    th_sup_stop(&sup, 20000);
}

Test(partitions, a_bad_published_value_is_refused)
{
    th_cmd(rc, "SET sluice:{q}:partitions lots");
    write_cfg("badval", 4, 0);
    start_refused("not a partition count");
}

/* ---- changing N --------------------------------------------------------- */

Test(partitions, a_change_is_refused_while_old_partitions_hold_work)
{
    /* 4 -> 8 with an undelivered entry in q#2 */
    th_cmd(rc, "SET sluice:{q}:partitions 4");
    th_cmd(rc, "XGROUP CREATE sluice:{q#2} g $ MKSTREAM");
    th_cmd(rc, "XADD sluice:{q#2} * type test.record");
    write_cfg("undelivered", 8, 0);
    start_refused("sluice:{q#2}: group g: 0 pending and undelivered entries");
    cr_assert_str_eq(get("sluice:{q}:partitions"), "4", "the published count stays");

    /* delivered but pending */
    redisReply *r = redisCommand(rc, "XREADGROUP GROUP g c1 COUNT 10 STREAMS sluice:{q#2} >");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    write_cfg("pending", 8, 0);
    start_refused("sluice:{q#2}: group g: 1 pending");

    /* acked: that partition is clear; a retry entry and a schedule are work too */
    r = redisCommand(rc, "XAUTOCLAIM sluice:{q#2} g c1 0 0-0 COUNT 10 JUSTID");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->element[1]->elements == 1);
    th_cmd(rc, "XACK sluice:{q#2} g %s", r->element[1]->element[0]->str);
    freeReplyObject(r);
    th_cmd(rc, "XGROUP CREATE sluice:{q#3} g $ MKSTREAM"); /* as workers do: the group on both */
    th_cmd(rc, "XGROUP CREATE sluice:{q#3}:r:g g $ MKSTREAM");
    th_cmd(rc, "XADD sluice:{q#3}:r:g * type test.record");
    th_cmd(rc, "ZADD sluice:{q#1}:sched 1 member");
    write_cfg("retry-sched", 8, 0);
    start_refused("sluice:{q#3}:r:g: group g: 0 pending and undelivered entries");
    cr_assert_gt(th_sup_log_count(&sup, "partition count refused", "sluice:{q#1}:sched: 1 scheduled"), 0);
    cr_assert_eq(th_sup_log_count(&sup, "partition count refused", "sluice:{q#2}"), 0, "q#2 is drained");

    /* drained: the change is taken */
    th_cmd(rc, "DEL sluice:{q#3}:r:g sluice:{q#1}:sched");
    write_cfg("drained", 8, 0);
    start_ok();
    cr_assert_str_eq(get("sluice:{q}:partitions"), "8");
    th_sup_stop(&sup, 20000);
}

Test(partitions, partitioning_an_unpartitioned_queue_needs_it_drained)
{
    th_cmd(rc, "XADD sluice:{q} * type test.record"); /* no group has read it */
    write_cfg("from1", 4, 0);
    start_refused("sluice:{q}: 1 entries and no consumer group");
    cr_assert_str_eq(get("sluice:{q}:partitions"), "");
}

Test(partitions, a_reload_with_a_refused_change_keeps_the_running_config)
{
    write_cfg("reload", 4, 0);
    start_ok();
    th_cmd(rc, "XADD sluice:{q#0} * type test.record");
    write_cfg("reload", 2, 0); /* the same file, rewritten */
    kill(sup.pid, SIGHUP);
    cr_assert(th_sup_wait_log(&sup, "config reload failed", 20000));
    cr_assert_gt(th_sup_log_count(&sup, "config reload failed", "sluice:{q#0}: 1 entries and no consumer group"), 0);
    cr_assert_str_eq(get("sluice:{q}:partitions"), "4");
    th_sup_stop(&sup, 20000);
}
