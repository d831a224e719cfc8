/* The operator commands run as the real binary (SLUICE_BIN) against a real
 * redis-server: stats on a keyspace prepared by hand (exact table and JSON),
 * pause/resume with a standalone worker, group create/reset/delete, jobs show
 * for pending, scheduled, dead and completed jobs, --help and usage errors.
 * The dlq commands are in test_cli_dlq.c. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/functions.h"
#include "common/redis.h"
#include "support/run.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
    setenv("SLUICE_REDIS_URL", th_redis_url(), 1);
}

TestSuite(cli_ops, .init = setup, .timeout = 120);


/* ---- stats ------------------------------------------------------------------- */

/* Queue sq: 3 entries an hour old and 2 new; group ga read the 2 oldest
 * (pending, consumer ca), gb starts at $. One scheduled job, one retry entry and
 * one dead letter of ga, and rate samples: h1/1 has two in the last minute
 * (+200 processed, +20 failed in 20 s) and one older, h2/2 only one. */
static void prepare_stats(redisContext *c)
{
    long long now = th_server_ms(c), old = now - 3600000;
    for (int i = 0; i < 3; i++)
        th_cmd(c, "XADD sluice:{sq} %lld-%d type t payload {}", old, i);
    th_cmd(c, "XGROUP CREATE sluice:{sq} ga 0");
    th_cmd(c, "XGROUP CREATE sluice:{sq} gb $");
    for (int i = 0; i < 2; i++)
        th_cmd(c, "XADD sluice:{sq} * type t payload {}");
    th_cmd(c, "XREADGROUP GROUP ga ca COUNT 2 STREAMS sluice:{sq} >");
    th_cmd(c, "ZADD sluice:{sq}:sched %lld x", now + 60000);
    th_cmd(c, "XADD sluice:{sq}:r:ga * type t id j attempt 2");
    th_cmd(c, "XADD sluice:{sq}:dlq:ga * type t id k reason failed");
    th_cmd(c, "XADD sluice:{sq}:stats:ga %lld-0 host h1 pid 1 processed 0 retried 0 dead 0 unwritten 0", now - 120000);
    th_cmd(c, "XADD sluice:{sq}:stats:ga %lld-0 host h1 pid 1 processed 100 retried 0 dead 5 unwritten 0", now - 30000);
    th_cmd(c, "XADD sluice:{sq}:stats:ga %lld-0 host h2 pid 2 processed 7 retried 0 dead 7 unwritten 0", now - 20000);
    th_cmd(c, "XADD sluice:{sq}:stats:ga %lld-0 host h1 pid 1 processed 300 retried 0 dead 25 unwritten 0",
           now - 10000);
    /* Another queue, to see SCAN find both and skip the side streams. */
    th_cmd(c, "XADD sluice:{other} * type t payload {}");
}

Test(cli_ops, stats_table)
{
    redisContext *c = th_redis();
    prepare_stats(c);
    th_run_result r = TH_RUN("stats", "sq");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    const char *want = "queue sq  length 5  scheduled 1\n"
                       "\n"
                       "GROUP  STATE   PENDING  LAG  OLDEST  RETRY  DLQ  CONSUMERS  PROCESSED/S  DEAD/S\n"
                       "ga     active        2    3  1h00m       1    1          1        10.00    1.00\n"
                       "gb     active        0    2  -           0    0          0            -       -\n"
                       "\n"
                       "GROUP  CONSUMER  IDLE  IN-FLIGHT\n"
                       "ga     ca        ";
    cr_assert(strncmp(r.out, want, strlen(want)) == 0, "got:\n%s\nwant:\n%s", r.out, want);
    cr_assert(strstr(r.out + strlen(want), "          2\n") != NULL, "ca has 2 in flight: %s", r.out);
    th_run_free(&r);
    redisFree(c);
}

