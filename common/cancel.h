/* Cancelling a job from a C caller: find where job ID is in one queue
 * partition and hand those places to FCALL sluice_cancel (common/functions.lua,
 * "Cancel"), which makes the decision atomically. Shared by the producer API
 * (sluice_cancel, client/client.c) and `sluice jobs cancel` (cli/cmd_jobs.c). */
#ifndef SL_CANCEL_H
#define SL_CANCEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/redis.h"

/** Newest entries of each stream read when looking for a job id. */
#define SL_CANCEL_SCAN_LIMIT 100000

/** What sluice_cancel answered. */
typedef enum sl_cancel_verdict {
    SL_CANCEL_CANCELLED, /* cancelled now (state says how far the job was) */
    SL_CANCEL_ALREADY, /* cancelled before; nothing new */
    SL_CANCEL_FINISHED, /* every place is a finished run: completed or dead-lettered */
    SL_CANCEL_NOT_FOUND /* no place holds the job */
} sl_cancel_verdict;

typedef struct sl_cancel_result {
    sl_cancel_verdict verdict;
    char state[16]; /* cancelled, already: scheduled, queued, delivered or running; else "" */
    long long open; /* places a worker or supervisor still settles (0: all settled) */
    int truncated; /* a stream was searched only in its newest SL_CANCEL_SCAN_LIMIT entries */
} sl_cancel_result;

/**
 * Cancel job job_id of partition part (a queue's name, or Q#i): look for its
 * scheduled entries (ZSCAN), its work stream entry (the id itself when it is a
 * stream id, else a scan for the id field) and its entries in each group's
 * retry stream, then FCALL sluice_cancel with them. When a place moved
 * meanwhile (promoted, retried), it looks again, up to three times.
 * @param ttl_s  how long the cancel's record is kept (jobs.done_ttl)
 * @return 0 with *out filled, or -1 on a Redis error (message in err)
 */
int sl_cancel_job(sl_redis *r, const char *part, const char *job_id, int64_t ttl_s, sl_cancel_result *out, char *err,
                  size_t errlen);

/** The name of a verdict: "cancelled", "already", "finished", "not_found". */
const char *sl_cancel_verdict_name(sl_cancel_verdict v);

#endif
