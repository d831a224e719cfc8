/* Fan-out end to end: one queue, three services as three consumer groups in
 * three supervisors (inventory, notifications, audit), 5,000 events. The
 * notifications handler fails 10% of them, the audit supervisor is stopped
 * (SIGTERM) for part of the run and restarted; every group ends with every
 * event completed or dead-lettered in that group alone. A fourth group started
 * afterwards at "0" replays the whole history. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "support/fx.h"

#define QUEUE "orders"
#define N_EVENTS 5000
#define FAIL_PCT 10

static void setup(void)
{
    th_flushall();
}

/* One service: a supervisor with one pool of the fanout plugin in group `group`. */
static void service(fx_run *r, const char *group, int fail_pct, const char *start_at)
{
    memset(r, 0, sizeof(*r));
    char name[64], log[128];
    snprintf(name, sizeof(name), "fanout-%s", group);
    snprintf(log, sizeof(log), "%s-supervisor.log", name);
    snprintf(r->record, sizeof(r->record), "%s/%s-record.txt", th_tmpdir(), name);
    remove(r->record);
    char *json = NULL, *file = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\",\"level\":\"info\",\"jobs\":false},"
                       "\"plugin_dir\":\"%s\",\"supervisor\":{\"worker_path\":\"%s\",\"shutdown_timeout\":\"5s\","
                       "\"http_listen\":null,\"promote_interval\":\"20ms\"},"
                       "\"jobs\":{\"backoff_base\":\"10ms\",\"backoff_cap\":\"50ms\"},"
                       "\"pools\":[{\"name\":\"%s\",\"queue\":\"" QUEUE "\",\"group\":\"%s\",\"plugins\":[\"fanout\"],"
                       "\"workers\":2,\"read_count\":50,\"block\":\"200ms\",\"start_at\":\"%s\","
                       "\"settings\":{\"record_file\":\"%s\",\"fail_pct\":%d}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, group, group, start_at, r->record,
                       fail_pct) > 0);
    cr_assert(asprintf(&file, "%s.json", name) > 0);
    char *path = th_write_file(file, json);
    th_sup_init(&r->sup, name, path, log);
    remove(r->sup.log);
    free(path);
    free(file);
    free(json);
}

/* Payload {"n":<first + i>}: n numbers the events across both halves. */
static void payload(int i, char *buf, size_t n, void *arg)
{
    snprintf(buf, n, "{\"n\":%d}", *(const int *)arg + i);
}

/* Settle one group's ledger and check it: completed + dead == every event,
 * nothing lost, nothing both, no duplicate dead letters. */
static void settled(acct_ledger *a, redisContext *c, const char *name, long completed, long failed)
{
    acct_counts k;
    int ok = acct_wait_settled(a, c, 60000, &k);
    acct_print(name, &k);
    if (!ok || k.lost || k.both)
        acct_print_bad(a, 10);
    cr_assert(ok, "%s did not settle", name);
    cr_assert_eq(k.enqueued, N_EVENTS, "%s", name);
    cr_assert_eq(k.completed, completed, "%s: %ld completed, expected %ld", name, k.completed, completed);
    cr_assert_eq(k.dead, failed, "%s: %ld dead-lettered, expected %ld", name, k.dead, failed);
    cr_assert_eq(k.by_reason[ACCT_failed], failed, "%s: %ld dead-lettered 'failed'", name, k.by_reason[ACCT_failed]);
    cr_assert_eq(k.lost, 0, "%s", name);
    cr_assert_eq(k.both, 0, "%s", name);
    cr_assert_eq(k.dead_dups, 0, "%s", name);
    cr_assert_eq(k.unknown, 0, "%s", name);
}

/* Entries of a stream (0 if it does not exist). */
static long xlen(redisContext *c, const char *key)
{
    return th_int(c, "XLEN %s", key);
}

/* Every dead letter of `group` names that group, and the set of dead ids is
 * exactly the events with n % 100 < FAIL_PCT. */
static void check_dlq(redisContext *c, const char *group, char (*ids)[64])
{
    char *expect = calloc(N_EVENTS, 1);
    long want = 0;
    for (int i = 0; i < N_EVENTS; i++)
        want += expect[i] = i % 100 < FAIL_PCT;
    redisReply *r = redisCommand(c, "XRANGE sluice:{" QUEUE "}:dlq:%s - +", group);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY);
    cr_assert_eq((long)r->elements, want, "%zu dead letters in %s, expected %ld", r->elements, group, want);
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *f = r->element[e]->element[1];
        const char *g = NULL, *oid = NULL;
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            if (strcmp(f->element[i]->str, "group") == 0)
                g = f->element[i + 1]->str;
            if (strcmp(f->element[i]->str, "original_id") == 0)
                oid = f->element[i + 1]->str;
        }
        cr_assert(g && strcmp(g, group) == 0, "dead letter %s names group %s", r->element[e]->element[0]->str,
                  g ? g : "(none)");
        int found = -1;
        for (int i = 0; oid && i < N_EVENTS && found < 0; i++)
            if (strcmp(ids[i], oid) == 0)
                found = i;
        cr_assert(found >= 0 && expect[found], "dead letter of %s is not a failing event", oid ? oid : "(none)");
        expect[found] = 0; /* each at most once */
    }
    freeReplyObject(r);
    free(expect);
}

