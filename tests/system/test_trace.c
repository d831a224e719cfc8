/* Tracing: the W3C traceparent helpers (common/trace.c), propagation of
 * correlation_id, causation_id and traceparent by host->enqueue in a real
 * supervisor running the "chain" plugin, worker log lines carrying them, and
 * `sluice trace` (run in-process) showing the tree and the failing job. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/trace.h"
#include "common/util.h"
#include "sluice/client.h"
#include "support/sup.h"
#include "support/th.h"

int sl_cmd_trace(int argc, char **argv); /* cli/cmd_trace.c */

#define EXAMPLE "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static void is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'), "not lowercase hex: %s", s);
}

Test(trace, new_has_the_w3c_format)
{
    char a[SL_TRACE_SIZE], b[SL_TRACE_SIZE];
    cr_assert_eq(sl_trace_new(a), 0);
    cr_assert_eq(sl_trace_new(b), 0);
    cr_assert_eq(strlen(a), 55);
    cr_assert(strncmp(a, "00-", 3) == 0 && a[35] == '-' && a[52] == '-' && strcmp(a + 53, "01") == 0, "%s", a);
    is_lower_hex(a + 3, 32);
    is_lower_hex(a + 36, 16);
    cr_assert(sl_trace_valid(a));
    cr_assert_str_neq(a, b);
    cr_assert(strncmp(a + 3, b + 3, 32) != 0, "two fresh traceparents share a trace id");
}

