/* `sluice dlq list|show|replay|purge QUEUE`: inspect a group's dead letters
 * (sluice:{Q}:dlq:G), filtered by type, one of the known reasons and time;
 * send them back to that group only (FCALL sluice_dlq_replay, atomic per entry,
 * fresh attempt budget; a confirmation above --confirm-over entries); or
 * delete them after a confirmation. A partitioned queue's dead letters are
 * those of every partition (sluice:{Q#i}:dlq:G, or one with --partition),
 * merged oldest first; their DLQ_IDs are "I/ENTRY_ID", and each goes back to
 * its own partition's retry stream. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"
#include "common/streamid.h"

#define CMD "dlq"
#define SCAN_CHUNK 500
#define SCAN_CHUNK_STR "500" /* SCAN_CHUNK as XRANGE's COUNT argument */
#define MAX_IDS 1024
#define REPLAY_BATCH 100
#define PURGE_BATCH 500
#define CONFIRM_OVER 100 /* replay asks before more than this many, unless --yes */

static const char usage_text[] =
    "usage: sluice dlq list    QUEUE [--group G] [--partition I] [FILTERS] [--limit N] [--json]\n"
    "       sluice dlq show    QUEUE DLQ_ID [--group G] [--json]\n"
    "       sluice dlq replay  QUEUE [--group G] [FILTERS] [--id DLQ_ID]... [--dry-run]\n"
    "                          [--yes] [--confirm-over N] [--verbose] [--json]\n"
    "       sluice dlq purge   QUEUE [--group G] [FILTERS] [--id DLQ_ID]... [--yes] [--json]\n"
    "\n"
    "Dead letters of group G of queue QUEUE live in the stream sluice:{QUEUE}:dlq:G: the\n"
    "original job fields plus reason, error, attempts, deliveries, original_id,\n"
    "original_stream, group, consumer and failed_at. --group may be left out when the\n"
    "queue has exactly one consumer group. Of a partitioned queue, every partition's\n"
    "sluice:{QUEUE#I}:dlq:G (--partition I: one), merged oldest first; its DLQ_IDs\n"
    "are I/ENTRY_ID (with --partition, a bare ENTRY_ID is partition I's).\n"
    "\n"
    "  list     the matching entries, oldest first (at most --limit, default 100)\n"
    "  show     every field of one entry\n"
    "  replay   send the matching entries back to group G only: each is added to G's\n"
    "           retry stream sluice:{QUEUE}:r:G without the DLQ fields and without\n"
    "           attempt (a fresh attempt budget; the job id is kept) and removed from\n"
    "           the DLQ, atomically per entry. Other groups of the queue see nothing.\n"
    "           Prints a summary line (--verbose: one line per entry too); asks first\n"
    "           when more than --confirm-over entries match, unless --yes (without a\n"
    "           terminal on stdin, --yes is then required)\n"
    "  purge    delete the matching entries; asks first unless --yes (without a\n"
    "           terminal on stdin, --yes is required)\n"
    "\n"
    "Filters (all must match):\n"
    "      --type T        job type T\n"
    "      --reason R      reason R: failed, exhausted, timeout, crashed, schema,\n"
    "                      bad_envelope, bad_payload, oversize, unknown_type, trimmed\n"
    "      --since TIME    dead-lettered at or after TIME\n"
    "      --until TIME    dead-lettered at or before TIME\n"
    "                      TIME: RFC 3339 (2026-11-26T10:00:00Z), @EPOCH_SECONDS, or a\n"
    "                      duration ago (90s, 15m, 2h)\n"
    "      --id DLQ_ID     only this entry (repeatable; replay and purge)\n"
    "      --limit N       at most N entries (list: default 100; replay, purge: all)\n"
    "\n"
    "  -u, --url URL       Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "  -g, --group G       the consumer group\n"
    "      --partition I   of a partitioned queue, only partition I\n"
    "  -n, --dry-run       replay: list what would be replayed, change nothing\n"
    "  -y, --yes           purge, replay: do not ask\n"
    "      --confirm-over N  replay: ask when more than N entries match (default 100)\n"
    "  -v, --verbose       replay: print \"DLQ_ID -> RETRY_STREAM RETRY_ID\" per entry\n"
    "      --json          print JSON instead of a table\n"
    "  -h, --help          print this help\n"
    "\n"
    "Exit status: 0 done, 1 failure (or purge/replay declined), 2 usage error (or\n"
    "purge, or a replay over --confirm-over, without --yes and no terminal).\n";

