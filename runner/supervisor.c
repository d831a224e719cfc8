/* The supervisor (`sluice run`, cli/cmd_run.c): starts the pools, and runs
 * one libevent loop whose signal table (below) drives everything else:
 * graceful and fast stop, reload, reaping, resizing and log reopening. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "runner/http/http.h"
#include "runner/http/metrics.h"
#include "runner/maint/maint.h"
#include "runner/run.h"
#include "runner/supervisor.h"
#include "sluice/version.h"

/* supervisor.http_listen's default (common/config.c). */
#define SL_SUP_HTTP_DEFAULT "127.0.0.1:9464"

typedef void (*sl_sup_sig_fn)(sl_sup *sup, const char *signame);

static void sl_sup_sig_stop(sl_sup *sup, const char *signame);
static void sl_sup_sig_interrupt(sl_sup *sup, const char *signame);
static void sl_sup_sig_reload(sl_sup *sup, const char *signame);
static void sl_sup_sig_reap(sl_sup *sup, const char *signame);
static void sl_sup_sig_grow(sl_sup *sup, const char *signame);
static void sl_sup_sig_shrink(sl_sup *sup, const char *signame);
static void sl_sup_sig_reopen(sl_sup *sup, const char *signame);

/* Signal -> action (nginx style). Delivered through evsignal only. */
static const struct sl_sup_signal {
    int signo;
    const char *name;
    sl_sup_sig_fn fn;
} sl_sup_signals[] = {
    {SIGTERM, "SIGTERM", sl_sup_sig_stop}, /* graceful stop */
    {SIGINT, "SIGINT", sl_sup_sig_interrupt}, /* graceful stop; again: kill all */
    {SIGHUP, "SIGHUP", sl_sup_sig_reload}, /* reload the config file */
    {SIGCHLD, "SIGCHLD", sl_sup_sig_reap}, /* reap workers */
    {SIGTTIN, "SIGTTIN", sl_sup_sig_grow}, /* one more worker per pool */
    {SIGTTOU, "SIGTTOU", sl_sup_sig_shrink}, /* one less worker per pool */
    {SIGUSR1, "SIGUSR1", sl_sup_sig_reopen}, /* reopen the log file */
};
#define SL_SUP_NSIGNALS (sizeof sl_sup_signals / sizeof sl_sup_signals[0])

sl_pool_slot *sl_sup_find_pid(sl_sup *sup, pid_t pid)
{
    for (sl_pool *p = sup->pools; p; p = p->next)
        for (int i = 0; i < p->nslots; i++)
            if (p->slots[i] && p->slots[i]->pid == pid)
                return p->slots[i];
    return NULL;
}

static int sl_sup_live(const sl_sup *sup)
{
    int n = 0;
    for (const sl_pool *p = sup->pools; p; p = p->next)
        n += sl_pool_live(p);
    return n;
}

/* Slots held for a Redis move of their killed job: the stop waits for them. */
static int sl_sup_held(const sl_sup *sup)
{
    int n = 0;
    for (const sl_pool *p = sup->pools; p; p = p->next)
        n += sl_pool_held(p);
    return n;
}

/* Every wanted slot of every pool is disabled and nothing runs any more. */
static int sl_sup_all_disabled(const sl_sup *sup)
{
    int wanted = 0;
    if (sl_sup_live(sup) > 0)
        return 0;
    for (const sl_pool *p = sup->pools; p; p = p->next) {
        for (int i = 0; i < p->want && sl_pool_wants(p, i); i++) {
            const sl_pool_slot *s = i < p->nslots ? p->slots[i] : NULL;
            if (!s || s->phase != SL_PHASE_DISABLED)
                return 0;
            wanted++;
        }
    }
    return wanted > 0;
}

