/* sluice-worker end to end: the real binary, real plugins and a real
 * redis-server, in standalone mode (--config FILE) and in supervisor mode (fd 3
 * channel, fd 4 slot), including Redis faults. Jobs go in by raw XADD as any
 * producer writes them; outcomes are read back from Redis and the plugins' files. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/worker_slot.h"
#include "th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(worker, .init = setup, .timeout = 120);

/* A config with one pool "p" on `queue`, plugins as a JSON array, settings as
 * JSON object members, extra top-level members (may be ""). Returns the path. */
static char *write_config(const char *name, const char *plugin_dir, const char *queue, const char *plugins,
                          const char *settings, const char *extra)
{
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},%s"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"%s\",\"plugins\":%s,\"block\":\"200ms\","
                       "\"settings\":{%s}}]}",
                       th_redis_url(), plugin_dir, extra, queue, plugins, settings) > 0);
    char *path = th_write_file(name, json);
    free(json);
    return path;
}

/* Run the worker binary to completion with extra arguments; returns the exit code. */
static int run_worker(const char *config, const char *pool, const char *flag)
{
    char *argv[] = {SLUICE_WORKER_BIN, "--config", (char *)config, "--pool", (char *)pool, (char *)flag, NULL};
    char *lp = th_tmp_path("run.log");
    pid_t pid = th_spawn(argv, NULL, lp);
    free(lp);
    int st = 0;
    int exited = th_wait_exit(pid, 20000, &st);
    if (!exited)
        th_kill(pid);
    cr_assert(exited, "worker did not exit");
    cr_assert(WIFEXITED(st), "worker died by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return WEXITSTATUS(st);
}

/* Pending entries of group p on a stream: exactly w->n (a missing group, -1, never is). */
static int pending_is(void *arg)
{
    th_want *w = arg;
    return th_pending(w->c, w->key, "p") == w->n;
}

Test(worker, runs_200_record_jobs_and_acks_them_all)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("rec200.txt");
    char settings[512];
    snprintf(settings, sizeof(settings), "\"record_file\":\"%s\"", rec);
    char *cfg = write_config("w200.json", SLUICE_TEST_PLUGIN_DIR, "q200", "[\"record\"]", settings, "");
    for (int i = 0; i < 200; i++)
        redisAppendCommand(c, "XADD sluice:{q200} * type test.record payload {\"n\":%d}", i);
    for (int i = 0; i < 200; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    pid_t pid = th_worker_start(cfg, "p", "c200", "w200.log");
    th_want lines = {c, rec, 200}, done = {c, "sluice:{q200}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &lines, 30000), "only %ld of 200 jobs recorded", th_count_lines(rec));
    cr_assert(th_wait_until(pending_is, &done, 5000), "entries still pending: %lld",
              th_pending(c, "sluice:{q200}", "p"));
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_count_lines(rec), 200);
    /* every job exactly once, each on its first attempt and first delivery */
    char *text = th_read_file(rec);
    int ok_lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char id[64];
        unsigned attempt, deliveries;
        long p;
        cr_assert_eq(sscanf(line, "%63s %u %ld %u", id, &attempt, &p, &deliveries), 4, "line %s", line);
        cr_assert(attempt == 1 && deliveries == 1 && p == pid, "line %s", line);
        ok_lines++;
    }
    cr_assert_eq(ok_lines, 200);
    cr_assert_eq(th_int(c, "XLEN sluice:{q200}:dlq:p"), 0);
    free(text);
    free(cfg);
    free(rec);
    redisFree(c);
}