/* Every reason a dead letter can carry: the handler's (workers/job.c: failed,
 * exhausted, unknown_type, crashed, schema), the supervisor's hard timeout
 * (runner/maint/jobs.c: timeout), the envelope codec's (common/codec.c
 * sl_codec_reason) and trimmed (sluice_reclaim: the entry was gone). */
static const char *const reasons[] = {"failed",       "exhausted",   "timeout",  "crashed",      "schema",
                                      "bad_envelope", "bad_payload", "oversize", "unknown_type", "trimmed"};
#define NREASONS (sizeof reasons / sizeof reasons[0])

/* 0 when r is one of reasons[], else 2 after a usage error that lists them. */
static int check_reason(const char *r)
{
    char list[256] = "";
    for (size_t i = 0; i < NREASONS; i++) {
        if (!strcmp(r, reasons[i]))
            return 0;
        size_t len = strlen(list);
        snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", reasons[i]);
    }
    return sl_cli_usage(CMD, "unknown --reason '%.64s' (valid: %s)", r, list);
}

typedef struct dlq_args {
    const char *sub, *url, *queue, *group, *type, *reason, *since, *until, *show_id;
    const char *ids[MAX_IDS];
    int nids, json, dry_run, yes, verbose;
    long limit; /* 0: no limit */
    long confirm_over; /* replay: ask above this many entries */
    int only; /* --partition, -1: every partition */
    sl_cli_parts parts; /* the partitions visited (one, "Q", for an unpartitioned queue) */
    int part; /* the partition dlq and retry are of (index into parts) */
    char grp[SL_CLI_NAME_MAX], dlq[SL_KEY_MAX], retry[SL_KEY_MAX];
    char where[SL_KEY_MAX + 48]; /* the DLQ(s) for messages: dlq, or sluice:{Q#I}:dlq:G */
    char rwhere[SL_KEY_MAX + 48]; /* the retry stream(s), likewise */
    char start[32], end[48]; /* XRANGE bounds from --since/--until */
} dlq_args;

/* Copy s for a table cell: control bytes shown as '.', cut to max bytes with "...". */
static const char *clip(char *dst, size_t n, const char *s, size_t max)
{
    size_t i = 0, len = strlen(s);
    for (; s[i] && i + 4 < n && i < max; i++)
        dst[i] = (unsigned char)s[i] < 0x20 ? '.' : s[i];
    dst[i] = '\0';
    if (i < len && i >= 3)
        memcpy(dst + i - 3, "...", 4);
    return dst;
}

/* Entry {dlq_id, fields{...}} from an XRANGE element [id, [k, v...]]. */
static cJSON *entry_json(const redisReply *e)
{
    cJSON *o = cJSON_CreateObject(), *f = cJSON_CreateObject();
    const redisReply *kv = e->element[1];
    cJSON_AddStringToObject(o, "dlq_id", e->element[0]->str);
    for (size_t i = 0; kv->type == REDIS_REPLY_ARRAY && i + 1 < kv->elements; i += 2)
        cJSON_AddStringToObject(f, kv->element[i]->str, kv->element[i + 1]->str);
    cJSON_AddItemToObject(o, "fields", f);
    return o;
}

/* The entry's id in its own DLQ stream (dlq_id is "I/ID" in a partitioned queue). */
static const char *entry_id(const cJSON *entry)
{
    const cJSON *v = cJSON_GetObjectItem(entry, "entry_id");
    return cJSON_IsString(v) ? v->valuestring : cJSON_GetObjectItem(entry, "dlq_id")->valuestring;
}

