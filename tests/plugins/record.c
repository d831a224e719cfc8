/* Test plugin: handler "test.record" appends "<job id> <attempt> <pid>
 * <deliveries>\n" to the file named by the pool setting "record_file" with one
 * O_APPEND write (so concurrent workers never interleave), then succeeds. A
 * payload with "sleep_ms":N sleeps N ms first (for in-flight/SIGTERM tests). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

/* Sleep the whole time even when signals (SIGTERM) interrupt nanosleep. */
static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *s = strstr(job->payload, "\"sleep_ms\":");
    if (s) sleep_ms(strtol(s + strlen("\"sleep_ms\":"), NULL, 10));
    const char *path = host->config_get(ctx, "record_file");
    if (!path) {
        host->set_error(ctx, "pool setting record_file is not set");
        return SLUICE_FAIL;
    }
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        host->set_error(ctx, "record line too long for job %s", job->id);
        return SLUICE_FAIL;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        host->set_error(ctx, "open(%s) failed: %s", path, strerror(errno));
        return SLUICE_RETRY;
    }
    ssize_t w = write(fd, line, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n) {
        host->set_error(ctx, "write(%s) failed: %s", path, w < 0 ? strerror(e) : "short write");
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.record", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("record", "1.0", init, NULL)
