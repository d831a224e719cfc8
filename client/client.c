/* The producer API (include/sluice/client.h): validate jobs with the codec's
 * rules, then send them one at a time or pipelined in chunks: a plain XADD, or,
 * for delayed and idempotent jobs, an FCALL of the sluice function library
 * (common/functions.lua), loaded lazily once per connection. A command is
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

#include "common/cancel.h"
#include "common/codec.h"
#include "common/functions.h"
#include "common/keys.h"
#include "common/partition.h"
#include "common/redis.h"
#include "common/registry.h"
#include "common/trace.h"
#include "common/util.h"
#include "sluice/version.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"
#define DEFAULT_MAX_PAYLOAD (1024 * 1024)
/* A pipelined chunk ends after this many jobs or this many payload bytes,
 * whichever comes first, bounding the memory hiredis buffers per round trip. */
#define CHUNK_JOBS 1000
#define CHUNK_BYTES (8u * 1024 * 1024)
/* Within a chunk, the commands are written every this many jobs (send_part). */
#define SEND_STEP 128
/* Queues whose partition count (sluice:{Q}:partitions) a client remembers,
 * and for how long (ms): a changed count is picked up within that time. */
#define PART_CACHE 8
#define PART_CACHE_MS 1000
/* Longest stream entry id ("<20 digits>-<20 digits>") plus its NUL. */
#define STREAM_ID_SIZE 42
/* Room for any id an idempotent enqueue may return: the first job's id, which
 * can be any valid job id (longer than a stream id). */
#define ANY_ID_SIZE (SL_CODEC_TEXT_MAX + 1)
/* Room for "sluice:{Q}:idem:K". */
#define IDEM_KEY_SIZE (SL_KEY_MAX + SLUICE_IDEMPOTENCY_KEY_MAX)
/* Latest due time and longest delay accepted (ms): 9999-12-31, the codec's
 * enqueued_at limit; it keeps now + delay exact in Lua's doubles. */
#define TIME_MAX_MS ((uint64_t)SL_CODEC_ENQUEUED_AT_MAX)

struct sluice_client {
    sl_redis *redis;
    size_t max_payload;
    int wait_replicas; /* redis.wait_replicas for enqueues (0: none) */
    int64_t wait_timeout_ms;
    int functions_ok; /* the function library was checked on this connection */
    unsigned char *dup; /* dup[i]: job i of the last call was an idempotency duplicate */
    size_t dup_cap;
    size_t dup_n; /* jobs of the last call covered by dup (0: no idempotent job) */
    size_t ndup; /* duplicates in the last call */
    sl_registry_cache *schemas; /* NULL: skip_schema */
    long refused; /* index of the job a batch refused before sending, or -1 */
    sl_part_rr rr; /* the spread of jobs without a key over partitions */
    struct {
        char queue[SL_PARTITION_NAME_MAX];
        int n; /* its partition count */
        int64_t read_ms; /* when it was read (CLOCK_MONOTONIC); 0: free */
    } parts[PART_CACHE];
    char cancel_state[16]; /* sluice_cancel_last_state */
    char err[1024];
};

/* How a prepared job is sent. */
typedef enum send_kind {
    SEND_XADD, /* XADD sluice:{Q} * ...: the fast path */
    SEND_SCHEDULE, /* FCALL sluice_schedule: delayed, no idempotency key */
    SEND_IDEM /* FCALL sluice_enqueue: idempotency key, now or delayed */
} send_kind;

/* A validated job and how to send it. */
typedef struct prepared {
    sl_job job; /* correlation_id (if absent) and enqueued_at are set at send time */
    send_kind kind;
    const char *mode; /* "" (now), "in" (after ms) or "at" (at epoch ms) */
    uint64_t ms;
    const char *idem_key; /* SEND_IDEM: the caller's key */
    const char *part_key; /* the caller's partition_key, NULL if none */
    int part; /* the partition it goes to (0 for a queue of one) */
    int unique; /* SEND_IDEM: unique until done (sluice_enqueue_unique) */
    uint32_t ttl_s; /* SEND_IDEM: seconds */
    char gen_id[37]; /* the id made for a delayed job without job_id (job.id points here) */
} prepared;

/* The keys of one queue a call may write. */
typedef struct queue_keys {
    const char *queue;
    int nparts; /* its partition count (1 until queue_partitions read it) */
    char stream[SL_KEY_MAX]; /* sluice:{Q} */
    char sched[SL_KEY_MAX]; /* sluice:{Q}:sched */
} queue_keys;

/* The keys of partition part of k (k's own for a queue of one partition):
 * name ("Q" or "Q#i"), stream and sched, each SL_KEY_MAX bytes. 0 or -1. */
static int part_keys(const queue_keys *k, int part, char *name, char *stream, char *sched)
{
    if (k->nparts <= 1) {
        memcpy(stream, k->stream, sizeof k->stream);
        memcpy(sched, k->sched, sizeof k->sched);
        return sl_fmt(name, SL_KEY_MAX, "%s", k->queue);
    }
    return sl_part_name(name, SL_KEY_MAX, k->queue, k->nparts, part) != 0 ||
                   sl_key_stream(stream, SL_KEY_MAX, name) != 0 || sl_key_sched(sched, SL_KEY_MAX, name) != 0
               ? -1
               : 0;
}