/* Bad envelopes, each tagged with a "case" field we find again in the DLQ. */
Test(worker, dead_letters_bad_envelopes_with_precise_reasons)
{
    redisContext *c = th_redis();
    char *cfg = write_config("wbad.json", SLUICE_TEST_PLUGIN_DIR, "qbad", "[\"ok\"]", "",
                             "\"jobs\":{\"max_payload_bytes\":64},");
    static const struct {
        const char *name, *type, *payload, *reason, *error;
        size_t type_len;
    } cases[] = {
        {"missing_type", NULL, "{}", "bad_envelope", "missing field 'type'", 0},
        {"bad_json", "test.ok", "{\"a\":", "bad_payload", "not valid JSON", 7},
        {"oversize", "test.ok", "{\"pad\":\"0123456789012345678901234567890123456789012345678901234567890\"}",
         "oversize", "more than the limit of 64", 7},
        {"unknown_type", "no.such.type", "{}", "unknown_type", "no handler for type 'no.such.type'", 12},
        {"nul_in_type", "test\0ok", "{}", "bad_envelope", "NUL", 7},
        {"bad_attempt", "test.ok", "{}", "bad_envelope", "attempt", 7},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    for (size_t i = 0; i < n; i++) {
        const char *argv[12] = {"XADD", "sluice:{qbad}", "*", "case", cases[i].name, "payload", cases[i].payload};
        size_t lens[12] = {4, 13, 1, 4, strlen(cases[i].name), 7, strlen(cases[i].payload)};
        int argc = 7;
        if (cases[i].type) {
            argv[argc] = "type", lens[argc++] = 4;
            argv[argc] = cases[i].type, lens[argc++] = cases[i].type_len;
        }
        if (strcmp(cases[i].name, "bad_attempt") == 0) {
            argv[argc] = "attempt", lens[argc++] = 7;
            argv[argc] = "x", lens[argc++] = 1;
        }
        redisReply *r = redisCommandArgv(c, argc, argv, lens);
        cr_assert(r && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(c, "XADD sluice:{qbad} * case good type test.ok");
    freeReplyObject(r);

    pid_t pid = th_worker_start(cfg, "p", "cbad", "wbad.log");
    th_want dlq = {c, "sluice:{qbad}:dlq:p", (long long)n}, done = {c, "sluice:{qbad}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000), "DLQ has %lld of %zu entries",
              th_int(c, "XLEN sluice:{qbad}:dlq:p"), n);
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_int(c, "XLEN sluice:{qbad}:dlq:p"), (long long)n, "the good job must not be dead-lettered");

    r = redisCommand(c, "XRANGE sluice:{qbad}:dlq:p - +");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == n);
    for (size_t i = 0; i < n; i++) {
        const redisReply *f = NULL;
        for (size_t j = 0; j < r->elements && !f; j++) {
            const char *cs = th_field_last_str(r->element[j]->element[1], "case");
            if (cs && strcmp(cs, cases[i].name) == 0)
                f = r->element[j]->element[1];
        }
        cr_assert_not_null(f, "case %s not in the DLQ", cases[i].name);
        cr_assert_str_eq(th_field_last_str(f, "reason"), cases[i].reason, "case %s", cases[i].name);
        cr_assert(strstr(th_field_last_str(f, "error"), cases[i].error), "case %s: error \"%s\" lacks \"%s\"",
                  cases[i].name, th_field_last_str(f, "error"), cases[i].error);
        cr_assert_str_eq(th_field_last_str(f, "original_stream"), "sluice:{qbad}");
        cr_assert_str_eq(th_field_last_str(f, "group"), "p");
        cr_assert_str_eq(th_field_last_str(f, "consumer"), "cbad");
        cr_assert_str_eq(th_field_last_str(f, "deliveries"), "1");
        cr_assert_not_null(th_field_last_str(f, "original_id"));
        cr_assert_not_null(th_field_last_str(f, "failed_at"));
        /* the original payload travels with the dead letter, byte for byte */
        cr_assert_str_eq(th_field_last_str(f, "payload"), cases[i].payload);
    }
    freeReplyObject(r);
    free(cfg);
    redisFree(c);
}

Test(worker, dead_letters_failed_jobs_with_the_handler_error)
{
    redisContext *c = th_redis();
    char *cfg = write_config("wfail.json", SLUICE_TEST_PLUGIN_DIR, "qfail", "[\"fail\"]", "", "");
    redisReply *r = redisCommand(c, "XADD sluice:{qfail} * type test.fail payload {\"x\":1} id job-77 attempt 2");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    char *sid = strdup(r->str);
    freeReplyObject(r);
    pid_t pid = th_worker_start(cfg, "p", "cfail", "wfail.log");
    th_want dlq = {c, "sluice:{qfail}:dlq:p", 1}, done = {c, "sluice:{qfail}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    r = redisCommand(c, "XRANGE sluice:{qfail}:dlq:p - +");
    cr_assert(r && r->elements == 1);
    const redisReply *f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "reason"), "failed");
    cr_assert_str_eq(th_field_last_str(f, "error"), "deliberate failure");
    cr_assert_str_eq(th_field_last_str(f, "attempts"), "2");
    cr_assert_str_eq(th_field_last_str(f, "original_id"), sid);
    cr_assert_str_eq(th_field_last_str(f, "original_stream"), "sluice:{qfail}");
    cr_assert_str_eq(th_field_last_str(f, "type"), "test.fail");
    cr_assert_str_eq(th_field_last_str(f, "id"), "job-77");
    cr_assert_str_eq(th_field_last_str(f, "payload"), "{\"x\":1}");
    freeReplyObject(r);
    free(sid);
    free(cfg);
    redisFree(c);
}

