/* Read order of a pool's queues (see prio.h): strict first, then weighted
 * random with the first place dealt from a deck. */
#include "workers/prio.h"

#include <string.h>

#include "common/util.h"

void sl_prio_init(sl_prio *p, const sl_pool_cfg *pool)
{
    memset(p, 0, sizeof(*p));
    p->pool = pool;
}

/* Deal the first weighted place: a card from the deck (a new deal when it is
 * empty). -1 when no queue has a weight. */
static int deal(sl_prio *p)
{
    int nq = (int)p->pool->nqueues;
    if (p->deck_left == 0)
        for (int q = 0; q < nq; q++)
            p->deck_left += p->deck[q] = p->pool->queues[q].weight;
    if (p->deck_left == 0)
        return -1;
    uint64_t r = sl_rand64() % (uint64_t)p->deck_left;
    for (int q = 0; q < nq; q++) {
        if (r < (uint64_t)p->deck[q]) {
            p->deck[q]--;
            p->deck_left--;
            return q;
        }
        r -= (uint64_t)p->deck[q];
    }
    return -1; /* cannot happen: r < deck_left */
}

int sl_prio_order(sl_prio *p, int *out)
{
    const sl_pool_cfg *pool = p->pool;
    int nq = (int)pool->nqueues > SL_POOL_QUEUES_MAX ? SL_POOL_QUEUES_MAX : (int)pool->nqueues;
    int n = 0, rest[SL_POOL_QUEUES_MAX], nrest = 0;
    for (int q = 0; q < nq; q++)
        if (pool->queues[q].weight == 0)
            out[n++] = q;
    int first = deal(p);
    if (first < 0)
        return n; /* every queue is strict */
    out[n++] = first;
    uint64_t total = 0;
    for (int q = 0; q < nq; q++)
        if (pool->queues[q].weight > 0 && q != first) {
            rest[nrest++] = q;
            total += (uint64_t)pool->queues[q].weight;
        }
    while (nrest > 0) { /* the other places: by weight, without replacement */
        uint64_t r = sl_rand64() % total;
        int i = 0;
        while (i + 1 < nrest && r >= (uint64_t)pool->queues[rest[i]].weight)
            r -= (uint64_t)pool->queues[rest[i++]].weight;
        out[n++] = rest[i];
        total -= (uint64_t)pool->queues[rest[i]].weight;
        rest[i] = rest[--nrest];
    }
    return n;
}
