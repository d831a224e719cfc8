/* What a worker does on a fresh connection before it reads: (re)connect, with
 * one log line per outage rather than per attempt; load the sluice
 * function library (every move is one of its functions), create the group on
 * the work stream and on the group's retry stream, and warn once about a Redis
 * that may evict stream entries. */
#include "workers/session.h"

#include <stdio.h>
#include <string.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

int sl_session_connect(sl_worker *w)
{
    unsigned failures = 0;
    int64_t start = 0, next_log = 0;
    while (!sl_redis_connected(w->redis)) {
        if (*w->stop)
            return -1;
        if (sl_redis_connect(w->redis) == 0)
            break;
        sl_worker_redis_error(w, NULL);
        int64_t now = sl_worker_tick(w), min = w->cfg->reconnect_min_ms;
        int64_t delay = sl_backoff_ms(min, w->cfg->reconnect_max_ms, failures < 64 ? failures : 64, min / 2);
        if (failures == 0) {
            start = now;
            SL_LOG(SL_WARN, "redis connect failed; retrying with backoff", SL_S("error", sl_redis_errstr(w->redis)),
                   SL_I("retry_in_ms", delay));
            next_log = now + SL_RECONNECT_LOG_MS;
        } else if (now >= next_log) {
            SL_LOG(SL_WARN, "redis still unreachable", SL_S("error", sl_redis_errstr(w->redis)),
                   SL_I("attempts", failures + 1), SL_I("for_ms", now - start));
            next_log = now + SL_RECONNECT_LOG_MS;
        }
        failures++;
        sl_sleep_ms(delay, w->stop);
    }
    if (failures > 0)
        SL_LOG(SL_INFO, "redis reconnected", SL_I("attempts", failures + 1),
               SL_I("after_ms", sl_now_mono_ms() - start));
    return 0;
}

/* 1 if the message of a failed sl_functions_ensure is a transient Redis error
 * (LOADING, READONLY, ...): wait and retry rather than give up. */
static int transient_text(const char *err)
{
    const char *p = strstr(err, "failed: ");
    if (!p)
        return 0;
    p += strlen("failed: ");
    redisReply fake;
    memset(&fake, 0, sizeof(fake));
    fake.type = REDIS_REPLY_ERROR;
    fake.str = (char *)p;
    fake.len = strlen(p);
    return sl_redis_reply_transient(&fake);
}

sl_session_rc sl_session_functions(sl_worker *w)
{
    char err[512];
    if (sl_functions_ensure(w->redis, err, sizeof(err)) == 0)
        return SL_SESSION_OK;
    if (!sl_redis_connected(w->redis) || transient_text(err)) {
        SL_LOG(SL_WARN, "cannot load the sluice function library yet; retrying", SL_S("error", err));
        return SL_SESSION_RETRY;
    }
    SL_LOG(SL_ERROR, "redis cannot run the sluice function library (Redis >= 7.0 with functions is required)",
           SL_S("error", err), SL_S("redis", sl_redis_name(w->redis)));
    return SL_SESSION_FATAL;
}

void sl_session_check_eviction(sl_worker *w)
{
    const char *argv[] = {"CONFIG", "GET", "maxmemory-policy"};
    redisReply *r = sl_redis_cmdargv(w->redis, 3, argv, NULL);
    if (!r)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[1]->type == REDIS_REPLY_STRING) {
        const char *policy = r->element[1]->str;
        char msg[256];
        if (strncmp(policy, "volatile-", 9) == 0) {
            snprintf(msg, sizeof(msg),
                     "redis maxmemory-policy %s can evict keys with a TTL: idempotency keys and done-markers may "
                     "be lost; use noeviction",
                     policy);
            SL_LOG(SL_WARN, msg, SL_S("redis", sl_redis_name(w->redis)));
        } else if (strcmp(policy, "noeviction") != 0) {
            snprintf(msg, sizeof(msg),
                     "redis maxmemory-policy %s can evict stream entries: jobs may be lost; use noeviction", policy);
            SL_LOG(SL_WARN, msg, SL_S("redis", sl_redis_name(w->redis)));
        }
    } /* an error (CONFIG renamed or disabled) is not ours to judge */
    freeReplyObject(r);
}

/* XGROUP CREATE <key> G <start> MKSTREAM; BUSYGROUP means it exists. */
static redisReply *create_group(sl_worker *w, int stream, int *ok)
{
    const char *start = stream == SL_STREAM_MAIN ? w->pool->start_at : "0";
    const char *argv[] = {"XGROUP", "CREATE", w->keys[stream], w->pool->group, start, "MKSTREAM"};
    redisReply *r = sl_worker_cmd(w, 6, argv, NULL);
    *ok = r && (r->type == REDIS_REPLY_STATUS || sl_redis_reply_is(r, "BUSYGROUP"));
    if (*ok && r->type == REDIS_REPLY_STATUS) {
        SL_LOG(SL_INFO, "consumer group created", SL_S("stream", w->keys[stream]), SL_S("group", w->pool->group),
               SL_S("start_at", start));
        /* A group made anew (it may have been destroyed with entries pending):
         * acks read under an older fence take the owner check. */
        const char *inc[] = {"INCR", w->fence_key};
        redisReply *f = sl_worker_cmd(w, 2, inc, NULL);
        if (f)
            freeReplyObject(f);
    }
    return r;
}

int sl_session_groups(sl_worker *w, redisReply **failed)
{
    *failed = NULL;
    for (int s = 0; s < SL_NSTREAMS; s++) {
        int ok;
        redisReply *r = create_group(w, s, &ok);
        if (!ok) {
            *failed = r;
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}
