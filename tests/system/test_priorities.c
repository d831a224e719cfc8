/* Priorities (pools[].queues, docs/limits.md): a real supervisor and workers,
 * the prio test plugin (start order in starts.txt, completions per queue) and
 * a real redis-server. A strict job overtakes a 10,000-job backlog within one
 * read; a 3:1 weighted pair is read 3:1; idle workers block on every queue. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/client.h"
#include "tests/support/acct.h"
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

TestSuite(priorities, .init = setup, .fini = teardown, .timeout = 240);

/* ---- helpers ------------------------------------------------------------ */

/* <name>.json: one pool "p" (group p) of `workers` workers of the prio plugin
 * on the queue list `queues` (pools[].queues JSON), COUNT read_count and no
 * prefetch estimate (every read asks for read_count); th_sup_init sup on it. */
static void write_cfg(const char *name, const char *queues, int workers, int read_count)
{
    char *text = NULL, file[64];
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":null},"
                       "\"pools\":[{\"name\":\"p\",\"queues\":%s,\"plugins\":[\"prio\"],\"workers\":%d,"
                       "\"read_count\":%d,\"prefetch\":0,\"settings\":{\"record_dir\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, queues, workers, read_count, th_tmpdir()) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *path = th_write_file(file, text);
    th_sup_init(&sup, name, path, NULL);
    free(path);
    free(text);
}

static sluice_client *client(void)
{
    char err[256];
    sluice_client_opts o = {.size = sizeof o, .skip_schema = 1};
    sluice_client *c = sluice_client_new(th_redis_url(), &o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

/* Enqueue n test.prio jobs with payload on queue, in batches, into ledger a. */
static void enqueue(sluice_client *c, acct_ledger *a, const char *queue, int n, const char *payload)
{
    enum { BATCH = 500 };
    static sluice_job_spec jobs[BATCH];
    static char ids[BATCH][SLUICE_ID_MAX];
    for (int done = 0; done < n;) {
        int k = n - done < BATCH ? n - done : BATCH;
        for (int i = 0; i < k; i++)
            jobs[i] = (sluice_job_spec){.type = "test.prio", .payload = payload};
        cr_assert_eq(sluice_enqueue_batch(c, queue, jobs, (size_t)k, ids), k, "%s", sluice_client_error(c));
        for (int i = 0; i < k; i++)
            acct_add(a, ids[i]);
        done += k;
    }
}

/* The ledger of queue (group p, completions in <tmpdir>/<queue>.txt). */
static acct_ledger *ledger(const char *queue)
{
    char name[80];
    snprintf(name, sizeof name, "%s.txt", queue);
    char *rec = th_tmp_path(name);
    acct_ledger *a = acct_new(queue, "p", rec);
    free(rec);
    return a;
}

/* Every job of a ran exactly once: n completed, none lost or dead-lettered. */
static void drained(acct_ledger *a, const char *queue, long n)
{
    acct_counts k;
    int settled = acct_wait_settled(a, rc, 120000, &k);
    acct_print(queue, &k);
    if (!settled || k.lost || k.dead)
        acct_print_bad(a, 10);
    cr_assert(settled, "%s: jobs still unsettled", queue);
    cr_assert_eq(k.enqueued, n);
    cr_assert_eq(k.completed, n, "%s: %ld of %ld completed", queue, k.completed, n);
    cr_assert_eq(k.lost, 0);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.both, 0);
    cr_assert_eq(k.unknown, 0);
    cr_assert_eq(k.duplicates, 0);
}

/* The queue of every line of starts.txt ("<queue> <id> <pid>"), in order:
 * *out[i] is the queue of the i-th start (caller frees both). Returns the count. */
static long read_starts(char ***out)
{
    char *path = th_tmp_path("starts.txt"), *text = th_read_file(path);
    cr_assert_not_null(text, "no %s", path);
    long n = 0, cap = 1024;
    char **q = malloc((size_t)cap * sizeof *q);
    cr_assert(q);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n == cap)
            cr_assert(q = realloc(q, (size_t)(cap *= 2) * sizeof *q));
        char *sp = strchr(line, ' ');
        cr_assert(sp, "bad start line '%s'", line);
        *sp = '\0';
        q[n++] = line; /* points into text, freed with q[0]'s block: see free_starts */
    }
    free(path);
    *out = q;
    if (n == 0)
        free(text);
    return n;
}

static void free_starts(char **q, long n)
{
    if (n > 0)
        free(q[0]); /* the start of the file's text */
    free(q);
}

/* ---- strict ------------------------------------------------------------- */

/* One worker reading critical (strict) and low (weight 1), COUNT 10: under a
 * backlog of 10,000 low jobs a critical job enqueued mid-drain starts before
 * the worker started more than one read's worth (10) of further low jobs. */
