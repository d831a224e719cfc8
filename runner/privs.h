/* Process privileges of `sluice run`: switching from root to supervisor.user /
 * supervisor.group before anything else happens (before any worker is spawned,
 * so no plugin ever loads as root). Private to runner/. */
#ifndef SL_RUNNER_PRIVS_H
#define SL_RUNNER_PRIVS_H

#include <stddef.h>

#include "common/config.h"

/**
 * Set up the privileges of `sluice run` (and `run -t`) once the config is
 * loaded, before the log file, the workers or the HTTP endpoint are opened:
 *  - started as root with supervisor.user: become that user (supplementary
 *    groups from initgroups, group supervisor.group or the user's primary one,
 *    real/effective/saved ids all set) and verify root cannot be regained;
 *  - not root, supervisor.user names the current user: a warning, nothing to do;
 *  - not root, another user: refused.
 * @return 0, or -1 with err naming the key and what to change (exit 78).
 */
int sl_privs_setup_run(const sl_config *cfg, char *err, size_t errlen);

#endif
