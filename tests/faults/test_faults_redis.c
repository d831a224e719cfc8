/* Fault suite, Redis faults: a private AOF redis-server killed with -9 and
 * restarted mid-run, one frozen 10 s by SIGSTOP, and entries deleted (XDEL)
 * while pending or running. Every acknowledged job must complete or be
 * dead-lettered, exactly one of the two; workers must not crash. The first two
 * are rows of a table run by fx_scenario_run (support/fx.h). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/acct.h"
#include "support/fx.h"
#include "support/run.h"

#define N 1000
#define WORKERS 4
#define READ_COUNT 10
/* An unconfirmed ack (its reply lost with the connection) re-runs a job: at
 * most one read batch per worker can be in that state. */
#define MAX_DUPS (WORKERS * READ_COUNT)

static th_server red = {.aof = 1}; /* restarts reuse its port and dir */
static redisContext *rc;
static acct_ledger *ledger; /* freed by teardown, also after a failed assertion */

static void teardown(void)
{
    acct_free(ledger);
    ledger = NULL;
    if (rc)
        redisFree(rc);
    rc = NULL;
    th_server_kill(&red);
    fx_suite_fini(); /* a table scenario's ledger, private Redis and connection */
}

TestSuite(faults_redis, .fini = teardown);

static void p_sleep5(int i, char *buf, size_t n, void *arg)
{
    (void)arg;
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":5}", i);
}

/* Payload {"n":i,"sleep_ms":*arg}. */
static void p_sleep(int i, char *buf, size_t n, void *arg)
{
    snprintf(buf, n, "{\"n\":%d,\"sleep_ms\":%d}", i, *(const int *)arg);
}

/* Send n XADDs pipelined, wait for the first reply, then kill -9 Redis while
 * the rest are in flight; the ids whose reply arrived go to acked_ids.
 * Returns how many did (>= 1). */
static int enqueue_into_kill(fx_scene *s, char (*acked_ids)[64], int n)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(s->c, "XADD sluice:{s6} * type test.acct payload {\"n\":%d,\"sleep_ms\":5,\"race\":1}", i);
    int acked = 0;
    for (int i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(s->c, &v) != REDIS_OK)
            break;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_STRING)
            snprintf(acked_ids[acked++], 64, "%s", r->str);
        freeReplyObject(r);
        if (i == 0)
            th_server_kill(&s->red);
    }
    cr_assert_geq(acked, 1);
    return acked;
}

/* 6. redis-server kill -9 and restart (AOF, appendfsync always) mid-run. */
static long kill9_restart(fx_scene *s)
{
    static char acked_ids[500][64];
    int acked = enqueue_into_kill(s, acked_ids, 500);
    redisFree(s->c);
    s->c = NULL;
    th_sleep_ms(500);
    th_server_start(&s->red);
    s->c = th_server_connect(&s->red);
    /* Durability: every acknowledged racing enqueue survived the restart.
     * Racing enqueues that were persisted without our reading their reply
     * are jobs too: they must run as well. */
    int kept = 0, acked_kept = 0;
    redisReply *x = redisCommand(s->c, "XRANGE sluice:{s6} - +");
    cr_assert(x && x->type == REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < x->elements; i++) {
        const redisReply *e = x->element[i];
        const char *id = e->element[0]->str;
        if (e->element[1]->elements < 4 || !strstr(e->element[1]->element[3]->str, "\"race\""))
            continue;
        kept++;
        acct_add(s->a, id);
        for (int j = 0; j < acked; j++)
            acked_kept += strcmp(acked_ids[j], id) == 0;
    }
    freeReplyObject(x);
    fprintf(stderr, "scenario 6: of 500 racing enqueues %d were acknowledged before the kill, %d persisted\n", acked,
            kept);
    cr_assert_eq(acked_kept, acked, "only %d of %d acknowledged enqueues survived the restart", acked_kept, acked);
    fx_xadd(s->c, "s6", "test.acct", 200, p_sleep5, NULL, s->a, NULL);
    s->added = kept + 200;
    return 1;
}

static void no_worker_crashed(fx_scene *s, const acct_counts *k)
{
    (void)k;
    cr_assert_eq(th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL), 0,
                 "workers crashed on the Redis restart (see %s)", s->run.sup.log);
}

