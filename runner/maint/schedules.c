/* Schedules on the supervisor's loop (see schedules.h). Each schedule keeps a
 * cursor: every tick up to it is handled. A timer every SL_SCHEDULE_TICK_MS
 * fires the next tick once Redis's clock (estimated from the last reply)
 * has passed it; sluice_cron_fire decides, atomically and by server time,
 * whether this call enqueues it. At start-up and after every reconnect a
 * schedule first asks sluice_cron_last for the last tick handled by anyone:
 * ticks after it that fell due while this supervisor was away are "missed"
 * and follow the schedule's policy; ticks that fell due while it was still
 * connected (a disconnect just after them) are fired as usual. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "common/cron_job.h"
#include "common/functions.h"
#include "common/log.h"
#include "common/util.h"
#include "runner/maint/internal.h"
#include "runner/maint/schedules.h"

#define SL_SCHEDULE_TICK_MS 100 /* how often due ticks are looked for */
#define SL_SCHEDULE_PUBLISH_MS 60000 /* how often definitions are published for the CLI */
#define SL_SCHEDULE_COUNT_MAX 1000000 /* ticks sl_schedule_ticks enumerates at most */

struct sl_maint_schedules {
    sl_maint *m;
    struct event *ev;
    sl_mschedule *list;
    int64_t offset_ms; /* Redis server time minus this host's clock, from the last reply */
    int64_t published_ms; /* local wall ms of the last sluice_cron_define, 0 = due */
    int publish_inflight;
};

static int64_t sl_sched_now(const sl_maint_schedules *s)
{
    return sl_now_wall_ms() + s->offset_ms;
}

static void sl_sched_saw_time(sl_maint_schedules *s, long long server_ms)
{
    if (server_ms > 0)
        s->offset_ms = (int64_t)server_ms - sl_now_wall_ms();
}

size_t sl_schedule_ticks(const sl_cron *c, int64_t from, int64_t to, int64_t *out, size_t max, int64_t *total)
{
    *total = 0;
    if (to <= from || max == 0)
        return 0;
    /* No "previous tick" search exists, so look back in growing windows until
     * one holds max ticks or reaches from: the work is a few times max calls
     * for a regular schedule, however far back from is. */
    for (int64_t w = 1000;; w = w > (to - from) / 4 ? to - from : w * 4) {
        int64_t lo = w >= to - from ? from : to - w, t = lo, nx, count = 0;
        while (count < SL_SCHEDULE_COUNT_MAX && sl_cron_next(c, t, &nx) == 0 && nx <= to) {
            out[(size_t)(count % (int64_t)max)] = nx;
            count++;
            t = nx;
        }
        if ((size_t)count < max && lo > from)
            continue;
        size_t n = (size_t)count < max ? (size_t)count : max;
        if ((size_t)count > max) { /* a ring: rotate so the oldest comes first */
            int64_t tmp[SL_SCHEDULE_CATCHUP_MAX];
            size_t start = (size_t)(count % (int64_t)max);
            if (max > SL_SCHEDULE_CATCHUP_MAX)
                return 0; /* callers pass at most SL_SCHEDULE_CATCHUP_MAX */
            for (size_t i = 0; i < max; i++)
                tmp[i] = out[(start + i) % max];
            memcpy(out, tmp, max * sizeof *out);
        }
        *total = lo == from && count < SL_SCHEDULE_COUNT_MAX ? count : -1;
        return n;
    }
}

/* ---- firing ------------------------------------------------------------- */

static void sl_sched_pump(sl_mschedule *e);

static void sl_sched_set_cursor(sl_mschedule *e, int64_t cursor)
{
    e->cursor = cursor;
    if (sl_cron_next(&e->cron, e->cursor, &e->next_tick) != 0)
        e->next_tick = -1;
}

/* tick was handled (by this call or a peer's). */
static void sl_sched_advance(sl_mschedule *e, int64_t tick, int from_catchup)
{
    if (from_catchup)
        e->catchup_at++;
    else
        sl_sched_set_cursor(e, tick);
    if (tick > e->last_tick)
        e->last_tick = tick;
}

