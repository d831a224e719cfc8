/* pools[].prefetch: how many entries a worker's ">" reads ask for. The real
 * sluice-worker (standalone), the record test plugin and a real redis-server;
 * the COUNT of every XREADGROUP the worker sends is read from MONITOR. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(prefetch, .init = setup, .timeout = 120);

/* ---- MONITOR: the COUNT of each new-entry read, in order ---------------- */

#define MAX_READS 4096

typedef struct reads {
    pthread_t th;
    redisContext *c;
    atomic_int stop;
    atomic_int n;
    int count[MAX_READS];
} reads;

/* A MONITOR line of our worker's ">" read: `... "XREADGROUP" "GROUP" "p" "cp"
 * "COUNT" "<n>" "BLOCK" ... ">" ">"`. Returns n, or -1 for any other line. */
static int read_count_of(const char *line)
{
    const char *x = strstr(line, "\"XREADGROUP\" \"GROUP\" \"p\" \"cp\" \"COUNT\" \"");
    if (!x || !strstr(line, "\">\" \">\""))
        return -1;
    return atoi(x + strlen("\"XREADGROUP\" \"GROUP\" \"p\" \"cp\" \"COUNT\" \""));
}

static void *monitor_main(void *arg)
{
    reads *r = arg;
    while (!atomic_load(&r->stop)) {
        redisReply *rep = NULL;
        if (redisGetReply(r->c, (void **)&rep) != REDIS_OK)
            break; /* read timeout: check stop */
        if (rep && rep->type == REDIS_REPLY_STATUS) {
            int k = read_count_of(rep->str), i = atomic_load(&r->n);
            if (k >= 0 && i < MAX_READS) {
                r->count[i] = k;
                atomic_store(&r->n, i + 1);
            }
        }
        if (rep)
            freeReplyObject(rep);
    }
    return NULL;
}

static reads *monitor_start(void)
{
    reads *r = calloc(1, sizeof(*r));
    cr_assert(r);
    r->c = th_redis();
    struct timeval tv = {1, 0}; /* a timeout ends the MONITOR: longer than any gap between commands */
    redisSetTimeout(r->c, tv);
    redisReply *ok = redisCommand(r->c, "MONITOR");
    cr_assert(ok && ok->type == REDIS_REPLY_STATUS, "MONITOR failed");
    freeReplyObject(ok);
    cr_assert_eq(pthread_create(&r->th, NULL, monitor_main, r), 0);
    return r;
}

static void monitor_stop(reads *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->th, NULL);
    redisFree(r->c);
}

/* One test's worker: its connection, record file and config, then the
 * MONITOR and the worker itself (go), stopped by finish. */
typedef struct run {
    redisContext *c;
    char *rec, *cfg, log[64];
    reads *r;
    pid_t pid;
} run;

static char *config(const char *file, const char *rec, const char *pool_extra);

static void setup_run(run *x, const char *name, const char *pool_extra)
{
    char file[64];
    memset(x, 0, sizeof(*x));
    x->c = th_redis();
    snprintf(file, sizeof file, "%s.txt", name);
    x->rec = th_tmp_path(file);
    snprintf(file, sizeof file, "%s.json", name);
    x->cfg = config(file, x->rec, pool_extra);
    snprintf(x->log, sizeof x->log, "%s.log", name);
}

static void go(run *x)
{
    x->r = monitor_start();
    x->pid = th_worker_start(x->cfg, "p", "cp", x->log);
}

/* Stop the worker and the MONITOR; the reads stay in x->r until free_run. */
static int finish(run *x)
{
    th_worker_stop(x->pid, 5000);
    monitor_stop(x->r);
    return atomic_load(&x->r->n);
}

static void free_run(run *x)
{
    free(x->r);
    free(x->cfg);
    free(x->rec);
    redisFree(x->c);
}

/* ---- helpers ------------------------------------------------------------ */

static char *config(const char *file, const char *rec, const char *pool_extra)
{
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"qp\",\"plugins\":[\"record\"],\"block\":\"100ms\","
                       "\"read_count\":1000,%s\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, pool_extra, rec) > 0);
    char *path = th_write_file(file, json);
    free(json);
    return path;
}

/* n jobs of the record plugin with this payload, pipelined. */
static void enqueue(redisContext *c, const char *prefix, int n, const char *payload)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "XADD sluice:{qp} * type test.record id %s-%d payload %s", prefix, i, payload);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
}

static void wait_done(redisContext *c, const char *rec, long n)
{
    th_want w = {c, rec, n};
    cr_assert(th_wait_until(th_lines_at_least, &w, 60000), "only %ld of %ld jobs ran", th_count_lines(rec), n);
}

/* Largest COUNT among reads [from, to). */
static int max_count(const reads *r, int from, int to)
{
    int m = 0;
    for (int i = from; i < to; i++)
        if (r->count[i] > m)
            m = r->count[i];
    return m;
}

/* ---- tests -------------------------------------------------------------- */

/* Default prefetch (5 ms): the first read asks for 10; after 20 ms jobs every
 * read asks for 1 (the rest stays free for other workers); a long run of fast
 * jobs grows the reads again (towards read_count). */
