/* `sluice run` through a redis+sentinel:// URL against real processes (a
 * master, one replica, three sentinels): jobs enqueued through the sentinels
 * run; the master is killed; once the sentinels promote the replica, the
 * supervisor's connection and the workers find the new master by asking the
 * sentinels again, load nothing twice (the library came with the replica),
 * and the jobs enqueued after the failover, delayed ones too (promoted by
 * the supervisor), all run: every job once, nothing left pending.
 * Then the same kill under load (a producer thread, two workers, 3,000 jobs
 * and the accounting checker), with redis.wait_replicas 1 (no acknowledged
 * enqueue lost) and 0 (the loss measured and printed). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/failover.h"
#include "support/run.h"
#include "support/sentinel.h"
#include "support/sup.h"
#include "th.h"

#define NAME "mymaster"
#define NS 3

static th_server master, replica;
static th_sentinel sen[NS];
static th_sup sup;
static char url[512];

static void setup(void)
{
    th_server_start(&master);
    th_server_start(&replica);
    th_make_replica(&replica, &master);
    size_t n = (size_t)snprintf(url, sizeof url, "redis+sentinel://");
    for (int i = 0; i < NS; i++) {
        th_sentinel_start(&sen[i], NAME, master.port, 2, NULL);
        n += (size_t)snprintf(url + n, sizeof url - n, "%s127.0.0.1:%d", i ? "," : "", sen[i].port);
    }
    snprintf(url + n, sizeof url - n, "/" NAME);
    for (int i = 0; i < NS; i++)
        th_sentinel_wait_ready(&sen[i], NAME, 1, NS - 1);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    for (int i = 0; i < NS; i++)
        th_sentinel_kill(&sen[i]);
    th_server_kill(&replica);
    th_server_kill(&master);
}

TestSuite(sentinel_run, .init = setup, .fini = teardown, .timeout = 240);

static int promoted(void *arg)
{
    (void)arg;
    for (int i = 0; i < NS; i++)
        if (th_sentinel_master_port(&sen[i], NAME) != replica.port)
            return 0;
    return 1;
}

/* Enqueue through the sentinels, retrying while they have no master yet. */
static void enqueue(const char *payload, const char *delay)
{
    for (int tries = 0;; tries++) {
        th_run_result r = delay ? TH_RUN("enqueue", "-q", "-u", url, "--delay", delay, "sq", "test.record", payload)
                                : TH_RUN("enqueue", "-q", "-u", url, "sq", "test.record", payload);
        int code = r.code;
        if (code != 0 && tries >= 50)
            cr_assert_fail("enqueue: %s", r.err);
        th_run_free(&r);
        if (code == 0)
            return;
        th_sleep_ms(200);
    }
}

