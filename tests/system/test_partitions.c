/* Partitioned queues (queues.<Q>.partitions) against a real Redis and real
 * `sluice run` supervisors: the published count (sluice:{Q}:partitions), a
 * changed count refused while the old partitions hold work, and producers
 * (the C client, `sluice enqueue`) choosing partitions by idempotency key,
 * partition key, else round robin. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/partition.h"
#include "sluice/client.h"
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

/* ---- producers ---------------------------------------------------------- */

static long long xlen(const char *key)
{
    return th_int(rc, "XLEN %s", key);
}

/* XLEN of sluice:{q#i} for i < n into lens; their sum. */
static long long part_lens(int n, long long *lens)
{
    long long sum = 0;
    char key[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "sluice:{q#%d}", i);
        sum += lens[i] = xlen(key);
    }
    return sum;
}

static sluice_client *client(void)
{
    char err[256];
    sluice_client_opts o = {.size = sizeof o, .skip_schema = 1};
    sluice_client *c = sluice_client_new(th_redis_url(), &o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

Test(partitions, the_client_spreads_jobs_without_keys_evenly)
{
    enum { N = 2000 };
    static sluice_job_spec jobs[N];
    long long lens[4];
    sluice_client *c = client();

    th_cmd(rc, "SET sluice:{q}:partitions 4");
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "test.record"};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, NULL), N, "%s", sluice_client_error(c));
    cr_assert_eq(part_lens(4, lens), N);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(lens[i], N / 4, "round robin: partition %d has %lld", i, lens[i]);
    cr_assert_eq(xlen("sluice:{q}"), 0, "nothing in the unpartitioned stream");
    for (int i = 0; i < 8; i++) /* one at a time too */
        cr_assert_eq(sluice_enqueue(c, "q", "test.record", NULL, 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(part_lens(4, lens), N + 8);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(lens[i], N / 4 + 2);
    sluice_client_free(c);
}

Test(partitions, an_idempotency_key_picks_its_partition_and_meets_its_duplicate)
{
    enum { N = 400 };
    static sluice_job_spec jobs[N];
    static sluice_enqueue_opts opts[N];
    static char keys[N][32], ids[N][SLUICE_ID_MAX];
    char key[128], id[SLUICE_ID_MAX];
    long long lens[4];
    sluice_client *c = client();

    th_cmd(rc, "SET sluice:{q}:partitions 4");
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "order-%d", i);
        opts[i] = (sluice_enqueue_opts){.size = sizeof opts[i], .idempotency_key = keys[i]};
        jobs[i] = (sluice_job_spec){.type = "test.record", .opts = &opts[i]};
    }
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, ids), N, "%s", sluice_client_error(c));
    cr_assert_eq(part_lens(4, lens), N);
    for (int i = 0; i < 4; i++)
        cr_assert_gt(lens[i], 0, "partition %d got none of %d keyed jobs", i, N);
    for (int i = 0; i < N; i++) {
        int p = (int)(sl_part_hash(keys[i], strlen(keys[i])) % 4);
        snprintf(key, sizeof key, "sluice:{q#%d}:idem:%s", p, keys[i]);
        redisReply *r = redisCommand(rc, "GET %s", key);
        cr_assert(r && r->type == REDIS_REPLY_STRING, "%s missing: FNV-1a(key) mod 4 decides", key);
        cr_assert_str_eq(r->str, ids[i]);
        freeReplyObject(r);
    }
    /* the same keys again, with partition keys that would pick otherwise */
    for (int i = 0; i < N; i++)
        opts[i].partition_key = "elsewhere";
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, NULL), N, "%s", sluice_client_error(c));
    for (int i = 0; i < N; i++)
        cr_assert(sluice_enqueue_batch_was_duplicate(c, (size_t)i), "jobs[%d] is a duplicate", i);
    cr_assert_eq(part_lens(4, lens), N, "no duplicate enqueued");
    cr_assert_eq(sluice_enqueue(c, "q", "test.record", NULL, 0, &opts[7], id, sizeof id), 0);
    cr_assert(sluice_enqueue_last_was_duplicate(c));
    cr_assert_str_eq(id, ids[7], "the first job's id");
    sluice_client_free(c);
}