/* The stream job p goes to, for messages (a buffer of the calling thread). */
static const char *stream_of(const queue_keys *k, const prepared *p)
{
    static _Thread_local char name[SL_KEY_MAX], stream[SL_KEY_MAX], sched[SL_KEY_MAX];

    if (k->nparts <= 1 || part_keys(k, p->part, name, stream, sched) != 0)
        return k->stream;
    return stream;
}

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

int sluice_enqueue_last_was_duplicate(const sluice_client *c)
{
    return c != NULL && c->ndup > 0;
}

int sluice_enqueue_batch_was_duplicate(const sluice_client *c, size_t i)
{
    return c != NULL && i < c->dup_n && c->dup[i] != 0;
}

long sluice_enqueue_batch_refused_index(const sluice_client *c)
{
    return c != NULL ? c->refused : -1;
}

/* Defaults of the WAIT options from $SLUICE_REDIS_WAIT_REPLICAS and
 * $SLUICE_REDIS_WAIT_TIMEOUT (as redis.wait_* in the config). 0, or -1 with msg. */
static int wait_env(int *replicas, int64_t *timeout_ms, char *msg, size_t n)
{
    const char *r = getenv("SLUICE_REDIS_WAIT_REPLICAS"), *t = getenv("SLUICE_REDIS_WAIT_TIMEOUT");
    if (*replicas == 0 && r != NULL && r[0] != '\0') {
        char *end;
        long v = strtol(r, &end, 10);
        if (*end != '\0' || v < 0 || v > 64) {
            snprintf(msg, n, "SLUICE_REDIS_WAIT_REPLICAS: expected an integer in 0..64");
            return -1;
        }
        *replicas = (int)v;
    }
    if (*timeout_ms == 0 && t != NULL && t[0] != '\0' &&
        (sl_parse_duration_ms(t, timeout_ms) != 0 || *timeout_ms < 1 || *timeout_ms > 600000)) {
        snprintf(msg, n, "SLUICE_REDIS_WAIT_TIMEOUT: expected a duration of 1ms..10m (e.g. 500ms)");
        return -1;
    }
    if (*replicas < 0 || *replicas > 64) {
        snprintf(msg, n, "wait_replicas: expected 0..64");
        return -1;
    }
    if (*timeout_ms == 0)
        *timeout_ms = 1000;
    return 0;
}

/* After a call confirmed `ok` jobs: with wait_replicas, WAIT for them (on every
 * master written to). Returns ok, or 0 with c->err set when the replicas did
 * not confirm in time: the jobs are on the master but not confirmed. */
static size_t confirm_replicas(sluice_client *c, size_t ok, char *ids, size_t id_size, size_t n)
{
    char why[512];
    if (c->wait_replicas <= 0 || ok == 0)
        return ok;
    if (sl_redis_wait(c->redis, c->wait_replicas, c->wait_timeout_ms, why, sizeof why) == 0)
        return ok;
    set_err(c, "enqueued on the master but %s", why);
    for (size_t i = 0; ids != NULL && i < n; i++)
        ids[i * id_size] = '\0';
    return 0;
}

sluice_client *sluice_client_new(const char *url, const sluice_client_opts *opts, char *err, size_t errlen)
{
    sluice_client *c = NULL;
    sl_redis_opts ropts = {0};
    size_t max_payload = DEFAULT_MAX_PAYLOAD;
    int skip_schema = 0, wait_replicas = 0;
    int64_t wait_timeout_ms = 0;
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
        if (HAS_MEMBER(opts, sluice_client_opts, skip_schema))
            skip_schema = opts->skip_schema != 0;
        if (HAS_MEMBER(opts, sluice_client_opts, wait_replicas))
            wait_replicas = opts->wait_replicas;
        if (HAS_MEMBER(opts, sluice_client_opts, wait_timeout_ms))
            wait_timeout_ms = opts->wait_timeout_ms;
    }
    if (wait_env(&wait_replicas, &wait_timeout_ms, msg, sizeof msg) != 0)
        goto fail;
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        snprintf(msg, sizeof msg, "sluice_client_new: out of memory");
        goto fail;
    }
    c->max_payload = max_payload;
    c->wait_replicas = wait_replicas;
    c->wait_timeout_ms = wait_timeout_ms;
    c->refused = -1;
    c->redis = sl_redis_new(url, &ropts, msg, sizeof msg);
    if (c->redis == NULL)
        goto fail;
    if (!skip_schema && (c->schemas = sl_registry_cache_new(c->redis)) == NULL) {
        snprintf(msg, sizeof msg, "sluice_client_new: out of memory");
        goto fail;
    }
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
    sl_registry_cache_free(c->schemas);
    sl_redis_free(c->redis);
    free(c->dup);
    free(c);
}

/* ---- Validation ---- */

/* 1 if s is an idempotency key: 1..SLUICE_IDEMPOTENCY_KEY_MAX bytes of
 * [A-Za-z0-9_.:-] (safe in a key name, a log line and a shell). */
static int valid_idem_key(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++) {
        char ch = s[n];
        if (n >= SLUICE_IDEMPOTENCY_KEY_MAX)
            return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == ':' || ch == '-'))
            return 0;
    }
    return n > 0;
}