Test(priorities, a_strict_job_starts_within_one_read_of_a_10000_job_backlog)
{
    enum { LOW = 10000, READ = 10 };
    acct_ledger *low = ledger("low"), *crit = ledger("critical");
    write_cfg("strict", "[{\"name\":\"critical\",\"weight\":0},{\"name\":\"low\",\"weight\":1}]", 1, READ);
    sluice_client *c = client();
    enqueue(c, low, "low", LOW, "{\"sleep_us\":300}");
    th_sup_start(&sup);
    cr_assert(th_sup_wait_log(&sup, "supervisor started", 20000), "supervisor did not start");
    char *starts = th_tmp_path("starts.txt");
    th_lines mid = {starts, 2000};
    cr_assert(th_wait_until(th_has_lines, &mid, 120000), "the low backlog is not being drained");
    long before = th_count_lines(starts); /* starts so far: each later line started after the enqueue */
    enqueue(c, crit, "critical", 1, "{}");
    drained(crit, "critical", 1);
    drained(low, "low", LOW);
    th_sup_stop(&sup, 30000);

    char **q;
    long n = read_starts(&q), at = -1, low_after = 0;
    cr_assert_eq(n, LOW + 1, "%ld starts", n);
    for (long i = 0; i < n; i++)
        if (strcmp(q[i], "critical") == 0)
            at = i;
    cr_assert_geq(at, before, "critical started (line %ld) before it was enqueued (%ld lines)?", at, before);
    for (long i = at + 1; i < n; i++)
        low_after += strcmp(q[i], "low") == 0;
    fprintf(stderr,
            "strict: critical enqueued after %ld starts, started as start %ld: %ld low jobs between, "
            "%ld after\n",
            before, at, at - before, low_after);
    cr_assert_leq(at - before, READ, "%ld low jobs started between the critical job's enqueue and its start",
                  at - before);
    cr_assert_gt(low_after, 0, "the backlog was still there when critical ran");
    free_starts(q, n);
    free(starts);
    sluice_client_free(c);
    acct_free(low);
    acct_free(crit);
}

/* ---- weighted ----------------------------------------------------------- */

/* Two workers on heavy (weight 3) and light (weight 1), both pre-filled with
 * 4,000 jobs: of the first 4,000 starts, heavy's are 3x light's within 10%,
 * light is not starved, and all 8,000 complete once each. */
Test(priorities, weights_3_to_1_are_read_3_to_1)
{
    enum { EACH = 4000, COUNTED = 4000, READ = 4 };
    acct_ledger *heavy = ledger("heavy"), *light = ledger("light");
    write_cfg("weighted", "[{\"name\":\"heavy\",\"weight\":3},{\"name\":\"light\",\"weight\":1}]", 2, READ);
    sluice_client *c = client();
    enqueue(c, heavy, "heavy", EACH, "{\"sleep_us\":100}");
    enqueue(c, light, "light", EACH, "{\"sleep_us\":100}");
    th_sup_start(&sup);
    drained(heavy, "heavy", EACH);
    drained(light, "light", EACH);
    th_sup_stop(&sup, 30000);

    char **q;
    long n = read_starts(&q), h = 0, l = 0;
    cr_assert_eq(n, 2 * EACH);
    for (long i = 0; i < COUNTED; i++) {
        h += strcmp(q[i], "heavy") == 0;
        l += strcmp(q[i], "light") == 0;
    }
    fprintf(stderr, "weighted: of the first %d starts heavy %ld, light %ld (%.3f:1)\n", COUNTED, h, l,
            l ? (double)h / (double)l : 0.0);
    cr_assert_eq(h + l, COUNTED);
    cr_assert_gt(l, 0, "light starved");
    cr_assert(h * 10 >= l * 27 && h * 10 <= l * 33, "heavy:light %ld:%ld is not 3:1 within 10%%", h, l);
    free_starts(q, n);
    sluice_client_free(c);
    acct_free(heavy);
    acct_free(light);
}

/* ---- idle --------------------------------------------------------------- */

/* Three empty queues: the idle worker blocks (a handful of reads a second,
 * not a spin), and a job on any of them is picked up from that blocked state;
 * each queue has the pool's group and its own retry stream. */
Test(priorities, an_idle_worker_blocks_and_wakes_for_any_queue)
{
    const char *names[] = {"critical", "default", "low"};
    acct_ledger *a[3];
    write_cfg("idle",
              "[{\"name\":\"critical\",\"weight\":0},{\"name\":\"default\",\"weight\":3},"
              "{\"name\":\"low\",\"weight\":1}]",
              1, 16);
    for (int i = 0; i < 3; i++)
        a[i] = ledger(names[i]);
    th_sup_start(&sup);
    cr_assert(th_sup_wait_log(&sup, "supervisor started", 20000), "supervisor did not start");
    sluice_client *c = client();
    for (int i = 0; i < 3; i++) { /* one queue at a time, from idle */
        enqueue(c, a[i], names[i], 1, "{}");
        drained(a[i], names[i], 1);
    }
    for (int i = 0; i < 3; i++) { /* every queue has the pool's group, and its own retry stream */
        char key[64];
        snprintf(key, sizeof key, "sluice:{%s}", names[i]);
        cr_assert_eq(th_consumers(rc, key, "p"), 1, "%s has no consumer of p", key);
        snprintf(key, sizeof key, "sluice:{%s}:r:p", names[i]);
        cr_assert_eq(th_int(rc, "EXISTS %s", key), 1, "%s missing", key);
    }
    long long c0 = th_xreadgroup_calls(rc);
    th_sleep_ms(1000);
    long long reads = th_xreadgroup_calls(rc) - c0;
    fprintf(stderr, "idle: %lld XREADGROUP in about 1 s\n", reads);
    cr_assert_lt(reads, 50, "an idle worker spins: %lld reads", reads);
    /* and from that blocked state, a job on the last queue of the list */
    enqueue(c, a[2], "low", 1, "{}");
    drained(a[2], "low", 2);
    th_sup_stop(&sup, 30000);
    sluice_client_free(c);
    for (int i = 0; i < 3; i++)
        acct_free(a[i]);
}