/* SIGTERM during a job: the job finishes and is acked, the prefetched next
 * one is not started: it is released (sluice_release) and stays pending for
 * this consumer without a delivery spent; a restart with the same consumer
 * name replays it as its first delivery. */
Test(worker, sigterm_finishes_the_running_job_and_leaves_the_rest_pending)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("recterm.txt");
    char settings[512];
    snprintf(settings, sizeof(settings), "\"record_file\":\"%s\"", rec);
    char *cfg = write_config("wterm.json", SLUICE_TEST_PLUGIN_DIR, "qterm", "[\"record\"]", settings, "");
    redisReply *r = redisCommand(c, "XADD sluice:{qterm} * type test.record payload {\"sleep_ms\":1500} id first");
    freeReplyObject(r);
    r = redisCommand(c, "XADD sluice:{qterm} * type test.record payload {} id second");
    freeReplyObject(r);

    pid_t pid = th_worker_start(cfg, "p", "cterm", "wterm.log");
    th_want both = {c, "sluice:{qterm}", 2};
    cr_assert(th_wait_until(pending_is, &both, 10000), "the batch was not read");
    th_sleep_ms(300); /* the first job is sleeping now */
    cr_assert_eq(th_count_lines(rec), 0);
    th_worker_stop(pid, 5000);
    char *text = th_read_file(rec);
    cr_assert(text && strncmp(text, "first 1 ", 8) == 0, "record: %s", text ? text : "(none)");
    cr_assert_eq(th_count_lines(rec), 1, "the second job must not start after SIGTERM");
    cr_assert_eq(th_pending(c, "sluice:{qterm}", "p"), 1);
    r = redisCommand(c, "XPENDING sluice:{qterm} p - + 10 cterm");
    cr_assert(r && r->elements == 1);
    cr_assert_eq(r->element[0]->element[3]->integer, 0, "a released entry has spent no delivery");
    freeReplyObject(r);
    free(text);

    pid = th_worker_start(cfg, "p", "cterm", "wterm2.log");
    th_want two = {c, rec, 2}, done = {c, "sluice:{qterm}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &two, 10000));
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    text = th_read_file(rec);
    char *second = strstr(text, "\nsecond 1 ");
    cr_assert_not_null(second, "record: %s", text);
    cr_assert(strstr(second, " 1\n"), "a released job's replay is its first delivery: %s", text);
    free(text);
    free(cfg);
    free(rec);
    redisFree(c);
}

/* An entry deleted while pending comes back from the replay as nil fields. */
Test(worker, dead_letters_an_entry_trimmed_while_pending)
{
    redisContext *c = th_redis();
    char *cfg = write_config("wtrim.json", SLUICE_TEST_PLUGIN_DIR, "qtrim", "[\"ok\"]", "", "");
    redisReply *r = redisCommand(c, "XGROUP CREATE sluice:{qtrim} p 0 MKSTREAM");
    freeReplyObject(r);
    r = redisCommand(c, "XADD sluice:{qtrim} * type test.ok");
    char *sid = strdup(r->str);
    freeReplyObject(r);
    r = redisCommand(c, "XREADGROUP GROUP p ctrim COUNT 10 STREAMS sluice:{qtrim} >");
    freeReplyObject(r);
    cr_assert_eq(th_int(c, "XDEL sluice:{qtrim} %s", sid), 1);

    pid_t pid = th_worker_start(cfg, "p", "ctrim", "wtrim.log");
    th_want dlq = {c, "sluice:{qtrim}:dlq:p", 1}, done = {c, "sluice:{qtrim}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    r = redisCommand(c, "XRANGE sluice:{qtrim}:dlq:p - +");
    const redisReply *f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "reason"), "trimmed");
    cr_assert_str_eq(th_field_last_str(f, "original_id"), sid);
    freeReplyObject(r);
    free(sid);
    free(cfg);
    redisFree(c);
}