static const char *field(const cJSON *entry, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(entry, "fields"), name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int matches(const dlq_args *a, const cJSON *e)
{
    return (!a->type || strcmp(field(e, "type"), a->type) == 0) &&
           (!a->reason || strcmp(field(e, "reason"), a->reason) == 0);
}

/* Append the entries of an XRANGE reply that match to out (up to limit).
 * Sets *last to the last id seen. Returns how many the reply held. */
static size_t take(const dlq_args *a, const redisReply *rep, cJSON *out, int *more, char *last, size_t lastn)
{
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        snprintf(last, lastn, "%s", e->element[0]->str);
        cJSON *j = entry_json(e);
        if (!matches(a, j)) {
            cJSON_Delete(j);
        } else if (a->limit > 0 && cJSON_GetArraySize(out) >= a->limit) {
            cJSON_Delete(j);
            *more = 1;
        } else {
            cJSON_AddItemToArray(out, j);
        }
    }
    return rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
}

/* The matching entries, oldest first: --id entries, or a scan of the DLQ
 * between the time bounds. NULL after printing why. */
static cJSON *select_entries(sl_redis *r, const dlq_args *a, int *more)
{
    cJSON *out = cJSON_CreateArray();
    char last[64];
    *more = 0;
    for (int i = 0; i < a->nids; i++) {
        const char *argv[] = {"XRANGE", a->dlq, a->ids[i], a->ids[i]};
        redisReply *rep = sl_cli_cmd(CMD, r, 4, argv);
        if (!rep)
            goto fail;
        int n = (int)take(a, rep, out, more, last, sizeof last);
        freeReplyObject(rep);
        if (n == 0) {
            sl_cli_fail(CMD, "no entry %s in %s", a->ids[i], a->dlq);
            goto fail;
        }
    }
    if (a->nids > 0)
        return out;
    char start[80];
    snprintf(start, sizeof start, "%s", a->start);
    for (;;) {
        const char *argv[] = {"XRANGE", a->dlq, start, a->end, "COUNT", SCAN_CHUNK_STR};
        redisReply *rep = sl_cli_cmd(CMD, r, 6, argv);
        if (!rep)
            goto fail;
        size_t n = take(a, rep, out, more, last, sizeof last);
        freeReplyObject(rep);
        if (n < SCAN_CHUNK || *more)
            break;
        snprintf(start, sizeof start, "(%s", last);
    }
    return out;
fail:
    cJSON_Delete(out);
    return NULL;
}

/* Point dlq and retry at partition i of the visited ones. */
static void use_part(dlq_args *a, int i)
{
    a->part = i;
    sl_key_dlq(a->dlq, sizeof a->dlq, a->parts.names[i], a->grp);
    sl_key_retry(a->retry, sizeof a->retry, a->parts.names[i], a->grp);
}

/* The index of partition `index` among the visited ones, -1 if not visited. */
static int visited(const dlq_args *a, int index)
{
    if (a->parts.total <= 1)
        return index == 0 ? 0 : -1;
    if (a->only >= 0)
        return index == a->only ? 0 : -1;
    return index < a->parts.n ? index : -1;
}

/* An --id (or show's DLQ_ID) of a partitioned queue, "I/ID" (or ID with
 * --partition): the visited partition's index into *part and the entry id.
 * NULL after printing why. */
static const char *split_id(const dlq_args *a, const char *id, int *part)
{
    const char *slash = strchr(id, '/');
    *part = 0;
    if (a->parts.total <= 1 || (!slash && a->only >= 0))
        return slash ? (sl_cli_usage(CMD, "'%.64s': queue %s is not partitioned", id, a->queue), NULL) : id;
    char *end;
    long i = slash ? strtol(id, &end, 10) : -1;
    if (!slash || end != slash || (*part = visited(a, (int)i)) < 0) {
        sl_cli_usage(CMD, "'%.64s': expected I/ENTRY_ID with I a partition of %s (0..%d)%s", id, a->queue,
                     a->parts.total - 1, a->only >= 0 ? " visited (--partition)" : "");
        return NULL;
    }
    return slash + 1;
}

static int by_entry_id(const void *x, const void *y)
{
    return sl_streamid_cmp_text(entry_id(*(cJSON *const *)x), entry_id(*(cJSON *const *)y));
}

/* The matching entries of every visited partition, oldest first (at most
 * limit over all), each tagged with its partition ("partition", "entry_id",
 * dlq_id "I/ID") in a partitioned queue. NULL after printing why. */
