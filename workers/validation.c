/* Payload schemas in the worker (see validation.h). Validation reads the registry
 * through a cache with its own Redis connection, because the worker's main
 * connection has pipelined ack replies in flight that a synchronous command
 * would read as its own. The cache touches Redis at most once a second. A
 * registry that cannot be read is an outage, reported once, then summarized. */
#include "workers/validation.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/registry.h"
#include "common/util.h"
#include "workers/worker.h"

/* The registry outage as this process saw it: when it started (0: none),
 * jobs deferred since, and when the last line about it was logged. One worker
 * process runs one job at a time, so process-wide state is enough. */
static struct {
    int64_t since_mono_ms;
    uint64_t deferred;
    int64_t logged_mono_ms;
} outage;

sl_session_rc sl_schemas_register(sl_worker *w)
{
    char err[1024];
    for (size_t i = 0; i < sl_loader_nhandlers(w->loader); i++) {
        const sl_handler *h = sl_loader_handler_at(w->loader, i);
        if (!h->schema)
            continue;
        switch (sl_registry_put(w->redis, h->type, h->schema, strlen(h->schema), NULL, err, sizeof(err))) {
        case SL_REG_INVALID:
        case SL_REG_INCOMPATIBLE:
            SL_LOG(SL_ERROR, "plugin schema refused by the registry", SL_S("plugin", h->plugin), SL_S("type", h->type),
                   SL_S("error", err));
            return SL_SESSION_FATAL;
        case SL_REG_FAILED:
            SL_LOG(SL_WARN, "cannot register plugin schema yet", SL_S("type", h->type), SL_S("error", err));
            return SL_SESSION_RETRY;
        default:
            break;
        }
    }
    return SL_SESSION_OK;
}

/* The cache and its connection, made on first use. */
static sl_registry_cache *cache(sl_worker *w)
{
    if (w->schemas)
        return w->schemas;
    if (!w->schema_redis) {
        char err[512];
        sl_redis_opts ro = {.connect_timeout_ms = w->cfg->connect_timeout_ms,
                            .command_timeout_ms = w->cfg->command_timeout_ms,
                            .reconnect_min_ms = w->cfg->reconnect_min_ms,
                            .reconnect_max_ms = w->cfg->reconnect_max_ms};
        if (!(w->schema_redis = sl_redis_new(w->cfg->redis_url, &ro, err, sizeof(err))))
            return NULL;
    }
    w->schemas = sl_registry_cache_new(w->schema_redis);
    return w->schemas;
}

void sl_schemas_deferred(sl_worker *w, const sl_job *job, const char *error)
{
    int64_t now = sl_now_mono_ms();
    atomic_fetch_add_explicit(&w->slot->registry_deferred, 1, memory_order_relaxed);
    outage.deferred++;
    if (!outage.since_mono_ms) {
        outage.since_mono_ms = outage.logged_mono_ms = now ? now : 1;
        SL_LOG(SL_WARN,
               "schema registry cannot be read; jobs wait pending (no delivery spent) and are retried "
               "with a backoff",
               SL_S("job_id", job->id), SL_S("type", job->type), SL_S("error", error));
    } else if (now - outage.logged_mono_ms >= SL_SCHEMAS_OUTAGE_SUMMARY_MS) {
        outage.logged_mono_ms = now;
        SL_LOG(SL_WARN, "schema registry still cannot be read; jobs wait pending",
               SL_I("deferrals", (int64_t)outage.deferred), SL_I("outage_ms", now - outage.since_mono_ms),
               SL_S("error", error));
    }
}

/* The registry answered: end the outage, if any, with one line. */
static void registry_readable(void)
{
    if (!outage.since_mono_ms)
        return;
    SL_LOG(SL_INFO, "schema registry readable again; deferred jobs run now",
           SL_I("deferrals", (int64_t)outage.deferred), SL_I("outage_ms", sl_now_mono_ms() - outage.since_mono_ms));
    memset(&outage, 0, sizeof(outage));
}

int sl_schemas_check(sl_worker *w, const sl_job *job, char *err, size_t errlen)
{
    sl_registry_cache *c = cache(w);
    if (!c) {
        snprintf(err, errlen, "out of memory for the schema cache");
        return -1;
    }
    if (!sl_redis_connected(w->schema_redis) && sl_redis_connect(w->schema_redis) != 0) {
        snprintf(err, errlen, "%s", sl_redis_errstr(w->schema_redis));
        return -1;
    }
    sl_schema_error e;
    memset(&e, 0, sizeof(e));
    int rc = sl_registry_validate(c, job->type, job->payload, job->payload_len, &e);
    if (rc < 0 && strcmp(e.keyword, "registry") == 0) {
        snprintf(err, errlen, "%s", e.message);
        return -1;
    }
    registry_readable();
    if (rc == 1 || rc == 2)
        return rc;
    /* 0, or -1 for a broken registered schema, a limit, a remote $ref: the payload cannot pass */
    snprintf(err, errlen, "payload violates schema %s at %s: %s (%s)", job->type, e.pointer[0] ? e.pointer : "(root)",
             e.keyword, e.message);
    return 0;
}

void sl_schemas_free(sl_worker *w)
{
    sl_registry_cache_free(w->schemas);
    w->schemas = NULL;
    sl_redis_free(w->schema_redis);
    w->schema_redis = NULL;
}
