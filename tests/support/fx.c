/* Fault-suite helpers (see fx.h): config files with tiny timeouts, the
 * supervisor, pipelined producers and the scenario skeleton. */
#include "fx.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Suite defaults; a member named in the scenario's extra text replaces one. */

redisContext *fx_rc;
acct_ledger *fx_ledger;
static fx_scene scene; /* the scenario fx_scenario_run runs */

static void scene_clear(fx_scene *s);

void fx_suite_init(void)
{
    th_flushall();
    fx_rc = th_redis();
}

void fx_suite_fini(void)
{
    scene_clear(&scene);
    acct_free(fx_ledger);
    fx_ledger = NULL;
    if (fx_rc)
        redisFree(fx_rc);
    fx_rc = NULL;
}

static const char *jobs_defaults[] = {"\"backoff_base\":\"10ms\"", "\"backoff_cap\":\"50ms\"", "\"lease\":\"1s\"",
                                      "\"timeout\":\"10s\"",       "\"max_deliveries\":3",     NULL};
static const char *redis_defaults[] = {"\"reconnect_min\":\"50ms\"", "\"reconnect_max\":\"500ms\"",
                                       "\"command_timeout\":\"2s\"", NULL};

/* "{defaults not overridden,extra}" members into out. */
static void members(char *out, size_t n, const char **defaults, const char *extra)
{
    size_t len = (size_t)snprintf(out, n, "%s", extra ? extra : "");
    for (int i = 0; defaults[i]; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)(strchr(defaults[i], ':') - defaults[i]), defaults[i]);
        if (extra && strstr(extra, key))
            continue;
        len += (size_t)snprintf(out + len, n - len, "%s%s", len ? "," : "", defaults[i]);
    }
    cr_assert(len < n, "config members too long");
}

void fx_setup(fx_run *r, const char *name, const fx_cfg *c)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->record, sizeof(r->record), "%s/%s-record.txt", th_tmpdir(), name);
    remove(r->record);
    char jobs[1024], redis[512], prefetch[64] = "";
    if (c->prefetch)
        snprintf(prefetch, sizeof(prefetch), "\"prefetch\":\"%s\",", c->prefetch);
    members(jobs, sizeof(jobs), jobs_defaults, c->jobs);
    members(redis, sizeof(redis), redis_defaults, c->redis);
    char *json = NULL, *file = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",%s},\"log\":{\"format\":\"json\",\"level\":\"info\"},"
                       "\"plugin_dir\":\"%s\",\"supervisor\":{\"worker_path\":\"%s\",\"shutdown_timeout\":\"2s\","
                       "\"restart_backoff_min\":\"50ms\",\"restart_backoff_max\":\"300ms\","
                       "\"promote_interval\":\"20ms\"},\"jobs\":{%s},"
                       "\"pools\":[{\"name\":\"%s\",\"queue\":\"%s\",\"group\":\"%s\",\"plugins\":[\"faulty\"],"
                       "\"workers\":%d,\"read_count\":%d,%s\"block\":\"200ms\","
                       "\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       c->redis_url ? c->redis_url : th_redis_url(), redis, SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN,
                       jobs, c->queue, c->queue, c->queue, c->workers ? c->workers : FX_WORKERS,
                       c->read_count ? c->read_count : 10, prefetch, r->record) > 0);
    cr_assert(asprintf(&file, "%s.json", name) > 0);
    char *path = th_write_file(file, json);
    free(file);
    cr_assert(asprintf(&file, "%s-supervisor.log", name) > 0);
    th_sup_init(&r->sup, name, path, file);
    remove(r->sup.log);
    free(path);
    free(file);
    free(json);
}

void fx_settle(acct_ledger *a, redisContext *c, const fx_run *r, const char *title, int timeout_ms, acct_counts *k)
{
    int ok = acct_wait_settled(a, c, timeout_ms, k);
    acct_print(title, k);
    if (!ok || k->lost || k->both)
        acct_print_bad(a, 10);
    cr_assert(ok, "%s: not settled: lost=%ld pending=%ld scheduled=%ld undelivered=%ld (see %s)", title, k->lost,
              k->pending, k->scheduled, k->undelivered, r->sup.log);
    cr_assert_eq(k->lost, 0, "%s: %ld jobs lost", title, k->lost);
    cr_assert_eq(k->both, 0, "%s: %ld jobs both completed and dead-lettered", title, k->both);
    cr_assert_eq(k->unknown, 0, "%s: %ld unknown ids", title, k->unknown);
    cr_assert_eq(k->dead_dups, 0, "%s: %ld jobs dead-lettered twice", title, k->dead_dups);
}

struct cwait {
    redisContext *c;
    const char *queue;
    int n;
};

static int has_consumers(void *arg)
{
    struct cwait *w = arg;
    char stream[256];
    snprintf(stream, sizeof(stream), "sluice:{%s}", w->queue);
    return th_consumers(w->c, stream, w->queue) == w->n;
}

