/* The `sluice` command line: a table of subcommands (cli/commands.h) and a
 * dispatcher. A new subcommand is one line in sl_commands[]. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "sluice/version.h"

typedef int (*sl_cmd_fn)(int argc, char **argv);

static const struct sl_command {
    const char *name;
    sl_cmd_fn fn;
    const char *summary;
} sl_commands[] = {
    {"run", sl_cmd_run, "run the supervisor and its worker pools (-t: check the config)"},
    {"enqueue", sl_cmd_enqueue, "add a job to a queue"},
    {"stats", sl_cmd_stats, "queues, groups, consumers: backlog, pending, lag, DLQ, rates"},
    {"dlq", sl_cmd_dlq, "dead letters: list, show, replay, purge"},
    {"pause", sl_cmd_pause, "stop a group's workers from fetching jobs"},
    {"resume", sl_cmd_resume, "let a paused group's workers fetch again"},
    {"group", sl_cmd_group, "consumer groups: create, reset, delete"},
    {"schedules", sl_cmd_schedules, "cron and periodic jobs: list, next, trigger, pause, resume"},
    {"jobs", sl_cmd_jobs, "where a job is: pending, scheduled, completed, dead-lettered"},
    {"schema", sl_cmd_schema, "event schemas: list, show, register, check, validate"},
    {"trace", sl_cmd_trace, "show the jobs of one request (correlation id) and their outcome per group"},
    {"functions", sl_cmd_functions, "the server-side function library on every master: status, load"},
};
#define SL_NCOMMANDS (sizeof sl_commands / sizeof sl_commands[0])

static void sl_usage(FILE *out)
{
    fprintf(out, "usage: sluice <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < SL_NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", sl_commands[i].name, sl_commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "this list");
    fprintf(out, "\n`sluice <command> --help` describes a command. `sluice --version` prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        sl_usage(stderr);
        return 2;
    }
    /* The process may hold the Redis password (-u, $SLUICE_REDIS_URL, the
     * config): no core dumps, and no ptrace or /proc/PID/mem by other
     * processes of the same user. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    int prc = sl_cli_prepare_argv(argc, argv); /* before anyone parses -u */
    if (prc != 0)
        return prc;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("sluice %s\n", SLUICE_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        sl_usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < SL_NCOMMANDS; i++)
        if (strcmp(cmd, sl_commands[i].name) == 0)
            return sl_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sluice: unknown command '%s' (see `sluice --help`)\n", cmd);
    return 2;
}
