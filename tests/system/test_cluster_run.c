/* `sluice run` on a real 3-master Redis Cluster (redis+cluster:// URL): one
 * pool per queue, the queues' slots on different masters. The supervisor's own
 * connection routes by slot (runner/maint/conn_cluster.c) and loads the
 * function library on every master; its maintenance promotes delayed jobs and
 * retries on each master; every job runs and is acked exactly once. Then a
 * slot moves to another master while the pools run: the jobs enqueued after
 * the move are done too (MOVED followed by workers and the supervisor).
 * Partitioned queues span the masters: 8 partitions, two fan-out groups
 * with retries, and a pool of 3 workers that still drains all 8. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/client.h>

#include "common/hashslot.h"
#include "support/acct.h"
#include "support/cluster.h"
#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_cluster cl;
static th_sup sup, sup2;

static void setup(void)
{
    th_cluster_start(&cl, 3);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    th_sup_kill(&sup2);
    th_cluster_stop(&cl);
}

TestSuite(cluster_run, .init = setup, .fini = teardown, .timeout = 240);

enum { QUEUES = 3, RECORD = 30, RETRY = 5, DELAYED = 4, PER = RECORD + RETRY + DELAYED };

/* Queue names, queue i on master i. */
static void pick_queues(char q[][16])
{
    int found = 0;
    for (int i = 0; found < QUEUES; i++) {
        char name[16], key[64];
        snprintf(name, sizeof name, "rq%d", i);
        snprintf(key, sizeof key, "sluice:{%s}", name);
        int node = th_cluster_node_of(&cl, key);
        if (q[node][0] == '\0') {
            snprintf(q[node], 16, "%s", name);
            found++;
        }
    }
}

static void enqueue(const char *queue, const char *type, const char *payload, const char *delay)
{
    th_run_result r = delay ? TH_RUN("enqueue", "-q", "-u", cl.url, "--delay", delay, queue, type, payload)
                            : TH_RUN("enqueue", "-q", "-u", cl.url, queue, type, payload);
    cr_assert_eq(r.code, 0, "%s: %s", queue, r.err);
    th_run_free(&r);
}

static void enqueue_all(const char *queue)
{
    char stdin_text[RECORD * 12 + 1] = "";
    for (int j = 0; j < RECORD; j++)
        strcat(stdin_text, "{\"n\":1}\n");
    th_run_result r = th_run_io((const char *const[]){"enqueue", "-q", "-u", cl.url, queue, "test.record", "-", NULL},
                                stdin_text, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    for (int j = 0; j < RETRY; j++)
        enqueue(queue, "test.retry", "{\"succeed_on\":3,\"retry_after\":100}", NULL);
    for (int j = 0; j < DELAYED; j++)
        enqueue(queue, "test.record", "{}", "300ms");
}

/* Every job of the record file ran once: no id twice. */
static void each_once(const char *path, long n)
{
    cr_assert_eq(th_count_lines(path), n, "%s", path);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char(*ids)[128] = calloc((size_t)n, sizeof *ids);
    long k = 0;
    char line[512];
    while (fgets(line, sizeof line, f) && k < n)
        sscanf(line, "%127s", ids[k++]);
    fclose(f);
    for (long a = 0; a < k; a++)
        for (long b = a + 1; b < k; b++)
            cr_assert_str_neq(ids[a], ids[b], "job %s ran twice", ids[a]);
    free(ids);
}

static long long pending(const char *queue, const char *group)
{
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s}", queue);
    redisReply *p = th_cluster_cmd(&cl, th_cluster_node_of(&cl, key), "XPENDING %s %s", key, group);
    long long n = p->type == REDIS_REPLY_ARRAY ? p->element[0]->integer : -1;
    freeReplyObject(p);
    return n;
}

