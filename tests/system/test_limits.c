/* Limits (config key limits, docs/limits.md) under real supervisors and
 * workers, measured from the handler's own start/end records (test plugin
 * span): a rate limit of 50/s shared by two supervisors holds within 5% over
 * every 2-second window after the burst, and limiting loses no job and spends
 * no attempt; a concurrency limit of 2 per tenant_id over 3 tenants and two
 * supervisors is never exceeded and is reached; a kill -9 of a worker holding
 * a slot frees it within the lease. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/client.h>

#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_sup sups[2];

static void setup(void)
{
    th_flushall();
}

static void teardown(void)
{
    /* SIGTERM first: a SIGKILLed supervisor leaves a worker in a long job
     * running, to read the next test's queue when its handler returns. */
    for (int i = 0; i < 2; i++)
        if (sups[i].pid > 0)
            (void)th_sup_term(&sups[i], 20000);
    for (int i = 0; i < 2; i++)
        th_sup_kill(&sups[i]);
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 300);

/* jobs: the "jobs" section (the kill test's short lease). */
static char *write_config_sup(const char *name, const char *limits, const char *jobs, const char *sup, int workers,
                              const char *rec)
{
    char *json = NULL, file[64];
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\",\"jobs\":false},"
                       /* a short shutdown_timeout: a stop kills a worker in a long job, so
                        * none outlives its test and reads the next one's queue */
                       "\"supervisor\":{\"http_listen\":null,\"promote_interval\":\"10ms\",\"shutdown_timeout\":\"1s\""
                       "%s},"
                       "\"jobs\":{%s},\"limits\":{%s},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"lq\",\"group\":\"g\",\"workers\":%d,"
                       "\"plugins\":[\"span\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, sup, jobs, limits, workers, rec) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *cfg = th_write_file(file, json);
    free(json);
    return cfg;
}

static char *write_config(const char *name, const char *limits, const char *jobs, int workers, const char *rec)
{
    return write_config_sup(name, limits, jobs, "", workers, rec);
}

static void start_both(const char *cfg, int workers)
{
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "lim%d", i);
        th_sup_init(&sups[i], name, cfg, NULL);
        /* distinct consumer names on one host (SLUICE_IDENTITY) */
        char identity[48];
        snprintf(identity, sizeof identity, "SLUICE_IDENTITY=host%d", i);
        char *env[] = {identity, NULL};
        th_sup_startv(&sups[i], NULL, env);
    }
    for (int i = 0; i < 2; i++)
        th_sup_wait_workers(&sups[i], workers, 30000);
    cr_assert_gt(th_sup_log_count(&sups[1], "consumer=host1-p-0", NULL), 0, "SLUICE_IDENTITY names the consumers");
}

Test(limits, a_bad_identity_stops_start_up_naming_it)
{
    char *cfg = write_config("ident", "\"x\":{\"types\":[\"test.span\"],\"rate\":1}", "", 1, "/dev/null");
    setenv("SLUICE_IDENTITY", "no spaces", 1);
    th_run_result r = TH_RUN("run", "-t", "-c", cfg);
    unsetenv("SLUICE_IDENTITY");
    cr_assert_eq(r.code, 78, "exit %d: %s", r.code, r.err);
    cr_assert(strstr(r.err, "SLUICE_IDENTITY: expected 1-64 characters"), "%s", r.err);
    th_run_free(&r);
    free(cfg);
}

/* One handler record: "<id> <start ms> <end ms> <attempt> <pid>". */
typedef struct span {
    char id[64];
    long long start, end;
    int attempt;
    long pid;
} span;

static int read_spans(const char *path, span **out)
{
    char *text = th_read_file(path);
    int n = 0, cap = 0;
    *out = NULL;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            *out = realloc(*out, (size_t)cap * sizeof **out);
            cr_assert(*out);
        }
        span *s = &(*out)[n];
        cr_assert_eq(sscanf(line, "%63s %lld %lld %d %ld", s->id, &s->start, &s->end, &s->attempt, &s->pid), 5,
                     "bad record line: %s", line);
        n++;
    }
    free(text);
    return n;
}

