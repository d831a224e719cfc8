/* The one FCALL sluice_cron_fire of a schedule's job (common/functions.lua),
 * built the same way by the supervisor (each tick, runner/maint/schedules.c)
 * and by `sluice schedules trigger`. */
#ifndef SL_COMMON_CRON_JOB_H
#define SL_COMMON_CRON_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/codec.h"
#include "common/keys.h"
#include "common/trace.h"

/** Arguments before the job's fields: FCALL name 4 K1..K4 tick due mode. */
#define SL_CRON_CALL_PREFIX 10

/** A built call: argv/lens point into the struct itself (do not copy it). */
typedef struct sl_cron_call {
    int argc;
    const char *argv[SL_CODEC_MAX_ARGS + SL_CRON_CALL_PREFIX];
    size_t lens[SL_CODEC_MAX_ARGS + SL_CRON_CALL_PREFIX];
    char stream[SL_KEY_MAX], sched[SL_KEY_MAX], state[SL_KEY_MAX], ticks[SL_KEY_MAX];
    char id[SL_CODEC_TEXT_MAX + 1], corr[37], tp[SL_TRACE_SIZE], tick[24], due[24];
    sl_xadd_args xadd;
} sl_cron_call;

/**
 * Build the call for schedule name of queue partition part: mode "tick" (tick
 * and due in epoch ms; the job id is cron:NAME:TICK) or "trigger" (enqueued
 * now, id cron:NAME:trigger:UUID; tick and due unused). A new correlation id
 * and trace; enqueued_at is now_ms.
 * @return 0, or -1 when a name or the type does not fit the rules
 */
int sl_cron_call_build(sl_cron_call *c, const char *part, const char *name, const char *mode, int64_t tick, int64_t due,
                       const char *type, const char *payload, int64_t now_ms);

#endif
