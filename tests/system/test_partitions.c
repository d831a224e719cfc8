/* Partitioned queues (queues.<Q>.partitions) against a real Redis and real
 * `sluice run` supervisors: the published count (sluice:{Q}:partitions), a
 * changed count refused while the old partitions hold work, and producers
 * (the C client, `sluice enqueue`) choosing partitions by idempotency key,
 * partition key, else round robin), and pools draining every partition, with
 * fewer workers than partitions too (the accounting checker: 0 lost, 0
 * duplicates). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/partition.h"
#include "sluice/client.h"
#include "tests/support/acct.h"
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
 * `workers` workers of plugin on q, group g; th_sup_init sup on it. */
static void write_cfg_plugin(const char *name, int partitions, int workers, const char *plugin)
{
    char *text = NULL, file[64], queues[128] = "", *rec = th_tmp_path("rec.txt");
    if (partitions > 0)
        snprintf(queues, sizeof queues, "\"queues\":{\"q\":{\"partitions\":%d}},", partitions);
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":null,\"promote_interval\":\"20ms\"},%s"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"q\",\"group\":\"g\",\"plugins\":[\"%s\"],"
                       "\"workers\":%d,\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queues, plugin, workers, rec) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *path = th_write_file(file, text);
    th_sup_init(&sup, name, path, NULL);
    free(path);
    free(text);
    free(rec);
}

/* The same with the record plugin. */
static void write_cfg(const char *name, int partitions, int workers)
{
    write_cfg_plugin(name, partitions, workers, "record");
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

/* `sluice CMD -u URL ARGS...` (args NULL-terminated, CMD first), its output;
 * asserts the exit code. */
static th_run_result cli_argv(int code, const char *const *args)
{
    const char *argv[16] = {args[0], "-u", th_redis_url()};
    int n = 3;
    for (int i = 1; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    th_run_result r = th_run_argv(argv);
    cr_assert_eq(r.code, code, "sluice %s %s: exit %d, stderr: %s", args[0], args[1] ? args[1] : "", r.code, r.err);
    return r;
}
#define CLI(code, ...) cli_argv((code), (const char *const[]){__VA_ARGS__, NULL})

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

/* ---- workers -------------------------------------------------------------- */

/* Wait until the ledger settles and check: n completed exactly once, nothing
 * lost, dead or pending. */
static void drained(acct_ledger *a, long n)
{
    acct_counts k;
    int settled = acct_wait_settled(a, rc, 60000, &k);
    acct_print("partitions", &k);
    if (!settled || k.lost)
        acct_print_bad(a, 10);
    cr_assert(settled, "not settled: completed=%ld pending=%ld scheduled=%ld undelivered=%ld", k.completed, k.pending,
              k.scheduled, k.undelivered);
    cr_assert_eq(k.enqueued, n);
    cr_assert_eq(k.completed, n);
    cr_assert_eq(k.lost, 0);
    cr_assert_eq(k.duplicates, 0);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.both, 0);
    cr_assert_eq(k.unknown, 0);
}

Test(partitions, four_partitions_two_workers_drain_2000_jobs_with_and_without_keys)
{
    enum { N = 2000, HALF = N / 2, DUPS = 100 };
    static sluice_job_spec jobs[HALF];
    static sluice_enqueue_opts opts[HALF];
    static char keys[HALF][32], ids[HALF][SLUICE_ID_MAX];
    long long lens[4];
    char *rec = th_tmp_path("rec.txt");
    acct_ledger *a = acct_new("q", "g", rec);
    acct_set_partitions(a, 4);

    write_cfg("drain4", 4, 2);
    start_ok();
    th_sup_wait_workers(&sup, 2, 20000);
    sluice_client *c = client();
    /* half without keys: round robin */
    for (int i = 0; i < HALF; i++)
        jobs[i] = (sluice_job_spec){.type = "test.record"};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, HALF, ids), HALF, "%s", sluice_client_error(c));
    for (int i = 0; i < HALF; i++)
        acct_add(a, ids[i]);
    /* half with idempotency keys: by their hash */
    for (int i = 0; i < HALF; i++) {
        snprintf(keys[i], sizeof keys[i], "job-%d", i);
        opts[i] = (sluice_enqueue_opts){.size = sizeof opts[i], .idempotency_key = keys[i]};
        jobs[i] = (sluice_job_spec){.type = "test.record", .opts = &opts[i]};
    }
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, HALF, ids), HALF, "%s", sluice_client_error(c));
    for (int i = 0; i < HALF; i++)
        acct_add(a, ids[i]);
    /* the first DUPS again, while the pool runs: deduplicated in their partitions */
    static char again[DUPS][SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, DUPS, again), DUPS, "%s", sluice_client_error(c));
    for (int i = 0; i < DUPS; i++) {
        cr_assert(sluice_enqueue_batch_was_duplicate(c, (size_t)i), "jobs[%d] again is a duplicate", i);
        cr_assert_str_eq(again[i], ids[i]);
    }
    drained(a, N);
    cr_assert_eq(part_lens(4, lens), N, "every job in one partition, the duplicates in none");
    for (int i = 0; i < 4; i++)
        cr_assert_gt(lens[i], N / 8, "partition %d got %lld", i, lens[i]);
    cr_assert_eq(xlen("sluice:{q}"), 0);
    /* both workers read partitions: each consumer of group g exists in every partition */
    for (int i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "sluice:{q#%d}", i);
        redisReply *r = redisCommand(rc, "XINFO CONSUMERS %s g", key);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY);
        cr_assert_eq(r->elements, 2, "%s has %zu consumers of g", key, r->elements);
        freeReplyObject(r);
    }
    sluice_client_free(c);
    th_sup_stop(&sup, 20000);
    acct_free(a);
    free(rec);
}