static cJSON *select_all(sl_redis *r, dlq_args *a, int *more)
{
    cJSON *all = cJSON_CreateArray();
    const char *ids[MAX_IDS];
    int nids = a->nids, parts[MAX_IDS];
    memcpy(ids, a->ids, sizeof(ids[0]) * (size_t)nids);
    for (int i = 0; i < nids; i++)
        if (!(ids[i] = split_id(a, a->ids[i], &parts[i]))) {
            cJSON_Delete(all);
            return NULL;
        }
    *more = 0;
    for (int p = 0; p < a->parts.n; p++) {
        int m = 0, k = 0;
        for (int i = 0; i < nids; i++)
            if (parts[i] == p)
                a->ids[k++] = ids[i];
        if (nids > 0 && k == 0)
            continue; /* --id names none of this partition's */
        a->nids = k;
        use_part(a, p);
        cJSON *some = select_entries(r, a, &m), *e;
        if (!some) {
            cJSON_Delete(all);
            return NULL;
        }
        *more |= m;
        while ((e = cJSON_DetachItemFromArray(some, 0)) != NULL) {
            if (a->parts.total > 1) {
                char id[80];
                int index = a->only >= 0 ? a->only : p;
                const char *sid = cJSON_GetObjectItem(e, "dlq_id")->valuestring;
                snprintf(id, sizeof id, "%d/%s", index, sid);
                cJSON_AddNumberToObject(e, "partition", index);
                cJSON_AddStringToObject(e, "entry_id", sid);
                cJSON_ReplaceItemInObject(e, "dlq_id", cJSON_CreateString(id));
            }
            cJSON_AddItemToArray(all, e);
        }
        cJSON_Delete(some);
    }
    if (a->parts.n > 1 && sl_cli_json_sort(all, by_entry_id) != 0) {
        cJSON_Delete(all);
        sl_cli_fail(CMD, "out of memory");
        return NULL;
    }
    a->nids = nids;
    memcpy(a->ids, ids, sizeof(ids[0]) * (size_t)nids); /* the entry ids from here on */
    while (a->limit > 0 && cJSON_GetArraySize(all) > a->limit) {
        cJSON_DeleteItemFromArray(all, cJSON_GetArraySize(all) - 1);
        *more = 1;
    }
    return all;
}

static void print_entries(const cJSON *entries)
{
    static const char *h[] = {"DLQ_ID", "FAILED_AT", "TYPE", "JOB_ID", "REASON", "ATTEMPTS", "ERROR"};
    sl_table *t = sl_table_new(h, 7, "lllllrl");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        char when[40], type[64], job[64], err[80];
        const char *id = cJSON_GetObjectItem(e, "dlq_id")->valuestring;
        sl_cli_fmt_time(when, sizeof when, sl_streamid_ms(entry_id(e)));
        const char *row[] = {id,
                             when,
                             clip(type, sizeof type, field(e, "type"), 40),
                             clip(job, sizeof job, field(e, "id"), 40),
                             field(e, "reason"),
                             field(e, "attempts"),
                             clip(err, sizeof err, field(e, "error"), 60)};
        sl_table_row(t, row);
    }
    sl_table_print(t, stdout);
    sl_table_free(t);
}

static cJSON *result_json(const dlq_args *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "queue", a->queue);
    cJSON_AddStringToObject(o, "group", a->grp);
    cJSON_AddStringToObject(o, "dlq", a->where);
    if (a->parts.total > 1)
        cJSON_AddNumberToObject(o, "partitions", a->parts.n);
    return o;
}

static int do_list(sl_redis *r, dlq_args *a)
{
    int more;
    cJSON *entries = select_all(r, a, &more);
    if (!entries)
        return 1;
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddItemToObject(o, "entries", entries);
        cJSON_AddBoolToObject(o, "more", more);
        return sl_cli_print_json(CMD, o);
    }
    if (cJSON_GetArraySize(entries) == 0)
        printf("no matching dead letters in %s\n", a->where);
    else
        print_entries(entries);
    if (more)
        printf("(more entries match; raise --limit)\n");
    cJSON_Delete(entries);
    return 0;
}

