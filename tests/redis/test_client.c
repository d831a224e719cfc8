/* The producer API (include/sluice/client.h) against a real redis-server:
 * exact entry fields, options, a 10,000-job pipelined batch, all-or-nothing
 * validation, redacted connection errors, no duplicate after a reconnect,
 * delayed jobs (delay/at) in the schedule, idempotency keys, unique jobs,
 * sluice_cancel(), and the lazily loaded function library. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/trace.h"
#include "sluice/client.h"
#include "support/run.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(client, .init = setup, .timeout = 60);

static sluice_client *connect_test(void)
{
    char err[512] = "";
    sluice_client *c = sluice_client_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert_not_null(c, "sluice_client_new: %s", err);
    return c;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_uuid4(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Parse a stream id "ms-seq". */
static void parse_sid(const char *s, unsigned long long *ms, unsigned long long *seq)
{
    cr_assert_eq(sscanf(s, "%llu-%llu", ms, seq), 2, "not a stream id: %s", s);
}

Test(client, enqueue_one_writes_exact_fields)
{
    sluice_client *c = connect_test();
    char id[SLUICE_ID_MAX];
    long long before = now_ms();
    cr_assert_eq(sluice_enqueue(c, "mail", "email.send", "{\"to\":\"a@b.c\"}", 0, NULL, id, sizeof id), 0, "%s",
                 sluice_client_error(c));
    long long after = now_ms();
    cr_assert_str_eq(sluice_client_error(c), "");

    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{mail} - +");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    const redisReply *entry = rep->element[0];
    cr_assert_str_eq(entry->element[0]->str, id, "the job id is the stream id");
    const redisReply *fv = entry->element[1];
    cr_assert_eq(fv->elements, 10, "exactly type, payload, enqueued_at, correlation_id, traceparent");
    cr_assert_str_eq(th_field(fv, "type")->str, "email.send");
    cr_assert_str_eq(th_field(fv, "payload")->str, "{\"to\":\"a@b.c\"}");
    cr_assert(is_uuid4(th_field(fv, "correlation_id")->str), "%s", th_field(fv, "correlation_id")->str);
    cr_assert(sl_trace_valid(th_field(fv, "traceparent")->str), "the first publish starts a W3C trace: %s",
              th_field(fv, "traceparent")->str);
    long long at = strtoll(th_field(fv, "enqueued_at")->str, NULL, 10);
    cr_assert(at >= before && at <= after, "enqueued_at %lld not in [%lld, %lld]", at, before, after);
    freeReplyObject(rep);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, default_payload_and_fresh_correlation_per_job)
{
    sluice_client *c = connect_test();
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 2);
    cr_assert_str_eq(th_field(rep->element[0]->element[1], "payload")->str, "{}");
    cr_assert_str_neq(th_field(rep->element[0]->element[1], "correlation_id")->str,
                      th_field(rep->element[1]->element[1], "correlation_id")->str);
    freeReplyObject(rep);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, enqueue_with_options)
{
    sluice_client *c = connect_test();
    sluice_enqueue_opts o = {.size = sizeof o,
                             .job_id = "order-42",
                             .correlation_id = "req-7f3a",
                             .causation_id = "1700000000000-0",
                             .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
    char id[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "orders", "order.placed.v2", "[1,2]xyz", 5, &o, id, sizeof id), 0, "%s",
                 sluice_client_error(c));
    cr_assert_str_eq(id, "order-42", "id_out is the job id when one is given");

    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{orders} - +");
    cr_assert(rep && rep->elements == 1);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 14);
    cr_assert_str_eq(th_field(fv, "id")->str, "order-42");
    cr_assert_str_eq(th_field(fv, "payload")->str, "[1,2]", "payload_len is honoured");
    cr_assert_str_eq(th_field(fv, "correlation_id")->str, "req-7f3a");
    cr_assert_str_eq(th_field(fv, "causation_id")->str, "1700000000000-0");
    cr_assert_str_eq(th_field(fv, "traceparent")->str, o.traceparent);
    freeReplyObject(rep);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, opts_size_is_honoured)
{
    sluice_client *c = connect_test();
    /* A caller built against a header that ended after job_id. */
    sluice_enqueue_opts o = {.size = offsetof(sluice_enqueue_opts, job_id) + sizeof(const char *),
                             .job_id = "kept",
                             .correlation_id = "beyond size: must be ignored",
                             .delay_ms = 5};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), 0, "%s", sluice_client_error(c));
    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 1);
    cr_assert_str_eq(th_field(rep->element[0]->element[1], "id")->str, "kept");
    cr_assert(is_uuid4(th_field(rep->element[0]->element[1], "correlation_id")->str));
    freeReplyObject(rep);
    redisFree(r);

    o.size = 0;
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "opts->size is 0"), "%s", sluice_client_error(c));
    sluice_client_free(c);
}