Test(sentinel_run, jobs_run_across_a_failover)
{
    enum { N = 40, D = 3 };
    char *rec = th_tmp_path("sentinel-run.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"sq\",\"group\":\"g\",\"workers\":2,"
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       url, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("sentinel-run.json", json);
    free(json);
    th_sup_init(&sup, "sentinel", cfg, "sentinel-run.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2, 30000);
    for (int i = 0; i < N; i++)
        enqueue("{}", NULL);
    th_lines w = {rec, N};
    cr_assert(th_wait_until(th_has_lines, &w, 60000), "%ld of %d before the failover (see %s)", th_count_lines(rec), N,
              sup.log);

    /* every write so far is on the replica before the master goes */
    redisContext *m = th_server_connect(&master);
    redisReply *wr = redisCommand(m, "WAIT 1 5000");
    cr_assert(wr && wr->type == REDIS_REPLY_INTEGER && wr->integer == 1);
    freeReplyObject(wr);
    redisFree(m);
    th_server_kill(&master);
    cr_assert(th_wait_until(promoted, NULL, 60000), "the sentinels did not promote the replica");

    for (int i = 0; i < N; i++)
        enqueue("{}", NULL);
    for (int i = 0; i < D; i++)
        enqueue("{}", "200ms");
    w.n = 2 * N + D;
    cr_assert(th_wait_until(th_has_lines, &w, 90000), "%ld of %d after the failover (see %s)", th_count_lines(rec),
              2 * N + D, sup.log);
    cr_assert_eq(th_count_lines(rec), 2 * N + D, "each job ran once");
    cr_assert_geq(th_sup_log_count(&sup, "redis maintenance connection restored", NULL), 1, "see %s", sup.log);
    redisContext *nm = th_server_connect(&replica);
    redisReply *p = redisCommand(nm, "XPENDING sluice:{sq} g");
    cr_assert(p && p->type == REDIS_REPLY_ARRAY && p->element[0]->integer == 0, "nothing pending on the new master");
    freeReplyObject(p);
    redisFree(nm);
    th_sup_stop(&sup, 20000);
    free(cfg);
    free(rec);
}

/* ---- kill -9 of the master under load ----------------------------------- */

/* The checks read the promoted replica: after the kill it is the master
 * (the restarted old master is empty until it has resynced from it). */
static redisContext *to_master(void *arg, const char *q)
{
    (void)arg;
    (void)q;
    static redisContext *c;
    if (c && c->err) {
        redisFree(c);
        c = NULL;
    }
    if (!c)
        c = th_server_connect(&replica);
    return c;
}

static void kill_master_under_load(int wait)
{
    enum { N = 3000, KILL_AT = 1000 };
    char name[64], *rec;
    snprintf(name, sizeof name, "sentinel-kill-w%d.txt", wait);
    rec = th_tmp_path(name);
    unlink(rec);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\","
                       "\"wait_replicas\":%d,\"wait_timeout\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"kq\",\"group\":\"g\",\"workers\":2,"
                       "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       url, wait, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    snprintf(name, sizeof name, "sentinel-kill-w%d.json", wait);
    char *cfg = th_write_file(name, json);
    free(json);
    char log[64];
    snprintf(log, sizeof log, "sentinel-kill-w%d.log", wait);
    th_sup_init(&sup, "sentinel-kill", cfg, log);
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 2, 30000);
    acct_ledger *a = acct_new("kq", "g", rec);
    acct_set_route(a, to_master, NULL);

    char err[256];
    sluice_client_opts o = {.size = sizeof o, .wait_replicas = wait, .wait_timeout_ms = 500};
    sluice_client *c = sluice_client_new(url, &o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    th_producer p;
    th_producer_start(&p, c, "kq", "{\"sleep_ms\":1}", N);
    th_producer_wait(&p, KILL_AT, 120000);
    th_producer_mark(&p);
    th_server_kill(&master);
    cr_assert(th_wait_until(promoted, NULL, 60000), "the sentinels did not promote the replica");
    th_server_start(&master); /* the sentinels make it the new master's replica */
    th_producer_finish(&p, a);
    snprintf(name, sizeof name, "sentinel kill -9, wait_replicas %d", wait);
    th_failover_check(a, &p, wait, name, 200, sup.log);
    sluice_client_free(c);
    th_producer_free(&p);
    th_sup_stop(&sup, 20000);
    acct_free(a);
    free(rec);
    free(cfg);
}

Test(sentinel_run, kill_the_master_under_load_with_wait_replicas_1_loses_no_acknowledged_job)
{
    kill_master_under_load(1);
}

Test(sentinel_run, kill_the_master_under_load_with_wait_replicas_0_measures_the_loss)
{
    kill_master_under_load(0);
}

/* A stale or partitioned sentinel, first in the URL, names another master
 * (here a decoy server that really is a master, under the same name): the
 * supervisor's own connection goes where most sentinels point, like the
 * workers' and the CLI's. Its maintenance then promotes the delayed jobs
 * enqueued on the real master; on the decoy it would wait forever. */
Test(sentinel_run, the_master_most_sentinels_name_wins_over_a_stale_one)
{
    static th_server decoy;
    static th_sentinel stale;
    th_server_start(&decoy);
    th_sentinel_start(&stale, NAME, decoy.port, 1, NULL);
    for (int tries = 0; th_sentinel_master_port(&stale, NAME) != decoy.port; tries++) {
        cr_assert_lt(tries, 500, "the stale sentinel does not name the decoy");
        th_sleep_ms(20);
    }
    char vurl[600];
    size_t n = (size_t)snprintf(vurl, sizeof vurl, "redis+sentinel://127.0.0.1:%d", stale.port);
    for (int i = 0; i < NS; i++)
        n += (size_t)snprintf(vurl + n, sizeof vurl - n, ",127.0.0.1:%d", sen[i].port);
    snprintf(vurl + n, sizeof vurl - n, "/" NAME);

    char *rec = th_tmp_path("sentinel-vote.txt");
    unlink(rec);
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"vq\",\"group\":\"g\",\"workers\":1,"
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       vurl, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("sentinel-vote.json", json);
    free(json);
    th_sup_init(&sup, "sentinel-vote", cfg, "sentinel-vote.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 1, 30000);
    for (int i = 0; i < 3; i++) {
        th_run_result r = TH_RUN("enqueue", "-q", "-u", vurl, "--delay", "100ms", "vq", "test.record", "{}");
        cr_assert_eq(r.code, 0, "%s", r.err);
        th_run_free(&r);
    }
    th_lines w = {rec, 3};
    cr_assert(th_wait_until(th_has_lines, &w, 30000), "%ld of 3 delayed jobs promoted and run (see %s)",
              th_count_lines(rec), sup.log);
    redisContext *d = th_server_connect(&decoy);
    cr_assert_eq(th_int(d, "EXISTS sluice:{vq}"), 0, "nothing went to the decoy");
    cr_assert_eq(th_int(d, "EXISTS sluice:{vq}:sched"), 0);
    redisFree(d);
    th_sup_stop(&sup, 20000);
    th_sentinel_kill(&stale);
    th_server_kill(&decoy);
    free(cfg);
    free(rec);
}
