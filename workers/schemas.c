/* Payload schemas in the worker (see schemas.h). Validation reads the registry
 * through a cache with its own Redis connection, because the worker's main
 * connection has pipelined ack replies in flight that a synchronous command
 * would read as its own. The cache touches Redis at most once a second. */
#include "workers/schemas.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/registry.h"
#include "workers/worker.h"

sl_session_rc sl_schemas_register(sl_worker *w)
{
    char err[1024];
    if (sl_outcome_drain(w) == SL_WRITE_LOST) return SL_SESSION_RETRY;
    for (size_t i = 0; i < sl_loader_nhandlers(w->loader); i++) {
        const sl_handler *h = sl_loader_handler_at(w->loader, i);
        if (!h->schema) continue;
        switch (sl_registry_put(w->redis, h->type, h->schema, strlen(h->schema), NULL, err, sizeof(err))) {
        case SL_REG_INVALID:
        case SL_REG_INCOMPATIBLE:
            SL_LOG(SL_ERROR, "plugin schema refused by the registry", SL_S("plugin", h->plugin),
                   SL_S("type", h->type), SL_S("error", err));
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
    if (w->schemas) return w->schemas;
    if (!w->schema_redis) {
        char err[512];
        sl_redis_opts ro = {.connect_timeout_ms = w->cfg->connect_timeout_ms,
                            .command_timeout_ms = w->cfg->command_timeout_ms,
                            .reconnect_min_ms = w->cfg->reconnect_min_ms,
                            .reconnect_max_ms = w->cfg->reconnect_max_ms};
        if (!(w->schema_redis = sl_redis_new(w->cfg->redis_url, &ro, err, sizeof(err)))) return NULL;
    }
    w->schemas = sl_registry_cache_new(w->schema_redis);
    return w->schemas;
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
    switch (sl_registry_validate(c, job->type, job->payload, job->payload_len, &e)) {
    case 1:
        return 1;
    case 2:
        return 2;
    case 0:
        break;
    default:
        if (strcmp(e.keyword, "registry") == 0) {
            snprintf(err, errlen, "schema registry unavailable: %s", e.message);
            return -1;
        }
        break; /* a broken registered schema, a limit, a remote $ref: the payload cannot pass */
    }
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