/* The only member of sluice:{q}:sched: its score, and the value of field `name`
 * in its field list copied to val (256 bytes; "" if absent). */
static long long sched_member(redisContext *r, const char *queue, const char *name, char val[256])
{
    redisReply *rep = redisCommand(r, "ZRANGE sluice:{%s}:sched 0 -1 WITHSCORES", queue);
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2, "one sched member");
    long long score = strtoll(rep->element[1]->str, NULL, 10);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\",\"", name);
    const char *p = strstr(rep->element[0]->str, pat);
    val[0] = '\0';
    if (p != NULL)
        sscanf(p + strlen(pat), "%255[^\"]", val);
    freeReplyObject(rep);
    return score;
}

/* Calls of a command (e.g. "fcall", "function|load") since CONFIG RESETSTAT. */
static long long calls_of(redisContext *r, const char *cmd)
{
    char pat[64];
    snprintf(pat, sizeof pat, "cmdstat_%s:calls=", cmd);
    redisReply *rep = redisCommand(r, "INFO commandstats");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    const char *p = strstr(rep->str, pat);
    long long n = p ? strtoll(p + strlen(pat), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

static void command_ok(redisContext *r, const char *cmd)
{
    redisReply *rep = redisCommand(r, cmd);
    cr_assert(rep && rep->type != REDIS_REPLY_ERROR, "%s: %s", cmd, rep ? rep->str : r->errstr);
    freeReplyObject(rep);
}

Test(client, delayed_job_waits_in_the_schedule)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts o = {.size = sizeof o, .delay_ms = 30000};
    char id[SLUICE_ID_MAX], val[256];
    long long before = th_server_ms(r);
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{\"a\":1}", 0, &o, id, sizeof id), 0, "%s", sluice_client_error(c));
    long long after = th_server_ms(r);
    cr_assert(is_uuid4(id), "a delayed job gets a UUID job id: %s", id);
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0);
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 1);
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 0);
    long long due = sched_member(r, "q", "id", val);
    cr_assert_str_eq(val, id, "the id field is set");
    cr_assert(due >= before + 30000 && due <= after + 30000, "due %lld not in [%lld, %lld]", due, before + 30000,
              after + 30000);
    sched_member(r, "q", "type", val);
    cr_assert_str_eq(val, "t");
    sched_member(r, "q", "correlation_id", val);
    cr_assert(is_uuid4(val), "%s", val);

    /* With a job id, that is the id. */
    th_flushall();
    o.job_id = "mail-7";
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &o, id, sizeof id), 0, "%s", sluice_client_error(c));
    cr_assert_str_eq(id, "mail-7");
    sched_member(r, "q", "id", val);
    cr_assert_str_eq(val, "mail-7");
    redisFree(r);
    sluice_client_free(c);
}

