/* Shared by the test plugins (record, fanout, faulty): append
 * "<job id> <attempt> <pid> <deliveries>\n" to the pool setting "record_file"
 * with one O_APPEND write, so concurrent workers never interleave lines.
 * Static functions in a header: plugins link nothing but libc. */
#ifndef TEST_PLUGINS_RECORD_LINE_H
#define TEST_PLUGINS_RECORD_LINE_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

/* Sleep the whole time even when signals (SIGTERM) interrupt nanosleep. */
static inline void test_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* SLUICE_OK once the line is written; SLUICE_FAIL without record_file or for an
 * over-long line; SLUICE_RETRY when the file cannot be written. */
static inline sluice_result test_record_line(const sluice_host *host, sluice_ctx *ctx, const sluice_job *job)
{
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

#endif
