/* Retries, dead letters and recovery end to end: the real sluice-worker in
 * standalone mode (--config FILE --pool P), real plugins and a real
 * redis-server. No supervisor runs, so the tests promote due retries
 * themselves (FCALL sluice_promote) and restart crashed workers. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(retry, .init = setup, .timeout = 180);
TestSuite(recovery, .init = setup, .timeout = 180);

/* ---- helpers ------------------------------------------------------------ */

/* One pool as JSON: name (= group unless group given), queue, plugins (a JSON
 * array), settings (JSON object members), extra pool members (may be ""). */
static char *pool_json(const char *name, const char *queue, const char *plugins, const char *settings,
                       const char *extra)
{
    char *p = NULL;
    cr_assert(asprintf(&p,
                       "{\"name\":\"%s\",\"queue\":\"%s\",\"plugins\":%s,\"block\":\"200ms\",%s"
                       "\"settings\":{%s}}",
                       name, queue, plugins, extra, settings) > 0);
    return p;
}

/* A config file with the given jobs members and pools (JSON array members). */
static char *write_config(const char *file, const char *jobs, const char *pools)
{
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"50ms\",\"reconnect_max\":\"500ms\"},"
                       "\"plugin_dir\":\"%s\",\"log\":{\"level\":\"info\"},\"jobs\":{%s},\"pools\":[%s]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, jobs, pools) > 0);
    char *path = th_write_file(file, json);
    free(json);
    return path;
}

/* A one-pool config ("p" on queue), record_file setting = rec (may be NULL). */
static char *simple_config(const char *file, const char *queue, const char *plugins, const char *rec, const char *jobs,
                           const char *extra)
{
    char settings[512] = "";
    if (rec)
        snprintf(settings, sizeof(settings), "\"record_file\":\"%s\"", rec);
    char *pool = pool_json("p", queue, plugins, settings, extra);
    char *cfg = write_config(file, jobs, pool);
    free(pool);
    return cfg;
}

/* 1 if the worker's log file contains needle. */
static int log_has(const char *log, const char *needle)
{
    char *lp = th_tmp_path(log);
    char *text = th_read_file(lp);
    int found = text && strstr(text, needle) != NULL;
    free(text);
    free(lp);
    return found;
}

/* Pending entries of a group on a stream (0 when the stream or group is missing). */
static long long pending(redisContext *c, const char *stream, const char *group)
{
    redisReply *r = redisCommand(c, "XPENDING %s %s", stream, group);
    long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 ? r->element[0]->integer : 0;
    if (r)
        freeReplyObject(r);
    return n;
}

/* XADD n jobs "<prefix><i>" of type with payload, pipelined. */
static void enqueue(redisContext *c, const char *stream, const char *type, const char *prefix, int n,
                    const char *payload)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "XADD %s * type %s id %s%d payload %s", stream, type, prefix, i, payload);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

/* Promote due scheduled entries (as the supervisor would) until pred holds. */
static int promote_until(redisContext *c, const char *sched, int (*pred)(void *), void *arg, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        redisReply *r = redisCommand(c, "FCALL sluice_promote 1 %s 1000", sched);
        if (r)
            freeReplyObject(r); /* the library may not be loaded before the worker starts */
        if (pred(arg))
            return 1;
        th_sleep_ms(20);
    }
    return pred(arg);
}

static int pending_zero(void *arg)
{
    th_want *w = arg; /* key = stream, n unused; group "p" */
    return pending(w->c, w->key, "p") == 0;
}

/* Record lines "<id> <attempt> <pid> <deliveries>": check that ids
 * <prefix>0..n-1 each appear exactly once with the given attempt (and
 * deliveries, unless 0), and nothing else does. */
static void check_record(const char *path, const char *prefix, int n, unsigned attempt, unsigned deliveries)
{
    char *text = th_read_file(path);
    cr_assert_not_null(text, "no record file %s", path);
    int *seen = calloc((size_t)n, sizeof(int));
    int lines = 0;
    size_t plen = strlen(prefix);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        char id[128];
        unsigned a, d;
        long pid;
        cr_assert_eq(sscanf(line, "%127s %u %ld %u", id, &a, &pid, &d), 4, "line %s", line);
        cr_assert(strncmp(id, prefix, plen) == 0, "unexpected job %s", id);
        int i = atoi(id + plen);
        cr_assert(i >= 0 && i < n, "unexpected job %s", id);
        cr_assert_eq(seen[i]++, 0, "job %s recorded twice", id);
        cr_assert_eq(a, attempt, "line %s", line);
        if (deliveries)
            cr_assert_eq(d, deliveries, "line %s", line);
    }
    cr_assert_eq(lines, n);
    free(seen);
    free(text);
}