static int do_show(sl_redis *r, dlq_args *a)
{
    int part;
    const char *sid = split_id(a, a->show_id, &part);
    if (!sid)
        return 2;
    use_part(a, part);
    const char *argv[] = {"XRANGE", a->dlq, sid, sid};
    redisReply *rep = sl_cli_cmd(CMD, r, 4, argv);
    if (!rep)
        return 1;
    if (rep->elements == 0) {
        freeReplyObject(rep);
        return sl_cli_fail(CMD, "no entry %s in %s", sid, a->dlq);
    }
    cJSON *e = entry_json(rep->element[0]);
    freeReplyObject(rep);
    if (a->parts.total > 1) {
        cJSON_AddNumberToObject(e, "partition", a->only >= 0 ? a->only : part);
        cJSON_AddStringToObject(e, "entry_id", sid);
        cJSON_ReplaceItemInObject(e, "dlq_id", cJSON_CreateString(a->show_id));
    }
    if (a->json)
        return sl_cli_print_json(CMD, e);
    static const char *h[] = {"FIELD", "VALUE"};
    sl_table *t = sl_table_new(h, 2, "ll");
    char when[40];
    sl_cli_fmt_time(when, sizeof when, sl_streamid_ms(sid));
    const char *top[] = {"dlq_id", a->show_id}, *at[] = {"dead-lettered", when};
    sl_table_row(t, top);
    sl_table_row(t, at);
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(e, "fields"))
    {
        char v[4096];
        const char *row[] = {f->string, clip(v, sizeof v, f->valuestring, sizeof v - 1)};
        sl_table_row(t, row);
    }
    sl_table_print(t, stdout);
    sl_table_free(t);
    cJSON_Delete(e);
    return 0;
}

/* FCALL sluice_dlq_replay for ids [from, to) (all of partition a->part):
 * adds {dlq_id, retry_id} to out. */
static int replay_batch(sl_redis *r, const dlq_args *a, cJSON *entries, int from, int to, cJSON *out, int *skipped)
{
    const char *argv[5 + REPLAY_BATCH];
    int n = 0;
    argv[n++] = "FCALL";
    argv[n++] = "sluice_dlq_replay";
    argv[n++] = "2";
    argv[n++] = a->dlq;
    argv[n++] = a->retry;
    for (int i = from; i < to; i++)
        argv[n++] = entry_id(cJSON_GetArrayItem(entries, i));
    redisReply *rep = sl_cli_cmd(CMD, r, n, argv);
    if (!rep)
        return -1;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        if (rep->element[i]->type != REDIS_REPLY_STRING) {
            (*skipped)++;
            continue;
        }
        const cJSON *e = cJSON_GetArrayItem(entries, from + (int)i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dlq_id", cJSON_GetObjectItem(e, "dlq_id")->valuestring);
        cJSON_AddStringToObject(o, "retry_id", rep->element[i]->str);
        if (a->parts.total > 1)
            cJSON_AddStringToObject(o, "retry_stream", a->retry);
        cJSON_AddItemToArray(out, o);
    }
    freeReplyObject(rep);
    return 0;
}

/* The entries of partition p (visited index) among all, in order: a new
 * array of references (free with cJSON_Delete: it frees only them). */
static cJSON *of_part(const dlq_args *a, const cJSON *all, int p)
{
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    cJSON_ArrayForEach(e, all)
    {
        const cJSON *ix = cJSON_GetObjectItem(e, "partition");
        int v = ix ? visited(a, (int)ix->valuedouble) : 0;
        if (v == p)
            cJSON_AddItemReferenceToArray(out, (cJSON *)e);
    }
    return out;
}

