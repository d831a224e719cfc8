/* Test plugin of the fan-out suite: "test.fanout" behaves per pool (group)
 * from its settings: it fails (SLUICE_FAIL) the events whose payload "n" has
 * n % 100 < fail_pct, and records the others as "<job id> <attempt> <pid>
 * <deliveries>" in record_file (the accounting checker's format), after
 * sleeping sleep_ms if set. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

#include "record_line.h"

static const sluice_host *host;

static long setting(sluice_ctx *ctx, const char *key)
{
    const char *v = host->config_get(ctx, key);
    return v ? strtol(v, NULL, 10) : 0;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *s = strstr(job->payload, "\"n\":");
    long n = s ? strtol(s + 4, NULL, 10) : -1;
    long fail_pct = setting(ctx, "fail_pct"), sleep_ms = setting(ctx, "sleep_ms");
    if (n >= 0 && n % 100 < fail_pct) {
        host->set_error(ctx, "event %ld refused by this service (fail_pct %ld)", n, fail_pct);
        return SLUICE_FAIL;
    }
    if (sleep_ms > 0)
        test_sleep_ms(sleep_ms);
    return test_record_line(host, ctx, job);
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.fanout", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("fanout", "1.0", init, NULL)
