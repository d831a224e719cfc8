/* `sluice dlq list|show|replay|purge QUEUE`: inspect a group's dead letters
 * (sluice:{Q}:dlq:G), filtered by type, one of the known reasons and time;
 * send them back to that group only (FCALL sluice_dlq_replay, atomic per entry,
 * fresh attempt budget; a confirmation above --confirm-over entries); or
 * delete them after a confirmation. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/streamid.h"

#define CMD "dlq"
#define SCAN_CHUNK 500
#define SCAN_CHUNK_STR "500" /* SCAN_CHUNK as XRANGE's COUNT argument */
#define MAX_IDS 1024
#define REPLAY_BATCH 100
#define PURGE_BATCH 500
#define CONFIRM_OVER 100 /* replay asks before more than this many, unless --yes */

static const char usage_text[] =
    "usage: sluice dlq list    QUEUE [--group G] [FILTERS] [--limit N] [--json]\n"
    "       sluice dlq show    QUEUE DLQ_ID [--group G] [--json]\n"
    "       sluice dlq replay  QUEUE [--group G] [FILTERS] [--id DLQ_ID]... [--dry-run]\n"
    "                          [--yes] [--confirm-over N] [--verbose] [--json]\n"
    "       sluice dlq purge   QUEUE [--group G] [FILTERS] [--id DLQ_ID]... [--yes] [--json]\n"
    "\n"
    "Dead letters of group G of queue QUEUE live in the stream sluice:{QUEUE}:dlq:G: the\n"
    "original job fields plus reason, error, attempts, deliveries, original_id,\n"
    "original_stream, group, consumer and failed_at. --group may be left out when the\n"
    "queue has exactly one consumer group.\n"
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
    char grp[SL_CLI_NAME_MAX], dlq[SL_KEY_MAX], retry[SL_KEY_MAX];
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

static void print_entries(const cJSON *entries)
{
    static const char *h[] = {"DLQ_ID", "FAILED_AT", "TYPE", "JOB_ID", "REASON", "ATTEMPTS", "ERROR"};
    sl_table *t = sl_table_new(h, 7, "lllllrl");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        char when[40], type[64], job[64], err[80];
        const char *id = cJSON_GetObjectItem(e, "dlq_id")->valuestring;
        sl_cli_fmt_time(when, sizeof when, sl_streamid_ms(id));
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
    cJSON_AddStringToObject(o, "dlq", a->dlq);
    return o;
}

static int do_list(sl_redis *r, dlq_args *a)
{
    int more;
    cJSON *entries = select_entries(r, a, &more);
    if (!entries)
        return 1;
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddItemToObject(o, "entries", entries);
        cJSON_AddBoolToObject(o, "more", more);
        return sl_cli_print_json(CMD, o);
    }
    if (cJSON_GetArraySize(entries) == 0)
        printf("no matching dead letters in %s\n", a->dlq);
    else
        print_entries(entries);
    if (more)
        printf("(more entries match; raise --limit)\n");
    cJSON_Delete(entries);
    return 0;
}

static int do_show(sl_redis *r, dlq_args *a)
{
    const char *argv[] = {"XRANGE", a->dlq, a->show_id, a->show_id};
    redisReply *rep = sl_cli_cmd(CMD, r, 4, argv);
    if (!rep)
        return 1;
    if (rep->elements == 0) {
        freeReplyObject(rep);
        return sl_cli_fail(CMD, "no entry %s in %s", a->show_id, a->dlq);
    }
    cJSON *e = entry_json(rep->element[0]);
    freeReplyObject(rep);
    if (a->json)
        return sl_cli_print_json(CMD, e);
    static const char *h[] = {"FIELD", "VALUE"};
    sl_table *t = sl_table_new(h, 2, "ll");
    char when[40];
    sl_cli_fmt_time(when, sizeof when, sl_streamid_ms(a->show_id));
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

/* FCALL sluice_dlq_replay for ids [from, to): adds {dlq_id, retry_id} to out. */
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
        argv[n++] = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, i), "dlq_id")->valuestring;
    redisReply *rep = sl_cli_cmd(CMD, r, n, argv);
    if (!rep)
        return -1;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        if (rep->element[i]->type != REDIS_REPLY_STRING) {
            (*skipped)++;
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "dlq_id", argv[5 + i]);
        cJSON_AddStringToObject(o, "retry_id", rep->element[i]->str);
        cJSON_AddItemToArray(out, o);
    }
    freeReplyObject(rep);
    return 0;
}

