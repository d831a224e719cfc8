/* Test plugin: handler "test.record" appends "<job id> <attempt> <pid>
 * <deliveries>\n" to the file named by the pool setting "record_file" with one
 * O_APPEND write (so concurrent workers never interleave), then succeeds. A
 * payload with "sleep_ms":N sleeps N ms first (for in-flight/SIGTERM tests). */
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

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    const char *s = strstr(job->payload, "\"sleep_ms\":");
    if (s)
        test_sleep_ms(strtol(s + strlen("\"sleep_ms\":"), NULL, 10));
    return test_record_line(host, ctx, job);
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.record", .fn = run};
    return host->register_handler(pctx, &def);
}

SLUICE_PLUGIN("record", "1.0", init, NULL)
