/* The worker's process-wide state, shared by the read loop (consume.c), job
 * handling (job.c) and the Redis writes of outcomes (acks.c, settle.c). One worker runs
 * one job at a time; nothing here is touched from another thread. */
#ifndef SL_WORKER_WORKER_H
#define SL_WORKER_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/codec.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/partition.h"
#include "common/redis.h"
#include "common/worker_slot.h"
#include "workers/acks.h"
#include "workers/cancel.h"
#include "workers/host.h"
#include "workers/journal.h"
#include "workers/loader.h"
#include "workers/settle.h"

/** How often the worker looks for a gone supervisor (getppid, channel poll). */
#define SL_PARENT_CHECK_MS 50

/** Longest consumer name accepted on the command line. */
#define SL_CONSUMER_MAX 192 /* host (64) + pool (64) + slot, with room */

/** The two streams a worker of group G reads: the work stream sluice:{Q} and
 *  its group's retry stream sluice:{Q}:r:G. Indexes into sl_worker.keys. */
enum { SL_STREAM_MAIN = 0, SL_STREAM_RETRY = 1, SL_NSTREAMS = 2 };

/** Buffered log lines are written before a job starts once the oldest is this old (ms). */
#define SL_LOG_FLUSH_AGE_MS 5
/** pools[].prefetch: the COUNT of reads before any job has run... */
#define SL_PREFETCH_FIRST 10
/** ...and the most field bytes one read asks for (the reply is held in memory); a
 *  reply past it makes the next read COUNT 1, doubling back read by read. */
#define SL_PREFETCH_BYTES (1024.0 * 1024.0)

typedef struct sl_worker {
    sl_config *cfg;
    const sl_pool_cfg *pool;
    char consumer[SL_CONSUMER_MAX + 1];
    sl_slot *slot; /* shared with the supervisor, or private */
    int chan_fd; /* channel to the supervisor, -1 standalone */
    pid_t parent; /* supervisor pid to watch, 0 standalone */
    volatile sig_atomic_t *stop; /* set by signals, channel EOF, parent exit */
    volatile sig_atomic_t *reopen; /* SIGUSR1: reopen the log file (may be NULL) */
    sl_loader *loader;
    sl_redis *redis;
    sl_redis *schema_redis; /* the schema cache's own connection (validation.c) */
    struct sl_registry_cache *schemas; /* compiled registry schemas (validation.c) */
    sl_host_env env; /* what host services see */
    sluice_ctx ctx; /* the job context, reused for every job */
    long slot_index; /* --slot: slot 0 of a pool does once-per-pool warnings */
    const char *queue; /* the queue the keys below are of: one of pool->queues (consume.c's lanes) */
    int queue_index; /* its index in pool->queues */
    int nparts; /* that queue's partition count (queues.<Q>.partitions) */
    int part_index; /* the partition the keys below are of, 0..nparts-1 */
    char part[SL_PARTITION_NAME_MAX]; /* its name: Q (one partition) or Q#i, what the keys are built from */
    char keys[SL_NSTREAMS][SL_KEY_MAX]; /* sluice:{Q}, sluice:{Q}:r:G (Q: the partition's name) */
    char dlq_key[SL_KEY_MAX]; /* sluice:{Q}:dlq:G */
    char sched_key[SL_KEY_MAX]; /* sluice:{Q}:sched */
    char done_prefix[SL_KEY_MAX]; /* sluice:{Q}:done:G: (done-marker key = prefix + job id) */
    char done_ttl[24]; /* jobs.done_ttl in seconds, as text */
    char fence_key[SL_KEY_MAX]; /* sluice:{Q}:fence:G, the group's ownership fence */
    char cancels_key[SL_KEY_MAX]; /* sluice:{Q}:cancels, the cancel set (cancel.h) */
    int cancel_check; /* the cancel set was not empty after the running batch was read: check each job */
    int64_t cancel_probed_mono_ms; /* when that was learned (CLOCK_MONOTONIC ms) */
    int64_t fence; /* its value as last read by a sluice_ack (-1 unknown) */
    int64_t batch_fence; /* the fence known before the running batch was read:
                                     what its acks send (-1: the owner check runs) */
    sl_acks acks; /* pipelined fenced acks in flight */
    sl_held_settle held; /* a retry/dead-letter move waiting for a resend */
    char hold_key[SL_KEY_MAX]; /* the concurrency bucket the running job holds a slot of, "" none (limits.c) */
    char hold_member[SL_KEY_MAX + 64]; /* its holder name */
    sl_journal journal; /* acks of finished jobs not confirmed yet, outliving a crash */
    sl_field *fields; /* decode scratch, grown on demand */
    size_t fields_cap;
    int64_t last_job_us; /* run time of the last handler (0 when none ran): ack flush bound */
    int64_t job_end_mono_ms; /* when that handler returned (CLOCK_MONOTONIC ms; 0 when none ran) */
    double job_avg_us; /* handler run time, averaged (rises fast, falls slowly): prefetch */
    double entry_avg_bytes; /* field bytes per entry of recent reads: prefetch */
    int jobs_timed; /* a handler ran: job_avg_us is meaningful */
    int64_t next_parent_check_mono_ms; /* sl_worker_tick: next getppid/channel check */
    int resync; /* an entry was left pending (BUSY: e.g. a done-marker check
                                     failed): back off, replay pending */
    int exit_code; /* set with *stop on a fatal error (78: Redis cannot serve sluice) */
} sl_worker;

/**
 * Handle one stream entry: decode, find the handler, check the crash budget
 * and the done-marker, run it with the slot updated, then ack / retry /
 * dead-letter it on the stream it came from.
 * @param stream      SL_STREAM_MAIN or SL_STREAM_RETRY
 * @param id          the entry id (NUL-terminated)
 * @param fields      the entry's field array reply, or NULL/nil for a trimmed entry
 * @param deliveries  delivery count (1 for fresh entries, from XPENDING on replay)
 * @return SL_WRITE_OK, or how writing the outcome failed (the entry then stays pending)
 */
sl_write_rc sl_job_handle(sl_worker *w, int stream, const char *id, const redisReply *fields, uint32_t deliveries);

/** Point every key of the worker (keys, dlq_key, sched_key, done_prefix,
 *  fence_key, part; queue, nparts) at partition i of queue q of its pool
 *  (pool->queues[q]). Only between rounds, with no ack, move or batch in
 *  flight (consume.c). Returns 0, or -1 (names too long). */
int sl_worker_set_lane(sl_worker *w, int q, int i);

/** A Redis error on the way to reading (r NULL: the connection): starts or
 *  continues the slot's error streak (redis_error_since_mono_ms, kind); a
 *  successful read ends it. For /readyz and the redis_errors alert. */
void sl_worker_redis_error(sl_worker *w, const redisReply *r);

/** Drain pipelined replies (host services call it before their own commands). */
void sl_worker_sync(void *worker);

/**
 * The read loop: replay this consumer's pending entries, then read new ones,
 * until *w->stop. Survives every Redis error (reconnect, recreate the group,
 * back off on transient errors). Sends outstanding acks before returning.
 */
void sl_consume_run(sl_worker *w);

/** Once per loop iteration and before each job: heartbeat, log reopen on
 *  request, and set *w->stop when the supervisor is gone (channel EOF or a new
 *  parent pid; checked at most every SL_PARENT_CHECK_MS). Returns the
 *  CLOCK_MONOTONIC ms it read. */
int64_t sl_worker_tick(sl_worker *w);

#endif