/* ---- retries ------------------------------------------------------------ */

#define FAST_BACKOFF "\"backoff_base\":\"10ms\",\"backoff_cap\":\"50ms\""

Test(retry, jobs_succeed_on_their_third_attempt_through_the_retry_stream)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("r200.txt");
    char *cfg = simple_config("r200.json", "qr", "[\"retry\"]", rec, FAST_BACKOFF, "");
    enqueue(c, "sluice:{qr}", "test.retry", "j", 200, "{\"succeed_on\":3}");
    pid_t pid = th_worker_start(cfg, "p", "cr", "r200.log");
    th_want all = {c, rec, 200};
    cr_assert(promote_until(c, "sluice:{qr}:sched", th_lines_at_least, &all, 60000), "only %ld of 200 done",
              th_count_lines(rec));
    th_want main_done = {c, "sluice:{qr}", 0}, retry_done = {c, "sluice:{qr}:r:p", 0};
    cr_assert(th_wait_until(pending_zero, &main_done, 5000));
    cr_assert(th_wait_until(pending_zero, &retry_done, 5000), "retry stream pending: %lld",
              pending(c, "sluice:{qr}:r:p", "p"));
    th_worker_stop(pid, 5000);
    check_record(rec, "j", 200, 3, 1);
    cr_assert_eq(th_int(c, "XLEN sluice:{qr}:r:p"), 400, "attempts 2 and 3 of each job went to the retry stream");
    cr_assert_eq(th_int(c, "ZCARD sluice:{qr}:sched"), 0);
    cr_assert_eq(th_int(c, "XLEN sluice:{qr}:dlq:p"), 0);
    /* a retry copy carries the job id, its attempt and the last error */
    redisReply *r = redisCommand(c, "XRANGE sluice:{qr}:r:p - + COUNT 1");
    const redisReply *f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "attempt"), "2");
    cr_assert_str_eq(th_field_last_str(f, "last_error"), "attempt 1 of 3: not yet");
    cr_assert(strncmp(th_field_last_str(f, "id"), "j", 1) == 0);
    freeReplyObject(r);
    free(cfg);
    free(rec);
    redisFree(c);
}

Test(retry, exhausted_attempts_go_to_the_dlq)
{
    redisContext *c = th_redis();
    char *cfg = simple_config("rex.json", "qx", "[\"retry\"]", NULL, FAST_BACKOFF ",\"max_attempts\":2", "");
    enqueue(c, "sluice:{qx}", "test.retry", "x", 200, "{\"succeed_on\":5}");
    pid_t pid = th_worker_start(cfg, "p", "cx", "rex.log");
    th_want dlq = {c, "sluice:{qx}:dlq:p", 200};
    cr_assert(promote_until(c, "sluice:{qx}:sched", th_xlen_at_least, &dlq, 60000), "DLQ has %lld of 200",
              th_int(c, "XLEN sluice:{qx}:dlq:p"));
    th_want main_done = {c, "sluice:{qx}", 0}, retry_done = {c, "sluice:{qx}:r:p", 0};
    cr_assert(th_wait_until(pending_zero, &main_done, 5000) && th_wait_until(pending_zero, &retry_done, 5000));
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_int(c, "XLEN sluice:{qx}:dlq:p"), 200);
    cr_assert_eq(th_int(c, "ZCARD sluice:{qx}:sched"), 0);
    redisReply *r = redisCommand(c, "XRANGE sluice:{qx}:dlq:p - +");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        cr_assert_str_eq(th_field_last_str(f, "reason"), "exhausted");
        cr_assert_str_eq(th_field_last_str(f, "attempts"), "2");
        cr_assert_str_eq(th_field_last_str(f, "error"), "attempt 2 of 5: not yet");
        cr_assert_str_eq(th_field_last_str(f, "original_stream"), "sluice:{qx}:r:p",
                         "the last attempt ran from the retry stream");
        cr_assert_str_eq(th_field_last_str(f, "deliveries"), "1");
    }
    freeReplyObject(r);
    free(cfg);
    redisFree(c);
}

