/* Validation at consume: a real sluice-worker checks each payload against the
 * schema registered for its type before the handler runs. An invalid payload
 * goes to the group's DLQ with reason "schema" and the JSON pointer of the
 * first violation, and is never retried; a valid one runs. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/redis.h"
#include "common/registry.h"
#include "support/th.h"

static const char *const schema =
    "{\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0}}}";

static void setup(void)
{
    th_flushall();
}

static int dlq_has_two(void *arg)
{
    (void)arg;
    redisContext *c = th_redis();
    long long n = th_int(c, "XLEN sluice:{sq}:dlq:p");
    redisFree(c);
    return n == 2;
}

Test(schema_consume, invalid_payloads_are_dead_lettered_with_their_pointer, .init = setup, .timeout = 60)
{
    th_register_schema("test.record", schema);

    char *record = NULL, *cfg_json = NULL, *log = NULL;
    cr_assert(asprintf(&record, "%s/schema-record.txt", th_tmpdir()) > 0);
    cr_assert(asprintf(&log, "%s/schema-worker.log", th_tmpdir()) > 0);
    cr_assert(asprintf(&cfg_json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":\"sq\","
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, record) > 0);
    char *cfg = th_write_file("schema-consume.json", cfg_json);

    redisContext *c = th_redis();
    freeReplyObject(redisCommand(c, "XADD sluice:{sq} * type test.record payload %s", "{\"n\":1}"));
    freeReplyObject(redisCommand(c, "XADD sluice:{sq} * type test.record payload %s", "{\"n\":-1}"));
    freeReplyObject(redisCommand(c, "XADD sluice:{sq} * type test.record payload %s", "{\"m\":2}"));

    char *argv[] = {SLUICE_WORKER_BIN, "--config", cfg, "--pool", "p", "--consumer", "c1", NULL};
    pid_t w = th_spawn(argv, NULL, log);
    cr_assert(th_wait_until(dlq_has_two, NULL, 20000), "two schema dead letters expected (see %s)", log);
    th_sleep_ms(300); /* let the valid job's record land if it has not yet */
    kill(w, SIGTERM);
    int st;
    cr_assert(th_wait_exit(w, 10000, &st));

    cr_assert_eq(th_count_lines(record), 1, "only the valid payload ran");
    redisReply *rep = redisCommand(c, "XRANGE sluice:{sq}:dlq:p - +");
    cr_assert_eq(rep->elements, 2);
    const redisReply *a = rep->element[0]->element[1], *b = rep->element[1]->element[1];
    cr_assert_str_eq(th_field(a, "reason")->str, "schema");
    cr_assert(strstr(th_field(a, "error")->str, "at /n: minimum"), "error names pointer and keyword: %s",
              th_field(a, "error")->str);
    cr_assert_str_eq(th_field(b, "reason")->str, "schema");
    cr_assert(strstr(th_field(b, "error")->str, "required"), "error names the keyword: %s", th_field(b, "error")->str);
    cr_assert_str_eq(th_field(a, "attempts")->str, "1", "never retried");
    freeReplyObject(rep);
    cr_assert_eq(th_int(c, "ZCARD sluice:{sq}:sched"), 0, "nothing scheduled for a retry");
    rep = redisCommand(c, "XPENDING sluice:{sq} p");
    cr_assert_eq(rep->element[0]->integer, 0, "nothing pending");
    freeReplyObject(rep);
    redisFree(c);
    free(record);
    free(cfg_json);
    free(log);
    free(cfg);
}

/* ---- one validation budget (issue 10, item 2) ---- */

static int dlq_and_record(void *arg)
{
    const char *record = arg;
    redisContext *c = th_redis();
    long long n = th_int(c, "XLEN sluice:{sq}:dlq:p");
    redisFree(c);
    return n == 1 && th_count_lines(record) == 1;
}

/* 40,000 strings that each make "^(a+)+$" backtrack for most of PCRE2's
 * per-match limit, in an anyOf whose other branch accepts them: an 840 KB
 * payload that once pinned a worker for over 12 minutes. It is dead-lettered
 * "schema" with "validation budget exceeded", never retried, and the next job
 * runs. */
Test(schema_consume, a_payload_over_the_validation_budget_is_dead_lettered, .init = setup, .timeout = 120)
{
    static const char *const redos = "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"string\",\"pattern\":\"^(a+"
                                     ")+$\"},{\"type\":\"string\"}]}}";
    th_register_schema("test.record", redos);

    size_t cap = 40000 * 22 + 8, n = 0;
    char *payload = malloc(cap);
    cr_assert_not_null(payload);
    payload[n++] = '[';
    for (int i = 0; i < 40000; i++)
        n += (size_t)snprintf(payload + n, cap - n, "%s\"aaaaaaaaaaaaaaaaaa!\"", i ? "," : "");
    payload[n++] = ']';
    payload[n] = '\0';

    char *record = th_tmp_path("budget-record.txt"), *log = th_tmp_path("budget-worker.log"), *cfg_json = NULL;
    cr_assert(asprintf(&cfg_json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":\"sq\","
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, record) > 0);
    char *cfg = th_write_file("budget.json", cfg_json);
    redisContext *c = th_redis();
    freeReplyObject(redisCommand(c, "XADD sluice:{sq} * type test.record payload %b", payload, n));
    freeReplyObject(redisCommand(c, "XADD sluice:{sq} * type test.record payload %s", "[\"aaa\",\"b\"]"));

    char *argv[] = {SLUICE_WORKER_BIN, "--config", cfg, "--pool", "p", "--consumer", "c1", NULL};
    pid_t w = th_spawn(argv, NULL, log);
    cr_assert(th_wait_until(dlq_and_record, record, 30000), "one dead letter and one completed job expected (see %s)",
              log);
    th_worker_stop(w, 10000);

    redisReply *rep = redisCommand(c, "XRANGE sluice:{sq}:dlq:p - +");
    cr_assert_eq(rep->elements, 1);
    const redisReply *a = rep->element[0]->element[1];
    cr_assert_str_eq(th_field(a, "reason")->str, "schema");
    cr_assert(strstr(th_field(a, "error")->str, "validation budget exceeded"), "%s", th_field(a, "error")->str);
    cr_assert_str_eq(th_field(a, "attempts")->str, "1", "never retried");
    freeReplyObject(rep);
    cr_assert_eq(th_int(c, "ZCARD sluice:{sq}:sched"), 0, "nothing scheduled for a retry");
    rep = redisCommand(c, "XPENDING sluice:{sq} p");
    cr_assert_eq(rep->element[0]->integer, 0, "nothing pending");
    freeReplyObject(rep);
    cr_assert_eq(th_count_lines(record), 1, "the valid job ran once");
    redisFree(c);
    free(payload);
    free(record);
    free(log);
    free(cfg_json);
    free(cfg);
}
