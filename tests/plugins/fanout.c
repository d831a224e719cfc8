/* Test plugin of the fan-out suite: "test.fanout" behaves per pool (group)
 * from its settings: it fails (SLUICE_FAIL) the events whose payload "n" has
 * n % 100 < fail_pct, and records the others as "<job id> <attempt> <pid>
 * <deliveries>" in record_file (the accounting checker's format), after
 * sleeping sleep_ms if set. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

static long setting(sluice_ctx *ctx, const char *key)
{
    const char *v = host->config_get(ctx, key);
    return v ? strtol(v, NULL, 10) : 0;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *s = strstr(job->payload, "\"n\":");
    long n = s ? strtol(s + 4, NULL, 10) : -1;
    long fail_pct = setting(ctx, "fail_pct"), sleep_ms = setting(ctx, "sleep_ms");
    if (n >= 0 && n % 100 < fail_pct) {
        host->set_error(ctx, "event %ld refused by this service (fail_pct %ld)", n, fail_pct);
        return SLUICE_FAIL;
    }
    if (sleep_ms > 0) {
        struct timespec ts = {.tv_sec = sleep_ms / 1000, .tv_nsec = (sleep_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    const char *path = host->config_get(ctx, "record_file");
    if (!path) {
        host->set_error(ctx, "pool setting record_file is not set");
        return SLUICE_FAIL;
    }
    char line[512];
    int len = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    if (len < 0 || (size_t)len >= sizeof(line)) {
        host->set_error(ctx, "record line too long for job %s", job->id);
        return SLUICE_FAIL;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        host->set_error(ctx, "open(%s) failed: %s", path, strerror(errno));
        return SLUICE_RETRY;
    }
    ssize_t w = write(fd, line, (size_t)len);
    int e = errno;
    close(fd);
    if (w != len) {
        host->set_error(ctx, "write(%s) failed: %s", path, w < 0 ? strerror(e) : "short write");
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.fanout", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("fanout", "1.0", init, NULL)
