/* The schema registry (common/registry*.c) against a real redis-server:
 * register/list/show, identical re-registration as a no-op, incompatible
 * schemas refused with the stored one unchanged, concurrent registrations from
 * separate processes, config/schemas loading, the validation cache and its
 * refresh, and enqueue-time validation in the client API. The CLI is in
 * test_registry_cli.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/registry.h"
#include "sluice/client.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(registry, .init = setup, .timeout = 60);

#define V1 "{\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1}}}"
/* V1 plus an optional "note": compatible */
#define V1B                                                                                                 \
    "{\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":1}," \
    "\"note\":{\"type\":\"string\"}}}"
/* V1 with a raised minimum and a new required field: incompatible */
#define V2_BAD                                                                                                    \
    "{\"type\":\"object\",\"required\":[\"n\",\"m\"],\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":2}," \
    "\"m\":{}}}"

static sl_redis *connect_registry(void)
{
    char err[512];
    sl_redis *r = sl_redis_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    return r;
}

static long long version(void)
{
    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "GET %s", SL_REGISTRY_VERSION_KEY);
    long long v = rep != NULL && rep->type == REDIS_REPLY_STRING ? atoll(rep->str) : 0;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

static char *stored(sl_redis *r, const char *type)
{
    char err[512], *text = NULL;
    int rc = sl_registry_get(r, type, &text, NULL, err, sizeof err);
    cr_assert_geq(rc, 0, "%s", err);
    return text;
}

