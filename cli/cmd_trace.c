/* `sluice trace CORRELATION_ID`: find every job of one request in the retained
 * work streams, retry streams, scheduled set and dead-letter streams of the
 * configured queues, work out each job's outcome in every consumer group, and
 * print the jobs as a tree by causation_id (cli/trace_tree.c). Read-only. A
 * partitioned queue is searched in every partition Q#i (its jobs are shown
 * with the partition as their queue). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"
#include "cli/trace_int.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/streamid.h"
#include "common/util.h"

#define CMD "trace"
#define PAGE 1000
#define PAGE_S "1000"
#define DEFAULT_MAX_SCAN 1000000L
#define MAX_FIELDS 64

static const char usage_text[] =
    "usage: sluice trace [-u URL] [-c CONFIG | --queue Q...] [--max-scan N] [--json] CORRELATION_ID\n"
    "\n"
    "Show every job of one request: the jobs carrying CORRELATION_ID in the work\n"
    "streams (sluice:{Q}), retry streams (sluice:{Q}:r:G), scheduled set\n"
    "(sluice:{Q}:sched) and dead-letter streams (sluice:{Q}:dlq:G) of the queues, as a\n"
    "tree by causation_id, with each job's type, id, enqueue time and, per consumer\n"
    "group, its outcome: completed, pending (consumer, idle, deliveries), retried,\n"
    "retry scheduled, dead-lettered (reason, error, failed_at) or not yet delivered.\n"
    "\n"
    "  -u, --url URL      Redis URL; default: the config's, else $SLUICE_REDIS_URL,\n"
    "                     else redis://127.0.0.1:6379/0\n"
    "  -c, --config FILE  search the queues (and groups) of the config's pools\n"
    "      --queue Q      search queue Q (repeatable); without -c or --queue, every\n"
    "                     sluice:{Q} stream found by SCAN (partitions sluice:{Q#I} too;\n"
    "                     a partitioned queue named by -c or --queue: all its partitions)\n"
    "      --max-scan N   read at most N entries of each key, newest first\n"
    "                     (default 1000000); a note says when the bound was hit\n"
    "      --json         print the tree as JSON\n"
    "  -h, --help         print this help\n"
    "\n"
    "\"completed\" means delivered to the group and acknowledged without a dead letter;\n"
    "a group created after a job with start_at \"$\" never saw it but shows it the same.\n"
    "Exit status: 0 found, 1 nothing found or Redis failure, 2 usage error, 78 bad config.\n";

typedef struct trace_args {
    const char *url, *config, *correlation;
    const char **queues;
    size_t nqueues;
    long max_scan;
    int json;
} trace_args;

/* A stream entry's fields, borrowed from a reply or a cJSON array. */
typedef struct fields {
    const char *name[MAX_FIELDS], *value[MAX_FIELDS];
    size_t n;
} fields;

static const char *fv(const fields *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    return NULL;
}

static void from_reply(fields *f, const redisReply *arr)
{
    f->n = 0;
    for (size_t i = 0; arr && arr->type == REDIS_REPLY_ARRAY && i + 1 < arr->elements && f->n < MAX_FIELDS; i += 2)
        if (arr->element[i]->type == REDIS_REPLY_STRING && arr->element[i + 1]->type == REDIS_REPLY_STRING) {
            f->name[f->n] = arr->element[i]->str;
            f->value[f->n++] = arr->element[i + 1]->str;
        }
}

static void from_json(fields *f, const cJSON *arr)
{
    f->n = 0;
    const cJSON *k = arr ? arr->child : NULL;
    while (k && k->next && f->n < MAX_FIELDS) {
        if (cJSON_IsString(k) && cJSON_IsString(k->next)) {
            f->name[f->n] = k->valuestring;
            f->value[f->n++] = k->next->valuestring;
        }
        k = k->next->next;
    }
}