Test(retry, failed_jobs_are_dead_lettered_without_a_retry)
{
    redisContext *c = th_redis();
    char *cfg = simple_config("rfail.json", "qrf", "[\"fail\"]", NULL, FAST_BACKOFF, "");
    enqueue(c, "sluice:{qrf}", "test.fail", "f", 5, "{}");
    pid_t pid = th_worker_start(cfg, "p", "crf", "rfail.log");
    th_want dlq = {c, "sluice:{qrf}:dlq:p", 5}, done = {c, "sluice:{qrf}", 0};
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_zero, &done, 5000));
    th_worker_stop(pid, 5000);
    redisReply *r = redisCommand(c, "XRANGE sluice:{qrf}:dlq:p - +");
    cr_assert_eq(r->elements, 5);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i]->element[1];
        cr_assert_str_eq(th_field_last_str(f, "reason"), "failed");
        cr_assert_str_eq(th_field_last_str(f, "error"), "deliberate failure");
        cr_assert_str_eq(th_field_last_str(f, "attempts"), "1");
    }
    freeReplyObject(r);
    cr_assert_eq(th_int(c, "ZCARD sluice:{qrf}:sched"), 0);
    cr_assert_eq(th_int(c, "XLEN sluice:{qrf}:r:p"), 0);
    free(cfg);
    redisFree(c);
}

static int sched_nonempty(void *arg)
{
    th_want *w = arg;
    return th_int(w->c, "ZCARD %s", w->key) >= 1;
}

