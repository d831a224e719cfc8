/* Host services for plugins: the static sluice_host table and the functions
 * behind it. Everything a plugin can do to the outside world goes through here,
 * on the worker's own Redis connection and logger. */
#include "workers/host.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/trace.h"
#include "common/util.h"
#include "common/worker_slot.h"
#include "workers/loader.h"

#define ENQ_V1_0_SIZE (offsetof(sluice_enqueue_req, delay_ms) + sizeof(uint64_t))
#define ONCE_TTL_S "604800" /* once markers live a week: far beyond any retry horizon */

void sl_host_ctx_init(sluice_ctx *ctx, const sl_host_env *env, const char *plugin)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->env = env;
    ctx->plugin = plugin;
    if (env && env->pool) {
        ctx->queue = env->pool->queue;
        ctx->group = env->pool->group;
    }
}

void sl_host_ctx_begin(sluice_ctx *ctx, const sl_job *job, const char *plugin)
{
    ctx->job = job;
    ctx->plugin = plugin;
    if (ctx->env && ctx->env->queue)
        ctx->queue = ctx->env->queue; /* a pool of several queues: the job's */
    ctx->has_error = 0;
    ctx->error[0] = '\0';
    ctx->has_retry_after = 0;
    ctx->retry_after_ms = 0;
    ctx->correlation[0] = '\0';
    ctx->trace[0] = '\0';
}

void sl_host_ctx_end(sluice_ctx *ctx)
{
    ctx->job = NULL;
}

void sl_host_ctx_cleanup(sluice_ctx *ctx)
{
    (void)ctx; /* owns nothing yet; owners call it so adding ownership changes no caller */
}

const char *sl_host_ctx_error(const sluice_ctx *ctx)
{
    return ctx->has_error ? ctx->error : NULL;
}

/* Log a line with the plugin name and, during a job, the job's fields,
 * including its tracing context (so a request's lines can be found by
 * correlation_id or trace id in any log store). */
static void log_fields(const sluice_ctx *ctx, sl_log_level lvl, const char *msg)
{
    sl_kv kv[10];
    size_t n = 0;
    if (ctx && ctx->plugin)
        kv[n++] = SL_S("plugin", ctx->plugin);
    if (ctx && ctx->job) {
        const sl_job *j = ctx->job;
        kv[n++] = SL_S("queue", ctx->queue ? ctx->queue : "");
        kv[n++] = SL_S("group", ctx->group ? ctx->group : "");
        kv[n++] = SL_S("job_id", j->id);
        kv[n++] = SL_S("type", j->type);
        kv[n++] = SL_I("attempt", j->attempt);
        if (j->correlation_id[0])
            kv[n++] = SL_S("correlation_id", j->correlation_id);
        if (j->causation_id[0])
            kv[n++] = SL_S("causation_id", j->causation_id);
        if (j->traceparent[0])
            kv[n++] = SL_S("traceparent", j->traceparent);
    }
    sl_log_event(lvl, msg, kv, n);
}