Test(partitions, one_worker_drains_eight_partitions)
{
    enum { N = 2000 };
    long long lens[8];
    char *rec = th_tmp_path("rec.txt");
    acct_ledger *a = acct_new("q", "g", rec);
    acct_set_partitions(a, 8);
    char *text = malloc(N * 3 + 1);
    for (int i = 0; i < N; i++)
        memcpy(text + i * 3, "{}\n", 3);
    text[N * 3] = '\0';

    write_cfg("drain8", 8, 1);
    start_ok();
    th_sup_wait_workers(&sup, 1, 20000);
    const char *args[] = {"enqueue", "-u", th_redis_url(), "--skip-schema", "q", "test.record", "-", NULL};
    th_run_result r = th_run_io(args, text, NULL);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    long n = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"), n++)
        acct_add(a, line);
    th_run_free(&r);
    cr_assert_eq(n, N);
    drained(a, N);
    cr_assert_eq(part_lens(8, lens), N);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(lens[i], N / 8, "round robin: partition %d has %lld", i, lens[i]);
    th_sup_stop(&sup, 20000);
    acct_free(a);
    free(text);
    free(rec);
}

Test(partitions, eight_partitions_two_groups_with_retries_and_timeouts, .timeout = 180)
{
    enum { N = 2000, HANGS = 2 };
    static sluice_job_spec jobs[N];
    static char ids[N][SLUICE_ID_MAX];
    char *rec_g = th_tmp_path("rec-g.txt"), *rec_h = th_tmp_path("rec-h.txt"), *text = NULL;
    acct_ledger *g = acct_new("q", "g", rec_g), *h = acct_new("q", "h", rec_h);
    acct_set_partitions(g, 8);
    acct_set_partitions(h, 8);
    /* group g: 3 workers; group h (a fan-out group): 1 worker, fewer than partitions */
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":null,\"promote_interval\":\"20ms\"},"
                       "\"jobs\":{\"backoff_base\":\"10ms\",\"backoff_cap\":\"50ms\",\"timeout\":\"500ms\","
                       "\"max_attempts\":2},\"queues\":{\"q\":{\"partitions\":8}},\"pools\":["
                       "{\"name\":\"g\",\"queue\":\"q\",\"plugins\":[\"faulty\"],\"workers\":3,"
                       "\"settings\":{\"record_file\":\"%s\"}},"
                       "{\"name\":\"h\",\"queue\":\"q\",\"plugins\":[\"faulty\"],\"workers\":1,"
                       "\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, rec_g, rec_h) > 0);
    char *path = th_write_file("fanout8.json", text);
    th_sup_init(&sup, "fanout8", path, NULL);
    start_ok();
    th_sup_wait_workers(&sup, 4, 20000);

    /* every 10th job retries once; HANGS jobs hang: killed at the timeout on
     * both attempts, dead-lettered "timeout" (the supervisor's moves, in the
     * job's partition) */
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "test.acct",
                                    .payload = i < HANGS     ? "{\"hang\":true}"
                                               : i % 10 == 0 ? "{\"retry_until\":2}"
                                                             : "{}"};
    sluice_client *c = client();
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, ids), N, "%s", sluice_client_error(c));
    for (int i = 0; i < N; i++)
        acct_add(g, ids[i]), acct_add(h, ids[i]);

    acct_ledger *ledgers[] = {g, h};
    for (int l = 0; l < 2; l++) {
        acct_counts k;
        int settled = acct_wait_settled(ledgers[l], rc, 120000, &k);
        acct_print(l ? "group h" : "group g", &k);
        if (!settled || k.lost)
            acct_print_bad(ledgers[l], 10);
        cr_assert(settled, "group %s not settled: pending=%ld scheduled=%ld", l ? "h" : "g", k.pending, k.scheduled);
        cr_assert_eq(k.completed, N - HANGS, "every job once per group");
        cr_assert_eq(k.duplicates, 0);
        cr_assert_eq(k.lost, 0);
        cr_assert_eq(k.both, 0);
        cr_assert_eq(k.dead, HANGS);
        cr_assert_eq(k.by_reason[ACCT_timeout], HANGS);
    }
    for (int i = HANGS; i < N; i += 10) { /* the retried ones ran twice, in their partition */
        const acct_job *j = acct_job_get(g, ids[i]);
        cr_assert(j && j->attempt == (i % 10 == 0 ? 2u : 1u), "job %s attempt %u", ids[i], j ? j->attempt : 0);
    }
    sluice_client_free(c);
    th_sup_stop(&sup, 30000);
    acct_free(g);
    acct_free(h);
    free(path);
    free(text);
    free(rec_g);
    free(rec_h);
}