/* 7. redis-server frozen (SIGSTOP) for 10 s while workers wait on it. */
static long sigstop_10s(fx_scene *s)
{
    cr_assert_eq(kill(s->red.pid, SIGSTOP), 0);
    long at_stop = th_count_lines(s->run.record);
    th_sleep_ms(10000);
    long during = th_count_lines(s->run.record) - at_stop;
    cr_assert_eq(kill(s->red.pid, SIGCONT), 0);
    fprintf(stderr, "scenario 7: %ld completions while Redis was stopped (jobs already read)\n", during);
    return 1;
}

static void sigstop_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    long crashes = th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL),
         spawned = th_sup_log_count(&s->run.sup, "\"worker spawned\"", NULL);
    fprintf(stderr, "scenario 7: worker crashes=%ld spawns=%ld\n", crashes, spawned);
    cr_assert_eq(crashes, 0, "workers crashed while Redis was stopped (see %s)", s->run.sup.log);
    cr_assert_eq(spawned, WORKERS, "workers were respawned (see %s)", s->run.sup.log);
}

/* The scenarios of this suite that share the skeleton (fx_scenario_run): a
 * supervisor on a private Redis, N jobs, a Redis fault, the no-loss check and
 * exact counts. The others below are not rows: trimmed_while_pending reads as
 * a dead consumer before the supervisor starts and deletes entries in three
 * phases around a stop; deleted_while_running settles three rounds of one job
 * each; oom_settle_held runs two single jobs through an OOM window; the
 * reconnect scenario runs a standalone worker and no jobs. */
enum { KILL9_AOF, SIGSTOP_10S };
static const fx_scenario scenarios[] = {
    [KILL9_AOF] = {.title = "6 (redis kill -9 + AOF restart)",
                   .cfg = {.queue = "s6", .workers = WORKERS, .read_count = READ_COUNT},
                   .private_redis = 1,
                   .n = N,
                   .payload = p_sleep5,
                   .wait_records = 300,
                   .fault = kill9_restart,
                   /* dead 0: no dead letters after a Redis restart (reasons in the counts line) */
                   .completed = FX_REST,
                   .dead = 0,
                   .max_dups = MAX_DUPS,
                   .check = no_worker_crashed,
                   .stop_ms = 20000},
    [SIGSTOP_10S] =
        {.title = "7 (redis SIGSTOP 10s)",
         .cfg = {.queue = "s7", .workers = WORKERS, .read_count = READ_COUNT, .redis = "\"command_timeout\":\"1s\""},
         .private_redis = 1,
         .n = N,
         .payload = p_sleep5,
         .wait_records = 300,
         .fault = sigstop_10s,
         .completed = N,
         .dead = 0,
         .max_dups = MAX_DUPS,
         .check = sigstop_check,
         .stop_ms = 20000},
};

Test(faults_redis, kill9_restart_aof, .timeout = 150)
{
    fx_scenario_run(&scenarios[KILL9_AOF]);
}
Test(faults_redis, sigstop_10s, .timeout = 150)
{
    fx_scenario_run(&scenarios[SIGSTOP_10S]);
}

/* Pending entries of group g on stream key, up to max, into ids. */
static int pending_ids(const char *key, const char *g, char (*out)[64], int max)
{
    redisReply *r = redisCommand(rc, "XPENDING %s %s - + %d", key, g, max);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "XPENDING failed");
    int n = 0;
    for (size_t i = 0; i < r->elements && n < max; i++)
        snprintf(out[n++], 64, "%s", r->element[i]->element[0]->str);
    freeReplyObject(r);
    return n;
}

static int is_ghost(char (*ghost)[64], const char *id)
{
    for (int x = 0; x < 20; x++)
        if (strcmp(id, ghost[x]) == 0)
            return 1;
    return 0;
}

/* Trimmed while pending: entries deleted (XDEL) after delivery and before
 * their ack. (a) Held by a dead host's consumer ("ghost", never acks): the
 * live workers reclaim them after jobs.lease; XAUTOCLAIM drops deleted ones
 * from the pending list and they must be dead-lettered "trimmed", not lost.
 * (b) Deleted while a worker holds them in its batch: run from memory and
 * acked (completed) or released at the stop and then dead-lettered. (c)
 * Deleted while released (supervisor stopped): replayed as nil, "trimmed". */
