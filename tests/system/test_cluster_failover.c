/* `sluice run` on a real Redis Cluster of 3 masters, each with a replica
 * (cluster-node-timeout 2 s), with the accounting checker (support/acct.h)
 * over every job:
 *
 * - one pool per master drains 2,100 jobs (retries among them); the CLI works
 *   against any single seed, a replica's too, and `sluice stats` sees every
 *   queue;
 * - the slot of a busy queue moves to another master while its pool drains a
 *   backlog (MIGRATE key by key: ASK, then MOVED); nothing lost or run twice;
 * - `kill -9` of the master of a queue under load (a producer thread
 *   enqueueing, two workers consuming): its replica is promoted, the workers
 *   and the producer follow, the old master comes back as a replica. With
 *   redis.wait_replicas 1 no acknowledged enqueue is lost; with 0 the loss of
 *   acknowledged enqueues is measured and printed (the asynchronous
 *   replication window: only jobs acknowledged before the kill can be lost).
 *   Duplicates (jobs in flight at the kill, acks not yet replicated) are
 *   counted and bounded. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/client.h>

#include "common/hashslot.h"
#include "support/acct.h"
#include "support/cluster.h"
#include "support/failover.h"
#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_cluster cl;
static th_sup sup;

static void setup(void)
{
    th_cluster_start_replicated(&cl, 3);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    th_cluster_stop(&cl);
}

TestSuite(cluster_failover, .init = setup, .fini = teardown, .timeout = 400);

/* After a kill: the promoted master, which the checks read (the restarted
 * old master may name itself the master until gossip tells it otherwise). */
static int promoted = -1;

/* The connection to the master of queue q's keys. */
static redisContext *route(void *arg, const char *q)
{
    (void)arg;
    return promoted >= 0 ? cl.rc[promoted] : th_cluster_route(&cl, q);
}

static int node_of_queue(const char *q)
{
    char key[200];
    snprintf(key, sizeof key, "sluice:{%s}", q);
    return th_cluster_node_of(&cl, key);
}

/* Queue names with prefix, queue i on master i. */
static void pick_queues(const char *prefix, char q[3][16])
{
    int found = 0;
    for (int i = 0; found < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        int node = node_of_queue(name);
        if (q[node][0] == '\0') {
            snprintf(q[node], 16, "%s", name);
            found++;
        }
    }
}

/* The config of `sluice run`: npools pools (2 workers, faulty plugin) on q[i],
 * each recording into rec[i]. */
static char *write_cfg(const char *name, int wait, int npools, char q[][16], char *const *rec)
{
    char pools[4096] = "";
    size_t pl = 0;
    for (int i = 0; i < npools; i++)
        pl += (size_t)snprintf(pools + pl, sizeof pools - pl,
                               "%s{\"name\":\"p%d\",\"queue\":\"%s\",\"group\":\"g\",\"workers\":2,"
                               "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}",
                               i ? "," : "", i, q[i], rec[i]);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\","
                       "\"wait_replicas\":%d,\"wait_timeout\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"jobs\":{\"max_attempts\":5,\"backoff_base\":\"50ms\",\"backoff_cap\":\"200ms\"},"
                       "\"pools\":[%s]}",
                       cl.url, wait, SLUICE_TEST_PLUGIN_DIR, pools) > 0);
    char file[64];
    snprintf(file, sizeof file, "%s.json", name);
    char *cfg = th_write_file(file, json);
    free(json);
    return cfg;
}

