/* Cancelled jobs on the worker's side ("Cancel" in common/functions.lua): the
 * EXISTS of the queue's cancel set sent with every read (no round trip of its
 * own), the check of each job with sluice_begin while that set is not empty,
 * and the settle of a running job its supervisor told to stop. The hot path
 * pays one small pipelined command per read and nothing per job. */
#ifndef SL_WORKER_CANCEL_H
#define SL_WORKER_CANCEL_H

#include "common/codec.h"
#include "common/redis.h"
#include "workers/acks.h"
#include "workers/settle.h"

struct sl_worker;

/** Fill argv (2 slots) with the probe sent after a read: EXISTS sluice:{Q}:cancels. */
void sl_cancel_probe_argv(const struct sl_worker *w, const char **argv);

/** The probe's reply (NULL: none): sets w->cancel_check for the batch the read
 *  brought. An error reply turns the check on: a failed probe never lets a
 *  cancelled job run. */
void sl_cancel_probe_result(struct sl_worker *w, const redisReply *r);

/** A batch's probe is renewed before its next job once it is this old (ms):
 *  a cancel made while earlier jobs of the batch ran then finds the rest
 *  checked. Batches of fast jobs end sooner and pay nothing. */
#define SL_CANCEL_PROBE_AGE_MS 5

/** 1 when the probe of the running batch is older than SL_CANCEL_PROBE_AGE_MS
 *  and said the cancel set was empty. No syscall. */
int sl_cancel_probe_due(const struct sl_worker *w, int64_t now_mono_ms);

/** Probe again now, on its own (after the batch's leases were extended: an
 *  extension counts as a new delivery for sluice_cancel's verdict). 0, or -1
 *  when the connection was lost. */
int sl_cancel_probe(struct sl_worker *w);

/**
 * With w->cancel_check, the check before job starts: FCALL sluice_begin.
 * @return 0 run it; 1 do not (cancelled: skipped and acked by the function, or
 *         no longer ours), *rc is OK; -1 the check failed (*rc says how: the
 *         entry stays pending and is replayed)
 */
int sl_cancel_begin(struct sl_worker *w, const sl_job *job, sl_settle *d, int64_t run_ttl_ms, sl_write_rc *rc);

/** 1 when the supervisor asked the running job to stop (its cancel_seq is the job's seq). */
int sl_cancel_requested(const struct sl_worker *w);

/** The handler of a job its supervisor told to stop has returned: settle it as
 *  cancelled (sluice_cancel_settle, outcome "stopped"), whatever it returned. */
sl_write_rc sl_cancel_stopped(struct sl_worker *w, const sl_job *job, sl_settle *d);

#endif
