/* sluice producer API: enqueue jobs from a C program.
 *
 * Any Redis client can enqueue with a plain XADD (see README, "Wire format");
 * this API adds URL parsing, timeouts, correlation ids, pipelined batches,
 * delayed jobs and idempotency keys (docs/enqueue.md).
 * A sluice_client is not thread-safe: use one per thread.
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions libsluice.so exports: the library is built with
 * -fvisibility=hidden, so everything else in it stays internal. */
#ifndef SLUICE_API
#if defined(__GNUC__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif
#endif

/** Room for any job id the API writes out (stream ids are at most 41 bytes). */
#define SLUICE_ID_MAX 160

typedef struct sluice_client sluice_client;

/** Longest idempotency key, in bytes. */
#define SLUICE_IDEMPOTENCY_KEY_MAX 200
/** Idempotency TTL used when sluice_enqueue_opts.idempotency_ttl_s is 0: one day. */
#define SLUICE_IDEMPOTENCY_TTL_DEFAULT 86400

/**
 * Per-job options. Zero/NULL members (and "" strings) take defaults. Members are
 * only ever added at the end; `size` tells the library which ones the caller's
 * header had, so a program built against an older header keeps working.
 *
 * Delayed jobs (delay_ms or at_ms) wait in the sorted set sluice:{Q}:sched until
 * due by Redis server time, then the supervisor moves them to sluice:{Q}; they
 * always carry an `id` field (job_id, else a new UUID v4). Jobs with an
 * idempotency key are enqueued only by the first call with that key within its
 * TTL: later calls enqueue nothing and get the first job's id (see
 * sluice_enqueue_last_was_duplicate). Both go through the server-side function
 * library, which the client loads on first use.
 *
 * Partitioned queues (queues.<Q>.partitions N > 1, published by the supervisor
 * in sluice:{Q}:partitions, which the client reads at most once a second per
 * queue): each job goes to one partition sluice:{Q#i}, chosen by the FNV-1a
 * hash of its idempotency key (so a duplicate meets its key), else of its
 * partition_key, else round robin (docs/enqueue.md, "Partitioned queues").
 * Such a job without job_id gets a new UUID v4 as its id (stream entry ids
 * are unique per partition only).
 */
typedef struct sluice_enqueue_opts {
    size_t size; /**< sizeof(sluice_enqueue_opts) */
    const char
        *job_id; /**< NULL: the job id is the stream entry id (delayed jobs, partitioned queues: a new UUID v4) */
    const char *correlation_id; /**< NULL: a new random id (UUID v4 text) */
    const char *causation_id; /**< NULL: none */
    const char *traceparent; /**< NULL: none */
    uint64_t delay_ms; /**< 0: now; else due this many ms after Redis receives the job */
    /* Added with delayed jobs and idempotency keys. */
    uint64_t at_ms; /**< 0: none; else due at this time, ms since the epoch (the past: due at once).
                                      Setting both delay_ms and at_ms is an error. */
    const char *idempotency_key; /**< NULL: none; else 1..SLUICE_IDEMPOTENCY_KEY_MAX bytes of [A-Za-z0-9_.:-],
                                      unique per queue (key sluice:{Q}:idem:<key>) */
    uint32_t idempotency_ttl_s; /**< how long the key is remembered; 0: SLUICE_IDEMPOTENCY_TTL_DEFAULT */
    /* Added with partitioned queues. */
    const char *partition_key; /**< NULL: none; else jobs with the same key go to the same partition of a
                                      partitioned queue (an idempotency key, when given, decides instead) */
    /* Added with unique jobs. */
    int unique; /**< non-zero (needs idempotency_key): unique until done. The key is released as soon as the
                     job completes, is dead-lettered or cancelled, not only when its TTL ends, so the same
                     key enqueues again at once; while the job waits or runs, a second enqueue with the key is
                     a duplicate. The job carries the field unique_key (docs/enqueue.md, "Unique jobs") */
} sluice_enqueue_opts;

