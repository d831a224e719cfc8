/* The runner's entry points for `sluice run` (cli/cmd_run.c); everything else
 * of runner/ is private to it (supervisor.h). */
#ifndef SL_RUNNER_RUN_H
#define SL_RUNNER_RUN_H

#include <stddef.h>

#include "common/config.h"

/* privs.c: privileges and secrets. Switching from root to supervisor.user /
 * supervisor.group happens here, before anything else (before any worker is
 * spawned, so no plugin ever loads as root). */
/**
 * Prepare `sluice run` (and `run -t`, check non-zero) once the config from
 * path is loaded, before the log file, the workers or the HTTP endpoint are
 * opened:
 *  - started as root with supervisor.user: become that user (supplementary
 *    groups from initgroups, group supervisor.group or the user's primary one,
 *    real/effective/saved ids all set) and verify root cannot be regained;
 *    not root, supervisor.user the current user: a warning; another: refused;
 *  - the process stays non-dumpable (it holds the Redis password);
 *  - a warning on stderr when the file's redis.url holds a password and the
 *    file is group/world-readable;
 *  - unless check: remove the stale ack journals of this host's slots beyond
 *    each pool's size (common/journal_name.h), after the switch, so only the
 *    run user's own files are touched.
 * @return 0, or -1 with err naming the key and what to change (exit 78).
 */
int sl_run_prepare(const sl_config *cfg, const char *path, const char *hostname, int check, char *err, size_t errlen);

/* run_check.c */
/** `sluice run -t`: check every pool with a `--check` worker. Exit code. */
int sl_sup_run_check(const sl_config *cfg, const char *hostname);

/* supervisor.c */
/**
 * Run the supervisor on cfg (loaded from path, already prepared by
 * sl_run_prepare) until it stops; takes ownership of cfg.
 * @return the process exit code
 */
int sl_sup_main(sl_config *cfg, const char *path, const char *hostname);

#endif
