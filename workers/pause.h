/* Pausing a group's workers (`sluice pause`): while sluice:{Q}:paused:G exists
 * a worker reads no new entries; the job it is running finishes normally.
 * Private to workers/ (consume.c). */
#ifndef SL_WORKER_PAUSE_H
#define SL_WORKER_PAUSE_H

#include <stdint.h>

#include "common/keys.h"

struct sl_worker;

typedef struct sl_pause {
    char key[SL_KEY_MAX]; /* sluice:{Q}:paused:G */
    int paused; /* last state seen */
    int64_t next_check_ms; /* monotonic: the key is read at most every SL_PAUSE_CHECK_MS */
} sl_pause;

/** How often the key is read while running (GET, one round trip). */
#define SL_PAUSE_CHECK_MS 100
/** Longest sleep while paused before the key and stop are checked again. */
#define SL_PAUSE_SLEEP_MS 200

/** Build the key for the worker's queue and group. */
void sl_pause_init(sl_pause *p, const struct sl_worker *w);

/** The pause key's state (read at most every SL_PAUSE_CHECK_MS, "paused"/
 *  "resumed" logged once per transition), without sleeping. 1 paused, 0 not. */
int sl_pause_check(sl_pause *p, struct sl_worker *w);

/**
 * Before a read: check the pause key (cached for SL_PAUSE_CHECK_MS) and log
 * "paused"/"resumed" once per transition. When paused, sleeps up to
 * SL_PAUSE_SLEEP_MS (waking on stop) and returns 1: the caller must not read.
 * A failed GET keeps the last state (the read that follows reports the error).
 * @return 1 paused (skip this read), 0 go on.
 */
int sl_pause_gate(sl_pause *p, struct sl_worker *w);

#endif