/** One job of a batch. */
typedef struct sluice_job_spec {
    const char *type; /**< required: [a-z0-9_.-]{1,128} */
    const char *payload; /**< JSON text; NULL means "{}" */
    size_t payload_len; /**< 0 with non-NULL payload: strlen(payload) */
    const sluice_enqueue_opts *opts; /**< may be NULL */
} sluice_job_spec;

/**
 * Client options. Zero members take defaults; members are only ever added at
 * the end (see `size`).
 *
 * Schema validation: before sending, each payload is validated against the
 * JSON Schema registered for its type in Redis (hash sluice:{:schemas}, see
 * docs/schemas-registry.md). A job that violates it is refused with the JSON
 * pointer and keyword of the first violation; a type with no schema is
 * accepted. Schemas (and "no schema") are cached per client; the cache is
 * dropped when sluice:{:schemas}:version changes, which is read at most once
 * per second, so a new schema applies within about a second.
 */
typedef struct sluice_client_opts {
    size_t size; /**< sizeof(sluice_client_opts) */
    uint32_t connect_timeout_ms; /**< default 2000 */
    uint32_t command_timeout_ms; /**< default 5000 */
    size_t max_payload_bytes; /**< default 1 MiB; larger payloads are refused */
    /* Added with the schema registry. */
    int skip_schema; /**< non-zero: do not validate payloads against registered schemas */
    /* Added with replica-acknowledged writes. */
    int wait_replicas; /**< > 0: an enqueue succeeds only once this many replicas acknowledged it (WAIT);
                            0: $SLUICE_REDIS_WAIT_REPLICAS, else none */
    uint32_t wait_timeout_ms; /**< how long WAIT waits; 0: $SLUICE_REDIS_WAIT_TIMEOUT, else 1000. Fewer replicas
                                   in time make the call fail: the job is on the master, not confirmed */
} sluice_client_opts;

/**
 * Connect to Redis.
 * @param url   redis://[user:pass@]host:port/db or unix:///path[?db=N]; NULL means
 *              $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0
 * @param opts  may be NULL
 * @param err   receives a message on failure (may be NULL); never contains the password
 * @return a client, or NULL on failure. Free with sluice_client_free().
 */
SLUICE_API sluice_client *sluice_client_new(const char *url, const sluice_client_opts *opts, char *err, size_t errlen);

/** Close and free; NULL is allowed. */
SLUICE_API void sluice_client_free(sluice_client *c);

/**
 * Enqueue one job on `queue` (stream sluice:{queue}, or one of its partitions
 * sluice:{queue#i}).
 * The payload must be valid JSON no larger than max_payload_bytes.
 * @param id_out receives the job id (may be NULL); for a duplicate idempotent
 *        enqueue, the first job's id. id_out_len must hold the id: SLUICE_ID_MAX
 *        always does (with an idempotency key, at least 129 bytes are required,
 *        since the first job's id may be any valid id)
 * The payload must also satisfy the schema registered for `type`, if any
 * (see sluice_client_opts): "payload violates schema T at /items/0/qty:
 * minimum (...)".
 * @return 0 (also for a duplicate: check sluice_enqueue_last_was_duplicate), or
 *         -1 with sluice_client_error() set. Reconnects once on a broken
 *         connection; the job is not enqueued twice by that.
 */
SLUICE_API int sluice_enqueue(sluice_client *c, const char *queue, const char *type, const char *payload,
                              size_t payload_len, const sluice_enqueue_opts *opts, char *id_out, size_t id_out_len);

/**
 * Enqueue n jobs pipelined (one round trip per chunk of jobs). Delayed and
 * idempotent jobs may be mixed with plain ones; each is confirmed on its own.
 * Every job is validated before any is sent: a bad job enqueues nothing.
 * @param ids_out n * SLUICE_ID_MAX bytes receiving the ids in order (may be NULL)
 * @return the number of jobs confirmed (n on success; an idempotency duplicate
 *         counts as confirmed), or -1 when nothing was sent. On an error reply
 *         or a lost connection mid-batch, returns how many were confirmed and
 *         sets ids_out[i] to "" for each job not confirmed (those may or may
 *         not be in the stream or the schedule). With wait_replicas, a batch
 *         the replicas did not confirm in time returns 0 (every id "", the
 *         jobs on the master only) with the reason in sluice_client_error().
 */
