/* `sluice group create|reset|delete QUEUE GROUP`: manage the consumer groups of
 * a queue. A group lives on the work stream sluice:{Q} and on its own retry
 * stream sluice:{Q}:r:G; create can start from all retained history or from a
 * point in time, delete refuses while entries are pending unless --force. Of a
 * partitioned queue, each subcommand acts on the group in every partition
 * sluice:{Q#i} (or one, --partition I); delete checks all of them first. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"
#include "common/streamid.h"

#define CMD "group"

static const char usage_text[] =
    "usage: sluice group create QUEUE GROUP --from 0|$|ID|TIME [-u URL] [--json]\n"
    "       sluice group reset  QUEUE GROUP --from 0|$|ID|TIME [-u URL] [--json]\n"
    "       sluice group delete QUEUE GROUP [--force] [-u URL] [--json]\n"
    "       (each also with [--partition I])\n"
    "\n"
    "  create   create GROUP on sluice:{QUEUE} (the stream is created if missing) and\n"
    "           on its retry stream sluice:{QUEUE}:r:GROUP. Workers of a pool with this\n"
    "           group then start where --from says.\n"
    "  reset    move GROUP's read position on sluice:{QUEUE} (XGROUP SETID): the next\n"
    "           read delivers the entries after it. Pending entries stay pending.\n"
    "  delete   delete GROUP from both streams. Refused while the group has pending\n"
    "           entries (a worker is running them or will replay them), unless\n"
    "           --force. The retry stream is deleted when empty, or with --force; the\n"
    "           dead letters (sluice:{QUEUE}:dlq:GROUP) are kept. A running pool with\n"
    "           this group recreates it: stop or reconfigure the pool first.\n"
    "  Of a partitioned queue (sluice:{QUEUE}:partitions), each acts on GROUP in every\n"
    "  partition sluice:{QUEUE#I} in turn (delete checks every one for pending entries\n"
    "  first); --partition I: only in partition I.\n"
    "\n"
    "  --from 0       every entry the stream still holds (all retained history)\n"
    "  --from '$'     only entries added from now on\n"
    "  --from ID      the entries after stream id ID (1700000000000-0)\n"
    "  --from TIME    the entries added at or after TIME: RFC 3339\n"
    "                 (2026-11-26T10:00:00Z) or @EPOCH_SECONDS\n"
    "  -f, --force    delete: even with pending entries, and the retry stream too\n"
    "  -u, --url URL  Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "      --json     print JSON\n"
    "  -h, --help     print this help\n"
    "\n"
    "Exit status: 0 done, 1 failure (group exists / missing, pending entries without\n"
    "--force, Redis error), 2 usage error.\n";

/* --from as the id XGROUP takes: 0, $, an id, or a time T as the last id
 * before T's millisecond, so entries of exactly T are delivered. 0, or -1. */
static int parse_from(const char *s, char *out, size_t n)
{
    int64_t ms;
    if (strcmp(s, "0") == 0 || strcmp(s, "$") == 0 || sl_streamid_ms(s) >= 0) {
        snprintf(out, n, "%s", s);
        return 0;
    }
    if (sl_cli_parse_time(s, &ms) != 0)
        return -1;
    sl_streamid before = {(uint64_t)ms, 0};
    if (sl_streamid_prev(&before) != 0)
        snprintf(out, n, "0");
    else
        (void)sl_streamid_fmt(out, n, before);
    return 0;
}

/* XPENDING summary count of group on stream; 0 when the group or stream is
 * missing and missing_ok; -1 after printing an error. */
static long long pending_count(sl_redis *r, const char *stream, const char *group, int missing_ok)
{
    const char *argv[] = {"XPENDING", stream, group};
    redisReply *rep = sl_redis_cmdargv(r, 3, argv, NULL);
    if (!rep)
        return sl_cli_fail(CMD, "XPENDING failed: %s", sl_redis_errstr(r)), -1;
    long long n = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 1)
        n = rep->element[0]->integer;
    else if (missing_ok)
        n = 0;
    else
        sl_cli_fail(CMD, "no group %s on %s: %s", group, stream, rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    return n;
}

static long long int_cmd(sl_redis *r, int argc, const char **argv)
{
    redisReply *rep = sl_cli_cmd(CMD, r, argc, argv);
    long long v = rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    if (rep)
        freeReplyObject(rep);
    return v;
}

