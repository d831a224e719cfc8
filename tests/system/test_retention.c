/* Retention suite: sluice_trim against a real Redis (a lagging group keeps
 * every entry it has not received and acknowledged; age and length policies;
 * no groups; undelivered entries; retry streams; batches; 64-bit sequence
 * numbers) and a real `sluice run` trimming on its own every retention.interval. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/functions.h"
#include "tests/support/mt.h"

#define IDLEN 48

static void load_library(void)
{
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", sl_functions_lua};
    size_t lens[] = {8, 4, 7, sl_functions_lua_len};
    redisReply *r = redisCommandArgv(mt_rc, 4, argv, lens);
    cr_assert(r && r->type == REDIS_REPLY_STRING, "FUNCTION LOAD: %s", r && r->str ? r->str : "no reply");
    freeReplyObject(r);
}

static char saved_maxmemory[32]; /* restored by teardown if a test changed it */

static void setup(void)
{
    mt_setup();
    load_library();
}

static void teardown(void)
{
    if (saved_maxmemory[0] && mt_rc)
        freeReplyObject(redisCommand(mt_rc, "CONFIG SET maxmemory %s", saved_maxmemory));
    mt_teardown();
}

TestSuite(retention, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ------------------------------------------------------------ */

/* A command that must not fail; caller frees. */
static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(mt_rc, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r && r->str ? r->str : "no reply");
    return r;
}

static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(mt_rc, fmt, ap);
    va_end(ap);
    cr_assert(r && r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r && r->str ? r->str : "no reply");
    freeReplyObject(r);
}

/* Pipelined XADD key * of n entries; their ids into ids (may be NULL). */
static void xadd_n(const char *key, int n, char (*ids)[IDLEN])
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(mt_rc, "XADD %s * type t.x n %d", key, i);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(mt_rc, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_STRING);
        if (ids)
            snprintf(ids[i], IDLEN, "%s", r->str);
        freeReplyObject(r);
    }
}

/* XREADGROUP ... COUNT count STREAMS key >: the ids read appended to out at *n. */
static int read_new(const char *key, const char *group, int count, char (*out)[IDLEN], int *n)
{
    redisReply *r = cmd("XREADGROUP GROUP %s c COUNT %d STREAMS %s >", group, count, key);
    int got = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        const redisReply *es = r->element[0]->element[1];
        for (size_t i = 0; i < es->elements; i++, got++)
            if (out)
                snprintf(out[(*n)++], IDLEN, "%s", es->element[i]->element[0]->str);
    }
    freeReplyObject(r);
    return got;
}

/* XACK ids[from..to). */
static void ack(const char *key, const char *group, char (*ids)[IDLEN], int from, int to)
{
    for (int i = from; i < to; i++)
        redisAppendCommand(mt_rc, "XACK %s %s %s", key, group, ids[i]);
    for (int i = from; i < to; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(mt_rc, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_INTEGER);
        cr_assert_eq(r->integer, 1, "XACK %s", ids[i]);
        freeReplyObject(r);
    }
}

typedef struct trim_res {
    long long removed;
    char point[IDLEN], floor[IDLEN];
} trim_res;

/* FCALL sluice_trim 1 key age len [limit [mode]] */
static trim_res trim(const char *key, long long age, long long len, int limit, const char *mode)
{
    trim_res t;
    redisReply *r = mode ? cmd("FCALL sluice_trim 1 %s %lld %lld %d %s", key, age, len, limit, mode)
                         : cmd("FCALL sluice_trim 1 %s %lld %lld %d", key, age, len, limit);
    cr_assert(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "sluice_trim reply");
    cr_assert_eq(r->element[0]->type, REDIS_REPLY_INTEGER);
    t.removed = r->element[0]->integer;
    snprintf(t.point, IDLEN, "%s", r->element[1]->str);
    snprintf(t.floor, IDLEN, "%s", r->element[2]->str);
    freeReplyObject(r);
    return t;
}