void fx_wait_consumers(redisContext *c, const fx_run *r, const char *queue, int n)
{
    struct cwait w = {c, queue, n};
    cr_assert(th_wait_until(has_consumers, &w, 20000), "%s: group %s never had %d consumers (see %s)", r->sup.name,
              queue, n, r->sup.log);
}

struct rwait {
    const fx_run *r;
    long n;
};

static int has_records(void *arg)
{
    struct rwait *w = arg;
    return th_count_lines(w->r->record) >= w->n;
}

void fx_wait_records(const fx_run *r, long n, int timeout_ms)
{
    struct rwait w = {r, n};
    cr_assert(th_wait_until(has_records, &w, timeout_ms), "%s: only %ld of %ld completions recorded (see %s)",
              r->sup.name, th_count_lines(r->record), n, r->sup.log);
}

void fx_xadd(redisContext *c, const char *queue, const char *type, int n, fx_payload_fn fn, void *arg, acct_ledger *a,
             char (*ids)[64])
{
    char key[256], payload[4096];
    snprintf(key, sizeof(key), "sluice:{%s}", queue);
    for (int i = 0; i < n; i++) {
        if (fn)
            fn(i, payload, sizeof(payload), arg);
        else
            snprintf(payload, sizeof(payload), "{}");
        redisAppendCommand(c, "XADD %s * type %s payload %s", key, type, payload);
    }
    for (int i = 0; i < n; i++) {
        void *v = NULL;
        cr_assert_eq(redisGetReply(c, &v), REDIS_OK, "XADD %d of %d: %s", i, n, c->errstr);
        redisReply *r = v;
        cr_assert(r->type == REDIS_REPLY_STRING, "XADD %d of %d refused: %s", i, n,
                  r->type == REDIS_REPLY_ERROR ? r->str : "?");
        if (a)
            acct_add(a, r->str);
        if (ids)
            snprintf(ids[i], 64, "%s", r->str);
        freeReplyObject(r);
    }
}

/* What a scenario holds besides the ledger: its private Redis, its connection
 * and its ids. */
static void scene_clear(fx_scene *s)
{
    if (s->c && s->c != fx_rc)
        redisFree(s->c);
    s->c = NULL;
    th_server_kill(&s->red); /* SIGCONT first: a fault may have stopped it */
    free(s->ids);
    s->ids = NULL;
}

void fx_scenario_run(const fx_scenario *sc)
{
    fx_scene *s = &scene;
    scene_clear(s);
    memset(s, 0, sizeof(*s));
    s->sc = sc;
    fx_cfg cfg = sc->cfg;
    const char *q = cfg.queue;
    if (sc->private_redis) {
        s->red.aof = 1;
        th_server_start(&s->red);
        s->c = th_server_connect(&s->red);
        cfg.redis_url = s->red.url;
    } else {
        cr_assert_not_null(fx_rc, "%s: the suite's .init must be fx_suite_init", sc->title);
        s->c = fx_rc;
    }
    fx_setup(&s->run, q, &cfg);
    s->a = fx_ledger = acct_new(q, q, s->run.record);
    if (sc->n)
        cr_assert_not_null(s->ids = calloc((size_t)sc->n, sizeof(*s->ids)));
    th_sup_start(&s->run.sup);
    fx_wait_consumers(s->c, &s->run, q, cfg.workers ? cfg.workers : FX_WORKERS);
    if (sc->n)
        fx_xadd(s->c, q, "test.acct", sc->n, sc->payload, NULL, s->a, s->ids);
    if (sc->wait_records)
        fx_wait_records(&s->run, sc->wait_records, 60000);
    if (sc->fault)
        s->injected = sc->fault(s);

    acct_counts k;
    fx_settle(s->a, s->c, &s->run, sc->title, FX_SETTLE_MS, &k);
    cr_assert_eq(k.enqueued, sc->n + s->added, "%s: %ld jobs enqueued, want %ld", sc->title, k.enqueued,
                 sc->n + s->added);
    cr_assert_eq(k.dead, sc->dead, "%s: %ld jobs dead-lettered, want %ld", sc->title, k.dead, sc->dead);
    long completed = sc->completed == FX_REST ? k.enqueued - sc->dead : sc->completed;
    cr_assert_eq(k.completed, completed, "%s: %ld jobs completed, want %ld", sc->title, k.completed, completed);
    for (size_t i = 0; i < sizeof(sc->by_reason) / sizeof(sc->by_reason[0]); i++)
        if (sc->by_reason[i].n > 0)
            cr_assert_eq(k.by_reason[sc->by_reason[i].reason], sc->by_reason[i].n, "%s: %ld dead letters %s, want %ld",
                         sc->title, k.by_reason[sc->by_reason[i].reason], acct_reason_name(sc->by_reason[i].reason),
                         sc->by_reason[i].n);
    long max_dups = sc->max_dups == FX_DUPS_PER_FAULT ? s->injected : sc->max_dups;
    cr_assert_leq(k.duplicates, max_dups, "%s: %ld duplicate runs, at most %ld allowed", sc->title, k.duplicates,
                  max_dups);
    if (sc->check)
        sc->check(s, &k);
    th_sup_term(&s->run.sup, sc->stop_ms);
    scene_clear(s);
}