Test(trace, child_keeps_trace_id_and_flags_with_a_new_span)
{
    char c[SL_TRACE_SIZE], id[SL_TRACE_ID_SIZE], cid[SL_TRACE_ID_SIZE];
    cr_assert_eq(sl_trace_child(EXAMPLE, c), 0);
    cr_assert(sl_trace_valid(c));
    cr_assert_eq(sl_trace_id(EXAMPLE, id), 0);
    cr_assert_eq(sl_trace_id(c, cid), 0);
    cr_assert_str_eq(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    cr_assert_str_eq(cid, id);
    cr_assert(strncmp(c + 36, EXAMPLE + 36, 16) != 0, "child reused the parent span id");
    cr_assert_str_eq(c + 52, "-01");
    cr_assert_eq(sl_trace_child("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", c), 0);
    cr_assert_str_eq(c + 52, "-00", "flags not kept: %s", c);
    char d[SL_TRACE_SIZE];
    cr_assert_eq(sl_trace_child(c, d), 0);
    cr_assert(strncmp(c + 3, d + 3, 32) == 0 && strncmp(c + 36, d + 36, 16) != 0);
}

Test(trace, invalid_parent_gives_a_fresh_traceparent)
{
    static const char *bad[] = {
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01", /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", /* zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", /* uppercase */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 is exactly 55 */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", /* short */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    char c[SL_TRACE_SIZE], id[SL_TRACE_ID_SIZE];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(sl_trace_valid(bad[i]), "accepted %s", bad[i]);
        cr_assert_eq(sl_trace_id(bad[i], id), -1);
        cr_assert_str_eq(id, "");
        cr_assert_eq(sl_trace_child(bad[i], c), 0);
        cr_assert(sl_trace_valid(c), "child of %s: %s", bad[i], c);
        cr_assert(strncmp(c + 3, "4bf92f3577b34da6a3ce929d0e0e4736", 32) != 0, "kept the trace id of %s", bad[i]);
    }
    cr_assert_not(sl_trace_valid(NULL));
    cr_assert_eq(sl_trace_child(NULL, c), 0);
    cr_assert(sl_trace_valid(c));
    /* A later version may carry more fields after a '-'. */
    cr_assert(sl_trace_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever"));
    cr_assert(sl_trace_valid(EXAMPLE));
}

/* ---- end to end --------------------------------------------------------------- */

static char record[512];

static int four_recorded(void *arg)
{
    (void)arg;
    return th_count_lines(record) >= 4;
}

static int settled(void *arg)
{
    redisContext *c = arg;
    redisReply *r = redisCommand(c, "XPENDING sluice:{shop} billing");
    int idle = r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->integer == 0;
    if (r)
        freeReplyObject(r);
    return idle && th_int(c, "XLEN sluice:{shop}:dlq:billing") == 1 && th_int(c, "XLEN sluice:{shop}") == 4;
}

/* One work-stream entry, by type. */
typedef struct ent {
    char sid[64], id[130], corr[130], caus[130], tp[130];
} ent;

static void read_entries(redisContext *c, const char *const *types, ent *out, size_t n)
{
    redisReply *r = redisCommand(c, "XRANGE sluice:{shop} - +");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == n, "expected %zu entries", n);
    for (size_t e = 0; e < r->elements; e++) {
        const redisReply *f = r->element[e]->element[1];
        const char *type = "", *corr = "", *caus = "", *tp = "", *id = NULL;
        for (size_t i = 0; i + 1 < f->elements; i += 2) {
            const char *k = f->element[i]->str, *v = f->element[i + 1]->str;
            if (!strcmp(k, "type"))
                type = v;
            if (!strcmp(k, "correlation_id"))
                corr = v;
            if (!strcmp(k, "causation_id"))
                caus = v;
            if (!strcmp(k, "traceparent"))
                tp = v;
            if (!strcmp(k, "id"))
                id = v;
        }
        size_t which = n;
        for (size_t t = 0; t < n; t++)
            if (!strcmp(types[t], type))
                which = t;
        cr_assert(which < n, "unexpected type %s", type);
        ent *x = &out[which];
        snprintf(x->sid, sizeof(x->sid), "%s", r->element[e]->element[0]->str);
        snprintf(x->id, sizeof(x->id), "%s", id ? id : x->sid);
        snprintf(x->corr, sizeof(x->corr), "%s", corr);
        snprintf(x->caus, sizeof(x->caus), "%s", caus);
        snprintf(x->tp, sizeof(x->tp), "%s", tp);
    }
    freeReplyObject(r);
}

/* Run `sluice trace ARGS...` in this process with stdout in a file; returns
 * the exit code and the output (caller frees). */
static int run_trace(char **out, int argc, char **argv)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/trace-out.txt", th_tmpdir());
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    int rc = sl_cmd_trace(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    *out = th_read_file(path);
    cr_assert_not_null(*out);
    return rc;
}

/* The line of text that starts with prefix (NULL if none), and its index. */
static const char *line_starting(const char *text, const char *prefix, int *index)
{
    int i = 0;
    for (const char *l = text; l && *l; i++) {
        if (strncmp(l, prefix, strlen(prefix)) == 0) {
            *index = i;
            return l;
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return NULL;
}

static const cJSON *child(const cJSON *job, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(job, "children"), i);
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

Test(trace, chain_propagates_and_sluice_trace_shows_the_tree, .init = th_flushall, .timeout = 120)
{
    snprintf(record, sizeof(record), "%s/chain-record.txt", th_tmpdir());
    remove(record);
    char json[4096];
    snprintf(json, sizeof(json),
             "{\"redis\":{\"url\":\"%s\"},\"log\":{\"format\":\"json\",\"level\":\"info\"},\"plugin_dir\":\"%s\","
             "\"supervisor\":{\"worker_path\":\"%s\",\"shutdown_timeout\":\"5s\",\"http_listen\":null},"
             "\"pools\":[{\"name\":\"billing\",\"queue\":\"shop\",\"group\":\"billing\",\"plugins\":[\"chain\"],"
             "\"workers\":2,\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
             th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, record);
    char *cfg = th_write_file("chain.json", json);
    th_sup sup = {0};
    th_sup_init(&sup, "chain", cfg, "chain-supervisor.log");
    remove(sup.log);
    th_sup_start(&sup);

    /* Job A: a request with its own correlation id and trace. */
    char corr[37], tp[SL_TRACE_SIZE], a_id[SLUICE_ID_MAX], err[256];
    sl_uuid4(corr);
    cr_assert_eq(sl_trace_new(tp), 0);
    sluice_client *cl = sluice_client_new(th_redis_url(), NULL, err, sizeof(err));
    cr_assert_not_null(cl, "%s", err);
    sluice_enqueue_opts o = {.size = sizeof(o), .correlation_id = corr, .traceparent = tp};
    cr_assert_eq(
        sluice_enqueue(cl, "shop", "chain.order.placed.v1", "{\"order_id\":\"A-42\"}", 0, &o, a_id, sizeof(a_id)), 0,
        "%s", sluice_client_error(cl));
    sluice_client_free(cl);

    redisContext *c = th_redis();
    cr_assert(th_wait_until(four_recorded, NULL, 30000), "only %ld of 4 jobs ran (see %s)", th_count_lines(record),
              sup.log);
    cr_assert(th_wait_until(settled, c, 30000), "the chain did not settle (see %s)", sup.log);

    /* Propagation, as written in the stream. */
    static const char *const types[] = {"chain.order.placed.v1", "chain.payment.requested.v1",
                                        "chain.payment.capture.v1", "chain.email.requested.v1"};
    ent e[4];
    read_entries(c, types, e, 4);
    ent *A = &e[0], *B = &e[1], *D = &e[2], *C2 = &e[3];
    cr_assert_str_eq(A->sid, a_id);
    cr_assert_str_eq(A->tp, tp);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(e[i].corr, corr, "%s has correlation %s", types[i], e[i].corr);
        cr_assert(sl_trace_valid(e[i].tp), "%s: traceparent '%s'", types[i], e[i].tp);
        cr_assert(strncmp(e[i].tp + 3, tp + 3, 32) == 0, "%s left A's trace: %s", types[i], e[i].tp);
        for (int k = 0; k < i; k++)
            cr_assert(strncmp(e[i].tp + 36, e[k].tp + 36, 16) != 0, "shared span id");
    }
    cr_assert_str_eq(A->caus, "");
    cr_assert_str_eq(B->caus, A->id);
    cr_assert_str_eq(C2->caus, A->id);
    cr_assert_str_eq(D->caus, B->id);

    /* The handler saw the same context (record lines). */
    char *rec = th_read_file(record), want[1024];
    snprintf(want, sizeof(want), "chain.payment.capture.v1 %s %s %s %s\n", D->id, corr, B->id, D->tp);
    cr_assert(strstr(rec, want), "record lacks '%s':\n%s", want, rec);
    free(rec);

    /* The handler's log line carries the tracing context. */
    char *logtext = th_read_file(sup.log);
    const char *l = logtext ? strstr(logtext, "capture refused by the card issuer") : NULL;
    cr_assert_not_null(l, "no handler log line in %s", sup.log);
    const char *eol = strchr(l, '\n');
    char line[4096];
    snprintf(line, sizeof(line), "%.*s", (int)(eol ? eol - l : (long)strlen(l)), l);
    char f1[300], f2[300], f3[300];
    snprintf(f1, sizeof(f1), "\"correlation_id\":\"%s\"", corr);
    snprintf(f2, sizeof(f2), "\"causation_id\":\"%s\"", B->id);
    snprintf(f3, sizeof(f3), "\"traceparent\":\"%s\"", D->tp);
    cr_assert(strstr(line, f1) && strstr(line, f2) && strstr(line, f3), "log line lacks tracing fields: %s", line);
    free(logtext);

    /* sluice trace: the tree, the outcome per group, the failing job's error. */
    char *out = NULL;
    char *targv[] = {"trace", "-c", cfg, corr, NULL};
    cr_assert_eq(run_trace(&out, 4, targv), 0, "sluice trace failed:\n%s", out);
    char p[4][400];
    snprintf(p[0], sizeof(p[0]), "chain.order.placed.v1  id %s  ", A->id);
    snprintf(p[1], sizeof(p[1]), "+-- chain.payment.requested.v1  id %s  ", B->id);
    snprintf(p[2], sizeof(p[2]), "|   `-- chain.payment.capture.v1  id %s  ", D->id);
    snprintf(p[3], sizeof(p[3]), "`-- chain.email.requested.v1  id %s  ", C2->id);
    int at[4] = {-1, -1, -1, -1};
    for (int i = 0; i < 4; i++)
        cr_assert(line_starting(out, p[i], &at[i]), "no line '%s' in:\n%s", p[i], out);
    cr_assert(at[0] < at[1] && at[1] < at[2] && at[2] < at[3], "tree order wrong:\n%s", out);
    cr_assert(strstr(out, "!! billing: dead-lettered, reason failed, error \"card declined: insufficient funds"),
              "no dead letter with its error in:\n%s", out);
    cr_assert(strstr(out, "billing: completed"), "%s", out);
    cr_assert(strstr(out, "correlation_id ") && strstr(out, ": 4 jobs, trace id "), "%s", out);
    int dl = -1;
    cr_assert(line_starting(out, "|             !! billing: dead-lettered", &dl) && dl > at[2] && dl < at[3],
              "the dead letter is not under D:\n%s", out);
    free(out);

    /* The same as JSON. */
    char *url = (char *)th_redis_url();
    char *jargv[] = {"trace", "-u", url, "--queue", "shop", "--json", corr, NULL};
    cr_assert_eq(run_trace(&out, 7, jargv), 0);
    cJSON *doc = cJSON_Parse(out);
    cr_assert_not_null(doc, "not JSON:\n%s", out);
    const cJSON *jobs = cJSON_GetObjectItem(doc, "jobs");
    cr_assert_eq(cJSON_GetArraySize(jobs), 1, "%s", out);
    const cJSON *ja = cJSON_GetArrayItem(jobs, 0), *jb = child(ja, 0), *jd = child(jb, 0), *jc = child(ja, 1);
    cr_assert_str_eq(str(ja, "id"), A->id);
    cr_assert_str_eq(str(jb, "id"), B->id);
    cr_assert_str_eq(str(jd, "id"), D->id);
    cr_assert_str_eq(str(jc, "id"), C2->id);
    cr_assert_str_eq(str(jd, "causation_id"), B->id);
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItem(jd, "groups"), 0);
    cr_assert_str_eq(str(g, "group"), "billing");
    cr_assert_str_eq(str(g, "state"), "dead_lettered");
    cr_assert_str_eq(str(g, "reason"), "failed");
    cr_assert(strstr(str(g, "error"), "card declined"), "%s", out);
    const cJSON *jl[] = {ja, jb, jd, jc};
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(str(jl[i], "trace_id"), str(ja, "trace_id"));
    cJSON_Delete(doc);
    free(out);

    /* Discovery by SCAN finds the same; an unknown id is exit 1; the bound is said. */
    char *dargv[] = {"trace", "-u", url, "--max-scan", "2", corr, NULL};
    cr_assert_eq(run_trace(&out, 6, dargv), 0);
    cr_assert(strstr(out, "note: sluice:{shop}: stopped after 2 entries"), "%s", out);
    free(out);
    char *nargv[] = {"trace", "-u", url, "--queue", "shop", "no-such-request", NULL};
    cr_assert_eq(run_trace(&out, 6, nargv), 1);
    free(out);

    th_sup_term(&sup, 20000); /* stops; its exit status is not this test's subject */
    redisFree(c);
    free(cfg);
}

/* Outcomes read from Redis alone: pending, retry scheduled, completed, retried,
 * not yet delivered, per group, for hand-made entries. */
Test(trace, group_states_from_redis, .init = th_flushall)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "XADD sluice:{tq} * type a.v1 correlation_id R enqueued_at 1700000000000");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    char id[64];
    snprintf(id, sizeof(id), "%s", r->str);
    freeReplyObject(r);
    th_int(c, "XADD sluice:{tq} * type other.v1 correlation_id OTHER");
    freeReplyObject(redisCommand(c, "XGROUP CREATE sluice:{tq} g1 0"));
    freeReplyObject(redisCommand(c, "XGROUP CREATE sluice:{tq} g2 0"));
    freeReplyObject(redisCommand(c, "XGROUP CREATE sluice:{tq} g3 0"));
    freeReplyObject(redisCommand(c, "XGROUP CREATE sluice:{tq} g4 0"));
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP g1 c1 COUNT 1 STREAMS sluice:{tq} >")); /* g1: pending */
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP g2 c2 COUNT 1 STREAMS sluice:{tq} >"));
    freeReplyObject(redisCommand(c, "XACK sluice:{tq} g2 %s", id)); /* g2: completed */
    /* g3: attempt 1 acked, attempt 2 waiting in sched */
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP g3 c3 COUNT 1 STREAMS sluice:{tq} >"));
    freeReplyObject(redisCommand(c, "XACK sluice:{tq} g3 %s", id));
    char member[512];
    snprintf(member, sizeof(member),
             "{\"s\":\"sluice:{tq}:r:g3\",\"f\":[\"type\",\"a.v1\",\"correlation_id\",\"R\",\"id\",\"%s\","
             "\"attempt\",\"2\",\"last_error\",\"downstream 503\"]}",
             id);
    th_int(c, "ZADD sluice:{tq}:sched 1700000999000 %s", member);
    /* g4: nothing read yet; a child caused by the job */
    th_int(c, "XADD sluice:{tq} * type b.v1 correlation_id R causation_id %s", id);
    char *url = (char *)th_redis_url(), *out = NULL;
    char *argv[] = {"trace", "-u", url, "--queue", "tq", "--json", "R", NULL};
    cr_assert_eq(run_trace(&out, 7, argv), 0);
    cJSON *doc = cJSON_Parse(out);
    cr_assert_not_null(doc, "%s", out);
    const cJSON *a = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "jobs"), 0);
    cr_assert_str_eq(str(a, "id"), id);
    const cJSON *gs = cJSON_GetObjectItem(a, "groups");
    static const char *const want[][2] = {
        {"g1", "pending"}, {"g2", "completed"}, {"g3", "retry_scheduled"}, {"g4", "undelivered"}};
    cr_assert_eq(cJSON_GetArraySize(gs), 4, "%s", out);
    for (int i = 0; i < 4; i++) {
        const cJSON *g = cJSON_GetArrayItem(gs, i);
        cr_assert_str_eq(str(g, "group"), want[i][0], "%s", out);
        cr_assert_str_eq(str(g, "state"), want[i][1], "%s: %s", want[i][0], out);
    }
    cr_assert_str_eq(str(cJSON_GetArrayItem(gs, 0), "consumer"), "c1");
    cr_assert_str_eq(str(cJSON_GetArrayItem(gs, 2), "last_error"), "downstream 503");
    const cJSON *b = child(a, 0);
    cr_assert_str_eq(str(b, "type"), "b.v1", "%s", out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "jobs")), 1);
    cJSON_Delete(doc);
    free(out);
    redisFree(c);
}

/* A config that cannot be loaded: exit code 78, and nothing left allocated
 * (the argument array was leaked on that return). */
Test(trace, unreadable_config_exits_78_without_leaking)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/no-such-config.json", th_tmpdir());
    char *argv[] = {"trace", "-c", path, "R", NULL};
    /* Warm up first: one-time allocations, and glibc's per-thread cache of up to
     * 7 freed chunks per size, which mallinfo2 counts as in use. */
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sl_cmd_trace(4, argv), 78);
    size_t before = mallinfo2().uordblks;
    cr_assert_eq(sl_cmd_trace(4, argv), 78);
    cr_assert_eq(mallinfo2().uordblks, before, "sluice trace leaked %zu bytes", mallinfo2().uordblks - before);
}
