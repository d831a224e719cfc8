/* `sluice functions [status|load]`: the server-side function library on every
 * master. Workers, the supervisor and the CLI load it themselves when it is
 * missing or older; `load` does it by hand (FUNCTION LOAD REPLACE on every
 * master), e.g. after FUNCTION FLUSH or before a deploy, and `status` shows
 * the version each master has. */
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/functions.h"

#define CMD "functions"

static const char usage[] =
    "usage: sluice functions [-u URL] [--json] [status|load]\n"
    "\n"
    "The sluice function library (version " SL_FUNCTIONS_VERSION " in this build) on every master:\n"
    "one Redis server, or each master of a Redis Cluster (redis+cluster:// URL).\n"
    "\n"
    "  status   the version each master has loaded (the default)\n"
    "  load     FUNCTION LOAD REPLACE this build's library on every master\n"
    "\n"
    "  -u, --url URL   Redis URL; default $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0\n"
    "      --json      print JSON\n"
    "  -h, --help      print this help\n"
    "\n"
    "Exit status: 0 done (status: every master has this version or a newer one),\n"
    "1 failure or a master without a current library, 2 usage error.\n";

int sl_cmd_functions(int argc, char **argv)
{
    const char *url = NULL;
    int json = 0, rc = sl_cli_options(CMD, usage, argc, argv, &url, &json);
    if (rc >= 0)
        return rc;
    if (argc - optind > 1)
        return sl_cli_usage(CMD, "expected at most one of status, load");
    const char *what = argc > optind ? argv[optind] : "status";
    int load = strcmp(what, "load") == 0;
    if (!load && strcmp(what, "status") != 0)
        return sl_cli_usage(CMD, "unknown subcommand '%s' (expected status or load)", what);

    sl_redis *r = sl_cli_connect(CMD, url);
    if (!r)
        return 1;
    char err[512];
    int loaded = 0, stale = 0;
    rc = 1;
    if (load && sl_functions_load_all(r, 1, &loaded, err, sizeof err) != 0) {
        sl_cli_fail(CMD, "%s", err);
        goto done;
    }
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "masters");
    cJSON_AddStringToObject(root, "version", SL_FUNCTIONS_VERSION);
    for (int n = 0; n < sl_redis_nodes(r); n++) {
        const char *vargv[3] = {"FCALL", "sluice_version", "0"};
        char node[300];
        redisReply *rep = sl_redis_cmdargv_at(r, n, 3, vargv, NULL);
        if (!rep) {
            cJSON_Delete(root);
            sl_cli_fail(CMD, "%s", sl_redis_errstr(r));
            goto done;
        }
        int ok = sl_functions_version_ok(rep);
        stale += !ok;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "node", sl_redis_node_name(r, n, node, sizeof node));
        if (rep->type == REDIS_REPLY_STRING)
            cJSON_AddStringToObject(m, "loaded", rep->str);
        else
            cJSON_AddNullToObject(m, "loaded");
        cJSON_AddBoolToObject(m, "current", ok);
        cJSON_AddItemToArray(arr, m);
        if (!json)
            printf("%s: %s%s\n", node, rep->type == REDIS_REPLY_STRING ? "version " : "",
                   rep->type == REDIS_REPLY_STRING ? rep->str
                   : sl_functions_missing(rep)     ? "not loaded"
                                                   : rep->str);
        freeReplyObject(rep);
    }
    if (json) {
        if (load)
            cJSON_AddNumberToObject(root, "loaded", loaded);
        rc = sl_cli_print_json(CMD, root) != 0 || stale ? 1 : 0; /* frees root */
        root = NULL;
    } else {
        if (load)
            printf("loaded the sluice function library (version %s) on %d master(s)\n", SL_FUNCTIONS_VERSION, loaded);
        rc = stale ? 1 : 0;
        if (stale)
            sl_cli_fail(CMD, "%d master(s) lack version %s or newer: run `sluice functions load`", stale,
                        SL_FUNCTIONS_VERSION);
    }
    cJSON_Delete(root);
    if (sl_cli_flush(CMD) != 0)
        rc = 1;
done:
    sl_redis_free(r);
    return rc;
}