/* Check the delivery options (delay, due time, idempotency) and set how p is
 * sent. delayed jobs get a job id here (job_id, else a new UUID) so a resend
 * after a reconnect carries the same one. Returns 0 or -1 with c->err set. */
static int prepare_delivery(sluice_client *c, const char *where, const sluice_enqueue_opts *o, prepared *p)
{
    uint64_t delay_ms = 0, at_ms = 0;
    char q[SL_JSON_QUOTE_SIZE];

    p->kind = SEND_XADD;
    p->mode = "";
    if (o == NULL)
        return 0;
    if (HAS_MEMBER(o, sluice_enqueue_opts, delay_ms))
        delay_ms = o->delay_ms;
    if (HAS_MEMBER(o, sluice_enqueue_opts, at_ms))
        at_ms = o->at_ms;
    if (HAS_MEMBER(o, sluice_enqueue_opts, idempotency_key) && o->idempotency_key != NULL &&
        o->idempotency_key[0] != '\0')
        p->idem_key = o->idempotency_key;
    if (HAS_MEMBER(o, sluice_enqueue_opts, idempotency_ttl_s))
        p->ttl_s = o->idempotency_ttl_s;
    if (HAS_MEMBER(o, sluice_enqueue_opts, partition_key) && o->partition_key != NULL && o->partition_key[0] != '\0')
        p->part_key = o->partition_key;
    if (HAS_MEMBER(o, sluice_enqueue_opts, unique))
        p->unique = o->unique != 0;
    if (p->unique && p->idem_key == NULL) {
        set_err(c, "%sunique needs an idempotency_key", where);
        return -1;
    }

    if (delay_ms != 0 && at_ms != 0) {
        set_err(c, "%sdelay_ms and at_ms are both set (use one)", where);
        return -1;
    }
    if (delay_ms > TIME_MAX_MS || at_ms > TIME_MAX_MS) {
        set_err(c, "%s%s %llu is too large (at most %llu)", where, delay_ms != 0 ? "delay_ms" : "at_ms",
                (unsigned long long)(delay_ms != 0 ? delay_ms : at_ms), (unsigned long long)TIME_MAX_MS);
        return -1;
    }
    if (p->idem_key != NULL && !valid_idem_key(p->idem_key)) {
        sl_json_quote(q, sizeof q, p->idem_key, strlen(p->idem_key));
        set_err(c, "%sinvalid idempotency_key %s (expected [A-Za-z0-9_.:-]{1,%d})", where, q,
                SLUICE_IDEMPOTENCY_KEY_MAX);
        return -1;
    }
    if (delay_ms != 0 || at_ms != 0) {
        p->kind = SEND_SCHEDULE;
        p->mode = delay_ms != 0 ? "in" : "at";
        p->ms = delay_ms != 0 ? delay_ms : at_ms;
        if (p->job.id == NULL || p->job.id[0] == '\0') {
            sl_uuid4(p->gen_id);
            p->job.id = p->gen_id;
        }
    }
    if (p->idem_key != NULL) {
        p->kind = SEND_IDEM;
        if (p->ttl_s == 0)
            p->ttl_s = SLUICE_IDEMPOTENCY_TTL_DEFAULT;
    }
    return 0;
}

/* Check one job and fill *p with everything but correlation_id and
 * enqueued_at (set at send time). where is "" or "jobs[N]: " for messages. */
static int prepare(sluice_client *c, const char *where, const sluice_job_spec *spec, prepared *p)
{
    const sluice_enqueue_opts *o = spec->opts;
    sl_job *job = &p->job;
    char q[SL_JSON_QUOTE_SIZE];
    char msg[400];

    memset(p, 0, sizeof *p);
    if (spec->type == NULL) {
        set_err(c, "%stype is NULL", where);
        return -1;
    }
    job->type = spec->type;
    job->type_len = strlen(spec->type);
    if (!sl_valid_type(job->type, job->type_len)) {
        sl_json_quote(q, sizeof q, job->type, job->type_len);
        set_err(c, "%sinvalid type %s (expected [a-z0-9_.-]{1,128})", where, q);
        return -1;
    }
    job->payload = spec->payload;
    job->payload_len = spec->payload != NULL && spec->payload_len == 0 ? strlen(spec->payload) : spec->payload_len;
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
    }
    if (prepare_delivery(c, where, o, p) != 0)
        return -1;
    if (sl_codec_check_job(job, c->max_payload, msg, sizeof msg) != SL_CODEC_OK) {
        set_err(c, "%s%s", where, msg);
        return -1;
    }
    return 0;
}

static int check_queue(sluice_client *c, const char *queue, queue_keys *k)
{
    char q[SL_JSON_QUOTE_SIZE];

    if (queue == NULL || !sl_valid_name(queue)) {
        if (queue == NULL)
            snprintf(q, sizeof q, "NULL");
        else
            sl_json_quote(q, sizeof q, queue, strlen(queue));
        set_err(c, "invalid queue name %s (expected [A-Za-z0-9_.-]{1,64})", q);
        return -1;
    }
    k->queue = queue;
    k->nparts = 1;
    if (sl_key_stream(k->stream, sizeof k->stream, queue) != 0 || sl_key_sched(k->sched, sizeof k->sched, queue) != 0) {
        set_err(c, "queue name \"%s\" makes too long a key", queue);
        return -1;
    }
    return 0;
}

