/* Redis key names: the functions that build every key name the C side uses.
 * Every key of a queue shares the hash tag {queue}, so one queue lives in one
 * Redis Cluster slot and multi-key scripts stay legal. The list of all keys,
 * with their types and uses, is docs/guarantees.md "Keys" (a new key goes
 * there); the few the server-side functions build themselves are named in the
 * header comment of common/functions.lua. */
#ifndef SL_KEYS_H
#define SL_KEYS_H

#include <stddef.h>

/* Global keys of the schema registry (not queue-scoped). They share the hash
 * tag {:schemas}, which no queue can use (':' is not allowed in a queue name),
 * so the registry's check-and-set transaction stays legal in Redis Cluster
 * and never collides with a queue. */
#define SL_KEY_SCHEMAS "sluice:{:schemas}" /* hash: type -> schema JSON text */
#define SL_KEY_SCHEMAS_VERSION "sluice:{:schemas}:version" /* string: INCR on every change */

/* Global keys of the schedules (docs/scheduling.md), tag {:cron} for the same
 * reason: one slot, no queue's. */
#define SL_KEY_CRON_INDEX "sluice:{:cron}" /* hash: schedule name -> definition JSON */
#define SL_KEY_CRON_SEEN "sluice:{:cron}:seen" /* hash: schedule name -> server ms a supervisor last published it */
/* The limits' definitions (docs/limits.md), for sluice stats; the buckets are
 * sluice:{:limit:NAME:V} (common/limit.h). */
#define SL_KEY_LIMITS "sluice:{:limits}" /* hash: limit name -> definition JSON */

/** Longest key this module builds, including the NUL. */
#define SL_KEY_MAX 256

/** "sluice:{Q}". Returns 0, or -1 if it does not fit. */
int sl_key_stream(char *buf, size_t n, const char *queue);
/** "sluice:{Q}:dlq:G". Returns 0 or -1. */
int sl_key_dlq(char *buf, size_t n, const char *queue, const char *group);
/** "sluice:{Q}:fence:G": group G's ownership fence (see sluice_ack). Returns 0 or -1. */
int sl_key_fence(char *buf, size_t n, const char *queue, const char *group);
/** "sluice:{Q}:r:G". Returns 0 or -1. */
int sl_key_retry(char *buf, size_t n, const char *queue, const char *group);
/** What a queue's schedule adds to its work stream's name. */
#define SL_KEY_SCHED_SUFFIX ":sched"
/** "sluice:{Q}:sched". Returns 0 or -1. */
int sl_key_sched(char *buf, size_t n, const char *queue);
/** "sluice:{Q}:done:G:ID"; with job_id "" it is the prefix sluice_ack takes. Returns 0 or -1. */
int sl_key_done(char *buf, size_t n, const char *queue, const char *group, const char *job_id);
/** "sluice:{Q}:once:G:ID:K". Returns 0 or -1. */
int sl_key_once(char *buf, size_t n, const char *queue, const char *group, const char *job_id, const char *key);
/** "sluice:{Q}:paused:G": present while group G is paused (sluice pause). Returns 0 or -1. */
int sl_key_paused(char *buf, size_t n, const char *queue, const char *group);
/** "sluice:{Q}:stats:G": the supervisors' counter samples of group G (sluice stats). Returns 0 or -1. */
int sl_key_stats(char *buf, size_t n, const char *queue, const char *group);
/** "sluice:{Q}:idem:K": idempotency key K of sluice_enqueue. Returns 0 or -1
 *  (K may be longer than a name: size buf for it). */
int sl_key_idem(char *buf, size_t n, const char *queue, const char *key);

/** "sluice:{P}:cron:NAME": schedule NAME's state (paused, last tick) in
 *  partition P of its queue. Returns 0 or -1. */
int sl_key_cron(char *buf, size_t n, const char *queue, const char *name);
/** "sluice:{P}:cron:NAME:ticks": the ticks of schedule NAME handled (a zset).
 *  Returns 0 or -1. */
int sl_key_cron_ticks(char *buf, size_t n, const char *queue, const char *name);
/** "sluice:{Q}:cancels": the cancel set of Q (zset: job id -> cancel ms; see
 *  "Cancel" in common/functions.lua). Returns 0 or -1. */
int sl_key_cancels(char *buf, size_t n, const char *queue);
/** "sluice:{Q}:cancelled:ID": the record of job ID's cancel (hash, TTL). Returns 0 or -1. */
int sl_key_cancelled(char *buf, size_t n, const char *queue, const char *job_id);

/** "sluice:{Q}:partitions": the partition count of queue Q (a string "N",
 *  written by the supervisor when N > 1, absent when 1; common/partition.h).
 *  Q is the queue's own name, never a partition's. Returns 0 or -1. */
int sl_key_partitions(char *buf, size_t n, const char *queue);

/* ---- reading key names back (SCAN, scheduled entries' targets) ---- */

/** "sluice:{*}SUFFIX": the SCAN MATCH pattern of one kind of key of every
 *  queue ("" for the work streams, SL_KEY_SCHED_SUFFIX for the schedules). Returns 0 or -1. */
int sl_key_match_queues(char *buf, size_t n, const char *suffix);
/** The queue Q of a key that is exactly "sluice:{Q}SUFFIX", Q not empty and
 *  without '}': a pointer to Q inside key, its length in *len; NULL when key is
 *  not such a key. */
const char *sl_key_queue_of(const char *key, const char *suffix, size_t *len);
/** The group G of a key that is "sluice:{Q}:r:G" for this queue: a pointer to G
 *  inside key (possibly ""), or NULL when key is not a retry stream of Q. */
const char *sl_key_retry_group(const char *key, const char *queue);

#endif
