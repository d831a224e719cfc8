/* sluice-worker: one process of a pool. Started by the supervisor with the
 * channel on fd 3 and the status slot on fd 4 (common/worker_slot.h), or standalone
 * with --config FILE for debugging and tests. Loads the pool's plugins, then
 * runs the read loop until SIGTERM/SIGINT, channel EOF or supervisor exit. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "sluice/version.h"
#include "workers/channel.h"
#include "workers/validation.h"
#include "workers/worker.h"

#define CONFIG_READ_TIMEOUT_MS 30000

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t reopen_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_reopen(int sig)
{
    (void)sig;
    reopen_flag = 1;
}

/* Signal -> action. No SA_RESTART: blocking calls see EINTR (hiredis retries its
 * reads, so a blocked XREADGROUP ends with its BLOCK, at most 2 s). */
static const struct {
    int sig;
    void (*fn)(int);
} signal_table[] = {
    {SIGTERM, on_stop},
    {SIGINT, on_stop},
    {SIGUSR1, on_reopen}, /* log rotation */
    {SIGPIPE, SIG_IGN}, /* a closed channel or socket is an error return, not death */
};

/* A fatal signal (a plugin's bug): write the buffered log lines, then die of
 * the same signal (SA_RESETHAND restored the default action). */
static void on_fatal(int sig)
{
    sl_log_flush_from_signal();
    raise(sig);
}

static void install_signals(void)
{
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_fatal;
        sa.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(fatal[i], &sa, NULL);
    }
    for (size_t i = 0; i < sizeof(signal_table) / sizeof(signal_table[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = signal_table[i].fn;
        sigemptyset(&sa.sa_mask);
        sigaction(signal_table[i].sig, &sa, NULL);
    }
}

typedef struct args {
    const char *pool;
    const char *consumer;
    const char *config; /* standalone mode */
    long slot;
    int check;
} args;

static void usage(FILE *f)
{
    fprintf(f, "usage: sluice-worker --pool NAME --slot N --consumer NAME [--check]\n"
               "         (started by `sluice run`: fd 3 = channel, fd 4 = status slot)\n"
               "       sluice-worker --config FILE --pool NAME [--slot N] [--consumer NAME] [--check]\n"
               "         (standalone, for debugging: SLUICE_* environment overrides apply)\n"
               "  --check    load and initialise the pool's plugins, then exit (0 ok, 78 refused)\n"
               "  --help, --version\n");
}

/* Parse argv. Returns -1 to exit 0 (help/version), 0 to run, 1 on a usage
 * error. Usage errors exit 78 like config errors: a respawn cannot fix them. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"pool", required_argument, NULL, 'p'},     {"slot", required_argument, NULL, 's'},
        {"consumer", required_argument, NULL, 'c'}, {"config", required_argument, NULL, 'f'},
        {"check", no_argument, NULL, 'k'},          {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0}};
    int o;
    char *end;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'p':
            a->pool = optarg;
            break;
        case 'c':
            a->consumer = optarg;
            break;
        case 'f':
            a->config = optarg;
            break;
        case 'k':
            a->check = 1;
            break;
        case 's':
            errno = 0;
            a->slot = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || a->slot < 0 || a->slot > 100000) {
                fprintf(stderr, "sluice-worker: --slot wants an integer 0..100000, got '%s'\n", optarg);
                return 1;
            }
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("sluice-worker %s (plugin ABI %d.%d)\n", SLUICE_VERSION_STRING, SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
            return -1;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc || !a->pool || (!a->config && !a->consumer)) {
        fprintf(stderr, "sluice-worker: %s\n", optind < argc ? "unexpected argument" : "missing --pool or --consumer");
        usage(stderr);
        return 1;
    }
    if (a->consumer && (!a->consumer[0] || strlen(a->consumer) > SL_CONSUMER_MAX)) {
        fprintf(stderr, "sluice-worker: --consumer wants 1..%d characters\n", SL_CONSUMER_MAX);
        return 1;
    }
    return 0;
}

/* Supervisor mode: die with the parent, then read the config from the channel. */
static sl_config *config_from_channel(sl_worker *w, char *err, size_t errlen)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    w->parent = getppid();
    if (w->parent == 1) {
        snprintf(err, errlen, "supervisor already gone");
        return NULL;
    }
    w->chan_fd = SL_CHANNEL_FD;
    char *json = sl_channel_read_config(SL_CHANNEL_FD, CONFIG_READ_TIMEOUT_MS, err, errlen);
    if (!json)
        return NULL;
    sl_config *cfg = sl_cfg_load_string(json, "supervisor", SL_CFG_NO_ENV, err, errlen);
    memset(json, 0, strlen(json)); /* it holds the Redis password */
    free(json);
    return cfg;
}

