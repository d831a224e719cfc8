/* The ACL of docs/scaling.md ("The ACL sluice needs"), read from the page
 * itself so the two cannot drift: on a private redis-server, a user made with
 * exactly that line runs the supervisor, its workers (plain jobs, retries,
 * delayed jobs, dead letters, idempotency keys, a partitioned queue, the
 * schema registry) and every CLI command; nobody logs NOPERM. The same user may
 * not FLUSHALL or touch a key outside sluice:*. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/acct.h"
#include "support/run.h"
#include "support/sup.h"
#include "th.h"

static th_server srv;
static th_sup sup;
static redisContext *admin;
static char url[256];

static void setup(void)
{
    th_server_start(&srv);
    admin = th_server_connect(&srv);
    snprintf(url, sizeof url, "redis://sluice:change-me@127.0.0.1:%d/0", srv.port);
}

static void teardown(void)
{
    th_sup_kill(&sup);
    if (admin)
        redisFree(admin);
    th_server_kill(&srv);
}

TestSuite(acl, .init = setup, .fini = teardown, .timeout = 180);

/* The words of docs/scaling.md's `redis-cli ACL SETUSER sluice ...` line,
 * without redis-cli and the shell's single quotes, into argv; their count. */
static int doc_acl(char *text, char **argv, int max)
{
    char *line = strstr(text, "\nredis-cli ACL SETUSER sluice ");
    cr_assert_not_null(line, "docs/scaling.md has the ACL SETUSER line");
    line += strlen("\nredis-cli ");
    line[strcspn(line, "\n")] = '\0';
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        size_t l = strlen(w);
        if (l >= 2 && w[0] == '\'' && w[l - 1] == '\'') {
            w[l - 1] = '\0';
            w++;
        }
        cr_assert(!strchr(w, '\''), "one quoted word per argument: %s", w);
        cr_assert_lt(n, max);
        argv[n++] = w;
    }
    return n;
}

/* `sluice ARGS... -u url` exits 0 and says nothing of NOPERM; its stdout (free it). */
static char *ok_as_user(const char *const *args)
{
    const char *argv[24];
    int n = 0;
    while (args[n]) {
        argv[n] = args[n];
        n++;
    }
    argv[n++] = "-u";
    argv[n++] = url;
    argv[n] = NULL;
    th_run_result r = th_run_argv(argv);
    cr_assert_eq(r.code, 0, "sluice %s %s: exit %d: %s", args[0], args[1] ? args[1] : "", r.code, r.err);
    cr_assert(!strstr(r.err, "NOPERM") && !strstr(r.out, "NOPERM"), "sluice %s: %s%s", args[0], r.out, r.err);
    char *out = r.out;
    r.out = NULL;
    th_run_free(&r);
    return out;
}

#define OK(...) free(ok_as_user((const char *const[]){__VA_ARGS__, NULL}))

static int dlq_len(void *arg)
{
    return th_int(admin, "XLEN sluice:{aq}:dlq:g") == (long long)(intptr_t)arg;
}

