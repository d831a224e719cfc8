/* Test plugin: handler "test.hang" never returns and ignores should_stop, the
 * case only the supervisor's hard timeout (SIGKILL) can end. */
#include <unistd.h>

#include <sluice/plugin.h>

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx, (void)job, (void)data;
    for (;;)
        sleep(1);
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    sluice_handler_def def = {.size = sizeof(def), .type = "test.hang", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("hang", "1.0", init, NULL)