static sluice_client *client(int wait)
{
    char err[256];
    sluice_client_opts o = {.size = sizeof o, .wait_replicas = wait, .wait_timeout_ms = 500};
    sluice_client *c = sluice_client_new(cl.url, &o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

/* n jobs of payload on q in one batch; their ids into the ledger. */
static void enqueue_batch(sluice_client *c, const char *q, const char *payload, size_t n, acct_ledger *a)
{
    sluice_job_spec *jobs = calloc(n, sizeof *jobs);
    char(*ids)[SLUICE_ID_MAX] = calloc(n, sizeof *ids);
    for (size_t i = 0; i < n; i++)
        jobs[i] = (sluice_job_spec){.type = "test.acct", .payload = payload};
    cr_assert_eq(sluice_enqueue_batch(c, q, jobs, n, ids), (long)n, "%s: %s", q, sluice_client_error(c));
    for (size_t i = 0; i < n; i++)
        acct_add(a, ids[i]);
    free(jobs);
    free(ids);
}

/* Settled, and exactly: every job completed once, nothing lost or dead. */
static void all_once(acct_ledger *a, const char *name, long n)
{
    acct_counts k;
    int settled = acct_wait_settled(a, NULL, 120000, &k);
    acct_print(name, &k);
    if (!settled || k.lost)
        acct_print_bad(a, 10);
    cr_assert(settled, "%s not settled: completed=%ld pending=%ld scheduled=%ld undelivered=%ld (see %s)", name,
              k.completed, k.pending, k.scheduled, k.undelivered, sup.log);
    cr_assert_eq(k.enqueued, n, "%s", name);
    cr_assert_eq(k.completed, n, "%s", name);
    cr_assert_eq(k.lost, 0, "%s", name);
    cr_assert_eq(k.duplicates, 0, "%s: no kill, so nothing runs twice", name);
    cr_assert_eq(k.dead, 0, "%s", name);
    cr_assert_eq(k.unknown, 0, "%s", name);
}

Test(cluster_failover, every_master_drains_and_a_busy_slot_moves)
{
    enum { PLAIN = 650, RETRIED = 50, BACKLOG = 1500, AFTER = 500 };
    char q[3][16] = {{0}}, *rec[3];
    acct_ledger *a[3];
    pick_queues("fq", q);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "cfo-%s.txt", q[i]);
        rec[i] = th_tmp_path(name);
        unlink(rec[i]);
        a[i] = acct_new(q[i], "g", rec[i]);
        acct_set_route(a[i], route, NULL);
    }
    char *cfg = write_cfg("cluster-drain", 0, 3, q, rec);
    th_sup_init(&sup, "cluster-drain", cfg, "cluster-drain.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 6, 30000);
    sluice_client *c = client(0);
    for (int i = 0; i < 3; i++) {
        enqueue_batch(c, q[i], "{}", PLAIN, a[i]);
        enqueue_batch(c, q[i], "{\"retry_until\":2}", RETRIED, a[i]);
    }
    for (int i = 0; i < 3; i++)
        all_once(a[i], q[i], PLAIN + RETRIED);

    /* the CLI against any one seed, a replica's too: stats sees every queue */
    for (int i = 0; i < cl.n; i++) {
        char seed[64];
        snprintf(seed, sizeof seed, "redis+cluster://127.0.0.1:%d", cl.srv[i].port);
        th_run_result r = TH_RUN("stats", "--json", "-u", seed);
        cr_assert_eq(r.code, 0, "seed %d: %s", i, r.err);
        for (int j = 0; j < 3; j++) {
            char want[64];
            snprintf(want, sizeof want, "\"%s\"", q[j]);
            cr_assert(strstr(r.out, want), "seed %d: stats lists %s: %s", i, q[j], r.out);
        }
        th_run_free(&r);
    }

    /* a backlog on queue 0, whose slot moves from master 0 to master 1 while it drains */
    int from = node_of_queue(q[0]), to = node_of_queue(q[1]);
    enqueue_batch(c, q[0], "{\"sleep_ms\":2}", BACKLOG, a[0]);
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s}", q[0]);
    long long ask0 = th_cluster_errorstat(&cl, from, "ASK"), moved0 = th_cluster_errorstat(&cl, from, "MOVED");
    /* the stream first: for 500 ms its slot is MIGRATING with the stream on
     * the target, so the workers' reads and acks meet ASK; then MOVED */
    th_cluster_move_slot_paced(&cl, sl_hashslot(key, strlen(key)), from, to, key, 500);
    acct_counts k;
    acct_check(a[0], NULL, &k);
    fprintf(stderr, "moved the slot of %s with %ld of %d backlog jobs done\n", q[0], k.completed - PLAIN - RETRIED,
            BACKLOG);
    cr_assert_gt(th_cluster_errorstat(&cl, from, "ASK"), ask0, "the workers met ASK during the migration");
    cr_assert_eq(node_of_queue(q[0]), to);
    enqueue_batch(c, q[0], "{}", AFTER, a[0]);
    all_once(a[0], "after the move", PLAIN + RETRIED + BACKLOG + AFTER);
    cr_assert_gt(th_cluster_errorstat(&cl, from, "MOVED"), moved0, "and MOVED after it");
    sluice_client_free(c);
    th_sup_stop(&sup, 20000);
    for (int i = 0; i < 3; i++) {
        acct_free(a[i]);
        free(rec[i]);
    }
    free(cfg);
}

/* ---- kill -9 of a master under load ------------------------------------- */

enum { N = 3000, KILL_AT = 1000 };

static void kill_master_under_load(int wait)
{
    char q[3][16] = {{0}}, name[40], *rec;
    pick_queues("kq", q);
    snprintf(name, sizeof name, "kill-w%d.txt", wait);
    rec = th_tmp_path(name);
    unlink(rec);
    acct_ledger *a = acct_new(q[0], "g", rec);
    acct_set_route(a, route, NULL);
    snprintf(name, sizeof name, "cluster-kill-w%d", wait);
    char *cfg = write_cfg(name, wait, 1, q, &rec);
    char log[64];
    snprintf(log, sizeof log, "%s.log", name);
    th_sup_init(&sup, name, cfg, log);
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2, 30000);

    int old = node_of_queue(q[0]);
    th_producer p;
    th_producer_start(&p, client(wait), q[0], "{\"sleep_ms\":1}", N);
    th_producer_wait(&p, KILL_AT, 120000);
    th_producer_mark(&p);
    th_cluster_kill(&cl, old);
    char key[64];
    snprintf(key, sizeof key, "sluice:{%s}", q[0]);
    promoted = th_cluster_wait_new_master(&cl, key, old, 60000);
    th_cluster_restart(&cl, old); /* it comes back as the new master's replica */
    th_cluster_wait_replica_up(&cl, old, 60000);
    th_producer_finish(&p, a);
    snprintf(name, sizeof name, "cluster kill -9, wait_replicas %d", wait);
    /* duplicates: the jobs in flight at the kill, and acks the replica had not got */
    th_failover_check(a, &p, wait, name, 200, sup.log);
    sluice_client_free(p.c);
    th_producer_free(&p);
    th_sup_stop(&sup, 20000);
    acct_free(a);
    free(rec);
    free(cfg);
}

Test(cluster_failover, kill_a_master_under_load_with_wait_replicas_1_loses_no_acknowledged_job)
{
    kill_master_under_load(1);
}

Test(cluster_failover, kill_a_master_under_load_with_wait_replicas_0_measures_the_loss)
{
    kill_master_under_load(0);
}