/* Keys matching pattern (SCAN, not KEYS: the test Redis may be shared). */
static long count_keys(const char *pattern)
{
    long n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        n += (long)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

static long dead_letters(int nparts)
{
    long n = 0;
    char key[64];
    for (int i = 0; i < nparts; i++) {
        snprintf(key, sizeof key, "sluice:{q#%d}:dlq:g", i);
        n += xlen(key);
    }
    return n;
}

static int chain_done(void *arg)
{
    (void)arg;
    char *rec = th_tmp_path("rec.txt");
    long lines = th_count_lines(rec);
    free(rec);
    return lines >= 400 && dead_letters(4) >= 100;
}

Test(partitions, handlers_enqueue_into_every_partition_and_keep_once_keys_in_theirs)
{
    enum { N = 100 };
    static sluice_job_spec jobs[N];
    long long lens[4];

    write_cfg_plugin("chain", 4, 2, "chain");
    start_ok();
    th_sup_wait_workers(&sup, 2, 20000);
    sluice_client *c = client();
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "chain.order.placed.v1"};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, NULL), N, "%s", sluice_client_error(c));
    /* each order: a payment request and an email; each payment request: a capture (fails) */
    cr_assert(th_wait_until(chain_done, NULL, 60000), "the chains did not finish");
    char *rec = th_tmp_path("rec.txt");
    cr_assert_eq(th_count_lines(rec), 4 * N, "every job of every chain ran once");
    cr_assert_eq(dead_letters(4), N, "every capture dead-lettered in its partition");
    cr_assert_eq(part_lens(4, lens), 4 * N);
    for (int i = 0; i < 4; i++)
        cr_assert(lens[i] >= N - 2 && lens[i] <= N + 2, /* three round robins (client, 2 workers): +-1 each */
                  "partition %d has %lld of %d", i, lens[i], 4 * N);
    cr_assert_eq(xlen("sluice:{q}"), 0);
    cr_assert_eq(count_keys("sluice:{q#[0-3]}:once:g:*"), 2 * N, "once keys in the job's partition");
    cr_assert_eq(count_keys("sluice:{q}:once:*"), 0);
    /* the children's ids are their own: 4N distinct ids in the record */
    char *text = th_read_file(rec);
    cr_assert_not_null(text);
    static char ids[4 * N][160];
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < 4 * N; line = strtok(NULL, "\n"))
        cr_assert_eq(sscanf(line, "%*s %159s", ids[n++]), 1);
    qsort(ids, (size_t)n, sizeof ids[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < n; i++)
        cr_assert_str_neq(ids[i - 1], ids[i], "job id %s twice", ids[i]);
    cr_assert_eq(n, 4 * N);

    /* one request's jobs are spread over the partitions: trace finds all four,
     * jobs show finds each in its partition */
    char *again = th_read_file(rec), type[64], id[160], corr[160];
    cr_assert_eq(sscanf(again, "%63s %159s %159s", type, id, corr), 3);
    free(again);
    th_run_result r = CLI(0, "trace", "--queue", "q", "--json", corr);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    th_run_free(&r);
    char *flat = cJSON_PrintUnformatted(j);
    cr_assert_eq(th_count_in(flat, "\"type\":\"chain."), 4, "the four jobs of one chain: %s", flat);
    free(flat);
    cJSON_Delete(j);
    r = CLI(0, "jobs", "show", "q", id, "--json");
    j = cJSON_Parse(r.out);
    th_run_free(&r);
    cr_assert_not_null(j);
    const cJSON *part = cJSON_GetObjectItem(j, "partition");
    cr_assert(cJSON_IsNumber(part));
    char stream[32];
    snprintf(stream, sizeof stream, "sluice:{q#%d}", (int)part->valuedouble);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "stream")->valuestring, stream);
    char *places = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "places"));
    cr_assert(strstr(places, "completed") != NULL, "%s", places);
    free(places);
    cJSON_Delete(j);
    free(text);
    free(rec);
    sluice_client_free(c);
    th_sup_stop(&sup, 20000);
}

