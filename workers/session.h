/* Start of a connection, before the worker reads: the function library, the
 * consumer group on both streams, the eviction-policy warning. Private to
 * workers/ (consume.c). */
#ifndef SL_WORKER_SESSION_H
#define SL_WORKER_SESSION_H

#include "common/redis.h"

struct sl_worker;

typedef enum sl_session_rc {
    SL_SESSION_OK = 0,
    SL_SESSION_RETRY, /* lost connection or a transient error: back off, try again */
    SL_SESSION_FATAL  /* Redis cannot run the library (no functions): exit 78 */
} sl_session_rc;

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