static char *dup_or_null(const char *s)
{
    if (!s || !s[0])
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static void set_once(char **dst, const char *s)
{
    if (!*dst)
        *dst = dup_or_null(s);
}

static long long num(const char *s, long long def)
{
    return s && *s ? strtoll(s, NULL, 10) : def;
}

/* The job an entry describes, with what it says of the job filled in where
 * still unknown (the work-stream entry is read first and wins). */
static tr_job *job_of(tr_trace *t, const char *queue, const fields *f, const char *fallback_id)
{
    const char *id = fv(f, "id");
    if (!id)
        id = fv(f, "original_id");
    tr_job *j = tr_job_get(t, queue, id ? id : fallback_id);
    set_once(&j->type, fv(f, "type"));
    set_once(&j->causation, fv(f, "causation_id"));
    set_once(&j->traceparent, fv(f, "traceparent"));
    if (!j->enqueued_at_ms)
        j->enqueued_at_ms = num(fv(f, "enqueued_at"), 0);
    return j;
}

typedef enum key_kind { K_MAIN, K_RETRY, K_DLQ } key_kind;

/* One entry of the request: record what it says. */
static void found(tr_trace *t, const char *queue, const char *group, key_kind kind, const char *sid, const fields *f)
{
    tr_job *j = job_of(t, queue, f, sid);
    if (kind == K_MAIN) {
        set_once(&j->stream_id, sid);
        if (!j->enqueued_at_ms)
            j->enqueued_at_ms = sl_streamid_ms(sid);
        return;
    }
    if (kind == K_RETRY) {
        tr_outcome *o = tr_outcome_get(j, group);
        unsigned attempt = (unsigned)num(fv(f, "attempt"), 2);
        o->retries++;
        if (attempt > o->last_attempt) {
            o->last_attempt = attempt;
            free(o->retry_stream_id);
            o->retry_stream_id = dup_or_null(sid);
            free(o->last_error);
            o->last_error = dup_or_null(fv(f, "last_error"));
        }
        return;
    }
    const char *g = fv(f, "group");
    tr_outcome *o = tr_outcome_get(j, g ? g : group);
    if (o->state == TR_DEAD)
        return; /* newest first: keep the latest dead letter */
    o->state = TR_DEAD;
    o->reason = dup_or_null(fv(f, "reason"));
    o->error = dup_or_null(fv(f, "error"));
    o->attempts = (long)num(fv(f, "attempts"), -1);
    o->failed_at_ms = num(fv(f, "failed_at"), 0);
}

/* 1 if key has an entry older than the exclusive bound end ("(<id>"). */
static int more_before(sl_redis *r, const char *key, const char *end)
{
    const char *argv[] = {"XREVRANGE", key, end, "-", "COUNT", "1"};
    redisReply *rep = sl_redis_cmdargv(r, 6, argv, NULL);
    int more = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
    if (rep)
        freeReplyObject(rep);
    return more;
}

/* Read key newest first in pages, up to t->max_scan entries, and record the
 * entries of the request; a note says when the bound left entries unread.
 * 0, or 1 after printing why. */
static int scan_stream(tr_trace *t, sl_redis *r, const char *queue, const char *group, key_kind kind, const char *key)
{
    char end[64] = "+", count[24];
    long n = 0;
    for (;;) {
        long want = t->max_scan - n < PAGE ? t->max_scan - n : PAGE;
        snprintf(count, sizeof(count), "%ld", want);
        const char *argv[] = {"XREVRANGE", key, end, "-", "COUNT", count};
        redisReply *rep = sl_cli_cmd(CMD, r, 6, argv);
        if (!rep)
            return 1;
        if (rep->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            return sl_cli_fail(CMD, "XREVRANGE %s: unexpected reply", key);
        }
        fields f;
        size_t got = rep->elements;
        for (size_t i = 0; i < got; i++) {
            const redisReply *e = rep->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
                continue;
            from_reply(&f, e->element[1]);
            const char *c = fv(&f, "correlation_id");
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): t->correlation is set when parse_args returns -1
            if (c && strcmp(c, t->correlation) == 0)
                found(t, queue, group, kind, e->element[0]->str, &f);
        }
        if (got)
            snprintf(end, sizeof(end), "(%s", rep->element[got - 1]->element[0]->str);
        freeReplyObject(rep);
        n += (long)got;
        t->scanned += (long)got;
        if ((long)got < want)
            return 0;
        if (n >= t->max_scan) {
            if (more_before(r, key, end))
                tr_note(t, "%s: stopped after %ld entries (--max-scan); older entries were not searched", key, n);
            return 0;
        }
    }
}

/* Scheduled entries ({"s": target stream, "f": fields}) of the request:
 * delayed jobs (target: the work stream) and retries (target: a retry stream). */
