/* `sluice pause|resume QUEUE [--group G] [--partition I]`: set or delete
 * sluice:{Q}:paused:G (of every partition Q#i of a partitioned queue, or of
 * one). Workers of G check that key before every read (workers/pause.c):
 * while it exists they fetch nothing, and the job they are running finishes
 * normally. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/partitions.h"

#define USAGE_FMT                                                                             \
    "usage: sluice %s [-u URL] [--group G] [--partition I] [--json] QUEUE\n"                  \
    "\n"                                                                                      \
    "%s\n"                                                                                    \
    "Without --group: every consumer group of QUEUE.\n"                                       \
    "\n"                                                                                      \
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n" \
    "  -g, --group G   only group G (may name a group that does not exist yet)\n"             \
    "      --partition I  of a partitioned queue, only partition I (default: every one)\n"    \
    "      --json      print JSON\n"                                                          \
    "  -h, --help      print this help\n"                                                     \
    "\n"                                                                                      \
    "Exit status: 0 done, 1 failure (no group to act on, Redis error), 2 usage error.\n"

static const char pause_what[] = "Pause a consumer group: its workers stop fetching jobs within one read cycle (a\n"
                                 "check every 100 ms, and at the latest when their current blocking read ends).\n"
                                 "Jobs already fetched finish normally; new jobs wait in the queue. The pause is\n"
                                 "the key sluice:{QUEUE}:paused:G and lasts until `sluice resume`.";
static const char resume_what[] = "Resume a paused consumer group: its workers fetch again within 200 ms.";

static int pause_resume(int argc, char **argv, int pause)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'}, {"group", required_argument, NULL, 'g'},
        {"json", no_argument, NULL, 'j'},      {"partition", required_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *cmd = pause ? "pause" : "resume", *url = NULL, *group = NULL;
    int json = 0, ch, rc = 1, n, only = -1;
    sl_cli_parts parts = {0};
    char names[SL_CLI_MAX_GROUPS][SL_CLI_NAME_MAX];
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:g:h", longopts, NULL)) != -1) {
        if (ch == 'u')
            url = optarg;
        else if (ch == 'g')
            group = optarg;
        else if (ch == 'j')
            json = 1;
        else if (ch == 'P' && sl_cli_parse_partition(cmd, optarg, &only) != 0)
            return 2;
        else if (ch == 'P')
            continue;
        else if (ch == 'h')
            return printf(USAGE_FMT, cmd, pause ? pause_what : resume_what), 0;
        else
            return sl_cli_bad_option(cmd, ch, argv[optind - 1]);
    }
    if (argc - optind != 1)
        return sl_cli_usage(cmd, argc == optind ? "missing QUEUE" : "expected one QUEUE");
    const char *queue = argv[optind];
    if (sl_cli_check_name(cmd, "queue", queue) || (group && sl_cli_check_name(cmd, "group", group)))
        return 2;

    sl_redis *r = sl_cli_connect(cmd, url);
    if (!r)
        return 1;
    if (sl_cli_parts_get(cmd, r, queue, only, &parts) != 0)
        goto done;
    if (group) {
        snprintf(names[0], sizeof names[0], "%s", group);
        n = 1;
    } else if ((n = sl_cli_groups(cmd, r, parts.names[0], names)) <= 0) { /* every partition has the same groups */
        if (n == 0)
            sl_cli_fail(cmd, "queue '%s' has no consumer group (name one with --group)", queue);
        goto done;
    }
    int64_t now = sl_cli_server_ms(cmd, r);
    if (now < 0)
        goto done;
    char since[40];
    sl_cli_fmt_time(since, sizeof since, now);
    cJSON *root = cJSON_CreateObject(), *arr;
    cJSON_AddStringToObject(root, "queue", queue);
    if (parts.total > 1)
        cJSON_AddNumberToObject(root, "partitions", parts.n);
    arr = cJSON_AddArrayToObject(root, pause ? "paused" : "resumed");
    for (int i = 0; i < n; i++) {
        int changed = 0;
        char key[SL_KEY_MAX];
        for (int j = 0; j < parts.n; j++) {
            sl_key_paused(key, sizeof key, parts.names[j], names[i]);
            /* The value says since when, for people reading the key by hand. */
            const char *set[] = {"SET", key, since}, *del[] = {"DEL", key};
            redisReply *rep = sl_cli_cmd(cmd, r, pause ? 3 : 2, pause ? set : del);
            if (!rep) {
                cJSON_Delete(root);
                goto done;
            }
            changed += pause || rep->integer > 0;
            freeReplyObject(rep);
        }
        cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
        if (!json && parts.n > 1)
            printf(pause     ? "paused group %s of queue %s (%d partitions: sluice:{%s#I}:paused:%s)\n"
                   : changed ? "resumed group %s of queue %s (%d partitions: sluice:{%s#I}:paused:%s deleted)\n"
                             : "group %s of queue %s was not paused (%d partitions: no sluice:{%s#I}:paused:%s)\n",
                   names[i], queue, parts.n, queue, names[i]);
        else if (!json)
            printf(pause     ? "paused group %s of queue %s (%s)\n"
                   : changed ? "resumed group %s of queue %s (%s deleted)\n"
                             : "group %s of queue %s was not paused (no %s)\n",
                   names[i], queue, key);
    }
    rc = json ? sl_cli_print_json(cmd, root) : (cJSON_Delete(root), 0);
    if (rc == 0)
        rc = sl_cli_flush(cmd);
done:
    sl_cli_parts_free(&parts);
    sl_redis_free(r);
    return rc;
}

int sl_cmd_pause(int argc, char **argv)
{
    return pause_resume(argc, argv, 1);
}

int sl_cmd_resume(int argc, char **argv)
{
    return pause_resume(argc, argv, 0);
}