Test(prefetch, reads_follow_the_handler_run_time)
{
    run x;
    setup_run(&x, "pf", "");
    enqueue(x.c, "slow", 4, "{\"sleep_ms\":20}");
    go(&x);
    wait_done(x.c, x.rec, 4);
    enqueue(x.c, "slow2", 3, "{\"sleep_ms\":20}");
    wait_done(x.c, x.rec, 7);
    int after_slow = atomic_load(&x.r->n);
    enqueue(x.c, "fast", 2000, "{}");
    wait_done(x.c, x.rec, 2007);
    int n = finish(&x);
    const reads *r = x.r;
    cr_assert_gt(after_slow, 1, "reads seen: %d", after_slow);
    cr_assert_eq(r->count[0], 10, "the first read asks for SL_PREFETCH_FIRST, not read_count");
    for (int i = 1; i < after_slow; i++)
        cr_assert_eq(r->count[i], 1, "read %d after 20 ms jobs asked for %d, not 1", i, r->count[i]);
    /* The record plugin's jobs take tens of us (more under ASan): 5 ms of them is
     * well over 20 entries once the average has come down from 20 ms. */
    int grown = max_count(r, after_slow, n);
    cr_assert_geq(grown, 20, "after 2000 fast jobs the reads asked for at most %d", grown);
    cr_assert_leq(grown, 1000, "never more than read_count");
    free_run(&x);
}

/* prefetch 0: every read asks for read_count, whatever the jobs take. */
Test(prefetch, zero_always_reads_read_count)
{
    run x;
    setup_run(&x, "pf0", "\"prefetch\":\"0ms\",");
    enqueue(x.c, "slow", 3, "{\"sleep_ms\":20}");
    go(&x);
    wait_done(x.c, x.rec, 3);
    enqueue(x.c, "more", 5, "{\"sleep_ms\":20}");
    wait_done(x.c, x.rec, 8);
    int n = finish(&x);
    cr_assert_geq(n, 2, "reads seen: %d", n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(x.r->count[i], 1000, "read %d asked for %d", i, x.r->count[i]);
    free_run(&x);
}

/* Large entries: a read never asks for more than 1 MiB of fields. */
Test(prefetch, reads_stay_under_a_mebibyte_of_fields)
{
    run x;
    setup_run(&x, "pfb", "");
    size_t big = 64 * 1024;
    char *payload = malloc(big + 16);
    cr_assert(payload);
    int o = snprintf(payload, big + 16, "{\"pad\":\"");
    memset(payload + o, 'x', big);
    snprintf(payload + o + big, 16, "\"}");
    enqueue(x.c, "big", 150, payload);
    go(&x);
    wait_done(x.c, x.rec, 150);
    int n = finish(&x);
    cr_assert_geq(n, 2);
    /* 64 KiB entries: 1 MiB is 16 of them (the fields' names and the id add a little) */
    for (int i = 1; i < n; i++)
        cr_assert_leq(x.r->count[i], 16, "read %d asked for %d entries of 64 KiB", i, x.r->count[i]);
    free(payload);
    free_run(&x);
}

/* A reply past 1 MiB (one huge entry): the next read asks for COUNT 1, and
 * the reads double back to read_count, even with prefetch off. */
Test(prefetch, a_large_reply_makes_the_next_read_count_1)
{
    run x;
    setup_run(&x, "pfl", "\"prefetch\":\"0ms\",");
    go(&x);
    for (int i = 0; i < 250 && atomic_load(&x.r->n) < 2; i++)
        th_sleep_ms(20);
    int n0 = atomic_load(&x.r->n);
    cr_assert_geq(n0, 2, "the worker never read");
    size_t big = 2u << 20;
    char *payload = malloc(big + 1);
    cr_assert(payload);
    memset(payload, 'x', big);
    payload[big] = '\0';
    redisReply *a = redisCommand(x.c, "XADD sluice:{qp} * type test.record payload %b", payload, big);
    cr_assert(a && a->type == REDIS_REPLY_STRING);
    freeReplyObject(a);
    th_want dl = {x.c, "sluice:{qp}:dlq:p", 1};
    cr_assert(th_wait_until(th_xlen_at_least, &dl, 20000), "the huge entry was not dead-lettered");
    int n1 = atomic_load(&x.r->n);
    for (int i = 0; i < 500 && atomic_load(&x.r->n) < n1 + 14; i++)
        th_sleep_ms(20);
    int n = finish(&x);
    const reads *r = x.r;
    int at = -1;
    for (int i = n0; i < n && at < 0; i++)
        if (r->count[i] != 1000)
            at = i;
    cr_assert_geq(at, 0, "no read after the huge one asked for less than read_count");
    cr_assert_eq(r->count[at], 1, "the read after a 2 MiB reply asked for %d", r->count[at]);
    cr_assert(at + 1 < n && r->count[at + 1] == 2, "then %d, not 2", at + 1 < n ? r->count[at + 1] : -1);
    cr_assert_eq(r->count[n - 1], 1000, "the reads did not grow back to read_count (last %d)", r->count[n - 1]);
    free(payload);
    free_run(&x);
}