Test(fanout, three_groups_one_queue_then_a_late_replay, .init = setup, .timeout = 240)
{
    redisContext *c = th_redis();
    fx_run inv, notif, audit, late;
    service(&inv, "inventory", 0, "0");
    service(&notif, "notifications", FAIL_PCT, "0");
    service(&audit, "audit", 0, "0");
    th_sup_start(&inv.sup);
    th_sup_start(&notif.sup);
    th_sup_start(&audit.sup);
    th_sup_wait_workers(&inv.sup, 2, 20000);
    th_sup_wait_workers(&notif.sup, 2, 20000);
    th_sup_wait_workers(&audit.sup, 2, 20000);

    acct_ledger *a_inv = acct_new(QUEUE, "inventory", inv.record);
    acct_ledger *a_notif = acct_new(QUEUE, "notifications", notif.record);
    acct_ledger *a_audit = acct_new(QUEUE, "audit", audit.record);
    char(*ids)[64] = calloc(N_EVENTS, 64);

    /* First half; audit goes down once it has done part of it. */
    int first = 0, second = N_EVENTS / 2;
    fx_xadd(c, QUEUE, "test.fanout", N_EVENTS / 2, payload, &first, NULL, ids);
    fx_wait_records(&audit, 300, 30000);
    int st = th_sup_term(&audit.sup, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "audit supervisor exit status %d", st);
    long audit_before = th_count_lines(audit.record);

    /* Second half while audit is down. */
    fx_xadd(c, QUEUE, "test.fanout", N_EVENTS - N_EVENTS / 2, payload, &second, NULL, ids + N_EVENTS / 2);
    for (int i = 0; i < N_EVENTS; i++) {
        acct_add(a_inv, ids[i]);
        acct_add(a_notif, ids[i]);
        acct_add(a_audit, ids[i]);
    }

    /* The others finish while audit is down; audit has a backlog. */
    settled(a_inv, c, "inventory", N_EVENTS, 0);
    settled(a_notif, c, "notifications", N_EVENTS - N_EVENTS * FAIL_PCT / 100, N_EVENTS * FAIL_PCT / 100);
    cr_assert_eq(th_count_lines(audit.record), audit_before, "audit ran jobs while its supervisor was down");

    th_sup_start(&audit.sup);
    settled(a_audit, c, "audit", N_EVENTS, 0);
    cr_assert_geq(th_count_lines(audit.record) - audit_before, N_EVENTS / 2,
                  "audit did only %ld jobs after its restart", th_count_lines(audit.record) - audit_before);

    /* Failures stayed in their group: no other DLQ, no retry stream anywhere. */
    check_dlq(c, "notifications", ids);
    cr_assert_eq(xlen(c, "sluice:{" QUEUE "}:dlq:inventory"), 0);
    cr_assert_eq(xlen(c, "sluice:{" QUEUE "}:dlq:audit"), 0);

    /* A service deployed later replays the whole retained history. */
    service(&late, "analytics", 0, "0");
    acct_ledger *a_late = acct_new(QUEUE, "analytics", late.record);
    for (int i = 0; i < N_EVENTS; i++)
        acct_add(a_late, ids[i]);
    th_sup_start(&late.sup);
    settled(a_late, c, "analytics (late, start_at 0)", N_EVENTS, 0);
    cr_assert_eq(xlen(c, "sluice:{" QUEUE "}:dlq:analytics"), 0);

    /* The earlier groups saw nothing new: their records did not grow. */
    cr_assert_eq(th_count_lines(inv.record), N_EVENTS, "inventory ran %ld jobs", th_count_lines(inv.record));
    cr_assert_eq(th_count_lines(notif.record), N_EVENTS - N_EVENTS * FAIL_PCT / 100);

    fx_run *all[] = {&inv, &notif, &audit, &late};
    for (size_t i = 0; i < 4; i++) {
        st = th_sup_term(&all[i]->sup, 20000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s supervisor exit status %d", all[i]->sup.name, st);
    }
    acct_free(a_inv);
    acct_free(a_notif);
    acct_free(a_audit);
    acct_free(a_late);
    free(ids);
    redisFree(c);
}
