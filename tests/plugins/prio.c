/* Test plugin for priorities: handler "test.prio" appends "<queue> <job id>
 * <pid>\n" to <record_dir>/starts.txt when it starts (one O_APPEND write, so
 * the file is the order in which jobs started across workers), sleeps the
 * payload's "sleep_us" microseconds, then appends the record line "<job id>
 * <attempt> <pid> <deliveries>" to <record_dir>/<queue>.txt (the accounting
 * checker's completions, one file per queue) and succeeds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

/* Append line to record_dir/name with one write. 0, or -1 (error set). */
static int append(sluice_ctx *ctx, const char *name, const char *line, int n)
{
    const char *dir = host->config_get(ctx, "record_dir");
    char path[1024];
    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        host->set_error(ctx, "pool setting record_dir is not set or too long");
        return -1;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        host->set_error(ctx, "open(%s) failed: %s", path, strerror(errno));
        return -1;
    }
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    if (w != n) {
        host->set_error(ctx, "write(%s) failed", path);
        return -1;
    }
    return 0;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    char line[512], file[128];
    int n = snprintf(line, sizeof(line), "%s %s %ld\n", job->queue, job->id, (long)getpid());
    if (n < 0 || n >= (int)sizeof(line) || append(ctx, "starts.txt", line, n) != 0)
        return SLUICE_RETRY;
    const char *s = job->payload ? strstr(job->payload, "\"sleep_us\":") : NULL;
    if (s) {
        long us = strtol(s + strlen("\"sleep_us\":"), NULL, 10);
        struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    snprintf(file, sizeof(file), "%s.txt", job->queue);
    if (n < 0 || n >= (int)sizeof(line) || append(ctx, file, line, n) != 0)
        return SLUICE_RETRY;
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.prio", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("prio", "1.0", init, NULL)