/* The first id of the stream, "" when empty. */
static const char *first_id(const char *key, char *buf)
{
    redisReply *r = cmd("XRANGE %s - + COUNT 1", key);
    snprintf(buf, IDLEN, "%s", r->elements ? r->element[0]->element[0]->str : "");
    freeReplyObject(r);
    return buf;
}

/* The oldest pending id of the group (XPENDING summary), "" when none. */
static const char *oldest_pending(const char *key, const char *group, char *buf)
{
    redisReply *r = cmd("XPENDING %s %s", key, group);
    snprintf(buf, IDLEN, "%s", r->element[0]->integer > 0 ? r->element[1]->str : "");
    freeReplyObject(r);
    return buf;
}

static int cmp_id(const void *a, const void *b)
{
    unsigned long long am, as, bm, bs;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am != bm ? (am < bm ? -1 : 1) : (as != bs ? (as < bs ? -1 : 1) : 0);
}

/* got[0..n) sorted equals want[0..n) (already in stream order): every entry once. */
static void assert_each_once(char (*got)[IDLEN], int n, char (*want)[IDLEN], int nwant)
{
    cr_assert_eq(n, nwant, "read %d entries, expected %d", n, nwant);
    qsort(got, (size_t)n, IDLEN, cmp_id);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(got[i], want[i], "entry %d: read %s, enqueued %s", i, got[i], want[i]);
}

/* ---- sluice_trim -------------------------------------------------------- */

/* The scenario: g1 done, g2 lagging (500 read, 300 acked). A trim to
 * 100 entries stops at g2's oldest pending entry; g2 then keeps reading while
 * the stream is trimmed after every batch, and receives every entry once. */
Test(retention, lagging_group_gets_every_entry)
{
    static char ids[2000][IDLEN], g2[4000][IDLEN], buf[IDLEN], pend[IDLEN];
    const char *s = "sluice:{rt1}";
    int n2 = 0;

    xadd_n(s, 2000, ids);
    ok("XGROUP CREATE %s g1 0", s);
    ok("XGROUP CREATE %s g2 0", s);
    cr_assert_eq(read_new(s, "g1", 2000, NULL, &n2), 2000);
    redisReply *r = cmd("XPENDING %s g1 - + 2000", s);
    for (size_t i = 0; i < r->elements; i++)
        ok("XACK %s g1 %s", s, r->element[i]->element[0]->str);
    freeReplyObject(r);
    cr_assert_eq(th_pending(mt_rc, s, "g1"), 0); /* g1 exists: created above */

    cr_assert_eq(read_new(s, "g2", 500, g2, &n2), 500);
    ack(s, "g2", g2, 0, 300);

    trim_res t = trim(s, 0, 100, 10000, NULL);
    cr_assert_eq(t.removed, 300);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 1700);
    cr_assert_str_eq(first_id(s, buf), ids[300], "the first entry left is g2's oldest pending");
    cr_assert_str_eq(oldest_pending(s, "g2", pend), ids[300]);
    cr_assert_str_eq(t.floor, ids[300]);
    /* The point is the successor of the last entry removed (ids[299]): ids[300]
     * itself when both share a millisecond, else ids[299]'s ms with seq + 1. */
    cr_assert(cmp_id(t.point, ids[299]) > 0 && cmp_id(t.point, ids[300]) <= 0, "trim point %s between %s and %s",
              t.point, ids[299], ids[300]);
    cr_assert_eq(trim(s, 0, 100, 10000, NULL).removed, 0, "nothing more may go");

    /* g2 reads on in batches of 250, acking the older half of what it holds;
     * every round is trimmed and nothing it still needs may go. */
    int acked = 300;
    while (read_new(s, "g2", 250, g2, &n2) > 0) {
        int upto = acked + (n2 - acked) / 2;
        ack(s, "g2", g2, acked, upto);
        acked = upto;
        trim(s, 0, 100, 10000, NULL);
        cr_assert_str_eq(first_id(s, buf), ids[acked], "trimmed past g2's oldest pending %s", ids[acked]);
        cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 2000 - acked);
    }
    ack(s, "g2", g2, acked, n2);
    assert_each_once(g2, n2, ids, 2000);

    t = trim(s, 0, 100, 10000, NULL);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 100, "every group done: down to retention_max_len");
    cr_assert_str_eq(first_id(s, buf), ids[1900]);
    cr_assert_eq(t.removed, 2000 - acked - 100);
    cr_assert_eq(trim(s, 0, 100, 10000, NULL).removed, 0);
}

