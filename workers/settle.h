/* Retry and dead-letter moves of one job (sluice_settle of
 * common/functions.lua), atomic with its ack; the held settle Redis deferred;
 * and the record of each job's outcome. Together with acks.h, the one place
 * that decides what happens to an entry after its handler returned. */
#ifndef SL_WORKER_SETTLE_H
#define SL_WORKER_SETTLE_H

#include <stdint.h>

#include "workers/acks.h"

struct sl_worker;

/** Bytes of the payload an "oversize" dead letter keeps (a field payload_truncated
 *  holds the original length): the entry is not copied whole, so Redis does not
 *  hold a huge payload twice. */
#define SL_DLQ_PAYLOAD_EXCERPT 4096

/** A retry or dead-letter move of one entry (sluice_settle). */
typedef struct sl_settle {
    int stream; /* where the entry is pending */
    const char *stream_id;
    const char *job_id; /* decoded job id, else the stream id */
    const char *type; /* for the log line, may be NULL */
    int retry; /* 1: retry after delay_ms; 0: dead letter (unless defer) */
    int defer; /* 1: a limit refused it: back after delay_ms, same attempt (limits.h) */
    const char *limit_at; /* defer: its rate reservations, "NAME:MS,..." */
    int64_t delay_ms;
    const char *reason; /* dead letters: "failed", "exhausted", "crashed", a codec reason */
    const char *error; /* human-readable detail */
    uint32_t attempt; /* attempt of the run that ended */
    uint32_t deliveries;
    /* metrics and the job's log line */
    unsigned type_slot; /* 1 + index of the type in the status slot's table, 0 = untyped */
    int64_t duration_ms; /* handler run time, 0 when it did not run */
    const char *correlation_id; /* may be NULL */
} sl_settle;

/** A settle Redis deferred (OOM, LOADING, READONLY, BUSY, MASTERDOWN...) or
 *  whose reply the connection lost. The job's result is known, so the settle is
 *  kept and resent (like a kept ack), never replayed: a replay would run the job
 *  again and spend a delivery each time, until a finished job is dead-lettered
 *  "crashed". One at a time: the batch waits for it before the next job. */
typedef struct sl_held_settle {
    int active;
    int maybe_written; /* a send met a lost connection: a refusal of a resend is not late */
    unsigned sends; /* times sent */
    sl_settle s; /* its strings point into the buffers below */
    char stream_id[SL_STREAM_ID_MAX];
    char job_id[SL_CODEC_TEXT_MAX + 1];
    char type[SL_CODEC_TEXT_MAX + 1];
    char reason[64];
    char error[1024]; /* truncated beyond that (the DLQ's error field) */
    char correlation_id[SL_CODEC_TEXT_MAX + 1];
    char limit_at[1024];
} sl_held_settle;

/**
 * Move an entry with FCALL sluice_settle: a retry (copy with attempt+1 into
 * sched, due after delay_ms, promoted into this group's retry stream) or a dead
 * letter (sluice:{Q}:dlq:G, capped at jobs.dlq_maxlen), atomic with its ack.
 * A refusal (the entry is not ours any more) counts as a late result and is OK.
 * On LOST or BUSY the settle is held (sl_held_settle) for sl_settle_resend_held.
 * @return OK; LOST, BUSY (held) or REFUSED (logged; the entry stays pending)
 */
sl_write_rc sl_settle_send(struct sl_worker *w, const sl_settle *s);

/**
 * The ack of a unique job (field unique_key) that succeeded: FCALL
 * sluice_complete, which releases its idempotency key with the ack (and sets
 * the done-marker with marker). One round trip, only for unique jobs; when it
 * cannot be written the ack is queued as usual instead (the key then lasts
 * until its TTL).
 * @return as sl_acks_queue
 */
sl_write_rc sl_settle_complete(struct sl_worker *w, const sl_settle *s, int marker);

/** 1 while a settle is held for a resend. */
int sl_settle_held(const struct sl_worker *w);

/**
 * Send the held settle once more (quietly: its first failure was logged).
 * @return OK (written, or refused: dropped), LOST or BUSY (still held), REFUSED
 *         (a non-transient error, logged: dropped, the entry stays pending and
 *         its next replay runs it again)
 */
sl_write_rc sl_settle_resend_held(struct sl_worker *w);

/**
 * Resend the held settle with capped backoff (redis.reconnect_min/max) until it
 * is written, the connection is lost or *w->stop; the heartbeat goes on meanwhile.
 * @return as sl_settle_resend_held; BUSY only when stopped with it still held
 */
sl_write_rc sl_settle_wait_held(struct sl_worker *w);

/**
 * Count one job's outcome in the status slot (per type; dead letters also
 * per reason) and write its log line: ok/skipped at info only with log.jobs,
 * retry/failed/dead always, at warn. No syscall but the log write.
 */
void sl_settle_record(struct sl_worker *w, const sl_settle *s, int outcome);

#endif