Test(client, at_in_the_past_schedules_with_that_score)
{
    sluice_client *c = connect_test();
    sluice_enqueue_opts o = {.size = sizeof o, .at_ms = 1700000000123ULL, .job_id = "job-at"};
    char id[SLUICE_ID_MAX], val[256];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, id, sizeof id), 0, "%s", sluice_client_error(c));
    cr_assert_str_eq(id, "job-at");
    redisContext *r = th_redis();
    cr_assert_eq(sched_member(r, "q", "id", val), 1700000000123LL);
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, bad_delivery_options_are_refused)
{
    sluice_client *c = connect_test();
    char key201[202];
    memset(key201, 'k', 201);
    key201[201] = '\0';
    struct {
        sluice_enqueue_opts o;
        const char *msg;
    } cases[] = {
        {{.size = sizeof(sluice_enqueue_opts), .delay_ms = 1000, .at_ms = 1700000000000ULL},
         "delay_ms and at_ms are both set (use one)"},
        {{.size = sizeof(sluice_enqueue_opts), .delay_ms = 253402300800000ULL},
         "delay_ms 253402300800000 is too large (at most 253402300799999)"},
        {{.size = sizeof(sluice_enqueue_opts), .at_ms = UINT64_MAX},
         "at_ms 18446744073709551615 is too large (at most 253402300799999)"},
        {{.size = sizeof(sluice_enqueue_opts), .idempotency_key = "has space"},
         "invalid idempotency_key \"has space\" (expected [A-Za-z0-9_.:-]{1,200})"},
        {{.size = sizeof(sluice_enqueue_opts), .idempotency_key = "a/b"},
         "invalid idempotency_key \"a/b\" (expected [A-Za-z0-9_.:-]{1,200})"},
        {{.size = sizeof(sluice_enqueue_opts), .idempotency_key = key201}, "invalid idempotency_key \"kkkk"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &cases[i].o, NULL, 0), -1, "case %zu", i);
        cr_assert(strncmp(sluice_client_error(c), cases[i].msg, strlen(cases[i].msg)) == 0, "case %zu: %s", i,
                  sluice_client_error(c));
    }
    /* In a batch the job is named, and nothing is sent. */
    sluice_job_spec jobs[2] = {{.type = "t"}, {.type = "t", .opts = &cases[0].o}};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 2, NULL), -1);
    cr_assert_str_eq(sluice_client_error(c), "jobs[1]: delay_ms and at_ms are both set (use one)");
    /* 200 bytes is the limit, not over it. */
    key201[200] = '\0';
    sluice_enqueue_opts ok = {.size = sizeof ok, .idempotency_key = key201};
    char id[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &ok, id, sizeof id), 0, "%s", sluice_client_error(c));
    /* A duplicate may return any valid id: id_out must hold 129 bytes. */
    char small[64];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &ok, small, sizeof small), -1);
    cr_assert_str_eq(sluice_client_error(c),
                     "id_out_len 64 is too small for the job id (need 129; SLUICE_ID_MAX always fits)");

    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1);
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}:sched"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, idempotency_key_enqueues_once)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts o = {.size = sizeof o, .idempotency_key = "order-42"};
    char id1[SLUICE_ID_MAX], id2[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{\"n\":1}", 0, &o, id1, sizeof id1), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0);
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1);
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert_str_eq(rep->element[0]->element[0]->str, id1, "the job id is the stream id");
    freeReplyObject(rep);

    cr_assert_eq(sluice_enqueue(c, "q", "t", "{\"n\":2}", 0, &o, id2, sizeof id2), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 1);
    cr_assert_eq(sluice_enqueue_batch_was_duplicate(c, 0), 1);
    cr_assert_eq(sluice_enqueue_batch_was_duplicate(c, 1), 0, "out of range");
    cr_assert_str_eq(id2, id1, "a duplicate returns the first job's id");
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1, "nothing enqueued the second time");
    long long ttl = th_int(r, "TTL sluice:{q}:idem:order-42");
    cr_assert(ttl > 86390 && ttl <= 86400, "default TTL one day, got %lld", ttl);

    /* A plain enqueue afterwards is not a duplicate. */
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, NULL, NULL, 0), 0);
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0);

    /* Own TTL, own job id. */
    sluice_enqueue_opts o2 = {.size = sizeof o2, .idempotency_key = "k:2", .idempotency_ttl_s = 60, .job_id = "j2"};
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &o2, id1, sizeof id1), 0, "%s", sluice_client_error(c));
    cr_assert_str_eq(id1, "j2");
    ttl = th_int(r, "TTL sluice:{q}:idem:k:2");
    cr_assert(ttl > 50 && ttl <= 60, "TTL %lld", ttl);
    rep = redisCommand(r, "GET sluice:{q}:idem:k:2");
    cr_assert_str_eq(rep->str, "j2");
    freeReplyObject(rep);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, idempotency_key_with_a_delay)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts o = {.size = sizeof o, .idempotency_key = "welcome-mail-u1", .delay_ms = 60000};
    char id1[SLUICE_ID_MAX], id2[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &o, id1, sizeof id1), 0, "%s", sluice_client_error(c));
    cr_assert(is_uuid4(id1));
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &o, id2, sizeof id2), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 1);
    cr_assert_str_eq(id2, id1);
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 1);
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, function_library_is_loaded_lazily_once_per_connection)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts d = {.size = sizeof d, .delay_ms = 1000};
    command_ok(r, "FUNCTION FLUSH");
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, NULL, NULL, 0), 0);
    cr_assert_eq(th_int(r, "FUNCTION LIST"), 0, "the plain path never touches the library");

    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &d, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "FUNCTION LIST"), 1, "loaded on first use");
    command_ok(r, "CONFIG RESETSTAT");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &d, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(calls_of(r, "fcall"), 5, "no version check after the first on this connection");

    /* Deleted behind the client's back: reloaded, and the job sent once. */
    command_ok(r, "FUNCTION FLUSH");
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &d, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 7);

    /* A new connection checks again. */
    cr_assert_geq(th_int(r, "CLIENT KILL TYPE normal SKIPME yes"), 1);
    th_sleep_ms(50);
    command_ok(r, "CONFIG RESETSTAT");
    cr_assert_eq(sluice_enqueue(c, "q", "t", NULL, 0, &d, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(calls_of(r, "fcall"), 2, "sluice_version, then sluice_schedule");
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 8);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, batch_mixes_plain_delayed_and_idempotent_jobs)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts delayed = {.size = sizeof delayed, .delay_ms = 60000};
    sluice_enqueue_opts at = {.size = sizeof at, .at_ms = 4102444800000ULL, .job_id = "new-year"};
    sluice_enqueue_opts idem = {.size = sizeof idem, .idempotency_key = "k1"};
    sluice_job_spec jobs[6] = {
        {.type = "plain"},
        {.type = "delayed", .opts = &delayed},
        {.type = "idem", .opts = &idem},
        {.type = "idem", .opts = &idem},
        {.type = "at", .opts = &at},
        {.type = "plain"},
    };
    char ids[6][SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 6, ids), 6, "%s", sluice_client_error(c));
    cr_assert(is_uuid4(ids[1]));
    cr_assert_str_eq(ids[3], ids[2], "the second job with key k1 is a duplicate of the first");
    cr_assert_str_eq(ids[4], "new-year");
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(sluice_enqueue_batch_was_duplicate(c, i), i == 3, "job %zu", i);
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 1);
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 3, "two plain jobs and the first idempotent one");
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 2);
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert_str_eq(rep->element[0]->element[0]->str, ids[0]);
    cr_assert_str_eq(rep->element[1]->element[0]->str, ids[2]);
    cr_assert_str_eq(rep->element[2]->element[0]->str, ids[5]);
    freeReplyObject(rep);

    /* A plain batch afterwards clears the duplicate marks. */
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 1, ids), 1);
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0);
    cr_assert_eq(sluice_enqueue_batch_was_duplicate(c, 0), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, delayed_batch_of_2500_spans_chunks_and_survives_a_library_flush)
{
    enum { N = 2500 };
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts d = {.size = sizeof d, .delay_ms = 5000};
    sluice_job_spec *jobs = calloc(N, sizeof *jobs);
    char(*ids)[SLUICE_ID_MAX] = calloc(N, SLUICE_ID_MAX);
    cr_assert(jobs && ids);
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "t", .opts = &d};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, ids), N, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), N);
    for (int i = 0; i < N; i++)
        cr_assert(is_uuid4(ids[i]), "ids[%d] = %s", i, ids[i]);

    command_ok(r, "FUNCTION FLUSH");
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, ids), N, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 2 * N, "each job scheduled once");
    free(ids);
    free(jobs);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, old_opts_size_ignores_the_new_members)
{
    sluice_client *c = connect_test();
    /* A caller built against the header that ended at delay_ms. */
    sluice_enqueue_opts o = {.size = offsetof(sluice_enqueue_opts, delay_ms) + sizeof(uint64_t),
                             .at_ms = 1700000000000ULL,
                             .idempotency_key = "beyond-size"};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), 0, "%s", sluice_client_error(c));
    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1, "a plain XADD");
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}:sched sluice:{q}:idem:beyond-size"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, batch_of_10000)
{
    enum { N = 10000 };
    sluice_client *c = connect_test();
    sluice_job_spec *jobs = calloc(N, sizeof *jobs);
    char(*payloads)[32] = calloc(N, 32);
    char(*ids)[SLUICE_ID_MAX] = calloc(N, SLUICE_ID_MAX);
    cr_assert(jobs && payloads && ids);
    for (int i = 0; i < N; i++) {
        snprintf(payloads[i], 32, "{\"n\":%d}", i);
        jobs[i] = (sluice_job_spec){.type = "bulk.item", .payload = payloads[i]};
    }
    cr_assert_eq(sluice_enqueue_batch(c, "bulk", jobs, N, ids), N, "%s", sluice_client_error(c));

    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{bulk}"), N);
    unsigned long long pms = 0, pseq = 0;
    for (int i = 0; i < N; i++) {
        unsigned long long ms, seq;
        parse_sid(ids[i], &ms, &seq);
        if (i > 0)
            cr_assert(ms > pms || (ms == pms && seq > pseq), "ids[%d] %s not after ids[%d]", i, ids[i], i - 1);
        pms = ms;
        pseq = seq;
    }
    /* The stream holds the jobs in order, under the returned ids. */
    redisReply *rep = redisCommand(r, "XRANGE sluice:{bulk} - +");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == N);
    for (int i = 0; i < N; i++) {
        cr_assert_str_eq(rep->element[i]->element[0]->str, ids[i]);
        cr_assert_str_eq(th_field(rep->element[i]->element[1], "payload")->str, payloads[i]);
    }
    freeReplyObject(rep);
    redisFree(r);
    free(ids);
    free(payloads);
    free(jobs);
    sluice_client_free(c);
}

