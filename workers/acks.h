/* Fenced acks of finished jobs (sluice_ack of common/functions.lua): journaled
 * (journal.h), queued, and sent per read batch with replies read later; the
 * command wrapper every other command of the worker goes through, so the acks'
 * pipeline stays in order; and what a failed write means (sl_write_rc).
 * Retries and dead letters are settle.h. */
#ifndef SL_WORKER_ACKS_H
#define SL_WORKER_ACKS_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/redis.h"
#include "workers/journal.h"

struct sl_worker;

/** With the ack journal on, queued acks are held until the read batch ends,
 *  unless a job ran at least this long (us)... */
#define SL_ACK_FLUSH_JOB_US 2000
/** ...or the oldest queued ack is this old (ms): the bound on how late an ack
 *  reaches Redis (and what a lost host re-runs). */
#define SL_ACK_FLUSH_AGE_MS 5
/** FCALLs written before their replies are read (sl_acks_send drains first when full). */
#define SL_ACK_CALLS_MAX 32

/** The log line and DLQ-less error of a result Redis refused because the entry
 *  is no longer this consumer's. */
#define SL_LATE_MSG "late result refused: entry was reclaimed by another consumer"

/** How a Redis write went. */
typedef enum sl_write_rc {
    SL_WRITE_OK = 0,
    SL_WRITE_LOST, /* connection lost: reconnect and replay pending */
    SL_WRITE_BUSY, /* transient error (OOM, READONLY, LOADING...): the entry stays
                        pending; back off, then replay it */
    SL_WRITE_REFUSED /* other error reply (logged): the entry stays pending until the
                        next replay (reconnect or restart); carry on meanwhile */
} sl_write_rc;

/** One fenced ack, from the moment it is queued until its reply is read. */
typedef struct sl_ack {
    int stream; /* SL_STREAM_MAIN or SL_STREAM_RETRY */
    int sent; /* written to the socket, reply not read yet */
    int call; /* while sent: index of its FCALL in sl_acks.calls */
    int sends; /* times written to the socket */
    int marker; /* set the done-marker of job_id with the ack */
    int jslot; /* its ack-journal record, -1 when not journaled */
    int applied; /* taken by the master, waiting for redis.wait_replicas to confirm it (sl_acks_confirm) */
    int64_t fence; /* group fence known before its entry was read (-1 unknown) */
    char sid[SL_STREAM_ID_MAX];
    char job_id[SL_CODEC_TEXT_MAX + 1];
} sl_ack;

/** One FCALL sluice_ack in flight: the acks of one stream sent together. */
typedef struct sl_ack_call {
    int stream;
    int resent; /* carries acks sent before (after a lost connection or an error) */
    size_t ids; /* how many ids it carries */
    size_t first; /* index in sl_acks.v of its first ack (for log lines) */
} sl_ack_call;

/** Acks of finished jobs: queued (not written yet), sent and awaiting their
 *  replies, or kept for a resend. Queued acks go out as one FCALL per stream,
 *  in the same write as the next command on the connection (sl_worker_cmd,
 *  normally the next read), or earlier when sl_acks_due says so. */
typedef struct sl_acks {
    sl_ack v[SL_ACKS_MAX];
    size_t n;
    sl_ack_call calls[SL_ACK_CALLS_MAX];
    size_t ncalls; /* FCALLs written whose replies are not read yet */
    int64_t oldest_mono_ms; /* when the oldest unsent ack was queued (0 = none) */
    int unjournaled; /* an unsent ack has no journal record: send it before the next job */
    size_t queued; /* acks in v not written yet (new, or kept for a resend) */
    int fn_missing; /* a reply said the function library is gone: load it, resend */
    size_t applied; /* acks in v taken by the master, not yet confirmed by the replicas */
    int wait_failing; /* the last confirmation failed (logged once per streak) */
    const char *argv[10 + 2 * SL_ACKS_MAX]; /* FCALL scratch */
    char fence_arg[SL_ACK_CALLS_MAX][24]; /* each call's fence argument, as text */
} sl_acks;