static int by_start(const void *a, const void *b)
{
    long long x = ((const span *)a)->start, y = ((const span *)b)->start;
    return x < y ? -1 : x > y;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const span *)a)->id, ((const span *)b)->id);
}

static void enqueue_all(const char *const *ids, const char *const *payloads, int n)
{
    char err[256];
    sluice_client *c = sluice_client_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert(c, "%s", err);
    for (int i = 0; i < n; i++) {
        sluice_enqueue_opts o = {.size = sizeof o, .job_id = ids ? ids[i] : NULL};
        cr_assert_eq(sluice_enqueue(c, "lq", "test.span", payloads[i], 0, &o, NULL, 0), 0, "%s",
                     sluice_client_error(c));
    }
    sluice_client_free(c);
}

Test(limits, a_rate_limit_holds_across_two_supervisors_and_spends_no_attempt)
{
    enum { JOBS = 1000, RATE = 50, BURST = 10 };
    char *rec = th_tmp_path("rate.txt");
    unlink(rec);
    char *cfg = write_config(
        "rate", "\"partner-api\":{\"types\":[\"test.span\"],\"rate\":50,\"per\":\"1s\",\"burst\":10}", "", 2, rec);
    start_both(cfg, 2);
    const char **payloads = calloc(JOBS, sizeof *payloads);
    for (int i = 0; i < JOBS; i++)
        payloads[i] = "{}";
    enqueue_all(NULL, payloads, JOBS);
    free(payloads);
    th_lines w = {rec, JOBS};
    cr_assert(th_wait_until(th_has_lines, &w, 90000), "%ld of %d jobs ran (see %s)", th_count_lines(rec), JOBS,
              sups[0].log);
    th_sleep_ms(500); /* a duplicate would show by now */
    th_sup_stop(&sups[0], 20000);
    th_sup_stop(&sups[1], 20000);

    span *s;
    int n = read_spans(rec, &s);
    cr_assert_eq(n, JOBS, "each job ran once: %d records", n);
    qsort(s, (size_t)n, sizeof *s, by_id);
    for (int i = 1; i < n; i++)
        cr_assert_str_neq(s[i].id, s[i - 1].id, "job %s ran twice", s[i].id);
    for (int i = 0; i < n; i++)
        cr_assert_eq(s[i].attempt, 1, "job %s: limiting spent no attempt (attempt %d)", s[i].id, s[i].attempt);
    qsort(s, (size_t)n, sizeof *s, by_start);
    /* After the burst: every 2 s window that starts at a job's start and ends
     * before the last start holds RATE * 2 starts within 5%. */
    int lo = 1 << 30, hi = 0, windows = 0;
    for (int i = BURST; i < n; i++) {
        if (s[i].start + 2000 > s[n - 1].start)
            break;
        int k = 0;
        for (int j = i; j < n && s[j].start < s[i].start + 2000; j++)
            k++;
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
        windows++;
    }
    double secs = (double)(s[n - 1].start - s[BURST].start) / 1000.0;
    fprintf(stderr,
            "rate limit 50/s: %d jobs over %.1f s after the burst (%.1f/s); 2 s windows: %d..%d starts (%d "
            "windows)\n",
            n - BURST, secs, (double)(n - BURST - 1) / secs, lo, hi, windows);
    cr_assert_gt(windows, 100);
#if defined(__SANITIZE_ADDRESS__)
    /* The instrumented build's pauses only delay starts (a window then holds
     * fewer); the limit must still never be exceeded. The plain build checks
     * both sides within 5%. */
    cr_assert(hi <= 105, "no 2 s window holds more than 100 + 5%% starts (ASan build): %d..%d", lo, hi);
#else
    cr_assert(lo >= 95 && hi <= 105, "every 2 s window holds 100 +- 5%% starts: %d..%d", lo, hi);
#endif
    free(s);
    free(cfg);
    free(rec);
}