/* ---- aggregation: stats, pause, metrics ------------------------------------ */

/* Queue q of 4 partitions, group g on each at 0; entries: 3 in q#1, 2 in q#3;
 * one of q#1's delivered to consumer c (pending). */
static void four_partitions_with_work(void)
{
    th_cmd(rc, "SET sluice:{q}:partitions 4");
    for (int i = 0; i < 4; i++)
        th_cmd(rc, "XGROUP CREATE sluice:{q#%d} g 0 MKSTREAM", i);
    for (int i = 0; i < 3; i++)
        th_cmd(rc, "XADD sluice:{q#1} * type test.record");
    for (int i = 0; i < 2; i++)
        th_cmd(rc, "XADD sluice:{q#3} * type test.record");
    th_cmd(rc, "XREADGROUP GROUP g c COUNT 1 STREAMS sluice:{q#1} >");
}

/* `sluice stats --json ARGS...`, parsed (asserts exit 0). */
static cJSON *stats_json(const char *a1, const char *a2)
{
    const char *args[] = {"stats", "-u", th_redis_url(), "--json", a1, a2, NULL};
    th_run_result r = th_run_argv(args);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_not_null(j, "%s", r.out);
    th_run_free(&r);
    return j;
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    cr_assert(cJSON_IsNumber(v), "%s is not a number", name);
    return v->valuedouble;
}