void sl_sup_check_done(sl_sup *sup)
{
    if (sup->closing)
        return;
    if (sup->stopping) {
        /* Held slots: the release of a killed job is still in flight. */
        if (sl_sup_live(sup) == 0 && sl_sup_held(sup) == 0) {
            SL_LOG(SL_INFO, "all workers stopped; supervisor exiting", SL_I("exit_code", 0));
            sup->exit_code = 0;
            event_base_loopbreak(sup->base);
        }
    } else if (sl_sup_all_disabled(sup)) {
        SL_LOG(SL_ERROR, "every worker slot is disabled by config errors; supervisor exiting",
               SL_I("exit_code", SL_EXIT_CONFIG));
        sup->exit_code = SL_EXIT_CONFIG;
        event_base_loopbreak(sup->base);
    }
}

/* ---- what the maintenance reports (sl_maint_owner) ---------------------- */

/* Every live worker running a job that is not being killed: its lease is extended. */
static void sl_sup_each_running(void *ctx, sl_maint_job_fn fn, sl_maint *m)
{
    sl_sup *sup = ctx;
    for (sl_pool *p = sup->pools; p; p = p->next)
        for (int i = 0; i < p->nslots; i++) {
            sl_pool_slot *s = p->slots[i];
            sl_job_snap snap;
            sl_maint_worker w;
            if (!s || !s->pid || !s->shm || s->kill_reason || sl_slot_snapshot(s->shm, &snap) != 0)
                continue;
            sl_pool_slot_worker(s, &w);
            fn(m, &w, &snap);
        }
}

/* The move of a killed job's entry ended: drop the slot's hold; the last one
 * respawns it, or frees it if unwanted, and re-checks the stop. */
static void sl_sup_on_moved(void *ctx, void *token)
{
    sl_sup *sup = ctx;
    sl_pool_slot *s = token;
    s->hold--;
    if (s->hold > 0 || sup->closing)
        return;
    sl_pool_sync(s->pool); /* s may be gone */
    sl_pools_collect(sup);
    sl_sup_check_done(sup);
}

static void sl_sup_on_promoted(void *ctx, const char *queue, uint64_t n)
{
    sl_sup *sup = ctx;
    sl_metrics_promoted(sup->metrics, queue, n);
}

static void sl_sup_on_timed_out(void *ctx, const char *queue, const char *group, const char *type, int dead)
{
    sl_sup *sup = ctx;
    sl_metrics_timeout(sup->metrics, queue, group, type, dead);
}

static void sl_sup_on_cancel_settled(void *ctx, const char *queue, const char *group, const char *type)
{
    sl_sup *sup = ctx;
    sl_metrics_cancelled(sup->metrics, queue, group, type);
}

static void sl_sup_sync_all(sl_sup *sup)
{
    for (sl_pool *p = sup->pools; p; p = p->next)
        sl_pool_sync(p);
}

/* SIGTERM, first SIGINT: stop spawning, SIGTERM every worker (each gets a
 * shutdown_timeout deadline, then SIGKILL), exit 0 once all are reaped. */
static void sl_sup_sig_stop(sl_sup *sup, const char *signame)
{
    if (sup->stopping) {
        SL_LOG(SL_INFO, "already stopping", SL_S("signal", signame), SL_I("workers", sl_sup_live(sup)));
        return;
    }
    sup->stopping = 1;
    SL_LOG(SL_INFO, "graceful stop: stopping all workers", SL_S("signal", signame), SL_I("workers", sl_sup_live(sup)),
           SL_I("shutdown_timeout_ms", sup->cfg->shutdown_timeout_ms));
    sl_sup_sync_all(sup);
    sl_sup_check_done(sup);
}

/* SIGINT: a graceful stop the first time; while stopping, SIGKILL everything. */
static void sl_sup_sig_interrupt(sl_sup *sup, const char *signame)
{
    if (!sup->stopping) {
        sl_sup_sig_stop(sup, signame);
        return;
    }
    SL_LOG(SL_WARN, "second SIGINT: killing all workers now", SL_I("workers", sl_sup_live(sup)));
    for (sl_pool *p = sup->pools; p; p = p->next)
        for (int i = 0; i < p->nslots; i++)
            if (p->slots[i] && p->slots[i]->pid)
                sl_pool_slot_kill_release(p->slots[i], "fast stop");
}