/* The largest number of spans of tenant t (ids "t-...") running at once. */
static int max_overlap(const span *s, int n, const char *tenant)
{
    int best = 0;
    size_t tl = strlen(tenant);
    for (int i = 0; i < n; i++) {
        if (strncmp(s[i].id, tenant, tl) != 0 || s[i].id[tl] != '-')
            continue;
        int k = 0; /* spans of t running at s[i].start: [start, end) */
        for (int j = 0; j < n; j++)
            if (strncmp(s[j].id, tenant, tl) == 0 && s[j].id[tl] == '-' && s[j].start <= s[i].start &&
                s[i].start < s[j].end)
                k++;
        best = k > best ? k : best;
    }
    return best;
}

static int stats_shows_two_held(void *arg)
{
    (void)arg;
    th_run_result st = TH_RUN("stats", "--json", "-u", th_redis_url());
    int yes = st.code == 0 && strstr(st.out, "\"name\":\t\"per-tenant\"") && strstr(st.out, "\"concurrency\":\t2") &&
              strstr(st.out, "\"key\":\t\"tenant_id\"") && strstr(st.out, "\"buckets\":\t1") &&
              strstr(st.out, "\"running\":\t2");
    th_run_free(&st);
    return yes;
}

Test(limits, a_concurrency_limit_per_tenant_holds_across_two_supervisors)
{
    enum { PER = 20, TENANTS = 3 };
    static const char *const tenants[TENANTS] = {"t1", "t2", "t3"};
    char *rec = th_tmp_path("conc.txt");
    unlink(rec);
    char *cfg = write_config(
        "conc", "\"per-tenant\":{\"types\":[\"test.span\"],\"concurrency\":2,\"key\":\"tenant_id\"}", "", 4, rec);
    start_both(cfg, 4);
    const char *ids[PER * TENANTS], *payloads[PER * TENANTS];
    char idbuf[PER * TENANTS][32], pbuf[PER * TENANTS][64];
    for (int i = 0; i < PER * TENANTS; i++) {
        snprintf(idbuf[i], sizeof idbuf[i], "%s-%d", tenants[i % TENANTS], i);
        snprintf(pbuf[i], sizeof pbuf[i], "{\"tenant_id\":\"%s\",\"sleep_ms\":100}", tenants[i % TENANTS]);
        ids[i] = idbuf[i];
        payloads[i] = pbuf[i];
    }
    enqueue_all(ids, payloads, PER * TENANTS);
    th_lines w = {rec, PER * TENANTS};
    cr_assert(th_wait_until(th_has_lines, &w, 90000), "%ld of %d jobs ran (see %s)", th_count_lines(rec), PER * TENANTS,
              sups[0].log);
    th_sleep_ms(500);
    span *s;
    int n = read_spans(rec, &s);
    cr_assert_eq(n, PER * TENANTS, "each job ran once");
    for (int t = 0; t < TENANTS; t++) {
        int m = max_overlap(s, n, tenants[t]);
        fprintf(stderr, "tenant %s: at most %d running at once\n", tenants[t], m);
        cr_assert_eq(m, 2, "tenant %s ran %d at once (limit 2, 8 workers)", tenants[t], m);
    }
    for (int i = 0; i < n; i++)
        cr_assert_eq(s[i].attempt, 1, "waiting for a slot spent no attempt");
    free(s);

    th_sup_stop(&sups[0], 20000);
    th_sup_stop(&sups[1], 20000);
    free(cfg);
    free(rec);
}

/* The holders of tenant tk's bucket, sorted, joined by spaces, into out. */
static void holders(char *out, size_t n)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "ZRANGE sluice:{:limit:per-tenant:tk} 0 -1");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    out[0] = '\0';
    const char *m[16];
    size_t k = 0;
    for (size_t i = 0; i < r->elements && k < 16; i++)
        m[k++] = r->element[i]->str;
    for (size_t i = 1; i < k; i++) /* by name: the score order changes with every extension */
        for (size_t j = i; j > 0 && strcmp(m[j - 1], m[j]) > 0; j--) {
            const char *t = m[j];
            m[j] = m[j - 1];
            m[j - 1] = t;
        }
    for (size_t i = 0; i < k; i++) {
        size_t u = strlen(out);
        snprintf(out + u, n - u, "%s%s", u ? " " : "", m[i]);
    }
    freeReplyObject(r);
    redisFree(c);
}

