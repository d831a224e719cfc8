/* The order in which a worker of a pool of several queues (pools[].queues)
 * tries them in one read cycle: strict queues (weight 0) first, then the
 * weighted ones in a weighted random order (docs/limits.md, "Priorities").
 * Private to workers/ (consume.c). */
#ifndef SL_WORKER_PRIO_H
#define SL_WORKER_PRIO_H

#include "common/config.h"

/** The weighted draw's state: a deck of first places (see sl_prio_order). */
typedef struct sl_prio {
    const sl_pool_cfg *pool;
    int deck[SL_POOL_QUEUES_MAX]; /* first places each weighted queue still has in this deal */
    int deck_left; /* their sum; 0: a new deal */
} sl_prio;

/** Bind p to pool's queue list (pool outlives p). */
void sl_prio_init(sl_prio *p, const sl_pool_cfg *pool);

/**
 * The pool's queues (indexes into pool->queues) in the order one read cycle
 * tries them. First the strict queues (weight 0) in list order, then every
 * weighted queue: Sidekiq's weighted random shuffle, where a queue comes
 * first among them with probability weight / (sum of weights). The first
 * place is dealt from a deck holding `weight` cards per queue, reshuffled when
 * empty, so over every sum-of-weights cycles each queue is first exactly
 * `weight` times: the ratio holds over short runs too, and no weighted queue
 * waits more than 2 * sum - 2 cycles for its first place. The places after the
 * first are drawn by weight without replacement.
 * @param out  room for pool->nqueues indexes
 * @return the number written (pool->nqueues)
 */
int sl_prio_order(sl_prio *p, int *out);

#endif
