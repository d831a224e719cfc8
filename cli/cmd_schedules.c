/* `sluice schedules list|next|trigger|pause|resume`: the schedules that the
 * supervisors run (docs/scheduling.md), read from what they publish in
 * sluice:{:cron} (definitions) and each schedule's own keys
 * sluice:{P}:cron:NAME[:ticks]. No config file is needed: any host with the
 * Redis URL can look and act. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/cron.h"
#include "common/cron_job.h"

#define CMD "schedules"
/* A definition not published for this long has no supervisor running it. */
#define STALE_MS (3 * 60 * 1000)
#define NEXT_MAX 1000

#define USAGE                                                                                 \
    "usage: sluice schedules list [-u URL] [--json]\n"                                        \
    "       sluice schedules next [-u URL] [--json] [-n K] NAME\n"                            \
    "       sluice schedules trigger [-u URL] [--json] NAME\n"                                \
    "       sluice schedules pause [-u URL] [--json] NAME\n"                                  \
    "       sluice schedules resume [-u URL] [--json] NAME\n"                                 \
    "\n"                                                                                      \
    "The schedules (cron and periodic jobs) that supervisors run, as they publish\n"          \
    "them in Redis (config key schedules; see docs/scheduling.md).\n"                         \
    "\n"                                                                                      \
    "list: every schedule: queue, expression, zone, missed policy, state (active,\n"          \
    "  paused, or stale: no supervisor published it for 3 minutes), the last tick\n"          \
    "  handled and the next fire time, in the schedule's zone and in UTC.\n"                  \
    "next: the next K fire times of NAME (default 5, at most 1000), after Redis's\n"          \
    "  clock, in its zone and in UTC.\n"                                                      \
    "trigger: enqueue one job of NAME now (id cron:NAME:trigger:UUID), outside its\n"         \
    "  ticks, paused or not.\n"                                                               \
    "pause: ticks of NAME enqueue nothing until resume (they are recorded as\n"               \
    "  handled, so resuming catches none of them up). resume: undo pause.\n"                  \
    "\n"                                                                                      \
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n" \
    "  -n, --count K   next: how many fire times (default 5)\n"                               \
    "      --json      print JSON\n"                                                          \
    "  -h, --help      print this help\n"                                                     \
    "\n"                                                                                      \
    "Exit status: 0 done, 1 failure (unknown schedule, Redis error), 2 usage error.\n"

/* A schedule as published: name and its definition. */
typedef struct sched_def {
    char name[SL_CLI_NAME_MAX];
    cJSON *def; /* {"queue","partition","cron","tz","type","payload","missed","jitter_ms"} */
    int64_t seen_ms; /* -1: unknown */
} sched_def;

