/* Retention (docs/operations.md#retention): every retention.interval the
 * supervisor runs sluice_trim on the work stream of each queue of its pools
 * that has a retention policy (queues.<name>), and on those queues' retry
 * streams of its groups (mode "acked"). Private to runner/ (maint.c owns it). */
#ifndef SL_RUNNER_MAINT_TRIM_H
#define SL_RUNNER_MAINT_TRIM_H

#include <stdint.h>

#include "common/keys.h"

struct sl_maint;
struct event;
typedef struct sl_maint_trim sl_maint_trim;
struct sl_trim_queue;

/** One stream sluice_trim runs on. Never freed before the trimmer (a call in
 *  flight points at it); a reload only clears `active`. */
typedef struct sl_trim_stream {
    struct sl_trim_stream *next;
    struct sl_trim_queue *q;
    char key[SL_KEY_MAX]; /* sluice:{Q} or sluice:{Q}:r:G */
    int retry; /* a retry stream: trimmed in mode "acked" */
    int active;
    int inflight; /* a sluice_trim is outstanding: skip ticks */
    int failing; /* last call failed (warned once until it works again) */
} sl_trim_stream;

/** A queue the trimmer has served. Read-only for others (metrics): walk
 *  sl_maint_trim_queues() on the supervisor's thread. */
typedef struct sl_trim_queue {
    struct sl_trim_queue *next;
    sl_maint_trim *t;
    char name[128];
    int active; /* in the config, with a retention policy */
    int64_t max_age_ms, max_len; /* its current policy */
    uint64_t trimmed_total; /* entries trimmed since start: work stream + retry streams */
    uint64_t retry_trimmed_total; /* the part of trimmed_total from retry streams */
    sl_trim_stream *streams;
} sl_trim_queue;

/** Start trimming for m (its supervisor's config and connection); the first
 *  round runs one retention.interval from now. NULL on out of memory. */
sl_maint_trim *sl_maint_trim_new(struct sl_maint *m);

/** The config was replaced: new policies, queues, groups and interval. */
void sl_maint_trim_reload(sl_maint_trim *t);

/** Free. Call after the connection is closed (its callbacks point here). NULL-safe. */
void sl_maint_trim_free(sl_maint_trim *t);

/** The queues served so far (inactive ones included, with their totals). */
const sl_trim_queue *sl_maint_trim_queues(const sl_maint_trim *t);

#endif