Test(retry, a_retry_after_hint_sets_the_due_time)
{
    redisContext *c = th_redis();
    char *cfg = simple_config("rhint.json", "qh", "[\"retry\"]", NULL, FAST_BACKOFF, "");
    enqueue(c, "sluice:{qh}", "test.retry", "h", 1, "{\"succeed_on\":2,\"retry_after\":60000}");
    pid_t pid = th_worker_start(cfg, "p", "ch", "rhint.log");
    th_want sched = {c, "sluice:{qh}:sched", 1}, done = {c, "sluice:{qh}", 0};
    cr_assert(th_wait_until(sched_nonempty, &sched, 10000));
    cr_assert(th_wait_until(pending_zero, &done, 5000));
    th_worker_stop(pid, 5000);
    redisReply *t = redisCommand(c, "TIME");
    long long now = strtoll(t->element[0]->str, NULL, 10) * 1000 + strtoll(t->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(t);
    redisReply *r = redisCommand(c, "ZRANGE sluice:{qh}:sched 0 -1 WITHSCORES");
    cr_assert(r && r->elements == 2);
    long long due = strtoll(r->element[1]->str, NULL, 10);
    cr_assert(due > now + 55000 && due <= now + 60000, "due in %lld ms, expected ~60000", due - now);
    cr_assert(strstr(r->element[0]->str, "sluice:{qh}:r:p"), "scheduled for this group's retry stream: %s",
              r->element[0]->str);
    freeReplyObject(r);
    free(cfg);
    redisFree(c);
}

Test(retry, a_retry_reaches_only_the_group_that_asked_for_it)
{
    redisContext *c = th_redis();
    char *reca = th_tmp_path("ga.txt"), *recb = th_tmp_path("gb.txt");
    char sa[512], sb[512];
    snprintf(sa, sizeof(sa), "\"record_file\":\"%s\"", reca);
    snprintf(sb, sizeof(sb), "\"record_file\":\"%s\",\"retry_type\":\"test.record\"", recb);
    char *pa = pool_json("a", "qg", "[\"record\"]", sa, ""), *pb = pool_json("b", "qg", "[\"retry\"]", sb, "");
    char pools[2048];
    snprintf(pools, sizeof(pools), "%s,%s", pa, pb);
    char *cfg = write_config("rgroups.json", FAST_BACKOFF, pools);
    enqueue(c, "sluice:{qg}", "test.record", "g", 50, "{\"succeed_on\":2}");
    pid_t wa = th_worker_start(cfg, "a", "ca", "rga.log"), wb = th_worker_start(cfg, "b", "cb", "rgb.log");
    th_want b_done = {c, recb, 50}, a_done = {c, reca, 50};
    cr_assert(promote_until(c, "sluice:{qg}:sched", th_lines_at_least, &b_done, 30000), "group b did %ld of 50",
              th_count_lines(recb));
    cr_assert(th_wait_until(th_lines_at_least, &a_done, 10000), "group a did %ld of 50", th_count_lines(reca));
    th_sleep_ms(300); /* anything stray would arrive now */
    th_worker_stop(wa, 5000);
    th_worker_stop(wb, 5000);
    check_record(reca, "g", 50, 1, 1);
    check_record(recb, "g", 50, 2, 1);
    cr_assert_eq(th_int(c, "XLEN sluice:{qg}:r:b"), 50);
    cr_assert_eq(th_int(c, "XLEN sluice:{qg}:r:a"), 0, "group a's retry stream never gets b's retries");
    cr_assert_eq(pending(c, "sluice:{qg}", "a") + pending(c, "sluice:{qg}", "b"), 0);
    cr_assert_eq(pending(c, "sluice:{qg}:r:a", "a") + pending(c, "sluice:{qg}:r:b", "b"), 0);
    free(pa);
    free(pb);
    free(cfg);
    free(reca);
    free(recb);
    redisFree(c);
}

/* ---- recovery: crashes, fencing, reclaim, graceful stop, done-markers ---- */

Test(recovery, a_job_that_keeps_crashing_its_worker_is_dead_lettered_as_crashed)
{
    redisContext *c = th_redis();
    char *cfg = simple_config("ccrash.json", "qc", "[\"crash\"]", NULL, "\"max_deliveries\":3", "");
    freeReplyObject(redisCommand(c, "XADD sluice:{qc} * type test.crash id before payload {}"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qc} * type test.crash id boom payload {\"crash\":true}"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qc} * type test.crash id after payload {}"));
    th_want dlq = {c, "sluice:{qc}:dlq:p", 1}, done = {c, "sluice:{qc}", 0};
    int crashes = 0;
    pid_t pid = 0;
    for (int round = 0; round < 10; round++) { /* restart it after each crash, as the supervisor would */
        pid = th_worker_start(cfg, "p", "ccrash", "ccrash.log");
        int st = 0;
        if (!th_wait_exit(pid, 5000, &st))
            break; /* still running: no more crashes */
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "worker exit status 0x%x", st);
        crashes++;
        pid = 0;
    }
    cr_assert_neq(pid, 0, "the worker kept crashing");
    cr_assert(th_wait_until(th_xlen_at_least, &dlq, 10000));
    cr_assert(th_wait_until(pending_zero, &done, 5000), "pending: %lld", pending(c, "sluice:{qc}", "p"));
    th_worker_stop(pid, 5000);
    cr_assert_eq(crashes, 3, "three deliveries crashed, the fourth was dead-lettered without running");
    redisReply *r = redisCommand(c, "XRANGE sluice:{qc}:dlq:p - +");
    cr_assert_eq(r->elements, 1, "only the crashing job is dead-lettered; the others completed");
    const redisReply *f = r->element[0]->element[1];
    cr_assert_str_eq(th_field_last_str(f, "id"), "boom");
    cr_assert_str_eq(th_field_last_str(f, "reason"), "crashed");
    cr_assert_str_eq(th_field_last_str(f, "deliveries"), "4");
    cr_assert_str_eq(th_field_last_str(f, "attempts"), "1");
    cr_assert(strstr(th_field_last_str(f, "error"), "delivered 4 times without a result"), "error: %s",
              th_field_last_str(f, "error"));
    freeReplyObject(r);
    free(cfg);
    redisFree(c);
}

/* The entry is taken over (sluice_reclaim, as another host's worker does)
 * while its slow handler runs: the late ack is refused. A first job makes the
 * worker learn the group's fence, so its late ack is sent with a fence value
 * the reclaim has since bumped (sluice_ack's fast path must not take it). */
Test(recovery, a_late_result_is_refused_after_the_entry_was_reclaimed)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("fence.txt");
    char *cfg = simple_config("fence.json", "qfence", "[\"record\"]", rec, "", "");
    pid_t pid = th_worker_start(cfg, "p", "cfence", "fence.log");
    redisReply *r = redisCommand(c, "XADD sluice:{qfence} * type test.record id first payload {}");
    freeReplyObject(r);
    th_want one = {c, rec, 1};
    cr_assert(th_wait_until(th_lines_at_least, &one, 5000), "the first job did not run");
    for (int i = 0; i < 250 && pending(c, "sluice:{qfence}", "p") != 0; i++)
        th_sleep_ms(20);
    cr_assert_eq(pending(c, "sluice:{qfence}", "p"), 0, "the first job was not acked");
    r = redisCommand(c, "XADD sluice:{qfence} * type test.record id slow payload {\"sleep_ms\":1500}");
    char *sid = strdup(r->str);
    freeReplyObject(r);
    for (int i = 0; i < 500 && pending(c, "sluice:{qfence}", "p") != 1; i++)
        th_sleep_ms(20);
    th_sleep_ms(300); /* the handler is sleeping now */
    r = redisCommand(c, "FCALL sluice_reclaim 3 sluice:{qfence} sluice:{qfence}:dlq:p sluice:{qfence}:fence:p p thief "
                        "0 0-0 10 0");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->element[1]->elements == 1, "nothing to steal");
    freeReplyObject(r);
    th_want two = {c, rec, 2};
    cr_assert(th_wait_until(th_lines_at_least, &two, 5000), "the handler did not finish");
    for (int i = 0; i < 250 && !log_has("fence.log", "late result"); i++)
        th_sleep_ms(20);
    th_worker_stop(pid, 5000);
    cr_assert(log_has("fence.log", "late result refused"), "the refused ack was not logged");
    r = redisCommand(c, "XPENDING sluice:{qfence} p - + 10");
    cr_assert(r && r->elements == 1, "the entry must stay pending under its new owner");
    cr_assert_str_eq(r->element[0]->element[0]->str, sid);
    cr_assert_str_eq(r->element[0]->element[1]->str, "thief");
    freeReplyObject(r);
    free(sid);
    free(cfg);
    free(rec);
    redisFree(c);
}