/* Start a call: clear the error and the duplicate marks, and make room to mark
 * duplicates among n jobs when any job has an idempotency key. 0 or -1. */
static int begin_call(sluice_client *c, const prepared *jobs, size_t n)
{
    int any_idem = 0;

    for (size_t i = 0; i < n && !any_idem; i++)
        any_idem = jobs[i].kind == SEND_IDEM;
    c->ndup = 0;
    c->dup_n = 0;
    if (!any_idem)
        return 0;
    if (c->dup_cap < n) {
        size_t cap = n < 64 ? 64 : n;
        unsigned char *d = realloc(c->dup, cap);
        if (d == NULL) {
            set_err(c, "out of memory for %zu jobs", n);
            return -1;
        }
        c->dup = d;
        c->dup_cap = cap;
    }
    memset(c->dup, 0, n);
    c->dup_n = n;
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

/* SIGPIPE is blocked in this thread while we write to Redis, and any SIGPIPE we
 * raised is consumed, so a reset connection cannot kill the host program
 * (hiredis writes with write(2)). */
typedef struct pipe_guard {
    sigset_t set, old;
    int was_pending;
} pipe_guard;

static void pipe_block(pipe_guard *g)
{
    sigset_t pending;

    sigemptyset(&g->set);
    sigaddset(&g->set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
}

static void pipe_restore(pipe_guard *g)
{
    if (!g->was_pending) {
        static const struct timespec zero = {0, 0};
        while (sigtimedwait(&g->set, NULL, &zero) > 0)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Write hiredis's output buffer under a pipe_guard. Returns 0 when all was
 * written; else -1 with the reason in why and *wrote_any telling whether any
 * write(2) had succeeded (if not, nothing was sent) and the connection dropped. */
static int flush_output(sluice_client *c, int *wrote_any, char *why, size_t whylen)
{
    redisContext *ctx = sl_redis_context(c->redis);
    pipe_guard g;
    int done = 0, calls = 0, rc = 0;

    pipe_block(&g);
    while (!done) {
        if (redisBufferWrite(ctx, &done) != REDIS_OK) {
            snprintf(why, whylen, "redis %s: write failed: %s", sl_redis_name(c->redis),
                     ctx->errstr[0] ? ctx->errstr : "connection lost");
            rc = -1;
            break;
        }
        calls++;
    }
    pipe_restore(&g);
    *wrote_any = calls > 0;
    if (rc != 0)
        sl_redis_disconnect(c->redis); /* a partial command must never be completed */
    return rc;
}

/* Be connected with a fresh connection (one connect attempt). 0 or -1. A new
 * connection has not checked the function library yet. */
static int ready(sluice_client *c)
{
    if (sl_redis_connected(c->redis) && connection_fresh(c->redis))
        return 0;
    c->functions_ok = 0;
    if (sl_redis_connect(c->redis) != 0) {
        set_err(c, "%s", sl_redis_errstr(c->redis));
        return -1;
    }
    return 0;
}

/* Load the function library unless this connection has already checked it.
 * Runs before any job of the chunk is written. 0, or -1 with c->err set. */
static int functions_ready(sluice_client *c)
{
    char why[400];
    pipe_guard g;
    int rc;

    if (c->functions_ok)
        return 0;
    pipe_block(&g);
    rc = sl_functions_ensure(c->redis, why, sizeof why);
    pipe_restore(&g);
    if (rc != 0) {
        set_err(c, "loading the sluice function library failed: %s", why);
        return -1;
    }
    c->functions_ok = 1;
    return 0;
}

/* Validate each payload against the registered schema of its type (cached; see
 * registry.h). where(i) labels job i in messages. 0, or -1 with c->err set and
 * c->refused the index of the first job refused. */
static int check_schemas(sluice_client *c, const prepared *jobs, size_t n, const char *(*label)(char *, size_t, size_t))
{
    char where[48];

    if (c->schemas == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const sl_job *j = &jobs[i].job;
        sl_schema_error e;
        int rc;

        if (i == 0 && ready(c) != 0)
            return -1;
        rc = sl_registry_validate(c->schemas, j->type, j->payload, j->payload_len, &e);
        if (rc == 1 || rc == 2)
            continue;
        label(where, sizeof where, i);
        if (rc == 0)
            set_err(c, "%spayload violates schema %s at %s: %s (%s)", where, j->type, sl_compat_where(e.pointer),
                    e.keyword, e.message);
        else
            set_err(c, "%scannot validate the payload against the schema of %s: %s", where, j->type, e.message);
        c->refused = (long)i;
        return -1;
    }
    return 0;
}

static const char *command_name(const prepared *p)
{
    switch (p->kind) {
    case SEND_SCHEDULE:
        return "FCALL sluice_schedule";
    case SEND_IDEM:
        return p->unique ? "FCALL sluice_enqueue_unique" : "FCALL sluice_enqueue";
    default:
        return "XADD";
    }
}

/* Append the command for one job to hiredis's buffer:
 *   XADD sluice:{Q} * <fields>
 *   FCALL sluice_schedule 2 sluice:{Q} sluice:{Q}:sched in|at <ms> <fields>
 *   FCALL sluice_enqueue 3 sluice:{Q} sluice:{Q}:idem:<K> sluice:{Q}:sched <ttl> ""|in|at <ms> <fields>
 *   (FCALL sluice_enqueue_unique: the same arguments, for a unique job)
 * Returns 0, or -1 with c->err set and the connection dropped. */
static int append_job(sluice_client *c, const queue_keys *k, prepared *p, int64_t now_ms)
{
    enum { PREFIX_MAX = 9 };
    const char *argv[SL_CODEC_MAX_ARGS + PREFIX_MAX];
    size_t lens[SL_CODEC_MAX_ARGS + PREFIX_MAX];
    char uuid[37], ms[24], ttl[16], idem[IDEM_KEY_SIZE], name[SL_KEY_MAX], stream[SL_KEY_MAX], sched[SL_KEY_MAX];
    sl_xadd_args a;
    sl_job *j = &p->job;
    const char *corr = j->correlation_id;
    int argc = 0, rc;

    if (corr == NULL || corr[0] == '\0') {
        sl_uuid4(uuid);
        j->correlation_id = uuid;
    }
    /* The first publish of a request starts its W3C trace. */
    char tp[SL_TRACE_SIZE];
    const char *trace = j->traceparent;
    if ((trace == NULL || trace[0] == '\0') && sl_trace_new(tp) == 0)
        j->traceparent = tp;
    j->enqueued_at_ms = now_ms;
    rc = part_keys(k, p->part, name, stream, sched) != 0 ? -1 : sl_codec_encode_xadd(stream, j, &a);
    /* a.argv still points at uuid and tp, alive until we return; restore the
     * job's own values, since a resend after a reconnect re-encodes it. */
    j->correlation_id = corr;
    j->traceparent = trace;
    if (rc != 0)
        goto fail;
    if (p->kind == SEND_XADD) {
        if (sl_redis_append_argv(c->redis, a.argc, a.argv, a.lens) != 0)
            goto fail;
        return 0;
    }
    argv[argc++] = "FCALL";
    if (p->kind == SEND_SCHEDULE) {
        argv[argc++] = "sluice_schedule";
        argv[argc++] = "2";
        argv[argc++] = stream;
        argv[argc++] = sched;
    } else {
        if (sl_key_idem(idem, sizeof idem, name, p->idem_key) != 0)
            goto fail;
        snprintf(ttl, sizeof ttl, "%u", (unsigned)p->ttl_s);
        argv[argc++] = p->unique ? "sluice_enqueue_unique" : "sluice_enqueue";
        argv[argc++] = "3";
        argv[argc++] = stream;
        argv[argc++] = idem;
        argv[argc++] = sched;
        argv[argc++] = ttl;
    }
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)p->ms);
    argv[argc++] = p->mode;
    argv[argc++] = ms;
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    for (int i = 3; i < a.argc; i++) { /* the fields: a.argv is XADD <key> * <fields> */
        argv[argc] = a.argv[i];
        lens[argc++] = a.lens[i];
    }
    if (sl_redis_append_argv(c->redis, argc, argv, lens) != 0)
        goto fail;
    return 0;

fail:
    set_err(c, "%s %s: building the command failed: %s", command_name(p), stream_of(k, p), sl_redis_errstr(c->redis));
    sl_redis_disconnect(c->redis);
    return -1;
}

/* Where a job's id goes: the i-th slot of ids (stride id_size), NULL if none. */
static char *id_slot(char *ids, size_t id_size, size_t i)
{
    return ids != NULL ? ids + i * id_size : NULL;
}

/* What the reply to one job's command said. */
typedef enum reply_outcome {
    REPLY_OK, /* enqueued or scheduled */
    REPLY_DUPLICATE, /* idempotency key already used: nothing enqueued */
    REPLY_NO_LIBRARY, /* the function library is gone (FUNCTION FLUSH?): nothing ran */
    REPLY_FAILED /* error or unexpected reply; the reason is in why */
} reply_outcome;

/* Check the reply to job p's command and write the job id to slot (may be NULL;
 * slot_size bytes): the job's own id if set, else the one Redis returned (the
 * stream entry id, or the first job's id for a duplicate). */
static reply_outcome take_reply(const queue_keys *k, const prepared *p, const redisReply *rep, char *slot,
                                size_t slot_size, char *why, size_t whylen)
{
    const char *id = NULL;
    size_t id_len = 0;
    reply_outcome out = REPLY_OK;

    if (rep->type == REDIS_REPLY_ERROR) {
        if (p->kind != SEND_XADD && sl_functions_missing(rep))
            return REPLY_NO_LIBRARY;
        snprintf(why, whylen, "%s %s failed: %.*s", command_name(p), stream_of(k, p),
                 (int)(rep->len > 200 ? 200 : rep->len), rep->str);
        return REPLY_FAILED;
    }
    if (p->kind == SEND_XADD && rep->type == REDIS_REPLY_STRING && rep->len < STREAM_ID_SIZE) {
        id = p->job.id != NULL && p->job.id[0] != '\0' ? p->job.id : rep->str;
        id_len = strlen(id);
    } else if (p->kind == SEND_SCHEDULE && rep->type == REDIS_REPLY_STRING) {
        id = rep->str;
        id_len = rep->len;
    } else if (p->kind == SEND_IDEM && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
               rep->element[0]->type == REDIS_REPLY_STRING && rep->element[1]->type == REDIS_REPLY_INTEGER) {
        id = rep->element[0]->str;
        id_len = rep->element[0]->len;
        if (rep->element[1]->integer == 0)
            out = REPLY_DUPLICATE;
    }
    if (id == NULL) {
        snprintf(why, whylen, "%s %s: unexpected reply type %d", command_name(p), stream_of(k, p), rep->type);
        return REPLY_FAILED;
    }
    if (slot != NULL) {
        if (id_len >= slot_size) {
            snprintf(why, whylen, "%s %s: the job id returned is %zu bytes, more than the id buffer holds",
                     command_name(p), stream_of(k, p), id_len);
            return REPLY_FAILED;
        }
        memcpy(slot, id, id_len);
        slot[id_len] = '\0';
    }
    return out;
}

/* Result of sending one part of a chunk. */
typedef enum part_status {
    PART_DONE, /* every reply read (some may have failed: see *failed) */
    PART_STOPPED /* not sent, or the connection was lost: stop the batch */
} part_status;

/* The jobs and output of one send_jobs call. */
typedef struct batch {
    const queue_keys *k;
    prepared *jobs;
    char *ids;
    size_t id_size;
    const char *(*label)(char *, size_t, size_t);
    size_t ok; /* jobs confirmed so far */
    int sent_any; /* any byte may have reached Redis */
    int failed; /* an error reply was seen (c->err holds the first) */
} batch;

/* Read the replies of jobs [first, last) of the part that starts at from (want
 * and no_lib are indexed from there), in order. Returns last, or the index of
 * the job whose reply was lost (c->err set; the connection is gone). */
static size_t read_replies(sluice_client *c, batch *b, size_t from, size_t first, size_t last,
                           const unsigned char *want, unsigned char *no_lib, size_t *n_no_lib)
{
    char where[48], why[400];

    for (size_t i = first; i < last; i++) {
        redisReply *rep;

        if (want != NULL && !want[i - from])
            continue;
        rep = sl_redis_get_reply(c->redis);
        if (rep == NULL) {
            set_err(c,
                    "%sconnection lost before the reply; it and later jobs may or may not have been "
                    "enqueued: %s",
                    b->label(where, sizeof where, i), sl_redis_errstr(c->redis));
            return i;
        }
        switch (take_reply(b->k, &b->jobs[i], rep, id_slot(b->ids, b->id_size, i), b->id_size, why, sizeof why)) {
        case REPLY_DUPLICATE:
            c->ndup++;
            if (i < c->dup_n)
                c->dup[i] = 1;
            /* fall through */
        case REPLY_OK:
            b->ok++;
            break;
        case REPLY_NO_LIBRARY:
            c->functions_ok = 0;
            no_lib[i - from] = 1;
            (*n_no_lib)++;
            break;
        case REPLY_FAILED:
            if (!b->failed)
                set_err(c, "%s%s", b->label(where, sizeof where, i), why);
            b->failed = 1;
            break;
        }
        freeReplyObject(rep);
    }
    return last;
}

/*
 * Send jobs[from..to) of the batch — only those with want[i - from] set when
 * want is non-NULL — and read every reply. Confirmed jobs get their id and
 * count in b->ok. Jobs whose FCALL found no function library ran nothing; they
 * are marked in no_lib[i - from] (*n_no_lib counts them) for one resend. The
 * part is sent again after one reconnect only if nothing of it was written.
 *
 * The commands are written every SEND_STEP jobs, and after each write the
 * replies of the step before are read: Redis runs one step while the client
 * encodes the next and parses the last, instead of waiting for each other.
 */
static part_status send_part(sluice_client *c, batch *b, size_t from, size_t to, const unsigned char *want,
                             unsigned char *no_lib, size_t *n_no_lib)
{
    char where[48];
    int needs_library = 0;
    size_t replied = from; /* replies read for [from, replied) */

    *n_no_lib = 0;
    for (size_t i = from; i < to; i++) {
        no_lib[i - from] = 0;
        if ((want == NULL || want[i - from]) && b->jobs[i].kind != SEND_XADD)
            needs_library = 1;
    }
    for (int attempt = 0;; attempt++) {
        char why[400];
        int wrote_any = 0, failed = 0;
        size_t step = 0, step_start = from;
        /* enqueued_at: one clock read per SEND_STEP jobs (they leave together) */
        int64_t now_ms = sl_now_wall_ms();

        if (ready(c) != 0 || (needs_library && functions_ready(c) != 0))
            return PART_STOPPED;
        for (size_t i = from; i < to && !failed; i++) {
            if (want != NULL && !want[i - from])
                continue;
            if (append_job(c, b->k, &b->jobs[i], now_ms) != 0)
                return PART_STOPPED;
            if (++step == SEND_STEP && i + 1 < to) {
                int wrote = 0;
                step = 0;
                now_ms = sl_now_wall_ms();
                failed = flush_output(c, &wrote, why, sizeof why) != 0;
                wrote_any |= wrote;
                if (failed)
                    break;
                b->sent_any = 1;
                if (read_replies(c, b, from, replied, step_start, want, no_lib, n_no_lib) != step_start)
                    return PART_STOPPED;
                replied = step_start;
                step_start = i + 1;
            }
        }
        if (!failed) {
            int wrote = 0;
            failed = flush_output(c, &wrote, why, sizeof why) != 0;
            wrote_any |= wrote;
        }
        if (!failed)
            break;
        if (wrote_any) {
            b->sent_any = 1;
            set_err(c,
                    "%sconnection lost while sending; this job and later ones may or may not have "
                    "been enqueued: %s",
                    b->label(where, sizeof where, replied), why);
            return PART_STOPPED;
        }
        if (attempt == 1) {
            set_err(c, "%snot sent: %s", b->label(where, sizeof where, from), why);
            return PART_STOPPED;
        }
    }
    b->sent_any = 1;
    return read_replies(c, b, from, replied, to, want, no_lib, n_no_lib) == to ? PART_DONE : PART_STOPPED;
}

/*
 * Send b->jobs[0..n) (already prepared) in pipelined chunks and write each job
 * id to its slot, or "" for a job not confirmed. An error reply stops after its
 * chunk (replies are always read to the end so the connection stays in step).
 * Jobs refused because the function library had vanished (FUNCTION FLUSH while
 * connected) ran nothing, so they are resent once after reloading it.
 * c->err is set when fewer than n are confirmed.
 */
static void send_jobs(sluice_client *c, batch *b, size_t n)
{
    unsigned char no_lib[CHUNK_JOBS], again[CHUNK_JOBS];
    char where[48];

    for (size_t i = 0; b->ids != NULL && i < n; i++)
        id_slot(b->ids, b->id_size, i)[0] = '\0';
    for (size_t from = 0; from < n;) {
        size_t to = from, bytes = 0, n_no_lib = 0;

        while (to < n && to - from < CHUNK_JOBS && bytes < CHUNK_BYTES)
            bytes += b->jobs[to++].job.payload_len;
        if (send_part(c, b, from, to, NULL, no_lib, &n_no_lib) != PART_DONE)
            return;
        if (n_no_lib > 0 && !b->failed) {
            memcpy(again, no_lib, to - from);
            if (send_part(c, b, from, to, again, no_lib, &n_no_lib) != PART_DONE)
                return;
            for (size_t i = from; n_no_lib > 0 && !b->failed && i < to; i++) {
                if (no_lib[i - from]) {
                    set_err(c, "%s%s %s failed: the sluice function library is missing right after loading it",
                            b->label(where, sizeof where, i), command_name(&b->jobs[i]), stream_of(b->k, &b->jobs[i]));
                    b->failed = 1;
                }
            }
        }
        if (b->failed || n_no_lib > 0)
            return;
        from = to;
    }
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

/* ---- Partitions ---- */

/* The partition count of k's queue into k->nparts: from the cache when read
 * within PART_CACHE_MS, else GET sluice:{Q}:partitions (absent: 1). Then
 * each of jobs[0..n) gets its partition (sl_part_pick) and, in a partitioned
 * queue, an id when it has none. 0, or -1 with c->err set (nothing sent). */
static int queue_partitions(sluice_client *c, queue_keys *k, prepared *jobs, size_t n)
{
    int64_t now = sl_now_mono_ms();
    size_t slot = 0;
    char key[SL_KEY_MAX];

    for (size_t i = 0; i < PART_CACHE; i++) {
        if (c->parts[i].read_ms != 0 && strcmp(c->parts[i].queue, k->queue) == 0) {
            slot = i;
            break;
        }
        if (c->parts[i].read_ms < c->parts[slot].read_ms)
            slot = i; /* the oldest (or a free one) makes room */
    }
    if (c->parts[slot].read_ms == 0 || strcmp(c->parts[slot].queue, k->queue) != 0 ||
        now - c->parts[slot].read_ms >= PART_CACHE_MS) {
        redisReply *r = NULL;
        int count = -1;
        if (sl_key_partitions(key, sizeof key, k->queue) != 0)
            return -1;
        for (int attempt = 0; r == NULL && attempt < 2; attempt++) /* once more after a lost connection */
            if (ready(c) == 0)
                r = sl_redis_cmd(c->redis, "GET %s", key);
        if (r == NULL) {
            set_err(c, "GET %s failed: %s", key, sl_redis_errstr(c->redis));
            return -1;
        }
        if (r->type == REDIS_REPLY_NIL)
            count = 1;
        else if (r->type == REDIS_REPLY_STRING)
            count = sl_part_parse_count(r->str, r->len);
        if (count < 0)
            set_err(c, "GET %s: %s", key,
                    r->type == REDIS_REPLY_ERROR ? r->str : "not a partition count (expected 1..1024)");
        freeReplyObject(r);
        if (count < 0)
            return -1;
        snprintf(c->parts[slot].queue, sizeof c->parts[slot].queue, "%s", k->queue);
        c->parts[slot].n = count;
        c->parts[slot].read_ms = now > 0 ? now : 1;
    }
    k->nparts = c->parts[slot].n;
    for (size_t i = 0; i < n; i++) {
        jobs[i].part = sl_part_pick(k->nparts, jobs[i].idem_key, jobs[i].part_key, &c->rr);
        /* Stream entry ids are unique per stream only: in a partitioned queue
         * every job carries an id of its own (a UUID unless given). */
        if (k->nparts > 1 && (jobs[i].job.id == NULL || jobs[i].job.id[0] == '\0')) {
            sl_uuid4(jobs[i].gen_id);
            jobs[i].job.id = jobs[i].gen_id;
        }
    }
    return 0;
}

/* ---- Public entry points ---- */

/* Forget the previous call's error, duplicate flags and refused index. */
static void reset_call(sluice_client *c)
{
    c->err[0] = '\0';
    c->ndup = 0;
    c->dup_n = 0;
    c->refused = -1;
}

int sluice_enqueue(sluice_client *c, const char *queue, const char *type, const char *payload, size_t payload_len,
                   const sluice_enqueue_opts *opts, char *id_out, size_t id_out_len)
{
    sluice_job_spec spec = {type, payload, payload_len, opts};
    queue_keys k;
    prepared job;
    batch b;

    if (c == NULL)
        return -1;
    reset_call(c);
    if (check_queue(c, queue, &k) != 0 || prepare(c, "", &spec, &job) != 0)
        return -1;
    if (id_out != NULL) {
        size_t need = job.job.id != NULL && job.job.id[0] != '\0' ? strlen(job.job.id) + 1 : STREAM_ID_SIZE;
        if (job.kind == SEND_IDEM && need < ANY_ID_SIZE)
            need = ANY_ID_SIZE; /* a duplicate returns the first job's id */
        if (id_out_len < need) {
            set_err(c, "id_out_len %zu is too small for the job id (need %zu; SLUICE_ID_MAX always fits)", id_out_len,
                    need);
            return -1;
        }
    }
    if (check_schemas(c, &job, 1, label_none) != 0 || queue_partitions(c, &k, &job, 1) != 0 ||
        begin_call(c, &job, 1) != 0)
        return -1;
    b = (batch){.k = &k, .jobs = &job, .ids = id_out, .id_size = id_out_len, .label = label_none};
    send_jobs(c, &b, 1);
    return confirm_replicas(c, b.ok, id_out, id_out_len, 1) == 1 ? 0 : -1;
}

long sluice_enqueue_batch(sluice_client *c, const char *queue, const sluice_job_spec *jobs, size_t n,
                          char (*ids_out)[SLUICE_ID_MAX])
{
    queue_keys k;
    char where[48];
    prepared *prepared_jobs = NULL;
    batch b;
    long rc = -1;

    if (c == NULL)
        return -1;
    reset_call(c);
    if (check_queue(c, queue, &k) != 0)
        return -1;
    if (n == 0)
        return 0;
    if (jobs == NULL || n > (size_t)(LONG_MAX / 2)) {
        set_err(c, "jobs is NULL or n is too large");
        return -1;
    }
    /* One allocation per batch (not per job) for the validated views. */
    prepared_jobs = malloc(n * sizeof *prepared_jobs);
    if (prepared_jobs == NULL) {
        set_err(c, "out of memory for %zu jobs", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        label_index(where, sizeof where, i);
        if (prepare(c, where, &jobs[i], &prepared_jobs[i]) != 0) {
            c->refused = (long)i;
            goto done;
        }
    }
    if (check_schemas(c, prepared_jobs, n, label_index) != 0 || queue_partitions(c, &k, prepared_jobs, n) != 0 ||
        begin_call(c, prepared_jobs, n) != 0)
        goto done;
    b = (batch){.k = &k,
                .jobs = prepared_jobs,
                .ids = ids_out != NULL ? ids_out[0] : NULL,
                .id_size = SLUICE_ID_MAX,
                .label = label_index};
    send_jobs(c, &b, n);
    rc = (long)confirm_replicas(c, b.ok, b.ids, SLUICE_ID_MAX, n);
    if (rc == 0 && !b.sent_any)
        rc = -1; /* nothing was sent: the caller may simply retry */

done:
    free(prepared_jobs);
    return rc;
}

int sluice_cancel(sluice_client *c, const char *queue, const char *job_id)
{
    queue_keys k;
    char why[600], name[SL_KEY_MAX];
    sl_cancel_result res;
    pipe_guard g;

    if (c == NULL)
        return -1;
    reset_call(c);
    c->cancel_state[0] = '\0';
    if (check_queue(c, queue, &k) != 0)
        return -1;
    if (job_id == NULL || job_id[0] == '\0' || strlen(job_id) > SL_CODEC_TEXT_MAX) {
        set_err(c, "invalid job id (1 to %d bytes)", SL_CODEC_TEXT_MAX);
        return -1;
    }
    if (queue_partitions(c, &k, NULL, 0) != 0 || functions_ready(c) != 0)
        return -1;
    for (int i = 0; i < k.nparts; i++) { /* a job lives in one partition */
        if (sl_part_name(name, sizeof name, k.queue, k.nparts, i) != 0) {
            set_err(c, "queue name too long");
            return -1;
        }
        pipe_block(&g);
        int rc = sl_cancel_job(c->redis, name, job_id, SLUICE_CANCEL_TTL_DEFAULT, &res, why, sizeof why);
        pipe_restore(&g);
        if (rc != 0) {
            set_err(c, "cancel of job %s in %s: %s", job_id, name, why);
            return -1;
        }
        if (res.verdict != SL_CANCEL_NOT_FOUND) {
            snprintf(c->cancel_state, sizeof c->cancel_state, "%s", res.state);
            return (int)res.verdict; /* sl_cancel_verdict and sluice_cancel_outcome agree */
        }
    }
    return SLUICE_CANCEL_NOT_FOUND;
}

const char *sluice_cancel_last_state(const sluice_client *c)
{
    return c != NULL ? c->cancel_state : "";
}