Test(cli_ops, stats_json_every_queue)
{
    redisContext *c = th_redis();
    prepare_stats(c);
    th_cmd(c, "SET sluice:{sq}:paused:gb x");
    th_run_result r = TH_RUN("stats", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "JSON: %s", r.out);
    cJSON *qs = cJSON_GetObjectItem(j, "queues");
    cr_assert_eq(cJSON_GetArraySize(qs), 2, "sq and other only (no :r:, :dlq:, :stats: streams)");
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(qs, 0), "queue")->valuestring, "other");
    cJSON *q = cJSON_GetArrayItem(qs, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(q, "queue")->valuestring, "sq");
    cr_assert_eq(cJSON_GetObjectItem(q, "length")->valueint, 5);
    cr_assert_eq(cJSON_GetObjectItem(q, "scheduled")->valueint, 1);
    cJSON *ga = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "groups"), 0);
    cJSON *gb = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "groups"), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(ga, "group")->valuestring, "ga");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(ga, "paused")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(gb, "paused")));
    cr_assert_eq(cJSON_GetObjectItem(ga, "pending")->valueint, 2);
    cr_assert_eq(cJSON_GetObjectItem(ga, "work_pending")->valueint, 2);
    cr_assert_eq(cJSON_GetObjectItem(ga, "retry_pending")->valueint, 0);
    cr_assert_eq(cJSON_GetObjectItem(ga, "lag")->valueint, 3);
    double age = cJSON_GetObjectItem(ga, "oldest_pending_age_ms")->valuedouble;
    cr_assert(age >= 3600000 && age < 3660000, "age %f", age);
    cr_assert_eq(cJSON_GetObjectItem(ga, "retry_length")->valueint, 1);
    cr_assert_eq(cJSON_GetObjectItem(ga, "dlq_length")->valueint, 1);
    cr_assert_float_eq(cJSON_GetObjectItem(ga, "processed_per_s")->valuedouble, 10.0, 1e-9);
    cr_assert_float_eq(cJSON_GetObjectItem(ga, "dead_per_s")->valuedouble, 1.0, 1e-9);
    cJSON *ca = cJSON_GetArrayItem(cJSON_GetObjectItem(ga, "consumers"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(ca, "name")->valuestring, "ca");
    cr_assert_eq(cJSON_GetObjectItem(ca, "pending")->valueint, 2);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(gb, "oldest_pending_age_ms")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(gb, "processed_per_s")), "no samples: null");
    cr_assert_eq(cJSON_GetObjectItem(gb, "lag")->valueint, 2, "counted: Redis 7.0 gives nil here");
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(gb, "lag")));
    cJSON_Delete(j);
    th_run_free(&r);
    redisFree(c);
}

Test(cli_ops, stats_missing_queue_fails)
{
    th_run_result r = TH_RUN("stats", "nosuch");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "queue 'nosuch' not found") != NULL, "%s", r.err);
    th_run_free(&r);
}

/* A queue holding only delayed jobs (the sched zset, no stream yet) is a
 * queue: named, it shows its scheduled count; SCAN finds it too. */
Test(cli_ops, stats_scheduled_only_queue)
{
    redisContext *c = th_redis();
    long long now = th_server_ms(c);
    th_cmd(c, "ZADD sluice:{dq}:sched %lld a %lld b", now + 60000, now + 120000);
    th_run_result r = TH_RUN("stats", "dq");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "queue dq  length 0  scheduled 2\nno stream yet (only scheduled jobs)\n");
    th_run_free(&r);
    r = TH_RUN("stats", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "JSON: %s", r.out);
    cJSON *qs = cJSON_GetObjectItem(j, "queues");
    cr_assert_eq(cJSON_GetArraySize(qs), 1, "%s", r.out);
    cJSON *q = cJSON_GetArrayItem(qs, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(q, "queue")->valuestring, "dq");
    cr_assert_eq(cJSON_GetObjectItem(q, "length")->valueint, 0);
    cr_assert_eq(cJSON_GetObjectItem(q, "scheduled")->valueint, 2);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(q, "stream")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(q, "groups")), 0);
    cJSON_Delete(j);
    th_run_free(&r);
    redisFree(c);
}