/**
 * With redis.wait_replicas: WAIT for the acks the master took (call it with no
 * reply in flight). Confirmed ones are done (their journal records dropped);
 * when the replicas do not confirm in time, that is logged as an error and the
 * acks are sent again (a resend of an ack that stands is refused harmlessly;
 * after a failover that lost it, it takes), never counted as confirmed.
 * No-op without wait_replicas.
 */
void sl_acks_confirm(struct sl_worker *w);

/**
 * Queue the ack of an entry whose handler succeeded (or whose job id is done
 * already), recorded in the ack journal first. It is written with the next
 * command on the connection (sl_worker_cmd) or when sl_acks_due says so;
 * its reply is read later, so no job waits for a round trip. With job_id (the handler
 * wants done-markers) the marker is set atomically with the ack. A full queue
 * is flushed first.
 * @return SL_WRITE_OK; LOST/BUSY/REFUSED when a full queue could not be
 *         flushed (the entry stays pending)
 */
sl_write_rc sl_acks_queue(struct sl_worker *w, int stream, const char *stream_id, const char *job_id);

/**
 * 1 when queued acks must go out before the next job starts: one of them is
 * not in the ack journal (journal off or full: a crash would re-run its job),
 * the last job ran for SL_ACK_FLUSH_JOB_US or more, the oldest queued ack is
 * SL_ACK_FLUSH_AGE_MS old, or half of SL_ACKS_MAX are queued. No syscall.
 */
int sl_acks_due(const struct sl_worker *w, int64_t now_mono_ms, int64_t last_job_us);

/** Queue the acks a dead predecessor of this consumer left in the ack journal,
 *  as resends (refusals are not late results: they may have been acked). They
 *  go out before anything else on the connection. Returns how many. */
size_t sl_acks_recover(struct sl_worker *w);

/** Write every queued ack to the socket (one FCALL per stream), replies read
 *  later. @return OK, or LOST (kept, resent after the reconnect) */
sl_write_rc sl_acks_send(struct sl_worker *w);

/** Read the replies of every sent ack (no resending): afterwards the connection
 *  has no reply outstanding. Refusals are counted as late results. Acks that met
 *  a lost connection or a transient error are kept unsent.
 *  @return OK, LOST, BUSY (some kept) or REFUSED (some dropped: they stay pending) */
sl_write_rc sl_acks_drain(struct sl_worker *w);

/** Send every queued or kept ack (loading the library first if it went missing)
 *  and read all replies. Same return values as sl_acks_drain. */
sl_write_rc sl_acks_flush(struct sl_worker *w);

/** 1 when acks sent before failed and wait for a resend (sl_acks_flush). */
int sl_acks_kept(const struct sl_worker *w);

/**
 * A command on the worker's connection. Queued acks go out first, in the same
 * write as the command, and every ack reply is read before the command's. For
 * FCALL the library is reloaded and the call retried once when Redis says the
 * function is missing. Returns the reply (caller frees) or NULL when the
 * connection was lost.
 */
redisReply *sl_worker_cmd(struct sl_worker *w, int argc, const char **argv, const size_t *lens);

/**
 * sl_worker_cmd with a second command written right after it, in the same
 * write (no round trip of its own; e.g. the cancel set's EXISTS after a read).
 * Returns the first reply and puts the second in *second (caller frees both),
 * or NULL (and *second NULL) when the connection was lost.
 */
redisReply *sl_worker_cmd2(struct sl_worker *w, int argc, const char **argv, int argc2, const char **argv2,
                           redisReply **second);

/** Log an error reply or a lost connection for a write; the rc it means. */
sl_write_rc sl_write_report(struct sl_worker *w, const char *what, const redisReply *r);

/** What a failed write's reply means: none (connection lost) LOST, a transient
 *  error (OOM, LOADING, ...) BUSY, anything else REFUSED. Logs nothing. */
sl_write_rc sl_write_classify(const redisReply *r);

#endif
