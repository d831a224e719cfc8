/* The read-only view of the supervisor's pools and slots that it hands the
 * metrics registry (sl_mx_owner.view): /status, /healthz, /readyz, /metrics
 * and the gauges read it instead of the supervisor's structures, so
 * runner/http needs nothing of supervisor.h. Rebuilt on each call into
 * buffers the supervisor keeps (no allocation once they are big enough);
 * the strings point into the pools and slots, so a view is read at once. */
#include <stdlib.h>

#include "common/log.h"
#include "runner/supervisor.h"

static const char *sl_view_phase(sl_pool_phase ph)
{
    static const char *const names[] = {"empty", "backoff", "starting", "ready", "disabled"};
    return (unsigned)ph < sizeof names / sizeof names[0] ? names[ph] : "?";
}

/* Make room for n elements of size each in *buf (capacity *cap). 0 or -1. */
static int sl_view_reserve(void **buf, int *cap, int n, size_t each)
{
    if (n <= *cap)
        return 0;
    void *grown = realloc(*buf, (size_t)n * each);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = n;
    return 0;
}

const sl_mx_view *sl_sup_view(void *ctx)
{
    sl_sup *sup = ctx;
    sl_sup_view_buf *b = &sup->view;
    int npools = 0, nslots = 0;
    for (const sl_pool *p = sup->pools; p; p = p->next) {
        npools++;
        for (int i = 0; i < p->nslots; i++)
            nslots += p->slots[i] != NULL;
    }
    b->view.stopping = sup->stopping;
    b->view.closing = sup->closing;
    b->view.npools = 0;
    b->view.pools = NULL;
    /* At least one of each, so neither buffer is NULL below. */
    if (sl_view_reserve((void **)&b->pools, &b->pools_cap, npools > 0 ? npools : 1, sizeof *b->pools) != 0 ||
        sl_view_reserve((void **)&b->slots, &b->slots_cap, nslots > 0 ? nslots : 1, sizeof *b->slots) != 0 ||
        !b->pools || !b->slots) {
        SL_LOG(SL_ERROR, "out of memory building the status view", SL_I("pools", npools), SL_I("slots", nslots));
        return &b->view;
    }
    int k = 0, n = 0;
    for (const sl_pool *p = sup->pools; p; p = p->next, k++) {
        sl_mx_pool_view *pv = &b->pools[k];
        pv->name = p->name;
        pv->queue = p->cfg ? p->cfg->queue : "";
        pv->group = p->cfg ? p->cfg->group : "";
        pv->want = p->want;
        pv->live = sl_pool_live(p);
        pv->removed = p->removed;
        pv->slots = &b->slots[n];
        pv->nslots = 0;
        for (int i = 0; i < p->nslots; i++) {
            const sl_pool_slot *s = p->slots[i];
            if (!s)
                continue;
            sl_mx_slot_view *sv = &b->slots[n++];
            sv->index = s->index;
            sv->pid = (int)s->pid;
            sv->consumer = s->consumer;
            sv->phase = sl_view_phase(s->phase);
            sv->ready = s->phase == SL_PHASE_READY;
            sv->queue = s->queue;
            sv->group = s->group;
            sv->shm = s->shm;
            pv->nslots++;
        }
    }
    b->view.npools = npools;
    b->view.pools = b->pools;
    return &b->view;
}

void sl_sup_view_free(sl_sup *sup)
{
    free(sup->view.pools);
    free(sup->view.slots);
    sup->view.pools = NULL;
    sup->view.slots = NULL;
    sup->view.pools_cap = sup->view.slots_cap = 0;
}