static int do_replay(sl_redis *r, dlq_args *a)
{
    int more, skipped = 0, rc = 1;
    cJSON *entries = select_all(r, a, &more), *done = NULL;
    if (!entries)
        return 1;
    int n = cJSON_GetArraySize(entries);
    if (a->dry_run) {
        if (a->json) {
            cJSON *o = result_json(a);
            cJSON_AddStringToObject(o, "retry_stream", a->rwhere);
            cJSON_AddBoolToObject(o, "dry_run", 1);
            cJSON_AddItemToObject(o, "entries", entries);
            return sl_cli_print_json(CMD, o);
        }
        if (n > 0)
            print_entries(entries);
        printf("dry run: would replay %d dead letter%s from %s to group %s (%s); nothing changed\n", n,
               n == 1 ? "" : "s", a->where, a->grp, a->rwhere);
        cJSON_Delete(entries);
        return 0;
    }
    if (n > a->confirm_over && !a->yes) {
        char q[512];
        snprintf(q, sizeof q, "Replay %d dead letters from %s to group %s?", n, a->where, a->grp);
        int ok = sl_cli_confirm(q);
        if (ok < 0) {
            cJSON_Delete(entries);
            return sl_cli_usage(CMD,
                                "refusing to replay %d dead letters from %s without --yes (more than "
                                "--confirm-over %ld, and stdin is not a terminal)",
                                n, a->where, a->confirm_over);
        }
        if (!ok) {
            cJSON_Delete(entries);
            return sl_cli_fail(CMD, "nothing replayed");
        }
    }
    if (n > 0 && sl_cli_functions(CMD, r) != 0)
        goto done;
    done = cJSON_CreateArray();
    for (int p = 0; p < a->parts.n; p++) {
        cJSON *mine = of_part(a, entries, p);
        int k = cJSON_GetArraySize(mine), failed = 0;
        use_part(a, p);
        for (int i = 0; i < k && !failed; i += REPLAY_BATCH)
            failed = replay_batch(r, a, mine, i, i + REPLAY_BATCH < k ? i + REPLAY_BATCH : k, done, &skipped) != 0;
        cJSON_Delete(mine);
        if (failed)
            goto done;
    }
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddStringToObject(o, "retry_stream", a->rwhere);
        cJSON_AddNumberToObject(o, "replayed", cJSON_GetArraySize(done));
        cJSON_AddNumberToObject(o, "skipped", skipped);
        cJSON_AddItemToObject(o, "entries", done);
        done = NULL;
        rc = sl_cli_print_json(CMD, o);
    } else {
        const cJSON *e;
        if (a->verbose) {
            cJSON_ArrayForEach(e, done)
            {
                const cJSON *rs = cJSON_GetObjectItem(e, "retry_stream");
                printf("%s -> %s %s\n", cJSON_GetObjectItem(e, "dlq_id")->valuestring, rs ? rs->valuestring : a->retry,
                       cJSON_GetObjectItem(e, "retry_id")->valuestring);
            }
        }
        printf("replayed %d dead letter%s to group %s (%s)", cJSON_GetArraySize(done),
               cJSON_GetArraySize(done) == 1 ? "" : "s", a->grp, a->rwhere);
        printf(skipped ? "; %d skipped (no longer in the DLQ)\n" : "\n", skipped);
        rc = 0;
    }
done:
    cJSON_Delete(done);
    cJSON_Delete(entries);
    return rc;
}

static int do_purge(sl_redis *r, dlq_args *a)
{
    int more, rc = 1;
    long long deleted = 0;
    cJSON *entries = select_all(r, a, &more);
    if (!entries)
        return 1;
    int n = cJSON_GetArraySize(entries);
    if (n > 0 && !a->yes) {
        char q[512];
        snprintf(q, sizeof q, "Delete %d dead letter%s from %s?", n, n == 1 ? "" : "s", a->where);
        int ok = sl_cli_confirm(q);
        if (ok < 0) {
            cJSON_Delete(entries);
            return sl_cli_usage(CMD,
                                "refusing to delete %d dead letter%s from %s without --yes (stdin is not a terminal)",
                                n, n == 1 ? "" : "s", a->where);
        }
        if (!ok) {
            cJSON_Delete(entries);
            return sl_cli_fail(CMD, "nothing deleted");
        }
    }
    for (int p = 0; p < a->parts.n; p++) {
        cJSON *mine = of_part(a, entries, p);
        int m = cJSON_GetArraySize(mine), failed = 0;
        use_part(a, p);
        for (int i = 0; i < m && !failed; i += PURGE_BATCH) {
            const char *argv[2 + PURGE_BATCH];
            int k = 0;
            argv[k++] = "XDEL";
            argv[k++] = a->dlq;
            for (int j = i; j < m && j < i + PURGE_BATCH; j++)
                argv[k++] = entry_id(cJSON_GetArrayItem(mine, j));
            redisReply *rep = sl_cli_cmd(CMD, r, k, argv);
            if (!rep) {
                failed = 1;
                break;
            }
            deleted += rep->integer;
            freeReplyObject(rep);
        }
        cJSON_Delete(mine);
        if (failed)
            goto done;
    }
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddNumberToObject(o, "deleted", (double)deleted);
        rc = sl_cli_print_json(CMD, o);
    } else {
        printf("deleted %lld dead letter%s from %s\n", deleted, deleted == 1 ? "" : "s", a->where);
        rc = 0;
    }
