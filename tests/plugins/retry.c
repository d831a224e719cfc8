/* Test plugin: handler "test.retry" asks for a retry until its attempt number
 * reaches the payload's "succeed_on" (default 3), then succeeds. */
#include <stdlib.h>
#include <string.h>

#include <sluice/plugin.h>

static const sluice_host *host;

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    long succeed_on = 3;
    const char *s = strstr(job->payload, "\"succeed_on\":");
    if (s) succeed_on = strtol(s + strlen("\"succeed_on\":"), NULL, 10);
    if ((long)job->attempt < succeed_on) {
        host->set_error(ctx, "attempt %u of %ld: not yet", job->attempt, succeed_on);
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.retry", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("retry", "1.0", init, NULL)
