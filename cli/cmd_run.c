/* `sluice run [-c FILE] [-u URL] [-t]`: load the config, prepare privileges
 * and secrets, then check it (-t, runner/run_check.c) or run the supervisor
 * (runner/supervisor.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/config.h"
#include "common/util.h"
#include "common/worker_slot.h"
#include "runner/run.h"

static void sl_run_usage(FILE *out)
{
    fprintf(out, "usage: sluice run [-c FILE] [-u URL] [-t]\n"
                 "  -c, --config FILE  config file (default: $SLUICE_CONFIG, else config/sluice.json)\n"
                 "  -u, --url URL      Redis URL, over redis.url and $SLUICE_REDIS_URL (-u @FILE: read from FILE)\n"
                 "  -t, --test         check the config and every pool's plugins, then exit\n"
                 "  -h, --help         this help\n"
                 "Signals: TERM/INT stop gracefully (a second INT kills), HUP reloads,\n"
                 "TTIN/TTOU add/remove one worker per pool, USR1 reopens the log file.\n");
}

int sl_cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"url", required_argument, NULL, 'u'},
        {"test", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int check = 0;
    int c;
    char err[1024];
    char hostname[256];

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "c:u:th", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'u':
            if (sl_cli_set_url_env("run", optarg) != 0)
                return 2;
            break;
        case 't':
            check = 1;
            break;
        case 'h':
            sl_run_usage(stdout);
            return 0;
        default:
            sl_run_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice run: unexpected argument '%s'\n", argv[optind]);
        sl_run_usage(stderr);
        return 2;
    }
    if (!path)
        path = getenv("SLUICE_CONFIG");
    if (!path || !*path)
        path = "config/sluice.json";

    sl_config *cfg = sl_cfg_load_file(path, SL_CFG_ENV, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "sluice: %s\n", err);
        return SL_EXIT_CONFIG;
    }
    /* The identity in consumer names (HOST-POOL-SLOT): SLUICE_IDENTITY, else
     * the host name. Two supervisors of one pool on one host need distinct
     * ones: a shared consumer name would make each replay the other's
     * pending entries as its own. */
    const char *identity = getenv("SLUICE_IDENTITY");
    if (identity && *identity) {
        if (!sl_valid_name(identity)) {
            fprintf(stderr, "sluice: SLUICE_IDENTITY: expected 1-64 characters from [A-Za-z0-9_.-]\n");
            sl_cfg_free(cfg);
            return SL_EXIT_CONFIG;
        }
        (void)snprintf(hostname, sizeof hostname, "%s", identity);
    } else if (gethostname(hostname, sizeof hostname) != 0 || !hostname[0]) {
        (void)snprintf(hostname, sizeof hostname, "localhost");
    }
    hostname[sizeof hostname - 1] = '\0';
    if (sl_run_prepare(cfg, path, hostname, check, err, sizeof err) != 0) { /* before any worker or file (privs.c) */
        fprintf(stderr, "sluice: %s\n", err);
        sl_cfg_free(cfg);
        return SL_EXIT_CONFIG;
    }

    if (check) {
        int rc = sl_sup_run_check(cfg, hostname);
        sl_cfg_free(cfg);
        return rc;
    }
    return sl_sup_main(cfg, path, hostname);
}