Test(worker, orders_example_summarizes_valid_orders_and_rejects_invalid_ones)
{
    redisContext *c = th_redis();
    char *sum = th_tmp_path("summaries.jsonl");
    char settings[512];
    snprintf(settings, sizeof(settings), "\"summary_file\":\"%s\",\"summary_queue\":\"summaries\"", sum);
    char *cfg = write_config("worders.json", SLUICE_PLUGIN_DIR, "orders", "[\"orders\"]", settings, "");
    const char *valid = "{\"order_id\":\"A-1001\",\"customer\":\"c-42\",\"currency\":\"EUR\","
                        "\"items\":[{\"sku\":\"X\",\"qty\":2,\"unit_price\":9.5},{\"sku\":\"Y\",\"qty\":1,"
                        "\"unit_price\":0.25}]}";
    const char *invalid = "{\"order_id\":\"A-1002\",\"currency\":\"EUR\",\"items\":[{\"sku\":\"X\",\"qty\":0,"
                          "\"unit_price\":1}]}";
    /* the valid order twice with the same job id: a redelivery must not write twice */
    for (int i = 0; i < 2; i++) {
        redisReply *r = redisCommand(c,
                                     "XADD sluice:{orders} * type order.placed.v1 id ord-1 correlation_id "
                                     "corr-9 payload %s",
                                     valid);
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(c, "XADD sluice:{orders} * type order.placed.v1 payload %s", invalid);
    freeReplyObject(r);

    pid_t pid = th_worker_start(cfg, "p", "corders", "worders.log");
    th_want dlq = {c, "sluice:{orders}:dlq:p", 1}, done = {c, "sluice:{orders}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);

    cr_assert_eq(th_count_lines(sum), 1, "summary written once");
    char *text = th_read_file(sum);
    cr_assert_str_eq(text, "{\"order_id\":\"A-1001\",\"items\":3,\"lines\":2,\"total\":19.25,\"currency\":\"EUR\"}\n");
    free(text);

    r = redisCommand(c, "XRANGE sluice:{orders}:dlq:p - +");
    cr_assert(r && r->elements == 1);
    const redisReply *f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "reason"), "failed");
    cr_assert(strstr(th_field_last_str(f, "error"), "invalid order: items[0].qty must be positive"), "error: %s",
              th_field_last_str(f, "error"));
    freeReplyObject(r);

    /* the published summaries: propagated correlation, causation = the order's job id */
    r = redisCommand(c, "XRANGE sluice:{summaries} - +");
    cr_assert(r && r->elements == 2, "summaries published: %zu", r ? r->elements : 0);
    f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "type"), "order.summarized.v1");
    cr_assert_str_eq(th_field_last_str(f, "id"), "ord-1.summary");
    cr_assert_str_eq(th_field_last_str(f, "correlation_id"), "corr-9");
    cr_assert_str_eq(th_field_last_str(f, "causation_id"), "ord-1");
    cr_assert(strstr(th_field_last_str(f, "payload"), "\"total\":19.25"));
    cr_assert_not_null(th_field_last_str(f, "enqueued_at"));
    freeReplyObject(r);
    free(cfg);
    free(sum);
    redisFree(c);
}

Test(worker, check_mode_loads_plugins_and_exits)
{
    char *good = write_config("wcheck.json", SLUICE_TEST_PLUGIN_DIR, "qcheck", "[\"ok\",\"fail\"]", "", "");
    cr_assert_eq(run_worker(good, "p", "--check"), 0);
    char *bad = write_config("wcheckbad.json", SLUICE_TEST_PLUGIN_DIR, "qcheck", "[\"ok\",\"init_fail\"]", "", "");
    cr_assert_eq(run_worker(bad, "p", "--check"), 78);
    cr_assert_eq(run_worker(bad, "p", NULL), 78, "a plugin refusal is a config error, also without --check");
    cr_assert_eq(run_worker(good, "nosuchpool", "--check"), 78);
    free(good);
    free(bad);
}