static const char *def_str(const cJSON *def, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(def, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* "2026-12-04 03:00:00+01:00": ms in zone (its offset then). */
static void fmt_zoned(char *buf, size_t n, const char *zone, int64_t ms)
{
    long off = sl_tz_offset(zone, ms / 1000);
    time_t t = (time_t)(ms / 1000 + off);
    struct tm tm;
    char date[24];
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    long a = (off < 0 ? -off : off) % 86400; /* zones are within a day of UTC */
    snprintf(buf, n, "%s%c%02ld:%02ld", date, off < 0 ? '-' : '+', a / 3600, a % 3600 / 60);
}

static void fmt_utc(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Load the definition of name (one HGET), or every one (HGETALL) into *out
 * sorted by name. Returns the count, or -1 after printing why. */
static int load_defs(sl_redis *r, const char *name, sched_def **out)
{
    const char *all[] = {"HGETALL", SL_KEY_CRON_INDEX}, *one[] = {"HGET", SL_KEY_CRON_INDEX, name};
    redisReply *rep = sl_cli_cmd(CMD, r, name ? 3 : 2, name ? one : all);
    int n = 0;
    *out = NULL;
    if (!rep)
        return -1;
    if (name && rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        return sl_cli_fail(CMD, "no schedule '%s' (no supervisor has published it; see `sluice schedules list`)", name),
               -1;
    }
    size_t cap = name ? 1 : rep->elements / 2;
    sched_def *d = calloc(cap ? cap : 1, sizeof *d);
    if (!d) {
        freeReplyObject(rep);
        return sl_cli_fail(CMD, "out of memory"), -1;
    }
    for (size_t i = 0; i < cap; i++) {
        const redisReply *k = name ? NULL : rep->element[2 * i], *v = name ? rep : rep->element[2 * i + 1];
        const char *nm = name ? name : k->str;
        cJSON *def = v->type == REDIS_REPLY_STRING ? cJSON_Parse(v->str) : NULL;
        if (!def || strlen(nm) >= sizeof d[n].name || def_str(def, "partition")[0] == '\0') {
            cJSON_Delete(def);
            continue; /* not ours, or from a newer version: skipped */
        }
        snprintf(d[n].name, sizeof d[n].name, "%s", nm);
        d[n].def = def;
        d[n].seen_ms = -1;
        n++;
    }
    freeReplyObject(rep);
    for (int i = 0; i < n; i++) { /* seen times */
        const char *hget[] = {"HGET", SL_KEY_CRON_SEEN, d[i].name};
        redisReply *s = sl_cli_cmd(CMD, r, 3, hget);
        if (s && s->type == REDIS_REPLY_STRING)
            d[i].seen_ms = strtoll(s->str, NULL, 10);
        if (s)
            freeReplyObject(s);
    }
    for (int i = 1; i < n; i++) /* insertion sort by name: n is small */
        for (int j = i; j > 0 && strcmp(d[j - 1].name, d[j].name) > 0; j--) {
            sched_def t = d[j];
            d[j] = d[j - 1];
            d[j - 1] = t;
        }
    *out = d;
    return n;
}

static void free_defs(sched_def *d, int n)
{
    for (int i = 0; d && i < n; i++)
        cJSON_Delete(d[i].def);
    free(d);
}

/* The definition of name into *out (free_defs(*out, 1)). 0, or -1 after
 * printing why (nothing to free). */
static int load_one(sl_redis *r, const char *name, sched_def **out)
{
    int n = load_defs(r, name, out);
    if (n == 1)
        return 0;
    if (n == 0)
        sl_cli_fail(CMD, "schedule '%s': its published definition is not one this version reads", name);
    free_defs(*out, n > 0 ? n : 0);
    *out = NULL;
    return -1;
}

/* sluice_cron_last of d: last tick handled (-1 none), server now, paused. 0 or -1. */
static int cron_last(sl_redis *r, const sched_def *d, int64_t *last, int64_t *now, int *paused)
{
    char state[SL_KEY_MAX], ticks[SL_KEY_MAX];
    const char *part = def_str(d->def, "partition");
    if (sl_key_cron(state, sizeof state, part, d->name) != 0 || sl_key_cron_ticks(ticks, sizeof ticks, part, d->name))
        return sl_cli_fail(CMD, "schedule '%s': bad partition name", d->name), -1;
    const char *argv[] = {"FCALL", "sluice_cron_last", "2", state, ticks};
    redisReply *rep = sl_cli_cmd(CMD, r, 5, argv);
    if (!rep)
        return -1;
    int ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 3;
    if (ok) {
        *last = rep->element[0]->integer;
        *now = rep->element[1]->integer;
        *paused = rep->element[2]->integer != 0;
    }
    freeReplyObject(rep);
    return ok ? 0 : (sl_cli_fail(CMD, "unexpected reply from sluice_cron_last"), -1);
}

static int parse_cron(const sched_def *d, sl_cron *c)
{
    char err[200];
    if (sl_cron_parse(def_str(d->def, "cron"), def_str(d->def, "tz"), c, err, sizeof err) != 0)
        return sl_cli_fail(CMD, "schedule '%s': %s", d->name, err), -1;
    return 0;
}

static cJSON *def_json(const sched_def *d)
{
    cJSON *o = cJSON_Duplicate(d->def, 1);
    if (o)
        cJSON_AddStringToObject(o, "name", d->name);
    return o;
}

static int do_list(sl_redis *r, int json)
{
    sched_def *d;
    int n = load_defs(r, NULL, &d), rc = 1;
    if (n < 0)
        return 1;
    const char *hdr[] = {"NAME", "QUEUE", "CRON", "TZ", "MISSED", "STATE", "LAST TICK (UTC)", "NEXT", "NEXT (UTC)"};
    sl_table *t = sl_table_new(hdr, 9, "lllllllll");
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        int64_t last, now, next = -1;
        int paused;
        sl_cron c;
        char lastb[32] = "-", nextz[48] = "-", nextu[32] = "-";
        if (cron_last(r, &d[i], &last, &now, &paused) != 0 || parse_cron(&d[i], &c) != 0)
            goto done;
        if (sl_cron_next(&c, now, &next) == 0) {
            fmt_zoned(nextz, sizeof nextz, c.zone, next);
            fmt_utc(nextu, sizeof nextu, next);
        }
        if (last >= 0)
            fmt_utc(lastb, sizeof lastb, last);
        int stale = d[i].seen_ms < 0 || now - d[i].seen_ms > STALE_MS;
        const char *state = paused ? "paused" : stale ? "stale" : "active";
        const char *row[] = {d[i].name,
                             def_str(d[i].def, "queue"),
                             def_str(d[i].def, "cron"),
                             def_str(d[i].def, "tz"),
                             def_str(d[i].def, "missed"),
                             state,
                             lastb,
                             nextz,
                             nextu};
        sl_table_row(t, row);
        cJSON *o = def_json(&d[i]);
        cJSON_AddStringToObject(o, "state", state);
        sl_cli_json_num_or_null(o, "last_tick_ms", (double)last, last < 0);
        sl_cli_json_num_or_null(o, "next_ms", (double)next, next < 0);
        sl_cli_json_num_or_null(o, "seen_ms", (double)d[i].seen_ms, d[i].seen_ms < 0);
        cJSON_AddItemToArray(arr, o);
    }
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "schedules", arr);
        arr = NULL;
        rc = sl_cli_print_json(CMD, root);
    } else {
        if (n == 0)
            printf("no schedules (none published by a supervisor: see the config key schedules)\n");
        else
            sl_table_print(t, stdout);
        rc = sl_cli_flush(CMD);
    }
done:
    cJSON_Delete(arr);
    sl_table_free(t);
    free_defs(d, n);
    return rc;
}

