/* `sluice jobs show QUEUE ID`: where a job is, from what Redis holds. ID is a
 * work stream id or a job id (field "id"); the job is looked for in the work
 * stream, in every group's pending list, retry stream and DLQ, and in the
 * schedule. Each place found is one line (or one JSON object). A partitioned
 * queue's partitions are searched in turn until one holds the job (a job
 * lives in one partition); --partition I searches only that one.
 * `sluice jobs run-now QUEUE ID`: a scheduled job (delayed, or a retry
 * waiting for its backoff) becomes due now: its schedule entry's score is set
 * to Redis server time (ZADD XX CH, so an entry promoted meanwhile is not
 * added back) and the supervisor's next promote moves it.
 * `sluice jobs cancel QUEUE ID`: the job ends cancelled wherever it is: the
 * places found as for show go to FCALL sluice_cancel (common/cancel.c), which
 * decides atomically; show lists the cancel's record. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"
#include "common/cancel.h"
#include "common/streamid.h"
#include "common/util.h"

#define CMD "jobs"
#define SCAN_LIMIT 100000 /* entries read per stream when looking for a job id */
#define CHUNK 1000

static const char usage_text[] =
    "usage: sluice jobs show    [-u URL] [--json] [--partition I] QUEUE ID\n"
    "       sluice jobs run-now [-u URL] [--json] [--partition I] QUEUE ID\n"
    "       sluice jobs cancel  [-u URL] [--json] [--partition I] [--ttl DURATION] QUEUE ID\n"
    "\n"
    "Where job ID of queue QUEUE is, from what Redis holds. ID is a stream id of\n"
    "sluice:{QUEUE} or a job id (the \"id\" field; by default a job's id is its\n"
    "first stream id). A job id is looked for in the newest 100000 entries of the\n"
    "work stream and of each retry stream and DLQ. One line per place:\n"
    "  pending in group G, consumer C, since 12s, deliveries 2\n"
    "  waiting in group G (not delivered yet)\n"
    "  waiting in the retry stream of group G (attempt 2)\n"
    "  scheduled until 2026-11-26T10:00:00.000Z (attempt 3) for group G\n"
    "  completed in group G\n"
    "  dead-lettered in group G: reason, error, at TIME\n"
    "  cancelled at TIME (was queued; skipped)\n"
    "Of a partitioned queue (sluice:{QUEUE}:partitions) every partition\n"
    "sluice:{QUEUE#I} is searched until one holds the job (--partition I: only I).\n"
    "\n"
    "run-now: a scheduled job (a delayed job, or a retry waiting for its backoff)\n"
    "becomes due now, by Redis server time; the supervisor's next promote (every\n"
    "supervisor.promote_interval) puts it in its stream. One line per entry:\n"
    "  due now: was scheduled until 2026-11-26T10:00:00.000Z (attempt 3) for group G\n"
    "Exit 1 when the job has no scheduled entry (it ran, waits in a stream already,\n"
    "or is unknown).\n"
    "\n"
    "cancel: the job ends in the state cancelled, decided atomically by the function\n"
    "sluice_cancel: a scheduled job is removed; a queued one is removed, or skipped\n"
    "when a worker reads it (its handler never runs); a running one's handler sees\n"
    "should_stop and its worker is killed after jobs.cancel_grace; it is never\n"
    "retried. The record sluice:{QUEUE}:cancelled:ID is kept for --ttl (default 7d,\n"
    "as jobs.done_ttl). Exit 1 when the job completed, was dead-lettered or is\n"
    "unknown (the message, or JSON \"result\", says which).\n"
    "\n"
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "      --json      print JSON\n"
    "      --partition I  of a partitioned queue, search only partition I\n"
    "      --ttl DURATION how long cancel keeps its record (whole seconds; default 7d)\n"
    "  -h, --help      print this help\n"
    "\n"
    "Exit status: 0 found, 1 not found or failure, 2 usage error.\n";