done:
    cJSON_Delete(entries);
    return rc;
}

/* Parse argv (argv[0] = "dlq"). -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, dlq_args *a)
{
    enum {
        OPT_TYPE = 256,
        OPT_REASON,
        OPT_SINCE,
        OPT_UNTIL,
        OPT_ID,
        OPT_LIMIT,
        OPT_JSON,
        OPT_CONFIRM_OVER,
        OPT_PARTITION
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"group", required_argument, NULL, 'g'},
        {"type", required_argument, NULL, OPT_TYPE},
        {"reason", required_argument, NULL, OPT_REASON},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"id", required_argument, NULL, OPT_ID},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"dry-run", no_argument, NULL, 'n'},
        {"yes", no_argument, NULL, 'y'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"verbose", no_argument, NULL, 'v'},
        {"confirm-over", required_argument, NULL, OPT_CONFIRM_OVER},
        {"partition", required_argument, NULL, OPT_PARTITION},
        {NULL, 0, NULL, 0},
    };
    const char *limit = NULL, *confirm_over = NULL;
    int ch;
    memset(a, 0, sizeof *a);
    a->only = -1;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:g:nyvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'u':
            a->url = optarg;
            break;
        case 'g':
            a->group = optarg;
            break;
        case OPT_TYPE:
            a->type = optarg;
            break;
        case OPT_REASON:
            a->reason = optarg;
            break;
        case OPT_SINCE:
            a->since = optarg;
            break;
        case OPT_UNTIL:
            a->until = optarg;
            break;
        case OPT_LIMIT:
            limit = optarg;
            break;
        case 'n':
            a->dry_run = 1;
            break;
        case 'y':
            a->yes = 1;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case OPT_CONFIRM_OVER:
            confirm_over = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_PARTITION:
            if (sl_cli_parse_partition(CMD, optarg, &a->only) != 0)
                return 2;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case OPT_ID:
            if (a->nids == MAX_IDS)
                return sl_cli_usage(CMD, "at most %d --id options", MAX_IDS);
            if (sl_streamid_ms(strchr(optarg, '/') ? strchr(optarg, '/') + 1 : optarg) < 0)
                return sl_cli_usage(CMD, "invalid --id '%.64s' (expected a stream id, or I/ID)", optarg);
            a->ids[a->nids++] = optarg;
            break;
        default:
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return sl_cli_usage(CMD, "missing subcommand: list, show, replay or purge");
    a->sub = argv[optind++];
    int list = !strcmp(a->sub, "list"), show = !strcmp(a->sub, "show"), replay = !strcmp(a->sub, "replay"),
        purge = !strcmp(a->sub, "purge");
    if (!list && !show && !replay && !purge)
        return sl_cli_usage(CMD, "unknown subcommand '%.32s'", a->sub);
    if (optind >= argc)
        return sl_cli_usage(CMD, "%s: missing QUEUE", a->sub);
    a->queue = argv[optind++];
    if (show) {
        if (optind >= argc)
            return sl_cli_usage(CMD, "show: missing DLQ_ID");
        a->show_id = argv[optind++];
        if (sl_streamid_ms(strchr(a->show_id, '/') ? strchr(a->show_id, '/') + 1 : a->show_id) < 0)
            return sl_cli_usage(CMD, "invalid DLQ_ID '%.64s'", a->show_id);
    }
    if (optind < argc)
        return sl_cli_usage(CMD, "unexpected argument '%.64s'", argv[optind]);
    if (show && (a->type || a->reason || a->since || a->until || limit || a->nids))
        return sl_cli_usage(CMD, "show takes no filters");
    if (a->dry_run && !replay)
        return sl_cli_usage(CMD, "--dry-run is for replay");
    if (a->yes && !purge && !replay)
        return sl_cli_usage(CMD, "--yes is for purge and replay");
    if ((a->verbose || confirm_over) && !replay)
        return sl_cli_usage(CMD, "--verbose and --confirm-over are for replay");
    a->confirm_over = CONFIRM_OVER;
    if (confirm_over) {
        char *end;
        a->confirm_over = strtol(confirm_over, &end, 10);
        if (!*confirm_over || *end || a->confirm_over < 0 || a->confirm_over > 100000000)
            return sl_cli_usage(CMD, "invalid --confirm-over '%.32s' (expected a number >= 0)", confirm_over);
    }
    if (a->nids && list)
        return sl_cli_usage(CMD, "--id is for replay and purge (use show)");
    if (limit) {
        char *end;
        a->limit = strtol(limit, &end, 10);
        if (*end || a->limit <= 0 || a->limit > 100000000)
            return sl_cli_usage(CMD, "invalid --limit '%.32s' (expected a positive number)", limit);
    } else if (list) {
        a->limit = 100;
    }
    if (a->reason && check_reason(a->reason))
        return 2;
    if (sl_cli_check_name(CMD, "queue", a->queue) || (a->group && sl_cli_check_name(CMD, "group", a->group)))
        return 2;
    return -1;
}

/* Turn --since/--until into XRANGE bounds (needs the server's clock). 0 or 2. */
static int time_bounds(dlq_args *a, int64_t now)
{
    int64_t ms;
    snprintf(a->start, sizeof a->start, "-");
    snprintf(a->end, sizeof a->end, "+");
    if (a->since) {
        if (sl_cli_parse_when(a->since, now, &ms) != 0)
            return sl_cli_usage(CMD, "invalid --since '%.64s' (expected RFC 3339, @EPOCH_SECONDS or 15m)", a->since);
        snprintf(a->start, sizeof a->start, "%lld-0", (long long)ms);
    }
    if (a->until) {
        if (sl_cli_parse_when(a->until, now, &ms) != 0)
            return sl_cli_usage(CMD, "invalid --until '%.64s' (expected RFC 3339, @EPOCH_SECONDS or 15m)", a->until);
        snprintf(a->end, sizeof a->end, "%lld-18446744073709551615", (long long)ms);
    }
    return 0;
}

