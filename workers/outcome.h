/* Outcomes of a job as Redis writes, all through the sluice function library
 * (common/functions.lua): pipelined fenced acks (sluice_ack) for successes, and
 * sluice_settle for retries and dead letters. The one place that decides what
 * happens to an entry after its handler returned. */
#ifndef SL_WORKER_OUTCOME_H
#define SL_WORKER_OUTCOME_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/redis.h"

struct sl_worker;

/** Room for a stream entry id ("<ms>-<seq>", at most 41 bytes + NUL). */
#define SL_STREAM_ID_MAX 48
/** Acks sent but not yet read back before the worker stops to read them. */
#define SL_ACKS_MAX 64

/** How a Redis write went. */
typedef enum sl_write_rc {
    SL_WRITE_OK = 0,
    SL_WRITE_LOST,   /* connection lost: reconnect and replay pending */
    SL_WRITE_BUSY,   /* transient error (OOM, READONLY, LOADING...): the entry stays
                        pending; back off, then replay it */
    SL_WRITE_REFUSED /* other error reply (logged): the entry stays pending until the
                        next replay (reconnect or restart); carry on meanwhile */
} sl_write_rc;

/** One fenced ack, from the moment it is queued until its reply is read. */
typedef struct sl_ack {
    int stream;                   /* SL_STREAM_MAIN or SL_STREAM_RETRY */
    int sent;                     /* written to the socket, reply not read yet */
    int sends;                    /* times written to the socket */
    int resent;                   /* sent again after a lost connection or an error */
    int marker;                   /* set the done-marker of job_id with the ack */
    char sid[SL_STREAM_ID_MAX];
    char job_id[SL_CODEC_TEXT_MAX + 1];
} sl_ack;

/** Acks in flight: sent and awaiting their replies, or waiting to be (re)sent. */
typedef struct sl_acks {
    sl_ack v[SL_ACKS_MAX];
    size_t n;
    int fn_missing; /* a reply said the function library is gone: load it, resend */
} sl_acks;

/**
 * Ack an entry whose handler succeeded (or whose job id is done already): FCALL
 * sluice_ack appended and written to the socket at once, its reply read later by
 * sl_outcome_flush/drain, so the next job starts without a round trip. With
 * job_id (the handler wants done-markers) the marker is set atomically with the
 * ack. A full queue is flushed first.
 * @return SL_WRITE_OK; LOST when the socket write failed (the ack is kept and
 *         resent after the reconnect); BUSY/REFUSED when a full queue could not
 *         be flushed (the entry stays pending)
 */
sl_write_rc sl_outcome_ack(struct sl_worker *w, int stream, const char *stream_id, const char *job_id);

/** Read the replies of every sent ack (no resending): afterwards the connection
 *  has no reply outstanding. Refusals are counted as late results. Acks that met
 *  a lost connection or a transient error are kept unsent.
 *  @return OK, LOST, BUSY (some kept) or REFUSED (some dropped: they stay pending) */
sl_write_rc sl_outcome_drain(struct sl_worker *w);

/** Send every kept ack again (loading the library first if it went missing) and
 *  read all replies. Same return values as sl_outcome_drain. */
sl_write_rc sl_outcome_flush(struct sl_worker *w);

/** A retry or dead-letter move of one entry (sluice_settle). */
typedef struct sl_settle {
    int stream;             /* where the entry is pending */
    const char *stream_id;
    const char *job_id;     /* decoded job id, else the stream id */
    const char *type;       /* for the log line, may be NULL */
    int retry;              /* 1: retry after delay_ms; 0: dead letter */
    int64_t delay_ms;
    const char *reason;     /* dead letters: "failed", "exhausted", "crashed", a codec reason */
    const char *error;      /* human-readable detail */
    uint32_t attempt;       /* attempt of the run that ended */
    uint32_t deliveries;
    /* metrics and the job's log line */
    unsigned type_slot;     /* 1 + index of the type in the status slot's table, 0 = untyped */
    int64_t duration_ms;    /* handler run time, 0 when it did not run */
    const char *correlation_id; /* may be NULL */
} sl_settle;

/**
 * Move an entry with FCALL sluice_settle: a retry (copy with attempt+1 into
 * sched, due after delay_ms, promoted into this group's retry stream) or a dead
 * letter (sluice:{Q}:dlq:G, capped at jobs.dlq_maxlen), atomic with its ack.
 * A refusal (the entry is not ours any more) counts as a late result and is OK.
 * @return OK; LOST, BUSY or REFUSED as for any write (the entry stays pending)
 */
sl_write_rc sl_outcome_settle(struct sl_worker *w, const sl_settle *s);

/**
 * A command on the worker's connection with pipelined replies read first, and
 * for FCALL the library reloaded and the call retried once when Redis says the
 * function is missing. Returns the reply (caller frees) or NULL when the
 * connection was lost.
 */
redisReply *sl_worker_cmd(struct sl_worker *w, int argc, const char **argv, const size_t *lens);

/**
 * Count one job's outcome in the status slot (per type; dead letters also
 * per reason) and write its log line: ok/skipped at info only with log.jobs,
 * retry/failed/dead always, at warn. No syscall but the log write.
 */
void sl_outcome_record(struct sl_worker *w, const sl_settle *s, int outcome);

/** Log an error reply or a lost connection for a write; the rc it means. */
sl_write_rc sl_outcome_write_failed(struct sl_worker *w, const char *what, const redisReply *r);

#endif