static int do_create(sl_redis *r, const char *queue, const char *stream, const char *retry, const char *group,
                     const char *from, const char *from_arg, cJSON *o)
{
    const char *mk[] = {"XGROUP", "CREATE", stream, group, from, "MKSTREAM"};
    redisReply *rep = sl_redis_cmdargv(r, 6, mk, NULL);
    if (!rep)
        return sl_cli_fail(CMD, "XGROUP CREATE failed: %s", sl_redis_errstr(r));
    if (rep->type == REDIS_REPLY_ERROR) {
        if (sl_redis_reply_is(rep, "BUSYGROUP"))
            sl_cli_fail(CMD, "group %s already exists on %s (move it with `sluice group reset`)", group, stream);
        else
            sl_cli_fail(CMD, "XGROUP CREATE %s %s failed: %s", stream, group, rep->str);
        freeReplyObject(rep);
        return 1;
    }
    freeReplyObject(rep);
    const char *mr[] = {"XGROUP", "CREATE", retry, group, "0", "MKSTREAM"};
    rep = sl_redis_cmdargv(r, 6, mr, NULL);
    int ok = rep && (rep->type == REDIS_REPLY_STATUS || sl_redis_reply_is(rep, "BUSYGROUP"));
    if (!ok)
        sl_cli_fail(CMD, "XGROUP CREATE %s failed: %s", retry, rep ? rep->str : sl_redis_errstr(r));
    if (rep)
        freeReplyObject(rep);
    if (!ok)
        return 1;
    /* A group made anew bumps its ownership fence: acks read under an older
     * one (a group deleted with entries pending) take sluice_ack's owner check. */
    char fence[SL_KEY_MAX];
    sl_key_fence(fence, sizeof fence, queue, group);
    const char *inc[] = {"INCR", fence};
    if (int_cmd(r, 2, inc) < 0)
        return 1;
    cJSON_AddStringToObject(o, "created", group);
    cJSON_AddStringToObject(o, "from", from_arg);
    cJSON_AddStringToObject(o, "start_id", from);
    cJSON_AddStringToObject(o, "retry_stream", retry);
    return 0;
}

/* XGROUP SETID and the fence bump in one script, so no read can fall between
 * them: after a reset, a `>` read hands entries still pending under one
 * consumer to another, an owner change sluice_ack's fast path must not miss
 * (KEYS: stream, fence; ARGV: group, id; returns the new fence). */
static const char reset_script[] = "redis.call('XGROUP', 'SETID', KEYS[1], ARGV[1], ARGV[2]) "
                                   "return redis.call('INCR', KEYS[2])";

static int do_reset(sl_redis *r, const char *queue, const char *stream, const char *group, const char *from,
                    const char *from_arg, cJSON *o)
{
    char fence[SL_KEY_MAX];
    sl_key_fence(fence, sizeof fence, queue, group);
    const char *argv[] = {"EVAL", reset_script, "2", stream, fence, group, from};
    redisReply *rep = sl_redis_cmdargv(r, 7, argv, NULL);
    if (!rep)
        return sl_cli_fail(CMD, "XGROUP SETID failed: %s", sl_redis_errstr(r));
    int ok = rep->type == REDIS_REPLY_INTEGER;
    if (!ok) {
        const char *e = rep->str ? rep->str : "?", *tail = strstr(e, " script: "); /* the script's sha */
        sl_cli_fail(CMD, "XGROUP SETID %s %s failed: %.*s", stream, group, tail ? (int)(tail - e) : (int)strlen(e), e);
    }
    freeReplyObject(rep);
    if (!ok)
        return 1;
    cJSON_AddStringToObject(o, "reset", group);
    cJSON_AddStringToObject(o, "from", from_arg);
    cJSON_AddStringToObject(o, "start_id", from);
    return 0;
}