/* RETRY counts the retry entries not yet processed by the group (its pending
 * entries on the retry stream plus those not yet delivered), not the stream's
 * length, which keeps acknowledged copies until trimmed. */
Test(cli_ops, stats_retry_counts_unprocessed_only)
{
    redisContext *c = th_redis();
    th_cmd(c, "XADD sluice:{rq} * type t payload {}");
    th_cmd(c, "XGROUP CREATE sluice:{rq} g 0");
    th_cmd(c, "XGROUP CREATE sluice:{rq}:r:g g 0 MKSTREAM");
    for (int i = 0; i < 5; i++)
        th_cmd(c, "XADD sluice:{rq}:r:g * type t id j%d attempt 2", i);
    /* 3 delivered: 2 acked (processed), 1 still pending; 2 never delivered. */
    redisReply *rd = redisCommand(c, "XREADGROUP GROUP g c1 COUNT 3 STREAMS sluice:{rq}:r:g >");
    cr_assert(rd && rd->type == REDIS_REPLY_ARRAY && rd->elements == 1);
    const redisReply *es = rd->element[0]->element[1];
    cr_assert_eq(es->elements, 3);
    th_cmd(c, "XACK sluice:{rq}:r:g g %s %s", es->element[0]->element[0]->str, es->element[1]->element[0]->str);
    freeReplyObject(rd);
    th_run_result r = TH_RUN("stats", "--json", "rq");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "JSON: %s", r.out);
    cJSON *g =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "queues"), 0), "groups"), 0);
    cr_assert_eq(cJSON_GetObjectItem(g, "retry_length")->valueint, 3, "1 pending + 2 undelivered, not XLEN 5: %s",
                 r.out);
    cr_assert_eq(cJSON_GetObjectItem(g, "retry_pending")->valueint, 1);
    cr_assert_not_null(cJSON_GetObjectItem(g, "retry_lag"), "%s", r.out);
    cr_assert_eq(cJSON_GetObjectItem(g, "retry_lag")->valueint, 2, "%s", r.out);
    cJSON_Delete(j);
    th_run_free(&r);
    r = TH_RUN("stats", "rq");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "g      active        1    1  ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "       3    0          1 ") != NULL, "RETRY 3: %s", r.out);
    th_run_free(&r);
    redisFree(c);
}

/* ---- pause / resume ---------------------------------------------------------- */

/* A standalone worker config: pool p (group p) of queue with the record plugin. */
static char *worker_config(const char *name, const char *queue, const char *record)
{
    char *json = NULL, *path;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"plugins\":[\"record\"],\"block\":\"200ms\","
                       "\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queue, record) > 0);
    path = th_write_file(name, json);
    free(json);
    return path;
}

