/* Shared helpers of the operator commands (stats, dlq, pause, group, jobs):
 * connecting with the -u > $SLUICE_REDIS_URL > default precedence, aligned
 * tables for people and cJSON output for scripts, time and duration parsing
 * and formatting, group lookup and the confirmation prompt. Private to runner/. */
#ifndef SL_RUNNER_CLI_H
#define SL_RUNNER_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "common/keys.h"
#include "common/redis.h"

/** Most groups of one queue the commands handle. */
#define SL_CLI_MAX_GROUPS 64
/** Longest group name (sl_valid_name) plus NUL. */
#define SL_CLI_NAME_MAX 65

/** Print "sluice <cmd>: <msg> (see `sluice <cmd> --help`)" to stderr; returns 2. */
int sl_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Print "sluice <cmd>: <msg>" to stderr; returns 1. */
int sl_cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Check a queue or group name ([A-Za-z0-9_.-]{1,64}); 0, or 2 after a usage error. */
int sl_cli_check_name(const char *cmd, const char *what, const char *name);
/** getopt error for the option at argv[optind - 1] (':' missing value, else unknown); returns 2. */
int sl_cli_bad_option(const char *cmd, int ch, const char *arg);
/** Parse the options of a command that takes only -u/--url URL, --json and
 *  -h/--help (prints usage to stdout). Returns -1 to go on, with optind at the
 *  first operand, or the exit code: 0 after --help, 2 after a bad option. */
int sl_cli_options(const char *cmd, const char *usage, int argc, char **argv, const char **url, int *json);

/**
 * Before any command parses its options: for every -u URL / -uURL / --url URL /
 * --url=URL in argv (up to "--"), give the command a heap copy to parse and
 * hide a password in the original bytes (what /proc/PID/cmdline and ps show:
 * the password is replaced by "***", or the value blanked). `-u @FILE` is
 * replaced by the URL on the first line of FILE (a warning when the file is
 * group/world-readable). argv[1] is the command name.
 * @return 0, or the exit code (2: unreadable @FILE, 1: out of memory) after printing why.
 */
int sl_cli_prepare_argv(int argc, char **argv);

/**
 * For commands that read the config file (`sluice run`): check a -u URL and
 * make it $SLUICE_REDIS_URL, which overrides redis.url at every (re)load of the
 * config. url (argv's heap copy, see sl_cli_prepare_argv) is wiped afterwards.
 * @return 0, or the exit code (2 for a bad URL) after printing why.
 */
int sl_cli_set_url_env(const char *cmd, char *url);

/**
 * Connect to url (NULL or "": $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0),
 * one attempt, no retries: an operator wants an answer now. Library notices are
 * silenced (warnings still go to stderr).
 * @return the connection, or NULL after printing why (password redacted).
 */
sl_redis *sl_cli_connect(const char *cmd, const char *url);

/** Make sure the sluice function library is loaded with every function this
 *  build ships (also when Redis holds a same-version library without a function
 *  added later). 0, or 1 after printing why. */
int sl_cli_functions(const char *cmd, sl_redis *r);

/** Run a command; NULL or an error reply is printed ("<what> failed: ...") and
 *  freed, and NULL returned. Otherwise the caller frees the reply. */
redisReply *sl_cli_cmd(const char *cmd, sl_redis *r, int argc, const char **argv);
/** sl_cli_cmd on master node (sl_redis_nodes) without routing by key (SCAN on each master); -1: by key. */
redisReply *sl_cli_cmd_at(const char *cmd, sl_redis *r, int node, int argc, const char **argv);

/** Redis server time in ms (TIME), or -1 after printing why. */
int64_t sl_cli_server_ms(const char *cmd, sl_redis *r);

/* ---- reply helpers ---------------------------------------------------------- */

/** Value of field name in a flat [k, v, k, v...] array reply, or NULL. */
const redisReply *sl_cli_kv(const redisReply *arr, const char *name);
/** Same, as a string ("" for missing or non-string). */
const char *sl_cli_kv_str(const redisReply *arr, const char *name);
/** Same, as an integer (strings are parsed); def when missing or nil. */
long long sl_cli_kv_int(const redisReply *arr, const char *name, long long def);

/**
 * Groups of a queue's work stream (XINFO GROUPS sluice:{Q}), names copied into
 * names[SL_CLI_MAX_GROUPS]. A missing stream has no groups.
 * @return the count, or -1 after printing why.
 */
int sl_cli_groups(const char *cmd, sl_redis *r, const char *queue, char names[][SL_CLI_NAME_MAX]);

/**
 * The group a command acts on: given (checked), or the queue's only group.
 * Copies it into out. @return 0, or the exit code after printing why (2 when
 * --group is needed, 1 when the queue has no group or Redis failed).
 */
int sl_cli_pick_group(const char *cmd, sl_redis *r, const char *queue, const char *given, char *out);

/* ---- time ------------------------------------------------------------------- */

/** Parse "@EPOCH_SECONDS" or an RFC 3339 date-time (Z or +HH:MM). 0 and ms, or -1. */
int sl_cli_parse_time(const char *s, int64_t *out_ms);
/**
 * Parse a point in time for --since/--until: what sl_cli_parse_time takes, or a
 * duration ago ("90s", "2h": now_ms minus it). 0 and ms, or -1.
 */
int sl_cli_parse_when(const char *s, int64_t now_ms, int64_t *out_ms);
/** "2026-11-26T09:49:41.123Z" from ms since the epoch. */
void sl_cli_fmt_time(char *buf, size_t n, int64_t ms);
/** A short age: "850ms", "12s", "3m04s", "2h05m", "3d04h". */
void sl_cli_fmt_age(char *buf, size_t n, int64_t ms);

/* ---- output ----------------------------------------------------------------- */

/** A table printed with aligned columns; cells are copied. */
typedef struct sl_table sl_table;

/** Columns from headers; align: one char per column, 'l' or 'r'. NULL on OOM. */
sl_table *sl_table_new(const char *const *headers, size_t ncols, const char *align);
/** Add a row of ncols cells (NULL prints "-"). 0, or -1 on OOM. */
int sl_table_row(sl_table *t, const char *const *cells);
/** Print with two spaces between columns, rows of the widest cell. */
void sl_table_print(const sl_table *t, FILE *out);
size_t sl_table_rows(const sl_table *t);
void sl_table_free(sl_table *t);

/** Print JSON (formatted) and a newline on stdout, then free it. 0, or 1 on OOM. */
int sl_cli_print_json(const char *cmd, cJSON *root);
/** Add a number, or null when v < 0 ("unknown"). */
void sl_cli_json_num_or_null(cJSON *obj, const char *name, double v, int unknown);
/** Sort arr's items in place by cmp, which gets two `cJSON *const *`. 0, or
 *  -1 (out of memory: arr unchanged). */
int sl_cli_json_sort(cJSON *arr, int (*cmp)(const void *, const void *));

/** Flush stdout; 0, or 1 after printing a write error. */
int sl_cli_flush(const char *cmd);

/**
 * Ask "<question> [y/N] " on stderr and read the answer from stdin.
 * @return 1 for y/yes, 0 for anything else, -1 when stdin is not a terminal
 *         (the caller refuses: scripts must pass --yes).
 */
int sl_cli_confirm(const char *question);

#endif