/* An error reply in the middle of a chunk (job 300 of 1500: its idempotency key
 * holds a hash, so FCALL sluice_enqueue fails with WRONGTYPE): every other
 * reply of that chunk is still read and confirmed, the error names job 300,
 * and the batch stops after the chunk (jobs 1000..1499 are not sent). */
Test(client, error_reply_mid_chunk_confirms_the_rest_of_the_chunk)
{
    enum { N = 1500, BAD = 300 };
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    command_ok(r, "HSET sluice:{q}:idem:taken f v");
    sluice_enqueue_opts bad = {.size = sizeof bad, .idempotency_key = "taken"};
    sluice_job_spec *jobs = calloc(N, sizeof *jobs);
    char(*ids)[SLUICE_ID_MAX] = calloc(N, SLUICE_ID_MAX);
    cr_assert(jobs && ids);
    for (int i = 0; i < N; i++)
        jobs[i] = (sluice_job_spec){.type = "t", .opts = i == BAD ? &bad : NULL};
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, N, ids), 999, "%s", sluice_client_error(c));
    cr_assert(strstr(sluice_client_error(c), "jobs[300]") && strstr(sluice_client_error(c), "WRONGTYPE"), "%s",
              sluice_client_error(c));
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 999, "the chunk's other jobs, nothing of the next chunk");
    for (int i = 0; i < N; i++) {
        int confirmed = i < 1000 && i != BAD;
        cr_assert_eq(ids[i][0] != '\0', confirmed, "ids[%d] = \"%s\"", i, ids[i]);
    }
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 999);
    for (int i = 0, k = 0; i < 1000; i++)
        if (i != BAD)
            cr_assert_str_eq(rep->element[k++]->element[0]->str, ids[i], "job %d", i);
    freeReplyObject(rep);
    /* The connection stayed in step: the next call works. */
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 10, ids), 10, "%s", sluice_client_error(c));
    free(ids);
    free(jobs);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, batch_with_a_bad_job_sends_nothing)
{
    sluice_client *c = connect_test();
    sluice_job_spec jobs[6];
    for (int i = 0; i < 6; i++)
        jobs[i] = (sluice_job_spec){.type = "ok.type", .payload = "{}"};
    jobs[3].type = "Bad Type";
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 6, NULL), -1);
    cr_assert(strstr(sluice_client_error(c), "jobs[3]: invalid type \"Bad Type\""), "%s", sluice_client_error(c));

    jobs[3].type = "ok.type";
    jobs[5].payload = "{\"a\":";
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 6, NULL), -1);
    cr_assert(strstr(sluice_client_error(c), "jobs[5]: payload is not valid JSON"), "%s", sluice_client_error(c));

    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 0);
    redisFree(r);

    jobs[5].payload = NULL;
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 6, NULL), 6, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 0, NULL), 0);
    sluice_client_free(c);
}

