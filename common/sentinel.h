/* Redis Sentinel: where the master of a redis+sentinel:// URL is now. Asks
 * each sentinel of the URL (SENTINEL get-master-addr-by-name) and orders the
 * addresses by how many sentinels name them; the caller connects to the first
 * that answers ROLE as a master (a sentinel can be stale during a failover).
 * Blocking, for common/redis.c; the supervisor's async connection asks in its
 * own loop (runner/maint/conn.c). Sentinels are asked without credentials; one
 * that answers NOAUTH is asked again with the URL's user and password. */
#ifndef SL_COMMON_SENTINEL_H
#define SL_COMMON_SENTINEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/hiredis_compat.h"
#include "common/url.h"

/**
 * The master addresses u's sentinels name for u->master, most named first,
 * into out (at most max, distinct).
 * @return how many (>= 1), or -1 with err saying what each sentinel answered
 *         (unreachable, does not know the master...); err never holds the password
 */
int sl_sentinel_masters(const sl_url *u, int64_t connect_timeout_ms, int64_t command_timeout_ms, sl_url_host *out,
                        int max, char *err, size_t errlen);

/** The addresses sentinels named, with how many named each. */
typedef struct sl_sentinel_tally {
    sl_url_host found[SL_URL_MAX_HOSTS];
    int votes[SL_URL_MAX_HOSTS];
    int n;
} sl_sentinel_tally;

/** One sentinel named a. */
void sl_sentinel_tally_add(sl_sentinel_tally *t, const sl_url_host *a);

/** The addresses of t, most named first (the order they were first named
 *  among equals), into out (at most max); how many. */
int sl_sentinel_tally_order(const sl_sentinel_tally *t, sl_url_host *out, int max);

/** The address in a reply to SENTINEL get-master-addr-by-name ([host, port]);
 *  0, or -1 when it is nil (the sentinel does not know the name) or malformed. */
int sl_sentinel_parse_addr(const redisReply *r, sl_url_host *out);

/** 1 if a ROLE reply says master, else 0. */
int sl_sentinel_is_master(const redisReply *r);

#endif
