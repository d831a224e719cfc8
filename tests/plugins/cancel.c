/* Test plugin for cancel: every handler first appends "<job id> start\n" to the
 * pool setting "start_file" (one O_APPEND write), so a test sees which jobs
 * started. Then:
 *   test.cancel.quick  records its completion ("record_file", record_line.h);
 *   test.cancel.gate   waits until the file "gate_file" exists, then records it;
 *   test.cancel.loop   loops until should_stop, appends "<job id> stopped",
 *                      and returns SLUICE_RETRY (a cancelled job is never retried);
 *   test.cancel.ignore ignores should_stop and never returns: only the
 *                      supervisor's kill after jobs.cancel_grace ends it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sluice/plugin.h>

#include "record_line.h"

static const sluice_host *host;

static void note(sluice_ctx *ctx, const sluice_job *job, const char *what)
{
    const char *path = host->config_get(ctx, "start_file");
    char line[256];
    int n = snprintf(line, sizeof line, "%s %s\n", job->id, what);
    int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    if (fd < 0 || n <= 0 || (size_t)n >= sizeof line)
        return;
    if (write(fd, line, (size_t)n) != n)
        host->log(ctx, SLUICE_LOG_WARN, "write(%s) failed: %s", path, strerror(errno));
    close(fd);
}

static sluice_result quick(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    note(ctx, job, "start");
    return test_record_line(host, ctx, job);
}

static sluice_result gate(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    note(ctx, job, "start");
    const char *path = host->config_get(ctx, "gate_file");
    while (path && access(path, F_OK) != 0)
        test_sleep_ms(10);
    return test_record_line(host, ctx, job);
}

static sluice_result loop(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    note(ctx, job, "start");
    while (!host->should_stop(ctx))
        test_sleep_ms(10);
    note(ctx, job, "stopped");
    host->set_error(ctx, "stopped");
    return SLUICE_RETRY;
}

static sluice_result ignore(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    note(ctx, job, "start");
    for (;;)
        test_sleep_ms(1000);
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    static const struct {
        const char *type;
        sluice_handler_fn fn;
    } defs[] = {{"test.cancel.quick", quick},
                {"test.cancel.gate", gate},
                {"test.cancel.loop", loop},
                {"test.cancel.ignore", ignore}};
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        sluice_handler_def def = {.size = sizeof(def), .type = defs[i].type, .fn = defs[i].fn};
        if (host->register_handler(pctx, &def) != 0)
            return -1;
    }
    return 0;
}

SLUICE_PLUGIN("cancel", "1.0", init, NULL)
