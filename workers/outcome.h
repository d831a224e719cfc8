/* Outcomes of a job as Redis writes: batched XACK for successes, the atomic
 * dead-letter move (one script: XADD to the DLQ, XACK only if that worked), and
 * the retry hook. The one place that decides what happens to an entry after its
 * handler returned. */
#ifndef SL_WORKER_OUTCOME_H
#define SL_WORKER_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "sluice/plugin.h"

struct sl_worker;
struct sl_handler;

/** Room for a stream entry id ("<ms>-<seq>", at most 41 bytes + NUL). */
#define SL_STREAM_ID_MAX 48

/** How a Redis write went. */
typedef enum sl_write_rc {
    SL_WRITE_OK = 0,
    SL_WRITE_LOST,   /* connection lost: reconnect and replay pending */
    SL_WRITE_BUSY,   /* transient error (OOM, READONLY, LOADING...): the entry stays
                        pending; back off, then replay it */
    SL_WRITE_REFUSED /* other error reply (logged): the entry stays pending until the
                        next replay (reconnect or restart); carry on meanwhile */
} sl_write_rc;

/** Acks collected during a batch and sent as one XACK. */
typedef struct sl_acks {
    char (*ids)[SL_STREAM_ID_MAX];
    const char **argv; /* XACK key group id... */
    size_t n, cap;
} sl_acks;

/** Room for cap ids. Returns 0 or -1 (out of memory). */
int sl_acks_init(sl_acks *a, size_t cap);
void sl_acks_free(sl_acks *a);

/** A dead letter: the original entry and why it failed. */
typedef struct sl_dead {
    const char *stream_id;
    const char *job_id;     /* for the log line: the decoded id, else NULL */
    const char *type;       /* for the log line: the decoded type, else NULL */
    const sl_field *fields; /* original fields, copied into the DLQ entry (none for a trimmed entry) */
    size_t nfields;
    const char *reason;     /* "failed", "bad_envelope", "unknown_type", ... */
    const char *error;      /* human-readable detail */
    uint32_t attempts;
    uint32_t deliveries;
} sl_dead;

/** Ack an entry whose handler succeeded: buffered until sl_outcome_flush (or
 *  until the buffer is full). */
sl_write_rc sl_outcome_ack(struct sl_worker *w, const char *stream_id);

/** Send buffered acks (one XACK). On a lost connection (LOST) or a transient
 *  error (BUSY) the ids are kept for the next flush; other errors (REFUSED) drop
 *  them: those entries stay pending and are replayed. */
sl_write_rc sl_outcome_flush(struct sl_worker *w);

/**
 * Move an entry to sluice:{Q}:dlq:G atomically with its ack: one EVAL that
 * XADDs, then XACKs only if the XADD succeeded (MULTI/EXEC would ack even when
 * the XADD fails at run time). The DLQ entry carries every original field plus
 * reason, error, attempts, deliveries, original_id, original_stream, group,
 * consumer, failed_at.
 */
sl_write_rc sl_outcome_dead_letter(struct sl_worker *w, const sl_dead *d);

/**
 * A handler asked for a retry. Retry scheduling (ack + delayed re-enqueue) is
 * not available yet: the entry is left pending (replayed by this consumer after
 * a restart or reconnect) and a warning is logged.
 */
sl_write_rc sl_outcome_retry(struct sl_worker *w, const sl_job *job, const struct sl_handler *h,
                             const sluice_ctx *ctx, uint32_t deliveries);

#endif
