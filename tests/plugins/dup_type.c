/* Test plugin: registers "test.ok", which ok.so already registers; loading
 * both must fail with a message naming both plugins. */
#include <sluice/plugin.h>

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx, (void)job, (void)data;
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    sluice_handler_def def = {.size = sizeof(def), .type = "test.ok", .fn = run};
    host->register_handler(pctx, &def); /* the host refuses it and fails the load */
    return 0;
}

SLUICE_PLUGIN("dup_type", "1.0", init, NULL)