typedef struct job_query {
    sl_redis *r;
    const char *queue, *jid; /* jid: the job id looked for */
    char stream[SL_KEY_MAX];
    cJSON *entries; /* work stream ids of the job */
    cJSON *places;
    int64_t now;
    long scanned; /* work stream entries read looking for jid */
    int truncated; /* a scan stopped at SCAN_LIMIT */
    int failed;
    cJSON *members; /* run-now: the schedule members of the job (strings), in places' order */
    int cancelled; /* a cancel record was found (its place is in places) */
} job_query;

/* Called for every entry a scan reads; returns nothing, may add to q. */
typedef void (*entry_fn)(job_query *q, const char *key, const redisReply *entry, void *arg);

/* Read a stream newest first, at most SCAN_LIMIT entries, calling fn on each.
 * Returns how many were read, or -1 on a Redis error (printed). */
static long scan_stream(job_query *q, const char *key, entry_fn fn, void *arg)
{
    char end[64] = "+";
    long n = 0;
    while (n < SCAN_LIMIT) {
        const char *argv[] = {"XREVRANGE", key, end, "-", "COUNT", "1000"};
        redisReply *rep = sl_cli_cmd(CMD, q->r, 6, argv);
        if (!rep)
            return q->failed = 1, -1;
        for (size_t i = 0; i < rep->elements; i++)
            fn(q, key, rep->element[i], arg);
        n += (long)rep->elements;
        size_t got = rep->elements;
        if (got)
            snprintf(end, sizeof end, "(%s", rep->element[got - 1]->element[0]->str);
        freeReplyObject(rep);
        if (got < CHUNK)
            return n;
    }
    q->truncated = 1;
    return n;
}

static const char *entry_field(const redisReply *entry, const char *name)
{
    return entry->elements == 2 ? sl_cli_kv_str(entry->element[1], name) : "";
}

static void match_work(job_query *q, const char *key, const redisReply *e, void *arg)
{
    (void)key, (void)arg;
    if (strcmp(entry_field(e, "id"), q->jid) == 0)
        cJSON_AddItemToArray(q->entries, cJSON_CreateString(e->element[0]->str));
}

static cJSON *place(job_query *q, const char *state, const char *group)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "state", state);
    if (group)
        cJSON_AddStringToObject(p, "group", group);
    cJSON_AddItemToArray(q->places, p);
    return p;
}

/* Pending info of id in group on key: 1 and a place, 0 not pending, -1 error. */
static int pending_place(job_query *q, const char *key, const char *group, const char *id, const char *attempt)
{
    const char *argv[] = {"XPENDING", key, group, id, id, "1"};
    redisReply *rep = sl_redis_cmdargv(q->r, 6, argv, NULL);
    if (!rep)
        return q->failed = 1, -1;
    int found = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1;
    if (found) {
        const redisReply *p = rep->element[0];
        cJSON *o = place(q, "pending", group);
        cJSON_AddStringToObject(o, "stream", key);
        cJSON_AddStringToObject(o, "stream_id", id);
        cJSON_AddStringToObject(o, "consumer", p->element[1]->str);
        cJSON_AddNumberToObject(o, "idle_ms", (double)p->element[2]->integer);
        cJSON_AddNumberToObject(o, "deliveries", (double)p->element[3]->integer);
        if (attempt && *attempt)
            cJSON_AddStringToObject(o, "attempt", attempt);
    }
    freeReplyObject(rep);
    return found;
}

/* Last-delivered id of group on key ("" when the group or key is missing). */
static void last_delivered(job_query *q, const char *key, const char *group, char *out, size_t n)
{
    const char *argv[] = {"XINFO", "GROUPS", key};
    redisReply *rep = sl_redis_cmdargv(q->r, 3, argv, NULL);
    out[0] = '\0';
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if (strcmp(sl_cli_kv_str(rep->element[i], "name"), group) == 0)
            snprintf(out, n, "%s", sl_cli_kv_str(rep->element[i], "last-delivered-id"));
    if (rep)
        freeReplyObject(rep);
}