Test(registry, register_list_show)
{
    sl_redis *r = connect_registry();
    char err[1024];
    sl_registry_entry *v;
    size_t n;

    cr_assert_eq(sl_registry_put(r, "t.one.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_ADDED, "%s", err);
    cr_assert_eq(sl_registry_register(r, "t.two.v1", "{\"title\":\"Two\",\"type\":\"string\"}", err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(version(), 2);
    cr_assert_eq(sl_registry_list(r, &v, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(v[0].type, "t.one.v1");
    cr_assert_str_eq(v[0].json, V1); /* stored compact, as cJSON prints it */
    cr_assert_str_eq(v[1].type, "t.two.v1");
    cr_assert_eq(v[1].len, strlen(v[1].json));
    sl_registry_entries_free(v, n);

    /* any client can fetch it */
    redisContext *c = th_redis();
    redisReply *rep = redisCommand(c, "HGET %s t.one.v1", SL_REGISTRY_KEY);
    cr_assert(rep && rep->type == REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->str, V1);
    freeReplyObject(rep);
    redisFree(c);

    char *text = stored(r, "t.none.v1");
    cr_assert_null(text);
    sl_redis_free(r);
}

Test(registry, identical_registration_is_a_noop)
{
    sl_redis *r = connect_registry();
    char err[1024];
    const char *spaced = "{ \"type\": \"object\",\n \"required\": [\"n\"],\n \"properties\": {\"n\": {\"type\": "
                         "\"integer\", \"minimum\": 1}}}\n";

    cr_assert_eq(sl_registry_put(r, "t.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_ADDED);
    cr_assert_eq(sl_registry_put(r, "t.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_UNCHANGED, "%s", err);
    cr_assert_eq(sl_registry_put(r, "t.v1", spaced, strlen(spaced), NULL, err, sizeof err), SL_REG_UNCHANGED);
    cr_assert_eq(version(), 1);
    cr_assert_eq(sl_registry_put(r, "t.v1", V1B, strlen(V1B), NULL, err, sizeof err), SL_REG_UPDATED, "%s", err);
    cr_assert_eq(version(), 2);
    sl_redis_free(r);
}

Test(registry, incompatible_refused_and_stored_unchanged)
{
    sl_redis *r = connect_registry();
    sl_compat_report rep = {0};
    char err[2048];

    cr_assert_eq(sl_registry_put(r, "t.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_ADDED);
    cr_assert_eq(sl_registry_put(r, "t.v1", V2_BAD, strlen(V2_BAD), &rep, err, sizeof err), SL_REG_INCOMPATIBLE);
    cr_assert_eq(rep.n, 2, "%s", err);
    cr_assert_str_eq(rep.changes[0].pointer, "/properties/n");
    cr_assert(strstr(err, "/properties/n: minimum raised from 1 to 2"), "%s", err);
    cr_assert(strstr(err, "/properties/m: new required field \"m\""), "%s", err);
    sl_compat_report_free(&rep);
    char *text = stored(r, "t.v1");
    cr_assert_str_eq(text, V1);
    free(text);
    cr_assert_eq(version(), 1);
    cr_assert_eq(sl_registry_register(r, "t.v1", V2_BAD, err, sizeof err), -1);

    /* not a schema, bad type names */
    cr_assert_eq(sl_registry_put(r, "t.v2", "{\"type\":3}", 10, NULL, err, sizeof err), SL_REG_INVALID);
    cr_assert(strstr(err, "not a valid schema"), "%s", err);
    cr_assert_eq(sl_registry_put(r, "Bad Type", V1, strlen(V1), NULL, err, sizeof err), SL_REG_INVALID);
    cr_assert(strstr(err, "invalid type"), "%s", err);
    sl_redis_free(r);
}

/* Register `json` for type in a child process with its own connection, after
 * the parent writes a byte on go. Exits with the outcome. */
static pid_t racer(const char *type, const char *json, int go)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char err[2048], b;
        sl_redis *r = sl_redis_new(th_redis_url(), NULL, err, sizeof err);
        if (r == NULL || sl_redis_connect(r) != 0 || read(go, &b, 1) != 1)
            _exit(100);
        int o = sl_registry_put(r, type, json, strlen(json), NULL, err, sizeof err);
        sl_redis_free(r);
        _exit(o);
    }
    return pid;
}

Test(registry, concurrent_registrations_never_store_an_incompatible_schema)
{
    /* From S0, A adds property "a" and B adds "b". Each is compatible with S0,
     * but not with the other (it drops the other's property). Whoever writes
     * second must see the first's schema and be refused, however they interleave. */
    const char *s0 = "{\"properties\":{\"id\":{}}}";
    const char *sa = "{\"properties\":{\"id\":{},\"a\":{}}}";
    const char *sb = "{\"properties\":{\"id\":{},\"b\":{}}}";
    sl_redis *r = connect_registry();
    char err[1024];

    for (int round = 0; round < 30; round++) {
        int fds[2], st_a, st_b;
        th_flushall();
        cr_assert_eq(sl_registry_put(r, "race.v1", s0, strlen(s0), NULL, err, sizeof err), SL_REG_ADDED, "%s", err);
        cr_assert_eq(pipe(fds), 0);
        pid_t a = racer("race.v1", sa, fds[0]), b = racer("race.v1", sb, fds[0]);
        cr_assert_eq(write(fds[1], "go", 2), 2);
        close(fds[1]);
        cr_assert(th_wait_exit(a, 20000, &st_a) && th_wait_exit(b, 20000, &st_b));
        close(fds[0]);
        int oa = WEXITSTATUS(st_a), ob = WEXITSTATUS(st_b);
        cr_assert((oa == SL_REG_UPDATED && ob == SL_REG_INCOMPATIBLE) ||
                      (oa == SL_REG_INCOMPATIBLE && ob == SL_REG_UPDATED),
                  "round %d: outcomes %d and %d", round, oa, ob);
        char *text = stored(r, "race.v1");
        cr_assert_str_eq(text, oa == SL_REG_UPDATED ? sa : sb);
        free(text);
        cr_assert_eq(version(), 2, "round %d", round);
    }
    sl_redis_free(r);
}

Test(registry, load_dir_registers_config_schemas)
{
    sl_redis *r = connect_registry();
    char err[2048];
    sl_schema_error e;

    cr_assert_eq(sl_registry_load_dir(r, SLUICE_SOURCE_DIR "/config/schemas", err, sizeof err), 0, "%s", err);
    long long v = version();
    cr_assert_geq(v, 1);
    cr_assert_eq(sl_registry_load_dir(r, SLUICE_SOURCE_DIR "/config/schemas", err, sizeof err), 0, "%s", err);
    cr_assert_eq(version(), v, "loading the same files again changes nothing");

    /* the example plugin's payload (examples/plugins/orders.c) */
    sl_registry_cache *c = sl_registry_cache_new(r);
    const char *good = "{\"order_id\":\"A-1001\",\"customer\":\"c-42\",\"currency\":\"EUR\","
                       "\"items\":[{\"sku\":\"X\",\"qty\":2,\"unit_price\":9.5}]}";
    cr_assert_eq(sl_registry_validate(c, "order.placed.v1", good, strlen(good), &e), 1, "%s: %s", e.pointer, e.message);
    const char *cases[][3] = {
        {"{\"order_id\":\"A\",\"currency\":\"eur\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}",
         "/currency", "pattern"},
        {"{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[]}", "/items", "minItems"},
        {"{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":0,\"unit_price\":1}]}",
         "/items/0/qty", "minimum"},
        {"{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1.5,\"unit_price\":1}]}",
         "/items/0/qty", "type"},
        {"{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":-1}]}",
         "/items/0/unit_price", "minimum"},
        {"{\"order_id\":\"A\",\"currency\":\"EUR\",\"items\":[{\"qty\":1,\"unit_price\":1}]}", "/items/0", "required"},
        {"{\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}", "", "required"},
        {"{\"order_id\":7,\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":1,\"unit_price\":1}]}", "/order_id",
         "type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(sl_registry_validate(c, "order.placed.v1", cases[i][0], strlen(cases[i][0]), &e), 0, "%s",
                     cases[i][0]);
        cr_assert_str_eq(e.pointer, cases[i][1], "%s", cases[i][0]);
        cr_assert_str_eq(e.keyword, cases[i][2], "%s", cases[i][0]);
    }
    sl_registry_cache_free(c);

    /* a bad file name and a bad schema are each reported; the good file still loads */
    th_flushall();
    const char *dir = th_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/schemas", dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "schemas/Bad Name.json");
    free(th_write_file(path, "{}"));
    free(th_write_file("schemas/broken.v1.json", "{\"type\":"));
    free(th_write_file("schemas/fine.v1.json", "{\"type\":\"object\"}"));
    free(th_write_file("schemas/notes.txt", "ignored"));
    snprintf(path, sizeof path, "%s/schemas", dir);
    cr_assert_eq(sl_registry_load_dir(r, path, err, sizeof err), -1);
    cr_assert(strstr(err, "Bad Name.json: the file name must be TYPE.json"), "%s", err);
    cr_assert(strstr(err, "broken.v1.json: not a valid schema"), "%s", err);
    char *text = stored(r, "fine.v1");
    cr_assert_str_eq(text, "{\"type\":\"object\"}");
    free(text);
    cr_assert_eq(sl_registry_load_dir(r, "/nonexistent/schemas", err, sizeof err), 0, "a missing dir is fine");
    sl_redis_free(r);
}

/* A document with a repeated member name (issue 10, item 1: it overflowed a
 * heap array in the compiler) is refused by every way into the registry: put,
 * a schemas_dir file, and a text written into the hash by hand, which the
 * validation cache reports as a broken schema instead of crashing. */
Test(registry, duplicate_members_are_refused_everywhere)
{
    const char *dup = "{\"properties\":{\"a\":{},\"b\":{}},\"properties\":{\"c\":{}}}";
    sl_redis *r = connect_registry();
    char err[2048];
    sl_schema_error e;

    cr_assert_eq(sl_registry_put(r, "dup.v1", dup, strlen(dup), NULL, err, sizeof err), SL_REG_INVALID);
    cr_assert(strstr(err, "duplicate member \"properties\" at /"), "%s", err);
    cr_assert_null(stored(r, "dup.v1"));

    char path[512];
    snprintf(path, sizeof path, "%s/dupdir", th_tmpdir());
    cr_assert_eq(mkdir(path, 0700), 0);
    free(th_write_file("dupdir/dup.v1.json", dup));
    cr_assert_eq(sl_registry_load_dir(r, path, err, sizeof err), -1);
    cr_assert(strstr(err, "dup.v1.json: not a valid schema") && strstr(err, "duplicate member"), "%s", err);
    cr_assert_null(stored(r, "dup.v1"));

    redisContext *c = th_redis();
    freeReplyObject(redisCommand(c, "HSET %s dup.v1 %s", SL_REGISTRY_KEY, dup));
    redisFree(c);
    sl_registry_cache *cache = sl_registry_cache_new(r);
    cr_assert_eq(sl_registry_validate(cache, "dup.v1", "{}", 2, &e), -1);
    cr_assert_str_eq(e.keyword, "schema");
    cr_assert(strstr(e.message, "duplicate member \"properties\" at /"), "%s", e.message);
    sl_registry_cache_free(cache);
    sl_redis_free(r);
}

Test(registry, cache_refreshes_after_a_new_version)
{
    sl_redis *r = connect_registry();
    sl_registry_cache *c = sl_registry_cache_new(r);
    sl_schema_error e;
    char err[1024];
    const char *note5 = "{\"n\":1,\"note\":5}";

    cr_assert_eq(sl_registry_validate(c, "t.v1", "{}", 2, &e), 2, "no schema yet");
    cr_assert_eq(sl_registry_put(r, "t.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_ADDED);
    cr_assert_eq(sl_registry_validate(c, "t.v1", "{}", 2, &e), 2, "\"no schema\" is cached for a second");
    th_sleep_ms(1100);
    cr_assert_eq(sl_registry_validate(c, "t.v1", "{}", 2, &e), 0);
    cr_assert_str_eq(e.keyword, "required");
    cr_assert_eq(sl_registry_validate(c, "t.v1", note5, strlen(note5), &e), 1, "V1 says nothing about note");

    /* a compatible new version that types "note" */
    cr_assert_eq(sl_registry_put(r, "t.v1", V1B, strlen(V1B), NULL, err, sizeof err), SL_REG_UPDATED);
    sl_registry_cache_set_interval(c, 0);
    cr_assert_eq(sl_registry_validate(c, "t.v1", note5, strlen(note5), &e), 0);
    cr_assert_str_eq(e.pointer, "/note");

    /* a schema broken by hand in Redis: reported, not crashed on */
    redisContext *rc = th_redis();
    freeReplyObject(redisCommand(rc, "HSET %s t.v1 {\"type\":", SL_REGISTRY_KEY));
    freeReplyObject(redisCommand(rc, "INCR %s", SL_REGISTRY_VERSION_KEY));
    redisFree(rc);
    cr_assert_eq(sl_registry_validate(c, "t.v1", "{}", 2, &e), -1);
    cr_assert_str_eq(e.keyword, "schema");
    sl_registry_cache_free(c);
    sl_redis_free(r);
}

static sluice_client *client(int skip)
{
    char err[512];
    sluice_client_opts o = {.size = sizeof o, .skip_schema = skip};
    sluice_client *c = sluice_client_new(th_redis_url(), &o, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    return c;
}

static long long xlen(const char *queue)
{
    redisContext *c = th_redis();
    long long n = th_int(c, "XLEN sluice:{%s}", queue);
    redisFree(c);
    return n;
}

Test(registry, client_refuses_invalid_payloads)
{
    sl_redis *r = connect_registry();
    char err[2048], id[SLUICE_ID_MAX];
    cr_assert_eq(sl_registry_load_dir(r, SLUICE_SOURCE_DIR "/config/schemas", err, sizeof err), 0, "%s", err);
    sl_redis_free(r);

    sluice_client *c = client(0);
    const char *good =
        "{\"order_id\":\"A-1\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":2,\"unit_price\":1}]}";
    const char *bad =
        "{\"order_id\":\"A-2\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":0,\"unit_price\":1}]}";
    cr_assert_eq(sluice_enqueue(c, "orders", "order.placed.v1", good, 0, NULL, id, sizeof id), 0, "%s",
                 sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "orders", "order.placed.v1", bad, 0, NULL, id, sizeof id), -1);
    cr_assert(strstr(sluice_client_error(c), "payload violates schema order.placed.v1 at /items/0/qty: minimum ("),
              "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "orders", "other.type.v1", "{\"x\":1}", 0, NULL, id, sizeof id), 0,
                 "no schema: accepted");
    cr_assert_eq(xlen("orders"), 2);

    /* a batch is all-or-nothing and names the job */
    sluice_job_spec jobs[5];
    for (int i = 0; i < 5; i++)
        jobs[i] = (sluice_job_spec){"order.placed.v1", i == 3 ? bad : good, 0, NULL};
    cr_assert_eq(sluice_enqueue_batch(c, "orders", jobs, 5, NULL), -1);
    cr_assert(
        strstr(sluice_client_error(c), "jobs[3]: payload violates schema order.placed.v1 at /items/0/qty: minimum"),
        "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_batch_refused_index(c), 3);
    cr_assert_eq(xlen("orders"), 2);
    jobs[3].payload = good;
    cr_assert_eq(sluice_enqueue_batch(c, "orders", jobs, 5, NULL), 5, "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue_batch_refused_index(c), -1);
    sluice_client_free(c);

    /* skip_schema */
    c = client(1);
    cr_assert_eq(sluice_enqueue(c, "orders", "order.placed.v1", bad, 0, NULL, id, sizeof id), 0, "%s",
                 sluice_client_error(c));
    sluice_client_free(c);
    cr_assert_eq(xlen("orders"), 8);
}

Test(registry, client_sees_a_new_schema_within_a_second)
{
    sluice_client *c = client(0);
    sl_redis *r = connect_registry();
    char err[1024], id[SLUICE_ID_MAX];

    cr_assert_eq(sluice_enqueue(c, "q", "t.v1", "{}", 0, NULL, id, sizeof id), 0, "%s", sluice_client_error(c));
    cr_assert_eq(sl_registry_put(r, "t.v1", V1, strlen(V1), NULL, err, sizeof err), SL_REG_ADDED);
    th_sleep_ms(1100);
    cr_assert_eq(sluice_enqueue(c, "q", "t.v1", "{}", 0, NULL, id, sizeof id), -1);
    cr_assert(strstr(sluice_client_error(c), "at (root): required"), "%s", sluice_client_error(c));
    cr_assert_eq(sluice_enqueue(c, "q", "t.v1", "{\"n\":1,\"note\":5}", 0, NULL, id, sizeof id), 0);
    cr_assert_eq(sl_registry_put(r, "t.v1", V1B, strlen(V1B), NULL, err, sizeof err), SL_REG_UPDATED);
    th_sleep_ms(1100);
    cr_assert_eq(sluice_enqueue(c, "q", "t.v1", "{\"n\":1,\"note\":5}", 0, NULL, id, sizeof id), -1);
    cr_assert(strstr(sluice_client_error(c), "at /note: type"), "%s", sluice_client_error(c));
    sl_redis_free(r);
    sluice_client_free(c);
}