Test(partitions, stats_sums_the_partitions_and_shows_each_on_request)
{
    four_partitions_with_work();
    th_cmd(rc, "XADD sluice:{other} * type test.record");
    cJSON *j = stats_json(NULL, NULL); /* every queue: the partitions folded into q */
    const cJSON *queues = cJSON_GetObjectItem(j, "queues"), *q = NULL, *it;
    cr_assert_eq(cJSON_GetArraySize(queues), 2, "q and other, no q#I");
    cJSON_ArrayForEach(it, queues) if (strcmp(cJSON_GetObjectItem(it, "queue")->valuestring, "q") == 0) q = it;
    cr_assert_not_null(q);
    cr_assert_eq(jnum(q, "partitions"), 4);
    cr_assert_eq(jnum(q, "length"), 5);
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItem(q, "groups"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(g, "group")->valuestring, "g");
    cr_assert_eq(jnum(g, "pending"), 1);
    cr_assert_eq(jnum(g, "lag"), 4);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(g, "consumers")), 1);
    cr_assert_null(cJSON_GetObjectItem(q, "partition_stats"));
    cJSON_Delete(j);

    j = stats_json("--per-partition", "q");
    q = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "queues"), 0);
    const cJSON *parts = cJSON_GetObjectItem(q, "partition_stats");
    cr_assert_eq(cJSON_GetArraySize(parts), 4);
    static const double lens[] = {0, 3, 0, 2};
    for (int i = 0; i < 4; i++) {
        const cJSON *p = cJSON_GetArrayItem(parts, i);
        char name[16];
        snprintf(name, sizeof name, "q#%d", i);
        cr_assert_str_eq(cJSON_GetObjectItem(p, "queue")->valuestring, name);
        cr_assert_eq(jnum(p, "length"), lens[i]);
    }
    cJSON_Delete(j);
}

Test(partitions, pause_and_resume_cover_every_partition_or_one)
{
    four_partitions_with_work();
    const char *pause[] = {"pause", "-u", th_redis_url(), "q", NULL};
    th_run_result r = th_run_argv(pause);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(th_int(rc, "EXISTS sluice:{q#%d}:paused:g", i), 1, "partition %d paused", i);
    cr_assert_eq(th_int(rc, "EXISTS sluice:{q}:paused:g"), 0);
    cJSON *j = stats_json("q", NULL);
    const cJSON *g =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "queues"), 0), "groups"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(g, "paused")));
    cJSON_Delete(j);

    const char *resume2[] = {"resume", "-u", th_redis_url(), "--partition", "2", "q", NULL};
    r = th_run_argv(resume2);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(th_int(rc, "EXISTS sluice:{q#%d}:paused:g", i), i != 2);
    j = stats_json("q", NULL);
    g = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "queues"), 0), "groups"), 0);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(g, "paused")), "not paused in every partition");
    cr_assert_eq(jnum(g, "paused_partitions"), 3);
    cJSON_Delete(j);

    const char *bad[] = {"resume", "-u", th_redis_url(), "--partition", "4", "q", NULL};
    r = th_run_argv(bad);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "has 4 partitions: no partition 4") != NULL, "%s", r.err);
    th_run_free(&r);
}

static int http_port;