static void sl_sup_sig_reload(sl_sup *sup, const char *signame)
{
    (void)signame;
    sl_sup_reload(sup);
    sl_sup_check_done(sup);
}

/* SIGCHLD: reap every exited child (signals coalesce: loop until none left). */
static void sl_sup_sig_reap(sl_sup *sup, const char *signame)
{
    (void)signame;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            break;
        sl_pool_slot *s = sl_sup_find_pid(sup, pid);
        if (s)
            sl_pool_reaped(s, status);
        else
            SL_LOG(SL_DEBUG, "reaped an unknown child", SL_I("pid", pid));
    }
    sl_pools_collect(sup);
    sl_sup_check_done(sup);
}

/* SIGTTIN / SIGTTOU: change every pool's size by one (not below 0). The new
 * sizes last until the next reload sets them from the file again. */
static void sl_sup_resize(sl_sup *sup, const char *signame, int delta)
{
    if (sup->stopping) {
        SL_LOG(SL_INFO, "resize ignored while stopping", SL_S("signal", signame));
        return;
    }
    for (sl_pool *p = sup->pools; p; p = p->next) {
        if (p->removed)
            continue;
        int want = p->want + delta;
        p->want = want < 0 ? 0 : want;
        SL_LOG(SL_INFO, "pool resized", SL_S("signal", signame), SL_S("pool", p->name), SL_I("workers", p->want));
        sl_pool_sync(p);
    }
    sl_sup_check_done(sup);
}

static void sl_sup_sig_grow(sl_sup *sup, const char *signame)
{
    sl_sup_resize(sup, signame, +1);
}

static void sl_sup_sig_shrink(sl_sup *sup, const char *signame)
{
    sl_sup_resize(sup, signame, -1);
}

static void sl_sup_sig_reopen(sl_sup *sup, const char *signame)
{
    (void)sup;
    if (sl_log_reopen() != 0)
        SL_LOG(SL_ERROR, "log reopen failed", SL_S("signal", signame), SL_S("error", strerror(errno)));
    else
        SL_LOG(SL_INFO, "log reopened", SL_S("signal", signame));
}

/* A slot recorded an event (slot.c): every pool acts on its slots' events,
 * now that no slot callback is running. */
static void sl_sup_on_wake(evutil_socket_t fd, short what, void *arg)
{
    sl_sup *sup = arg;
    (void)fd;
    (void)what;
    if (sup->closing)
        return;
    for (sl_pool *p = sup->pools; p; p = p->next)
        sl_pool_on_events(p);
}

static void sl_sup_on_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    for (size_t i = 0; i < SL_SUP_NSIGNALS; i++)
        if (sl_sup_signals[i].signo == (int)signo)
            sl_sup_signals[i].fn(arg, sl_sup_signals[i].name);
}

/* Logging from the config, with component=supervisor on every line. */
static void sl_sup_open_log(const sl_config *cfg)
{
    if (sl_log_open(cfg->log_file, (sl_log_format)cfg->log_format, (sl_log_level)cfg->log_level) != 0)
        fprintf(stderr, "sluice: cannot open log file %s: %s (logging to stderr)\n", cfg->log_file ? cfg->log_file : "",
                strerror(errno));
    sl_kv ctx[] = {SL_S("component", "supervisor")};
    sl_log_set_context(ctx, 1);
}

/* Run the supervisor on a loaded config (owned). Returns the exit code. */
/* Publish the partition counts before any worker starts (partitions.c). A
 * refused change is a config error (exit 78); Redis unavailable while some
 * queue is partitioned is fatal too (exit 1), since its producers would not
 * find the count. Returns 0 to go on, -1 to stop with sup->exit_code set. */