/* No groups: the policy alone. */
Test(retention, no_groups_trims_by_length)
{
    static char ids[2000][IDLEN];
    char buf[IDLEN];
    const char *s = "sluice:{rt2}";

    xadd_n(s, 2000, ids);
    trim_res t = trim(s, 0, 100, 10000, NULL);
    cr_assert_eq(t.removed, 1900);
    cr_assert_str_eq(t.floor, "");
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 100);
    cr_assert_str_eq(first_id(s, buf), ids[1900]);
    cr_assert_eq(trim(s, 0, 100, 10000, NULL).removed, 0);
    cr_assert_eq(trim(s, 0, 0, 10000, NULL).removed, 0, "no policy, nothing trimmed");
    cr_assert_eq(trim(s, 0, 0, 10000, "acked").removed, 0, "acked mode without groups trims nothing");
    cr_assert_eq(trim("sluice:{none}", 1, 1, 10000, NULL).removed, 0, "a missing stream");
}

/* Redis server time in ms. */
static long long redis_now_ms(void)
{
    redisReply *r = cmd("TIME");
    long long ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
    freeReplyObject(r);
    return ms;
}

/* Entries with explicit ids "<ms>-0": 100 two hours old, 50 one minute old. */
static void add_aged(const char *s, long long now)
{
    for (int i = 0; i < 100; i++)
        ok("XADD %s %lld-0 type t.x", s, now - 7200000 + i);
    for (int i = 0; i < 50; i++)
        ok("XADD %s %lld-0 type t.x", s, now - 60000 + i);
}

Test(retention, age_policy)
{
    char buf[IDLEN], want[IDLEN];
    long long now = redis_now_ms();

    /* no groups: exactly the old ones go */
    add_aged("sluice:{rt3}", now);
    trim_res t = trim("sluice:{rt3}", 3600000, 0, 10000, NULL);
    cr_assert_eq(t.removed, 100);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{rt3}"), 50);
    snprintf(want, sizeof want, "%lld-0", now - 60000);
    cr_assert_str_eq(first_id("sluice:{rt3}", buf), want);

    /* a group that received and acked only 40 of the old ones holds the rest */
    add_aged("sluice:{rt4}", now);
    ok("XGROUP CREATE sluice:{rt4} g 0");
    static char got[200][IDLEN];
    int n = 0;
    cr_assert_eq(read_new("sluice:{rt4}", "g", 40, got, &n), 40);
    ack("sluice:{rt4}", "g", got, 0, 40);
    t = trim("sluice:{rt4}", 3600000, 0, 10000, NULL);
    cr_assert_eq(t.removed, 40);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{rt4}"), 110);
    snprintf(want, sizeof want, "%lld-0", now - 7200000 + 40);
    cr_assert_str_eq(first_id("sluice:{rt4}", buf), want, "the first undelivered entry stays");

    /* age and length together: whichever removes more */
    cr_assert_eq(read_new("sluice:{rt4}", "g", 200, got, &n), 110);
    ack("sluice:{rt4}", "g", got, 40, 150);
    cr_assert_eq(trim("sluice:{rt4}", 3600000, 100, 10000, NULL).removed, 60, "age removes more");
    cr_assert_eq(trim("sluice:{rt4}", 3600000, 20, 10000, NULL).removed, 30, "then length does");
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{rt4}"), 20);
}