static long long wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(limits, a_killed_workers_slot_frees_within_the_lease)
{
    /* Two long jobs of tenant tk hold both slots and a short one waits; the
     * worker of one gets kill -9: nobody extends its hold any more, so it
     * lapses within jobs.lease (3 s here) and a waiting job takes the slot
     * (the short one, or the killed job's own replay by another worker) while
     * the other long job still runs. One supervisor of three workers (distinct
     * consumer names, so distinct holders); no respawn within the test (the
     * successor, of the same name, would replay the job as the same holder). */
    char *rec = th_tmp_path("kill.txt"), *starts = th_tmp_path("kill-starts.txt");
    unlink(rec);
    unlink(starts);
    char *json = NULL;
    cr_assert(
        asprintf(&json,
                 "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                 "\"supervisor\":{\"http_listen\":null,\"promote_interval\":\"10ms\",\"shutdown_timeout\":\"1s\","
                 "\"restart_backoff_min\":\"30s\",\"restart_backoff_max\":\"30s\"},\"jobs\":{\"lease\":\"3s\"},"
                 "\"limits\":{\"per-tenant\":{\"types\":[\"test.span\"],\"concurrency\":2,\"key\":\"tenant_id\"}},"
                 "\"pools\":[{\"name\":\"p\",\"queue\":\"lq\",\"group\":\"g\",\"workers\":3,\"plugins\":[\"span\"],"
                 "\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\",\"start_file\":\"%s\"}}]}",
                 th_redis_url(), SLUICE_TEST_PLUGIN_DIR, rec, starts) > 0);
    char *cfg = th_write_file("kill.json", json);
    free(json);
    th_sup_init(&sups[0], "kill", cfg, NULL);
    th_sup_start(&sups[0]);
    th_sup_wait_workers(&sups[0], 3, 30000);
    const char *kid[] = {"tk-long-1", "tk-long-2"},
               *kpay[] = {"{\"tenant_id\":\"tk\",\"sleep_ms\":15000}", "{\"tenant_id\":\"tk\",\"sleep_ms\":15000}"};
    enqueue_all(kid, kpay, 2);
    cr_assert(th_wait_until(stats_shows_two_held, NULL, 20000), "sluice stats: per-tenant, 1 bucket, 2 running");
    th_lines two = {starts, 2};
    cr_assert(th_wait_until(th_has_lines, &two, 10000), "both long jobs started");
    char *st = th_read_file(starts), *at = st ? strstr(st, "tk-long-1 ") : NULL;
    cr_assert(at, "tk-long-1 started: %s", st ? st : "");
    pid_t victim = (pid_t)strtol(at + strlen("tk-long-1 "), NULL, 10);
    free(st);
    const char *cid[] = {"tk-short"}, *cpay[] = {"{\"tenant_id\":\"tk\"}"};
    enqueue_all(cid, cpay, 1);
    th_sleep_ms(1500);
    char before[1024], now[1024];
    holders(before, sizeof before);
    cr_assert_eq(th_count_lines_with(starts, "tk-short", NULL), 0, "both slots are held: the short job waits");
    long long killed_at = wall_now(), changed_at = 0;
    kill(victim, SIGKILL);
    for (int i = 0; i < 400 && !changed_at; i++) { /* 20 s at most */
        holders(now, sizeof now);
        if (strcmp(now, before) != 0)
            changed_at = wall_now();
        else
            th_sleep_ms(50);
    }
    fprintf(stderr, "after the kill: the killed worker's slot went to a waiting job %lld ms later (%s -> %s)\n",
            changed_at - killed_at, before, now);
    cr_assert(changed_at, "the killed worker's slot was never freed: %s", now);
    cr_assert_lt(changed_at - killed_at, 3000 + 1500,
                 "it lapsed within the lease (3 s; the rest: the waiting job's next ask and the polling)");
    cr_assert_eq(th_count_lines_with(rec, "tk-long-2", NULL), 0, "the other long job still runs, holding its slot");
    free(starts);
    (void)th_sup_term(&sups[0], 20000); /* a graceful stop kills the workers in long jobs too */
    free(cfg);
    free(rec);
}
