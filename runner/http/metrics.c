/* The metrics registry (see metrics.h): groups, pools and queues created on
 * demand and kept until exit (so counters never go backwards), the folding of
 * an exited worker's status slot into its group. It calls nothing of the
 * gauges, which write their samples into its groups (gauges.c). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/http/metrics.h"

uint64_t sl_mx_sum(const sl_mx_counts *c, int outcome)
{
    uint64_t n = 0;
    for (int t = 0; t < c->ntypes; t++)
        n += c->outcome[t][outcome];
    return n + c->outcome[SL_MX_UNTYPED][outcome];
}

/* The row of type `name` in c, added when new; the untyped row when full. */
static int sl_mx_type_row(sl_mx_counts *c, const char *name)
{
    for (int t = 0; t < c->ntypes; t++)
        if (strcmp(c->type[t], name) == 0)
            return t;
    if (c->ntypes >= SL_MX_TYPES || !name[0])
        return SL_MX_UNTYPED;
    (void)sl_fmt(c->type[c->ntypes], sizeof c->type[0], "%s", name);
    return c->ntypes++;
}

static uint64_t sl_ld(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

void sl_mx_add_slot(sl_mx_counts *c, sl_slot *sh)
{
    if (!sh || sh->magic != SL_SLOT_MAGIC || sh->version < 3)
        return;
    uint32_t n = atomic_load_explicit(&sh->ntypes, memory_order_acquire);
    if (n > SL_SLOT_TYPES)
        n = SL_SLOT_TYPES;
    for (uint32_t i = 0; i < n; i++) {
        char name[SL_SLOT_TYPE_LEN];
        memcpy(name, sh->type_name[i], sizeof name);
        name[sizeof name - 1] = '\0';
        int row = sl_mx_type_row(c, name);
        for (int o = 0; o < SL_OUT_N; o++)
            c->outcome[row][o] += sl_ld(&sh->type_outcome[i][o]);
    }
    for (int o = 0; o < SL_OUT_N; o++)
        c->outcome[SL_MX_UNTYPED][o] += sl_ld(&sh->untyped_outcome[o]);
    for (int r = 0; r < SL_REASON_N; r++)
        c->dead[r] += sl_ld(&sh->dead_reason[r]);
    for (int b = 0; b <= SL_SLOT_NBUCKETS; b++) {
        c->dur[b] += sl_ld(&sh->duration.count[b]);
        c->wait[b] += sl_ld(&sh->wait.count[b]);
    }
    c->dur_sum_us += sl_ld(&sh->duration.sum_us);
    c->wait_sum_us += sl_ld(&sh->wait.sum_us);
    c->late += sl_ld(&sh->late_results);
    if (sh->version >= 6)
        for (int i = 0; i < 16; i++)
            c->limited[i] += sl_ld(&sh->limited[i]);
    c->reclaimed += sl_ld(&sh->reclaimed);
    c->registry_deferred += sl_ld(&sh->registry_deferred);
    /* Entries reclaim found deleted are dead-lettered "trimmed" by the
     * function itself: count them as dead letters here. */
    uint64_t deleted = sl_ld(&sh->reclaim_deleted);
    c->reclaim_deleted += deleted;
    c->dead[SL_REASON_trimmed] += deleted;
    c->outcome[SL_MX_UNTYPED][SL_OUT_DEAD] += deleted;
}

sl_mx_group *sl_metrics_group(sl_metrics *m, const char *queue, const char *group)
{
    sl_mx_group *g;
    for (g = m->groups; g; g = g->next)
        if (strcmp(g->queue, queue) == 0 && strcmp(g->group, group) == 0)
            return g;
    g = calloc(1, sizeof *g);
    if (!g || !(g->acc = calloc(1, sizeof *g->acc))) {
        free(g);
        return NULL;
    }
    g->m = m;
    (void)sl_fmt(g->queue, sizeof g->queue, "%s", queue);
    (void)sl_fmt(g->group, sizeof g->group, "%s", group);
    for (int i = 0; i < SL_MX_NREQ; i++) {
        g->req[i].g = g;
        g->req[i].kind = i;
    }
    /* Appended, so /metrics lists groups in config order. */
    sl_mx_group **tail = &m->groups;
    while (*tail)
        tail = &(*tail)->next;
    *tail = g;
    return g;
}

static sl_mx_pool *sl_metrics_pool(sl_metrics *m, const char *name)
{
    sl_mx_pool *p;
    for (p = m->pools; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    (void)sl_fmt(p->name, sizeof p->name, "%s", name);
    sl_mx_pool **tail = &m->pools;
    while (*tail)
        tail = &(*tail)->next;
    *tail = p;
    return p;
}

void sl_metrics_total(sl_metrics *m, const sl_mx_group *g, sl_mx_counts *out)
{
    const sl_mx_view *v = m->owner.view(m->owner.ctx);
    memcpy(out, g->acc, sizeof *out);
    for (int p = 0; p < v->npools; p++)
        for (int i = 0; i < v->pools[p].nslots; i++) {
            const sl_mx_slot_view *s = &v->pools[p].slots[i];
            if (s->pid && s->shm && strcmp(s->queue, g->queue) == 0 && strcmp(s->group, g->group) == 0)
                sl_mx_add_slot(out, s->shm);
        }
}

void sl_metrics_reaped(sl_metrics *m, const char *pool, const char *queue, const char *group, sl_slot *shm, int cause)
{
    if (!m)
        return;
    if (shm && queue[0]) {
        sl_mx_group *g = sl_metrics_group(m, queue, group);
        if (g)
            sl_mx_add_slot(g->acc, shm);
    }
    if (cause >= 0 && cause < SL_CAUSE_N) {
        sl_mx_pool *p = sl_metrics_pool(m, pool);
        if (p)
            p->restarts[cause]++;
    }
}

void sl_metrics_timeout(sl_metrics *m, const char *queue, const char *group, const char *type, int dead)
{
    if (!m)
        return;
    sl_mx_group *g = sl_metrics_group(m, queue, group);
    if (!g)
        return;
    int row = type && type[0] ? sl_mx_type_row(g->acc, type) : SL_MX_UNTYPED;
    g->acc->outcome[row][dead ? SL_OUT_DEAD : SL_OUT_RETRY]++;
    if (dead)
        g->acc->dead[SL_REASON_timeout]++;
}

void sl_metrics_cancelled(sl_metrics *m, const char *queue, const char *group, const char *type)
{
    sl_mx_group *g = m ? sl_metrics_group(m, queue, group) : NULL;
    if (g)
        g->acc->outcome[type && type[0] ? sl_mx_type_row(g->acc, type) : SL_MX_UNTYPED][SL_OUT_CANCELLED]++;
}

void sl_metrics_promoted(sl_metrics *m, const char *queue, uint64_t n)
{
    sl_mx_queue *q;
    if (!m)
        return;
    for (q = m->queues; q; q = q->next)
        if (strcmp(q->name, queue) == 0)
            break;
    if (!q) {
        if (!(q = calloc(1, sizeof *q)))
            return;
        (void)sl_fmt(q->name, sizeof q->name, "%s", queue);
        q->next = m->queues;
        m->queues = q;
    }
    q->promoted += n;
}

/* Mark the config's groups (and pools) active. */
static int sl_metrics_configure(sl_metrics *m)
{
    const sl_config *cfg = m->cfg;
    for (sl_mx_group *g = m->groups; g; g = g->next)
        g->active = g->start_all = 0;
    for (size_t i = 0; i < cfg->npools; i++) {
        const sl_pool_cfg *pc = &cfg->pools[i];
        if (!sl_metrics_pool(m, pc->name))
            return -1;
        for (size_t q = 0; q < pc->nqueues; q++) { /* each queue of pools[].queues: its gauges */
            sl_mx_group *g = sl_metrics_group(m, pc->queues[q].name, pc->group);
            if (!g)
                return -1;
            g->active = 1;
            if (!pc->start_at || strcmp(pc->start_at, "0") == 0)
                g->start_all = 1;
        }
    }
    return 0;
}

sl_metrics *sl_metrics_new(const sl_config *cfg, const sl_mx_owner *owner)
{
    sl_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->owner = *owner;
    m->cfg = cfg;
    m->started_ms = sl_now_mono_ms();
    if (sl_metrics_configure(m) != 0) {
        sl_metrics_free(m);
        return NULL;
    }
    return m;
}

int sl_metrics_reload(sl_metrics *m, const sl_config *cfg)
{
    m->cfg = cfg;
    return sl_metrics_configure(m);
}

void sl_metrics_free(sl_metrics *m)
{
    if (!m)
        return;
    if (m->sample_ev)
        event_free(m->sample_ev);
    while (m->groups) {
        sl_mx_group *next = m->groups->next;
        free(m->groups->acc);
        free(m->groups);
        m->groups = next;
    }
    while (m->pools) {
        sl_mx_pool *next = m->pools->next;
        free(m->pools);
        m->pools = next;
    }
    while (m->queues) {
        sl_mx_queue *next = m->queues->next;
        free(m->queues);
        m->queues = next;
    }
    free(m);
}
