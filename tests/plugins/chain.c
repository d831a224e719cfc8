/* Test plugin: a chain of jobs caused by one request, for tracing tests.
 * chain.order.placed.v1 enqueues chain.payment.requested.v1 and
 * chain.email.requested.v1; a payment request enqueues chain.payment.capture.v1,
 * which fails ("card declined ..."). Each run appends "<type> <id> <correlation>
 * <causation> <traceparent>" to setting record_file (one O_APPEND write). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sluice/plugin.h>

static const sluice_host *host;

/* The jobs a type causes (NULL-terminated), and whether it fails. */
static const struct step {
    const char *type;
    const char *children[3];
    int fail;
} steps[] = {
    {"chain.order.placed.v1", {"chain.payment.requested.v1", "chain.email.requested.v1", NULL}, 0},
    {"chain.payment.requested.v1", {"chain.payment.capture.v1", NULL, NULL}, 0},
    {"chain.payment.capture.v1", {NULL, NULL, NULL}, 1},
    {"chain.email.requested.v1", {NULL, NULL, NULL}, 0},
};

static int record(sluice_ctx *ctx, const sluice_job *job)
{
    const char *path = host->config_get(ctx, "record_file");
    if (!path)
        return 0;
    char line[1024];
    int n = snprintf(line, sizeof(line), "%s %s %s %s %s\n", job->type, job->id,
                     job->correlation_id[0] ? job->correlation_id : "-", job->causation_id[0] ? job->causation_id : "-",
                     job->traceparent[0] ? job->traceparent : "-");
    if (n < 0 || (size_t)n >= sizeof(line))
        return -1;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    ssize_t w = write(fd, line, (size_t)n);
    close(fd);
    return w == n ? 0 : -1;
}

static sluice_result run(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    const struct step *s = data;
    if (record(ctx, job) != 0) {
        host->set_error(ctx, "cannot record job %s: %s", job->id, strerror(errno));
        return SLUICE_RETRY;
    }
    /* Enqueue the follow-ups once per job: a redelivery must not fork the tree. */
    int first = s->children[0] ? host->once(ctx, "children") : 0;
    if (first < 0)
        return SLUICE_RETRY;
    for (int i = 0; first && i < 3 && s->children[i]; i++) {
        sluice_enqueue_req req = {.size = sizeof(req), .type = s->children[i], .payload = job->payload};
        if (host->enqueue(ctx, &req, NULL, 0) != 0) {
            host->set_error(ctx, "cannot enqueue %s", s->children[i]);
            return SLUICE_FAIL;
        }
    }
    if (s->fail) {
        host->log(ctx, SLUICE_LOG_WARN, "capture refused by the card issuer");
        host->set_error(ctx, "card declined: insufficient funds (payload %s)", job->payload);
        return SLUICE_FAIL;
    }
    return SLUICE_OK;
}

static int init(const sluice_host *h, sluice_plugin_ctx *pctx)
{
    host = h;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        sluice_handler_def def = {.size = sizeof(def), .type = steps[i].type, .fn = run, .data = (void *)&steps[i]};
        if (host->register_handler(pctx, &def) != 0)
            return -1;
    }
    return 0;
}

SLUICE_PLUGIN("chain", "1.0", init, NULL)