Test(client, bad_url_errors_never_show_the_password)
{
    char err[512];
    const char *urls[] = {
        "redis://alice:s3cretpw@127.0.0.1:1/0", /* nothing listens on port 1 */
        "redis://:s3cretpw@127.0.0.1:notaport/0", /* malformed */
        "rediss://:s3cretpw@127.0.0.1:6379/0", /* unsupported scheme */
    };
    for (size_t i = 0; i < 3; i++) {
        err[0] = '\0';
        cr_assert_null(sluice_client_new(urls[i], NULL, err, sizeof err), "%s", urls[i]);
        cr_assert_neq(err[0], '\0', "an error message is given for %s", urls[i]);
        cr_assert_null(strstr(err, "s3cretpw"), "password leaked: %s", err);
    }
    cr_assert_null(sluice_client_new(urls[0], NULL, NULL, 0), "err may be NULL");
}

Test(client, url_from_environment)
{
    char err[512];
    cr_assert_eq(setenv("SLUICE_REDIS_URL", th_redis_url(), 1), 0);
    sluice_client *c = sluice_client_new(NULL, NULL, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    sluice_client_free(c);
    cr_assert_eq(setenv("SLUICE_REDIS_URL", "redis://127.0.0.1:1/0", 1), 0);
    cr_assert_null(sluice_client_new(NULL, NULL, err, sizeof err));
    cr_assert(strstr(err, "127.0.0.1:1"), "the env URL was used: %s", err);
    unsetenv("SLUICE_REDIS_URL");
}

Test(client, invalid_json_refused)
{
    sluice_client *c = connect_test();
    const char *bad[] = {"{", "{\"a\":1} trailing", "not json", "", "{\"a\":\"\x01\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(sluice_enqueue(c, "q", "t", bad[i], strlen(bad[i]), NULL, NULL, 0), -1, "%s", bad[i]);
        cr_assert(strstr(sluice_client_error(c), "payload is not valid JSON"), "%s", sluice_client_error(c));
    }
    /* payload_len counts: a NUL inside is not JSON. */
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}\0x", 4, NULL, NULL, 0), -1);
    cr_assert_eq(sluice_enqueue(c, "q", "t", "42", 0, NULL, NULL, 0), 0, "any JSON value: %s", sluice_client_error(c));
    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, oversize_refused)
{
    char err[512];
    sluice_client_opts co = {.size = sizeof co, .max_payload_bytes = 16};
    sluice_client *c = sluice_client_new(th_redis_url(), &co, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    const char *p16 = "\"12345678901234\""; /* 16 bytes */
    const char *p17 = "\"123456789012345\"";
    cr_assert_eq(sluice_enqueue(c, "q", "t", p16, 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "q", "t", p17, 0, NULL, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "payload is 17 bytes, more than the limit of 16"), "%s",
              sluice_client_error(c));
    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, invalid_names_and_ids_refused)
{
    sluice_client *c = connect_test();
    cr_assert_eq(sluice_enqueue(c, "bad queue", "t", "{}", 0, NULL, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "invalid queue name \"bad queue\""), "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, NULL, "t", "{}", 0, NULL, NULL, 0), -1);
    cr_assert_eq(sluice_enqueue(c, "q", NULL, "{}", 0, NULL, NULL, 0), -1);
    cr_assert_eq(sluice_enqueue(c, "q", "Bad Type", "{}", 0, NULL, NULL, 0), -1);
    cr_assert_str_eq(sluice_client_error(c), "invalid type \"Bad Type\" (expected [a-z0-9_.-]{1,128})");
    sluice_enqueue_opts o = {.size = sizeof o, .job_id = "has space"};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "field 'id'"), "%s", sluice_client_error(c));
    char small[8];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, small, sizeof small), -1);
    cr_assert(strstr(sluice_client_error(c), "too small"), "%s", sluice_client_error(c));
    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, reconnects_once_after_the_server_closed_the_connection)
{
    sluice_client *c = connect_test();
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    redisContext *r = th_redis();
    cr_assert_geq(th_int(r, "CLIENT KILL TYPE normal SKIPME yes"), 1);
    th_sleep_ms(50);
    char id[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, id, sizeof id), 0, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 2, "enqueued exactly once after the reconnect");
    redisFree(r);
    sluice_client_free(c);
}

