/* Test plugin: handler "test.crash" kills its worker with SIGSEGV when the
 * payload contains "crash":true (crash isolation and redelivery tests). */
#include <signal.h>
#include <string.h>

#include <sluice/plugin.h>

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx, (void)data;
    if (strstr(job->payload, "\"crash\":true")) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches SEGV */
        raise(SIGSEGV);
    }
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    sluice_handler_def def = {.size = sizeof(def), .type = "test.crash", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("crash", "1.0", init, NULL)