static int sl_sup_partitions_start(sl_sup *sup)
{
    char err[2048];
    int rc = sl_sup_publish_partitions(sup->cfg, err, sizeof err);

    if (rc == -1) {
        SL_LOG(SL_ERROR, "partition count refused", SL_S("error", err), SL_I("exit_code", SL_EXIT_CONFIG));
        sup->exit_code = SL_EXIT_CONFIG;
    } else if (rc != 0) {
        SL_LOG(SL_ERROR, "cannot check and publish the partition counts", SL_S("error", err));
    }
    return rc == 0 ? 0 : -1;
}

int sl_sup_main(sl_config *cfg, const char *path, const char *hostname)
{
    sl_sup sup;
    struct event *sigev[SL_SUP_NSIGNALS] = {0};
    int total = 0;

    memset(&sup, 0, sizeof sup);
    sup.cfg = cfg;
    sup.cfg_path = path;
    sup.exit_code = 1;
    (void)snprintf(sup.hostname, sizeof sup.hostname, "%s", hostname);
    sl_sup_open_log(cfg);

    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    (void)sigaction(SIGPIPE, &ign, NULL); /* a dead worker's channel must not kill us */

    sup.base = event_base_new();
    if (!sup.base) {
        SL_LOG(SL_ERROR, "event_base_new() failed", SL_S("error", strerror(errno)));
        goto cleanup;
    }
    sup.wake = event_new(sup.base, -1, 0, sl_sup_on_wake, &sup);
    if (!sup.wake) {
        SL_LOG(SL_ERROR, "event_new() failed", SL_S("error", strerror(errno)));
        goto cleanup;
    }
    for (size_t i = 0; i < SL_SUP_NSIGNALS; i++) {
        sigev[i] = evsignal_new(sup.base, sl_sup_signals[i].signo, sl_sup_on_signal, &sup);
        if (!sigev[i] || evsignal_add(sigev[i], NULL) != 0) {
            SL_LOG(SL_ERROR, "evsignal_add() failed", SL_S("signal", sl_sup_signals[i].name));
            goto cleanup;
        }
    }
    if (sl_sup_set_cfg_json(&sup) != 0) {
        SL_LOG(SL_ERROR, "cannot serialise the config", SL_S("config", path));
        goto cleanup;
    }
    sl_pool **tail = &sup.pools;
    for (size_t i = 0; i < cfg->npools; i++) {
        *tail = sl_pool_new(&sup, &cfg->pools[i], sl_cfg_pool_fingerprint(cfg, &cfg->pools[i]));
        if (!*tail || !(*tail)->fingerprint) {
            SL_LOG(SL_ERROR, "out of memory creating pool", SL_S("pool", cfg->pools[i].name));
            goto cleanup;
        }
        total += cfg->pools[i].workers;
        tail = &(*tail)->next;
    }
    if (sl_sup_partitions_start(&sup) != 0)
        goto cleanup;
    sl_sup_register_schemas(&sup);
    const sl_maint_owner mowner = {.ctx = &sup,
                                   .each_running = sl_sup_each_running,
                                   .moved = sl_sup_on_moved,
                                   .promoted = sl_sup_on_promoted,
                                   .timed_out = sl_sup_on_timed_out,
                                   .cancel_seen = sl_sup_on_cancel_seen,
                                   .cancel_settled = sl_sup_on_cancel_settled};
    sup.maint = sl_maint_new(sup.base, sup.cfg, &mowner);
    if (!sup.maint) {
        SL_LOG(SL_ERROR, "cannot start the redis maintenance", SL_S("config", path));
        goto cleanup;
    }
    const sl_mx_owner xowner = {.ctx = &sup,
                                .base = sup.base,
                                .hostname = sup.hostname,
                                .conn = sl_maint_conn(sup.maint),
                                .maint_stats = sl_maint_stats_of(sup.maint),
                                .maint = sup.maint,
                                .view = sl_sup_view};
    sup.metrics = sl_metrics_new(sup.cfg, &xowner);
    if (!sup.metrics || sl_gauges_start(sup.metrics) != 0) {
        SL_LOG(SL_ERROR, "cannot start the metrics registry", SL_S("config", path));
        goto cleanup;
    }
    if (cfg->http_listen && cfg->http_listen[0]) {
        char herr[512];
        sup.http = sl_http_start(sup.base, sup.cfg, sup.metrics, cfg->http_listen, herr, sizeof herr);
        if (!sup.http && strcmp(cfg->http_listen, SL_SUP_HTTP_DEFAULT) == 0) {
            /* The built-in default is shared by every supervisor of the host
             * (a second one, test runs): not fatal. A configured address is. */
            SL_LOG(SL_ERROR,
                   "cannot start the http endpoint on the default address; running without it "
                   "(set supervisor.http_listen)",
                   SL_S("listen", cfg->http_listen), SL_S("error", herr));
        } else if (!sup.http) {
            SL_LOG(SL_ERROR, "cannot start the http endpoint", SL_S("listen", cfg->http_listen), SL_S("error", herr),
                   SL_I("exit_code", SL_EXIT_CONFIG));
            sup.exit_code = SL_EXIT_CONFIG;
            goto cleanup;
        }
    }
    if (sl_sup_watchdog_start(&sup) != 0) {
        SL_LOG(SL_ERROR, "cannot start the timeout watchdog", SL_S("error", strerror(errno)));
        goto cleanup;
    }
    SL_LOG(SL_INFO, "supervisor started", SL_S("version", SLUICE_VERSION_STRING), SL_I("pid", getpid()),
           SL_S("config", path), SL_I("pools", cfg->npools), SL_I("workers", total),
           SL_S("http_listen", sup.http ? sl_http_address(sup.http) : ""));
    sl_sup_sync_all(&sup);
    if (event_base_dispatch(sup.base) < 0) {
        SL_LOG(SL_ERROR, "event loop failed", SL_S("error", strerror(errno)));
        sup.exit_code = 1;
    }
    const sl_maint_stats *st = sl_maint_stats_of(sup.maint);
    SL_LOG(SL_INFO, "maintenance totals", SL_I("promoted", st->promoted), SL_I("leases_extended", st->extended),
           SL_I("timeouts_retried", st->timeout_retried), SL_I("timeouts_dead", st->timeout_dead),
           SL_I("timeouts_refused", st->timeout_refused), SL_I("timeouts_unsettled", st->timeout_unsettled),
           SL_I("released", st->released));

cleanup:
    /* From here on callbacks (the maintenance's, run with no reply when it
     * closes) must not spawn or stop anything. */
    sup.closing = 1;
    sup.stopping = 1;
    /* Only a fatal error leaves processes here: do not leave them orphaned. */
    for (sl_pool *p = sup.pools; p; p = p->next)
        for (int i = 0; i < p->nslots; i++)
            if (p->slots[i] && p->slots[i]->pid) {
                (void)kill(p->slots[i]->pid, SIGKILL);
                (void)waitpid(p->slots[i]->pid, NULL, 0);
                p->slots[i]->pid = 0;
            }
    sl_http_free(sup.http);
    sl_maint_free(sup.maint); /* before the pools: its callbacks touch slots */
    sup.maint = NULL;
    sl_metrics_free(sup.metrics); /* after the maint: its samples point into it */
    sup.metrics = NULL;
    sl_sup_view_free(&sup);
    while (sup.pools) {
        sl_pool *next = sup.pools->next;
        sl_pool_free(sup.pools);
        sup.pools = next;
    }
    if (sup.watchdog)
        event_free(sup.watchdog);
    if (sup.wake)
        event_free(sup.wake);
    for (size_t i = 0; i < SL_SUP_NSIGNALS; i++)
        if (sigev[i])
            event_free(sigev[i]);
    if (sup.base)
        event_base_free(sup.base);
    if (sup.cfg_json) {
        explicit_bzero(sup.cfg_json, sup.cfg_json_len);
        free(sup.cfg_json);
    }
    sl_cfg_free(sup.cfg);
    sl_log_close();
    return sup.exit_code;
}
