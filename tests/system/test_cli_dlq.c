/* `sluice dlq` run as the real binary against a real redis-server: list with
 * every filter, show, replay to the failed group only (fields, --dry-run, and a
 * real worker running the replayed job at attempt 1), purge with and without
 * --yes on a stdin that is not a terminal. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/run.h"
#include "support/th.h"

static void setup(void)
{
    th_flushall();
    setenv("SLUICE_REDIS_URL", th_redis_url(), 1);
}

TestSuite(cli_dlq, .init = setup, .timeout = 120);


/* DLQ of group g of queue dq: three dead letters 2 h, 1 h and 1 min old.
 * ids[] gets their DLQ ids. A second group h makes --group required. */
static void prepare_dlq(redisContext *c, char ids[3][32])
{
    long long now = th_server_ms(c);
    long long at[3] = {now - 7200000, now - 3600000, now - 60000};
    const char *type[3] = {"a", "b", "a"}, *reason[3] = {"failed", "exhausted", "crashed"};
    th_cmd(c, "XGROUP CREATE sluice:{dq} g $ MKSTREAM");
    th_cmd(c, "XGROUP CREATE sluice:{dq} h $");
    for (int i = 0; i < 3; i++) {
        snprintf(ids[i], 32, "%lld-0", at[i]);
        th_cmd(c,
               "XADD sluice:{dq}:dlq:g %s type %s payload {\"n\":%d} id job-%d attempt 2 reason %s error err-%d "
               "attempts 2 deliveries 1 original_id %d-0 original_stream sluice:{dq} group g consumer c failed_at %lld",
               ids[i], type[i], i, i, reason[i], i, i + 1, at[i]);
    }
}

/* The dlq_ids of a --json list, joined by spaces. */
static void json_ids(const char *out, char *buf, size_t n)
{
    cJSON *j = cJSON_Parse(out), *e;
    cr_assert_not_null(j, "JSON: %s", out);
    buf[0] = '\0';
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "entries"))
    {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? " " : "", cJSON_GetObjectItem(e, "dlq_id")->valuestring);
    }
    cJSON_Delete(j);
}

Test(cli_dlq, list_filters)
{
    redisContext *c = th_redis();
    char ids[3][32], got[256], want[256];
    prepare_dlq(c, ids);

    th_run_result r = TH_RUN("dlq", "list", "dq");
    cr_assert_eq(r.code, 2, "two groups: --group needed");
    cr_assert(strstr(r.err, "pick one with --group: g h") != NULL, "%s", r.err);
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strncmp(r.out, "DLQ_ID ", 7) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "  job-1   exhausted         2  err-1\n") != NULL, "%s", r.out);
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--type", "a", "--json");
    json_ids(r.out, got, sizeof got);
    snprintf(want, sizeof want, "%s %s", ids[0], ids[2]);
    cr_assert_str_eq(got, want, "--type");
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--reason", "exhausted", "--json");
    json_ids(r.out, got, sizeof got);
    cr_assert_str_eq(got, ids[1], "--reason");
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--since", "90m", "--json");
    json_ids(r.out, got, sizeof got);
    snprintf(want, sizeof want, "%s %s", ids[1], ids[2]);
    cr_assert_str_eq(got, want, "--since a duration ago");
    th_run_free(&r);

    char until[32];
    snprintf(until, sizeof until, "@%lld", atoll(ids[1]) / 1000);
    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--until", until, "--type", "a", "--json");
    json_ids(r.out, got, sizeof got);
    cr_assert_str_eq(got, ids[0], "--until with --type");
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--limit", "1", "--json");
    json_ids(r.out, got, sizeof got);
    cr_assert_str_eq(got, ids[0]);
    cr_assert(strstr(r.out, "\"more\":\ttrue") != NULL, "%s", r.out);
    th_run_free(&r);

    r = TH_RUN("dlq", "list", "dq", "-g", "g", "--since", "soon");
    cr_assert_eq(r.code, 2);
    th_run_free(&r);
    redisFree(c);
}