SLUICE_API long sluice_enqueue_batch(sluice_client *c, const char *queue, const sluice_job_spec *jobs, size_t n,
                                     char (*ids_out)[SLUICE_ID_MAX]);

/**
 * After sluice_enqueue: 1 if its idempotency key had already been used within
 * the key's TTL, so nothing was enqueued and id_out received the first job's id;
 * 0 otherwise (no key, a new key, or the call failed). After
 * sluice_enqueue_batch: 1 if at least one job was such a duplicate (see
 * sluice_enqueue_batch_was_duplicate). Valid until the next enqueue call on c.
 */
SLUICE_API int sluice_enqueue_last_was_duplicate(const sluice_client *c);

/**
 * After sluice_enqueue_batch: 1 if jobs[i] was an idempotency duplicate (nothing
 * enqueued; ids_out[i] is the first job's id), else 0 (also for i out of range).
 * After sluice_enqueue, i = 0 gives sluice_enqueue_last_was_duplicate.
 */
SLUICE_API int sluice_enqueue_batch_was_duplicate(const sluice_client *c, size_t i);

/**
 * After sluice_enqueue_batch returned -1 because jobs[i] was refused before
 * anything was sent (a bad type, payload or option, or a schema violation): i.
 * Otherwise -1. Valid until the next enqueue call on c.
 */
SLUICE_API long sluice_enqueue_batch_refused_index(const sluice_client *c);

/** How long the record of a cancel (sluice:{Q}:cancelled:ID) is kept: seven
 *  days, the default of jobs.done_ttl. */
#define SLUICE_CANCEL_TTL_DEFAULT (7 * 86400)

/** What sluice_cancel did. */
typedef enum sluice_cancel_outcome {
    SLUICE_CANCEL_CANCELLED = 0, /**< cancelled now: see sluice_cancel_last_state */
    SLUICE_CANCEL_ALREADY = 1, /**< cancelled before; nothing changed */
    SLUICE_CANCEL_FINISHED = 2, /**< the job already ran to its end (completed or dead-lettered): nothing changed */
    SLUICE_CANCEL_NOT_FOUND = 3 /**< no such job in the queue (or only beyond the newest 100000 entries) */
} sluice_cancel_outcome;

/**
 * Cancel job job_id of queue (every partition of a partitioned queue is
 * searched until one holds it). The job ends in the state "cancelled", decided
 * atomically by the server-side function sluice_cancel (docs/cli.md, "Cancel"):
 * a scheduled job (delayed, or a retry waiting for its backoff) is removed; a
 * queued one is removed or skipped when a worker reads it (its handler never
 * runs); a running one's handler sees should_stop, and its worker is killed
 * after jobs.cancel_grace. It is never retried. A unique job's key is released.
 * @return a sluice_cancel_outcome (>= 0), or -1 with sluice_client_error() set
 */
SLUICE_API int sluice_cancel(sluice_client *c, const char *queue, const char *job_id);

/**
 * After sluice_cancel returned SLUICE_CANCEL_CANCELLED or _ALREADY: how far
 * the job was when it was cancelled, "scheduled", "queued", "delivered" (read
 * by a worker before the cancel: skipped if it had not started, else stopped)
 * or "running"; "" otherwise. Valid until the next call on c.
 */
SLUICE_API const char *sluice_cancel_last_state(const sluice_client *c);

/** The last error message of this client ("" if none). */
SLUICE_API const char *sluice_client_error(const sluice_client *c);

/** Library version, e.g. "0.1.0". */
SLUICE_API const char *sluice_version(void);

#ifdef __cplusplus
}
#endif
#endif
