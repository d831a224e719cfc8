/* Test plugin: handler "test.done" opts into done-markers
 * (SLUICE_HANDLER_DONE_MARKER), so a redelivered job id this group finished is
 * acked without running. Each run appends "<job id> <attempt> <pid>
 * <deliveries>\n" to the pool setting "record_file" (one O_APPEND write). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *path = host->config_get(ctx, "record_file");
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (fd < 0 || n < 0 || (size_t)n >= sizeof(line)) {
        if (fd >= 0)
            close(fd);
        host->set_error(ctx, "cannot record job %s", job->id);
        return SLUICE_FAIL;
    }
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? SLUICE_OK : SLUICE_RETRY;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.done", .fn = run, .flags = SLUICE_HANDLER_DONE_MARKER};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("done", "1.0", init, NULL)