Test(cli_dlq, show_all_fields)
{
    redisContext *c = th_redis();
    char ids[3][32];
    prepare_dlq(c, ids);
    th_run_result r = TH_RUN("dlq", "show", "dq", ids[1], "--group", "g", "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out), *f = cJSON_GetObjectItem(j, "fields");
    cr_assert_str_eq(cJSON_GetObjectItem(j, "dlq_id")->valuestring, ids[1]);
    cr_assert_eq(cJSON_GetArraySize(f), 13, "%s", r.out);
    cr_assert_str_eq(cJSON_GetObjectItem(f, "error")->valuestring, "err-1");
    cJSON_Delete(j);
    th_run_free(&r);
    r = TH_RUN("dlq", "show", "dq", ids[1], "--group", "g");
    cr_assert(strstr(r.out, "reason           exhausted\n") != NULL, "%s", r.out);
    th_run_free(&r);
    r = TH_RUN("dlq", "show", "dq", "1-1", "--group", "g");
    cr_assert_eq(r.code, 1);
    th_run_free(&r);
    redisFree(c);
}

/* The field list of the only entry of a stream, as "k=v k=v". */
static void only_entry(redisContext *c, const char *key, char *buf, size_t n)
{
    redisReply *r = redisCommand(c, "XRANGE %s - +", key);
    cr_assert_eq(r->elements, 1, "%s holds %zu entries", key, r->elements);
    const redisReply *f = r->element[0]->element[1];
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", f->element[i]->str, f->element[i + 1]->str);
    }
    freeReplyObject(r);
}

Test(cli_dlq, replay_dry_run_and_one_group_only)
{
    redisContext *c = th_redis();
    char ids[3][32], got[512];
    prepare_dlq(c, ids);

    th_run_result r = TH_RUN("dlq", "replay", "dq", "-g", "g", "--reason", "exhausted", "--dry-run");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "dry run: would replay 1 dead letter from sluice:{dq}:dlq:g to group g") != NULL, "%s",
              r.out);
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}:dlq:g"), 3, "--dry-run changes nothing");
    cr_assert_eq(th_int(c, "EXISTS sluice:{dq}:r:g"), 0);

    r = TH_RUN("dlq", "replay", "dq", "-g", "g", "--reason", "exhausted");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "replayed 1 dead letter to group g (sluice:{dq}:r:g)\n") != NULL, "%s", r.out);
    th_run_free(&r);
    only_entry(c, "sluice:{dq}:r:g", got, sizeof got);
    cr_assert_str_eq(got, "type=b payload={\"n\":1} id=job-1", "original fields, no DLQ fields, no attempt");
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}:dlq:g"), 2, "the replayed entry left the DLQ");
    cr_assert_eq(th_int(c, "EXISTS sluice:{dq}:r:h"), 0, "group h sees nothing");
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}"), 0, "nothing went to the work stream");

    /* --id, and an entry without an id field takes original_id as its job id. */
    redisReply *a = redisCommand(c, "XADD sluice:{dq}:dlq:g * type z reason trimmed original_id 77-0 failed_at 1");
    char added[32];
    snprintf(added, sizeof added, "%s", a->str);
    freeReplyObject(a);
    r = TH_RUN("dlq", "replay", "dq", "-g", "g", "--id", added, "--json");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cJSON *j = cJSON_Parse(r.out);
    cr_assert_eq(cJSON_GetObjectItem(j, "replayed")->valueint, 1, "%s", r.out);
    cJSON_Delete(j);
    th_run_free(&r);
    redisReply *x = redisCommand(c, "XREVRANGE sluice:{dq}:r:g + - COUNT 1");
    const redisReply *f = x->element[0]->element[1];
    cr_assert_eq(f->elements, 4);
    cr_assert_str_eq(f->element[3]->str, "77-0");
    freeReplyObject(x);
    r = TH_RUN("dlq", "replay", "dq", "-g", "g", "--id", added);
    cr_assert_eq(r.code, 1, "no longer in the DLQ");
    th_run_free(&r);
    redisFree(c);
}

