/* The supervisor <-> worker contract: how a worker is started, the channel, and
 * the shared status slot the supervisor reads without a syscall per job.
 *
 * Start: the supervisor fork+execs
 *     sluice-worker --pool NAME --slot N --consumer NAME [--check]
 * with fd 3 = one end of a socketpair (the channel) and fd 4 = a memfd holding one
 * sl_slot. The Redis URL never appears in argv or the environment it adds.
 *
 * Channel, supervisor -> worker: the resolved config as one line of JSON
 * (sl_cfg_to_json) ended by '\n'; then nothing. Worker -> supervisor: "ready\n"
 * once plugins are loaded and initialised (or, with --check, just before exit 0).
 * EOF on the channel means the supervisor is gone: the worker stops (as on
 * SIGTERM). The worker also sets PR_SET_PDEATHSIG(SIGTERM) and checks getppid().
 *
 * Signals to a worker: SIGTERM/SIGINT = graceful stop (finish the running job,
 * ack, leave unstarted prefetched entries pending for this consumer name, exit 0).
 * SIGKILL after shutdown_timeout.
 *
 * Exit codes: 0 stopped; 78 (EX_CONFIG) bad config/plugin: never respawned; any
 * other code or a signal: crashed, respawned with backoff.
 */
#ifndef SL_WORKER_SLOT_H
#define SL_WORKER_SLOT_H

#include <stdint.h>

#define SL_CHANNEL_FD 3
#define SL_SLOT_FD 4
#define SL_EXIT_CONFIG 78

#define SL_SLOT_MAGIC 0x534c4353u /* "SLCS" */
#define SL_SLOT_VERSION 6

typedef enum sl_slot_state {
    SL_SLOT_STARTING = 0, /* exec'd, loading plugins / connecting */
    SL_SLOT_IDLE = 1, /* connected, waiting for jobs */
    SL_SLOT_RUNNING = 2, /* a handler is running (job_* fields valid) */
    SL_SLOT_STOPPING = 3 /* asked to stop, finishing */
} sl_slot_state;

/* v3 metric tables (see sl_slot below and docs/metrics.md). */
#define SL_SLOT_TYPES 64 /* handler types with their own counters */
#define SL_SLOT_TYPE_LEN 132 /* a type name with its NUL */
#define SL_SLOT_NBUCKETS 15 /* finite histogram buckets; one more slot counts +Inf */
/** Upper bounds of the histogram buckets, in microseconds. */
#define SL_SLOT_BUCKETS_US                                                                                            \
    {                                                                                                                 \
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, \
            60000000                                                                                                  \
    }

/** What became of one job (sluice_jobs_total{outcome}). */
typedef enum sl_slot_outcome {
    SL_OUT_OK = 0, /* handler OK, ack sent */
    SL_OUT_RETRY, /* moved to a retry */
    SL_OUT_UNWRITTEN, /* its outcome could not be written (refused or Redis error): stays pending */
    SL_OUT_DEAD, /* dead-lettered, any reason */
    SL_OUT_SKIPPED, /* duplicate of a job done in this group (done-marker): acked without running */
    SL_OUT_CANCELLED, /* cancelled (sluice jobs cancel): skipped before it ran, or stopped while running */
    SL_OUT_N
} sl_slot_outcome;

/** Dead-letter reasons counted per worker (sluice_dead_letters_total{reason}). */
/* clang-format off: an X-macro list, one per line (clang-format does not settle on one layout) */
#define SL_SLOT_REASONS \
    X(failed)           \
    X(exhausted)        \
    X(crashed)          \
    X(timeout)          \
    X(bad_envelope)     \
    X(bad_payload)      \
    X(oversize)         \
    X(unknown_type)     \
    X(trimmed)          \
    X(schema)           \
    X(other)
/* clang-format on */

typedef enum sl_slot_reason {
#define X(r) SL_REASON_##r,
    SL_SLOT_REASONS
#undef X
        SL_REASON_N
} sl_slot_reason;

/** A histogram: counts per bucket (not cumulative; [SL_SLOT_NBUCKETS] is
 *  above the last bound) and the sum of the observations in microseconds. */
typedef struct sl_slot_hist {
    _Atomic uint64_t count[SL_SLOT_NBUCKETS + 1];
    _Atomic uint64_t sum_us;
} sl_slot_hist;

/**
 * One worker's status, in shared memory written only by the worker (but for
 * cancel_seq, the supervisor's). Scalars are
 * C11 atomics (relaxed is enough: the supervisor only needs eventually-correct
 * values). The job_* strings are written before `job_seq` is bumped and
 * `state` set to RUNNING; a reader copies them and re-checks job_seq.
 */
