/* Fault suite, bad and duplicate input: malformed entries (raw XADD) among 1000
 * good jobs must each reach the DLQ with their exact reason, crashing no worker;
 * a job id published twice runs once (done-marker), and idempotency keys (C
 * client API, FCALL from python3 redis-py) enqueue one job each. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/client.h"
#include "support/acct.h"
#include "support/fx.h"

#define N 1000

TestSuite(faults_input, .init = fx_suite_init, .fini = fx_suite_fini);

/* One malformed entry: field/value pairs (binary, with lengths) and the
 * dead-letter reason it must get. */
typedef struct bad {
    const char *what, *reason;
    int nf;
    const char *f[8];
    size_t len[8]; /* 0: strlen */
} bad;

static char big[2000];

static const bad corpus[] = {
    {"missing type", "bad_envelope", 2, {"payload", "{}"}, {0}},
    {"type with bad chars", "bad_envelope", 4, {"type", "Bad Type!", "payload", "{}"}, {0}},
    {"empty type", "bad_envelope", 4, {"type", "", "payload", "{}"}, {0}},
    {"type of 129 bytes", "bad_envelope", 4, {"type", NULL /* filled */, "payload", "{}"}, {0}},
    {"NUL byte in type", "bad_envelope", 4, {"type", "test.acct\0x", "payload", "{}"}, {0, 11}},
    {"invalid JSON", "bad_payload", 4, {"type", "test.acct", "payload", "{not json"}, {0}},
    {"truncated JSON", "bad_payload", 4, {"type", "test.acct", "payload", "{\"a\":"}, {0}},
    {"NUL byte in JSON", "bad_payload", 4, {"type", "test.acct", "payload", "{\"a\":\"x\0y\"}"}, {0, 0, 0, 11}},
    {"binary garbage payload",
     "bad_payload",
     4,
     {"type", "test.acct", "payload", "\xff\xfe\x00\x01\x80zz"},
     {0, 0, 0, 7}},
    {"invalid UTF-8 in JSON", "bad_payload", 4, {"type", "test.acct", "payload", "{\"a\":\"\xc3\x28\"}"}, {0}},
    {"oversize payload", "oversize", 4, {"type", "test.acct", "payload", big}, {0}},
    {"unknown type", "unknown_type", 4, {"type", "no.such.type", "payload", "{}"}, {0}},
    {"non-numeric attempt", "bad_envelope", 6, {"type", "test.acct", "payload", "{}", "attempt", "abc"}, {0}},
    {"attempt 0", "bad_envelope", 6, {"type", "test.acct", "payload", "{}", "attempt", "0"}, {0}},
    {"duplicate type field", "bad_envelope", 6, {"type", "test.acct", "type", "test.acct", "payload", "{}"}, {0}},
    {"duplicate payload field", "bad_envelope", 6, {"type", "test.acct", "payload", "{}", "payload", "{}"}, {0}},
    {"non-numeric enqueued_at", "bad_envelope", 6, {"type", "test.acct", "payload", "{}", "enqueued_at", "soon"}, {0}},
    {"binary garbage id", "bad_envelope", 6, {"type", "test.acct", "payload", "{}", "id", NULL /* filled */}, {0}},
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))
#define COPIES 5

/* XADD one corpus entry (copy c); returns its job id as the DLQ will name it
 * (the "id" field when the entry has one, else the stream id). */
static void xadd_bad(const bad *b, int copy, char *job_id, size_t n)
{
    const char *argv[10] = {"XADD", "sluice:{s8}", "*"};
    size_t lens[10] = {4, 11, 1};
    char longtype[130], garbage[16];
    memset(longtype, 'a', 129);
    longtype[129] = '\0';
    snprintf(garbage, sizeof(garbage), "\x01\xff%d", copy);
    job_id[0] = '\0';
    for (int i = 0; i < b->nf; i++) {
        const char *v = b->f[i];
        if (!v)
            v = strcmp(b->f[i - 1], "type") == 0 ? longtype : garbage;
        if (i % 2 == 1 && strcmp(b->f[i - 1], "id") == 0)
            snprintf(job_id, n, "%s", v);
        argv[3 + i] = v;
        lens[3 + i] = b->len[i] ? b->len[i] : strlen(v);
    }
    redisReply *r = redisCommandArgv(fx_rc, 3 + b->nf, argv, lens);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "XADD of '%s' failed", b->what);
    if (!job_id[0])
        snprintf(job_id, n, "%s", r->str);
    freeReplyObject(r);
}