/* Entries some group has not received stay, whatever the policy says. */
Test(retention, undelivered_entries_are_never_trimmed)
{
    static char ids[1000][IDLEN], got[1000][IDLEN];
    char buf[IDLEN];
    const char *s = "sluice:{rt5}";
    int n = 0;

    xadd_n(s, 1000, ids);
    ok("XGROUP CREATE %s idle 0", s); /* never reads: holds everything */
    cr_assert_eq(trim(s, 0, 10, 10000, NULL).removed, 0);
    cr_assert_eq(trim(s, 1, 0, 10000, NULL).removed, 0);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 1000);

    /* read and acked 50: its last-delivered id is far below the target */
    ok("XGROUP DESTROY %s idle", s);
    ok("XGROUP CREATE %s g 0", s);
    cr_assert_eq(read_new(s, "g", 50, got, &n), 50);
    ack(s, "g", got, 0, 50);
    trim_res t = trim(s, 1, 10, 10000, NULL);
    cr_assert_eq(t.removed, 50);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 950);
    cr_assert_str_eq(first_id(s, buf), ids[50]);
    unsigned long long ms, seq;
    cr_assert_eq(sscanf(ids[49], "%llu-%llu", &ms, &seq), 2);
    snprintf(buf, sizeof buf, "%llu-%llu", ms, seq + 1);
    cr_assert_str_eq(t.floor, buf, "the floor is the successor of the last delivered %s", ids[49]);

    /* a group created at "$" skips what came before: it holds nothing back */
    ok("XGROUP CREATE %s late $", s);
    cr_assert_eq(trim(s, 0, 900, 10000, NULL).removed, 0, "g still holds the rest");
    while (read_new(s, "g", 100, got, &n) > 0)
        ;
    ack(s, "g", got, 50, n);
    cr_assert_eq(n, 1000);
    cr_assert_eq(trim(s, 0, 900, 10000, NULL).removed, 50);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 900);
}

/* Retry streams: mode "acked" removes what the group received and acked. */
Test(retention, retry_stream_keeps_what_is_pending)
{
    static char ids[50][IDLEN], got[50][IDLEN];
    char buf[IDLEN];
    const char *r = "sluice:{rt6}:r:g";
    int n = 0;

    xadd_n(r, 50, ids);
    cr_assert_eq(trim(r, 0, 0, 10000, "acked").removed, 0, "no group yet: kept for it");
    ok("XGROUP CREATE %s g 0", r);
    cr_assert_eq(read_new(r, "g", 45, got, &n), 45);
    ack(r, "g", got, 0, 10);
    ack(r, "g", got, 20, 45); /* 10..19 still pending */
    trim_res t = trim(r, 0, 0, 10000, "acked");
    cr_assert_eq(t.removed, 10);
    cr_assert_str_eq(first_id(r, buf), ids[10]);
    ack(r, "g", got, 10, 20);
    cr_assert_eq(trim(r, 0, 0, 10000, "acked").removed, 35, "up to the undelivered ones");
    cr_assert_str_eq(first_id(r, buf), ids[45]);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", r), 5);
}

Test(retention, one_call_removes_at_most_limit)
{
    const char *s = "sluice:{rt7}";
    xadd_n(s, 2000, NULL);
    cr_assert_eq(trim(s, 0, 100, 500, NULL).removed, 500);
    cr_assert_eq(trim(s, 0, 100, 500, NULL).removed, 500);
    cr_assert_eq(trim(s, 0, 100, 500, NULL).removed, 500);
    cr_assert_eq(trim(s, 0, 100, 500, NULL).removed, 400);
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 100);
}

