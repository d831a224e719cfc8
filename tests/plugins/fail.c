/* Test plugin: handler "test.fail" always fails with "deliberate failure",
 * so the job goes straight to the dead-letter stream. */
#include <sluice/plugin.h>

static const sluice_host *host;

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)job, (void)data;
    host->set_error(ctx, "deliberate failure");
    return SLUICE_FAIL;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.fail", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("fail", "1.0", init, NULL)
