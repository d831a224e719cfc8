/* `sluice jobs cancel QUEUE ID` under `sluice run`, in each state, with the
 * accounting checker: a scheduled job (delayed, and a retry waiting for its
 * backoff) is removed; a queued one (in the stream, and one read in a batch
 * while an earlier job of it runs) never starts; a running one that loops
 * until should_stop stops and is not retried; one that ignores it is killed
 * after jobs.cancel_grace; a completed, a dead-lettered and an unknown job
 * are refused with exit 1. run-now alongside. Then two supervisors cancelling
 * while they drain, and unique jobs (--unique): a duplicate while the first
 * waits or runs, the key free again at once after it completes, is
 * dead-lettered or cancelled. No timing is asserted: every wait polls. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/acct.h"
#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_sup sup, sup2;
static char *start_file, *rec_file, *gate_file;

static void setup(void)
{
    th_flushall();
    start_file = th_tmp_path("cancel-start.txt");
    rec_file = th_tmp_path("cancel-rec.txt");
    gate_file = th_tmp_path("cancel-gate");
    unlink(start_file), unlink(rec_file), unlink(gate_file);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    th_sup_kill(&sup2);
    free(start_file), free(rec_file), free(gate_file);
}

TestSuite(cancel, .init = setup, .fini = teardown, .timeout = 240);

/* A supervisor s named name with `workers` workers of pool p on queue (of
 * `partitions`), group g, the cancel, retry and record test plugins. */
static void start(th_sup *s, const char *name, const char *queue, int partitions, int workers)
{
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\",\"http_listen\":null},"
                       "\"jobs\":{\"cancel_grace\":\"1s\"},\"queues\":{\"%s\":{\"partitions\":%d}},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"group\":\"g\",\"workers\":%d,"
                       "\"plugins\":[\"cancel\",\"retry\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\","
                       "\"start_file\":\"%s\",\"gate_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queue, partitions, queue, workers, rec_file, start_file,
                       gate_file) > 0);
    char path[64];
    snprintf(path, sizeof path, "%s.json", name);
    char *cfg = th_write_file(path, json);
    free(json);
    snprintf(path, sizeof path, "%s.log", name);
    th_sup_init(s, name, cfg, path);
    th_sup_start(s);
    th_sup_wait_workers(s, workers, 30000);
    free(cfg);
}