Test(client, lost_reply_is_reported_not_retried)
{
    char err[512];
    sluice_client_opts co = {.size = sizeof co, .command_timeout_ms = 200};
    sluice_client *c = sluice_client_new(th_redis_url(), &co, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "CLIENT PAUSE 1000 WRITE");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "may or may not have been enqueued"), "%s", sluice_client_error(c));
    th_sleep_ms(1200);
    cr_assert_leq(th_int(r, "XLEN sluice:{q}"), 1, "never sent twice");
    /* The client recovers on the next call. */
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, NULL, 0), 0, "%s", sluice_client_error(c));
    redisFree(r);
    sluice_client_free(c);
}

Test(client, free_null_and_version)
{
    sluice_client_free(NULL);
    cr_assert_str_eq(sluice_version(), "0.1.0");
    cr_assert_str_eq(sluice_client_error(NULL), "client is NULL");
}

Test(client, cancel_reports_each_outcome_and_its_state)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts o = {.size = sizeof o, .delay_ms = 3600000, .job_id = "c-1"};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), 0, "%s", sluice_client_error(c));
    cr_assert_eq(th_int(r, "ZCARD sluice:{q}:sched"), 1);

    cr_assert_eq(sluice_cancel(c, "q", "c-1"), SLUICE_CANCEL_CANCELLED, "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "scheduled");
    cr_assert_str_eq(sluice_client_error(c), "");
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}:sched"), 0, "removed from the schedule");
    redisReply *rep = redisCommand(r, "HGET sluice:{q}:cancelled:c-1 state");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, "scheduled");
    freeReplyObject(rep);
    long long ttl = th_int(r, "TTL sluice:{q}:cancelled:c-1");
    cr_assert(ttl > SLUICE_CANCEL_TTL_DEFAULT - 10 && ttl <= SLUICE_CANCEL_TTL_DEFAULT, "record TTL %lld", ttl);

    cr_assert_eq(sluice_cancel(c, "q", "c-1"), SLUICE_CANCEL_ALREADY, "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "scheduled");
    cr_assert_eq(sluice_cancel(c, "q", "nosuch"), SLUICE_CANCEL_NOT_FOUND, "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "");
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}:cancelled:nosuch"), 0);

    /* completed in its only group */
    char sid[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, NULL, sid, sizeof sid), 0, "%s", sluice_client_error(c));
    command_ok(r, "XGROUP CREATE sluice:{q} g 0");
    command_ok(r, "XREADGROUP GROUP g c1 COUNT 1 STREAMS sluice:{q} >");
    cr_assert_eq(th_int(r, "XACK sluice:{q} g %s", sid), 1);
    cr_assert_eq(sluice_cancel(c, "q", sid), SLUICE_CANCEL_FINISHED, "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "");
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1, "nothing changed");

    /* bad calls: -1 with the reason */
    cr_assert_eq(sluice_cancel(c, "bad queue", "c-1"), -1);
    cr_assert(strstr(sluice_client_error(c), "invalid queue name \"bad queue\""), "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "");
    cr_assert_eq(sluice_cancel(c, NULL, "c-1"), -1);
    cr_assert_eq(sluice_cancel(c, "q", ""), -1);
    cr_assert(strstr(sluice_client_error(c), "invalid job id"), "%s", sluice_client_error(c));
    cr_assert_eq(sluice_cancel(c, "q", NULL), -1);
    cr_assert(strstr(sluice_client_error(c), "invalid job id"), "%s", sluice_client_error(c));
    cr_assert_eq(sluice_cancel(NULL, "q", "c-1"), -1);
    cr_assert_str_eq(sluice_cancel_last_state(NULL), "");
    redisFree(r);
    sluice_client_free(c);
}