/* Per-group scan state: retry entries of the job and whether one was delivered. */
typedef struct group_scan {
    const char *group;
    char last[64]; /* last-delivered id of the group on the scanned stream */
    int open; /* places that mean "not finished" (pending, waiting, scheduled) */
    int done; /* a delivered, no longer pending copy of the job */
    int dead;
    char attempt[16];
} group_scan;

static void match_retry(job_query *q, const char *key, const redisReply *e, void *arg)
{
    group_scan *g = arg;
    const char *id = e->element[0]->str, *attempt = entry_field(e, "attempt");
    if (strcmp(entry_field(e, "id"), q->jid) != 0)
        return;
    int p = pending_place(q, key, g->group, id, attempt);
    if (p != 0) {
        g->open += p > 0;
    } else if (g->last[0] && sl_streamid_cmp_text(id, g->last) <= 0) {
        if (!g->attempt[0])
            snprintf(g->attempt, sizeof g->attempt, "%s", attempt); /* newest first */
        g->done = 1;
    } else {
        cJSON *o = place(q, "retry-waiting", g->group);
        cJSON_AddStringToObject(o, "stream", key);
        cJSON_AddStringToObject(o, "stream_id", id);
        cJSON_AddStringToObject(o, "attempt", attempt);
        g->open++;
    }
}

static int in_entries(const job_query *q, const char *id)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, q->entries) if (strcmp(it->valuestring, id) == 0) return 1;
    return 0;
}

static void match_dlq(job_query *q, const char *key, const redisReply *e, void *arg)
{
    group_scan *g = arg;
    const char *orig = entry_field(e, "original_id");
    (void)key;
    if (strcmp(entry_field(e, "id"), q->jid) != 0 && strcmp(orig, q->jid) != 0 && !in_entries(q, orig))
        return;
    cJSON *o = place(q, "dead", g->group);
    cJSON_AddStringToObject(o, "dlq_id", e->element[0]->str);
    cJSON_AddStringToObject(o, "reason", entry_field(e, "reason"));
    cJSON_AddStringToObject(o, "error", entry_field(e, "error"));
    cJSON_AddStringToObject(o, "attempts", entry_field(e, "attempts"));
    cJSON_AddNumberToObject(o, "failed_at_ms", (double)sl_streamid_ms(e->element[0]->str));
    g->dead++;
}