static void set_log_context(const sl_worker *w)
{
    const sl_kv kv[] = {SL_S("component", "worker"), SL_S("pool", w->pool->name), SL_S("consumer", w->consumer),
                        SL_I("pid", getpid())};
    sl_log_set_context(kv, sizeof(kv) / sizeof(kv[0]));
}

/* Load every plugin of the pool. Returns 0 or -1 (logged). */
static int load_plugins(sl_worker *w)
{
    char err[1024];
    for (size_t i = 0; i < w->pool->nplugins; i++) {
        if (sl_loader_load(w->loader, w->pool->plugins[i], err, sizeof(err)) != 0) {
            SL_LOG(SL_ERROR, "plugin refused", SL_S("error", err));
            return -1;
        }
    }
    if (sl_loader_nhandlers(w->loader) == 0)
        SL_LOG(SL_WARN, "no handlers registered: every job of this pool will be dead-lettered as unknown_type");
    return 0;
}

/* Every key the worker writes, of its first queue's first partition
 * (consume.c moves them to the others), after checking that every queue's
 * partition names fit. Returns 0 or -1 (names too long). */
static int make_keys(sl_worker *w)
{
    int64_t ttl = w->cfg->done_ttl_ms / 1000;
    snprintf(w->done_ttl, sizeof(w->done_ttl), "%lld", (long long)(ttl > 0 ? ttl : 1));
    for (int q = (int)w->pool->nqueues - 1; q >= 0; q--) /* ends on queue 0 */
        if (sl_worker_set_lane(w, q, sl_part_count(w->cfg, w->pool->queues[q].name) - 1) != 0)
            return -1;
    return sl_worker_set_lane(w, 0, 0);
}