/* ---- supervisor mode: fd 3 = channel, fd 4 = status slot ---------------- */

typedef struct sup_child {
    pid_t pid;
    int chan; /* supervisor end of the channel */
    sl_slot *slot; /* the worker's status slot, mapped here too */
} sup_child;

/* Start the worker as the supervisor does: socketpair on fd 3, memfd on fd 4,
 * the config as one line on the channel. Not a th_sup (sup.h): the test itself
 * is the supervisor's end of the channel, which `sluice run` would hide. */
static sup_child sup_start(const char *config_path, const char *flag)
{
    sup_child s = {0};
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int mfd = memfd_create("sluice-slot", MFD_CLOEXEC);
    cr_assert(mfd >= 0 && ftruncate(mfd, sizeof(sl_slot)) == 0);
    s.slot = mmap(NULL, sizeof(sl_slot), PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    cr_assert(s.slot != MAP_FAILED);
    char *log = th_tmp_path("sup.log");
    s.pid = fork();
    cr_assert(s.pid >= 0);
    if (s.pid == 0) {
        int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(lfd, 1), dup2(lfd, 2);
        /* move both fds out of the way first: either may already sit on 3 or 4 */
        int c = fcntl(sv[1], F_DUPFD, 10), m = fcntl(mfd, F_DUPFD, 10);
        dup2(c, SL_CHANNEL_FD), dup2(m, SL_SLOT_FD);
        char *argv[] = {SLUICE_WORKER_BIN, "--pool", "p", "--slot", "3", "--consumer", "sup-c", (char *)flag, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    free(log);
    close(sv[1]);
    close(mfd);
    s.chan = sv[0];
    char *json = th_read_file(config_path);
    size_t len = strlen(json);
    json[len] = '\n'; /* the file is one line: send it with its newline */
    cr_assert_eq(write(s.chan, json, len + 1), (ssize_t)(len + 1));
    free(json);
    return s;
}

/* Read "ready\n" from the channel within timeout_ms. */
static void sup_expect_ready(sup_child *s, int timeout_ms)
{
    char buf[16] = "";
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(s->chan, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = read(s->chan, buf, 6);
    cr_assert(n == 6 && memcmp(buf, "ready\n", 6) == 0, "expected ready, got %zd bytes \"%.*s\"", n,
              (int)(n > 0 ? n : 0), buf);
}

static int slot_ok_at_least(void *arg)
{
    sup_child *s = arg;
    return atomic_load(&s->slot->jobs_ok) >= 3 && atomic_load(&s->slot->state) == SL_SLOT_IDLE;
}

Test(worker, supervisor_mode_uses_channel_and_slot)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("recsup.txt");
    char settings[512];
    snprintf(settings, sizeof(settings), "\"record_file\":\"%s\"", rec);
    char *cfg = write_config("wsup.json", SLUICE_TEST_PLUGIN_DIR, "qsup", "[\"record\",\"fail\"]", settings, "");
    for (int i = 0; i < 3; i++)
        freeReplyObject(redisCommand(c, "XADD sluice:{qsup} * type test.record"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qsup} * type test.fail"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qsup} * type no.such"));

    sup_child s = sup_start(cfg, NULL);
    sup_expect_ready(&s, 10000);
    cr_assert(th_wait_until(slot_ok_at_least, &s, 10000), "slot: ok=%llu state=%d",
              (unsigned long long)atomic_load(&s.slot->jobs_ok), (int)atomic_load(&s.slot->state));
    th_want dlq = {c, "sluice:{qsup}:dlq:p", 2};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 5000));
    cr_assert_eq(s.slot->magic, SL_SLOT_MAGIC);
    cr_assert_eq(s.slot->version, SL_SLOT_VERSION);
    cr_assert_eq(atomic_load(&s.slot->pid), s.pid);
    cr_assert_eq(atomic_load(&s.slot->jobs_fail), 1);
    cr_assert_eq(atomic_load(&s.slot->jobs_rejected), 1);
    cr_assert(atomic_load(&s.slot->job_seq) >= 4, "job_seq %llu", (unsigned long long)atomic_load(&s.slot->job_seq));
    cr_assert_str_eq(s.slot->job_type, "test.fail", "the last job that ran");
    cr_assert(atomic_load(&s.slot->heartbeat_mono_ms) > 0);
    cr_assert_eq(th_count_lines(rec), 3);

    /* EOF on the channel means the supervisor is gone: stop, exit 0 */
    close(s.chan);
    int st = 0;
    int exited = th_wait_exit(s.pid, 5000, &st);
    if (!exited)
        th_kill(s.pid);
    cr_assert(exited && WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status 0x%x", st);
    munmap(s.slot, sizeof(sl_slot));
    free(cfg);
    free(rec);
    redisFree(c);
}

Test(worker, supervisor_mode_check_reports_ready_and_exits)
{
    char *cfg = write_config("wsupck.json", SLUICE_TEST_PLUGIN_DIR, "qsupck", "[\"ok\"]", "", "");
    sup_child s = sup_start(cfg, "--check");
    sup_expect_ready(&s, 10000);
    int st = 0;
    cr_assert(th_wait_exit(s.pid, 5000, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
    close(s.chan);
    munmap(s.slot, sizeof(sl_slot));
    free(cfg);
}

/* ---- Redis faults: a private redis-server this test may kill ------------ */

Test(worker, survives_redis_restart_readonly_and_a_lost_group)
{
    th_server red = {0}; /* no AOF: a restart comes back empty */
    th_server_start(&red);
    redisContext *c = th_server_connect(&red);
    char *rec = th_tmp_path("recfault.txt");
    char *cfg = NULL, *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"redis://127.0.0.1:%d/0\",\"reconnect_min\":\"50ms\","
                       "\"reconnect_max\":\"300ms\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":\"qf\","
                       "\"plugins\":[\"record\",\"fail\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       red.port, SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    cfg = th_write_file("wfault.json", json);
    free(json);
    pid_t pid = th_worker_start(cfg, "p", "cfault", "wfault.log");
    freeReplyObject(redisCommand(c, "XADD sluice:{qf} * type test.record id one"));
    th_want n1 = {c, rec, 1};
    cr_assert(th_wait_until(th_lines_at_least, &n1, 10000));

    /* 1. READONLY (a replica of nowhere): the worker backs off, no busy loop */
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    freeReplyObject(redisCommand(c, "REPLICAOF 127.0.0.1 1"));
    th_sleep_ms(1500);
    long long calls = th_xreadgroup_calls(c);
    freeReplyObject(redisCommand(c, "REPLICAOF NO ONE"));
    cr_assert(calls >= 1 && calls < 40, "XREADGROUP calls during 1.5 s of READONLY: %lld", calls);
    freeReplyObject(redisCommand(c, "XADD sluice:{qf} * type test.record id two"));
    th_want n2 = {c, rec, 2};
    cr_assert(th_wait_until(th_lines_at_least, &n2, 10000), "no progress after READONLY ended");

    /* 2. the group disappears: NOGROUP, recreated */
    freeReplyObject(redisCommand(c, "XGROUP DESTROY sluice:{qf} p"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qf} * type test.record id three"));
    th_want n3 = {c, rec, 3};
    cr_assert(th_wait_until(th_lines_at_least, &n3, 10000), "no progress after the group was destroyed");

    /* 3. Redis dies and comes back empty on the same port: reconnect, recreate */
    redisFree(c);
    th_server_kill(&red);
    th_sleep_ms(700);
    th_server_start(&red); /* the same port */
    c = th_server_connect(&red);
    freeReplyObject(redisCommand(c, "XADD sluice:{qf} * type test.record id four"));
    char *text = NULL;
    for (int i = 0; i < 500; i++) {
        free(text);
        text = th_read_file(rec);
        if (text && strstr(text, "four 1 "))
            break;
        th_sleep_ms(20);
    }
    cr_assert(text && strstr(text, "four 1 "), "no progress after a Redis restart: %s", text ? text : "");
    th_want done = {c, "sluice:{qf}", 0};
    cr_assert(th_wait_until(pending_is, &done, 5000));

    /* 4. OOM while dead-lettering: deferred (entry stays pending), then done */
    kill(pid, SIGSTOP);
    freeReplyObject(redisCommand(c, "XADD sluice:{qf} * type test.fail id five"));
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 1"));
    kill(pid, SIGCONT);
    th_sleep_ms(1000);
    cr_assert_eq(th_pending(c, "sluice:{qf}", "p"), 1, "the failed job must stay pending while Redis is out of memory");
    cr_assert_eq(th_int(c, "XLEN sluice:{qf}:dlq:p"), 0);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory 0"));
    th_want dlq = {c, "sluice:{qf}:dlq:p", 1};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000), "dead letter not written after OOM ended");
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    free(text);
    redisFree(c);
    th_server_kill(&red);
    free(cfg);
    free(rec);
}

/* A runtime error in the dead-letter XADD (WRONGTYPE at the DLQ key) must not
 * ack the entry: it stays pending while the worker goes on with other jobs,
 * and is dead-lettered by the replay after a restart once the key is fixed. */
Test(worker, a_broken_dlq_key_never_loses_the_job)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("recwt.txt");
    char settings[512];
    snprintf(settings, sizeof(settings), "\"record_file\":\"%s\"", rec);
    char *cfg = write_config("wwt.json", SLUICE_TEST_PLUGIN_DIR, "qwt", "[\"record\",\"fail\"]", settings, "");
    freeReplyObject(redisCommand(c, "SET sluice:{qwt}:dlq:p not-a-stream"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qwt} * type test.fail id doomed"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qwt} * type test.record id fine"));
    pid_t pid = th_worker_start(cfg, "p", "cwt", "wwt.log");
    th_want one = {c, rec, 1}, left = {c, "sluice:{qwt}", 1};
    cr_assert(th_wait_until(th_lines_at_least, &one, 10000), "the worker must carry on after a refused dead letter");
    cr_assert(th_wait_until(pending_is, &left, 5000), "pending: %lld", th_pending(c, "sluice:{qwt}", "p"));
    th_worker_stop(pid, 5000);
    redisReply *r = redisCommand(c, "XPENDING sluice:{qwt} p - + 10");
    cr_assert(r && r->elements == 1);
    freeReplyObject(r);

    freeReplyObject(redisCommand(c, "DEL sluice:{qwt}:dlq:p"));
    pid = th_worker_start(cfg, "p", "cwt", "wwt2.log");
    th_want dlq = {c, "sluice:{qwt}:dlq:p", 1}, done = {c, "sluice:{qwt}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_is, &done, 5000));
    th_worker_stop(pid, 5000);
    r = redisCommand(c, "XRANGE sluice:{qwt}:dlq:p - +");
    cr_assert_str_eq(th_field_last_str(r->element[0]->element[1], "id"), "doomed");
    cr_assert_str_eq(th_field_last_str(r->element[0]->element[1], "deliveries"), "2");
    freeReplyObject(r);
    free(cfg);
    free(rec);
    redisFree(c);
}

/* The supervisor names consumers <host>-<pool>-<slot>: with a 64-byte host
 * name and a 64-byte pool name that passes 128 bytes, and must still start. */
Test(worker, accepts_the_longest_consumer_name_the_supervisor_builds)
{
    char *cfg = write_config("wlong.json", SLUICE_TEST_PLUGIN_DIR, "qlong", "[\"ok\"]", "", "");
    char name[200];
    memset(name, 'h', 64);
    name[64] = '-';
    memset(name + 65, 'p', 64);
    snprintf(name + 129, sizeof name - 129, "-1023");
    char *argv[] = {SLUICE_WORKER_BIN, "--config", cfg, "--pool", "p", "--consumer", name, "--check", NULL};
    char *lp = th_tmp_path("wlong.log");
    pid_t pid = th_spawn(argv, NULL, lp);
    int st = 0;
    cr_assert(th_wait_exit(pid, 20000, &st), "worker did not exit");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "a %zu-byte consumer name was refused (see %s)", strlen(name), lp);
    free(lp);
    free(cfg);
}