typedef struct sl_sched_call {
    sl_mschedule *e;
    int64_t tick;
    int catchup; /* a tick of e->catchup */
} sl_sched_call;

static void sl_sched_on_fired(void *arg, redisReply *r)
{
    sl_sched_call call = *(sl_sched_call *)arg;
    sl_mschedule *e = call.e;
    free(arg);
    e->inflight = 0;
    if (!r)
        return; /* connection lost or timed out: a reconnect re-syncs */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        e->errors++;
        if (!e->failing)
            SL_LOG(SL_WARN, "sluice_cron_fire failed; retrying", SL_S("schedule", e->name), SL_I("tick", call.tick),
                   SL_S("error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
        e->failing = 1;
        if (sl_functions_missing(r))
            sl_mconn_reset(e->owner->m->conn, "function library missing");
        return;
    }
    if (e->failing)
        SL_LOG(SL_INFO, "sluice_cron_fire works again", SL_S("schedule", e->name));
    e->failing = 0;
    const char *outcome = r->element[0]->str;
    long long now = r->element[1]->integer;
    sl_sched_saw_time(e->owner, now);
    if (strcmp(outcome, "early") == 0)
        return; /* our estimate of Redis's clock ran ahead: the next timer tick retries */
    if (strcmp(outcome, "enqueued") == 0) {
        e->enqueued++;
        e->missed_enqueued += call.catchup;
        e->lag_ms = (int64_t)now - call.tick;
        SL_LOG(SL_INFO, "schedule tick enqueued", SL_S("schedule", e->name), SL_S("queue", e->part),
               SL_I("tick", call.tick), SL_I("lag_ms", e->lag_ms), SL_S("missed", call.catchup ? "yes" : "no"));
    } else if (strcmp(outcome, "paused") == 0) {
        e->paused_ticks++;
    } else {
        e->duplicates++;
    }
    sl_sched_advance(e, call.tick, call.catchup);
    sl_sched_pump(e);
}

/* FCALL sluice_cron_fire for one tick of e: the job's id is cron:NAME:TICK. */
static void sl_sched_fire(sl_mschedule *e, int64_t tick, int catchup)
{
    sl_cron_call *c = malloc(sizeof *c);
    sl_sched_call *call = malloc(sizeof *call);
    int64_t due = tick + (e->jitter_ms > 0 ? (int64_t)(sl_rand64() % (uint64_t)(e->jitter_ms + 1)) : 0);
    if (c && call &&
        sl_cron_call_build(c, e->part, e->name, "tick", tick, due, e->type, e->payload, sl_sched_now(e->owner)) == 0) {
        *call = (sl_sched_call){e, tick, catchup};
        if (sl_mconn_call(e->owner->m->conn, SL_MCONN_NOW, sl_sched_on_fired, call, c->argc, c->argv, c->lens) == 0) {
            e->inflight = 1;
            call = NULL;
        }
    }
    free(call);
    free(c);
}

/* Fire what is due: the catch-up first, then the next tick once Redis's
 * clock has passed it. */
static void sl_sched_pump(sl_mschedule *e)
{
    if (!e->active || !e->synced || e->inflight)
        return;
    if (e->catchup_at < e->ncatchup)
        sl_sched_fire(e, e->catchup[e->catchup_at], 1);
    else if (e->next_tick >= 0 && e->next_tick <= sl_sched_now(e->owner))
        sl_sched_fire(e, e->next_tick, 0);
}

/* ---- (re)syncing -------------------------------------------------------- */

static const char *const sl_missed_names[] = {"skip", "one", "all"};

/* Where e stands after sluice_cron_last said: last tick handled by anyone
 * (-1: none ever), Redis's time now. Sets the catch-up and the cursor. */
static void sl_sched_sync(sl_mschedule *e, int64_t last, int64_t now)
{
    int64_t normal[SL_SCHEDULE_CATCHUP_MAX], missed[SL_SCHEDULE_CATCHUP_MAX], nnormal_total = 0, nmissed_total = 0;
    size_t nn = 0, nm = 0;
    e->ncatchup = e->catchup_at = 0;
    if (!e->started && last < 0) { /* a new schedule: nothing can have been missed */
        e->started = e->synced = 1;
        sl_sched_set_cursor(e, now);
        SL_LOG(SL_INFO, "schedule started", SL_S("schedule", e->name), SL_S("queue", e->part), SL_S("cron", e->expr),
               SL_S("tz", e->tz[0] ? e->tz : "UTC"), SL_I("next", e->next_tick));
        return;
    }
    /* Ticks up to start are handled; those up to down fell due while this
     * supervisor was connected; those after it while no one could fire them
     * (or peers did: then they are duplicates). */
    int64_t start = e->started && e->cursor > last ? e->cursor : last;
    int64_t down = !e->started ? start : e->down_since == 0 ? now : e->down_since > start ? e->down_since : start;
    if (down > now)
        down = now;
    nn = sl_schedule_ticks(&e->cron, start, down, normal, SL_SCHEDULE_CATCHUP_MAX, &nnormal_total);
    nm = sl_schedule_ticks(&e->cron, down, now, missed, SL_SCHEDULE_CATCHUP_MAX, &nmissed_total);
    size_t take = e->missed == SL_MISSED_ALL ? nm : e->missed == SL_MISSED_ONE && nm > 0 ? 1 : 0;
    size_t keep = nn + take > SL_SCHEDULE_CATCHUP_MAX ? SL_SCHEDULE_CATCHUP_MAX - take : nn; /* the latest */
    memcpy(e->catchup, normal + (nn - keep), keep * sizeof *normal);
    nn = keep;
    memcpy(e->catchup + nn, missed + (nm - take), take * sizeof *missed);
    e->ncatchup = nn + take;
    e->missed_skipped += nm > take ? (uint64_t)(nm - take) : 0;
    if (nm > 0)
        SL_LOG(SL_WARN, "schedule missed ticks while no supervisor could enqueue them", SL_S("schedule", e->name),
               SL_S("policy", sl_missed_names[e->missed]), SL_I("missed", nmissed_total),
               SL_I("enqueue", (long long)take), SL_I("first_missed", missed[0]), SL_I("last_missed", missed[nm - 1]),
               SL_S("since", e->started ? "disconnect" : "start"));
    if (!e->started)
        SL_LOG(SL_INFO, "schedule started", SL_S("schedule", e->name), SL_S("queue", e->part), SL_S("cron", e->expr),
               SL_S("tz", e->tz[0] ? e->tz : "UTC"), SL_I("last_tick", last));
    e->started = e->synced = 1;
    e->down_since = 0;
    sl_sched_set_cursor(e, now);
    (void)nnormal_total;
}

static void sl_sched_on_last(void *arg, redisReply *r)
{
    sl_mschedule *e = arg;
    e->inflight = 0;
    if (!r)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        e->errors++;
        if (!e->failing)
            SL_LOG(SL_WARN, "sluice_cron_last failed; retrying", SL_S("schedule", e->name),
                   SL_S("error", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply"));
        e->failing = 1;
        if (sl_functions_missing(r))
            sl_mconn_reset(e->owner->m->conn, "function library missing");
        return;
    }
    e->failing = 0;
    sl_sched_saw_time(e->owner, r->element[1]->integer);
    sl_sched_sync(e, r->element[0]->integer, r->element[1]->integer);
    sl_sched_pump(e);
}

static void sl_sched_ask_last(sl_mschedule *e)
{
    const char *argv[] = {"FCALL", "sluice_cron_last", "2", e->state, e->ticks};
    if (sl_mconn_call(e->owner->m->conn, SL_MCONN_NOW, sl_sched_on_last, e, 5, argv, NULL) == 0)
        e->inflight = 1;
}

/* ---- publishing definitions (for sluice schedules) ---------------------- */

static void sl_sched_on_published(void *arg, redisReply *r)
{
    sl_maint_schedules *s = arg;
    s->publish_inflight = 0;
    if (r && r->type == REDIS_REPLY_INTEGER)
        sl_sched_saw_time(s, r->integer);
    else
        s->published_ms = 0; /* try again next tick */
}

static void sl_sched_publish(sl_maint_schedules *s)
{
    size_t n = 0, i = 0;
    for (sl_mschedule *e = s->list; e; e = e->next)
        n += e->active;
    if (n == 0 || s->publish_inflight)
        return;
    /* FCALL sluice_cron_define 2 sluice:{:cron} sluice:{:cron}:seen NAME JSON ... */
    const char **argv = calloc(5 + 2 * n, sizeof *argv);
    if (!argv)
        return;
    argv[i++] = "FCALL";
    argv[i++] = "sluice_cron_define";
    argv[i++] = "2";
    argv[i++] = SL_KEY_CRON_INDEX;
    argv[i++] = SL_KEY_CRON_SEEN;
    for (sl_mschedule *e = s->list; e; e = e->next)
        if (e->active) {
            argv[i++] = e->name;
            argv[i++] = e->def_json;
        }
    if (sl_mconn_call(s->m->conn, SL_MCONN_NOW, sl_sched_on_published, s, (int)i, argv, NULL) == 0) {
        s->publish_inflight = 1;
        s->published_ms = sl_now_wall_ms();
    }
    free(argv);
}

/* ---- the timer ---------------------------------------------------------- */

static void sl_sched_on_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_maint_schedules *s = arg;
    (void)fd;
    (void)what;
    if (!sl_mconn_ready(s->m->conn)) {
        for (sl_mschedule *e = s->list; e; e = e->next)
            if (e->synced && e->down_since == 0)
                e->down_since = sl_sched_now(s); /* ticks after this are missed unless a peer fires them */
        return;
    }
    if (s->published_ms == 0 || sl_now_wall_ms() - s->published_ms >= SL_SCHEDULE_PUBLISH_MS)
        sl_sched_publish(s);
    for (sl_mschedule *e = s->list; e; e = e->next) {
        if (!e->active || e->inflight)
            continue;
        if (!e->synced)
            sl_sched_ask_last(e);
        else
            sl_sched_pump(e);
    }
}

/* ---- the set of schedules ----------------------------------------------- */

/* The definition the CLI reads back from sluice:{:cron}. NULL on out of memory. */
static char *sl_sched_def_json(const sl_schedule_cfg *c, const char *part)
{
    cJSON *o = cJSON_CreateObject(), *payload = cJSON_Parse(c->payload);
    char *out = NULL;
    if (o && payload) {
        cJSON_AddItemToObject(o, "payload", payload);
        payload = NULL;
        if (cJSON_AddStringToObject(o, "queue", c->queue) && cJSON_AddStringToObject(o, "partition", part) &&
            cJSON_AddStringToObject(o, "cron", c->cron) && cJSON_AddStringToObject(o, "tz", c->tz) &&
            cJSON_AddStringToObject(o, "type", c->type) &&
            cJSON_AddStringToObject(o, "missed", sl_missed_names[c->missed]) &&
            cJSON_AddNumberToObject(o, "jitter_ms", (double)c->jitter_ms))
            out = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(payload);
    cJSON_Delete(o);
    return out;
}

static int sl_sched_set_str(char **slot, const char *v)
{
    char *c = v ? strdup(v) : NULL;
    if (v && !c)
        return -1;
    free(*slot);
    *slot = c;
    return 0;
}

/* Take c's definition into e (new or changed). 0 or -1 (out of memory, or a
 * config the loader would have refused). */
static int sl_sched_define(sl_maint_schedules *s, sl_mschedule *e, const sl_schedule_cfg *c)
{
    const sl_config *cfg = s->m->cfg;
    char err[160];
    int nparts = sl_part_count(cfg, c->queue);
    int p = sl_part_pick(nparts, NULL, c->name, NULL); /* by name: every supervisor picks the same */
    char *def;
    if (sl_fmt(e->name, sizeof e->name, "%s", c->name) != 0 || sl_fmt(e->queue, sizeof e->queue, "%s", c->queue) != 0 ||
        sl_part_name(e->part, sizeof e->part, c->queue, nparts, p) != 0 ||
        sl_fmt(e->tz, sizeof e->tz, "%s", c->tz) != 0 ||
        sl_cron_parse(c->cron, c->tz, &e->cron, err, sizeof err) != 0 ||
        sl_key_cron(e->state, sizeof e->state, e->part, c->name) != 0 ||
        sl_key_cron_ticks(e->ticks, sizeof e->ticks, e->part, c->name) != 0 || !(def = sl_sched_def_json(c, e->part)))
        return -1;
    free(e->def_json);
    e->def_json = def;
    if (sl_sched_set_str(&e->type, c->type) != 0 || sl_sched_set_str(&e->payload, c->payload) != 0 ||
        sl_sched_set_str(&e->expr, c->cron) != 0)
        return -1;
    e->missed = c->missed;
    e->jitter_ms = c->jitter_ms;
    if (e->started && sl_cron_next(&e->cron, e->cursor, &e->next_tick) != 0)
        e->next_tick = -1;
    return 0;
}

static int sl_sched_set(sl_maint_schedules *s)
{
    const sl_config *cfg = s->m->cfg;
    for (sl_mschedule *e = s->list; e; e = e->next)
        e->active = 0;
    for (size_t i = 0; i < cfg->nschedules; i++) {
        const sl_schedule_cfg *c = &cfg->schedules[i];
        sl_mschedule *e = s->list;
        while (e && strcmp(e->name, c->name) != 0)
            e = e->next;
        if (!e) {
            if (!(e = calloc(1, sizeof *e)))
                return -1;
            e->owner = s;
            e->next = s->list;
            s->list = e;
        }
        char part_before[SL_PARTITION_NAME_MAX];
        memcpy(part_before, e->part, sizeof part_before);
        if (sl_sched_define(s, e, c) != 0) {
            SL_LOG(SL_ERROR, "cannot run schedule", SL_S("schedule", c->name));
            continue;
        }
        if (strcmp(part_before, e->part) != 0) /* new, or moved to another partition: read its state */
            e->synced = e->started = 0;
        e->active = 1;
    }
    s->published_ms = 0;
    return 0;
}

sl_maint_schedules *sl_maint_schedules_new(sl_maint *m)
{
    struct timeval tv = {0, SL_SCHEDULE_TICK_MS * 1000};
    sl_maint_schedules *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->m = m;
    if (!(s->ev = event_new(m->base, -1, EV_PERSIST, sl_sched_on_tick, s)) || event_add(s->ev, &tv) != 0 ||
        sl_sched_set(s) != 0) {
        sl_maint_schedules_free(s);
        return NULL;
    }
    return s;
}

void sl_maint_schedules_reload(sl_maint_schedules *s)
{
    if (s && sl_sched_set(s) != 0)
        SL_LOG(SL_ERROR, "out of memory updating the schedules");
}

void sl_maint_schedules_ready(sl_maint_schedules *s)
{
    for (sl_mschedule *e = s ? s->list : NULL; e; e = e->next)
        e->synced = 0; /* sluice_cron_last first: what did peers do meanwhile */
}

void sl_maint_schedules_free(sl_maint_schedules *s)
{
    if (!s)
        return;
    if (s->ev)
        event_free(s->ev);
    while (s->list) {
        sl_mschedule *next = s->list->next;
        free(s->list->type);
        free(s->list->payload);
        free(s->list->expr);
        free(s->list->def_json);
        free(s->list);
        s->list = next;
    }
    free(s);
}

const sl_mschedule *sl_maint_schedules_list(const sl_maint_schedules *s)
{
    return s ? s->list : NULL;
}