static int do_replay(sl_redis *r, dlq_args *a)
{
    int more, skipped = 0, rc = 1;
    cJSON *entries = select_entries(r, a, &more), *done = NULL;
    if (!entries)
        return 1;
    int n = cJSON_GetArraySize(entries);
    if (a->dry_run) {
        if (a->json) {
            cJSON *o = result_json(a);
            cJSON_AddStringToObject(o, "retry_stream", a->retry);
            cJSON_AddBoolToObject(o, "dry_run", 1);
            cJSON_AddItemToObject(o, "entries", entries);
            return sl_cli_print_json(CMD, o);
        }
        if (n > 0)
            print_entries(entries);
        printf("dry run: would replay %d dead letter%s from %s to group %s (%s); nothing changed\n", n,
               n == 1 ? "" : "s", a->dlq, a->grp, a->retry);
        cJSON_Delete(entries);
        return 0;
    }
    if (n > a->confirm_over && !a->yes) {
        char q[512];
        snprintf(q, sizeof q, "Replay %d dead letters from %s to group %s?", n, a->dlq, a->grp);
        int ok = sl_cli_confirm(q);
        if (ok < 0) {
            cJSON_Delete(entries);
            return sl_cli_usage(CMD,
                                "refusing to replay %d dead letters from %s without --yes (more than "
                                "--confirm-over %ld, and stdin is not a terminal)",
                                n, a->dlq, a->confirm_over);
        }
        if (!ok) {
            cJSON_Delete(entries);
            return sl_cli_fail(CMD, "nothing replayed");
        }
    }
    if (n > 0 && sl_cli_functions(CMD, r) != 0)
        goto done;
    done = cJSON_CreateArray();
    for (int i = 0; i < n; i += REPLAY_BATCH)
        if (replay_batch(r, a, entries, i, i + REPLAY_BATCH < n ? i + REPLAY_BATCH : n, done, &skipped) != 0)
            goto done;
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddStringToObject(o, "retry_stream", a->retry);
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
                printf("%s -> %s %s\n", cJSON_GetObjectItem(e, "dlq_id")->valuestring, a->retry,
                       cJSON_GetObjectItem(e, "retry_id")->valuestring);
            }
        }
        printf("replayed %d dead letter%s to group %s (%s)", cJSON_GetArraySize(done),
               cJSON_GetArraySize(done) == 1 ? "" : "s", a->grp, a->retry);
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
    cJSON *entries = select_entries(r, a, &more);
    if (!entries)
        return 1;
    int n = cJSON_GetArraySize(entries);
    if (n > 0 && !a->yes) {
        char q[512];
        snprintf(q, sizeof q, "Delete %d dead letter%s from %s?", n, n == 1 ? "" : "s", a->dlq);
        int ok = sl_cli_confirm(q);
        if (ok < 0) {
            cJSON_Delete(entries);
            return sl_cli_usage(CMD,
                                "refusing to delete %d dead letter%s from %s without --yes (stdin is not a terminal)",
                                n, n == 1 ? "" : "s", a->dlq);
        }
        if (!ok) {
            cJSON_Delete(entries);
            return sl_cli_fail(CMD, "nothing deleted");
        }
    }
    for (int i = 0; i < n; i += PURGE_BATCH) {
        const char *argv[2 + PURGE_BATCH];
        int k = 0;
        argv[k++] = "XDEL";
        argv[k++] = a->dlq;
        for (int j = i; j < n && j < i + PURGE_BATCH; j++)
            argv[k++] = cJSON_GetObjectItem(cJSON_GetArrayItem(entries, j), "dlq_id")->valuestring;
        redisReply *rep = sl_cli_cmd(CMD, r, k, argv);
        if (!rep)
            goto done;
        deleted += rep->integer;
        freeReplyObject(rep);
    }
    if (a->json) {
        cJSON *o = result_json(a);
        cJSON_AddNumberToObject(o, "deleted", (double)deleted);
        rc = sl_cli_print_json(CMD, o);
    } else {
        printf("deleted %lld dead letter%s from %s\n", deleted, deleted == 1 ? "" : "s", a->dlq);
        rc = 0;
    }
done:
    cJSON_Delete(entries);
    return rc;
}

/* Parse argv (argv[0] = "dlq"). -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, dlq_args *a)
{
    enum { OPT_TYPE = 256, OPT_REASON, OPT_SINCE, OPT_UNTIL, OPT_ID, OPT_LIMIT, OPT_JSON, OPT_CONFIRM_OVER };
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
        {NULL, 0, NULL, 0},
    };
    const char *limit = NULL, *confirm_over = NULL;
    int ch;
    memset(a, 0, sizeof *a);
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
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case OPT_ID:
            if (a->nids == MAX_IDS)
                return sl_cli_usage(CMD, "at most %d --id options", MAX_IDS);
            if (sl_streamid_ms(optarg) < 0)
                return sl_cli_usage(CMD, "invalid --id '%.64s' (expected a stream id)", optarg);
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
        if (sl_streamid_ms(a->show_id) < 0)
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
    if ((rc = sl_cli_pick_group(CMD, r, a.queue, a.group, a.grp)) != 0)
        goto done;
    sl_key_dlq(a.dlq, sizeof a.dlq, a.queue, a.grp);
    sl_key_retry(a.retry, sizeof a.retry, a.queue, a.grp);
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
    sl_redis_free(r);
    return rc;
}