int main(int argc, char **argv)
{
    args a = {0};
    int prc = parse_args(argc, argv, &a);
    if (prc != 0)
        return prc < 0 ? 0 : SL_EXIT_CONFIG;

    int rc = SL_EXIT_CONFIG;
    char err[1024] = "";
    sl_slot private_slot;
    sl_worker w;
    memset(&w, 0, sizeof(w));
    memset(&private_slot, 0, sizeof(private_slot));
    w.chan_fd = -1;
    w.stop = &stop_flag;
    w.reopen = &reopen_flag;
    install_signals();
    /* Nothing this process or a plugin executes may gain privileges (setuid
     * binaries, file capabilities): a plugin runs with what the worker has. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fprintf(stderr, "sluice-worker: prctl(PR_SET_NO_NEW_PRIVS) failed: %s\n", strerror(errno));
    /* The worker holds the Redis password: no core dumps, and no ptrace or
     * /proc/PID/mem by other processes of the same user (plugins included). */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* A deep read's reply (up to 1000 entries, about 1 MiB of small objects) is
     * built and freed once per read: with glibc's default, sliding trim
     * threshold the freed heap top goes back to the kernel after every read
     * and is faulted in (and zeroed) again by the next. Keep up to 4 MiB. */
    mallopt(M_TRIM_THRESHOLD, 4 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);

    if (a.config) {
        w.slot = &private_slot;
        w.cfg = sl_cfg_load_file(a.config, SL_CFG_ENV, err, sizeof(err));
    } else {
        if (!(w.slot = sl_slot_map(SL_SLOT_FD, err, sizeof(err))))
            goto cleanup;
        w.cfg = config_from_channel(&w, err, sizeof(err));
        if (!w.cfg && w.parent == 1)
            rc = 0; /* nobody left to report to */
    }
    if (!w.cfg)
        goto cleanup;
    sl_slot_start(w.slot);
    if (!(w.pool = sl_cfg_pool(w.cfg, a.pool))) {
        snprintf(err, sizeof(err), "%s: no pool named '%s'", w.cfg->origin, a.pool);
        goto cleanup;
    }
    w.slot_index = a.slot;
    if (a.consumer) {
        snprintf(w.consumer, sizeof(w.consumer), "%s", a.consumer);
    } else {
        char host[HOST_NAME_MAX + 1] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(w.consumer, sizeof(w.consumer), "%s-%s-%ld", host, w.pool->name, a.slot);
    }
    if (sl_log_open(w.cfg->log_file, (sl_log_format)w.cfg->log_format, (sl_log_level)w.cfg->log_level) != 0)
        SL_LOG(SL_WARN, "cannot open the log file; logging to stderr", SL_S("file", w.cfg->log_file));
    /* Lines are written in batches (consume.c and batch.c flush them; see
     * docs/configuration.md, "log"); sl_log_close and fatal signals too. */
    sl_log_set_buffered(1);
    set_log_context(&w);
    err[0] = '\0';

    if (make_keys(&w) != 0) {
        snprintf(err, sizeof(err), "queue/group names too long for keys");
        goto cleanup;
    }
    sl_redis_opts ro = {.connect_timeout_ms = w.cfg->connect_timeout_ms,
                        .command_timeout_ms = w.cfg->command_timeout_ms,
                        .reconnect_min_ms = w.cfg->reconnect_min_ms,
                        .reconnect_max_ms = w.cfg->reconnect_max_ms};
    if (!(w.redis = sl_redis_new(w.cfg->redis_url, &ro, err, sizeof(err))))
        goto cleanup;
    w.env = (sl_host_env){.cfg = w.cfg,
                          .pool = w.pool,
                          .part = w.part,
                          .queue = w.queue,
                          .consumer = w.consumer,
                          .redis = w.redis,
                          .stop = w.stop,
                          .slot = w.slot,
                          .sync = sl_worker_sync,
                          .sync_arg = &w};
    sl_host_ctx_init(&w.ctx, &w.env, NULL);
    if (!(w.loader = sl_loader_new(w.cfg->plugin_dir))) {
        snprintf(err, sizeof(err), "out of memory");
        goto cleanup;
    }
    sl_loader_set_env(w.loader, &w.env);
    if (load_plugins(&w) != 0)
        goto cleanup; /* logged with the reason */

    if (w.chan_fd >= 0 && sl_channel_send_ready(w.chan_fd) != 0)
        SL_LOG(SL_WARN, "cannot send ready to the supervisor", SL_S("error", strerror(errno)));
    if (a.check) {
        SL_LOG(SL_INFO, "plugin check passed", SL_I("plugins", sl_loader_nplugins(w.loader)),
               SL_I("handlers", sl_loader_nhandlers(w.loader)));
        rc = 0;
        goto cleanup;
    }
    SL_LOG(SL_INFO, "worker started", SL_S("queue", w.pool->queue), SL_I("queues", (int64_t)w.pool->nqueues),
           SL_S("group", w.pool->group), SL_S("redis", sl_redis_name(w.redis)),
           SL_I("handlers", sl_loader_nhandlers(w.loader)));
    sl_consume_run(&w);
    SL_LOG(SL_INFO, "worker stopped", SL_I("jobs_ok", atomic_load(&w.slot->jobs_ok)),
           SL_I("jobs_failed", atomic_load(&w.slot->jobs_fail)),
           SL_I("jobs_rejected", atomic_load(&w.slot->jobs_rejected)),
           SL_I("jobs_retried", atomic_load(&w.slot->jobs_retried)), SL_I("jobs_dead", atomic_load(&w.slot->jobs_dead)),
           SL_I("late_results", atomic_load(&w.slot->late_results)), SL_I("reclaimed", atomic_load(&w.slot->reclaimed)),
           SL_I("released", atomic_load(&w.slot->released)), SL_I("exit_code", w.exit_code));
    rc = w.exit_code;
cleanup:
    if (err[0]) {
        if (w.cfg)
            SL_LOG(SL_ERROR, "worker cannot start", SL_S("error", err));
        else
            fprintf(stderr, "sluice-worker: %s\n", err);
    }
    sl_loader_free(w.loader); /* fini() of every plugin */
    sl_host_ctx_cleanup(&w.ctx);
    free(w.fields);
    sl_schemas_free(&w);
    sl_redis_free(w.redis);
    if (w.slot && w.slot != &private_slot)
        sl_slot_unmap(w.slot);
    sl_cfg_free(w.cfg);
    sl_log_close();
    return rc;
}
