/* The limits part of `sluice stats` (docs/limits.md): each limit the
 * supervisors published in sluice:{:limits}, with its buckets' live state. */
#ifndef SL_CLI_STATS_LIMITS_H
#define SL_CLI_STATS_LIMITS_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "common/redis.h"

/** The limits as a JSON array (every master's buckets scanned), at Redis time
 *  now. NULL after printing why (Redis error). */
cJSON *sl_stats_limits(const char *cmd, sl_redis *r, int64_t now);

/** Print them as a table (nothing when there are none). */
void sl_stats_print_limits(const cJSON *limits);

#endif
