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

static const sluice_host *host;

/* Sleep the whole time even when signals (SIGTERM) interrupt nanosleep. */
static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The integer after "key": in the payload, or -1 when absent. */
static long num(const sluice_job *job, const char *key)
{
    const char *s = strstr(job->payload, key);
    return s ? strtol(s + strlen(key), NULL, 10) : -1;
}

static sluice_result record(sluice_ctx *ctx, const sluice_job *job)
{
    const char *path = host->config_get(ctx, "record_file");
    if (!path) {
        host->set_error(ctx, "pool setting record_file is not set");
        return SLUICE_FAIL;
    }
    char line[512];
    int n = snprintf(line, sizeof(line), "%s %u %ld %u\n", job->id, job->attempt, (long)getpid(), job->deliveries);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        host->set_error(ctx, "record line too long for job %s", job->id);
        return SLUICE_FAIL;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        host->set_error(ctx, "open(%s) failed: %s", path, strerror(errno));
        return SLUICE_RETRY;
    }
    ssize_t w = write(fd, line, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n) {
        host->set_error(ctx, "write(%s) failed: %s", path, w < 0 ? strerror(e) : "short write");
        return SLUICE_RETRY;
    }
    return SLUICE_OK;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)data;
    long ms = num(job, "\"sleep_ms\":");
    if (ms > 0) sleep_ms(ms);
    if (strstr(job->payload, "\"crash\":true")) {
        signal(SIGSEGV, SIG_DFL); /* die by the signal even where a sanitizer catches SEGV */
        raise(SIGSEGV);
    }
    if (strstr(job->payload, "\"hang\":true"))
        for (;;) sleep_ms(1000); /* until the supervisor's hard timeout kills us */
    if (strstr(job->payload, "\"fail\":true")) {
        host->set_error(ctx, "asked to fail (job %s)", job->id);
        return SLUICE_FAIL;
    }
    long until = num(job, "\"retry_until\":");
    if (until > 0 && (long)job->attempt < until) {
        host->set_error(ctx, "attempt %u of %ld: not yet", job->attempt, until);
        return SLUICE_RETRY;
    }
    return record(ctx, job);
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
