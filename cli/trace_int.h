/* `sluice trace`: the jobs of one correlation id as collected from a queue's
 * work, retry, scheduled and dead-letter keys (cli/cmd_trace.c), linked by
 * causation_id and printed as a tree in text or JSON (cli/trace_tree.c).
 * Private to runner/. */
#ifndef SL_RUNNER_TRACE_INT_H
#define SL_RUNNER_TRACE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/** What became of a job in one consumer group. */
typedef enum tr_state {
    TR_UNDELIVERED = 0, /* not read by the group yet */
    TR_PENDING, /* delivered, not acknowledged: running, or waiting for its consumer */
    TR_COMPLETED, /* delivered and acknowledged, not dead-lettered */
    TR_RETRY_SCHEDULED, /* a retry waits in sluice:{Q}:sched */
    TR_DEAD, /* in the group's dead-letter stream */
    TR_UNKNOWN /* the work-stream entry is gone (trimmed) and no other trace of it */
} tr_state;

/** One group's view of a job. Strings are owned (NULL when absent). */
typedef struct tr_outcome {
    char *group;
    tr_state state;
    char *consumer; /* pending: owner */
    int64_t idle_ms; /* pending */
    long deliveries; /* pending */
    unsigned retries; /* retry copies seen (retry stream or scheduled) */
    unsigned last_attempt; /* highest attempt of those copies, 0 if none */
    char *retry_stream_id; /* the latest copy in sluice:{Q}:r:G */
    int64_t due_ms; /* retry scheduled: when */
    unsigned due_attempt; /* retry scheduled: its attempt */
    char *last_error; /* error of the attempt before the latest retry */
    char *reason, *error; /* dead */
    long attempts; /* dead */
    int64_t failed_at_ms; /* dead */
} tr_outcome;

/** One job: the work-stream entry (or what a retry copy or dead letter says of it). */
typedef struct tr_job {
    char *id, *type, *queue, *stream_id, *causation, *traceparent;
    int64_t enqueued_at_ms; /* 0: unknown */
    int64_t due_ms; /* a delayed job still in sluice:{Q}:sched */
    tr_outcome *out;
    size_t nout;
    size_t *kids;
    size_t nkids;
    long parent; /* index of the job whose id is our causation_id, -1 if none */
} tr_job;

/** A queue searched, and the groups found on it. */
typedef struct tr_queue {
    char *name;
    char **groups;
    size_t ngroups;
} tr_queue;

/** Everything `sluice trace` found. */
typedef struct tr_trace {
    const char *correlation;
    int64_t now_ms; /* Redis server time */
    long max_scan; /* entries read per key at most */
    tr_queue *queues;
    size_t nqueues;
    tr_job *jobs;
    size_t njobs, cap;
    char **notes; /* "scan of KEY stopped after N entries" and other caveats */
    size_t nnotes;
    long scanned; /* entries read in all */
} tr_trace;

/** Find or add the job with this id in queue (never NULL: aborts on OOM). */
tr_job *tr_job_get(tr_trace *t, const char *queue, const char *id);
/** Find or add group's outcome of job j. */
tr_outcome *tr_outcome_get(tr_job *j, const char *group);
/** Add a note (printf format). */
void tr_note(tr_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Sort jobs by enqueue time and each job's outcomes by group; link parents
 *  and children by causation_id. */
void tr_link(tr_trace *t);
/** Free everything t owns (not t itself). */
void tr_free(tr_trace *t);

/** Print the tree for people. */
void tr_print_text(const tr_trace *t, FILE *out);
/** Print the tree as JSON on stdout. 0, or 1 on OOM. */
int tr_print_json(const tr_trace *t);

/** Name of a state for people ("completed", "dead-lettered", ...). */
const char *tr_state_name(tr_state s);
/** Name of a state for JSON ("completed", "dead_lettered", "retry_scheduled", ...). */
const char *tr_state_key(tr_state s);

#endif
