/* Test plugin of the fault suites: "test.acct" appends "<job id> <attempt> <pid>
 * <deliveries>" to setting record_file (one O_APPEND write, before OK) unless the
 * payload asks for "crash", "hang", "fail", "retry_until":N or "sleep_ms":N first;
 * "test.acct_once" is the same with SLUICE_HANDLER_DONE_MARKER. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

#include "record_line.h"

static const sluice_host *host;

/* The integer after "key": in the payload, or -1 when absent. */
static long num(const sluice_job *job, const char *key)
{
    const char *s = strstr(job->payload, key);
    return s ? strtol(s + strlen(key), NULL, 10) : -1;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    long ms = num(job, "\"sleep_ms\":");
    if (ms > 0) test_sleep_ms(ms);
    if (strstr(job->payload, "\"crash\":true")) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches SEGV */
        raise(SIGSEGV);
    }
    if (strstr(job->payload, "\"hang\":true"))
        for (;;) test_sleep_ms(1000); /* until the supervisor's hard timeout kills us */
    if (strstr(job->payload, "\"fail\":true")) {
        host->set_error(ctx, "asked to fail (job %s)", job->id);
        return SLUICE_FAIL;
    }
    long until = num(job, "\"retry_until\":");
    if (until > 0 && (long)job->attempt < until) {
        host->set_error(ctx, "attempt %u of %ld: not yet", job->attempt, until);
        return SLUICE_RETRY;
    }
    return test_record_line(host, ctx, job);
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    sluice_handler_def def = {.size = sizeof(def), .type = "test.acct", .fn = run};
    if (h->register_handler(pctx, &def) != 0) return -1;
    sluice_handler_def once = {.size = sizeof(once), .type = "test.acct_once", .fn = run,
                               .flags = SLUICE_HANDLER_DONE_MARKER};
    return h->register_handler(pctx, &once);
}

SLUICE_PLUGIN("faulty", "1.0", init, NULL)
