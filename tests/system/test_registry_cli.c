/* `sluice schema ...` and schema validation in `sluice enqueue`, run as the
 * real binary (SLUICE_BIN) against a real redis-server: output and exit codes
 * of list/show/register/check/validate, --help, usage errors, and refused
 * payloads on the command line and on stdin. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/registry.h"
#include "support/run.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(schema_cli, .init = setup, .timeout = 60);

/* Every run names the test Redis in $SLUICE_REDIS_URL. */
static const char *url_env(void)
{
    static char env[400];
    snprintf(env, sizeof env, "SLUICE_REDIS_URL=%s", th_redis_url());
    return env;
}

/* Run and check the exit code and that stdout (or stderr) contains part. */
static void expect(const char *const *args, const char *stdin_text, int code, const char *out_part,
                   const char *err_part)
{
    th_run_result r = th_run_io(args, stdin_text, url_env());
    cr_assert_eq(r.code, code, "%s %s: exit %d, want %d\nstdout: %s\nstderr: %s", args[0], args[1], r.code, code, r.out,
                 r.err);
    cr_assert(out_part == NULL || strstr(r.out, out_part), "%s %s: stdout lacks \"%s\":\n%s", args[0], args[1],
              out_part, r.out);
    cr_assert(err_part == NULL || strstr(r.err, err_part), "%s %s: stderr lacks \"%s\":\n%s", args[0], args[1],
              err_part, r.err);
    th_run_free(&r);
}

#define ORDER_SCHEMA SLUICE_SOURCE_DIR "/config/schemas/order.placed.v1.json"

/* The `schema` command must be in cli/main.c's table. */
static void require_command(void)
{
    const char *args[] = {"schema", "--help", NULL};
    th_run_result r = th_run_io(args, NULL, url_env());
    cr_assert_eq(r.code, 0, "`sluice schema` is not wired into cli/main.c: %s", r.err);
    cr_assert(strstr(r.out, "usage: sluice schema list"));
    th_run_free(&r);
}

Test(schema_cli, register_list_show)
{
    require_command();
    expect((const char *[]){"schema", "list", NULL}, NULL, 0, "TYPE", NULL);
    expect((const char *[]){"schema", "register", "order.placed.v1", ORDER_SCHEMA, NULL}, NULL, 0,
           "registered order.placed.v1 (new)", NULL);
    expect((const char *[]){"schema", "register", "order.placed.v1", ORDER_SCHEMA, NULL}, NULL, 0,
           "order.placed.v1 unchanged", NULL);
    expect((const char *[]){"schema", "register", "t.v1", "-", NULL}, "{\"title\":\"T\"}", 0, "registered t.v1", NULL);
    expect((const char *[]){"schema", "list", NULL}, NULL, 0,
           "https://schemas.sluice.example/order.placed.v1.json / order.placed.v1", NULL);
    expect((const char *[]){"schema", "list", "--json", NULL}, NULL, 0, "\"type\": \"t.v1\"", NULL);
    expect((const char *[]){"schema", "show", "order.placed.v1", NULL}, NULL, 0, "\"pattern\": \"^[A-Z]{3}$\"", NULL);
    expect((const char *[]){"schema", "show", "none.v1", NULL}, NULL, 1, NULL, "no schema registered for type none.v1");

    th_run_result r = th_run_io((const char *[]){"schema", "list", "--json", NULL}, NULL, url_env());
    cJSON *doc = cJSON_Parse(r.out);
    cr_assert(cJSON_IsArray(doc) && cJSON_GetArraySize(doc) == 2, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(doc, 0), "type")->valuestring, "order.placed.v1");
    cJSON_Delete(doc);
    th_run_free(&r);
}

