/* Start of a connection, before the worker reads: the (re)connect itself, the
 * function library, the consumer group on both streams, the eviction-policy
 * warning. Private to workers/ (consume.c). */
#ifndef SL_WORKER_SESSION_H
#define SL_WORKER_SESSION_H

#include "common/redis.h"

struct sl_worker;

typedef enum sl_session_rc {
    SL_SESSION_OK = 0,
    SL_SESSION_RETRY, /* lost connection or a transient error: back off, try again */
    SL_SESSION_FATAL /* Redis cannot run the library (no functions): exit 78 */
} sl_session_rc;

/** While a Redis outage lasts, "redis still unreachable" is logged this often (ms). */
#define SL_RECONNECT_LOG_MS 30000

/**
 * Be connected: retry with capped backoff with full jitter (redis.reconnect_min
 * / reconnect_max) until connected or *w->stop, keeping the heartbeat and the
 * supervisor check going. One outage logs one warning at its first failed
 * attempt, "redis still unreachable" every SL_RECONNECT_LOG_MS while it lasts,
 * and "redis reconnected" with the attempts and the time it took.
 * @return 0 when connected, -1 on stop
 */
int sl_session_connect(struct sl_worker *w);

/** Make sure the sluice function library is loaded at this build's version. */
sl_session_rc sl_session_functions(struct sl_worker *w);

/** CONFIG GET maxmemory-policy; warn unless noeviction. Errors are ignored
 *  (CONFIG may be renamed or disabled). */
void sl_session_check_eviction(struct sl_worker *w);

/**
 * XGROUP CREATE sluice:{Q} G <start_at> MKSTREAM and sluice:{Q}:r:G G 0
 * MKSTREAM (BUSYGROUP is fine).
 * @return 0; -1 with the failed reply in *failed (NULL: connection lost; the
 *         caller frees it)
 */
int sl_session_groups(struct sl_worker *w, redisReply **failed);

#endif