/* 8. A malformed-input corpus mixed with 1000 good jobs: the input is the
 * fault, so the row enqueues nothing before it. */
static char bad_ids[NCORPUS * COPIES][160];

static long malformed_input(fx_scene *s)
{
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '[', big[sizeof(big) - 2] = ']'; /* valid JSON of 1998 bytes */
    int nb = 0;
    for (int i = 0; i < N; i++) {
        if (i % 10 == 0 && nb < (int)(NCORPUS * COPIES)) {
            xadd_bad(&corpus[nb % NCORPUS], nb / (int)NCORPUS, bad_ids[nb], sizeof(bad_ids[nb]));
            acct_add(s->a, bad_ids[nb]);
            nb++;
        }
        fx_xadd(s->c, "s8", "test.acct", 1, NULL, NULL, s->a, NULL);
    }
    while (nb < (int)(NCORPUS * COPIES)) {
        xadd_bad(&corpus[nb % NCORPUS], nb / (int)NCORPUS, bad_ids[nb], sizeof(bad_ids[nb]));
        acct_add(s->a, bad_ids[nb]);
        nb++;
    }
    s->added = N + nb;
    return nb;
}

static void malformed_check(fx_scene *s, const acct_counts *k)
{
    (void)k;
    for (int i = 0; i < (int)(NCORPUS * COPIES); i++) {
        const bad *b = &corpus[i % NCORPUS];
        const acct_job *j = acct_job_get(s->a, bad_ids[i]);
        cr_expect(j && j->dead == 1 && strcmp(j->reason, b->reason) == 0, "%s (copy %d): reason '%s', want '%s'",
                  b->what, i / (int)NCORPUS, j ? j->reason : "(never seen)", b->reason);
    }
    cr_assert_eq(th_sup_log_count(&s->run.sup, "\"worker crashed\"", NULL), 0, "a worker crashed on bad input (see %s)",
                 s->run.sup.log);
    cr_assert_eq(th_sup_log_count(&s->run.sup, "\"worker spawned\"", NULL), 4, "workers were respawned (see %s)",
                 s->run.sup.log);
}

/* The scenario of this suite that fits the skeleton (fx_scenario_run).
 * duplicate_publishes below is not a row: it settles twice, before and after
 * the same ids are published again, and counts handler runs and XLEN. */
static const fx_scenario malformed = {.title = "8 (malformed corpus)",
                                      .cfg = {.queue = "s8", .jobs = "\"max_payload_bytes\":1024"},
                                      .fault = malformed_input,
                                      .completed = N,
                                      .dead = NCORPUS * COPIES,
                                      .max_dups = 0,
                                      .check = malformed_check,
                                      .stop_ms = 20000};

Test(faults_input, malformed_corpus, .timeout = 150)
{
    fx_scenario_run(&malformed);
}

/* XADD the 500 done-marker jobs (ids dm-<i>) once more. */
static void xadd_dm(acct_ledger *a)
{
    for (int i = 0; i < 500; i++)
        redisAppendCommand(fx_rc, "XADD sluice:{s9} * id dm-%d type test.acct_once payload {\"n\":%d}", i, i);
    for (int i = 0; i < 500; i++) {
        void *v = NULL;
        cr_assert_eq(redisGetReply(fx_rc, &v), REDIS_OK);
        cr_assert_eq(((redisReply *)v)->type, REDIS_REPLY_STRING);
        freeReplyObject(v);
        if (a) {
            char id[32];
            snprintf(id, sizeof(id), "dm-%d", i);
            acct_add(a, id);
        }
    }
}

