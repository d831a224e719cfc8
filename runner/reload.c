/* SIGHUP: reload the config file (with environment overrides) and apply it
 * pool by pool. A pool whose fingerprint is unchanged is only resized; a
 * changed one is restarted slot by slot; removed pools stop, new ones start.
 * Any error keeps the running config untouched. */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "runner/http/metrics.h"
#include "runner/maint/maint.h"
#include "runner/supervisor.h"

int sl_sup_set_cfg_json(sl_sup *sup)
{
    char *json = sl_cfg_to_json(sup->cfg);
    if (!json)
        return -1;
    if (sup->cfg_json) {
        explicit_bzero(sup->cfg_json, sup->cfg_json_len);
        free(sup->cfg_json);
    }
    sup->cfg_json = json;
    sup->cfg_json_len = strlen(json);
    return 0;
}

static sl_pool *sl_sup_pool_by_name(sl_sup *sup, const char *name)
{
    for (sl_pool *p = sup->pools; p; p = p->next)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

static int sl_sup_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Reopen the log if its settings changed; keep component=supervisor. */
static void sl_sup_relog(const sl_config *old, const sl_config *cfg)
{
    if (old->log_format == cfg->log_format && old->log_level == cfg->log_level &&
        sl_sup_same_str(old->log_file, cfg->log_file))
        return;
    if (sl_log_open(cfg->log_file, (sl_log_format)cfg->log_format, (sl_log_level)cfg->log_level) != 0)
        SL_LOG(SL_ERROR, "cannot open the new log file; logging to stderr",
               SL_S("file", cfg->log_file ? cfg->log_file : ""));
    sl_kv ctx[] = {SL_S("component", "supervisor")};
    sl_log_set_context(ctx, 1);
}

/* Apply one pools[] entry of the new config (already sup->cfg). Takes fp. */
static void sl_sup_apply_pool(sl_sup *sup, const sl_pool_cfg *pc, char *fp, int *added, int *restarted)
{
    sl_pool *p = sl_sup_pool_by_name(sup, pc->name);
    if (!p) {
        p = sl_pool_new(sup, pc, fp);
        if (!p) {
            SL_LOG(SL_ERROR, "out of memory adding pool", SL_S("pool", pc->name));
            return;
        }
        p->next = sup->pools;
        sup->pools = p;
        (*added)++;
        SL_LOG(SL_INFO, "pool added", SL_S("pool", p->name), SL_I("workers", p->want));
        return;
    }
    int old_want = p->want;
    p->removed = 0;
    p->cfg = pc;
    p->want = pc->workers;
    if (strcmp(p->fingerprint, fp) != 0) {
        free(p->fingerprint);
        p->fingerprint = fp;
        p->gen++;
        (*restarted)++;
        SL_LOG(SL_INFO, "pool config changed: rolling restart", SL_S("pool", p->name), SL_I("workers", p->want));
    } else {
        free(fp);
        if (old_want != p->want)
            SL_LOG(SL_INFO, "pool resized", SL_S("pool", p->name), SL_I("from", old_want), SL_I("workers", p->want));
    }
    /* A reload is the operator's "try again" for slots disabled by exit 78. */
    for (int i = 0; i < p->nslots; i++) {
        sl_pool_slot *s = p->slots[i];
        if (s && s->phase == SL_PHASE_DISABLED) {
            s->phase = SL_PHASE_EMPTY;
            s->crashes = 0;
            s->exec_failures = 0;
        }
    }
}

void sl_sup_reload(sl_sup *sup)
{
    char err[1024];
    sl_config *cfg = NULL;
    char **fps = NULL; /* fingerprints of the new pools, moved into the pools */
    size_t nfps = 0;
    char *old_json = NULL;
    size_t old_json_len = 0;
    int added = 0, restarted = 0, removed = 0;

    if (sup->stopping) {
        SL_LOG(SL_INFO, "reload ignored while stopping", SL_S("config", sup->cfg_path));
        return;
    }
    SL_LOG(SL_INFO, "reloading config", SL_S("config", sup->cfg_path));
    cfg = sl_cfg_load_file(sup->cfg_path, SL_CFG_ENV, err, sizeof err);
    if (!cfg) {
        SL_LOG(SL_ERROR, "config reload failed; keeping the running config", SL_S("error", err));
        goto cleanup;
    }
    /* A refused or unchecked partition count keeps the running config: the
     * workers of the new one would strand the old partitions' work. */
    if (sl_sup_publish_partitions(cfg, err, sizeof err) != 0) {
        SL_LOG(SL_ERROR, "config reload failed; keeping the running config", SL_S("error", err));
        goto cleanup;
    }
    fps = calloc(cfg->npools ? cfg->npools : 1, sizeof *fps);
    if (!fps)
        goto oom;
    nfps = cfg->npools;
    for (size_t i = 0; i < cfg->npools; i++)
        if (!(fps[i] = sl_cfg_pool_fingerprint(cfg, &cfg->pools[i])))
            goto oom;

    /* Commit: swap in the new config and its channel JSON, then re-point pools. */
    sl_config *old = sup->cfg;
    old_json = sup->cfg_json;
    old_json_len = sup->cfg_json_len;
    sup->cfg = cfg;
    sup->cfg_json = NULL;
    if (sl_sup_set_cfg_json(sup) != 0) {
        sup->cfg = old;
        sup->cfg_json = old_json;
        old_json = NULL;
        goto oom;
    }
    cfg = old; /* freed below, after nothing points into it */

    for (sl_pool *p = sup->pools; p; p = p->next) {
        if (!p->removed && !sl_cfg_pool(sup->cfg, p->name)) {
            p->removed = 1;
            p->want = 0;
            removed++;
            SL_LOG(SL_INFO, "pool no longer in the config: stopping it", SL_S("pool", p->name));
        }
        if (p->removed)
            p->cfg = NULL;
    }
    for (size_t i = 0; i < nfps; i++) { /* nfps == sup->cfg->npools: fps were made for this config */
        sl_sup_apply_pool(sup, &sup->cfg->pools[i], fps[i], &added, &restarted);
        fps[i] = NULL;
    }
    sl_sup_relog(cfg, sup->cfg);
    sl_sup_register_schemas(sup);
    for (sl_pool *p = sup->pools; p; p = p->next)
        sl_pool_sync(p);
    sl_pools_collect(sup);
    sl_maint_reload(sup->maint, sup->cfg); /* new queues, intervals, redis.* settings */
    /* groups to sample, stats_interval */
    if (sup->metrics && (sl_metrics_reload(sup->metrics, sup->cfg) != 0 || sl_gauges_arm(sup->metrics) != 0))
        SL_LOG(SL_ERROR, "cannot update the metrics registry after a reload");
    SL_LOG(SL_INFO, "config reloaded", SL_S("config", sup->cfg_path), SL_I("pools", sup->cfg->npools),
           SL_I("added", added), SL_I("restarting", restarted), SL_I("removed", removed));
    goto cleanup;

oom:
    SL_LOG(SL_ERROR, "config reload failed: out of memory; keeping the running config", SL_S("config", sup->cfg_path));
cleanup:
    for (size_t i = 0; fps && i < nfps; i++)
        free(fps[i]);
    free(fps);
    if (old_json) {
        explicit_bzero(old_json, old_json_len);
        free(old_json);
    }
    sl_cfg_free(cfg);
}
