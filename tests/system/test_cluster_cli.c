/* sluice on a real 3-master Redis Cluster through a redis+cluster:// URL: the
 * CLI enqueues to queues on every master, `sluice functions` checks and loads
 * the library on each, `sluice stats` finds every queue on every master, and
 * standalone workers (the real sluice-worker with a real plugin) drain queues
 * whose slots are on different masters: every job run once and acked. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/run.h"
#include "th.h"

static th_cluster cl;

static void setup(void)
{
    th_cluster_start(&cl, 3);
}

static void teardown(void)
{
    th_cluster_stop(&cl);
}

TestSuite(cluster_cli, .init = setup, .fini = teardown, .timeout = 240);

/* n queue names cq0.. chosen so that every master holds at least one. */
static void queues_on_every_master(char names[][16], int n)
{
    int seen[3] = {0};
    for (int i = 0; i < n; i++) {
        snprintf(names[i], 16, "cq%d", i);
        char key[128];
        snprintf(key, sizeof key, "sluice:{%s}", names[i]);
        seen[th_cluster_node_of(&cl, key)]++;
    }
    for (int m = 0; m < 3; m++)
        cr_assert_gt(seen[m], 0, "pick more queues: master %d has none of cq0..cq%d", m, n - 1);
}

static long long xlen_of(const char *queue)
{
    char key[128];
    snprintf(key, sizeof key, "sluice:{%s}", queue);
    redisReply *r = th_cluster_cmd(&cl, th_cluster_node_of(&cl, key), "XLEN %s", key);
    long long n = r->integer;
    freeReplyObject(r);
    return n;
}

Test(cluster_cli, functions_status_and_load_on_every_master)
{
    th_run_result r = TH_RUN("functions", "-u", cl.url);
    cr_assert_eq(r.code, 1, "no master has the library yet: %s%s", r.out, r.err);
    cr_assert(strstr(r.err, "3 master(s) lack version"), "%s", r.err);
    th_run_free(&r);
    r = TH_RUN("functions", "load", "-u", cl.url);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "on 3 master(s)"), "%s", r.out);
    th_run_free(&r);
    for (int i = 0; i < 3; i++) {
        redisReply *v = th_cluster_cmd(&cl, i, "FCALL sluice_version 0");
        cr_assert_eq(v->type, REDIS_REPLY_STRING, "master %d has the library", i);
        freeReplyObject(v);
    }
    r = TH_RUN("functions", "status", "--json", "-u", cl.url);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_eq(th_count_in(r.out, "\"current\":\ttrue"), 3, "%s", r.out);
    th_run_free(&r);
    /* a FUNCTION FLUSH on one master is found and repaired by any CLI command that needs it */
    freeReplyObject(th_cluster_cmd(&cl, 1, "FUNCTION FLUSH"));
    r = TH_RUN("functions", "-u", cl.url);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.out, "not loaded"), "%s", r.out);
    th_run_free(&r);
}

Test(cluster_cli, enqueue_and_stats_span_every_master)
{
    char q[6][16];
    queues_on_every_master(q, 6);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j <= i; j++) {
            th_run_result r = TH_RUN("enqueue", "-q", "-u", cl.url, q[i], "t.v1", "{\"n\":1}");
            cr_assert_eq(r.code, 0, "%s: %s", q[i], r.err);
            th_run_free(&r);
        }
    /* a delayed job and an idempotency key: the sched set and the idem key are the queue's slot */
    th_run_result r = TH_RUN("enqueue", "-q", "-u", cl.url, "--delay", "1h", q[0], "t.v1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    for (int k = 0; k < 2; k++) {
        r = TH_RUN("enqueue", "-u", cl.url, "--key", "once", q[1], "t.v1");
        cr_assert_eq(r.code, 0, "%s", r.err);
        th_run_free(&r);
    }
    for (int i = 0; i < 6; i++)
        cr_assert_eq(xlen_of(q[i]), i + 1 + (i == 1), "%s", q[i]);

    r = TH_RUN("stats", "--json", "-u", cl.url);
    cr_assert_eq(r.code, 0, "%s", r.err);
    for (int i = 0; i < 6; i++) {
        char want[160];
        snprintf(want, sizeof want, "\"queue\":\t\"%s\"", q[i]);
        cr_assert_eq(th_count_in(r.out, want), 1, "stats lists %s once: %s", q[i], r.out);
    }
    th_run_free(&r);
}