static int do_next(sl_redis *r, const char *name, long count, int json)
{
    sched_def *d;
    int64_t last, now, at;
    int paused, rc = 1;
    sl_cron c;
    if (load_one(r, name, &d) != 0)
        return 1;
    if (cron_last(r, d, &last, &now, &paused) != 0 || parse_cron(d, &c) != 0)
        goto done;
    cJSON *root = def_json(d), *arr = cJSON_AddArrayToObject(root, "next");
    if (!json)
        printf("%s: %s in %s%s\n", name, def_str(d->def, "cron"), def_str(d->def, "tz"), paused ? " (paused)" : "");
    at = now;
    for (long i = 0; i < count && sl_cron_next(&c, at, &at) == 0; i++) {
        char z[48], u[32];
        fmt_zoned(z, sizeof z, c.zone, at);
        fmt_utc(u, sizeof u, at);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "ms", (double)at);
        cJSON_AddStringToObject(o, "local", z);
        cJSON_AddStringToObject(o, "utc", u);
        cJSON_AddItemToArray(arr, o);
        if (!json)
            printf("  %s  %s\n", z, u);
    }
    rc = json ? sl_cli_print_json(CMD, root) : (cJSON_Delete(root), sl_cli_flush(CMD));
done:
    free_defs(d, 1);
    return rc;
}

static int do_trigger(sl_redis *r, const char *name, int json)
{
    sched_def *d;
    int rc = 1;
    if (load_one(r, name, &d) != 0)
        return 1;
    sl_cron_call *c = malloc(sizeof *c);
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(d->def, "payload");
    char *ptext = payload ? cJSON_PrintUnformatted(payload) : NULL;
    int64_t now = sl_cli_server_ms(CMD, r);
    if (!c || now < 0 ||
        sl_cron_call_build(c, def_str(d->def, "partition"), name, "trigger", 0, 0, def_str(d->def, "type"),
                           ptext ? ptext : "{}", now) != 0) {
        if (c && now >= 0)
            sl_cli_fail(CMD, "schedule '%s': cannot build its job (bad type or names)", name);
        goto done;
    }
    redisReply *rep = sl_redis_cmdargv(r, c->argc, c->argv, c->lens);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "enqueued") != 0) {
        sl_cli_fail(CMD, "FCALL sluice_cron_fire failed: %s",
                    !rep                             ? sl_redis_errstr(r)
                    : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                     : "unexpected reply");
        if (rep)
            freeReplyObject(rep);
        goto done;
    }
    freeReplyObject(rep);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "schedule", name);
        cJSON_AddStringToObject(root, "queue", def_str(d->def, "queue"));
        cJSON_AddStringToObject(root, "partition", def_str(d->def, "partition"));
        cJSON_AddStringToObject(root, "job_id", c->id);
        rc = sl_cli_print_json(CMD, root);
    } else {
        printf("enqueued job %s of schedule %s into queue %s\n", c->id, name, def_str(d->def, "partition"));
        rc = sl_cli_flush(CMD);
    }