/* Scheduled entries of the job (ZSCAN members that mention it, decoded). */
static void find_scheduled(job_query *q)
{
    char sched[SL_KEY_MAX], pat[600], cursor[32] = "0";
    sl_key_sched(sched, sizeof sched, q->queue);
    sl_glob_containing(pat, sizeof pat, q->jid);
    do {
        const char *argv[] = {"ZSCAN", sched, cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *rep = sl_cli_cmd(CMD, q->r, 7, argv);
        if (!rep)
            return (void)(q->failed = 1);
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *m = rep->element[1];
        for (size_t i = 0; i + 1 < m->elements; i += 2) {
            cJSON *j = cJSON_Parse(m->element[i]->str), *f = cJSON_GetObjectItem(j, "f"), *it;
            const char *target = cJSON_GetStringValue(cJSON_GetObjectItem(j, "s")), *id = NULL, *attempt = "";
            for (it = f ? f->child : NULL; it && it->next; it = it->next->next) {
                if (strcmp(cJSON_GetStringValue(it) ? it->valuestring : "", "id") == 0)
                    id = cJSON_GetStringValue(it->next);
                else if (strcmp(cJSON_GetStringValue(it) ? it->valuestring : "", "attempt") == 0)
                    attempt = cJSON_GetStringValue(it->next) ? it->next->valuestring : "";
            }
            if (target && id && strcmp(id, q->jid) == 0) {
                const char *r = strstr(target, "}:r:");
                cJSON *o = place(q, "scheduled", r ? r + 4 : NULL);
                cJSON_AddStringToObject(o, "target", target);
                cJSON_AddNumberToObject(o, "due_ms", strtod(m->element[i + 1]->str, NULL));
                cJSON_AddStringToObject(o, "attempt", attempt);
                if (q->members)
                    cJSON_AddItemToArray(q->members, cJSON_CreateString(m->element[i]->str));
            }
            cJSON_Delete(j);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
}

/* The record of the job's cancel (sluice:{P}:cancelled:ID), a place when present. */
static void find_cancelled(job_query *q)
{
    char key[2 * SL_KEY_MAX];
    if (sl_key_cancelled(key, sizeof key, q->queue, q->jid) != 0)
        return;
    const char *argv[] = {"HGETALL", key};
    redisReply *rep = sl_cli_cmd(CMD, q->r, 2, argv);
    if (!rep)
        return (void)(q->failed = 1);
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
        cJSON *o = place(q, "cancelled", NULL);
        cJSON_AddStringToObject(o, "was", sl_cli_kv_str(rep, "state"));
        cJSON_AddNumberToObject(o, "cancelled_at_ms", strtod(sl_cli_kv_str(rep, "at"), NULL));
        cJSON_AddStringToObject(o, "outcome", sl_cli_kv_str(rep, "outcome"));
        cJSON_AddNumberToObject(o, "open", strtod(sl_cli_kv_str(rep, "open"), NULL));
        q->cancelled = 1;
    }
    freeReplyObject(rep);
}

/* Every place of the job in one group. */
static void find_in_group(job_query *q, const redisReply *ginfo)
{
    char retry[SL_KEY_MAX], dlq[SL_KEY_MAX];
    group_scan g = {.group = sl_cli_kv_str(ginfo, "name")};
    const char *last = sl_cli_kv_str(ginfo, "last-delivered-id");
    const cJSON *it;
    cJSON_ArrayForEach(it, q->places)
    {
        const cJSON *pg = cJSON_GetObjectItem(it, "group");
        if (pg && strcmp(pg->valuestring, g.group) == 0)
            g.open++; /* scheduled retries of this group */
    }
    cJSON_ArrayForEach(it, q->entries)
    {
        int p = pending_place(q, q->stream, g.group, it->valuestring, NULL);
        if (p > 0)
            g.open++;
        else if (p == 0 && sl_streamid_cmp_text(it->valuestring, last) <= 0)
            g.done = 1;
        else if (p == 0) {
            cJSON *o = place(q, "waiting", g.group);
            cJSON_AddStringToObject(o, "stream_id", it->valuestring);
            g.open++;
        }
    }
    sl_key_retry(retry, sizeof retry, q->queue, g.group);
    last_delivered(q, retry, g.group, g.last, sizeof g.last);
    scan_stream(q, retry, match_retry, &g);
    sl_key_dlq(dlq, sizeof dlq, q->queue, g.group);
    scan_stream(q, dlq, match_dlq, &g);
    if (g.done && !g.open && !g.dead && !q->cancelled) { /* a cancelled job's skip is an ack too */
        cJSON *o = place(q, "completed", g.group);
        if (g.attempt[0])
            cJSON_AddStringToObject(o, "attempt", g.attempt);
    }
}

static void print_place(const job_query *q, const cJSON *p)
{
    const char *state = cJSON_GetObjectItem(p, "state")->valuestring;
    const cJSON *g = cJSON_GetObjectItem(p, "group"), *a = cJSON_GetObjectItem(p, "attempt");
    const char *group = g ? g->valuestring : "", *attempt = a ? a->valuestring : "";
    char t[40];
    if (!strcmp(state, "pending")) {
        sl_cli_fmt_age(t, sizeof t, (int64_t)cJSON_GetObjectItem(p, "idle_ms")->valuedouble);
        printf("pending in group %s, consumer %s, since %s, deliveries %.0f (%s %s%s%s)\n", group,
               cJSON_GetObjectItem(p, "consumer")->valuestring, t, cJSON_GetObjectItem(p, "deliveries")->valuedouble,
               cJSON_GetObjectItem(p, "stream")->valuestring, cJSON_GetObjectItem(p, "stream_id")->valuestring,
               *attempt ? ", attempt " : "", attempt);
    } else if (!strcmp(state, "waiting")) {
        printf("waiting in group %s (not delivered yet, %s %s)\n", group, q->stream,
               cJSON_GetObjectItem(p, "stream_id")->valuestring);
    } else if (!strcmp(state, "retry-waiting")) {
        printf("waiting in the retry stream of group %s (attempt %s, %s %s)\n", group, *attempt ? attempt : "1",
               cJSON_GetObjectItem(p, "stream")->valuestring, cJSON_GetObjectItem(p, "stream_id")->valuestring);
    } else if (!strcmp(state, "scheduled")) {
        sl_cli_fmt_time(t, sizeof t, (int64_t)cJSON_GetObjectItem(p, "due_ms")->valuedouble);
        if (g)
            printf("scheduled until %s (attempt %s) for group %s\n", t, *attempt ? attempt : "1", group);
        else
            printf("scheduled until %s (delayed job, for every group)\n", t);
    } else if (!strcmp(state, "completed")) {
        if (*attempt)
            printf("completed in group %s (attempt %s)\n", group, attempt);
        else
            printf("completed in group %s\n", group);
    } else if (!strcmp(state, "cancelled")) {
        const char *was = cJSON_GetObjectItem(p, "was")->valuestring,
                   *outcome = cJSON_GetObjectItem(p, "outcome")->valuestring;
        double open = cJSON_GetObjectItem(p, "open")->valuedouble;
        sl_cli_fmt_time(t, sizeof t, (int64_t)cJSON_GetObjectItem(p, "cancelled_at_ms")->valuedouble);
        if (open > 0)
            printf("cancelled at %s (was %s; %.0f place%s still to settle%s%s)\n", t, was, open, open == 1 ? "" : "s",
                   *outcome ? ", last: " : "", outcome);
        else
            printf("cancelled at %s (was %s; %s)\n", t, was, *outcome ? outcome : "settled");
    } else if (!strcmp(state, "dead")) {
        sl_cli_fmt_time(t, sizeof t, (int64_t)cJSON_GetObjectItem(p, "failed_at_ms")->valuedouble);
        printf("dead-lettered in group %s: %s, \"%s\", at %s (DLQ entry %s, attempts %s)\n", group,
               cJSON_GetObjectItem(p, "reason")->valuestring, cJSON_GetObjectItem(p, "error")->valuestring, t,
               cJSON_GetObjectItem(p, "dlq_id")->valuestring, cJSON_GetObjectItem(p, "attempts")->valuestring);
    }
}

/* Find the work stream entries of the job and its job id. */
static void find_entries(job_query *q, const char *arg, char *jid, size_t n)
{
    snprintf(jid, n, "%s", arg);
    q->jid = jid;
    if (sl_streamid_ms(arg) >= 0) {
        const char *argv[] = {"XRANGE", q->stream, arg, arg};
        redisReply *rep = sl_cli_cmd(CMD, q->r, 4, argv);
        if (!rep)
            return (void)(q->failed = 1);
        if (rep->elements == 1) {
            cJSON_AddItemToArray(q->entries, cJSON_CreateString(arg));
            const char *id = entry_field(rep->element[0], "id");
            if (*id)
                snprintf(jid, n, "%s", id);
        }
        freeReplyObject(rep);
        if (cJSON_GetArraySize(q->entries) > 0)
            return;
    }
    q->scanned = scan_stream(q, q->stream, match_work, NULL);
}

/* Options: -u, --json, --partition, --ttl, -h. -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, const char **url, int *json, int *only, int64_t *ttl_s)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"partition", required_argument, NULL, 'P'},
        {"ttl", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:h", longopts, NULL)) != -1) {
        if (ch == 'u')
            *url = optarg;
        else if (ch == 'j')
            *json = 1;
        else if (ch == 'P') {
            if (sl_cli_parse_partition(CMD, optarg, only) != 0)
                return 2;
        } else if (ch == 'T') {
            int64_t ms;
            if (sl_parse_duration_ms(optarg, &ms) != 0 || ms < 1000 || ms % 1000 != 0)
                return sl_cli_usage(CMD, "invalid --ttl '%.64s' (whole seconds like 3600s, 24h or 7d)", optarg);
            *ttl_s = ms / 1000;
        } else if (ch == 'h')
            return fputs(usage_text, stdout), 0;
        else
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
    }
    return -1;
}

/* run-now: make each scheduled entry of the job due now (in q.places, each
 * then with "due_now": true or false). 0 when at least one became due, 1
 * otherwise (printed), -1 on a Redis error (printed). */
static int run_now(job_query *q, int json)
{
    char sched[SL_KEY_MAX], now[32];
    sl_key_sched(sched, sizeof sched, q->queue);
    snprintf(now, sizeof now, "%lld", (long long)q->now);
    int moved = 0, i = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, q->places)
    {
        const char *member = cJSON_GetStringValue(cJSON_GetArrayItem(q->members, i++));
        if (!member)
            continue;
        const char *argv[] = {"ZADD", sched, "XX", "CH", now, member};
        redisReply *r = sl_cli_cmd(CMD, q->r, 6, argv);
        if (!r)
            return -1;
        int done = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        moved += done;
        cJSON_AddBoolToObject(p, "due_now", done);
        if (json)
            continue;
        char t[40];
        sl_cli_fmt_time(t, sizeof t, (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(p, "due_ms")));
        const char *group = cJSON_GetStringValue(cJSON_GetObjectItem(p, "group"));
        const char *attempt = cJSON_GetStringValue(cJSON_GetObjectItem(p, "attempt"));
        if (!done)
            printf("not changed: no longer scheduled (promoted or removed meanwhile), was due %s\n", t);
        else if (group)
            printf("due now: was scheduled until %s (attempt %s) for group %s\n", t, *attempt ? attempt : "1", group);
        else
            printf("due now: was scheduled until %s (delayed job, for every group)\n", t);
    }
    return moved > 0 ? 0 : 1;
}

/* What a cancel of a job in this state did, for its line. */
static const char *cancel_effect(const char *state, long long open)
{
    if (!strcmp(state, "scheduled"))
        return "removed from the schedule";
    if (!strcmp(state, "queued"))
        return open > 0 ? "workers skip it when they read it: its handler never runs"
                        : "deleted from its stream before any group that had still to read it did";
    if (!strcmp(state, "delivered"))
        return "a worker read it before the cancel: it skips it if it has not started, else its handler is told "
               "to stop and the worker is killed after jobs.cancel_grace";
    return "its handler is told to stop (should_stop); its worker is killed after jobs.cancel_grace";
}

/* cancel: FCALL sluice_cancel (common/cancel.c) on the partition where the job
 * was found, then say what happened. The exit code. */
static int cancel(job_query *q, int found, int64_t ttl_s, int json, const sl_cli_parts *parts, const char *queue)
{
    sl_cancel_result res = {.verdict = SL_CANCEL_NOT_FOUND};
    char err[640];
    if (found && sl_cancel_job(q->r, q->queue, q->jid, ttl_s, &res, err, sizeof err) != 0)
        return sl_cli_fail(CMD, "%s", err);
    int dead = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, q->places) dead |= strcmp(cJSON_GetObjectItem(p, "state")->valuestring, "dead") == 0;
    const char *result =
        res.verdict == SL_CANCEL_FINISHED ? (dead ? "dead" : "completed") : sl_cancel_verdict_name(res.verdict);
    int rc = res.verdict == SL_CANCEL_CANCELLED || res.verdict == SL_CANCEL_ALREADY ? 0 : 1;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "queue", queue);
        if (parts->total > 1 && found) {
            size_t qlen;
            int index;
            sl_part_split(q->queue, &qlen, &index);
            cJSON_AddNumberToObject(o, "partition", index);
        }
        cJSON_AddStringToObject(o, "job_id", q->jid);
        cJSON_AddStringToObject(o, "result", result);
        cJSON_AddStringToObject(o, "state", res.state);
        cJSON_AddNumberToObject(o, "open", (double)res.open);
        cJSON_AddBoolToObject(o, "truncated", res.truncated || q->truncated);
        int prc = sl_cli_print_json(CMD, o);
        return prc ? prc : rc == 0 ? sl_cli_flush(CMD) : rc;
    }
    switch (res.verdict) {
    case SL_CANCEL_CANCELLED:
        printf("cancelled job %s of queue %s: was %s; %s\n", q->jid, queue, res.state,
               cancel_effect(res.state, res.open));
        return sl_cli_flush(CMD);
    case SL_CANCEL_ALREADY:
        printf("job %s of queue %s was already cancelled (was %s)\n", q->jid, queue, res.state);
        return sl_cli_flush(CMD);
    case SL_CANCEL_FINISHED:
        return sl_cli_fail(CMD, "job %s of queue %s is %s: not cancelled (`sluice jobs show` has its places)", q->jid,
                           queue, dead ? "dead-lettered" : "completed");
    default:
        return sl_cli_fail(CMD, "job %s not found in queue %s%s: not cancelled", q->jid, queue,
                           res.truncated || q->truncated ? " (searched the newest entries only)" : "");
    }
}