Test(cli_ops, pause_stops_fetching_and_resume_restarts)
{
    redisContext *c = th_redis();
    char record[512], log[512];
    snprintf(record, sizeof record, "%s/pause-record.txt", th_tmpdir());
    snprintf(log, sizeof log, "%s/pause-worker.log", th_tmpdir());
    char *cfg = worker_config("pause.json", "pq", record);
    char *argv[] = {SLUICE_WORKER_BIN, "--config", cfg, "--pool", "p", "--consumer", "w1", NULL};
    pid_t w = th_spawn(argv, NULL, log);
    th_cmd(c, "XADD sluice:{pq} * type test.record id first payload {}");
    th_lines one = {record, 1}, four = {record, 4};
    cr_assert(th_wait_until(th_has_lines, &one, 10000), "the worker runs the first job");

    th_run_result r = TH_RUN("pause", "pq"); /* one group: p */
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "paused group p of queue pq (sluice:{pq}:paused:p)\n");
    th_run_free(&r);
    th_sleep_ms(500); /* at most one read cycle (block 200ms) */
    for (int i = 0; i < 3; i++)
        th_cmd(c, "XADD sluice:{pq} * type test.record payload {}");
    th_sleep_ms(1000);
    cr_assert_eq(th_count_lines(record), 1, "nothing processed while paused");
    cr_assert_eq(th_int(c, "XLEN sluice:{pq}"), 4);
    redisReply *g = redisCommand(c, "XPENDING sluice:{pq} p");
    cr_assert_eq(g->element[0]->integer, 0, "nothing fetched while paused");
    freeReplyObject(g);

    r = TH_RUN("resume", "pq", "--group", "p");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "resumed group p of queue pq (sluice:{pq}:paused:p deleted)\n");
    th_run_free(&r);
    cr_assert(th_wait_until(th_has_lines, &four, 3000), "resumed within a read cycle");
    kill(w, SIGTERM);
    int st;
    cr_assert(th_wait_exit(w, 10000, &st));
    cr_assert_eq(th_count_in_file(log, " paused component="), 1, "one \"paused\" line");
    cr_assert_eq(th_count_in_file(log, " resumed component="), 1, "one \"resumed\" line");
    free(cfg);
    redisFree(c);
}

Test(cli_ops, pause_every_group_and_json)
{
    redisContext *c = th_redis();
    th_cmd(c, "XGROUP CREATE sluice:{pj} a $ MKSTREAM");
    th_cmd(c, "XGROUP CREATE sluice:{pj} b $");
    th_run_result r = TH_RUN("pause", "pj", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "paused")), 2, "%s", r.out);
    cJSON_Delete(j);
    th_run_free(&r);
    cr_assert_eq(th_int(c, "EXISTS sluice:{pj}:paused:a sluice:{pj}:paused:b"), 2);
    r = TH_RUN("resume", "pj");
    cr_assert_eq(r.code, 0);
    th_run_free(&r);
    cr_assert_eq(th_int(c, "EXISTS sluice:{pj}:paused:a sluice:{pj}:paused:b"), 0);
    r = TH_RUN("pause", "nosuchq");
    cr_assert_eq(r.code, 1, "no group to pause");
    th_run_free(&r);
    redisFree(c);
}

/* ---- group ------------------------------------------------------------------- */

/* Ids of what group g would read next on sluice:{gq} (reads them). */
static int read_all(redisContext *c, const char *group, char ids[][32], int max)
{
    redisReply *r = redisCommand(c, "XREADGROUP GROUP %s reader COUNT 100 STREAMS sluice:{gq} >", group);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s", r && r->str ? r->str : "");
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->element[0]->element[1]->elements && n < max; i++)
            snprintf(ids[n++], 32, "%s", r->element[0]->element[1]->element[i]->element[0]->str);
    freeReplyObject(r);
    return n;
}