/* GET /metrics (HTTP/1.0): the body, or NULL without an answer. Caller frees. */
static char *metrics(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)http_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    cr_assert(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - len - 1)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The metrics show the wanted lag (the sample after the setup's changes). */
static int metrics_show(void *want)
{
    char *m = metrics();
    int ok = m && strstr(m, (const char *)want) != NULL;
    free(m);
    return ok;
}

Test(partitions, metrics_sum_the_partitions)
{
    char *text = NULL, *rec = th_tmp_path("rec.txt");
    http_port = th_free_port();
    four_partitions_with_work();
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":\"127.0.0.1:%d\",\"stats_interval\":\"100ms\"},"
                       "\"queues\":{\"q\":{\"partitions\":4}},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"q\",\"group\":\"g\",\"plugins\":[\"record\"],"
                       "\"workers\":0,\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, http_port, rec) > 0);
    char *path = th_write_file("metrics.json", text);
    th_sup_init(&sup, "metrics", path, NULL);
    start_ok();
    cr_assert(th_wait_until(metrics_show, "sluice_group_lag{queue=\"q\",group=\"g\"} 4", 20000),
              "lag of q/g summed over its partitions");
    char *m = metrics();
    cr_assert_not_null(m);
    cr_assert(strstr(m, "sluice_stream_length{queue=\"q\"} 5") != NULL, "%s", m);
    cr_assert(strstr(m, "sluice_group_pending{queue=\"q\",group=\"g\"} 1") != NULL, "%s", m);
    cr_assert(strstr(m, "q#") == NULL, "no partition as a queue label");
    free(m);
    /* the supervisor's counters: in the first partition's stats stream */
    cr_assert_gt(th_int(rc, "XLEN sluice:{q#0}:stats:g"), 0);
    cr_assert_eq(th_int(rc, "EXISTS sluice:{q#1}:stats:g"), 0);
    th_sup_stop(&sup, 20000);
    free(path);
    free(text);
    free(rec);
}


Test(partitions, dlq_lists_replays_and_purges_every_partition)
{
    four_partitions_with_work();
    /* dead letters in q#1 (two) and q#3 (one), in this time order: j1 (q#1), j2 (q#3), j3 (q#1) */
    th_cmd(rc, "XADD sluice:{q#1}:dlq:g 1000-1 type a id j1 reason failed");
    th_cmd(rc, "XADD sluice:{q#3}:dlq:g 1000-2 type b id j2 reason failed");
    th_cmd(rc, "XADD sluice:{q#1}:dlq:g 1000-3 type a id j3 reason crashed");

    th_run_result r = CLI(0, "dlq", "list", "q", "--json");
    cJSON *j = cJSON_Parse(r.out), *e;
    th_run_free(&r);
    cr_assert_not_null(j);
    const cJSON *entries = cJSON_GetObjectItem(j, "entries");
    static const char *const want[] = {"1/1000-1", "3/1000-2", "1/1000-3"};
    int n = 0;
    cJSON_ArrayForEach(e, entries)
    {
        cr_assert_lt(n, 3);
        cr_assert_str_eq(cJSON_GetObjectItem(e, "dlq_id")->valuestring, want[n], "entry %d, oldest first", n);
        n++;
    }
    cr_assert_eq(n, 3);
    cJSON_Delete(j);

    r = CLI(0, "dlq", "list", "q", "--partition", "1", "--json");
    j = cJSON_Parse(r.out);
    th_run_free(&r);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "entries")), 2);
    cJSON_Delete(j);

    r = CLI(0, "dlq", "show", "q", "3/1000-2");
    cr_assert(strstr(r.out, "j2") != NULL, "%s", r.out);
    th_run_free(&r);
    r = CLI(2, "dlq", "show", "q", "1000-2"); /* a bare id needs --partition */
    th_run_free(&r);

    /* replay the failed ones: each to its own partition's retry stream */
    r = CLI(0, "dlq", "replay", "q", "--reason", "failed", "--yes");
    th_run_free(&r);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q#1}:r:g"), 1);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q#3}:r:g"), 1);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q#1}:dlq:g"), 1);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q#3}:dlq:g"), 0);
    /* purge by id */
    r = CLI(0, "dlq", "purge", "q", "--id", "1/1000-3", "--yes");
    cr_assert(strstr(r.out, "deleted 1 dead letter") != NULL, "%s", r.out);
    th_run_free(&r);
    cr_assert_eq(th_int(rc, "XLEN sluice:{q#1}:dlq:g"), 0);
}