static int scan_sched(tr_trace *t, sl_redis *r, const char *queue)
{
    char key[SL_KEY_MAX], main_key[SL_KEY_MAX], from[24], to[24];
    if (sl_key_sched(key, sizeof(key), queue) != 0 || sl_key_stream(main_key, sizeof(main_key), queue) != 0)
        return 0;
    for (long start = 0;; start += PAGE) {
        snprintf(from, sizeof(from), "%ld", start);
        snprintf(to, sizeof(to), "%ld", start + PAGE - 1);
        const char *argv[] = {"ZRANGE", key, from, to, "WITHSCORES"};
        redisReply *rep = sl_cli_cmd(CMD, r, 5, argv);
        if (!rep)
            return 1;
        size_t got = rep->type == REDIS_REPLY_ARRAY ? rep->elements / 2 : 0;
        for (size_t i = 0; i < got; i++) {
            const redisReply *m = rep->element[2 * i], *sc = rep->element[2 * i + 1];
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): t->correlation is set when parse_args returns -1
            if (m->type != REDIS_REPLY_STRING || !strstr(m->str, t->correlation))
                continue;
            cJSON *doc = cJSON_ParseWithLength(m->str, m->len);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "s");
            fields f;
            from_json(&f, cJSON_GetObjectItemCaseSensitive(doc, "f"));
            const char *c = fv(&f, "correlation_id");
            int64_t due = sc->type == REDIS_REPLY_STRING ? (int64_t)strtod(sc->str, NULL) : 0;
            if (cJSON_IsString(s) && c && strcmp(c, t->correlation) == 0 && fv(&f, "id")) {
                tr_job *j = job_of(t, queue, &f, fv(&f, "id"));
                const char *rgroup = sl_key_retry_group(s->valuestring, queue);
                if (strcmp(s->valuestring, main_key) == 0) {
                    j->due_ms = due;
                } else if (rgroup != NULL) {
                    tr_outcome *o = tr_outcome_get(j, rgroup);
                    unsigned attempt = (unsigned)num(fv(&f, "attempt"), 2);
                    if (attempt > o->due_attempt) {
                        o->due_attempt = attempt;
                        o->due_ms = due;
                        free(o->last_error);
                        o->last_error = dup_or_null(fv(&f, "last_error"));
                    }
                }
            }
            cJSON_Delete(doc);
        }
        freeReplyObject(rep);
        t->scanned += (long)got;
        if (got < PAGE)
            return 0;
        if (start + PAGE >= t->max_scan) {
            tr_note(t, "%s: stopped after %ld entries (--max-scan)", key, start + PAGE);
            return 0;
        }
    }
}

/* Last-delivered id of group on stream key into out ("" when unknown). */
static void last_delivered(sl_redis *r, const char *key, const char *group, char *out, size_t n)
{
    out[0] = '\0';
    const char *argv[] = {"XINFO", "GROUPS", key};
    redisReply *rep = sl_redis_cmdargv(r, 3, argv, NULL);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (strcmp(sl_cli_kv_str(rep->element[i], "name"), group) == 0)
            snprintf(out, n, "%s", sl_cli_kv_str(rep->element[i], "last-delivered-id"));
    if (rep)
        freeReplyObject(rep);
}

/* The state of a stream entry in a group: pending, completed or undelivered. */
static int entry_state(sl_redis *r, const char *key, const char *group, const char *sid, tr_outcome *o)
{
    const char *argv[] = {"XPENDING", key, group, sid, sid, "1"};
    redisReply *rep = sl_redis_cmdargv(r, 6, argv, NULL);
    if (!rep)
        return sl_cli_fail(CMD, "XPENDING %s %s: %s", key, group, sl_redis_errstr(r));
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->elements == 4) {
        const redisReply *p = rep->element[0];
        o->state = TR_PENDING;
        o->consumer = dup_or_null(p->element[1]->str);
        o->idle_ms = p->element[2]->integer;
        o->deliveries = (long)p->element[3]->integer;
    } else {
        char ld[64];
        last_delivered(r, key, group, ld, sizeof(ld)); /* NOGROUP above: "" -> undelivered */
        o->state = ld[0] && sl_streamid_cmp_text(sid, ld) <= 0 ? TR_COMPLETED : TR_UNDELIVERED;
    }
    freeReplyObject(rep);
    return 0;
}

/* Every job of queue q: its outcome in each group. */
static int outcomes(tr_trace *t, sl_redis *r, const tr_queue *q)
{
    char main_key[SL_KEY_MAX], rkey[SL_KEY_MAX];
    if (sl_key_stream(main_key, sizeof(main_key), q->name) != 0)
        return 0;
    for (size_t ji = 0; ji < t->njobs; ji++) {
        tr_job *j = &t->jobs[ji];
        if (strcmp(j->queue, q->name) != 0)
            continue;
        if (j->stream_id)
            for (size_t g = 0; g < q->ngroups; g++)
                tr_outcome_get(j, q->groups[g]);
        for (size_t k = 0; k < j->nout; k++) {
            tr_outcome *o = &j->out[k];
            if (o->state == TR_DEAD)
                continue;
            if (o->due_attempt > o->last_attempt) {
                o->state = TR_RETRY_SCHEDULED;
            } else if (o->retry_stream_id) {
                if (sl_key_retry(rkey, sizeof(rkey), q->name, o->group) != 0 ||
                    entry_state(r, rkey, o->group, o->retry_stream_id, o) != 0)
                    return 1;
            } else if (j->stream_id) {
                if (entry_state(r, main_key, o->group, j->stream_id, o) != 0)
                    return 1;
            } else {
                o->state = TR_UNKNOWN;
            }
        }
    }
    return 0;
}