Test(cli_ops, group_create_reset_delete)
{
    redisContext *c = th_redis();
    char ids[16][32];
    for (int i = 1; i <= 3; i++)
        th_cmd(c, "XADD sluice:{gq} %d000-0 type t payload {}", i);

    th_run_result r = TH_RUN("group", "create", "gq", "all", "--from", "0");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert_eq(read_all(c, "all", ids, 16), 3, "--from 0: the whole history");
    redisReply *x = redisCommand(c, "XINFO GROUPS sluice:{gq}:r:all");
    cr_assert_eq(x->elements, 1, "the group exists on the retry stream too");
    freeReplyObject(x);

    r = TH_RUN("group", "create", "gq", "since", "--from", "1970-01-01T00:00:02Z");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert_eq(read_all(c, "since", ids, 16), 2, "--from TIME: entries at or after it");
    cr_assert_str_eq(ids[0], "2000-0");
    r = TH_RUN("group", "create", "gq", "epoch", "--from", "@3");
    cr_assert_eq(r.code, 0);
    th_run_free(&r);
    cr_assert_eq(read_all(c, "epoch", ids, 16), 1);
    cr_assert_str_eq(ids[0], "3000-0");

    r = TH_RUN("group", "create", "gq", "all", "--from", "0");
    cr_assert_eq(r.code, 1, "exists already");
    cr_assert(strstr(r.err, "already exists") != NULL, "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("group", "reset", "gq", "epoch", "--from", "1000-0");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert_eq(read_all(c, "epoch", ids, 16), 2, "reset: the entries after 1000-0 again");

    /* "all" holds 3 pending entries: delete refuses, --force deletes. */
    th_cmd(c, "XADD sluice:{gq}:r:all * type t id x");
    r = TH_RUN("group", "delete", "gq", "all");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "has 3 pending entries") != NULL, "%s", r.err);
    th_run_free(&r);
    x = redisCommand(c, "XINFO GROUPS sluice:{gq}");
    cr_assert_eq(x->elements, 3, "nothing deleted");
    freeReplyObject(x);
    th_cmd(c, "XADD sluice:{gq}:dlq:all * type t id d reason failed");
    r = TH_RUN("group", "delete", "gq", "all", "--force");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "dead letters kept in sluice:{gq}:dlq:all (1 entries)") != NULL, "%s", r.out);
    th_run_free(&r);
    x = redisCommand(c, "XINFO GROUPS sluice:{gq}");
    cr_assert_eq(x->elements, 2);
    freeReplyObject(x);
    cr_assert_eq(th_int(c, "EXISTS sluice:{gq}:r:all"), 0, "--force deletes the retry stream");
    cr_assert_eq(th_int(c, "XLEN sluice:{gq}:dlq:all"), 1, "the DLQ is kept");

    /* No pending entries: delete works without --force. */
    th_cmd(c, "XGROUP CREATE sluice:{gq} idle $");
    r = TH_RUN("group", "delete", "gq", "idle", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "deleted")->valuestring, "idle");
    cJSON_Delete(j);
    th_run_free(&r);
    redisFree(c);
}

/* ---- jobs show --------------------------------------------------------------- */

/* `group reset` moves pending entries' future owners (a re-read with `>`
 * gives an entry pending under A to B), so it bumps the group's fence: A's
 * fast-path ack with the fence it knew must take the owner check and be
 * refused, and B's pending entry stays. */
Test(cli_ops, group_reset_bumps_the_fence)
{
    char err[512] = "";
    sl_redis *sr = sl_redis_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert(sr && sl_redis_connect(sr) == 0, "%s", err);
    cr_assert_eq(sl_functions_ensure(sr, err, sizeof err), 0, "%s", err);
    sl_redis_free(sr);
    redisContext *c = th_redis();
    th_run_result r = TH_RUN("group", "create", "fq", "g", "--from", "0");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    redisReply *x = redisCommand(c, "XADD sluice:{fq} * type t payload {}");
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    char id[64];
    snprintf(id, sizeof id, "%s", x->str);
    freeReplyObject(x);
    long long fence = th_int(c, "INCRBY sluice:{fq}:fence:g 0"); /* what consumer A knows */
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP g A COUNT 10 STREAMS sluice:{fq} >"));

    r = TH_RUN("group", "reset", "fq", "g", "--from", "0");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    cr_assert_gt(th_int(c, "INCRBY sluice:{fq}:fence:g 0"), fence, "reset did not bump the fence");
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP g B COUNT 10 STREAMS sluice:{fq} >"));

    char fs[32];
    snprintf(fs, sizeof fs, "%lld", fence);
    x = redisCommand(c, "FCALL sluice_ack 2 sluice:{fq} sluice:{fq}:fence:g g A \"\" 60 %s %s", fs, id);
    cr_assert(x && x->type == REDIS_REPLY_ARRAY && x->elements >= 2, "%s", x && x->str ? x->str : "?");
    cr_assert_eq(x->element[0]->integer, 0, "A's stale ack removed B's entry");
    cr_assert_eq(x->element[1]->integer, 1);
    freeReplyObject(x);
    x = redisCommand(c, "XPENDING sluice:{fq} g - + 10");
    cr_assert(x && x->type == REDIS_REPLY_ARRAY && x->elements == 1, "the entry is no longer pending");
    cr_assert_str_eq(x->element[0]->element[1]->str, "B");
    freeReplyObject(x);
    redisFree(c);
}