/* Sequence numbers beyond 2^53 (Lua numbers) are compared exactly. */
Test(retention, sixty_four_bit_sequences)
{
    char buf[IDLEN];
    const char *s = "sluice:{rt8}";
    ok("XADD %s 5-18446744073709551613 type t", s);
    ok("XADD %s 5-18446744073709551614 type t", s);
    ok("XADD %s 5-18446744073709551615 type t", s);
    ok("XADD %s 6-0 type t", s);
    ok("XGROUP CREATE %s g 0", s);
    int n = 0;
    cr_assert_eq(read_new(s, "g", 2, NULL, &n), 2);
    ok("XACK %s g 5-18446744073709551613 5-18446744073709551614", s);
    trim_res t = trim(s, 0, 1, 10000, NULL);
    cr_assert_str_eq(t.floor, "5-18446744073709551615");
    cr_assert_eq(t.removed, 2);
    cr_assert_eq(read_new(s, "g", 1, NULL, &n), 1);
    ok("XACK %s g 5-18446744073709551615", s);
    t = trim(s, 0, 1, 10000, NULL);
    cr_assert_str_eq(t.floor, "6-0", "successor of 5-(2^64-1)");
    cr_assert_eq(t.removed, 1);
    cr_assert_str_eq(first_id(s, buf), "6-0");
}

/* Under noeviction, Redis refuses every other sluice function when out of
 * memory; trimming is how memory comes back, so it must still run. */
Test(retention, runs_when_redis_is_out_of_memory)
{
    const char *s = "sluice:{rt10}";
    xadd_n(s, 300, NULL);
    redisReply *r = cmd("CONFIG GET maxmemory");
    cr_assert_eq(r->elements, 2);
    snprintf(saved_maxmemory, sizeof saved_maxmemory, "%s", r->element[1]->str);
    freeReplyObject(r);
    ok("CONFIG SET maxmemory 1");
    r = redisCommand(mt_rc, "XADD %s * type t", s);
    cr_assert(r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "OOM", 3) == 0, "Redis is not out of memory");
    freeReplyObject(r);
    r = redisCommand(mt_rc, "FCALL sluice_trim 1 %s 0 100", s);
    int removed = r && r->type == REDIS_REPLY_ARRAY ? (int)r->element[0]->integer : -1;
    const char *e = r && r->type == REDIS_REPLY_ERROR ? r->str : "";
    char err[128];
    snprintf(err, sizeof err, "%s", e);
    freeReplyObject(r);
    ok("CONFIG SET maxmemory %s", saved_maxmemory);
    saved_maxmemory[0] = '\0';
    cr_assert_eq(removed, 200, "sluice_trim under OOM: %s", err);
}

Test(retention, bad_arguments_are_errors)
{
    const char *bad[] = {"FCALL sluice_trim 1 sluice:{rt9} -1 0", "FCALL sluice_trim 1 sluice:{rt9} x 0",
                         "FCALL sluice_trim 1 sluice:{rt9} 0 0 10 everything"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        redisReply *r = redisCommand(mt_rc, bad[i]);
        cr_assert(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "sluice_trim"), "%s", bad[i]);
        freeReplyObject(r);
    }
}

/* ---- the supervisor ----------------------------------------------------- */