/* A dead consumer's entries idle past the lease are taken over; one deleted
 * while pending is reported by XAUTOCLAIM, logged and dead-lettered "trimmed". */
Test(recovery, entries_of_a_dead_consumer_are_reclaimed_after_the_lease)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("reclaim.txt");
    char *cfg = simple_config("reclaim.json", "qrec", "[\"record\"]", rec, "\"lease\":\"1s\"", "");
    freeReplyObject(redisCommand(c, "XGROUP CREATE sluice:{qrec} p 0 MKSTREAM"));
    enqueue(c, "sluice:{qrec}", "test.record", "k", 2, "{}");
    redisReply *r = redisCommand(c, "XADD sluice:{qrec} * type test.record id gone");
    char *gone = strdup(r->str);
    freeReplyObject(r);
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP p ghost COUNT 10 STREAMS sluice:{qrec} >"));
    cr_assert_eq(th_int(c, "XDEL sluice:{qrec} %s", gone), 1);
    th_sleep_ms(1100); /* idle past the lease */
    pid_t pid = th_worker_start(cfg, "p", "live", "reclaim.log");
    th_want two = {c, rec, 2}, done = {c, "sluice:{qrec}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &two, 10000), "reclaimed %ld of 2", th_count_lines(rec));
    cr_assert(th_wait_until(pending_zero, &done, 5000));
    th_worker_stop(pid, 5000);
    check_record(rec, "k", 2, 1, 2); /* the ghost's delivery plus the claim */
    cr_assert(log_has("reclaim.log", "deleted while pending"), "deleted entry not reported");
    cr_assert(log_has("reclaim.log", gone), "deleted id %s not logged", gone);
    r = redisCommand(c, "XRANGE sluice:{qrec}:dlq:p - +");
    cr_assert(r && r->elements == 1, "the deleted entry must be dead-lettered, not lost");
    cr_assert_str_eq(th_field_last_str(r->element[0]->element[1], "reason"), "trimmed");
    cr_assert_str_eq(th_field_last_str(r->element[0]->element[1], "original_id"), gone);
    freeReplyObject(r);
    free(gone);
    free(cfg);
    free(rec);
    redisFree(c);
}