Test(schema_cli, register_refuses_incompatible)
{
    require_command();
    char *bad = th_write_file("bad.json", "{\"type\":\"object\",\"required\":[\"order_id\",\"customer\"],"
                                          "\"properties\":{\"order_id\":{\"type\":\"integer\"}}}");
    expect((const char *[]){"schema", "register", "order.placed.v1", ORDER_SCHEMA, NULL}, NULL, 0, NULL, NULL);
    th_run_result r = th_run_io((const char *[]){"schema", "register", "order.placed.v1", bad, NULL}, NULL, url_env());
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "refused:"), "%s", r.err);
    cr_assert(strstr(r.err, "  /properties/order_id: type changed from [\"string\"] to [\"integer\"]\n"), "%s", r.err);
    cr_assert(strstr(r.err, "  /properties/customer: new required field \"customer\"\n"), "%s", r.err);
    cr_assert(strstr(r.err, "  /properties/items: property removed\n"), "%s", r.err);
    th_run_free(&r);
    /* unchanged in Redis */
    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "HGET %s order.placed.v1", SL_REGISTRY_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strstr(rep->str, "\"items\""));
    freeReplyObject(rep);
    redisFree(c);
    expect((const char *[]){"schema", "register", "x.v1", "/nonexistent.json", NULL}, NULL, 1, NULL,
           "open(/nonexistent.json)");
    char *notschema = th_write_file("notschema.json", "{\"minimum\":\"x\"}");
    expect((const char *[]){"schema", "register", "x.v1", notschema, NULL}, NULL, 1, NULL, "not a valid schema");
    free(notschema);
    free(bad);
}

Test(schema_cli, check_two_files)
{
    require_command();
    char *old = th_write_file("old.json", "{\"properties\":{\"qty\":{\"type\":[\"integer\",\"string\"]},\"a\":{}}}");
    char *widened = th_write_file("new-ok.json", "{\"properties\":{\"qty\":{\"type\":[\"number\",\"string\"]},"
                                                 "\"a\":{},\"b\":{\"type\":\"string\"}}}");
    char *narrowed = th_write_file("new-bad.json", "{\"properties\":{\"qty\":{\"type\":[\"integer\"]},"
                                                   "\"a\":{\"oneOf\":[{}]}}}");
    expect((const char *[]){"schema", "check", old, widened, NULL}, NULL, 0, "compatible\n", NULL);
    th_run_result r = th_run_io((const char *[]){"schema", "check", old, narrowed, NULL}, NULL, url_env());
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.out, "/properties/qty: type narrowed from [\"integer\",\"string\"] to [\"integer\"]\n"
                            "unverifiable change at /properties/a/oneOf (oneOf added or changed)\n");
    th_run_free(&r);
    expect((const char *[]){"schema", "check", old, "/nonexistent.json", NULL}, NULL, 1, NULL,
           "open(/nonexistent.json)");
    expect((const char *[]){"schema", "check", old, NULL}, NULL, 2, NULL, "missing argument");
    free(old);
    free(widened);
    free(narrowed);
}

/* The reproducer of issue 10, item 1: a repeated keyword crashed `schema check`
 * (heap overflow in the compiler); it is refused with the member and pointer. */
Test(schema_cli, duplicate_members_are_refused)
{
    require_command();
    char *dup = th_write_file("dup.json", "{\"properties\":{\"a\":{},\"b\":{}},\"properties\":{\"c\":{}}}");
    expect((const char *[]){"schema", "check", dup, dup, NULL}, NULL, 1, NULL, "duplicate member \"properties\" at /");
    expect((const char *[]){"schema", "register", "dup.v1", dup, NULL}, NULL, 1, NULL,
           "duplicate member \"properties\" at /");
    redisContext *c = th_redis();
    cr_assert_eq(th_int(c, "HEXISTS %s dup.v1", SL_REGISTRY_KEY), 0, "nothing registered");
    redisFree(c);
    free(dup);
}