/* 250 keys, each enqueued twice with the C client API. */
static void idem_api(acct_ledger *a)
{
    char err[256];
    sluice_client *cl = sluice_client_new(th_redis_url(), NULL, err, sizeof(err));
    cr_assert_not_null(cl, "client: %s", err);
    for (int i = 0; i < 250; i++) {
        char key[64], first[SLUICE_ID_MAX], again[SLUICE_ID_MAX];
        snprintf(key, sizeof(key), "api-%d", i);
        sluice_enqueue_opts o = {.size = sizeof(o), .idempotency_key = key};
        cr_assert_eq(sluice_enqueue(cl, "s9", "test.acct", "{}", 0, &o, first, sizeof(first)), 0, "enqueue: %s",
                     sluice_client_error(cl));
        cr_assert_eq(sluice_enqueue_last_was_duplicate(cl), 0, "key %s: first enqueue flagged duplicate", key);
        cr_assert_eq(sluice_enqueue(cl, "s9", "test.acct", "{\"again\":1}", 0, &o, again, sizeof(again)), 0,
                     "enqueue: %s", sluice_client_error(cl));
        cr_assert_eq(sluice_enqueue_last_was_duplicate(cl), 1, "key %s: second enqueue not flagged duplicate", key);
        cr_assert_str_eq(again, first, "key %s: second enqueue returned another id", key);
        acct_add(a, first);
    }
    sluice_client_free(cl);
}

/* 250 keys, each enqueued twice with FCALL sluice_enqueue from redis-py. */
static void idem_python(acct_ledger *a)
{
    char host[256];
    int port = 0, db = 0;
    cr_assert(sscanf(th_redis_url(), "redis://%255[^:/]:%d/%d", host, &port, &db) >= 2, "needs a TCP url");
    const char *py = getenv("SLUICE_PYTHON") ? getenv("SLUICE_PYTHON") : "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "%s -c 'import redis\n"
             "r=redis.Redis(host=\"%s\",port=%d,db=%d)\n"
             "for i in range(250):\n"
             "    k=\"sluice:{s9}:idem:py-%%d\" %% i\n"
             "    "
             "a=r.execute_command(\"FCALL\",\"sluice_enqueue\",3,\"sluice:{s9}\",k,\"sluice:{s9}:sched\",86400,\"\",0,"
             "\"type\",\"test.acct\",\"payload\",\"{}\")\n"
             "    "
             "b=r.execute_command(\"FCALL\",\"sluice_enqueue\",3,\"sluice:{s9}\",k,\"sluice:{s9}:sched\",86400,\"\",0,"
             "\"type\",\"test.acct\",\"payload\",\"{}\")\n"
             "    print(a[0].decode(), a[1], b[0].decode(), b[1])\n'",
             py, host, port, db);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512], id1[200], id2[200];
    int f1, f2, n = 0;
    while (fgets(line, sizeof(line), p)) {
        cr_assert_eq(sscanf(line, "%199s %d %199s %d", id1, &f1, id2, &f2), 4, "python printed: %s", line);
        cr_assert(f1 == 1 && f2 == 0, "FCALL flags %d then %d, want 1 then 0", f1, f2);
        cr_assert_str_eq(id1, id2, "FCALL duplicate returned another id");
        acct_add(a, id1);
        n++;
    }
    cr_assert_eq(pclose(p), 0, "python3 redis-py producer failed");
    cr_assert_eq(n, 250);
}

/* 9. Duplicate publishes: same job id twice with a done-marker handler,
 * idempotency keys through the client API and through FCALL. */
Test(faults_input, duplicate_publishes, .timeout = 150)
{
    fx_run r;
    fx_setup(&r, "s9", &(fx_cfg){.queue = "s9"});
    acct_ledger *a = fx_ledger = acct_new("s9", "s9", r.record);
    th_sup_start(&r.sup);
    fx_wait_consumers(fx_rc, &r, "s9", 4);
    xadd_dm(a);
    idem_api(a);
    idem_python(a);
    acct_counts k;
    fx_settle(a, fx_rc, &r, "9a (first publishes)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.enqueued, N);
    cr_assert_eq(k.completed, N);
    /* The same 500 job ids again, after their first runs finished. */
    xadd_dm(NULL);
    fx_settle(a, fx_rc, &r, "9 (duplicate publishes)", FX_SETTLE_MS, &k);
    cr_assert_eq(k.completed, N);
    cr_assert_eq(k.dead, 0);
    cr_assert_eq(k.duplicates, 0, "%ld duplicate runs", k.duplicates);
    cr_assert_eq(k.runs, N, "%ld handler runs for %d jobs", k.runs, N);
    cr_assert_eq(th_int(fx_rc, "XLEN sluice:{s9}"), 500 * 2 + 250 + 250, "stream length");
    th_sup_term(&r.sup, 20000);
}
