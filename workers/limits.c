/* Limits before a job runs (see limits.h). Rate limits reserve: a refused
 * job is charged anyway and told when its turn comes, and the deferred copy
 * carries the reservation (field limit_at, "NAME:MS,...") so it is not charged
 * again when it comes back. Refusals therefore never pile up into retries at
 * the same instant: the waiting jobs are spread at exactly the limit's rate.
 * A concurrency refusal has no such turn to wait for (a slot frees when a
 * job ends): it tries again after 100-200 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/limit.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/limits.h"
#include "workers/worker.h"

/* How long a job refused by a concurrency limit waits before it asks again. */
#define SL_LIMIT_RETRY_MIN_MS 100
#define SL_LIMIT_RETRY_JITTER_MS 100

static int type_limited(const sl_limit_cfg *l, const sl_job *job)
{
    for (size_t i = 0; i < l->ntypes; i++)
        if (strlen(l->types[i]) == job->type_len && memcmp(l->types[i], job->type, job->type_len) == 0)
            return 1;
    return 0;
}

/* The bucket value of l for the job: its key field as text ("" without a key,
 * or when the payload has no such field, or it is an object, array or null). */
static void key_value(const sl_limit_cfg *l, cJSON **root, const sl_job *job, char *out, size_t n)
{
    out[0] = '\0';
    if (!l->key)
        return;
    if (!*root && !(*root = cJSON_ParseWithLength(job->payload, job->payload_len)))
        return;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(*root, l->key);
    if (cJSON_IsString(v))
        snprintf(out, n, "%s", v->valuestring);
    else if (cJSON_IsBool(v))
        snprintf(out, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v))
        snprintf(out, n, "%.17g", v->valuedouble);
}

/* 1 when the entry's limit_at names limit name (a reservation taken before). */
static int reserved(const char *res, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = res; p && *p;) {
        if (strncmp(p, name, len) == 0 && p[len] == ':')
            return 1;
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return 0;
}

static const char *field_value(const sl_field *fv, size_t nf, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < nf; i++)
        if (fv[i].name_len == len && memcmp(fv[i].name, name, len) == 0)
            return fv[i].value;
    return NULL;
}

/* Append "NAME:MS" to the reservations in res. */
static void add_reservation(char *res, size_t n, const char *name, long long ms)
{
    size_t used = strlen(res);
    snprintf(res + used, n - used, "%s%s:%lld", used ? "," : "", name, ms);
}

static sl_limit_verdict call_failed(sl_worker *w, const char *what, redisReply *r, sl_write_rc *rc)
{
    *rc = sl_write_report(w, what, r);
    if (r)
        freeReplyObject(r);
    return SL_LIMIT_ERROR;
}

sl_limit_verdict sl_limits_admit(sl_worker *w, const sl_job *job, const sl_field *fv, size_t nf, sl_settle *d,
                                 sl_write_rc *rc)
{
    const sl_config *cfg = w->cfg;
    char value[512], bucket[SL_KEY_MAX], res[1024] = "", interval[24], burst[24];
    const char *had = NULL;
    cJSON *root = NULL;
    int64_t wait_ms = 0;
    int by = -1; /* the limit that deferred it */
    sl_limit_verdict v = SL_LIMIT_RUN;

    w->hold_key[0] = '\0';
    *rc = SL_WRITE_OK;
    if (cfg->nlimits == 0)
        return SL_LIMIT_RUN;
    had = field_value(fv, nf, SL_LIMIT_FIELD);
    for (size_t i = 0; i < cfg->nlimits && v == SL_LIMIT_RUN; i++) {
        const sl_limit_cfg *l = &cfg->limits[i];
        if (l->rate == 0 || !type_limited(l, job))
            continue;
        if (had && reserved(had, l->name)) { /* its turn was reserved when it was deferred */
            add_reservation(res, sizeof res, l->name, 0);
            continue;
        }
        key_value(l, &root, job, value, sizeof value);
        if (sl_limit_bucket(bucket, sizeof bucket, l->name, value, strlen(value)) != 0)
            continue;
        snprintf(interval, sizeof interval, "%lld", (long long)(l->per_ms / l->rate));
        snprintf(burst, sizeof burst, "%d", l->burst);
        const char *argv[] = {"FCALL", "sluice_limit_rate", "1", bucket, interval, burst};
        redisReply *r = sl_worker_cmd(w, 6, argv, NULL);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            v = call_failed(w, "FCALL sluice_limit_rate", r, rc);
            break;
        }
        add_reservation(res, sizeof res, l->name, r->integer);
        if (r->integer > wait_ms)
            wait_ms = r->integer, by = (int)i;
        freeReplyObject(r);
    }
    for (size_t i = 0; i < cfg->nlimits && v == SL_LIMIT_RUN && wait_ms == 0; i++) {
        const sl_limit_cfg *l = &cfg->limits[i];
        char holder[SL_KEY_MAX + 64], slots[16], hold[24];
        if (l->concurrency == 0 || !type_limited(l, job))
            continue;
        key_value(l, &root, job, value, sizeof value);
        if (sl_limit_bucket(bucket, sizeof bucket, l->name, value, strlen(value)) != 0 ||
            sl_limit_holder(holder, sizeof holder, w->consumer, d->stream == SL_STREAM_RETRY, job->stream_id) != 0)
            continue;
        snprintf(slots, sizeof slots, "%d", l->concurrency);
        snprintf(hold, sizeof hold, "%lld", (long long)cfg->lease_ms);
        const char *argv[] = {"FCALL", "sluice_limit_acquire", "1", bucket, slots, holder, hold};
        redisReply *r = sl_worker_cmd(w, 7, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER) {
            v = call_failed(w, "FCALL sluice_limit_acquire", r, rc);
            break;
        }
        if (r->element[0]->integer == 1) {
            snprintf(w->hold_key, sizeof w->hold_key, "%s", bucket);
            snprintf(w->hold_member, sizeof w->hold_member, "%s", holder);
        } else {
            wait_ms = SL_LIMIT_RETRY_MIN_MS + (int64_t)(sl_rand64() % SL_LIMIT_RETRY_JITTER_MS);
            by = (int)i;
        }
        freeReplyObject(r);
        break; /* a type has one concurrency limit */
    }
    cJSON_Delete(root);
    if (v != SL_LIMIT_RUN || wait_ms == 0)
        return v;
    /* Deferred: to its turn, through the schedule, spending nothing. */
    d->defer = 1;
    d->delay_ms = wait_ms;
    d->limit_at = res;
    d->reason = cfg->limits[by].name;
    if (by >= 0 && by < 16)
        atomic_fetch_add_explicit(&w->slot->limited[by], 1, memory_order_relaxed);
    if (sl_log_enabled(SL_DEBUG))
        SL_LOG(SL_DEBUG, "job deferred by a limit", SL_S("job_id", job->id), SL_S("limit", cfg->limits[by].name),
               SL_I("wait_ms", wait_ms));
    *rc = sl_settle_send(w, d);
    d->limit_at = NULL;
    return SL_LIMIT_DEFERRED;
}

void sl_limits_release(sl_worker *w)
{
    if (!w->hold_key[0])
        return;
    const char *argv[] = {"FCALL", "sluice_limit_release", "1", w->hold_key, w->hold_member};
    redisReply *r = sl_worker_cmd(w, 5, argv, NULL);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        SL_LOG(SL_WARN, "cannot give back a concurrency slot; it lapses with the job's lease",
               SL_S("bucket", w->hold_key), SL_S("error", r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply"));
    if (r)
        freeReplyObject(r);
    w->hold_key[0] = '\0';
}