static void add_group(tr_queue *q, const char *g)
{
    for (size_t i = 0; i < q->ngroups; i++)
        if (strcmp(q->groups[i], g) == 0)
            return;
    char **ng = realloc(q->groups, (q->ngroups + 1) * sizeof(*ng));
    if (!ng)
        abort();
    q->groups = ng;
    q->groups[q->ngroups++] = dup_or_null(g);
}

static tr_queue *add_queue(tr_trace *t, const char *name)
{
    for (size_t i = 0; i < t->nqueues; i++)
        if (strcmp(t->queues[i].name, name) == 0)
            return &t->queues[i];
    tr_queue *nq = realloc(t->queues, (t->nqueues + 1) * sizeof(*nq));
    if (!nq)
        abort();
    t->queues = nq;
    tr_queue *q = &t->queues[t->nqueues++];
    memset(q, 0, sizeof(*q));
    q->name = dup_or_null(name);
    return q;
}

/* Every queue with a work stream: SCAN for sluice:{Q} streams. */
static int discover(tr_trace *t, sl_redis *r)
{
    char cursor[32] = "0", match[16];
    sl_key_match_queues(match, sizeof match, "");
    for (int node = 0; node < sl_redis_nodes(r); node++) /* each master of a cluster */
        do {
            const char *argv[] = {"SCAN", cursor, "MATCH", match, "COUNT", PAGE_S, "TYPE", "stream"};
            redisReply *rep = sl_cli_cmd_at(CMD, r, node, 8, argv);
            if (!rep)
                return 1;
            if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
                freeReplyObject(rep);
                return sl_cli_fail(CMD, "SCAN: unexpected reply");
            }
            snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
            const redisReply *keys = rep->element[1];
            for (size_t i = 0; i < keys->elements; i++) {
                size_t len;
                const char *q = sl_key_queue_of(keys->element[i]->str, "", &len);
                char name[80];
                if (q == NULL || len >= sizeof(name))
                    continue;
                memcpy(name, q, len);
                name[len] = '\0';
                size_t qlen;
                int index;
                if (sl_valid_name(name) ||
                    (sl_part_split(name, &qlen, &index) && index >= 0)) /* Q, or a partition Q#i */
                    add_queue(t, name);
            }
            freeReplyObject(rep);
        } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Every partition Q#i (with Q's groups) of each partitioned queue Q named by
 * the config or --queue, after Q itself (which a plain XADD may have written
 * to). 0, or 1 after printing why. */
static int expand_partitions(tr_trace *t, sl_redis *r)
{
    size_t n0 = t->nqueues;
    for (size_t i = 0; i < n0; i++) {
        if (strchr(t->queues[i].name, '#'))
            continue;
        int n = sl_cli_nparts(CMD, r, t->queues[i].name);
        if (n < 0)
            return 1;
        for (int p = 0; n > 1 && p < n; p++) {
            char name[SL_PARTITION_NAME_MAX];
            sl_part_name(name, sizeof name, t->queues[i].name, n, p);
            tr_queue *q = add_queue(t, name); /* may move t->queues: index again below */
            for (size_t g = 0; g < t->queues[i].ngroups; g++)
                add_group(q, t->queues[i].groups[g]);
        }
    }
    return 0;
}

/* Search one queue: its groups, then every key of it. */
static int search_queue(tr_trace *t, sl_redis *r, tr_queue *q)
{
    char key[SL_KEY_MAX], names[SL_CLI_MAX_GROUPS][SL_CLI_NAME_MAX];
    int ng = sl_cli_groups(CMD, r, q->name, names);
    if (ng < 0)
        return 1;
    for (int i = 0; i < ng; i++)
        add_group(q, names[i]);
    if (sl_key_stream(key, sizeof(key), q->name) != 0 || scan_stream(t, r, q->name, "", K_MAIN, key) != 0)
        return 1;
    for (size_t g = 0; g < q->ngroups; g++) {
        if (sl_key_retry(key, sizeof(key), q->name, q->groups[g]) != 0 ||
            scan_stream(t, r, q->name, q->groups[g], K_RETRY, key) != 0)
            return 1;
        if (sl_key_dlq(key, sizeof(key), q->name, q->groups[g]) != 0 ||
            scan_stream(t, r, q->name, q->groups[g], K_DLQ, key) != 0)
            return 1;
    }
    if (scan_sched(t, r, q->name) != 0)
        return 1;
    return outcomes(t, r, q);
}

