/* `sluice run -t`: the config already loaded; now start one `--check` worker
 * per pool through the same spawn path (channel, status slot, config line) and
 * report which pools fail. Exit 0 when all pass, 78 otherwise. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runner/run.h"
#include "runner/spawn.h"
#include "runner/supervisor.h"

/* How long one pool's check may take before it is killed and reported. */
#define SL_CHECK_TIMEOUT_MS 60000

/* Wait for pid up to timeout_ms. Returns 1 with *status, or 0 on timeout
 * (the child is then killed and reaped). */
static int sl_sup_check_wait(pid_t pid, int64_t timeout_ms, int *status)
{
    int64_t deadline = sl_now_mono_ms() + timeout_ms;
    struct timespec tick = {0, 10 * 1000 * 1000};
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
        if (sl_now_mono_ms() >= deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, status, 0);
            return 0;
        }
        (void)nanosleep(&tick, NULL);
    }
}

/* Length of a plugin name without a trailing ".so" ("x" and "x.so" are one). */
static size_t sl_sup_plugin_stem(const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0 ? len - 3 : len;
}

/* Did a pool before (p, i) in config order name the same plugin? */
static int sl_sup_plugin_seen(const sl_config *cfg, size_t p, size_t i)
{
    const char *name = cfg->pools[p].plugins[i];
    size_t len = sl_sup_plugin_stem(name);
    for (size_t q = 0; q <= p; q++) {
        size_t end = q == p ? i : cfg->pools[q].nplugins;
        for (size_t j = 0; j < end; j++) {
            const char *o = cfg->pools[q].plugins[j];
            if (sl_sup_plugin_stem(o) == len && strncmp(o, name, len) == 0)
                return 1;
        }
    }
    return 0;
}

/* Number of distinct plugins over all pools. */
static size_t sl_sup_count_plugins(const sl_config *cfg)
{
    size_t n = 0;
    for (size_t p = 0; p < cfg->npools; p++)
        for (size_t i = 0; i < cfg->pools[p].nplugins; i++)
            n += !sl_sup_plugin_seen(cfg, p, i);
    return n;
}

/* Check one pool. Returns 0 if its check worker exited 0, else -1 (reported). */
static int sl_sup_check_pool(const sl_pool_cfg *pool, const char *path, const char *json, const char *hostname)
{
    char consumer[320];
    char err[256];
    sl_spawn_proc proc;
    int status = 0;

    (void)snprintf(consumer, sizeof consumer, "%s-%s-0", hostname, pool->name);
    sl_spawn_args args = {.path = path, .pool = pool->name, .slot = 0, .consumer = consumer, .check = 1};
    if (sl_spawn_worker(&args, &proc, err, sizeof err) != 0) {
        fprintf(stderr, "sluice: pool %s: check failed: %s\n", pool->name, err);
        return -1;
    }
    /* The worker reads the config line first; EPIPE only means it died early,
     * and its exit status tells why. */
    if (sl_spawn_write_all(proc.chan_fd, json, strlen(json)) == 0)
        (void)sl_spawn_write_all(proc.chan_fd, "\n", 1);
    int done = sl_sup_check_wait(proc.pid, SL_CHECK_TIMEOUT_MS, &status);
    (void)close(proc.chan_fd);
    sl_spawn_unmap(proc.shm);

    if (!done) {
        fprintf(stderr, "sluice: pool %s: check failed: no answer within %d s\n", pool->name,
                SL_CHECK_TIMEOUT_MS / 1000);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        fprintf(stderr, "sluice: pool %s: check failed: cannot execute %s\n", pool->name, path);
    else if (WIFEXITED(status))
        fprintf(stderr, "sluice: pool %s: check failed: worker exited with %d\n", pool->name, WEXITSTATUS(status));
    else
        fprintf(stderr, "sluice: pool %s: check failed: worker killed by signal %d (%s)\n", pool->name,
                WTERMSIG(status), strsignal(WTERMSIG(status)));
    return -1;
}

int sl_sup_run_check(const sl_config *cfg, const char *hostname)
{
    char path[PATH_MAX];
    char err[256];
    int failed = 0;

    if (sl_spawn_worker_path(cfg, path, sizeof path, err, sizeof err) != 0) {
        fprintf(stderr, "sluice: %s\n", err);
        return 1;
    }
    char *json = sl_cfg_to_json(cfg);
    if (!json) {
        fprintf(stderr, "sluice: cannot serialise the config: out of memory\n");
        return 1;
    }
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    (void)sigaction(SIGPIPE, &ign, NULL);

    for (size_t i = 0; i < cfg->npools; i++)
        if (sl_sup_check_pool(&cfg->pools[i], path, json, hostname) != 0)
            failed++;
    explicit_bzero(json, strlen(json));
    free(json);

    if (failed) {
        fprintf(stderr, "sluice: config check failed: %d of %zu pools\n", failed, cfg->npools);
        return SL_EXIT_CONFIG;
    }
    printf("config OK: %zu pools, %zu plugins\n", cfg->npools, sl_sup_count_plugins(cfg));
    return 0;
}
