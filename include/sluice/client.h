/* sluice producer API: enqueue jobs from a C program.
 *
 * Any Redis client can enqueue with a plain XADD (see README, "Wire format");
 * this API adds URL parsing, timeouts, correlation ids and pipelined batches.
 * A sluice_client is not thread-safe: use one per thread.
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Room for any job id the API writes out (stream ids are at most 41 bytes). */
#define SLUICE_ID_MAX 160

typedef struct sluice_client sluice_client;

/** Per-job options. Zero/NULL members take defaults. */
typedef struct sluice_enqueue_opts {
    size_t size;                /**< sizeof(sluice_enqueue_opts) */
    const char *job_id;         /**< NULL: the job id is the stream entry id */
    const char *correlation_id; /**< NULL: a new random id (UUID v4 text) */
    const char *causation_id;   /**< NULL: none */
    const char *traceparent;    /**< NULL: none */
    uint64_t delay_ms;          /**< reserved: must be 0 in this version */
} sluice_enqueue_opts;

/** One job of a batch. */
typedef struct sluice_job_spec {
    const char *type;                /**< required: [a-z0-9_.-]{1,128} */
    const char *payload;             /**< JSON text; NULL means "{}" */
    size_t payload_len;              /**< 0 with non-NULL payload: strlen(payload) */
    const sluice_enqueue_opts *opts; /**< may be NULL */
} sluice_job_spec;

/** Client options. Zero members take defaults. */
typedef struct sluice_client_opts {
    size_t size;                 /**< sizeof(sluice_client_opts) */
    uint32_t connect_timeout_ms; /**< default 2000 */
    uint32_t command_timeout_ms; /**< default 5000 */
    size_t max_payload_bytes;    /**< default 1 MiB; larger payloads are refused */
} sluice_client_opts;

/**
 * Connect to Redis.
 * @param url   redis://[user:pass@]host:port/db or unix:///path[?db=N]; NULL means
 *              $SLUICE_REDIS_URL, else redis://127.0.0.1:6379/0
 * @param opts  may be NULL
 * @param err   receives a message on failure (may be NULL); never contains the password
 * @return a client, or NULL on failure. Free with sluice_client_free().
 */
sluice_client *sluice_client_new(const char *url, const sluice_client_opts *opts,
                                 char *err, size_t errlen);

/** Close and free; NULL is allowed. */
void sluice_client_free(sluice_client *c);

/**
 * Enqueue one job on `queue` (stream sluice:{queue}).
 * The payload must be valid JSON no larger than max_payload_bytes.
 * @param id_out receives the job id (may be NULL)
 * @return 0, or -1 with sluice_client_error() set. Reconnects once on a broken
 *         connection; the job is not enqueued twice by that.
 */
int sluice_enqueue(sluice_client *c, const char *queue, const char *type,
                   const char *payload, size_t payload_len,
                   const sluice_enqueue_opts *opts, char *id_out, size_t id_out_len);

/**
 * Enqueue n jobs pipelined (one round trip per chunk of jobs).
 * Every job is validated before any is sent: a bad job enqueues nothing.
 * @param ids_out n * SLUICE_ID_MAX bytes receiving the ids in order (may be NULL)
 * @return the number of jobs enqueued (n on success), or -1 when nothing was
 *         sent. On an error reply or a lost connection mid-batch, returns how
 *         many were confirmed and sets ids_out[i] to "" for each job not
 *         confirmed (those may or may not be in the stream).
 */
long sluice_enqueue_batch(sluice_client *c, const char *queue,
                          const sluice_job_spec *jobs, size_t n, char (*ids_out)[SLUICE_ID_MAX]);

/** The last error message of this client ("" if none). */
const char *sluice_client_error(const sluice_client *c);

/** Library version, e.g. "0.1.0". */
const char *sluice_version(void);

#ifdef __cplusplus
}
#endif
#endif