/* Enqueue one job (extra: "--delay" for an hour); its printed id into out. */
static void enqueue(const char *queue, const char *id, const char *type, const char *extra, char *out, size_t n)
{
    /* one partition key: a partitioned queue's jobs of a scenario share a partition, so their order holds */
    th_run_result r =
        extra ? TH_RUN("enqueue", "-u", th_redis_url(), "--id", id, "--partition-key", "k", extra, "1h", queue, type,
                       "{}")
              : TH_RUN("enqueue", "-u", th_redis_url(), "--id", id, "--partition-key", "k", queue, type, "{}");
    cr_assert_eq(r.code, 0, "enqueue %s: %s", id, r.err);
    if (out)
        snprintf(out, n, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    th_run_free(&r);
}

/* sluice jobs cancel --json: its "state" (must be cancelled) into state. */
static void cancel_ok(const char *queue, const char *id, char *state, size_t n)
{
    th_run_result r = TH_RUN("jobs", "cancel", "--json", "-u", th_redis_url(), queue, id);
    cr_assert_eq(r.code, 0, "cancel %s: %s %s", id, r.out, r.err);
    cr_assert(strstr(r.out, "\"result\":\t\"cancelled\""), "cancel %s: %s", id, r.out);
    const char *s = strstr(r.out, "\"state\":\t\"");
    cr_assert(s, "%s", r.out);
    s += strlen("\"state\":\t\"");
    snprintf(state, n, "%.*s", (int)strcspn(s, "\""), s);
    th_run_free(&r);
    fprintf(stderr, "cancel %s: was %s\n", id, state);
}

typedef struct started {
    const char *id, *what;
} started;

static int has_started(void *arg)
{
    const started *s = arg;
    char needle[160];
    snprintf(needle, sizeof needle, "%s %s", s->id, s->what);
    return th_count_lines_with(start_file, needle, NULL) > 0;
}

static void wait_note(const char *id, const char *what)
{
    started s = {id, what};
    cr_assert(th_wait_until(has_started, &s, 30000), "%s %s (see %s)", id, what, sup.log);
}

static long starts(const char *id)
{
    char needle[160];
    snprintf(needle, sizeof needle, "%s start", id);
    return th_count_lines_with(start_file, needle, NULL);
}

static int retry_scheduled(void *arg)
{
    th_run_result r = TH_RUN("jobs", "show", "-u", th_redis_url(), arg, "r1");
    int yes = r.code == 0 && strstr(r.out, "scheduled until") && strstr(r.out, "(attempt 2) for group g");
    th_run_free(&r);
    return yes;
}

static void refused(const char *queue, const char *id, const char *says, const char *result)
{
    th_run_result r = TH_RUN("jobs", "cancel", "-u", th_redis_url(), queue, id);
    cr_assert_eq(r.code, 1, "cancel %s: %s", id, r.out);
    cr_assert(strstr(r.err, says), "cancel %s: %s", id, r.err);
    th_run_free(&r);
    r = TH_RUN("jobs", "cancel", "--json", "-u", th_redis_url(), queue, id);
    cr_assert_eq(r.code, 1);
    char want[64];
    snprintf(want, sizeof want, "\"result\":\t\"%s\"", result);
    cr_assert(strstr(r.out, want), "%s", r.out);
    th_run_free(&r);
}

static void each_state(const char *queue, int partitions)
{
    const char *url = th_redis_url();
    char state[32];
    acct_ledger *a = acct_new(queue, "g", rec_file);
    acct_set_partitions(a, partitions);
    start(&sup, "cancel", queue, partitions, 1);

    /* scheduled: a delayed job, and a retry waiting an hour for its backoff */
    const char *ids[] = {"s1", "rn1", "g1", "d1", "d2", "d3", "q1", "q2", "L1", "I1", "x1", "r1"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        acct_add(a, ids[i]);
    enqueue(queue, "s1", "test.cancel.quick", "--delay", NULL, 0);
    enqueue(queue, "rn1", "test.cancel.quick", "--delay", NULL, 0);
    th_run_result r = TH_RUN("enqueue", "-q", "-u", url, "--id", "r1", "--partition-key", "k", queue, "test.retry",
                             "{\"succeed_on\":2,\"retry_after\":3600000}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    cr_assert(th_wait_until(retry_scheduled, (void *)queue, 20000), "r1 waits for attempt 2 (see %s)", sup.log);
    cancel_ok(queue, "s1", state, sizeof state);
    cr_assert_str_eq(state, "scheduled");
    cancel_ok(queue, "r1", state, sizeof state);
    cr_assert_str_eq(state, "scheduled");
    r = TH_RUN("jobs", "run-now", "-u", url, queue, "rn1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    wait_note("rn1", "start");

    /* queued: g1 (waits for the gate) read in one batch with d1..d3 (the group
     * paused while they are added); d2 cancelled while g1 runs; q1, q2 added
     * then, q2 cancelled before any worker read it */
    r = TH_RUN("pause", "-u", url, queue, "--group", "g");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    th_sleep_ms(500); /* a read in flight when the pause came ends (block 200ms) */
    enqueue(queue, "g1", "test.cancel.gate", NULL, NULL, 0);
    enqueue(queue, "d1", "test.cancel.quick", NULL, NULL, 0);
    enqueue(queue, "d2", "test.cancel.quick", NULL, NULL, 0);
    enqueue(queue, "d3", "test.cancel.quick", NULL, NULL, 0);
    r = TH_RUN("resume", "-u", url, queue, "--group", "g");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    wait_note("g1", "start");
    cancel_ok(queue, "d2", state, sizeof state);
    cr_assert(!strcmp(state, "queued") || !strcmp(state, "delivered"), "%s", state);
    enqueue(queue, "q1", "test.cancel.quick", NULL, NULL, 0);
    enqueue(queue, "q2", "test.cancel.quick", NULL, NULL, 0);
    cancel_ok(queue, "q2", state, sizeof state);
    cr_assert(!strcmp(state, "queued") || !strcmp(state, "delivered"), "%s", state);
    cr_assert(th_write_file("cancel-gate", "go") != NULL);
    wait_note("q1", "start");

    /* running: one stops at should_stop, one ignores it and is killed */
    enqueue(queue, "L1", "test.cancel.loop", NULL, NULL, 0);
    wait_note("L1", "start");
    cancel_ok(queue, "L1", state, sizeof state);
    cr_assert(!strcmp(state, "running") || !strcmp(state, "delivered"), "%s", state);
    wait_note("L1", "stopped");
    enqueue(queue, "I1", "test.cancel.ignore", NULL, NULL, 0);
    wait_note("I1", "start");
    cancel_ok(queue, "I1", state, sizeof state);
    cr_assert(th_sup_wait_log(&sup, "cancelled job did not stop within jobs.cancel_grace", 30000), "see %s", sup.log);

    /* finished and unknown jobs are refused */
    enqueue(queue, "x1", "no.such.type", NULL, NULL, 0);
    acct_counts k;
    redisContext *c = th_redis();
    cr_assert(acct_wait_settled(a, c, 60000, &k), "settled");
    acct_print(queue, &k);
    refused(queue, "g1", "is completed: not cancelled", "completed");
    refused(queue, "x1", "is dead-lettered: not cancelled", "dead");
    refused(queue, "nosuch", "not found in queue", "not_found");
    r = TH_RUN("jobs", "cancel", "-u", url, queue, "s1");
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "already cancelled"), "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("jobs", "show", "-u", url, queue, "L1");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "cancelled at ") && strstr(r.out, "stopped"), "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("jobs", "show", "-u", url, queue, "I1");
    cr_assert(strstr(r.out, "cancelled at ") && strstr(r.out, "killed"), "%s", r.out);
    th_run_free(&r);

    /* the accounting: nothing lost, the exact outcomes, no cancelled job ran
     * after its cancel was acknowledged but the two running ones */
    th_sleep_ms(500);
    cr_assert(acct_wait_settled(a, c, 60000, &k));
    cr_assert_eq(k.lost, 0);
    cr_assert_eq(k.both, 0);
    cr_assert_eq(k.duplicates, 0);
    cr_assert_eq(k.completed, 5, "g1 d1 d3 q1 rn1");
    cr_assert_eq(k.cancelled, 6, "s1 r1 d2 q2 L1 I1");
    cr_assert_eq(k.cancelled_ran, 0);
    cr_assert_eq(k.dead, 1, "x1");
    const char *never[] = {"s1", "d2", "q2"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(starts(never[i]), 0, "%s never started", never[i]);
    cr_assert_eq(starts("L1"), 1, "L1 started once, not retried");
    cr_assert_eq(starts("I1"), 1, "I1 started once, not retried");
    cr_assert_eq(th_count_lines_with(rec_file, "r1 ", NULL), 0, "r1 never ran again");
    long long cancels =
        th_int(c, partitions > 1 ? "EXISTS sluice:{%s#0}:cancels" : "EXISTS sluice:{%s}:cancels", queue);
    cr_assert_eq(cancels, 0, "the cancel set emptied");
    th_sup_stop(&sup, 20000);
    redisFree(c);
    acct_free(a);
}

Test(cancel, in_each_state_with_the_accounting_checker)
{
    each_state("cq", 1);
}

Test(cancel, in_a_partitioned_queue)
{
    each_state("cpq", 3);
}

/* Two supervisors of two workers drain 300 jobs while 100 are cancelled (50
 * before the group reads, 50 while it drains): every job ends completed or
 * cancelled, once; one cancelled as scheduled or queued never starts. */
Test(cancel, two_supervisors_cancel_while_draining)
{
    const char *url = th_redis_url(), *queue = "cmq";
    acct_ledger *a = acct_new(queue, "g", rec_file);
    start(&sup, "cancel-a", queue, 1, 2);
    start(&sup2, "cancel-b", queue, 1, 2);
    th_run_result r = TH_RUN("pause", "-u", url, queue, "--group", "g");
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    th_sleep_ms(500);
    char text[300 * 8] = "";
    size_t len = 0;
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "{}\n");
    r = th_run_io((const char *const[]){"enqueue", "-u", url, queue, "test.cancel.quick", "-", NULL}, text, NULL);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char *ids[300];
    int n = 0;
    for (char *line = strtok(r.out, "\n"); line && n < 300; line = strtok(NULL, "\n"))
        ids[n++] = strdup(line);
    th_run_free(&r);
    cr_assert_eq(n, 300);
    char state[32], strict[300] = {0};
    for (int i = 0; i < n; i++)
        acct_add(a, ids[i]);
    for (int i = 0; i < n; i += 6) {
        cancel_ok(queue, ids[i], state, sizeof state);
        cr_assert_str_eq(state, "queued", "not read yet");
        strict[i] = 1;
    }
    r = TH_RUN("resume", "-u", url, queue, "--group", "g");
    th_run_free(&r);
    for (int i = 3; i < n; i += 6) {
        th_run_result x = TH_RUN("jobs", "cancel", "--json", "-u", url, queue, ids[i]);
        if (x.code == 0 && strstr(x.out, "\"state\":\t\"queued\""))
            strict[i] = 1;
        th_run_free(&x);
    }
    acct_counts k;
    redisContext *c = th_redis();
    cr_assert(acct_wait_settled(a, c, 60000, &k), "settled");
    redisFree(c);
    acct_print(queue, &k);
    cr_assert_eq(k.lost, 0);
    cr_assert_eq(k.both, 0);
    cr_assert_eq(k.duplicates, 0);
    long never = 0;
    for (int i = 0; i < n; i++) {
        long s = starts(ids[i]);
        cr_assert(s <= 1, "%s started %ld times", ids[i], s);
        if (strict[i])
            cr_assert_eq(s, 0, "%s was cancelled as queued: it never starts", ids[i]);
        never += s == 0;
    }
    /* each job completed, or was cancelled and never ran: exactly */
    cr_assert_eq(k.completed + never, 300, "completed %ld, never started %ld", k.completed, never);
    cr_assert_eq(k.cancelled - k.cancelled_ran, never);
    cr_assert_geq(k.cancelled, 50);
    for (int i = 0; i < n; i++)
        free(ids[i]);
    th_sup_stop(&sup, 20000);
    th_sup_stop(&sup2, 20000);
    acct_free(a);
}

/* enqueue --key K --unique; 1 when it reported a duplicate of first (if not NULL). */
static int enqueue_unique(const char *queue, const char *key, const char *type, const char *delay, char *id, size_t n)
{
    th_run_result r = delay ? TH_RUN("enqueue", "-u", th_redis_url(), "--idempotency-key", key, "--unique", "--key-ttl",
                                     "1h", "--delay", delay, queue, type, "{}")
                            : TH_RUN("enqueue", "-u", th_redis_url(), "--idempotency-key", key, "--unique", "--key-ttl",
                                     "1h", queue, type, "{}");
    cr_assert_eq(r.code, 0, "%s", r.err);
    int dup = strstr(r.err, "duplicate: key") != NULL;
    snprintf(id, n, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    th_run_free(&r);
    return dup;
}

static int dead_letters(void *arg)
{
    redisContext *c = th_redis();
    int yes = th_int(c, "XLEN sluice:{%s}:dlq:g", (const char *)arg) >= 1;
    redisFree(c);
    return yes;
}

Test(cancel, unique_until_done)
{
    const char *url = th_redis_url(), *queue = "uq";
    char id[160], id2[160];
    start(&sup, "unique", queue, 1, 1);

    /* a duplicate while the first waits behind the pause, and while it runs */
    th_run_result r = TH_RUN("pause", "-u", url, queue, "--group", "g");
    th_run_free(&r);
    th_sleep_ms(500);
    cr_assert_eq(enqueue_unique(queue, "K1", "test.cancel.gate", NULL, id, sizeof id), 0);
    cr_assert_eq(enqueue_unique(queue, "K1", "test.cancel.gate", NULL, id2, sizeof id2), 1, "queued: duplicate");
    cr_assert_str_eq(id2, id);
    r = TH_RUN("resume", "-u", url, queue, "--group", "g");
    th_run_free(&r);
    wait_note(id, "start");
    cr_assert_eq(enqueue_unique(queue, "K1", "test.cancel.gate", NULL, id2, sizeof id2), 1, "running: duplicate");
    cr_assert_str_eq(id2, id);
    /* completed: the key enqueues again at once (its TTL is an hour) */
    cr_assert(th_write_file("cancel-gate", "go") != NULL);
    th_lines one = {rec_file, 1};
    cr_assert(th_wait_until(th_has_lines, &one, 20000), "the first completed (see %s)", sup.log);
    th_sleep_ms(200); /* its ack: sluice_complete runs right after the handler */
    cr_assert_eq(enqueue_unique(queue, "K1", "test.cancel.quick", NULL, id2, sizeof id2), 0, "released at completion");
    cr_assert_str_neq(id2, id);
    one.n = 2;
    cr_assert(th_wait_until(th_has_lines, &one, 20000));

    /* dead-lettered: released too */
    cr_assert_eq(enqueue_unique(queue, "K2", "no.such.type", NULL, id, sizeof id), 0);
    cr_assert(th_wait_until(dead_letters, (void *)queue, 20000), "dead-lettered (see %s)", sup.log);
    cr_assert_eq(enqueue_unique(queue, "K2", "test.cancel.quick", NULL, id2, sizeof id2), 0, "released at the DLQ");

    /* cancelled: released too */
    cr_assert_eq(enqueue_unique(queue, "K3", "test.cancel.quick", "1h", id, sizeof id), 0);
    cr_assert_eq(enqueue_unique(queue, "K3", "test.cancel.quick", "1h", id2, sizeof id2), 1);
    r = TH_RUN("jobs", "cancel", "-u", url, queue, id);
    cr_assert_eq(r.code, 0, "%s", r.err);
    th_run_free(&r);
    cr_assert_eq(enqueue_unique(queue, "K3", "test.cancel.quick", "1h", id2, sizeof id2), 0, "released at the cancel");

    /* --unique needs a key */
    r = TH_RUN("enqueue", "-u", url, "--unique", queue, "test.cancel.quick", "{}");
    cr_assert_eq(r.code, 2);
    th_run_free(&r);
    th_sup_stop(&sup, 20000);
}