/* checked: the caller already refused pending entries without --force. */
static int do_delete(sl_redis *r, const char *queue, const char *stream, const char *retry, const char *group,
                     int force, int checked, cJSON *o)
{
    char dlq[SL_KEY_MAX], paused[SL_KEY_MAX], fence[SL_KEY_MAX];
    long long work = pending_count(r, stream, group, 0), rp = work < 0 ? -1 : pending_count(r, retry, group, 1);
    if (work < 0 || rp < 0)
        return 1;
    if (work + rp > 0 && !force && !checked)
        return sl_cli_fail(CMD,
                           "group %s of queue %s has %lld pending entr%s (%lld in its retry stream): stop its "
                           "workers and let them finish, or use --force",
                           group, queue, work + rp, work + rp == 1 ? "y" : "ies", rp);
    const char *d1[] = {"XGROUP", "DESTROY", stream, group}, *d2[] = {"XGROUP", "DESTROY", retry, group};
    if (int_cmd(r, 4, d1) < 0)
        return 1;
    redisReply *rep = sl_redis_cmdargv(r, 4, d2, NULL); /* a missing retry stream is fine */
    if (!rep)
        return sl_cli_fail(CMD, "XGROUP DESTROY failed: %s", sl_redis_errstr(r));
    freeReplyObject(rep);
    const char *xl[] = {"XLEN", retry}, *del[] = {"DEL", retry};
    long long rlen = int_cmd(r, 2, xl);
    if (rlen < 0)
        return 1;
    int drop_retry = force || rlen == 0;
    if (drop_retry && int_cmd(r, 2, del) < 0)
        return 1;
    sl_key_paused(paused, sizeof paused, queue, group);
    sl_key_fence(fence, sizeof fence, queue, group); /* a group made again starts a new fence */
    const char *dp[] = {"DEL", paused, fence};
    if (int_cmd(r, 3, dp) < 0)
        return 1;
    sl_key_dlq(dlq, sizeof dlq, queue, group);
    const char *xd[] = {"XLEN", dlq};
    long long dlen = int_cmd(r, 2, xd);
    if (dlen < 0)
        return 1;
    cJSON_AddStringToObject(o, "deleted", group);
    cJSON_AddNumberToObject(o, "pending_dropped", (double)(work + rp));
    cJSON_AddBoolToObject(o, "retry_stream_deleted", drop_retry);
    cJSON_AddNumberToObject(o, "retry_stream_length", (double)rlen);
    cJSON_AddStringToObject(o, "dlq", dlq);
    cJSON_AddNumberToObject(o, "dlq_length", (double)dlen);
    return 0;
}

static void print_result(const cJSON *o, const char *stream, const char *retry)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItem(o, "created")))
        printf("created group %s on %s from %s (delivers the entries after %s), and on %s\n", v->valuestring, stream,
               cJSON_GetObjectItem(o, "from")->valuestring, cJSON_GetObjectItem(o, "start_id")->valuestring, retry);
    if ((v = cJSON_GetObjectItem(o, "reset"))) {
        const char *id = cJSON_GetObjectItem(o, "start_id")->valuestring;
        printf("group %s on %s reset to %s: ", v->valuestring, stream, cJSON_GetObjectItem(o, "from")->valuestring);
        if (strcmp(id, "$") == 0)
            printf("it delivers only entries added from now on\n");
        else if (strcmp(id, "0") == 0)
            printf("it delivers every entry the stream holds again\n");
        else
            printf("it now delivers the entries after %s\n", id);
    }
    if ((v = cJSON_GetObjectItem(o, "deleted"))) {
        double dropped = cJSON_GetObjectItem(o, "pending_dropped")->valuedouble;
        printf("deleted group %s from %s and %s", v->valuestring, stream, retry);
        printf(dropped > 0 ? " (%.0f pending entries dropped)\n" : "\n", dropped);
        double rlen = cJSON_GetObjectItem(o, "retry_stream_length")->valuedouble;
        if (cJSON_IsTrue(cJSON_GetObjectItem(o, "retry_stream_deleted")))
            printf("deleted %s (%.0f entries)\n", retry, rlen);
        else
            printf("kept %s: it holds %.0f entries (use --force to delete it)\n", retry, rlen);
        printf("dead letters kept in %s (%.0f entries)\n", cJSON_GetObjectItem(o, "dlq")->valuestring,
               cJSON_GetObjectItem(o, "dlq_length")->valuedouble);
    }
}

/* delete of a partitioned queue: pending entries of every partition, so a
 * refusal deletes nothing. 0 to go on, else the exit code. */
static int check_pending(sl_redis *r, const sl_cli_parts *parts, const char *queue, const char *group)
{
    long long all = 0;
    char stream[SL_KEY_MAX], retry[SL_KEY_MAX];
    for (int i = 0; i < parts->n; i++) {
        sl_key_stream(stream, sizeof stream, parts->names[i]);
        sl_key_retry(retry, sizeof retry, parts->names[i], group);
        long long w = pending_count(r, stream, group, 1), rp = w < 0 ? -1 : pending_count(r, retry, group, 1);
        if (w < 0 || rp < 0)
            return 1;
        all += w + rp;
    }
    if (all > 0)
        return sl_cli_fail(CMD,
                           "group %s of queue %s has %lld pending entr%s over its %d partitions: stop its workers "
                           "and let them finish, or use --force",
                           group, queue, all, all == 1 ? "y" : "ies", parts->n);
    return 0;
}