/* Parse argv; -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, trace_args *a)
{
    enum { OPT_QUEUE = 256, OPT_JSON, OPT_MAX_SCAN };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"config", required_argument, NULL, 'c'},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"json", no_argument, NULL, OPT_JSON},
        {"max-scan", required_argument, NULL, OPT_MAX_SCAN},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    a->max_scan = DEFAULT_MAX_SCAN;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            a->url = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_QUEUE:
            if (sl_cli_check_name(CMD, "queue", optarg) != 0)
                return 2;
            a->queues[a->nqueues++] = optarg;
            break;
        case OPT_MAX_SCAN: {
            char *end = NULL;
            a->max_scan = strtol(optarg, &end, 10);
            if (!end || *end || a->max_scan < 1)
                return sl_cli_usage(CMD, "invalid --max-scan '%s'", optarg);
            break;
        }
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
        }
    }
    if (a->config && a->nqueues)
        return sl_cli_usage(CMD, "-c and --queue cannot be combined");
    if (argc - optind != 1)
        return sl_cli_usage(CMD, argc - optind ? "one CORRELATION_ID expected" : "missing CORRELATION_ID");
    a->correlation = argv[optind];
    if (!a->correlation[0] || strlen(a->correlation) > 128)
        return sl_cli_usage(CMD, "invalid CORRELATION_ID");
    return -1;
}

int sl_cmd_trace(int argc, char **argv)
{
    trace_args a = {.queues = calloc((size_t)(argc > 0 ? argc : 1), sizeof(char *))};
    if (!a.queues)
        return sl_cli_fail(CMD, "out of memory");
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.queues);
        return rc;
    }
    tr_trace t = {.correlation = a.correlation, .max_scan = a.max_scan};
    sl_config *cfg = NULL;
    sl_redis *r = NULL;
    if (a.config) {
        char err[1024];
        cfg = sl_cfg_load_file(a.config, SL_CFG_ENV, err, sizeof(err));
        if (!cfg) {
            fprintf(stderr, "sluice trace: %s\n", err);
            free(a.queues);
            return 78;
        }
        for (size_t i = 0; i < cfg->npools; i++)
            for (size_t q = 0; q < cfg->pools[i].nqueues; q++) /* each queue of pools[].queues */
                add_group(add_queue(&t, cfg->pools[i].queues[q].name), cfg->pools[i].group);
        for (size_t i = 0; i < cfg->nqueues; i++)
            add_queue(&t, cfg->queues[i].name); /* "queues" section */
    }
    for (size_t i = 0; i < a.nqueues; i++)
        add_queue(&t, a.queues[i]);
    r = sl_cli_connect(CMD, a.url ? a.url : cfg ? cfg->redis_url : NULL);
    rc = 1;
    if (!r)
        goto done;
    if ((t.now_ms = sl_cli_server_ms(CMD, r)) < 0)
        goto done;
    if (!a.config && !a.nqueues && discover(&t, r) != 0)
        goto done;
    if ((a.config || a.nqueues) && expand_partitions(&t, r) != 0)
        goto done;
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): t.queues is freed by tr_free below, on every path
    for (size_t i = 0; i < t.nqueues; i++)
        if (search_queue(&t, r, &t.queues[i]) != 0)
            goto done;
    tr_link(&t);
    if (t.njobs == 0) {
        fprintf(stderr, "sluice trace: no job with correlation_id '%s' in %zu queue(s) (%ld entries searched)\n",
                a.correlation, t.nqueues, t.scanned);
        for (size_t i = 0; i < t.nnotes; i++)
            fprintf(stderr, "note: %s\n", t.notes[i]);
        goto done;
    }
    if (a.json) {
        rc = tr_print_json(&t);
    } else {
        tr_print_text(&t, stdout);
        rc = 0;
    }
    if (rc == 0)
        rc = sl_cli_flush(CMD);
done:
    sl_redis_free(r);
    sl_cfg_free(cfg);
    tr_free(&t);
    free(a.queues);
    return rc;
}
