/* Pools: the slots of one pools[] config entry and the reconciliation that
 * keeps them at their target — spawn what is missing, stop what is extra,
 * and replace outdated workers one slot at a time (rolling restart). */
#include <stdlib.h>
#include <string.h>

#include "common/journal_name.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/partition.h"
#include "runner/maint/maint.h"
#include "runner/supervisor.h"

/**
 * A new pool for cfg (which lives in sup->cfg), target = cfg->workers, no slots
 * yet (the first sl_pool_sync spawns them). Takes ownership of fingerprint.
 * @return the pool, or NULL when out of memory.
 */
sl_pool *sl_pool_new(sl_sup *sup, const sl_pool_cfg *cfg, char *fingerprint)
{
    sl_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->name = strdup(cfg->name))) {
        free(p);
        free(fingerprint);
        return NULL;
    }
    p->sup = sup;
    p->cfg = cfg;
    p->fingerprint = fingerprint;
    p->gen = 1;
    p->want = cfg->workers;
    return p;
}

/* A slot removed for good (a scale-down or a removed pool, not a supervisor
 * stop, whose successor reads its journal back): delete its worker's ack
 * journal, which no process will open again. sl_journal_remove_stale touches
 * only an unlocked 0600 file of ours. */
static void remove_journal_of(const sl_pool *p, const sl_pool_slot *s, const char *queue)
{
    char stream[SL_KEY_MAX], part[SL_PARTITION_NAME_MAX];
    int nparts = sl_part_count(p->sup->cfg, queue); /* a journal per partition */
    for (int i = 0; queue[0] && i < nparts; i++) {
        if (sl_part_name(part, sizeof part, queue, nparts, i) != 0 || sl_key_stream(stream, sizeof stream, part) != 0)
            return;
        if (sl_journal_remove_stale(p->sup->cfg->redis_url, stream, s->group, s->consumer) == 1)
            SL_LOG(SL_INFO, "removed the ack journal of a removed slot", SL_S("consumer", s->consumer),
                   SL_S("stream", stream));
    }
}

static void remove_journal(const sl_pool *p, const sl_pool_slot *s)
{
    /* a journal per queue of pools[].queues, when the pool still lists its slot's queue first */
    if (!p->cfg || p->cfg->nqueues < 2 || strcmp(p->cfg->queue, s->queue) != 0) {
        remove_journal_of(p, s, s->queue);
        return;
    }
    for (size_t q = 0; q < p->cfg->nqueues; q++)
        remove_journal_of(p, s, p->cfg->queues[q].name);
}

void sl_pool_free(sl_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nslots; i++)
        sl_pool_slot_free(p->slots[i]);
    free(p->slots);
    free(p->fingerprint);
    free(p->name);
    free(p);
}

int sl_pool_wants(const sl_pool *p, int i)
{
    return !p->sup->stopping && !p->removed && p->cfg && i < p->want;
}

int sl_pool_held(const sl_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i] && p->slots[i]->hold > 0)
            n++;
    return n;
}

int sl_pool_live(const sl_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i] && p->slots[i]->pid)
            n++;
    return n;
}

/* Why an unwanted slot is being stopped, for the logs. */
static const char *sl_pool_stop_reason(const sl_pool *p)
{
    if (p->sup->stopping)
        return "shutdown";
    if (p->removed)
        return "pool removed";
    return "resize";
}

/* Make room for `n` slot pointers. 0 or -1. */
static int sl_pool_reserve(sl_pool *p, int n)
{
    if (n <= p->nslots)
        return 0;
    sl_pool_slot **grown =
        realloc(p->slots, (size_t)n * sizeof *grown); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!grown)
        return -1;
    for (int i = p->nslots; i < n; i++)
        grown[i] = NULL; // NOLINT(clang-analyzer-unix.Malloc): n > nslots >= 0, so the size is not 0
    p->slots = grown;
    p->nslots = n;
    return 0;
}

