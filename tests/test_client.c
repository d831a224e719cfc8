/* The producer API (include/sluice/client.h) against a real redis-server:
 * exact entry fields, options, a 10,000-job pipelined batch, all-or-nothing
 * validation, redacted connection errors, and no duplicate after a reconnect. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/client.h"
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

/* The value of field `name` in a flat [f, v, f, v...] reply, or NULL. */
static const redisReply *field(const redisReply *fv, const char *name)
{
    for (size_t i = 0; i + 1 < fv->elements; i += 2)
        if (strcmp(fv->element[i]->str, name) == 0)
            return fv->element[i + 1];
    return NULL;
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
    cr_assert_eq(sluice_enqueue(c, "mail", "email.send", "{\"to\":\"a@b.c\"}", 0, NULL, id, sizeof id), 0,
                 "%s", sluice_client_error(c));
    long long after = now_ms();
    cr_assert_str_eq(sluice_client_error(c), "");

    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{mail} - +");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1);
    const redisReply *entry = rep->element[0];
    cr_assert_str_eq(entry->element[0]->str, id, "the job id is the stream id");
    const redisReply *fv = entry->element[1];
    cr_assert_eq(fv->elements, 8, "exactly type, payload, enqueued_at, correlation_id");
    cr_assert_str_eq(field(fv, "type")->str, "email.send");
    cr_assert_str_eq(field(fv, "payload")->str, "{\"to\":\"a@b.c\"}");
    cr_assert(is_uuid4(field(fv, "correlation_id")->str), "%s", field(fv, "correlation_id")->str);
    long long at = strtoll(field(fv, "enqueued_at")->str, NULL, 10);
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
    cr_assert_str_eq(field(rep->element[0]->element[1], "payload")->str, "{}");
    cr_assert_str_neq(field(rep->element[0]->element[1], "correlation_id")->str,
                      field(rep->element[1]->element[1], "correlation_id")->str);
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
    cr_assert_eq(sluice_enqueue(c, "orders", "order.placed.v2", "[1,2]xyz", 5, &o, id, sizeof id), 0,
                 "%s", sluice_client_error(c));
    cr_assert_str_eq(id, "order-42", "id_out is the job id when one is given");

    redisContext *r = th_redis();
    redisReply *rep = redisCommand(r, "XRANGE sluice:{orders} - +");
    cr_assert(rep && rep->elements == 1);
    const redisReply *fv = rep->element[0]->element[1];
    cr_assert_eq(fv->elements, 14);
    cr_assert_str_eq(field(fv, "id")->str, "order-42");
    cr_assert_str_eq(field(fv, "payload")->str, "[1,2]", "payload_len is honoured");
    cr_assert_str_eq(field(fv, "correlation_id")->str, "req-7f3a");
    cr_assert_str_eq(field(fv, "causation_id")->str, "1700000000000-0");
    cr_assert_str_eq(field(fv, "traceparent")->str, o.traceparent);
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
    cr_assert_str_eq(field(rep->element[0]->element[1], "id")->str, "kept");
    cr_assert(is_uuid4(field(rep->element[0]->element[1], "correlation_id")->str));
    freeReplyObject(rep);
    redisFree(r);

    o.size = 0;
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), -1);
    cr_assert(strstr(sluice_client_error(c), "opts->size is 0"), "%s", sluice_client_error(c));
    sluice_client_free(c);
}

Test(client, delay_is_refused)
{
    sluice_client *c = connect_test();
    sluice_enqueue_opts o = {.size = sizeof o, .delay_ms = 1000};
    cr_assert_eq(sluice_enqueue(c, "q", "t", "{}", 0, &o, NULL, 0), -1);
    cr_assert_str_eq(sluice_client_error(c), "delay_ms is not supported yet");
    redisContext *r = th_redis();
    cr_assert_eq(th_int(r, "EXISTS sluice:{q}"), 0);
    redisFree(r);
    sluice_client_free(c);
}

Test(client, batch_of_10000)
{
    enum { N = 10000 };
    sluice_client *c = connect_test();
    sluice_job_spec *jobs = calloc(N, sizeof *jobs);
    char (*payloads)[32] = calloc(N, 32);
    char (*ids)[SLUICE_ID_MAX] = calloc(N, SLUICE_ID_MAX);
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
        cr_assert_str_eq(field(rep->element[i]->element[1], "payload")->str, payloads[i]);
    }
    freeReplyObject(rep);
    redisFree(r);
    free(ids);
    free(payloads);
    free(jobs);
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
    cr_assert(strstr(sluice_client_error(c), "jobs[3]: invalid type \"Bad Type\""), "%s",
              sluice_client_error(c));

    jobs[3].type = "ok.type";
    jobs[5].payload = "{\"a\":";
    cr_assert_eq(sluice_enqueue_batch(c, "q", jobs, 6, NULL), -1);
    cr_assert(strstr(sluice_client_error(c), "jobs[5]: payload is not valid JSON"), "%s",
              sluice_client_error(c));

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
        "redis://alice:s3cretpw@127.0.0.1:1/0",  /* nothing listens on port 1 */
        "redis://:s3cretpw@127.0.0.1:notaport/0", /* malformed */
        "rediss://:s3cretpw@127.0.0.1:6379/0",    /* unsupported scheme */
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
    cr_assert_eq(sluice_enqueue(c, "q", "t", "42", 0, NULL, NULL, 0), 0, "any JSON value: %s",
                 sluice_client_error(c));
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
    cr_assert(strstr(sluice_client_error(c), "may or may not have been enqueued"), "%s",
              sluice_client_error(c));
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
