/* Test plugin: handler "test.retry" (or the type named by the pool setting
 * "retry_type") asks for a retry until its attempt number reaches the payload's
 * "succeed_on" (default 3), then succeeds. A payload "retry_after":N asks for
 * that delay (host->retry_after). With the pool setting "record_file", each
 * success appends "<job id> <attempt> <pid> <deliveries>\n" with one O_APPEND write. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

/* Append the success line; SLUICE_OK, or SLUICE_RETRY when the file failed. */
static sluice_result record(sluice_ctx *ctx, const sluice_job *job)
{
    const char *path = host->config_get(ctx, "record_file");
    if (!path)
        return SLUICE_OK;
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (n < 0 || (size_t)n >= sizeof(line) || fd < 0) {
        host->set_error(ctx, "cannot record job %s in %s: %s", job->id, path, fd < 0 ? strerror(errno) : "too long");
        if (fd >= 0)
            close(fd);
        return SLUICE_RETRY;
    }
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? SLUICE_OK : SLUICE_RETRY;
}

static long payload_num(const sluice_job *job, const char *key, long dflt)
{
    const char *s = strstr(job->payload, key);
    return s ? strtol(s + strlen(key), NULL, 10) : dflt;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    long succeed_on = payload_num(job, "\"succeed_on\":", 3);
    if ((long)job->attempt < succeed_on) {
        long after = payload_num(job, "\"retry_after\":", -1);
        if (after >= 0)
            host->retry_after(ctx, (uint64_t)after);
        host->set_error(ctx, "attempt %u of %ld: not yet", job->attempt, succeed_on);
        return SLUICE_RETRY;
    }
    return record(ctx, job);
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    const char *type = host->config_get(host->plugin_ctx_as_ctx(pctx), "retry_type");
    sluice_handler_def def = {.size = sizeof(def), .type = type ? type : "test.retry", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("retry", "1.0", init, NULL)