done:
    free(ptext);
    free(c);
    free_defs(d, 1);
    return rc;
}

static int do_pause(sl_redis *r, const char *name, int pause, int json)
{
    sched_def *d;
    char state[SL_KEY_MAX], since[40];
    int rc = 1;
    if (load_one(r, name, &d) != 0)
        return 1;
    int64_t now = sl_cli_server_ms(CMD, r);
    if (now < 0 || sl_key_cron(state, sizeof state, def_str(d->def, "partition"), name) != 0)
        goto done;
    sl_cli_fmt_time(since, sizeof since, now);
    const char *set[] = {"HSET", state, "paused", since}, *del[] = {"HDEL", state, "paused"};
    redisReply *rep = sl_cli_cmd(CMD, r, pause ? 4 : 3, pause ? set : del);
    if (!rep)
        goto done;
    int changed = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "schedule", name);
        cJSON_AddBoolToObject(root, "paused", pause);
        cJSON_AddBoolToObject(root, "changed", changed || pause);
        rc = sl_cli_print_json(CMD, root);
    } else {
        printf(pause     ? "paused schedule %s (its ticks enqueue nothing until `sluice schedules resume %s`)\n"
               : changed ? "resumed schedule %s\n"
                         : "schedule %s was not paused\n",
               name, name);
        rc = sl_cli_flush(CMD);
    }
done:
    free_defs(d, 1);
    return rc;
}

int sl_cmd_schedules(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"count", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = NULL;
    int json = 0, ch, rc;
    long count = 5;
    char *end;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:n:h", longopts, NULL)) != -1) {
        if (ch == 'u')
            url = optarg;
        else if (ch == 'j')
            json = 1;
        else if (ch == 'n') {
            count = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || count < 1 || count > NEXT_MAX)
                return sl_cli_usage(CMD, "-n: expected a count 1..%d, got '%s'", NEXT_MAX, optarg);
        } else if (ch == 'h')
            return printf(USAGE), 0;
        else
            return sl_cli_bad_option(CMD, ch, argv[optind - 1]);
    }
    if (argc - optind < 1)
        return sl_cli_usage(CMD, "expected list, next, trigger, pause or resume");
    const char *sub = argv[optind], *name = argc - optind > 1 ? argv[optind + 1] : NULL;
    int is_list = strcmp(sub, "list") == 0;
    if (!is_list && strcmp(sub, "next") != 0 && strcmp(sub, "trigger") != 0 && strcmp(sub, "pause") != 0 &&
        strcmp(sub, "resume") != 0)
        return sl_cli_usage(CMD, "unknown subcommand '%s' (expected list, next, trigger, pause or resume)", sub);
    if (is_list ? argc - optind != 1 : argc - optind != 2)
        return sl_cli_usage(CMD, is_list ? "list takes no NAME" : "%s: expected one schedule NAME", sub);
    if (name && sl_cli_check_name(CMD, "schedule", name))
        return 2;
    sl_redis *r = sl_cli_connect(CMD, url);
    if (!r)
        return 1;
    if (sl_cli_functions(CMD, r) != 0)
        rc = 1;
    else if (is_list)
        rc = do_list(r, json);
    else if (strcmp(sub, "next") == 0)
        rc = do_next(r, name, count, json);
    else if (strcmp(sub, "trigger") == 0)
        rc = do_trigger(r, name, json);
    else
        rc = do_pause(r, name, strcmp(sub, "pause") == 0, json);
    sl_redis_free(r);
    return rc;
}