/* Queue jq, groups g1 and g2 from 0. Entry A: acked by g1. job-b: pending in
 * g1 (consumer w1) and scheduled for a retry of g1. job-c: dead in g2. */
static void prepare_jobs(redisContext *c, char a[32], char b[32])
{
    redisReply *r = redisCommand(c, "XADD sluice:{jq} * type t payload {}");
    snprintf(a, 32, "%s", r->str);
    freeReplyObject(r);
    r = redisCommand(c, "XADD sluice:{jq} * type t id job-b payload {}");
    snprintf(b, 32, "%s", r->str);
    freeReplyObject(r);
    th_cmd(c, "XADD sluice:{jq} * type t id job-c payload {}");
    th_cmd(c, "XGROUP CREATE sluice:{jq} g1 0");
    th_cmd(c, "XGROUP CREATE sluice:{jq} g2 0");
    th_cmd(c, "XREADGROUP GROUP g1 w1 COUNT 2 STREAMS sluice:{jq} >");
    th_cmd(c, "XACK sluice:{jq} g1 %s", a);
    th_cmd(c, "ZADD sluice:{jq}:sched 4102444800000 %s",
           "{\"s\":\"sluice:{jq}:r:g1\",\"f\":[\"type\",\"t\",\"id\",\"job-b\",\"attempt\",\"3\"]}");
    th_cmd(c, "XADD sluice:{jq}:dlq:g2 * type t id job-c reason failed error no-such-order attempts 1");
}

Test(cli_ops, jobs_show_places)
{
    redisContext *c = th_redis();
    char a[32], b[32];
    prepare_jobs(c, a, b);

    th_run_result r = TH_RUN("jobs", "show", "jq", a);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "completed in group g1\n") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "waiting in group g2 (not delivered yet") != NULL, "%s", r.out);
    th_run_free(&r);

    r = TH_RUN("jobs", "show", "jq", "job-b");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "scheduled until 2100-01-01T00:00:00.000Z (attempt 3) for group g1\n") != NULL, "%s",
              r.out);
    cr_assert(strstr(r.out, "pending in group g1, consumer w1, since ") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "deliveries 1") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "completed") == NULL, "not completed: %s", r.out);
    th_run_free(&r);

    r = TH_RUN("jobs", "show", "jq", "job-c");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "dead-lettered in group g2: failed, \"no-such-order\", at ") != NULL, "%s", r.out);
    th_run_free(&r);

    r = TH_RUN("jobs", "show", "jq", "job-b", "--json");
    cr_assert_eq(r.code, 0);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j);
    cr_assert_str_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "stream_ids"), 0)->valuestring, b);
    int pending = 0, sched = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(j, "places"))
    {
        const char *st = cJSON_GetObjectItem(p, "state")->valuestring;
        pending += !strcmp(st, "pending") && !strcmp(cJSON_GetObjectItem(p, "consumer")->valuestring, "w1");
        sched += !strcmp(st, "scheduled");
    }
    cr_assert(pending == 1 && sched == 1, "%s", r.out);
    cJSON_Delete(j);
    th_run_free(&r);

    r = TH_RUN("jobs", "show", "jq", "no-such-job");
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "job no-such-job not found") != NULL, "%s", r.err);
    th_run_free(&r);
    redisFree(c);
}

