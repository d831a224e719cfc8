/* The `sluice` CLI's subcommands. Each takes argv starting at the subcommand
 * name (argv[0] == "run", "enqueue", ...) and returns the process exit code:
 * 0 ok, 1 runtime failure, 2 usage error, 78 bad config. Each accepts --help. */
#ifndef SL_COMMANDS_H
#define SL_COMMANDS_H

int sl_cmd_run(int argc, char **argv); /* cli/cmd_run.c */
int sl_cmd_enqueue(int argc, char **argv); /* cli/cmd_enqueue.c */
int sl_cmd_stats(int argc, char **argv); /* cli/cmd_stats.c */
int sl_cmd_dlq(int argc, char **argv); /* cli/cmd_dlq.c */
int sl_cmd_pause(int argc, char **argv); /* cli/cmd_pause.c */
int sl_cmd_resume(int argc, char **argv); /* cli/cmd_pause.c */
int sl_cmd_group(int argc, char **argv); /* cli/cmd_group.c */
int sl_cmd_jobs(int argc, char **argv); /* cli/cmd_jobs.c */
int sl_cmd_trace(int argc, char **argv); /* cli/cmd_trace.c */
int sl_cmd_schema(int argc, char **argv); /* cli/cmd_schema.c */
int sl_cmd_functions(int argc, char **argv); /* cli/cmd_functions.c */
int sl_cmd_schedules(int argc, char **argv); /* cli/cmd_schedules.c */

#endif
