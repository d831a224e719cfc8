/* The `sluice` CLI's subcommands. Each takes argv starting at the subcommand
 * name (argv[0] == "run", "enqueue", ...) and returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage error, 78 bad config. Each accepts --help. */
#ifndef SL_COMMANDS_H
#define SL_COMMANDS_H

int sl_cmd_run(int argc, char **argv);     /* runner/supervisor*.c */
int sl_cmd_enqueue(int argc, char **argv); /* runner/cmd_enqueue.c */

#endif
