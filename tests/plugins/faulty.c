/* Test plugin of the fault suites: "test.acct" appends "<job id> <attempt> <pid>
 * <deliveries>" to setting record_file (one O_APPEND write, before OK) unless the
 * payload asks for "crash", "hang", "fail", "retry_until":N or "sleep_ms":N first;
 * "test.acct_once" is the same with SLUICE_HANDLER_DONE_MARKER. With "runs":true
 * every run (whatever its result) first appends the same line to
 * "<record_file>.runs", so a test can count how often a job ran. */
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

/* Append the job's line to <record_file>.runs (best effort: a test reading it fails). */
static void record_run(sluice_ctx *ctx, const sluice_job *job)
{
    const char *path = host->config_get(ctx, "record_file");
    char runs[512], line[512];
    if (!path || snprintf(runs, sizeof(runs), "%s.runs", path) >= (int)sizeof(runs))
        return;
    int n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    int fd = open(runs, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (n > 0 && (size_t)n < sizeof(line) && write(fd, line, (size_t)n) != n)
        host->log(ctx, SLUICE_LOG_WARN, "short write");
    close(fd);
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    if (strstr(job->payload, "\"runs\":true"))
        record_run(ctx, job);
    long ms = num(job, "\"sleep_ms\":");
    if (ms > 0)
        test_sleep_ms(ms);
    if (strstr(job->payload, "\"crash\":true")) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches SEGV */
        raise(SIGSEGV);
    }
    if (strstr(job->payload, "\"hang\":true"))
        for (;;)
            test_sleep_ms(1000); /* until the supervisor's hard timeout kills us */
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
    if (h->register_handler(pctx, &def) != 0)
        return -1;
    sluice_handler_def once = {
        .size = sizeof(once), .type = "test.acct_once", .fn = run, .flags = SLUICE_HANDLER_DONE_MARKER};
    return h->register_handler(pctx, &once);
}

SLUICE_PLUGIN("faulty", "1.0", init, NULL)
