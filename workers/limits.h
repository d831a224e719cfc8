/* Limits before a job runs (docs/limits.md): the rate limits of its type
 * (GCRA with reservations, sluice_limit_rate) and its concurrency limit
 * (sluice_limit_acquire), each per bucket of its key field. A job refused
 * waits in the queue's schedule, with no attempt spent (sluice_settle
 * "defer"). */
#ifndef SL_WORKER_LIMITS_H
#define SL_WORKER_LIMITS_H

#include <stddef.h>

#include "common/codec.h"
#include "workers/settle.h"

struct sl_worker;

typedef enum sl_limit_verdict {
    SL_LIMIT_RUN, /* run it; when it holds a concurrency slot, sl_limits_release after */
    SL_LIMIT_DEFERRED, /* moved to the schedule (*rc: the move's result) */
    SL_LIMIT_ERROR /* Redis refused a limit call (*rc): the entry stays pending */
} sl_limit_verdict;

/**
 * Admit job (decoded from fields fv[0..nf), pending in d->stream) under the
 * limits of its type. d is its settle (filled in for a deferral).
 */
sl_limit_verdict sl_limits_admit(struct sl_worker *w, const sl_job *job, const sl_field *fv, size_t nf, sl_settle *d,
                                 sl_write_rc *rc);

/** The job admitted last has finished: give back its concurrency slot. */
void sl_limits_release(struct sl_worker *w);

#endif