Test(faults_redis, trimmed_while_pending, .timeout = 150)
{
    int ms = 5;
    th_flushall();
    rc = th_redis();
    fx_run r;
    /* prefetch off: workers hold up to 50 entries in a batch, the case (b) needs */
    fx_setup(&r, "st", &(fx_cfg){.queue = "st", .workers = 2, .read_count = 50, .prefetch = "0ms"});
    acct_ledger *a = ledger = acct_new("st", "st", r.record);
    static char ghost[20][64], held[200][64], live[10][64], rest[200][64];
    th_int(rc, "XGROUP CREATE sluice:{st} st 0 MKSTREAM");
    fx_xadd(rc, "st", "test.acct", N, p_sleep, &ms, a, NULL);
    redisReply *g = redisCommand(rc, "XREADGROUP GROUP st ghost-st-0 COUNT 20 STREAMS sluice:{st} >");
    cr_assert(g && g->type == REDIS_REPLY_ARRAY && g->element[0]->element[1]->elements == 20);
    for (int i = 0; i < 20; i++)
        snprintf(ghost[i], 64, "%s", g->element[0]->element[1]->element[i]->element[0]->str);
    freeReplyObject(g);
    for (int i = 0; i < 20; i += 2)
        cr_assert_eq(th_int(rc, "XDEL sluice:{st} %s", ghost[i]), 1);
    th_sup_start(&r.sup);
    fx_wait_records(&r, 100, 60000);

    /* Live: delete up to 10 delivered, not yet completed entries. */
    int nl = pending_ids("sluice:{st}", "st", held, 200), dl = 0;
    acct_counts k;
    acct_check(a, rc, &k);
    for (int i = nl - 1; i >= 0 && dl < 10; i--) { /* the newest: likely prefetched, not running */
        const acct_job *j = acct_job_get(a, held[i]);
        if (j->completions || is_ghost(ghost, held[i]))
            continue;
        if (th_int(rc, "XDEL sluice:{st} %s", held[i]) == 1)
            snprintf(live[dl++], 64, "%s", held[i]);
    }
    cr_assert_gt(dl, 0, "no pending entry to delete");

    fx_wait_records(&r, 300, 60000);
    th_sup_term(&r.sup, 20000);
    /* Stopped: whatever is still pending was released; delete half of it. */
    int nr = pending_ids("sluice:{st}", "st", rest, 200), dr = 0;
    for (int i = 0; i < nr; i += 2)
        if (!is_ghost(ghost, rest[i]) && th_int(rc, "XDEL sluice:{st} %s", rest[i]) == 1)
            dr++;
    cr_assert_gt(dr, 0, "nothing was pending after the stop (%d entries)", nr);

    th_sup_start(&r.sup);
    fx_settle(a, rc, &r, "trimmed (XDEL while pending)", FX_SETTLE_MS, &k);
    int live_done = 0, live_trimmed = 0, ghost_trimmed = 0;
    for (int i = 0; i < dl; i++) {
        const acct_job *j = acct_job_get(a, live[i]);
        live_done += j->completions > 0;
        live_trimmed += j->dead && strcmp(j->reason, "trimmed") == 0;
    }
    for (int i = 0; i < 20; i++) {
        const acct_job *j = acct_job_get(a, ghost[i]);
        if (i % 2 == 0)
            ghost_trimmed += j->dead && strcmp(j->reason, "trimmed") == 0;
        else
            cr_assert_eq(j->completions, 1, "ghost's intact entry %s not reclaimed and run", ghost[i]);
    }
    fprintf(stderr,
            "scenario trimmed: %d deleted from a dead consumer -> %d trimmed; %d deleted while held by a "
            "worker -> %d completed, %d trimmed; %d deleted while released -> DLQ trimmed\n",
            10, ghost_trimmed, dl, live_done, live_trimmed, dr);
    cr_assert_eq(ghost_trimmed, 10);
    cr_assert_eq(live_done + live_trimmed, dl);
    cr_assert_eq(k.by_reason[ACCT_trimmed], 10 + dr + live_trimmed);
    cr_assert_eq(k.dead, 10 + dr + live_trimmed);
    cr_assert_eq(k.completed, N - 10 - dr - live_trimmed);
    cr_assert_eq(k.duplicates, 0);
    th_sup_term(&r.sup, 20000);
}

/* Wait until stream id `id` is pending in group g of sluice:{q} (asserts). */
static void wait_pending(const char *q, const char *id)
{
    for (int waited = 0; waited < 10000; waited += 5) {
        redisReply *x = redisCommand(rc, "XPENDING sluice:{%s} %s %s %s 1", q, q, id, id);
        int n = x && x->type == REDIS_REPLY_ARRAY ? (int)x->elements : 0;
        if (x)
            freeReplyObject(x);
        if (n)
            return;
        th_sleep_ms(5);
    }
    cr_assert_fail("entry %s never became pending", id);
}

