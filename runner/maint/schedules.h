/* Schedules on the supervisor's loop (docs/scheduling.md): every schedule of
 * the config fires on every supervisor that has it; each tick goes through
 * FCALL sluice_cron_fire, which enqueues it once however many call, by Redis
 * server time. Ticks missed while no supervisor could reach Redis follow the
 * schedule's `missed` policy. Private to runner/ (maint.c owns it). */
#ifndef SL_RUNNER_MAINT_SCHEDULES_H
#define SL_RUNNER_MAINT_SCHEDULES_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/cron.h"
#include "common/keys.h"
#include "common/partition.h"

struct sl_maint;
typedef struct sl_maint_schedules sl_maint_schedules;

/** Most ticks one catch-up enqueues (missed "all", and the ticks that fell due
 *  just before a disconnect): the latest ones. */
#define SL_SCHEDULE_CATCHUP_MAX 100

/** One schedule. Never freed before its owner (a call in flight points at
 *  it); a reload only clears `active`. Read-only for others (metrics). */
typedef struct sl_mschedule {
    struct sl_mschedule *next;
    sl_maint_schedules *owner;
    char name[72], queue[72], part[SL_PARTITION_NAME_MAX];
    char *type, *payload, *expr, *def_json; /* copies of the config's */
    char tz[SL_CRON_ZONE_MAX];
    sl_cron cron;
    sl_missed missed;
    int64_t jitter_ms;
    char state[SL_KEY_MAX], ticks[SL_KEY_MAX]; /* sluice:{P}:cron:NAME and its :ticks */
    int active;
    int synced; /* sluice_cron_last answered since the last (re)connect */
    int started; /* synced at least once: cursor is valid */
    int inflight; /* a call is outstanding */
    int failing; /* the last call failed (logged once until it works) */
    int64_t cursor; /* every tick <= cursor is handled */
    int64_t next_tick; /* the first tick after cursor, -1 when none */
    int64_t down_since; /* server ms (estimated) the connection was lost, 0 = up */
    int64_t catchup[SL_SCHEDULE_CATCHUP_MAX]; /* ticks <= cursor still to fire, oldest first */
    size_t ncatchup, catchup_at;
    /* counters since start (this supervisor's calls) */
    uint64_t enqueued, duplicates, paused_ticks, missed_skipped, missed_enqueued, errors;
    int64_t last_tick; /* the last tick this supervisor saw handled, 0 = none */
    int64_t lag_ms; /* server time minus tick when this supervisor last enqueued one */
} sl_mschedule;

/** Start running m's config's schedules. NULL on out of memory. */
sl_maint_schedules *sl_maint_schedules_new(struct sl_maint *m);

/** The config was replaced: schedules added, changed or removed. */
void sl_maint_schedules_reload(sl_maint_schedules *s);

/** The connection is ready again: every schedule re-reads where it stands. */
void sl_maint_schedules_ready(sl_maint_schedules *s);

/** Free. Call after the connection is closed (its callbacks point here). NULL-safe. */
void sl_maint_schedules_free(sl_maint_schedules *s);

/** Every schedule run so far (inactive ones too). */
const sl_mschedule *sl_maint_schedules_list(const sl_maint_schedules *s);

/**
 * The ticks of c in (from, to], at most max of them, the latest, oldest first,
 * into out; *total gets how many there are, or -1 when more than were counted
 * (from is far back). Bounded work however far back from is. Returns the number
 * written.
 */
size_t sl_schedule_ticks(const sl_cron *c, int64_t from, int64_t to, int64_t *out, size_t max, int64_t *total);

#endif
