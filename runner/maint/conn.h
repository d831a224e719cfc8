/* The supervisor's own Redis connection: one hiredis async context on the
 * supervisor's libevent loop, so maintenance never blocks signals, reaping or
 * the watchdog. Handles AUTH/SELECT, the function library, reconnect with
 * capped backoff + jitter, and bounds every command by redis.command_timeout
 * (hiredis 0.14's async API has no timeouts of its own). Private to runner/. */
#ifndef SL_RUNNER_MAINT_CONN_H
#define SL_RUNNER_MAINT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/hiredis_compat.h"

struct event_base;

typedef struct sl_mconn sl_mconn;

/** A command's completion: reply is the reply (possibly an error reply, owned
 *  by hiredis: do not keep it), or NULL when the command failed without one
 *  (connection lost or dropped, timed out, queued too long, closing). Called
 *  exactly once for every accepted command, never from inside sl_mconn_call. */
typedef void (*sl_mconn_cb)(void *arg, redisReply *reply);

/** Called each time the connection becomes ready (library loaded). */
typedef void (*sl_mconn_ready_fn)(void *arg);

/** How sl_mconn_call treats a connection that is not ready. */
typedef enum sl_mconn_mode {
    SL_MCONN_NOW, /* refuse (return -1): periodic work just skips a round */
    SL_MCONN_QUEUE /* keep it until ready, at most command_timeout, then cb(NULL) */
} sl_mconn_mode;

/**
 * A connection for cfg's redis.* settings on base; starts connecting at once.
 * @return the connection, or NULL (out of memory, bad URL: logged).
 */
sl_mconn *sl_mconn_new(struct event_base *base, const sl_config *cfg, sl_mconn_ready_fn on_ready, void *arg);

/** Close: every queued and in-flight command gets cb(NULL) first. NULL-safe. */
void sl_mconn_free(sl_mconn *c);

/** Take new redis.* settings (SIGHUP). A changed URL reconnects at once. 0 or -1 (bad URL: kept). */
int sl_mconn_configure(sl_mconn *c, const sl_config *cfg);

/** 1 when commands are sent at once (connected, authenticated, library loaded). */
int sl_mconn_ready(const sl_mconn *c);

/**
 * Send a command (argv copied). lens gives each argument's length; NULL means
 * every argument is a NUL-terminated string (as hiredis' argvlen). See
 * sl_mconn_mode for a connection that is not ready.
 * @return 0: cb will be called exactly once; -1: refused, cb never called.
 */
int sl_mconn_call(sl_mconn *c, sl_mconn_mode mode, sl_mconn_cb cb, void *arg, int argc, const char **argv,
                  const size_t *lens);

/** A reply says the function library is gone (FUNCTION FLUSH, a failover to a
 *  replica without it): drop the connection; the reconnect loads it again. */
void sl_mconn_reset(sl_mconn *c, const char *why);

/** Commands sent and not answered yet. */
size_t sl_mconn_inflight(const sl_mconn *c);

#endif