Test(cluster_cli, workers_drain_queues_on_every_master)
{
    enum { QUEUES = 6, PER = 50 };
    char q[QUEUES][16];
    queues_on_every_master(q, QUEUES);
    pid_t w[QUEUES];
    char *rec[QUEUES];
    for (int i = 0; i < QUEUES; i++) {
        char name[160], json[2048];
        snprintf(name, sizeof name, "rec-%s.txt", q[i]);
        rec[i] = th_tmp_path(name);
        unlink(rec[i]);
        snprintf(json, sizeof json,
                 "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                 "\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"plugins\":[\"record\"],"
                 "\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                 cl.url, SLUICE_TEST_PLUGIN_DIR, q[i], rec[i]);
        snprintf(name, sizeof name, "cw-%s.json", q[i]);
        char *cfg = th_write_file(name, json);
        snprintf(name, sizeof name, "cw-%s.log", q[i]);
        w[i] = th_worker_start(cfg, "p", "c1", name);
        free(cfg);
    }
    for (int i = 0; i < QUEUES; i++) {
        char stdin_text[PER * 12 + 1] = "";
        for (int j = 0; j < PER; j++)
            strcat(stdin_text, "{\"n\":1}\n");
        th_run_result r = th_run_io(
            (const char *const[]){"enqueue", "-q", "-u", cl.url, q[i], "test.record", "-", NULL}, stdin_text, NULL);
        cr_assert_eq(r.code, 0, "%s", r.err);
        th_run_free(&r);
    }
    for (int i = 0; i < QUEUES; i++) {
        th_lines want = {rec[i], PER};
        cr_assert(th_wait_until(th_has_lines, &want, 60000), "%s: %ld of %d jobs ran", q[i], th_count_lines(rec[i]),
                  PER);
    }
    for (int i = 0; i < QUEUES; i++) {
        th_worker_stop(w[i], 10000);
        cr_assert_eq(th_count_lines(rec[i]), PER, "%s: each job ran once", q[i]);
        char key[128];
        snprintf(key, sizeof key, "sluice:{%s}", q[i]);
        redisReply *p = th_cluster_cmd(&cl, th_cluster_node_of(&cl, key), "XPENDING %s p", key);
        cr_assert_eq(p->element[0]->integer, 0, "%s: every job acked", q[i]);
        freeReplyObject(p);
        free(rec[i]);
    }
}

Test(cluster_cli, schema_registry_on_its_own_slot)
{
    /* the seed is a master that does not hold {:schemas}: every registry call is routed */
    int reg = th_cluster_node_of(&cl, "sluice:{:schemas}");
    char url[128];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%d", cl.srv[(reg + 1) % 3].port);
    const char *v1 = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\"}},\"required\":[\"n\"]}";
    const char *bad = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"string\"}},\"required\":[\"n\"]}";
    th_run_result r = th_run_io((const char *const[]){"schema", "register", "-u", url, "s.v1", "-", NULL}, v1, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    r = th_run_io((const char *const[]){"schema", "register", "-u", url, "s.v1", "-", NULL}, bad, NULL);
    cr_assert_eq(r.code, 1, "an incompatible change is refused: %s", r.out);
    th_run_free(&r);
    redisReply *v = th_cluster_cmd(&cl, reg, "GET sluice:{:schemas}:version");
    cr_assert(v->type == REDIS_REPLY_STRING && strcmp(v->str, "1") == 0, "one change stored on the registry's master");
    freeReplyObject(v);
    char q[1][16];
    snprintf(q[0], sizeof q[0], "sq");
    r = TH_RUN("enqueue", "-q", "-u", url, q[0], "s.v1", "{\"n\":\"x\"}");
    cr_assert_eq(r.code, 1, "a payload the schema refuses is not enqueued: %s", r.err);
    th_run_free(&r);
    r = TH_RUN("enqueue", "-q", "-u", url, q[0], "s.v1", "{\"n\":1}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    cr_assert_eq(xlen_of(q[0]), 1);
}