static void write_cfg(th_sup *s, const char *queues, const char *pools)
{
    char *text = NULL;
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{\"http_listen\":null,\"worker_path\":\"%s\"},"
                       "\"retention\":{\"interval\":\"200ms\"},\"queues\":{%s},\"pools\":[%s]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, queues, pools) > 0);
    char *path = th_write_file("ret.json", text);
    th_sup_init(s, "ret", path, NULL);
    free(path);
    free(text);
}

struct xlen_is {
    const char *key;
    long long n;
};

static int xlen_is(void *arg)
{
    struct xlen_is *w = arg;
    return th_int(mt_rc, "XLEN %s", w->key) == w->n;
}

Test(retention, supervisor_trims_every_interval)
{
    static char ids[2000][IDLEN], g2[2000][IDLEN], rids[30][IDLEN], rgot[30][IDLEN], buf[IDLEN];
    const char *s = "sluice:{rs}", *rs = "sluice:{rs}:r:g2";
    int n2 = 0, nr = 0;

    xadd_n(s, 2000, ids);
    xadd_n("sluice:{keep}", 50, NULL);
    ok("XGROUP CREATE %s g1 $", s); /* g1: everything received and acked */
    ok("XGROUP CREATE %s g2 0", s);
    cr_assert_eq(read_new(s, "g2", 500, g2, &n2), 500);
    ack(s, "g2", g2, 0, 300);
    xadd_n(rs, 30, rids);
    ok("XGROUP CREATE %s g2 0", rs);
    cr_assert_eq(read_new(rs, "g2", 30, rgot, &nr), 30);
    ack(rs, "g2", rgot, 0, 20);

    /* pools with no workers: only the supervisor touches Redis */
    write_cfg(&mt_s1, "\"rs\":{\"retention_max_len\":100},\"keep\":{\"dlq_maxlen\":5}",
              "{\"name\":\"g2\",\"queue\":\"rs\",\"workers\":0,\"plugins\":[\"ok\"]},"
              "{\"name\":\"keep\",\"queue\":\"keep\",\"workers\":0,\"plugins\":[\"ok\"]}");
    th_sup_start(&mt_s1);
    struct xlen_is w = {s, 1700}, wr = {rs, 10};
    cr_assert(th_wait_until(xlen_is, &w, 10000), "XLEN %lld", th_int(mt_rc, "XLEN %s", s));
    cr_assert(th_wait_until(xlen_is, &wr, 10000), "retry XLEN %lld", th_int(mt_rc, "XLEN %s", rs));
    cr_assert_str_eq(first_id(s, buf), ids[300], "stopped at g2's oldest pending");
    cr_assert_str_eq(first_id(rs, buf), rids[20]);
    cr_assert(th_sup_wait_log(&mt_s1, "\"msg\":\"trimmed stream\"", 5000));
    th_sleep_ms(600); /* three more rounds: nothing more may go */
    cr_assert_eq(th_int(mt_rc, "XLEN %s", s), 1700);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{keep}"), 50, "a queue without a policy is never trimmed");

    /* g2 catches up: the supervisor then trims down to the policy */
    while (read_new(s, "g2", 300, g2, &n2) > 0)
        ;
    ack(s, "g2", g2, 300, n2);
    assert_each_once(g2, n2, ids, 2000);
    ack(rs, "g2", rgot, 20, 30);
    w.n = 100;
    wr.n = 0;
    cr_assert(th_wait_until(xlen_is, &w, 10000), "XLEN %lld", th_int(mt_rc, "XLEN %s", s));
    cr_assert(th_wait_until(xlen_is, &wr, 10000), "retry XLEN %lld", th_int(mt_rc, "XLEN %s", rs));
    cr_assert_str_eq(first_id(s, buf), ids[1900]);
    cr_assert_geq(th_sup_log_count(&mt_s1, "\"msg\":\"trimmed stream\"", "\"stream\":\"sluice:{rs}\""), 2,
                  "an info line per round that removed something");
    cr_assert_eq(th_sup_log_count(&mt_s1, "sluice_trim failed", NULL), 0);
    th_sup_stop(&mt_s1, 10000);
}

/* A policy added by a reload (SIGHUP) is served without a restart. */
Test(retention, reload_adds_a_policy)
{
    xadd_n("sluice:{rl}", 500, NULL);
    write_cfg(&mt_s1, "", "{\"name\":\"p\",\"queue\":\"rl\",\"workers\":0,\"plugins\":[\"ok\"]}");
    th_sup_start(&mt_s1);
    mt_wait_library(&mt_s1);
    th_sleep_ms(500);
    cr_assert_eq(th_int(mt_rc, "XLEN sluice:{rl}"), 500, "no policy: nothing trimmed");
    write_cfg(&mt_s1, "\"rl\":{\"retention_max_len\":10}",
              "{\"name\":\"p\",\"queue\":\"rl\",\"workers\":0,\"plugins\":[\"ok\"]}");
    cr_assert_eq(kill(mt_s1.pid, SIGHUP), 0);
    cr_assert(th_sup_wait_log(&mt_s1, "\"msg\":\"config reloaded\"", 5000));
    struct xlen_is w = {"sluice:{rl}", 10};
    cr_assert(th_wait_until(xlen_is, &w, 10000), "XLEN %lld", th_int(mt_rc, "XLEN sluice:{rl}"));
    th_sup_stop(&mt_s1, 10000);
}