/*
 * Rolling restart: when the pool's config changed (gen bumped), stop the
 * lowest live slot still running an older generation; its replacement is
 * spawned when it is reaped, and the next slot follows once that replacement
 * says "ready". Stops for good if a replacement fails with a config error
 * (roll_abort_gen), leaving the remaining workers on the previous config.
 */
static void sl_pool_roll(sl_pool *p)
{
    if (p->sup->stopping || p->removed || p->roll_abort_gen == p->gen)
        return;
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i] && p->slots[i]->restarting)
            return; /* one slot at a time */
    for (int i = 0; i < p->nslots; i++) {
        sl_pool_slot *s = p->slots[i];
        if (!s || !s->pid || s->gen == p->gen || s->stop_reason || !sl_pool_wants(p, i))
            continue;
        s->restarting = 1;
        SL_LOG(SL_INFO, "rolling restart: replacing worker", SL_S("pool", p->name), SL_I("slot", s->index),
               SL_I("pid", s->pid));
        sl_pool_slot_stop(s, "restart");
        return;
    }
}

void sl_pool_on_events(sl_pool *p)
{
    int any = 0;
    for (int i = 0; i < p->nslots; i++)
        if (p->slots[i] && p->slots[i]->events) {
            p->slots[i]->events = 0;
            any = 1;
        }
    if (any)
        sl_pool_sync(p); /* the roll moves on; an empty slot is respawned */
}

void sl_pool_reaped(sl_pool_slot *s, int status)
{
    sl_pool *p = s->pool;
    int index = s->index;
    if (sl_pool_slot_exited(s, status)) {
        p->roll_abort_gen = p->gen;
        SL_LOG(SL_ERROR, "rolling restart stopped: the new config fails; other workers keep the previous one",
               SL_S("pool", p->name), SL_I("slot", index));
    }
    sl_pool_sync(p); /* may free s */
}

void sl_pool_sync(sl_pool *p)
{
    int want = sl_pool_wants(p, 0) ? p->want : 0;
    if (sl_pool_reserve(p, want) != 0) {
        SL_LOG(SL_ERROR, "out of memory growing pool", SL_S("pool", p->name), SL_I("workers", want));
        want = p->nslots;
    }
    for (int i = 0; i < p->nslots; i++) {
        sl_pool_slot *s = p->slots[i];
        int wanted = sl_pool_wants(p, i);
        if (!s && wanted) {
            s = p->slots[i] = sl_pool_slot_new(p, i, p->sup->wake);
            if (!s) {
                SL_LOG(SL_ERROR, "out of memory creating slot", SL_S("pool", p->name), SL_I("slot", i));
                continue;
            }
        }
        if (!s)
            continue;
        if (!wanted) {
            if (s->pid) {
                sl_pool_slot_stop(s, sl_pool_stop_reason(p));
            } else if (!s->hold) { /* a held slot is freed when its move ends */
                if (!p->sup->stopping) {
                    remove_journal(p, s);
                    sl_maint_worker w;
                    sl_pool_slot_worker(s, &w);
                    sl_maint_forget_consumer(p->sup->maint, &w);
                }
                sl_pool_slot_free(s);
                p->slots[i] = NULL;
            }
            continue;
        }
        /* A held slot waits for the Redis move of its killed job first, so its
         * next worker cannot replay an entry that is being settled. */
        if (!s->pid && s->phase == SL_PHASE_EMPTY && !s->hold)
            sl_pool_slot_spawn(s);
    }
    while (p->nslots > 0 && !p->slots[p->nslots - 1])
        p->nslots--;
    sl_pool_roll(p);
}

void sl_pools_collect(sl_sup *sup)
{
    sl_pool **link = &sup->pools;
    while (*link) {
        sl_pool *p = *link;
        if (p->removed && sl_pool_live(p) == 0 && sl_pool_held(p) == 0) {
            *link = p->next;
            SL_LOG(SL_INFO, "pool removed", SL_S("pool", p->name));
            sl_pool_free(p);
        } else {
            link = &p->next;
        }
    }
}
