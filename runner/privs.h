/* The start of `sluice run` for privileges and secrets: switching from root to
 * supervisor.user / supervisor.group before anything else happens (before any
 * worker is spawned, so no plugin ever loads as root), the warning about a
 * readable config file that holds the password, and removing the ack journals
 * of slots beyond each pool's size. Private to runner/. */
#ifndef SL_RUNNER_PRIVS_H
#define SL_RUNNER_PRIVS_H

#include <stddef.h>

#include "common/config.h"

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
int sl_run_prepare(const sl_config *cfg, const char *path, const char *hostname, int check, char *err,
                   size_t errlen);

#endif