Test(acl, the_documented_acl_runs_everything_sluice_does_and_nothing_else)
{
    char path[512];
    snprintf(path, sizeof path, "%s/docs/scaling.md", SLUICE_SOURCE_DIR);
    char *doc = th_read_file(path), *argv[64];
    int argc = doc_acl(doc, argv, 64);
    redisReply *r = redisCommandArgv(admin, argc, (const char **)argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r && r->str ? r->str : admin->errstr);
    freeReplyObject(r);

    char *rec = th_tmp_path("acl-rec.txt"), *rec_p = th_tmp_path("acl-rec-p.txt");
    unlink(rec);
    unlink(rec_p);
    int port = th_free_port();
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},"
                       "\"supervisor\":{\"promote_interval\":\"50ms\",\"http_listen\":\"127.0.0.1:%d\"},"
                       "\"jobs\":{\"max_attempts\":3,\"backoff_base\":\"50ms\",\"backoff_cap\":\"200ms\"},"
                       "\"queues\":{\"ap\":{\"partitions\":2}},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"aq\",\"group\":\"g\",\"workers\":2,"
                       "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}},"
                       "{\"name\":\"pp\",\"queue\":\"ap\",\"group\":\"g\",\"workers\":1,"
                       "\"plugins\":[\"faulty\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       url, SLUICE_TEST_PLUGIN_DIR, port, rec, rec_p) > 0);
    char *cfg = th_write_file("acl.json", json);
    free(json);
    th_sup_init(&sup, "acl", cfg, "acl.log");
    th_sup_start(&sup);
    th_sup_wait_workers(&sup, 3, 30000);

    /* the registry, then jobs of every kind, all as the user */
    char *schema = th_write_file("acl-schema.json", "{\"type\":\"object\"}");
    OK("schema", "register", "test.acct", schema);
    OK("schema", "list");
    OK("schema", "validate", "test.acct", "{}");
    OK("enqueue", "-q", "aq", "test.acct", "{}");
    for (int i = 0; i < 4; i++)
        OK("enqueue", "-q", "aq", "test.acct", "{\"retry_until\":2}");
    for (int i = 0; i < 3; i++)
        OK("enqueue", "-q", "aq", "test.acct", "{\"fail\":true}");
    OK("enqueue", "-q", "--delay", "200ms", "aq", "test.acct", "{}");
    OK("enqueue", "-q", "--key", "k1", "aq", "test.acct", "{}");
    OK("enqueue", "-q", "--key", "k1", "aq", "test.acct", "{}");
    OK("enqueue", "-q", "--correlation-id", "acl-corr-1", "--id", "acl-job-1", "aq", "test.acct", "{}");
    for (int i = 0; i < 6; i++)
        OK("enqueue", "-q", "ap", "test.acct", "{}");

    /* 1 + 4 + 1 + 1 + 1 completed, 3 dead: 8 lines; the partitioned queue's 6 */
    cr_assert(th_wait_until(dlq_len, (void *)(intptr_t)3, 30000), "3 dead letters (see %s)", sup.log);
    for (long want = 8, tries = 0; th_count_lines(rec) < want && tries < 300; tries++)
        th_sleep_ms(100);
    cr_assert_eq(th_count_lines(rec), 8, "see %s", sup.log);
    cr_assert_eq(th_int(admin, "XLEN sluice:{aq}"), 11, "the duplicate key added nothing");
    cr_assert_eq(th_count_lines_with(rec, " 2 ", NULL), 4, "the 4 retried jobs completed on attempt 2");
    for (long tries = 0; th_count_lines(rec_p) < 6 && tries < 300; tries++)
        th_sleep_ms(100);
    cr_assert_eq(th_count_lines(rec_p), 6, "see %s", sup.log);

    /* every CLI command as the user */
    OK("stats");
    OK("stats", "--json", "aq");
    OK("stats", "ap");
    OK("dlq", "list", "aq");
    OK("dlq", "replay", "aq", "--yes");
    cr_assert(th_wait_until(dlq_len, (void *)(intptr_t)3, 30000), "the replayed jobs failed again");
    OK("dlq", "purge", "aq", "--yes");
    cr_assert_eq(th_int(admin, "XLEN sluice:{aq}:dlq:g"), 0);
    OK("pause", "aq");
    OK("resume", "aq");
    OK("group", "create", "aq", "g2", "--from", "0");
    OK("group", "reset", "aq", "g2", "--from", "$");
    OK("group", "delete", "aq", "g2", "--force");
    char *where = ok_as_user((const char *const[]){"jobs", "show", "aq", "acl-job-1", NULL});
    cr_assert(strstr(where, "completed in group g"), "%s", where);
    free(where);
    char *tree = ok_as_user((const char *const[]){"trace", "--queue", "aq", "acl-corr-1", NULL});
    cr_assert(strstr(tree, "acl-job-1"), "%s", tree);
    free(tree);
    /* the supervisor's gauges and readiness, read as the user */
    char *body = NULL;
    for (int tries = 0; tries < 100; tries++) { /* the gauges are read on the supervisor's next tick */
        free(body);
        cr_assert_eq(th_http_get(port, "/metrics", &body), 200);
        if (strstr(body, "sluice_group_lag{queue=\"aq\",group=\"g\"} 0"))
            break;
        th_sleep_ms(100);
    }
    cr_assert(strstr(body, "sluice_group_lag{queue=\"aq\",group=\"g\"} 0"), "%s", body);
    cr_assert(strstr(body, "sluice_group_lag{queue=\"ap\",group=\"g\"} 0"), "%s", body);
    free(body);
    cr_assert_eq(th_http_get(port, "/readyz", &body), 200, "%s", body);
    free(body);
    OK("functions", "load");
    OK("functions", "status");
    cr_assert_eq(th_sup_log_count(&sup, "NOPERM", NULL), 0, "nothing sluice does is refused (see %s)", sup.log);

    /* and nothing else */
    redisContext *u = th_server_connect(&srv);
    r = redisCommand(u, "AUTH sluice change-me");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    const char *refused[] = {"FLUSHALL", "SET other-key 1", "CONFIG SET maxmemory-policy allkeys-lru", "KEYS *"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        r = redisCommand(u, refused[i]);
        cr_assert(r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOPERM", 6) == 0, "%s is refused: %s",
                  refused[i], r && r->str ? r->str : "?");
        freeReplyObject(r);
    }
    redisFree(u);
    th_sup_stop(&sup, 20000);
    free(schema);
    free(cfg);
    free(rec);
    free(rec_p);
    free(doc);
}