Test(cluster_run, supervisor_and_workers_on_every_master)
{
    char q[QUEUES][16] = {{0}}, *rec[QUEUES], pools[4096] = "";
    pick_queues(q);
    size_t pl = 0;
    for (int i = 0; i < QUEUES; i++) {
        char name[64];
        snprintf(name, sizeof name, "crun-%s.txt", q[i]);
        rec[i] = th_tmp_path(name);
        unlink(rec[i]);
        pl += (size_t)snprintf(pools + pl, sizeof pools - pl,
                               "%s{\"name\":\"p%d\",\"queue\":\"%s\",\"group\":\"g\",\"workers\":2,"
                               "\"plugins\":[\"record\",\"retry\"],\"block\":\"200ms\","
                               "\"settings\":{\"record_file\":\"%s\"}}",
                               i ? "," : "", i, q[i], rec[i]);
    }
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"jobs\":{\"max_attempts\":5,\"backoff_base\":\"50ms\",\"backoff_cap\":\"200ms\"},"
                       "\"pools\":[%s]}",
                       cl.url, SLUICE_TEST_PLUGIN_DIR, pools) > 0);
    char *cfg = th_write_file("cluster-run.json", json);
    free(json);
    th_sup_init(&sup, "cluster", cfg, "cluster-run.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2 * QUEUES, 30000);
    cr_assert(th_sup_wait_log(&sup, "redis cluster slot map read", 30000), "see %s", sup.log);

    for (int i = 0; i < QUEUES; i++)
        enqueue_all(q[i]);
    for (int i = 0; i < QUEUES; i++) {
        th_lines w = {rec[i], PER};
        cr_assert(th_wait_until(th_has_lines, &w, 90000), "%s: %ld of %d jobs done (see %s)", q[i],
                  th_count_lines(rec[i]), PER, sup.log);
    }
    for (int i = 0; i < 3; i++) {
        redisReply *v = th_cluster_cmd(&cl, i, "FCALL sluice_version 0");
        cr_assert_eq(v->type, REDIS_REPLY_STRING, "master %d has the library", i);
        freeReplyObject(v);
    }
    for (int i = 0; i < QUEUES; i++) {
        each_once(rec[i], PER);
        cr_assert_eq(th_count_lines_with(rec[i], " 3 ", NULL), RETRY, "%s: the retried jobs ran on attempt 3", q[i]);
        cr_assert_eq(pending(q[i], "g"), 0, "%s: every job acked", q[i]);
    }

    /* Move queue 0's slot from master 0 to master 1 under the running pools. */
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s}", q[0]);
    th_cluster_move_slot(&cl, sl_hashslot(key, strlen(key)), 0, 1);
    enqueue_all(q[0]);
    th_lines w = {rec[0], 2 * PER};
    cr_assert(th_wait_until(th_has_lines, &w, 90000), "%s after the move: %ld of %d jobs done (see %s)", q[0],
              th_count_lines(rec[0]), 2 * PER, sup.log);
    each_once(rec[0], 2 * PER);
    cr_assert_eq(pending(q[0], "g"), 0);
    th_sup_stop(&sup, 20000);
    for (int i = 0; i < QUEUES; i++)
        free(rec[i]);
    free(cfg);
}

/* The partition of Q#i's stream: which master holds it. */
static int master_of_partition(const char *queue, int i)
{
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s#%d}", queue, i);
    return th_cluster_node_of(&cl, key);
}

