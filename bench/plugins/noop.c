/* bench.noop: the benchmark's no-op handler. It returns SLUICE_OK at once, so
 * a drain measures sluice's own per-job cost (read, decode, bookkeeping, fenced
 * ack) and Redis's, nothing else. */
#include <sluice/plugin.h>

static sluice_result noop(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx;
    (void)job;
    (void)data;
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    sluice_handler_def def = {.size = sizeof def, .type = "bench.noop", .fn = noop};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("noop", "1.0.0", init, NULL)
