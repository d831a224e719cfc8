/* Test plugin: handler "test.slow" sleeps the pool setting "slow_ms" (default
 * 200) then succeeds; for graceful-stop and throughput tests. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <sluice/plugin.h>

static const sluice_host *host;

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)job, (void)data;
    const char *v = host->config_get(ctx, "slow_ms");
    long ms = v ? strtol(v, NULL, 10) : 200;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.slow", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("slow", "1.0", init, NULL)
