/* Accounting checker of the fault suites: from the job ids a producer got back,
 * the completions a handler recorded ("<job id> <attempt> <pid> <deliveries>"),
 * the group's dead-letter stream and the queue's cancel records
 * (sluice:{Q}:cancelled:ID), what became of each job: completed,
 * dead-lettered (by reason), cancelled, both completed and dead (a defect) or
 * lost (a defect). */
#ifndef TH_ACCT_H
#define TH_ACCT_H

#include "common/hiredis_compat.h"

/** Dead-letter reasons the checker counts separately ("other" for the rest). */
#define ACCT_REASONS \
    X(failed)        \
    X(exhausted) X(crashed) X(timeout) X(bad_envelope) X(bad_payload) X(oversize) X(unknown_type) X(trimmed) X(other)

typedef enum acct_reason {
#define X(r) ACCT_##r,
    ACCT_REASONS
#undef X
        ACCT_NREASONS
} acct_reason;

/** The totals of one check. */
typedef struct acct_counts {
    long enqueued; /* distinct ids added with acct_add */
    long completed; /* distinct enqueued ids with at least one completion */
    long runs; /* completion lines (all of them) */
    long duplicates; /* completions beyond the first, summed over ids */
    long dead; /* distinct enqueued ids in the dead-letter stream */
    long dead_dups; /* dead letters beyond the first, summed over ids */
    long by_reason[ACCT_NREASONS];
    long both; /* completed AND dead-lettered: must be 0 */
    long cancelled; /* distinct enqueued ids with a cancel record */
    long cancelled_ran; /* ... of which completed too (cancelled while "delivered": it may have run) */
    long lost; /* none of completed, dead, cancelled: must be 0 once settled */
    long unknown; /* completed or dead ids that were never enqueued */
    long pending; /* XPENDING of the group on the work and retry streams (-1: no group) */
    long scheduled; /* ZCARD sluice:{Q}:sched */
    long undelivered; /* 1 while the group has not read to the end of a stream */
} acct_counts;

/** What became of one job, after acct_check. */
typedef struct acct_job {
    int enqueued;
    int completions;
    unsigned attempt; /* of the last completion */
    unsigned deliveries_max; /* largest deliveries of its completions */
    int dead; /* dead letters */
    int cancelled; /* a cancel record exists */
    char reason[32]; /* of the last dead letter */
    long attempts; /* its "attempts" field (-1 absent) */
    long deliveries; /* its "deliveries" field (-1 absent) */
} acct_job;

typedef struct acct_ledger acct_ledger;

/** A checker for group `group` of queue `queue`; completions in record_path. */
acct_ledger *acct_new(const char *queue, const char *group, const char *record_path);
void acct_free(acct_ledger *a);
/** The queue has n partitions (queues.<Q>.partitions): every check reads the
 *  dead letters, pending lists, schedules and streams of Q#0..Q#n-1. */
void acct_set_partitions(acct_ledger *a, int n);
/** Where the keys of queue (or partition) q live: a connection to its master. */
typedef redisContext *(*acct_route_fn)(void *arg, const char *q);
/** On a cluster: each check reads partition q's keys on route(arg, q), not on
 *  the context acct_check is given (which may then be NULL). */
void acct_set_route(acct_ledger *a, acct_route_fn route, void *arg);
/** Add an enqueued job id (the id the producer got back). Repeats are ignored. */
void acct_add(acct_ledger *a, const char *job_id);
/** Re-read the record file, the dead-letter stream and Redis's counters.
 *  Returns 0, or -1 when Redis could not be read (counts then partial). */
int acct_check(acct_ledger *a, redisContext *c, acct_counts *out);
/** Poll acct_check until every job is completed or dead, nothing is pending,
 *  scheduled or undelivered, or timeout_ms passes. Returns 1 when settled. */
int acct_wait_settled(acct_ledger *a, redisContext *c, int timeout_ms, acct_counts *out);
/** The job's state after the last acct_check (NULL if never seen). */
const acct_job *acct_job_get(const acct_ledger *a, const char *job_id);
/** The name of a reason ("crashed"...). */
const char *acct_reason_name(acct_reason r);
/** Up to max lost or both-completed-and-dead job ids (after the last
 *  acct_check) to stderr. */
void acct_print_bad(const acct_ledger *a, int max);
/** One line to stderr: "scenario <name>: enqueued=... lost=...". */
void acct_print(const char *name, const acct_counts *k);

#endif