Test(cli_dlq, replayed_job_runs_again_at_attempt_1)
{
    redisContext *c = th_redis();
    char record[512], log[512], *json = NULL;
    snprintf(record, sizeof record, "%s/replay-record.txt", th_tmpdir());
    snprintf(log, sizeof log, "%s/replay-worker.log", th_tmpdir());
    th_cmd(c, "XGROUP CREATE sluice:{wq} p $ MKSTREAM");
    th_cmd(c, "XGROUP CREATE sluice:{wq} other $");
    th_cmd(c, "XADD sluice:{wq}:dlq:p * type test.record payload {} id job-9 attempt 5 reason exhausted error e "
              "attempts 5 deliveries 1 original_id 9-0 original_stream sluice:{wq} group p consumer c failed_at 1");
    th_run_result r = TH_RUN("dlq", "replay", "wq", "--group", "p");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    th_run_free(&r);
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":\"wq\","
                       "\"plugins\":[\"record\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, record) > 0);
    char *cfg = th_write_file("replay.json", json);
    char *argv[] = {SLUICE_WORKER_BIN, "--config", cfg, "--pool", "p", "--consumer", "w", NULL};
    pid_t w = th_spawn(argv, NULL, log);
    for (int i = 0; i < 250 && th_count_lines(record) < 1; i++)
        th_sleep_ms(20);
    kill(w, SIGTERM);
    int st;
    cr_assert(th_wait_exit(w, 10000, &st));
    char *rec = th_read_file(record);
    cr_assert(rec && strncmp(rec, "job-9 1 ", 8) == 0, "ran as job-9 attempt 1: %s", rec ? rec : "(nothing)");
    free(rec);
    redisReply *x = redisCommand(c, "XINFO GROUPS sluice:{wq}");
    for (size_t i = 0; i < x->elements; i++)
        cr_assert_str_eq(x->element[i]->element[7]->str, "0-0", "no group read the work stream");
    freeReplyObject(x);
    free(cfg);
    free(json);
    redisFree(c);
}

Test(cli_dlq, purge_needs_yes_without_a_terminal)
{
    redisContext *c = th_redis();
    char ids[3][32];
    prepare_dlq(c, ids);
    th_run_result r = TH_RUN("dlq", "purge", "dq", "-g", "g", "--type", "a");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "refusing to delete 2 dead letters from sluice:{dq}:dlq:g without --yes") != NULL, "%s",
              r.err);
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}:dlq:g"), 3);
    r = TH_RUN("dlq", "purge", "dq", "-g", "g", "--type", "a", "--yes");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "deleted 2 dead letters from sluice:{dq}:dlq:g\n");
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}:dlq:g"), 1);
    char got[32];
    redisReply *x = redisCommand(c, "XRANGE sluice:{dq}:dlq:g - +");
    snprintf(got, sizeof got, "%s", x->element[0]->element[0]->str);
    freeReplyObject(x);
    cr_assert_str_eq(got, ids[1], "the type b entry stays");
    r = TH_RUN("dlq", "purge", "dq", "-g", "g", "--reason", "failed");
    cr_assert_eq(r.code, 0, "nothing matches: no question");
    th_run_free(&r);
    redisFree(c);
}

/* Every reason a dead letter can carry is a valid --reason (schema too); an
 * unknown one is a usage error that lists them, not an empty match. */