/* A retried job whose retry entry was delivered and acked: completed at attempt 2. */
Test(cli_ops, jobs_show_completed_after_retry)
{
    redisContext *c = th_redis();
    th_cmd(c, "XADD sluice:{jr} * type t id job-r payload {}");
    th_cmd(c, "XGROUP CREATE sluice:{jr} g 0");
    th_cmd(c, "XGROUP CREATE sluice:{jr}:r:g g 0 MKSTREAM");
    th_cmd(c, "XREADGROUP GROUP g w COUNT 1 STREAMS sluice:{jr} >");
    redisReply *x = redisCommand(c, "XRANGE sluice:{jr} - +");
    th_cmd(c, "XACK sluice:{jr} g %s", x->element[0]->element[0]->str);
    freeReplyObject(x);
    th_cmd(c, "XADD sluice:{jr}:r:g * type t id job-r attempt 2 payload {}");
    th_run_result r = TH_RUN("jobs", "show", "jr", "job-r");
    cr_assert(strstr(r.out, "waiting in the retry stream of group g (attempt 2") != NULL, "%s", r.out);
    cr_assert(strstr(r.out, "completed") == NULL, "%s", r.out);
    th_run_free(&r);
    x = redisCommand(c, "XREADGROUP GROUP g w COUNT 1 STREAMS sluice:{jr}:r:g >");
    th_cmd(c, "XACK sluice:{jr}:r:g g %s", x->element[0]->element[1]->element[0]->element[0]->str);
    freeReplyObject(x);
    r = TH_RUN("jobs", "show", "jr", "job-r");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "completed in group g (attempt 2)\n") != NULL, "%s", r.out);
    th_run_free(&r);
    redisFree(c);
}

/* ---- help, usage errors, URL precedence ------------------------------------------ */

Test(cli_ops, help_and_usage_errors)
{
    const char *cmds[] = {"stats", "dlq", "pause", "resume", "group", "jobs"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        th_run_result r = TH_RUN(cmds[i], "--help");
        cr_assert_eq(r.code, 0, "%s --help", cmds[i]);
        cr_assert(strncmp(r.out, "usage: sluice ", 14) == 0, "%s --help: %s", cmds[i], r.out);
        cr_assert_str_eq(r.err, "");
        th_run_free(&r);
        r = TH_RUN(cmds[i], "--bogus");
        cr_assert_eq(r.code, 2, "%s --bogus", cmds[i]);
        cr_assert(strstr(r.err, "unknown option '--bogus'") != NULL, "%s", r.err);
        th_run_free(&r);
    }
    th_run_result r = TH_RUN("group", "create", "q", "g");
    cr_assert_eq(r.code, 2, "create needs --from");
    th_run_free(&r);
    r = TH_RUN("group", "create", "q", "g", "--from", "yesterday");
    cr_assert_eq(r.code, 2);
    th_run_free(&r);
    r = TH_RUN("jobs", "show", "bad name", "x");
    cr_assert_eq(r.code, 2);
    th_run_free(&r);
    r = TH_RUN("stats", "-u", "redis://:s3cret@127.0.0.1:1/0");
    cr_assert_eq(r.code, 1, "connection refused is a runtime error");
    cr_assert(strstr(r.err, "s3cret") == NULL, "password redacted: %s", r.err);
    th_run_free(&r);
}

Test(cli_ops, url_precedence)
{
    redisContext *c = th_redis();
    th_cmd(c, "XADD sluice:{uq} * type t payload {}");
    /* -u wins over a broken $SLUICE_REDIS_URL. */
    setenv("SLUICE_REDIS_URL", "redis://127.0.0.1:1/0", 1);
    th_run_result r = TH_RUN("stats", "-u", th_redis_url(), "uq");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    r = TH_RUN("stats", "uq");
    cr_assert_eq(r.code, 1, "$SLUICE_REDIS_URL is used without -u");
    th_run_free(&r);
    setenv("SLUICE_REDIS_URL", th_redis_url(), 1);
    r = TH_RUN("stats", "uq");
    cr_assert_eq(r.code, 0);
    th_run_free(&r);
    redisFree(c);
}