/* Deleted while running: an entry XDELed while its live owner runs it (1.5 s,
 * longer than the reclaim period lease/2 of the two other workers). The
 * owner's lease is fresh: the job must end completed or dead-lettered
 * "trimmed", never both (it must not be reclaimed away from its owner). */
Test(faults_redis, deleted_while_running, .timeout = 150)
{
    int ms = 2;
    th_flushall();
    rc = th_redis();
    fx_run r;
    fx_setup(&r, "sd", &(fx_cfg){.queue = "sd", .workers = 3, .read_count = 1});
    acct_ledger *a = ledger = acct_new("sd", "sd", r.record);
    th_sup_start(&r.sup);
    fx_wait_consumers(rc, &r, "sd", 3);
    char longid[3][64];
    acct_counts k;
    for (int round = 0; round < 3; round++) {
        redisReply *x = redisCommand(rc, "XADD sluice:{sd} * type test.acct payload {\"sleep_ms\":1500}");
        cr_assert(x && x->type == REDIS_REPLY_STRING);
        snprintf(longid[round], 64, "%s", x->str);
        freeReplyObject(x);
        acct_add(a, longid[round]);
        wait_pending("sd", longid[round]);
        cr_assert_eq(th_int(rc, "XDEL sluice:{sd} %s", longid[round]), 1);
        fx_xadd(rc, "sd", "test.acct", N / 3 + 1, p_sleep, &ms, a, NULL);
        cr_assert(acct_wait_settled(a, rc, 30000, &k), "round %d did not settle (see %s)", round, r.sup.log);
        /* Pending no more may mean reclaimed away while still running: give
         * the handler time to finish, so a late completion is counted. */
        for (int waited = 0; waited < 3000 && !acct_job_get(a, longid[round])->completions; waited += 100) {
            th_sleep_ms(100);
            acct_check(a, rc, &k);
        }
    }
    fx_settle(a, rc, &r, "deleted while running", FX_SETTLE_MS, &k);
    int done = 0, trimmed = 0;
    for (int i = 0; i < 3; i++) {
        const acct_job *j = acct_job_get(a, longid[i]);
        cr_expect(j->completions + j->dead == 1,
                  "job %s deleted while running: %d completions and %d dead letters (%s)", longid[i], j->completions,
                  j->dead, j->dead ? j->reason : "-");
        done += j->completions > 0;
        trimmed += j->dead > 0;
    }
    fprintf(stderr, "scenario deleted-while-running: 3 running jobs deleted -> %d completed, %d dead-lettered\n", done,
            trimmed);
    cr_assert_eq(k.completed, k.enqueued - trimmed);
    cr_assert_eq(k.duplicates, 0);
    th_sup_term(&r.sup, 20000);
}


/* Lines of the runs file (faulty plugin, "runs":true) for job id, and the
 * largest deliveries among them. */
static int runs_of(const char *path, const char *id, unsigned *deliveries_max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    char line[512], jid[128];
    unsigned attempt, deliveries;
    long pid;
    *deliveries_max = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%127s %u %ld %u", jid, &attempt, &pid, &deliveries) == 4 && strcmp(jid, id) == 0) {
            n++;
            if (deliveries > *deliveries_max)
                *deliveries_max = deliveries;
        }
    if (f)
        fclose(f);
    return n;
}

/* Enqueue one job of the faulty plugin, wait until it runs, make Redis refuse
 * writes for want of memory (maxmemory 1, noeviction) while its handler still
 * runs, keep it so for 4 s (long enough for several replays), then lift it. */
static void oom_while_running(fx_run *r, acct_ledger *a, const char *q, const char *payload, char *id, size_t idn)
{
    char runs[600];
    snprintf(runs, sizeof(runs), "%s.runs", r->record);
    redisReply *x = redisCommand(rc, "XADD sluice:{%s} * type test.acct payload %s", q, payload);
    cr_assert(x && x->type == REDIS_REPLY_STRING);
    snprintf(id, idn, "%s", x->str);
    acct_add(a, x->str);
    freeReplyObject(x);
    unsigned dmax;
    for (int i = 0; i < 500 && runs_of(runs, id, &dmax) == 0; i++)
        th_sleep_ms(20);
    cr_assert_eq(runs_of(runs, id, &dmax), 1, "job %s never started (see %s)", id, r->sup.log);
    th_cmd(rc, "CONFIG SET maxmemory 1");
    th_sleep_ms(4000);
    th_cmd(rc, "CONFIG SET maxmemory 0");
}