Test(schema_cli, validate_payloads)
{
    require_command();
    expect((const char *[]){"schema", "register", "order.placed.v1", ORDER_SCHEMA, NULL}, NULL, 0, NULL, NULL);
    const char *good =
        "{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}";
    expect((const char *[]){"schema", "validate", "order.placed.v1", good, NULL}, NULL, 0, "valid\n", NULL);
    expect((const char *[]){"schema", "validate", "order.placed.v1", "-", NULL}, good, 0, "valid\n", NULL);
    expect((const char *[]){"schema", "validate", "order.placed.v1",
                            "{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[]}", NULL},
           NULL, 1, "invalid at /items: minItems (", NULL);
    expect((const char *[]){"schema", "validate", "order.placed.v1", "{}", NULL}, NULL, 1,
           "invalid at (root): required", NULL);
    expect((const char *[]){"schema", "validate", "order.placed.v1", "{", NULL}, NULL, 1, NULL, "cannot validate");
    expect((const char *[]){"schema", "validate", "none.v1", "{}", NULL}, NULL, 1, NULL, "no schema registered");
}

Test(schema_cli, help_and_usage_errors)
{
    require_command();
    expect((const char *[]){"schema", "register", "--help", NULL}, NULL, 0, "usage: sluice schema", NULL);
    expect((const char *[]){"schema", NULL}, NULL, 2, NULL, "missing subcommand");
    expect((const char *[]){"schema", "nope", NULL}, NULL, 2, NULL, "unknown subcommand");
    expect((const char *[]){"schema", "show", "Bad Type", NULL}, NULL, 2, NULL, "invalid type");
    expect((const char *[]){"schema", "list", "extra", NULL}, NULL, 2, NULL, "unexpected argument");
    expect((const char *[]){"schema", "show", "--json", "t.v1", NULL}, NULL, 2, NULL, "--json is for list only");
    expect((const char *[]){"schema", "list", "--bogus", NULL}, NULL, 2, NULL, "unknown option");
    expect((const char *[]){"schema", "list", "-u", "redis://:hunter2@127.0.0.1:1/0", NULL}, NULL, 1, NULL,
           "cannot connect to redis://:***@127.0.0.1:1/0");
}

static long long xlen(const char *queue)
{
    redisContext *c = th_redis();
    long long n = th_int(c, "XLEN sluice:{%s}", queue);
    redisFree(c);
    return n;
}

Test(schema_cli, enqueue_refuses_invalid_payloads)
{
    require_command();
    expect((const char *[]){"schema", "register", "order.placed.v1", ORDER_SCHEMA, NULL}, NULL, 0, NULL, NULL);
    const char *bad =
        "{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":0,\"unit_price\":1}]}";
    expect((const char *[]){"enqueue", "orders", "order.placed.v1", bad, NULL}, NULL, 1, NULL,
           "sluice enqueue: payload violates schema order.placed.v1 at /items/0/qty: minimum (");
    cr_assert_eq(xlen("orders"), 0);
    expect((const char *[]){"enqueue", "--skip-schema", "orders", "order.placed.v1", bad, NULL}, NULL, 0, "-", NULL);
    cr_assert_eq(xlen("orders"), 1);

    /* stdin: the lines before the bad one go out, none from it on */
    const char *lines =
        "{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}\n"
        "{\"order_id\":\"B\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}\n"
        "\n"
        "{\"order_id\":\"C\",\"currency\":\"eur\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}\n"
        "{\"order_id\":\"D\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}\n";
    th_run_result r = th_run_io((const char *[]){"enqueue", "orders", "order.placed.v1", "-", NULL}, lines, url_env());
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strstr(r.err, "stdin line 4: payload violates schema order.placed.v1 at /currency: pattern"), "%s",
              r.err);
    cr_assert(strstr(r.err, "enqueued 2 jobs"), "%s", r.err);
    th_run_free(&r);
    cr_assert_eq(xlen("orders"), 3);
    expect((const char *[]){"enqueue", "orders", "no.schema.v1", "{\"x\":1}", NULL}, NULL, 0, "-", NULL);
}
