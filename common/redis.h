/* Redis connection: URL, AUTH/SELECT, connect and command timeouts, reconnect
 * with capped backoff and jitter. A thin layer over a blocking hiredis context,
 * or, for a redis+cluster:// URL, over one context per master with every
 * command routed by its key's hash slot (redis_cluster.c). */
#ifndef SL_REDIS_H
#define SL_REDIS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hiredis_compat.h"

typedef struct sl_redis sl_redis;

typedef struct sl_redis_opts {
    int64_t connect_timeout_ms; /* 0: 2000 */
    int64_t command_timeout_ms; /* 0: 5000 */
    int64_t reconnect_min_ms; /* 0: 100 */
    int64_t reconnect_max_ms; /* 0: 5000 */
} sl_redis_opts;

/** Parse url and keep it; does not connect. NULL on a bad URL (err set, no password). */
sl_redis *sl_redis_new(const char *url, const sl_redis_opts *opts, char *err, size_t errlen);
void sl_redis_free(sl_redis *r);

/** One connection attempt (connect, AUTH, SELECT, timeouts). 0, or -1 with errstr. */
int sl_redis_connect(sl_redis *r);

/** Drop the connection (the next sl_redis_connect reconnects). */
void sl_redis_disconnect(sl_redis *r);
int sl_redis_connected(const sl_redis *r);

/**
 * Run a command. Returns the reply (caller frees with freeReplyObject), which
 * may be an error reply; NULL on an I/O or protocol error, after which the
 * connection is dropped and errstr says why. Never called while disconnected
 * (returns NULL with "not connected").
 */
redisReply *sl_redis_cmd(sl_redis *r, const char *fmt, ...);
redisReply *sl_redis_cmdargv(sl_redis *r, int argc, const char **argv, const size_t *lens);

/** Pipelining: append commands, then read replies in order. append returns 0/-1;
 *  get_reply returns the reply or NULL (connection dropped). */
int sl_redis_append_argv(sl_redis *r, int argc, const char **argv, const size_t *lens);
redisReply *sl_redis_get_reply(sl_redis *r);

/**
 * The masters a command can be sent to one by one: 1 for one server, the
 * masters of the slot map in a Redis Cluster (valid after sl_redis_connect).
 * For what every node must do or answer: SCAN, FUNCTION LOAD, INFO.
 */
int sl_redis_nodes(const sl_redis *r);
/** sl_redis_cmdargv on master node (0..sl_redis_nodes-1), without routing by key. */
redisReply *sl_redis_cmdargv_at(sl_redis *r, int node, int argc, const char **argv, const size_t *lens);
/** "host:port" of master node (the redacted URL for one server), for messages. */
const char *sl_redis_node_name(sl_redis *r, int node, char *buf, size_t n);

/**
 * WAIT replicas timeout_ms after writes (redis.wait_replicas): on the server,
 * or on every cluster master written to since the last wait. No-op for
 * replicas <= 0. Call it with no pipeline pending.
 * @return 0 when each acknowledged at least replicas; -1 with err (fewer
 *         replicas in time: the write happened on the master but is not
 *         confirmed; or an I/O error)
 */
int sl_redis_wait(sl_redis *r, int replicas, int64_t timeout_ms, char *err, size_t errlen);

/** Error replies the caller should wait out and retry (LOADING, READONLY,
 *  OOM, MASTERDOWN, BUSY, TRYAGAIN, CLUSTERDOWN, NOREPLICAS, UNBLOCKED). 1 or 0. */
int sl_redis_reply_transient(const redisReply *reply);
/** 1 if reply is an error starting with the given code, e.g. "NOGROUP". */
int sl_redis_reply_is(const redisReply *reply, const char *code);

const char *sl_redis_errstr(const sl_redis *r);
/** The redacted URL, for logs. */
const char *sl_redis_name(const sl_redis *r);
/** The underlying context (NULL when disconnected), for code that needs hiredis directly. */
redisContext *sl_redis_context(sl_redis *r);

/** Sleep up to ms, waking early when *stop becomes non-zero (checked every 50 ms). */
void sl_sleep_ms(int64_t ms, volatile sig_atomic_t *stop);

#endif