int sl_cmd_group(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"from", required_argument, NULL, 'F'},
        {"force", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"partition", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL, *from_arg = NULL;
    int json = 0, force = 0, ch, rc = 1, only = -1;
    char from[64], stream[SL_KEY_MAX], retry[SL_KEY_MAX];
    sl_cli_parts parts = {0};
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:fh", longopts, NULL)) != -1) {
        if (ch == 'u')
            url = optarg;
        else if (ch == 'F')
            from_arg = optarg;
        else if (ch == 'f')
            force = 1;
        else if (ch == 'j')
            json = 1;
        else if (ch == 'P') {
            if (sl_cli_parse_partition(CMD, optarg, &only) != 0)
                return 2;
        } else if (ch == 'h')
            return fputs(usage_text, stdout), 0;
        else
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
    }
    if (argc - optind != 3)
        return sl_cli_usage(CMD, "expected create|reset|delete QUEUE GROUP");
    const char *sub = argv[optind], *queue = argv[optind + 1], *group = argv[optind + 2];
    int create = !strcmp(sub, "create"), reset = !strcmp(sub, "reset"), del = !strcmp(sub, "delete");
    if (!create && !reset && !del)
        return sl_cli_usage(CMD, "unknown subcommand '%.32s'", sub);
    if (sl_cli_check_name(CMD, "queue", queue) || sl_cli_check_name(CMD, "group", group))
        return 2;
    if (!del && !from_arg)
        return sl_cli_usage(CMD, "%s needs --from 0|$|ID|TIME", sub);
    if (del && from_arg)
        return sl_cli_usage(CMD, "delete takes no --from");
    if (force && !del)
        return sl_cli_usage(CMD, "--force is for delete");
    if (from_arg && parse_from(from_arg, from, sizeof from) != 0)
        return sl_cli_usage(CMD, "invalid --from '%.64s' (expected 0, $, a stream id, RFC 3339 or @EPOCH_SECONDS)",
                            from_arg);
    sl_redis *r = sl_cli_connect(CMD, url);
    if (!r)
        return 1;
    if (sl_cli_parts_get(CMD, r, queue, only, &parts) != 0) {
        sl_redis_free(r);
        return 1;
    }
    cJSON *all = NULL, *o = NULL;
    if (parts.total > 1) { /* one result per partition */
        all = cJSON_CreateObject();
        cJSON_AddStringToObject(all, "queue", queue);
        cJSON_AddNumberToObject(all, "partitions", parts.n);
        cJSON_AddArrayToObject(all, "results");
    }
    rc = del && parts.total > 1 && !force ? check_pending(r, &parts, queue, group) : 0;
    for (int i = 0; rc == 0 && i < parts.n; i++) {
        const char *part = parts.names[i];
        sl_key_stream(stream, sizeof stream, part);
        sl_key_retry(retry, sizeof retry, part, group);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "queue", part);
        cJSON_AddStringToObject(o, "stream", stream);
        if (create)
            rc = do_create(r, part, stream, retry, group, from, from_arg, o);
        else if (reset)
            rc = do_reset(r, part, stream, group, from, from_arg, o);
        else
            rc = do_delete(r, part, stream, retry, group, force, parts.total > 1, o);
        if (rc == 0 && !json)
            print_result(o, stream, retry);
        if (all) {
            cJSON_AddItemToArray(cJSON_GetObjectItem(all, "results"), o);
            o = NULL;
        }
        if (rc != 0 && parts.n > 1 && i > 0)
            fprintf(stderr, "sluice %s: stopped at partition %s; partitions before it were done\n", CMD, part);
    }
    if (rc == 0 && json) {
        rc = sl_cli_print_json(CMD, all ? all : o);
        all = o = NULL;
    }
    if (rc == 0)
        rc = sl_cli_flush(CMD);
    cJSON_Delete(o);
    cJSON_Delete(all);
    sl_cli_parts_free(&parts);
    sl_redis_free(r);
    return rc;
}