int sl_cmd_jobs(int argc, char **argv)
{
    const char *url = NULL;
    int64_t ttl_s = 7 * 86400;
    int json = 0, only = -1, rc = parse_options(argc, argv, &url, &json, &only, &ttl_s);
    sl_cli_parts parts = {0};
    if (rc >= 0)
        return rc;
    rc = 1;
    if (argc - optind != 3 || (strcmp(argv[optind], "show") != 0 && strcmp(argv[optind], "run-now") != 0 &&
                               strcmp(argv[optind], "cancel") != 0))
        return sl_cli_usage(CMD, "expected show QUEUE ID, run-now QUEUE ID or cancel QUEUE ID");
    int now_mode = strcmp(argv[optind], "run-now") == 0, cancel_mode = strcmp(argv[optind], "cancel") == 0;
    const char *queue = argv[optind + 1], *arg = argv[optind + 2];
    if (sl_cli_check_name(CMD, "queue", queue))
        return 2;
    if (!*arg || strlen(arg) > 128)
        return sl_cli_usage(CMD, "invalid ID (1 to 128 bytes)");

    job_query q = {.queue = queue, .entries = cJSON_CreateArray(), .places = cJSON_CreateArray()};
    if (now_mode)
        q.members = cJSON_CreateArray();
    char jid[160];
    sl_key_stream(q.stream, sizeof q.stream, queue);
    q.r = sl_cli_connect(CMD, url);
    if (!q.r)
        goto done;
    if ((q.now = sl_cli_server_ms(CMD, q.r)) < 0)
        goto done;
    if (sl_cli_parts_get(CMD, q.r, queue, only, &parts) != 0)
        goto done;
    for (int p = 0; p < parts.n && cJSON_GetArraySize(q.places) == 0 && !q.failed; p++) {
        q.queue = parts.names[p];
        sl_key_stream(q.stream, sizeof q.stream, q.queue);
        cJSON_Delete(q.entries);
        q.entries = cJSON_CreateArray();
        find_entries(&q, arg, jid, sizeof jid);
        if (!q.failed)
            find_scheduled(&q);
        if (now_mode)
            continue; /* only the schedule matters */
        if (!q.failed)
            find_cancelled(&q);
        const char *xg[] = {"XINFO", "GROUPS", q.stream};
        redisReply *groups = q.failed ? NULL : sl_redis_cmdargv(q.r, 3, xg, NULL);
        for (size_t i = 0; groups && groups->type == REDIS_REPLY_ARRAY && i < groups->elements && !q.failed; i++)
            find_in_group(&q, groups->element[i]);
        if (groups)
            freeReplyObject(groups);
    }
    if (q.failed)
        goto done;
    int found = cJSON_GetArraySize(q.places) > 0;
    if (cancel_mode) {
        rc = cancel(&q, found, ttl_s, json, &parts, queue);
        goto done;
    }
    if (now_mode) {
        rc = found ? run_now(&q, json) : 1;
        if (rc < 0) {
            rc = 1;
            goto done;
        }
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "queue", queue);
            cJSON_AddStringToObject(o, "job_id", jid);
            cJSON_AddItemToObject(o, "scheduled", q.places);
            q.places = NULL;
            int prc = sl_cli_print_json(CMD, o);
            rc = prc ? prc : rc;
        } else if (!found) {
            sl_cli_fail(CMD,
                        "job %s of queue %s is not scheduled (searched %s): run-now takes a delayed job or a "
                        "retry waiting for its backoff",
                        jid, queue, parts.n > 1 ? "the schedules of every partition" : "its schedule");
        }
        if (rc == 0)
            rc = sl_cli_flush(CMD);
        goto done;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "queue", queue);
        if (parts.total > 1 && found) {
            size_t qlen;
            int index;
            sl_part_split(q.queue, &qlen, &index);
            cJSON_AddNumberToObject(o, "partition", index);
        }
        cJSON_AddStringToObject(o, "stream", q.stream);
        cJSON_AddStringToObject(o, "job_id", jid);
        cJSON_AddItemToObject(o, "stream_ids", q.entries);
        cJSON_AddNumberToObject(o, "scanned", (double)q.scanned);
        cJSON_AddBoolToObject(o, "truncated", q.truncated);
        cJSON_AddItemToObject(o, "places", q.places);
        q.entries = q.places = NULL;
        rc = sl_cli_print_json(CMD, o);
    } else if (found) {
        printf("job %s of queue %s: ", jid, queue);
        if (cJSON_GetArraySize(q.entries) > 0) {
            const cJSON *it;
            printf("entry");
            cJSON_ArrayForEach(it, q.entries) printf(" %s", it->valuestring);
            printf(" of %s\n", q.stream);
        } else {
            printf("no entry in %s (not added yet, trimmed, or never there)\n", q.stream);
        }
        if (q.truncated)
            printf("(searched only the newest %d entries of each stream)\n", SCAN_LIMIT);
        const cJSON *p;
        cJSON_ArrayForEach(p, q.places) print_place(&q, p);
        rc = 0;
    }
    if (!found && (rc == 0 || !json) && parts.n > 1)
        rc = sl_cli_fail(
            CMD, "job %s not found in queue %s (searched its %d partitions sluice:{%s#I}%s)", jid, queue, parts.n,
            queue, q.truncated ? ", newest entries only" : " and their groups' retry streams, DLQs and schedules");
    else if (!found && (rc == 0 || !json))
        rc = sl_cli_fail(CMD, "job %s not found in queue %s (searched %s%s)", jid, queue, q.stream,
                         q.truncated ? ", newest entries only" : " and its groups' retry streams, DLQs and schedule");
    if (rc == 0)
        rc = sl_cli_flush(CMD);
done:
    sl_cli_parts_free(&parts);
    cJSON_Delete(q.entries);
    cJSON_Delete(q.places);
    cJSON_Delete(q.members);
    sl_redis_free(q.r);
    return rc;
}