Test(client, unique_job_is_a_duplicate_until_cancelled)
{
    sluice_client *c = connect_test();
    redisContext *r = th_redis();
    sluice_enqueue_opts o = {.size = sizeof o, .idempotency_key = "report-u1", .unique = 1};
    char id1[SLUICE_ID_MAX], id2[SLUICE_ID_MAX];
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, id1, sizeof id1), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0);
    redisReply *rep = redisCommand(r, "XRANGE sluice:{q} - +");
    cr_assert(rep && rep->elements == 1);
    cr_assert_str_eq(rep->element[0]->element[0]->str, id1);
    cr_assert_str_eq(th_field_str(rep->element[0]->element[1], "unique_key"), "report-u1");
    freeReplyObject(rep);

    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, id2, sizeof id2), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 1, "queued: a duplicate");
    cr_assert_str_eq(id2, id1);
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1);

    /* cancelled before any worker read it: deleted, the key free at once */
    cr_assert_eq(sluice_cancel(c, "q", id1), SLUICE_CANCEL_CANCELLED, "%s", sluice_client_error(c));
    cr_assert_str_eq(sluice_cancel_last_state(c), "queued");
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}:idem:report-u1"), 0);
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, id2, sizeof id2), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 0, "enqueued again");
    cr_assert_str_neq(id2, id1);

    /* a plain idempotency key is not released by a cancel: it lasts its TTL */
    sluice_enqueue_opts plain = {.size = sizeof plain, .idempotency_key = "report-p1"};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &plain, id1, sizeof id1), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_cancel(c, "q", id1), SLUICE_CANCEL_CANCELLED, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &plain, id2, sizeof id2), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_last_was_duplicate(c), 1);
    cr_assert_str_eq(id2, id1);

    /* unique needs a key */
    sluice_enqueue_opts nokey = {.size = sizeof nokey, .unique = 1};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &nokey, NULL, 0), -1);
    cr_assert_str_eq(sluice_client_error(c), "unique needs an idempotency_key");
    cr_assert_eq(th_int(r, "XLEN sluice:{q}"), 1, "only the second unique job is left");
    redisFree(r);
    sluice_client_free(c);
}
