/* Failover under load, for the cluster and Sentinel suites: a producer thread
 * enqueues n jobs one by one through the public C client, retrying each
 * failed call (a new job each time) until it succeeds, while the test kills
 * the master; then the accounting checker (acct.h) says what became of every
 * acknowledged job, and th_failover_check asserts the guarantees. */
#ifndef TH_FAILOVER_H
#define TH_FAILOVER_H

#include <pthread.h>
#include <stdatomic.h>

#include <sluice/client.h>

#include "support/acct.h"

typedef struct th_producer {
    sluice_client *c;
    const char *queue, *payload;
    int n;
    char (*ids)[SLUICE_ID_MAX]; /* ids[0..done-1]: acknowledged */
    atomic_int done;
    int killed_at; /* done when th_producer_mark was called (-1: never) */
    long errors; /* failed enqueue calls (each retried) */
    char last_error[256];
    pthread_t thread;
} th_producer;

/** Start enqueueing n jobs of type test.acct with payload on queue (asserts). */
void th_producer_start(th_producer *p, sluice_client *c, const char *queue, const char *payload, int n);
/** Wait until at least count jobs are acknowledged (asserts within timeout_ms). */
void th_producer_wait(th_producer *p, int count, int timeout_ms);
/** Note how many were acknowledged now: the master is about to be killed. */
void th_producer_mark(th_producer *p);
/** Join the thread, assert all n were acknowledged in the end, and add their
 *  ids to the ledger. */
void th_producer_finish(th_producer *p, acct_ledger *a);
/** Free the ids (not the client). */
void th_producer_free(th_producer *p);

/** Wait until the ledger settles but for lost jobs (which never settle), and
 *  assert, printing the counts as "<name>": nothing pending, dead-lettered or
 *  both; at least one enqueue failed (the kill was under load); every job
 *  acknowledged after the kill ran; with wait_replicas > 0 none lost, else
 *  lost only among those acknowledged before it; duplicates at most
 *  max_duplicates. log: where to look on failure. */
void th_failover_check(acct_ledger *a, const th_producer *p, int wait_replicas, const char *name, long max_duplicates,
                       const char *log);

#endif
