/* The producer API (include/sluice/client.h): validate jobs with the codec's
 * rules, then XADD them one at a time or pipelined in chunks. A command is
 * resent after a reconnect only when none of its bytes reached the socket, so a
 * job is never enqueued twice by the library itself. */
#include "sluice/client.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/keys.h"
#include "common/redis.h"
#include "common/util.h"
#include "sluice/version.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"
#define DEFAULT_MAX_PAYLOAD (1024 * 1024)
/* A pipelined chunk ends after this many jobs or this many payload bytes,
 * whichever comes first, bounding the memory hiredis buffers per round trip. */
#define CHUNK_JOBS 1000
#define CHUNK_BYTES (8u * 1024 * 1024)
/* Longest stream entry id ("<20 digits>-<20 digits>") plus its NUL. */
#define STREAM_ID_SIZE 42

struct sluice_client {
    sl_redis *redis;
    size_t max_payload;
    char err[512];
};

/* True if the member of a caller's struct lies within the size it declared. */
#define HAS_MEMBER(p, type, m) (offsetof(type, m) + sizeof((p)->m) <= (p)->size)

static void set_err(sluice_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(sluice_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

const char *sluice_version(void)
{
    return SLUICE_VERSION_STRING;
}

const char *sluice_client_error(const sluice_client *c)
{
    return c != NULL ? c->err : "client is NULL";
}

sluice_client *sluice_client_new(const char *url, const sluice_client_opts *opts, char *err,
                                 size_t errlen)
{
    sluice_client *c = NULL;
    sl_redis_opts ropts = {0};
    size_t max_payload = DEFAULT_MAX_PAYLOAD;
    char msg[512] = "";

    if (url == NULL || url[0] == '\0')
        url = getenv("SLUICE_REDIS_URL");
    if (url == NULL || url[0] == '\0')
        url = DEFAULT_URL;
    if (opts != NULL) {
        if (opts->size == 0) {
            snprintf(msg, sizeof msg, "opts->size is 0 (set it to sizeof(sluice_client_opts))");
            goto fail;
        }
        if (HAS_MEMBER(opts, sluice_client_opts, connect_timeout_ms))
            ropts.connect_timeout_ms = opts->connect_timeout_ms;
        if (HAS_MEMBER(opts, sluice_client_opts, command_timeout_ms))
            ropts.command_timeout_ms = opts->command_timeout_ms;
        if (HAS_MEMBER(opts, sluice_client_opts, max_payload_bytes) && opts->max_payload_bytes != 0)
            max_payload = opts->max_payload_bytes;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(msg, sizeof msg, "sluice_client_new: out of memory");
        goto fail;
    }
    c->max_payload = max_payload;
    c->redis = sl_redis_new(url, &ropts, msg, sizeof msg);
    if (c->redis == NULL)
        goto fail;
    if (sl_redis_connect(c->redis) != 0) {
        snprintf(msg, sizeof msg, "%s", sl_redis_errstr(c->redis));
        goto fail;
    }
    return c;

fail:
    sluice_client_free(c);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return NULL;
}

void sluice_client_free(sluice_client *c)
{
    if (c == NULL)
        return;
    sl_redis_free(c->redis);
    free(c);
}

/* ---- Validation ---- */

/* Check one job and fill *job with everything but correlation_id and
 * enqueued_at (set at send time). where is "" or "jobs[N]: " for messages. */
static int prepare(sluice_client *c, const char *where, const sluice_job_spec *spec, sl_job *job)
{
    const sluice_enqueue_opts *o = spec->opts;
    char q[SL_CODEC_QUOTE_SIZE];
    char msg[400];

    memset(job, 0, sizeof *job);
    if (spec->type == NULL) {
        set_err(c, "%stype is NULL", where);
        return -1;
    }
    job->type = spec->type;
    job->type_len = strlen(spec->type);
    if (!sl_valid_type(job->type, job->type_len)) {
        sl_codec_quote(q, sizeof q, job->type, job->type_len);
        set_err(c, "%sinvalid type %s (expected [a-z0-9_.-]{1,128})", where, q);
        return -1;
    }
    job->payload = spec->payload;
    job->payload_len = spec->payload != NULL && spec->payload_len == 0 ? strlen(spec->payload)
                                                                        : spec->payload_len;
    if (job->payload == NULL) {
        job->payload = "{}";
        job->payload_len = 2;
    }
    if (o != NULL) {
        if (o->size == 0) {
            set_err(c, "%sopts->size is 0 (set it to sizeof(sluice_enqueue_opts))", where);
            return -1;
        }
        if (HAS_MEMBER(o, sluice_enqueue_opts, job_id))
            job->id = o->job_id;
        if (HAS_MEMBER(o, sluice_enqueue_opts, correlation_id))
            job->correlation_id = o->correlation_id;
        if (HAS_MEMBER(o, sluice_enqueue_opts, causation_id))
            job->causation_id = o->causation_id;
        if (HAS_MEMBER(o, sluice_enqueue_opts, traceparent))
            job->traceparent = o->traceparent;
        if (HAS_MEMBER(o, sluice_enqueue_opts, delay_ms) && o->delay_ms != 0) {
            set_err(c, "%sdelay_ms is not supported yet", where);
            return -1;
        }
    }
    if (sl_codec_check_job(job, c->max_payload, msg, sizeof msg) != SL_CODEC_OK) {
        set_err(c, "%s%s", where, msg);
        return -1;
    }
    return 0;
}

static int check_queue(sluice_client *c, const char *queue, char *key, size_t keylen)
{
    char q[SL_CODEC_QUOTE_SIZE];

    if (queue == NULL || !sl_valid_name(queue)) {
        if (queue == NULL)
            snprintf(q, sizeof q, "NULL");
        else
            sl_codec_quote(q, sizeof q, queue, strlen(queue));
        set_err(c, "invalid queue name %s (expected [A-Za-z0-9_.-]{1,64})", q);
        return -1;
    }
    if (sl_key_stream(key, keylen, queue) != 0) {
        set_err(c, "queue name \"%s\" makes too long a key", queue);
        return -1;
    }
    return 0;
}

/* ---- Sending ---- */

/* 1 if the connection can take a command: no EOF, error or stray data waiting
 * on the socket. A server restart or idle timeout shows up here as EOF, which
 * lets us reconnect before sending rather than lose a command to a dead socket. */
static int connection_fresh(sl_redis *r)
{
    redisContext *ctx = sl_redis_context(r);
    struct pollfd p;

    if (ctx == NULL || ctx->err != 0)
        return 0;
    p.fd = ctx->fd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, 0) == 0;
}

/* Write hiredis's output buffer. SIGPIPE is blocked in this thread meanwhile and
 * any SIGPIPE we raised is consumed, so a reset connection cannot kill the host
 * program. Returns 0 when all was written; else -1 with the reason in why and
 * *wrote_any telling whether any write(2) had succeeded (if not, nothing was sent)
 * and the connection dropped. */
static int flush_output(sluice_client *c, int *wrote_any, char *why, size_t whylen)
{
    redisContext *ctx = sl_redis_context(c->redis);
    sigset_t pipe_set, old_set, pending;
    int done = 0, calls = 0, rc = 0, was_pending;

    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    sigpending(&pending);
    was_pending = sigismember(&pending, SIGPIPE);
    while (!done) {
        if (redisBufferWrite(ctx, &done) != REDIS_OK) {
            snprintf(why, whylen, "redis %s: write failed: %s", sl_redis_name(c->redis),
                     ctx->errstr[0] ? ctx->errstr : "connection lost");
            rc = -1;
            break;
        }
        calls++;
    }
    if (!was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    *wrote_any = calls > 0;
    if (rc != 0)
        sl_redis_disconnect(c->redis); /* a partial command must never be completed */
    return rc;
}

/* Be connected with a fresh connection (one connect attempt). 0 or -1. */
static int ready(sluice_client *c)
{
    if (sl_redis_connected(c->redis) && connection_fresh(c->redis))
        return 0;
    if (sl_redis_connect(c->redis) != 0) {
        set_err(c, "%s", sl_redis_errstr(c->redis));
        return -1;
    }
    return 0;
}

/* Append XADDs for jobs[from..to) to hiredis's buffer. -1 on failure (dropped). */
static int append_chunk(sluice_client *c, const char *key, sl_job *jobs, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        char uuid[37];
        sl_xadd_args a;
        sl_job *j = &jobs[i];
        const char *corr = j->correlation_id;

        if (corr == NULL || corr[0] == '\0') {
            sl_uuid4(uuid);
            j->correlation_id = uuid;
        }
        j->enqueued_at_ms = sl_now_wall_ms();
        int rc = sl_codec_encode_xadd(key, j, &a);
        j->correlation_id = corr; /* uuid dies here; the append copied it */
        if (rc != 0 || sl_redis_append_argv(c->redis, a.argc, a.argv, a.lens) != 0) {
            set_err(c, "XADD %s: building the command failed: %s", key, sl_redis_errstr(c->redis));
            sl_redis_disconnect(c->redis);
            return -1;
        }
    }
    return 0;
}

/* Where a job's id goes: the i-th slot of ids (stride id_size), NULL if none. */
static char *id_slot(char *ids, size_t id_size, size_t i)
{
    return ids != NULL ? ids + i * id_size : NULL;
}

/*
 * Send jobs[0..n) (already prepared) in pipelined chunks and write each job id
 * (the job's own id if set, else the stream entry id) to its slot, or "" for a
 * job not confirmed. A chunk is sent again after one reconnect only if nothing
 * of it was written. An error reply stops after its chunk (replies are always
 * read to the end so the connection stays in step).
 * Returns the number of jobs confirmed; c->err is set when that is less than n.
 * *sent_any tells whether any byte may have reached Redis.
 */
static size_t send_jobs(sluice_client *c, const char *key, sl_job *jobs, size_t n, char *ids,
                        size_t id_size, const char *(*label)(char *, size_t, size_t), int *sent_any)
{
    size_t ok = 0;
    char where[48];

    *sent_any = 0;
    for (size_t i = 0; i < n; i++)
        if (ids != NULL)
            id_slot(ids, id_size, i)[0] = '\0';
    for (size_t from = 0; from < n;) {
        size_t to = from, bytes = 0;
        int failed_reply = 0;

        while (to < n && to - from < CHUNK_JOBS && bytes < CHUNK_BYTES)
            bytes += jobs[to++].payload_len;
        for (int attempt = 0;; attempt++) {
            char why[400];
            int wrote_any = 0;
            if (ready(c) != 0 || append_chunk(c, key, jobs, from, to) != 0)
                return ok;
            if (flush_output(c, &wrote_any, why, sizeof why) == 0)
                break;
            if (wrote_any) {
                *sent_any = 1;
                set_err(c, "%sconnection lost while sending; this job and later ones may or may "
                           "not have been enqueued: %s",
                        label(where, sizeof where, from), why);
                return ok;
            }
            if (attempt == 1) {
                set_err(c, "%snot sent: %s", label(where, sizeof where, from), why);
                return ok;
            }
        }
        *sent_any = 1;
        for (size_t i = from; i < to; i++) {
            redisReply *rep = sl_redis_get_reply(c->redis);
            if (rep == NULL) {
                set_err(c, "%sconnection lost before the reply; it and later jobs may or may not "
                           "have been enqueued: %s",
                        label(where, sizeof where, i), sl_redis_errstr(c->redis));
                return ok;
            }
            if (rep->type == REDIS_REPLY_STRING && rep->len < STREAM_ID_SIZE) {
                char *slot = id_slot(ids, id_size, i);
                if (slot != NULL) {
                    if (jobs[i].id != NULL && jobs[i].id[0] != '\0')
                        snprintf(slot, id_size, "%s", jobs[i].id);
                    else
                        snprintf(slot, id_size, "%.*s", (int)rep->len, rep->str);
                }
                ok++;
            } else if (!failed_reply) {
                failed_reply = 1;
                if (rep->type == REDIS_REPLY_ERROR)
                    set_err(c, "%sXADD %s failed: %.*s", label(where, sizeof where, i), key,
                            (int)(rep->len > 200 ? 200 : rep->len), rep->str);
                else
                    set_err(c, "%sXADD %s: unexpected reply type %d", label(where, sizeof where, i),
                            key, rep->type);
            }
            freeReplyObject(rep);
        }
        if (failed_reply)
            return ok;
        from = to;
    }
    return ok;
}

static const char *label_none(char *buf, size_t n, size_t i)
{
    (void)i;
    if (n > 0)
        buf[0] = '\0';
    return buf;
}

static const char *label_index(char *buf, size_t n, size_t i)
{
    snprintf(buf, n, "jobs[%zu]: ", i);
    return buf;
}

/* ---- Public entry points ---- */

int sluice_enqueue(sluice_client *c, const char *queue, const char *type, const char *payload,
                   size_t payload_len, const sluice_enqueue_opts *opts, char *id_out,
                   size_t id_out_len)
{
    sluice_job_spec spec = {type, payload, payload_len, opts};
    char key[SL_KEY_MAX];
    sl_job job;
    int sent_any;

    if (c == NULL)
        return -1;
    c->err[0] = '\0';
    if (check_queue(c, queue, key, sizeof key) != 0 || prepare(c, "", &spec, &job) != 0)
        return -1;
    if (id_out != NULL) {
        size_t need = job.id != NULL && job.id[0] != '\0' ? strlen(job.id) + 1 : STREAM_ID_SIZE;
        if (id_out_len < need) {
            set_err(c, "id_out_len %zu is too small for the job id (need %zu; SLUICE_ID_MAX always fits)",
                    id_out_len, need);
            return -1;
        }
    }
    return send_jobs(c, key, &job, 1, id_out, id_out_len, label_none, &sent_any) == 1 ? 0 : -1;
}

long sluice_enqueue_batch(sluice_client *c, const char *queue, const sluice_job_spec *jobs,
                          size_t n, char (*ids_out)[SLUICE_ID_MAX])
{
    char key[SL_KEY_MAX];
    char where[48];
    sl_job *prepared = NULL;
    long rc = -1;
    int sent_any = 0;

    if (c == NULL)
        return -1;
    c->err[0] = '\0';
    if (check_queue(c, queue, key, sizeof key) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (jobs == NULL || n > (size_t)(LONG_MAX / 2)) {
        set_err(c, "jobs is NULL or n is too large");
        return -1;
    }
    /* One allocation per batch (not per job) for the validated views. */
    prepared = malloc(n * sizeof *prepared);
    if (prepared == NULL) {
        set_err(c, "out of memory for %zu jobs", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        label_index(where, sizeof where, i);
        if (prepare(c, where, &jobs[i], &prepared[i]) != 0)
            goto done;
    }
    rc = (long)send_jobs(c, key, prepared, n, ids_out != NULL ? ids_out[0] : NULL, SLUICE_ID_MAX,
                         label_index, &sent_any);
    if (rc == 0 && !sent_any)
        rc = -1; /* nothing was sent: the caller may simply retry */

done:
    free(prepared);
    return rc;
}