Test(cluster_run, a_partitioned_queue_spans_the_masters)
{
    enum { PARTS = 6, JOBS = 240, KEYED = 20 };
    int seen[3] = {0};
    for (int i = 0; i < PARTS; i++)
        seen[master_of_partition("pq", i)]++;
    int masters = (seen[0] > 0) + (seen[1] > 0) + (seen[2] > 0);
    cr_assert_geq(masters, 2, "the partitions of pq are on more than one master");
    char *rec = th_tmp_path("cluster-parts.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"queues\":{\"pq\":{\"partitions\":%d}},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"pq\",\"group\":\"g\",\"workers\":2,"
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       cl.url, SLUICE_TEST_PLUGIN_DIR, PARTS, rec) > 0);
    char *cfg = th_write_file("cluster-parts.json", json);
    free(json);
    th_sup_init(&sup, "cluster-parts", cfg, "cluster-parts.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2, 30000);
    /* the published count is on pq's own slot */
    redisReply *n =
        th_cluster_cmd(&cl, th_cluster_node_of(&cl, "sluice:{pq}:partitions"), "GET sluice:{pq}:partitions");
    cr_assert(n->type == REDIS_REPLY_STRING && strcmp(n->str, "6") == 0, "the partition count is published");
    freeReplyObject(n);

    char stdin_text[JOBS * 12 + 1] = "";
    for (int j = 0; j < JOBS; j++)
        strcat(stdin_text, "{\"n\":1}\n");
    th_run_result r = th_run_io((const char *const[]){"enqueue", "-q", "-u", cl.url, "pq", "test.record", "-", NULL},
                                stdin_text, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    for (int k = 0; k < KEYED; k++)
        for (int twice = 0; twice < 2; twice++) {
            char key[32];
            snprintf(key, sizeof key, "k%d", k);
            r = TH_RUN("enqueue", "-q", "-u", cl.url, "--key", key, "pq", "test.record", "{}");
            cr_assert_eq(r.code, 0, "%s", r.err);
            th_run_free(&r);
        }
    th_lines w = {rec, JOBS + KEYED};
    cr_assert(th_wait_until(th_has_lines, &w, 90000), "%ld of %d jobs done (see %s)", th_count_lines(rec), JOBS + KEYED,
              sup.log);
    th_sleep_ms(300); /* a duplicate run would have shown by now */
    each_once(rec, JOBS + KEYED);
    long long total = 0;
    for (int i = 0; i < PARTS; i++) {
        char q[16];
        snprintf(q, sizeof q, "pq#%d", i);
        char key[64];
        snprintf(key, sizeof key, "sluice:{%s}", q);
        redisReply *x = th_cluster_cmd(&cl, master_of_partition("pq", i), "XLEN %s", key);
        cr_assert_gt(x->integer, 0, "partition %d got jobs", i);
        total += x->integer;
        freeReplyObject(x);
        cr_assert_eq(pending(q, "g"), 0, "partition %d: every job acked", i);
    }
    cr_assert_eq(total, JOBS + KEYED, "a duplicate key added nothing");
    r = TH_RUN("stats", "--json", "-u", cl.url, "pq");
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[64];
    snprintf(want, sizeof want, "\"length\":\t%d", JOBS + KEYED);
    cr_assert(strstr(r.out, want), "stats sums the partitions on every master: %s", r.out);
    th_run_free(&r);
    th_sup_stop(&sup, 20000);
    free(cfg);
    free(rec);
}

Test(cluster_run, eight_partitions_over_three_masters_two_groups_with_retries)
{
    enum { PARTS = 8, JOBS = 2000, RETRIED = 200 };
    int seen[3] = {0};
    for (int i = 0; i < PARTS; i++)
        seen[master_of_partition("eq", i)]++;
    cr_assert(seen[0] && seen[1] && seen[2], "eq's 8 partitions are on all 3 masters (%d %d %d)", seen[0], seen[1],
              seen[2]);
    char *rec_g = th_tmp_path("cluster-eq-g.txt"), *rec_h = th_tmp_path("cluster-eq-h.txt");
    unlink(rec_g);
    unlink(rec_h);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"jobs\":{\"max_attempts\":5,\"backoff_base\":\"50ms\",\"backoff_cap\":\"200ms\"},"
                       "\"queues\":{\"eq\":{\"partitions\":%d}},"
                       "\"pools\":[{\"name\":\"g3\",\"queue\":\"eq\",\"group\":\"g\",\"workers\":3,"
                       "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}},"
                       "{\"name\":\"h2\",\"queue\":\"eq\",\"group\":\"h\",\"workers\":2,"
                       "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       cl.url, SLUICE_TEST_PLUGIN_DIR, PARTS, rec_g, rec_h) > 0);
    char *cfg = th_write_file("cluster-eq.json", json);
    free(json);
    th_sup_init(&sup, "cluster-eq", cfg, "cluster-eq.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 5, 30000);

    acct_ledger *g = acct_new("eq", "g", rec_g), *h = acct_new("eq", "h", rec_h);
    acct_ledger *ledgers[] = {g, h};
    for (int i = 0; i < 2; i++) {
        acct_set_partitions(ledgers[i], PARTS);
        acct_set_route(ledgers[i], th_cluster_route, &cl);
    }
    char err[256];
    sluice_client *c = sluice_client_new(cl.url, NULL, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    static sluice_job_spec jobs[JOBS];
    static char ids[JOBS][SLUICE_ID_MAX];
    for (int i = 0; i < JOBS; i++)
        jobs[i] = (sluice_job_spec){.type = "test.acct", .payload = i < RETRIED ? "{\"retry_until\":2}" : "{}"};
    /* the supervisor has published the count (workers are up): the client reads it */
    cr_assert_eq(sluice_enqueue_batch(c, "eq", jobs, JOBS, ids), JOBS, "%s", sluice_client_error(c));
    for (int i = 0; i < JOBS; i++)
        acct_add(g, ids[i]), acct_add(h, ids[i]);
    for (int l = 0; l < 2; l++) {
        acct_counts k;
        int settled = acct_wait_settled(ledgers[l], NULL, 120000, &k);
        acct_print(l ? "eq group h" : "eq group g", &k);
        if (!settled || k.lost)
            acct_print_bad(ledgers[l], 10);
        cr_assert(settled, "group %s not settled: completed=%ld pending=%ld undelivered=%ld (see %s)", l ? "h" : "g",
                  k.completed, k.pending, k.undelivered, sup.log);
        cr_assert_eq(k.completed, JOBS);
        cr_assert_eq(k.lost, 0);
        cr_assert_eq(k.duplicates, 0);
        cr_assert_eq(k.dead, 0);
        cr_assert_eq(k.unknown, 0);
        long retried = 0;
        for (int i = 0; i < RETRIED; i++)
            retried += acct_job_get(ledgers[l], ids[i])->attempt == 2;
        cr_assert_eq(retried, RETRIED, "every retried job completed on attempt 2");
    }
    /* each partition got jobs, and 3 workers read all 8: group g has a consumer in each */
    for (int i = 0; i < PARTS; i++) {
        char key[64];
        snprintf(key, sizeof key, "sluice:{eq#%d}", i);
        redisReply *x = th_cluster_cmd(&cl, master_of_partition("eq", i), "XLEN %s", key);
        cr_assert_gt(x->integer, JOBS / PARTS / 2, "partition %d got %lld jobs", i, x->integer);
        freeReplyObject(x);
        x = th_cluster_cmd(&cl, master_of_partition("eq", i), "XINFO CONSUMERS %s g", key);
        cr_assert(x->type == REDIS_REPLY_ARRAY && x->elements >= 1, "partition %d has a consumer of g", i);
        freeReplyObject(x);
    }
    sluice_client_free(c);
    th_sup_stop(&sup, 20000);
    acct_free(g);
    acct_free(h);
    free(rec_g);
    free(rec_h);
    free(cfg);
}

/* A master that joins later, empty: once a queue's slot moves to it, the
 * library is loaded there (it came with no functions) and the queue's jobs
 * run, every one once. */
Test(cluster_run, a_new_master_gets_the_library_and_its_queues_run)
{
    enum { N = 200 };
    char q[QUEUES][16] = {{0}};
    pick_queues(q);
    char *rec = th_tmp_path("cluster-new-master.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(
        asprintf(&json,
                 "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                 "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                 "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                 "\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"group\":\"g\",\"workers\":2,"
                 "\"plugins\":[\"record\",\"retry\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                 cl.url, SLUICE_TEST_PLUGIN_DIR, q[0], rec) > 0);
    char *cfg = th_write_file("cluster-new-master.json", json);
    free(json);
    th_sup_init(&sup, "cluster-new-master", cfg, "cluster-new-master.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2, 30000);
    enqueue_all(q[0]);
    th_lines w = {rec, PER};
    cr_assert(th_wait_until(th_has_lines, &w, 60000), "%ld of %d (see %s)", th_count_lines(rec), PER, sup.log);

    int fresh = th_cluster_add_master(&cl);
    redisReply *v = th_cluster_cmd(&cl, fresh, "FCALL sluice_version 0");
    cr_assert_eq(v->type, REDIS_REPLY_ERROR, "a new node has no functions");
    freeReplyObject(v);
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s}", q[0]);
    th_cluster_move_slot(&cl, sl_hashslot(key, strlen(key)), 0, fresh);
    for (int j = 0; j < N; j++)
        enqueue(q[0], "test.record", "{}", j % 10 ? NULL : "100ms");
    w.n = PER + N;
    cr_assert(th_wait_until(th_has_lines, &w, 60000), "%ld of %d after the move (see %s)", th_count_lines(rec), PER + N,
              sup.log);
    each_once(rec, PER + N);
    v = th_cluster_cmd(&cl, fresh, "FCALL sluice_version 0");
    cr_assert_eq(v->type, REDIS_REPLY_STRING, "the library was loaded on the new master: %s",
                 v->type == REDIS_REPLY_ERROR ? v->str : "?");
    freeReplyObject(v);
    cr_assert_eq(pending(q[0], "g"), 0);
    th_sup_stop(&sup, 20000);
    free(cfg);
    free(rec);
}

/* Schedules through the cluster: two supervisors, a schedule's keys on one
 * master and the published definitions ({:cron}) on whichever holds that slot;
 * every tick is enqueued and run once, and the CLI finds the schedule. */
static int ran_ticks(void *arg)
{
    return th_count_lines_with(arg, "cron:cs:", NULL) >= 8;
}

Test(cluster_run, schedules_fire_each_tick_once_through_the_cluster)
{
    char *rec = th_tmp_path("cluster-cron.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(
        asprintf(&json,
                 "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                 "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},\"supervisor\":{\"http_listen\":null},"
                 "\"schedules\":[{\"name\":\"cs\",\"cron\":\"@every 1s\",\"queue\":\"cq\",\"type\":\"test.record\"}],"
                 "\"pools\":[{\"name\":\"p\",\"queue\":\"cq\",\"group\":\"g\",\"workers\":1,"
                 "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                 cl.url, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("cluster-cron.json", json);
    free(json);
    th_sup_init(&sup, "cluster-cron-a", cfg, "cluster-cron-a.log");
    th_sup_init(&sup2, "cluster-cron-b", cfg, "cluster-cron-b.log");
    char *env_a[] = {"SLUICE_IDENTITY=host-a", NULL}, *env_b[] = {"SLUICE_IDENTITY=host-b", NULL};
    th_sup_startv(&sup, NULL, env_a); /* distinct consumer names on one host */
    th_sup_startv(&sup2, NULL, env_b);
    th_sup_wait_workers(&sup, 1, 30000);
    th_sup_wait_workers(&sup2, 1, 30000);
    cr_assert(th_wait_until(ran_ticks, rec, 60000), "8 ticks ran (see %s)", sup.log);
    th_run_result r = TH_RUN("schedules", "list", "-u", cl.url);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "cs ") && strstr(r.out, "active"), "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("schedules", "trigger", "-u", cl.url, "cs");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    th_sleep_ms(1500);
    th_sup_stop(&sup, 20000);
    th_sup_stop(&sup2, 20000);

    th_rec *recs;
    int n = th_read_recs(rec, &recs), ticks = 0;
    cr_assert_eq(th_recs_distinct(recs, n), n, "no job ran twice");
    long long prev = -1;
    for (int i = 0; i < n; i++) { /* sorted by id: the ticks in order */
        if (strncmp(recs[i].id, "cron:cs:trigger:", 16) == 0 || strncmp(recs[i].id, "cron:cs:", 8) != 0)
            continue;
        long long t = atoll(recs[i].id + 8);
        cr_assert(prev < 0 || t - prev == 1000, "no tick missing between %lld and %lld", prev, t);
        prev = t;
        ticks++;
    }
    cr_assert_geq(ticks, 8);
    cr_assert_eq(th_count_lines_with(rec, "cron:cs:trigger:", NULL), 1, "the triggered job ran");
    free(recs);
    long lines = th_sup_log_count(&sup, "schedule tick enqueued", NULL) +
                 th_sup_log_count(&sup2, "schedule tick enqueued", NULL);
    cr_assert_geq(lines, ticks, "every tick that ran was enqueued by one of them (%ld lines, %d ticks)", lines, ticks);
    cr_assert_leq(lines, ticks + 2, "and only once (the last ticks may not have run before the stop)");
    free(cfg);
    free(rec);
}