Test(partitions, a_partition_key_keeps_its_jobs_together)
{
    enum { N = 100 };
    static sluice_job_spec jobs[N];
    sluice_enqueue_opts user7 = {.size = sizeof user7, .partition_key = "user-7"};
    sluice_enqueue_opts user8 = {.size = sizeof user8, .partition_key = "user-8"};
    long long lens[8];
    sluice_client *c = client();
    int p7 = (int)(sl_part_hash("user-7", 6) % 8), p8 = (int)(sl_part_hash("user-8", 6) % 8);

    th_cmd(rc, "SET sluice:{q}:partitions 8");
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "test.record", .opts = i % 2 ? &user7 : &user8};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, NULL), N, "%s", sluice_client_error(c));
    part_lens(8, lens);
    cr_assert_neq(p7, p8, "the test needs two keys of different partitions");
    cr_assert_eq(lens[p7], N / 2);
    cr_assert_eq(lens[p8], N / 2);
    /* a delayed job with the key: its partition's schedule */
    sluice_enqueue_opts later = {.size = sizeof later, .partition_key = "user-7", .delay_ms = 3600000};
    cr_assert_eq(sluice_enqueue(c, "q", "test.record", NULL, 0, &later, NULL, 0), 0, "%s", sluice_client_error(c));
    char sched[64];
    snprintf(sched, sizeof sched, "sluice:{q#%d}:sched", p7);
    cr_assert_eq(th_int(rc, "ZCARD %s", sched), 1);
    sluice_client_free(c);
}

Test(partitions, the_client_reads_a_bad_count_as_an_error_and_one_without_a_key)
{
    sluice_client *c = client();

    cr_assert_eq(sluice_enqueue(c, "q", "test.record", NULL, 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(xlen("sluice:{q}"), 1, "no key: one partition, today's stream");
    th_cmd(rc, "SET sluice:{r}:partitions 0");
    cr_assert_eq(sluice_enqueue(c, "r", "test.record", NULL, 0, NULL, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "sluice:{r}:partitions") != NULL, "%s", sluice_client_error(c));
    cr_assert_eq(xlen("sluice:{r}"), 0);
    sluice_client_free(c);
}

Test(partitions, sluice_enqueue_picks_partitions_too)
{
    enum { N = 2000 };
    long long lens[4];
    char *text = malloc(N * 3 + 1);
    for (int i = 0; i < N; i++)
        memcpy(text + i * 3, "{}\n", 3);
    text[N * 3] = '\0';

    th_cmd(rc, "SET sluice:{q}:partitions 4");
    const char *args[] = {"enqueue", "-u", th_redis_url(), "-q", "--skip-schema", "q", "test.record", "-", NULL};
    th_run_result r = th_run_io(args, text, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert_eq(part_lens(4, lens), N);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(lens[i], N / 4, "partition %d has %lld", i, lens[i]);

    /* --key: its partition, and the duplicate is found there */
    const char *keyed[] = {"enqueue",     "-u", th_redis_url(), "--skip-schema", "--key", "order-42", "q",
                           "test.record", NULL};
    r = th_run_io(keyed, NULL, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    char first[SLUICE_ID_MAX];
    snprintf(first, sizeof first, "%s", r.out);
    th_run_free(&r);
    r = th_run_io(keyed, NULL, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "duplicate") != NULL, "%s", r.err);
    cr_assert_str_eq(r.out, first);
    th_run_free(&r);
    char key[64];
    snprintf(key, sizeof key, "sluice:{q#%u}", sl_part_hash("order-42", 8) % 4);
    cr_assert_eq(part_lens(4, lens), N + 1);
    cr_assert_eq(xlen(key), N / 4 + 1);

    /* --partition-key */
    const char *pk[] = {
        "enqueue", "-u", th_redis_url(), "-q", "--skip-schema", "--partition-key", "user-7", "q", "test.record",
        "-",       NULL};
    r = th_run_io(pk, "{}\n{}\n{}\n", NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    unsigned p42 = sl_part_hash("order-42", 8) % 4, p7 = sl_part_hash("user-7", 6) % 4;
    cr_assert_eq(part_lens(4, lens), N + 4);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(lens[i], N / 4 + (i == p42) + 3 * (i == p7), "all three in user-7's partition (%u)", p7);
    free(text);
}
