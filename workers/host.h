/* Host services: the sluice_host function table plugins call (register, log,
 * set_error, retry_after, enqueue, once, config_get, should_stop) and the
 * per-job context (struct sluice_ctx) those calls receive. */
#ifndef SL_WORKER_HOST_H
#define SL_WORKER_HOST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/trace.h"
#include "sluice/plugin.h"

/** Room for a handler's error text (set_error); longer text is truncated. */
#define SL_HOST_ERROR_MAX 1024

/** What the host services need from the worker. Every member may be NULL
 *  (the loader tests run plugins without a worker). */
typedef struct sl_host_env {
    const sl_config *cfg;
    const sl_pool_cfg *pool;
    const char *part; /* the partition of the running job (Q or Q#i: once keys), NULL = the pool's queue */
    const char *queue; /* the queue of the running job (one of the pool's), NULL = the pool's first */
    const char *consumer;
    sl_redis *redis; /* the worker's connection, for enqueue/once */
    volatile sig_atomic_t *stop; /* should_stop */
    const struct sl_slot *slot; /* should_stop: the supervisor's cancel of the running job (cancel_seq) */
    void (*sync)(void *arg); /* read pipelined replies before a command (may be NULL) */
    void *sync_arg;
} sl_host_env;

/**
 * The context a plugin gets. One per worker for jobs (reused: no allocation per
 * job) and one per plugin during init (job == NULL).
 */
struct sluice_ctx {
    const sl_host_env *env;
    const char *plugin; /* plugin name, for log lines */
    const sl_job *job; /* the running job, NULL during init */
    const char *queue; /* queue/group of the running job */
    const char *group;
    int has_error;
    int has_retry_after;
    uint64_t retry_after_ms;
    char correlation[40]; /* made up once per job when the job has none */
    char trace[SL_TRACE_SIZE]; /* made up once per job when the job has no valid traceparent */
    char error[SL_HOST_ERROR_MAX];
};

/** The host table handed to every plugin's init(). Static, never freed. */
const sluice_host *sl_host_services(void);

/** Prepare a context (zeroed) bound to env and plugin name. */
void sl_host_ctx_init(sluice_ctx *ctx, const sl_host_env *env, const char *plugin);
/** Reset per-job state before a handler runs. */
void sl_host_ctx_begin(sluice_ctx *ctx, const sl_job *job, const char *plugin);
/** Forget the job after the handler returned (the job view is gone). */
void sl_host_ctx_end(sluice_ctx *ctx);
/** Release what the context owns (nothing today; NULL-safe). */
void sl_host_ctx_cleanup(sluice_ctx *ctx);

/** The error text set by the handler, or NULL if none. */
const char *sl_host_ctx_error(const sluice_ctx *ctx);

#endif