int sl_cmd_dlq(int argc, char **argv)
{
    dlq_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    sl_redis *r = sl_cli_connect(CMD, a.url);
    if (!r)
        return 1;
    int64_t now = sl_cli_server_ms(CMD, r);
    rc = 1;
    if (now < 0)
        goto done;
    if ((rc = time_bounds(&a, now)) != 0)
        goto done;
    if ((rc = sl_cli_parts_get(CMD, r, a.queue, a.only, &a.parts)) != 0)
        goto done;
    /* every partition has the same groups: the first one's are the queue's */
    if ((rc = sl_cli_pick_group(CMD, r, a.parts.names[0], a.group, a.grp)) != 0)
        goto done;
    use_part(&a, 0);
    if (a.parts.n > 1) {
        snprintf(a.where, sizeof a.where, "sluice:{%s#I}:dlq:%s (%d partitions)", a.queue, a.grp, a.parts.n);
        snprintf(a.rwhere, sizeof a.rwhere, "sluice:{%s#I}:r:%s", a.queue, a.grp);
    } else {
        snprintf(a.where, sizeof a.where, "%s", a.dlq);
        snprintf(a.rwhere, sizeof a.rwhere, "%s", a.retry);
    }
    if (!strcmp(a.sub, "list"))
        rc = do_list(r, &a);
    else if (!strcmp(a.sub, "show"))
        rc = do_show(r, &a);
    else if (!strcmp(a.sub, "replay"))
        rc = do_replay(r, &a);
    else
        rc = do_purge(r, &a);
    if (rc == 0)
        rc = sl_cli_flush(CMD);
done:
    sl_cli_parts_free(&a.parts);
    sl_redis_free(r);
    return rc;
}