static int pending_is_10(void *arg)
{
    th_want *w = arg;
    return pending(w->c, w->key, "p") == 10;
}

Test(recovery, graceful_stop_releases_prefetched_entries)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("stop.txt");
    char *cfg = simple_config("stop.json", "qs", "[\"record\"]", rec, "", "\"read_count\":10,");
    freeReplyObject(redisCommand(c, "XADD sluice:{qs} * type test.record id s0 payload {\"sleep_ms\":1500}"));
    for (int i = 1; i < 10; i++)
        freeReplyObject(redisCommand(c, "XADD sluice:{qs} * type test.record id s%d payload {}", i));
    pid_t pid = th_worker_start(cfg, "p", "cstop", "stop.log");
    th_want batch = {c, "sluice:{qs}", 10};
    cr_assert(th_wait_until(pending_is_10, &batch, 10000), "the batch was not read");
    th_sleep_ms(300); /* s0 is running */
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_count_lines(rec), 1, "only the running job finishes");
    redisReply *r = redisCommand(c, "XPENDING sluice:{qs} p - + 20");
    cr_assert(r && r->elements == 9, "pending after stop: %zu", r ? r->elements : 0);
    for (size_t i = 0; i < r->elements; i++) {
        cr_assert_str_eq(r->element[i]->element[1]->str, "cstop");
        cr_assert_eq(r->element[i]->element[3]->integer, 0, "a released entry has spent no delivery");
    }
    freeReplyObject(r);
    cr_assert(log_has("stop.log", "released unstarted prefetched entries"));

    pid = th_worker_start(cfg, "p", "cstop", "stop2.log");
    th_want all = {c, rec, 10}, done = {c, "sluice:{qs}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &all, 10000));
    cr_assert(th_wait_until(pending_zero, &done, 5000));
    th_worker_stop(pid, 5000);
    check_record(rec, "s", 10, 1, 1);
    free(cfg);
    free(rec);
    redisFree(c);
}

Test(recovery, a_done_marker_skips_a_duplicate_delivery)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("done.txt");
    char *cfg = simple_config("done.json", "qd", "[\"done\"]", rec, "\"done_ttl\":\"1h\"", "");
    freeReplyObject(redisCommand(c, "XADD sluice:{qd} * type test.done id d0"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qd} * type test.done id d0"));
    freeReplyObject(redisCommand(c, "XADD sluice:{qd} * type test.done id d1"));
    pid_t pid = th_worker_start(cfg, "p", "cdone", "done.log");
    th_want two = {c, rec, 2}, done = {c, "sluice:{qd}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &two, 10000));
    cr_assert(th_wait_until(pending_zero, &done, 5000));
    th_sleep_ms(200);
    th_worker_stop(pid, 5000);
    check_record(rec, "d", 2, 1, 1); /* d0 ran once */
    cr_assert(log_has("done.log", "already done"), "the skipped duplicate was not logged");
    long long ttl = th_int(c, "TTL sluice:{qd}:done:p:d0");
    cr_assert(ttl > 3500 && ttl <= 3600, "done-marker TTL %lld", ttl);
    cr_assert_eq(th_int(c, "XLEN sluice:{qd}:dlq:p"), 0);
    free(cfg);
    free(rec);
    redisFree(c);
}

Test(recovery, an_evicting_redis_is_reported)
{
    redisContext *c = th_redis();
    char *cfg = simple_config("evict.json", "qe", "[\"ok\"]", NULL, "", "");
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory-policy allkeys-lru"));
    pid_t pid = th_worker_start(cfg, "p", "cevict", "evict.log");
    for (int i = 0; i < 250 && !log_has("evict.log", "maxmemory-policy"); i++)
        th_sleep_ms(20);
    th_worker_stop(pid, 5000);
    freeReplyObject(redisCommand(c, "CONFIG SET maxmemory-policy noeviction"));
    cr_assert(log_has("evict.log", "redis maxmemory-policy allkeys-lru can evict stream entries"));
    free(cfg);
    redisFree(c);
}