static void host_log(sluice_ctx *ctx, sluice_log_level level, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static void host_log(sluice_ctx *ctx, sluice_log_level level, const char *fmt, ...)
{
    sl_log_level lvl = level == SLUICE_LOG_DEBUG   ? SL_DEBUG
                       : level == SLUICE_LOG_WARN  ? SL_WARN
                       : level == SLUICE_LOG_ERROR ? SL_ERROR
                                                   : SL_INFO;
    if (!sl_log_enabled(lvl) || !fmt)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_fields(ctx, lvl, msg);
}

/* Host-side complaint about a plugin's call (bad arguments, Redis failure). */
static void complain(const sluice_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void complain(const sluice_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_fields(ctx, SL_ERROR, msg);
}

static void host_set_error(sluice_ctx *ctx, const char *fmt, ...) SLUICE_PRINTF(2, 3);
static void host_set_error(sluice_ctx *ctx, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
    va_end(ap);
    if (n < 0) {
        snprintf(ctx->error, sizeof(ctx->error), "(unformattable error message)");
    } else if ((size_t)n >= sizeof(ctx->error)) {
        memcpy(ctx->error + sizeof(ctx->error) - 4, "...", 4); /* say it was cut */
    }
    ctx->has_error = 1;
}

static void host_retry_after(sluice_ctx *ctx, uint64_t delay_ms)
{
    if (!ctx)
        return;
    ctx->has_retry_after = 1;
    ctx->retry_after_ms = delay_ms;
}

/* Read the worker's pipelined replies first: a synchronous command must not
 * take an earlier command's reply as its own. */
static void host_sync(const sl_host_env *env)
{
    if (env->sync)
        env->sync(env->sync_arg);
}

/* FCALL sluice_schedule 2 <stream> <sched> in <delay> <fields...>, the fields
 * taken from an encoded XADD (after "XADD key *"). The library is loaded and
 * the call retried once when Redis says the function is missing. */
static redisReply *schedule(const sl_host_env *env, const char *queue, const sl_xadd_args *a, uint64_t delay_ms)
{
    char sched[SL_KEY_MAX], delay[24];
    if (sl_key_sched(sched, sizeof(sched), queue) != 0)
        return NULL;
    snprintf(delay, sizeof(delay), "%" PRIu64, delay_ms);
    const char *argv[SL_CODEC_MAX_ARGS + 4] = {"FCALL", "sluice_schedule", "2", a->argv[1], sched, "in", delay};
    size_t lens[SL_CODEC_MAX_ARGS + 4] = {5, 15, 1, a->lens[1], strlen(sched), 2, strlen(delay)};
    int argc = 7;
    for (int i = 3; i < a->argc; i++, argc++)
        argv[argc] = a->argv[i], lens[argc] = a->lens[i];
    redisReply *r = sl_redis_cmdargv(env->redis, argc, argv, lens);
    if (r && sl_functions_missing(r)) {
        char err[512];
        freeReplyObject(r);
        if (sl_functions_ensure(env->redis, err, sizeof(err)) != 0)
            SL_LOG(SL_WARN, "cannot load the sluice function library", SL_S("error", err));
        r = sl_redis_cmdargv(env->redis, argc, argv, lens);
    }
    return r;
}

/* Enqueue a job from a handler: XADD on the worker's connection, or with a
 * delay sluice_schedule into sluice:{Q}:sched with an id field (of one
 * partition sluice:{Q#i} when the config gives Q partitions) (the given job
 * id or a new UUID). The running job's tracing context is propagated: the
 * child gets its correlation_id (or one made up per job), causation_id = the
 * running job's id and a child span of its traceparent (sl_trace_child). The new
 * entry is checked with the rules workers decode with (sl_codec_check_job), so
 * a handler cannot publish what a worker would dead-letter as a bad envelope. */
static int host_enqueue(sluice_ctx *ctx, const sluice_enqueue_req *req, char *id_out, size_t id_out_len)
{
    if (!ctx || !req)
        return -1;
    const sl_job *cur = ctx->job;
    const sl_host_env *env = ctx->env;
    if (!cur) {
        complain(ctx, "enqueue is only available while a handler runs");
        return -1;
    }
    if (req->size < ENQ_V1_0_SIZE) {
        complain(ctx, "enqueue: request is %zu bytes, ABI 1.0 needs at least %zu", req->size, (size_t)ENQ_V1_0_SIZE);
        return -1;
    }
    if (!env || !env->redis) {
        complain(ctx, "enqueue: no Redis connection in this process");
        return -1;
    }
    const char *queue = req->queue ? req->queue : ctx->queue;
    if (!queue || !sl_valid_name(queue)) {
        complain(ctx, "enqueue: invalid queue name '%s'", queue ? queue : "(null)");
        return -1;
    }
    size_t tlen = req->type ? strlen(req->type) : 0;
    if (!req->type || !sl_valid_type(req->type, tlen)) {
        complain(ctx, "enqueue: invalid job type '%s'", req->type ? req->type : "(null)");
        return -1;
    }
    const char *payload = req->payload ? req->payload : "{}";
    size_t plen = req->payload && req->payload_len ? req->payload_len : strlen(payload);
    const char *corr = cur->correlation_id;
    if (!corr[0]) {
        if (!ctx->correlation[0])
            sl_uuid4(ctx->correlation); /* one per job, shared by its children */
        corr = ctx->correlation;
    }
    /* The child's span is a child of the running job's span. A job without a
     * valid traceparent gets one made up once, so its children share a trace. */
    const char *parent_tp = cur->traceparent;
    if (!sl_trace_valid(parent_tp)) {
        if (!ctx->trace[0] && sl_trace_new(ctx->trace) != 0)
            ctx->trace[0] = '\0';
        parent_tp = ctx->trace;
    }
    char child_tp[SL_TRACE_SIZE];
    if (sl_trace_child(parent_tp, child_tp) != 0)
        child_tp[0] = '\0'; /* no randomness: send none */
    /* A partitioned queue (queues.<Q>.partitions of this worker's config): one
     * partition, round robin per worker. */
    static sl_part_rr spread;
    int nparts = sl_part_count(env->cfg, queue);
    char uuid[37];
    /* a scheduled job needs an id field; in a partitioned queue, stream ids
     * are unique per partition only */
    if ((req->delay_ms > 0 || nparts > 1) && !req->job_id)
        sl_uuid4(uuid);
    sl_job nj = {.id = req->job_id                       ? req->job_id
                       : req->delay_ms > 0 || nparts > 1 ? uuid
                                                         : "",
                 .type = req->type,
                 .type_len = tlen,
                 .payload = payload,
                 .payload_len = plen,
                 .attempt = 1,
                 .enqueued_at_ms = sl_now_wall_ms(),
                 .correlation_id = corr,
                 .causation_id = cur->id,
                 .traceparent = child_tp};
    size_t maxp = env->cfg ? (size_t)env->cfg->max_payload_bytes : 1048576;
    char err[512];
    sl_codec_status st = sl_codec_check_job(&nj, maxp, err, sizeof(err));
    if (st != SL_CODEC_OK) {
        complain(ctx, "enqueue: refusing a %s job: %s", sl_codec_reason(st), err);
        return -1;
    }
    char part[SL_PARTITION_NAME_MAX], key[SL_KEY_MAX];
    sl_xadd_args a;
    if (sl_part_name(part, sizeof(part), queue, nparts, sl_part_pick(nparts, NULL, NULL, &spread)) != 0 ||
        sl_key_stream(key, sizeof(key), part) != 0 || sl_codec_encode_xadd(key, &nj, &a) != 0) {
        complain(ctx, "enqueue: cannot encode a job of type '%s' for queue '%s'", req->type, queue);
        return -1;
    }
    host_sync(env);
    const char *what = req->delay_ms > 0 ? "FCALL sluice_schedule" : "XADD";
    redisReply *r = req->delay_ms > 0 ? schedule(env, part, &a, req->delay_ms)
                                      : sl_redis_cmdargv(env->redis, a.argc, a.argv, a.lens);
    int rc = -1;
    if (!r) {
        complain(ctx, "enqueue: %s %s failed: %s", what, key, sl_redis_errstr(env->redis));
    } else if (r->type != REDIS_REPLY_STRING) {
        complain(ctx, "enqueue: %s %s failed: %.*s", what, key, r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    } else {
        const char *id = nj.id[0] ? nj.id : r->str; /* the id field, else the stream id */
        if (id_out && id_out_len) {
            if (strlen(id) < id_out_len)
                memcpy(id_out, id, strlen(id) + 1);
            else
                id_out[0] = '\0';
        }
        rc = 0;
        char why[512];
        if (env->cfg && env->cfg->wait_replicas > 0 && /* redis.wait_replicas: not done until replicas have it */
            sl_redis_wait(env->redis, env->cfg->wait_replicas, env->cfg->wait_timeout_ms, why, sizeof why) != 0) {
            complain(ctx, "enqueue: %s %s: on the master but %s", what, key, why);
            if (id_out && id_out_len)
                id_out[0] = '\0';
            rc = -1;
        }
    }
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Once-per-job guard: SET <once key> 1 NX EX <ttl>. 1 when set now, 0 when it
 * existed, -1 on error. */
static int host_once(sluice_ctx *ctx, const char *key)
{
    if (!ctx)
        return -1;
    const sl_job *cur = ctx->job;
    if (!cur) {
        complain(ctx, "once is only available while a handler runs");
        return -1;
    }
    if (!key || !key[0]) {
        complain(ctx, "once: empty key");
        return -1;
    }
    if (!ctx->env || !ctx->env->redis) {
        complain(ctx, "once: no Redis connection in this process");
        return -1;
    }
    char k[SL_KEY_MAX];
    const char *part = ctx->env->part ? ctx->env->part : ctx->queue; /* the job's partition's keys */
    if (sl_key_once(k, sizeof(k), part, ctx->group, cur->id, key) != 0) {
        complain(ctx, "once: key '%s' too long for job %s", key, cur->id);
        return -1;
    }
    const char *argv[] = {"SET", k, "1", "NX", "EX", ONCE_TTL_S};
    host_sync(ctx->env);
    redisReply *r = sl_redis_cmdargv(ctx->env->redis, 6, argv, NULL);
    int rc = -1;
    if (!r)
        complain(ctx, "once: SET %s failed: %s", k, sl_redis_errstr(ctx->env->redis));
    else if (r->type == REDIS_REPLY_STATUS)
        rc = 1;
    else if (r->type == REDIS_REPLY_NIL)
        rc = 0;
    else
        complain(ctx, "once: SET %s failed: %.*s", k, r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    if (r)
        freeReplyObject(r);
    return rc;
}

static const char *host_config_get(sluice_ctx *ctx, const char *key)
{
    if (!ctx || !key || !ctx->env || !ctx->env->pool)
        return NULL;
    return sl_cfg_setting(ctx->env->pool, key);
}

static int host_should_stop(sluice_ctx *ctx)
{
    if (!ctx || !ctx->env)
        return 0;
    if (ctx->env->stop && *ctx->env->stop)
        return 1;
    const sl_slot *s = ctx->env->slot; /* its job was cancelled (sluice jobs cancel) */
    uint64_t c = s ? atomic_load_explicit(&s->cancel_seq, memory_order_relaxed) : 0;
    return ctx->job && c != 0 && c == atomic_load_explicit(&s->job_seq, memory_order_relaxed);
}

static const sluice_host host_table = {
    .size = sizeof(sluice_host),
    .abi_major = SLUICE_ABI_MAJOR,
    .abi_minor = SLUICE_ABI_MINOR,
    .register_handler = sl_loader_register,
    .log = host_log,
    .set_error = host_set_error,
    .retry_after = host_retry_after,
    .enqueue = host_enqueue,
    .once = host_once,
    .config_get = host_config_get,
    .should_stop = host_should_stop,
    .plugin_ctx_as_ctx = sl_loader_pctx_ctx,
};

const sluice_host *sl_host_services(void)
{
    return &host_table;
}