/* 7. A RETRY and a FAIL whose settle Redis refuses with -OOM: the worker keeps
 * the result and resends it; the job never runs again for it, is not
 * dead-lettered "crashed", and ends as its result said. */
Test(faults_redis, oom_settle_held, .timeout = 150)
{
    th_server_start(&red);
    rc = th_server_connect(&red);
    fx_run r;
    fx_setup(&r, "r7", &(fx_cfg){.queue = "r7", .workers = 1, .redis_url = red.url, .jobs = "\"max_attempts\":3"});
    char runs[600];
    snprintf(runs, sizeof(runs), "%s.runs", r.record);
    remove(runs);
    acct_ledger *a = ledger = acct_new("r7", "r7", r.record);
    th_sup_start(&r.sup);
    fx_wait_consumers(rc, &r, "r7", 1);
    char retry_id[64], fail_id[64];
    unsigned dmax;
    /* RETRY on attempt 1: one retry, then attempt 2 succeeds. */
    oom_while_running(&r, a, "r7", "{\"sleep_ms\":600,\"retry_until\":2,\"runs\":true}", retry_id, sizeof(retry_id));
    acct_counts k;
    fx_settle(a, rc, &r, "7a (RETRY refused with OOM)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.dead, 0, "the retried job was dead-lettered (%s)", k.by_reason[ACCT_crashed] ? "crashed" : "other");
    cr_assert_eq(k.completed, 1);
    const acct_job *j = acct_job_get(a, retry_id);
    cr_assert(j && j->completions == 1 && j->attempt == 2, "job completed %d times, last attempt %u",
              j ? j->completions : 0, j ? j->attempt : 0);
    cr_assert_eq(runs_of(runs, retry_id, &dmax), 2, "the job ran %d times (attempt 1 once, attempt 2 once)",
                 runs_of(runs, retry_id, &dmax));
    cr_assert_eq(dmax, 1, "a run was a redelivery (deliveries %u): the known result was replayed", dmax);
    /* FAIL: dead-lettered "failed", after one run. */
    oom_while_running(&r, a, "r7", "{\"sleep_ms\":600,\"fail\":true,\"runs\":true}", fail_id, sizeof(fail_id));
    fx_settle(a, rc, &r, "7b (FAIL refused with OOM)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.dead, 1);
    cr_assert_eq(k.by_reason[ACCT_failed], 1, "dead-lettered, but not as failed (crashed: %ld)",
                 k.by_reason[ACCT_crashed]);
    cr_assert_eq(runs_of(runs, fail_id, &dmax), 1, "the failed job ran %d times", runs_of(runs, fail_id, &dmax));
    cr_assert_geq(th_sup_log_count(&r.sup, "OOM", NULL), 2,
                  "Redis never refused a settle: the scenario tested nothing");
    th_sup_term(&r.sup, 15000);
}

static int log_has_reconnected(void *path)
{
    return th_count_lines_with(path, "redis reconnected", NULL) > 0;
}

/* 8. Redis down for 6 s: the worker says so once, not once per attempt, and
 * once more when it is back (with the attempts and the time it took). */
Test(faults_redis, reconnect_logs_first_attempt_and_summary, .timeout = 90)
{
    th_server_start(&red);
    rc = th_server_connect(&red);
    fx_run r;
    fx_setup(&r, "r8", &(fx_cfg){.queue = "r8", .redis_url = red.url});
    pid_t w = th_worker_start(r.sup.cfg, "r8", "r8-w", "r8-worker.log");
    char *log = th_tmp_path("r8-worker.log");
    fx_wait_consumers(rc, &r, "r8", 1);
    redisFree(rc);
    rc = NULL;
    th_server_kill(&red);
    th_sleep_ms(6000);
    th_server_start(&red);
    cr_assert(th_wait_until(log_has_reconnected, log, 20000), "the worker never reconnected (see %s)", log);
    long failed = th_count_lines_with(log, "redis connect failed", NULL),
         still = th_count_lines_with(log, "redis still unreachable", NULL);
    fprintf(stderr, "scenario 8: %ld connect-failed lines, %ld still-unreachable lines\n", failed, still);
    cr_assert_eq(failed, 1, "%ld lines for one outage of 6 s (see %s)", failed, log);
    cr_assert_eq(still, 0, "a periodic line within 6 s (see %s)", log);
    cr_assert_eq(th_count_lines_with(log, "redis reconnected", NULL), 1);
    cr_assert_eq(th_count_lines_with(log, "after_ms", NULL), 1, "the summary does not say how long it took (see %s)",
                 log);
    th_worker_stop(w, 15000);
    free(log);
}