typedef struct sl_slot {
    uint32_t magic;
    uint32_t version;
    _Atomic int32_t pid;
    _Atomic int32_t state; /* sl_slot_state */
    _Atomic uint64_t job_seq; /* bumped at every job start */
    _Atomic int64_t job_started_mono_ms; /* sl_now_mono_ms() at handler start */
    _Atomic int64_t job_timeout_ms; /* hard timeout of the running job, 0 = none */
    _Atomic int64_t heartbeat_mono_ms; /* last loop iteration */
    _Atomic uint64_t jobs_ok; /* handler results, cumulative for this process */
    _Atomic uint64_t jobs_retry;
    _Atomic uint64_t jobs_fail;
    _Atomic uint64_t jobs_rejected; /* bad envelopes, unknown types */
    char job_id[160];
    char job_type[132];
    char job_stream_id[48];
    /* v2: enough for the supervisor to settle or release the running job itself
     * when it kills the worker (hard timeout, shutdown_timeout). Written before
     * job_seq is bumped, like the strings above. */
    _Atomic int32_t job_in_retry_stream; /* 1: entry is in sluice:{Q}:r:G, 0: in sluice:{Q} */
    _Atomic uint32_t job_attempt; /* attempt of the running job (1-based) */
    _Atomic uint32_t job_deliveries; /* delivery count of its stream entry */
    _Atomic uint32_t job_max_attempts; /* the handler's effective max_attempts */
    _Atomic int64_t job_backoff_base_ms; /* the handler's effective backoff */
    _Atomic int64_t job_backoff_cap_ms;
    /* v2 counters, cumulative for this process */
    _Atomic uint64_t jobs_retried; /* moved to a retry (RETRY results) */
    _Atomic uint64_t jobs_dead; /* moved to the dead-letter stream, any reason */
    _Atomic uint64_t late_results; /* acks/moves refused: the entry was no longer ours */
    _Atomic uint64_t reclaimed; /* entries taken over from idle consumers (XAUTOCLAIM) */
    _Atomic uint64_t reclaim_deleted; /* ids XAUTOCLAIM reported deleted (trimmed while pending) */
    _Atomic uint64_t done_skipped; /* duplicate deliveries acked without running (done-marker) */
    _Atomic uint64_t released; /* prefetched entries given back at a graceful stop */
    /* v3 metrics, cumulative for this process, updated with relaxed atomics
     * (no syscall, no allocation per job). A type's name is written once,
     * before `ntypes` is raised (release); readers load ntypes (acquire) and
     * read only names below it. Jobs without a handler type (bad envelope,
     * unknown type) or beyond the table count in `untyped`. */
    _Atomic uint32_t ntypes;
    char type_name[SL_SLOT_TYPES][SL_SLOT_TYPE_LEN];
    _Atomic uint64_t type_outcome[SL_SLOT_TYPES][SL_OUT_N];
    _Atomic uint64_t untyped_outcome[SL_OUT_N];
    _Atomic uint64_t dead_reason[SL_REASON_N];
    sl_slot_hist duration; /* handler run time */
    sl_slot_hist wait; /* enqueued_at -> handler start (jobs with enqueued_at) */
    _Atomic uint64_t registry_deferred; /* jobs left pending because the schema registry could not be read */
    /* v4: the partition of the running job's queue (queues.<Q>.partitions > 1:
     * its keys are those of Q#partition), -1 for a queue of one partition.
     * Written before job_seq is bumped, like the other job_* fields. */
    _Atomic int32_t job_partition;
    /* v5: health. A streak of Redis errors (any failed read, group creation or
     * connect, until a read succeeds) starts at redis_error_since_mono_ms (0:
     * none), the latest of kind redis_error_kind (sl_redis_err); consumed is 1
     * once a read from the queue has succeeded. The supervisor's /readyz and
     * alert redis_errors read them (health.redis_error_after). */
    _Atomic int64_t redis_error_since_mono_ms;
    _Atomic int32_t redis_error_kind;
    _Atomic int32_t consumed;
    /* v6: cancel. The one field the supervisor writes: the job_seq of the running job
     * whose cancel it saw (sluice:{Q}:cancels); the handler's should_stop is
     * then true, and the worker settles that job as cancelled when the handler
     * returns (0: none). */
    _Atomic uint64_t cancel_seq;
    /* v6: limits (docs/limits.md). job_hold_key is the concurrency bucket the
     * running job holds a slot of ("" none), written before job_seq is bumped:
     * the supervisor extends the hold with the job's lease. limited[i] counts
     * jobs deferred by limit i of the config (limits, in file order). */
    char job_hold_key[256];
    _Atomic uint64_t limited[16];
    /* v6: priorities. The queue of the running job (a pool reads several: pools[].queues),
     * written before job_seq is bumped like the other job_* strings. */
    char job_queue[72];
} sl_slot;

/** What a worker's Redis errors are about, for /readyz and the alert. */
typedef enum sl_redis_err {
    SL_RERR_NONE,
    SL_RERR_UNREACHABLE, /* connection refused, lost or timed out; no master (Sentinel) */
    SL_RERR_MOVED, /* MOVED/ASK that routing could not follow */
    SL_RERR_NOPERM, /* the ACL user may not run a command or touch a key */
    SL_RERR_WRONGTYPE, /* a sluice key holds another type */
    SL_RERR_UNAVAILABLE, /* LOADING, READONLY, MASTERDOWN, CLUSTERDOWN, OOM, BUSY... */
    SL_RERR_OTHER,
    SL_RERR_N
} sl_redis_err;

static inline const char *sl_redis_err_name(int k)
{
    static const char *const names[SL_RERR_N] = {"none",      "unreachable", "MOVED", "NOPERM",
                                                 "WRONGTYPE", "unavailable", "other"};
    return k >= 0 && k < SL_RERR_N ? names[k] : "?";
}

#endif
