/* Failover under load (failover.h). */
#include "support/failover.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "support/th.h"

static void *produce(void *arg)
{
    th_producer *p = arg;
    for (int j = 0; j < p->n; j++)
        for (int tries = 0;; tries++) {
            if (sluice_enqueue(p->c, p->queue, "test.acct", p->payload, 0, NULL, p->ids[j], SLUICE_ID_MAX) == 0) {
                atomic_store(&p->done, j + 1);
                break;
            }
            p->errors++;
            snprintf(p->last_error, sizeof p->last_error, "%s", sluice_client_error(p->c));
            if (tries > 1200) /* a minute */
                return NULL;
            th_sleep_ms(50);
        }
    return NULL;
}

void th_producer_start(th_producer *p, sluice_client *c, const char *queue, const char *payload, int n)
{
    *p = (th_producer){.c = c, .queue = queue, .payload = payload, .n = n, .killed_at = -1};
    p->ids = calloc((size_t)n, SLUICE_ID_MAX);
    cr_assert_not_null(p->ids);
    atomic_init(&p->done, 0);
    cr_assert_eq(pthread_create(&p->thread, NULL, produce, p), 0);
}

typedef struct want_done {
    th_producer *p;
    int count;
} want_done;

static int has_done(void *arg)
{
    want_done *w = arg;
    return atomic_load(&w->p->done) >= w->count;
}

void th_producer_wait(th_producer *p, int count, int timeout_ms)
{
    want_done w = {p, count};
    cr_assert(th_wait_until(has_done, &w, timeout_ms), "the producer is stuck at %d: %s", atomic_load(&p->done),
              p->last_error);
}

void th_producer_mark(th_producer *p)
{
    p->killed_at = atomic_load(&p->done);
}

void th_producer_finish(th_producer *p, acct_ledger *a)
{
    pthread_join(p->thread, NULL);
    int done = atomic_load(&p->done);
    cr_assert_eq(done, p->n, "every enqueue succeeded in the end (last error: %s)", p->last_error);
    for (int j = 0; j < p->n; j++)
        acct_add(a, p->ids[j]);
}

void th_producer_free(th_producer *p)
{
    free(p->ids);
    p->ids = NULL;
}

/* Nothing pending, scheduled or undelivered, and nothing lost; or, when
 * losses are possible (may_lose), the counts the same for two seconds. */
static int settle_with_loss(acct_ledger *a, int may_lose, acct_counts *k)
{
    long last = -1;
    int same = 0;
    for (int i = 0; i < 1200; i++) { /* two minutes */
        int rc = acct_check(a, NULL, k);
        long now = k->completed + k->dead + k->runs;
        if (rc == 0 && k->pending == 0 && k->scheduled == 0 && k->undelivered == 0 && now == last) {
            if (k->lost == 0 || (may_lose && ++same >= 20))
                return 1;
        } else
            same = 0;
        last = now;
        th_sleep_ms(100);
    }
    return 0;
}

void th_failover_check(acct_ledger *a, const th_producer *p, int wait_replicas, const char *name, long max_duplicates,
                       const char *log)
{
    acct_counts k;
    int settled = settle_with_loss(a, wait_replicas == 0, &k);
    acct_print(name, &k);
    /* unknown: enqueues reported as failed (WAIT timed out) that are on the
     * master all the same, and ran: the producer was told, and retried */
    fprintf(stderr,
            "%s: %d acknowledged before the kill, %ld enqueue errors during the failover (last: %s); lost %ld, "
            "duplicates %ld, failed enqueues that ran all the same %ld\n",
            name, p->killed_at, p->errors, p->last_error, k.lost, k.duplicates, k.unknown);
    if (k.lost)
        acct_print_bad(a, 10);
    cr_assert(settled, "%s not settled: pending=%ld scheduled=%ld undelivered=%ld (see %s)", name, k.pending,
              k.scheduled, k.undelivered, log);
    cr_assert_eq(k.enqueued, p->n);
    cr_assert_eq(k.both, 0);
    cr_assert_eq(k.dead, 0, "%s: no job dead-lettered by the failover (see %s)", name, log);
    cr_assert_gt(p->errors, 0, "%s: the producer saw the master go (else the kill was not under load)", name);
    cr_assert_geq(p->killed_at, 0);
    /* only jobs acknowledged before the kill can be lost: later ones were
     * written to the promoted master */
    for (int j = p->killed_at; j < p->n; j++) {
        const acct_job *s = acct_job_get(a, p->ids[j]);
        cr_assert(s && s->completions >= 1, "%s: job %d (%s), acknowledged after the kill, ran", name, j, p->ids[j]);
    }
    if (wait_replicas > 0)
        cr_assert_eq(k.lost, 0, "%s: with wait_replicas %d no acknowledged enqueue is lost", name, wait_replicas);
    else
        cr_assert_leq(k.lost, p->killed_at);
    cr_assert_leq(k.duplicates, max_duplicates, "%s: duplicates are bounded", name);
}
