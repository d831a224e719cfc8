/* Test plugin: handler "test.span" appends "<job id> <start ms> <end ms>
 * <attempt> <pid>\n" (wall clock, CLOCK_REALTIME) to the pool setting
 * "record_file" with one O_APPEND write, after sleeping the payload's
 * "sleep_ms" (default 0): when each job ran, for the limit tests (rate over
 * time windows, concurrency from overlapping spans). With the pool setting
 * "start_file", "<job id> <pid>\n" is appended there when a job starts (which
 * worker runs it). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

#include "record_line.h"

static const sluice_host *host;

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *path = host->config_get(ctx, "record_file");
    if (!path) {
        host->set_error(ctx, "pool setting record_file is not set");
        return SLUICE_FAIL;
    }
    long long start = wall_ms();
    const char *sf = host->config_get(ctx, "start_file");
    if (sf) {
        char mark[256];
        int m = snprintf(mark, sizeof mark, "%s %ld\n", job->id, (long)getpid());
        int fd = open(sf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            if (m > 0 && (size_t)m < sizeof mark && write(fd, mark, (size_t)m) != m)
                host->log(ctx, SLUICE_LOG_WARN, "cannot write the start file");
            close(fd);
        }
    }
    const char *s = strstr(job->payload, "\"sleep_ms\":");
    if (s)
        test_sleep_ms(strtol(s + strlen("\"sleep_ms\":"), NULL, 10));
    char line[512];
    int n =
        snprintf(line, sizeof line, "%s %lld %lld %u %ld\n", job->id, start, wall_ms(), job->attempt, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof line)
        return SLUICE_FAIL;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        host->set_error(ctx, "cannot write %s", path);
        return SLUICE_RETRY;
    }
    close(fd);
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.span", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("span", "1.0", init, NULL)
