/* Test plugin: handler "test.ok" succeeds at once. The smallest real plugin,
 * used by loader tests and as the collision target of dup_type.so. */
#include <sluice/plugin.h>

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx, (void)job, (void)data;
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    sluice_handler_def def = {.size = sizeof(def), .type = "test.ok", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("ok", "1.0", init, NULL)