Test(cli_dlq, reason_must_be_known)
{
    redisContext *c = th_redis();
    char ids[3][32];
    prepare_dlq(c, ids);
    th_cmd(c, "XADD sluice:{dq}:dlq:g * type a payload {} id job-s reason schema error bad attempts 1 "
              "deliveries 1 original_id 5-0 original_stream sluice:{dq} group g consumer c failed_at 1");
    th_run_result r = TH_RUN("dlq", "list", "dq", "-g", "g", "--reason", "schema");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.out, "job-s") != NULL && strstr(r.out, "job-0") == NULL, "%s", r.out);
    th_run_free(&r);
    static const char *const verbs[] = {"list", "replay", "purge"};
    for (int i = 0; i < 3; i++) {
        r = TH_RUN("dlq", verbs[i], "dq", "-g", "g", "--reason", "exausted", "--yes");
        if (i != 2) {
            th_run_free(&r);
            r = TH_RUN("dlq", verbs[i], "dq", "-g", "g", "--reason", "exausted");
        }
        cr_assert_eq(r.code, 2, "%s: stderr: %s", verbs[i], r.err);
        cr_assert(strstr(r.err, "unknown --reason 'exausted'") != NULL, "%s", r.err);
        cr_assert(strstr(r.err, "failed, exhausted, timeout, crashed, schema, bad_envelope, bad_payload, "
                                "oversize, unknown_type, trimmed") != NULL,
                  "%s", r.err);
        cr_assert_str_eq(r.out, "");
        th_run_free(&r);
    }
    cr_assert_eq(th_int(c, "XLEN sluice:{dq}:dlq:g"), 4, "nothing replayed or deleted");
    redisFree(c);
}

/* A big replay prints one summary line (per-entry lines with --verbose), and
 * more than --confirm-over entries (default 100) need --yes without a terminal. */
Test(cli_dlq, replay_summary_and_confirmation)
{
    redisContext *c = th_redis();
    th_cmd(c, "XGROUP CREATE sluice:{bq} g $ MKSTREAM");
    for (int i = 0; i < 150; i++)
        th_cmd(c,
               "XADD sluice:{bq}:dlq:g * type a payload {} id job-%d reason exhausted error e attempts 5 "
               "deliveries 1 original_id %d-0 original_stream sluice:{bq} group g consumer c failed_at 1",
               i, i + 1);

    th_run_result r = TH_RUN("dlq", "replay", "bq");
    cr_assert_eq(r.code, 2, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "refusing to replay 150 dead letters from sluice:{bq}:dlq:g without --yes "
                            "(more than --confirm-over 100, and stdin is not a terminal)") != NULL,
              "%s", r.err);
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{bq}:dlq:g"), 150, "nothing replayed");

    r = TH_RUN("dlq", "replay", "bq", "--confirm-over", "x");
    cr_assert_eq(r.code, 2, "a bad --confirm-over is a usage error");
    th_run_free(&r);

    /* At most N: no question. The output is one summary line. */
    r = TH_RUN("dlq", "replay", "bq", "--limit", "100");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "replayed 100 dead letters to group g (sluice:{bq}:r:g)\n");
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{bq}:dlq:g"), 50);

    /* --verbose: one line per entry, then the summary. */
    r = TH_RUN("dlq", "replay", "bq", "--limit", "20", "--verbose");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_eq(th_count_in(r.out, "\n"), 21, "%s", r.out);
    cr_assert(strstr(r.out, " -> sluice:{bq}:r:g ") != NULL, "%s", r.out);
    th_run_free(&r);

    /* A raised threshold, and --yes. */
    r = TH_RUN("dlq", "replay", "bq", "--limit", "20", "--confirm-over", "10");
    cr_assert_eq(r.code, 2, "stderr: %s", r.err);
    th_run_free(&r);
    r = TH_RUN("dlq", "replay", "bq", "--confirm-over", "10", "--yes");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, "replayed 30 dead letters to group g (sluice:{bq}:r:g)\n");
    th_run_free(&r);
    cr_assert_eq(th_int(c, "XLEN sluice:{bq}:dlq:g"), 0);
    cr_assert_eq(th_int(c, "XLEN sluice:{bq}:r:g"), 150);
    redisFree(c);
}
