/* A schema registry that cannot be read (issue 10, item 11): the worker keeps
 * the job pending and backs off without spending its deliveries, so it is not
 * dead-lettered "crashed"; it logs the outage once and then a summary, counts
 * each deferral in sluice_registry_deferrals_total, and runs the job exactly
 * once when the registry is readable again. A real supervisor, worker and
 * redis-server; the outage is the registry's version key holding the wrong
 * type, so every read of the registry fails with WRONGTYPE. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/redis.h"
#include "common/registry.h"
#include "support/sup.h"
#include "support/th.h"

static const char *const schema =
    "{\"type\":\"object\",\"required\":[\"n\"],\"properties\":{\"n\":{\"type\":\"integer\"}}}";

static th_sup sup;
static int http_port;

static void setup(void)
{
    th_flushall();
}

static void teardown(void)
{
    th_sup_kill(&sup);
}

TestSuite(registry_outage, .init = setup, .fini = teardown, .timeout = 90);

/* GET /metrics over HTTP/1.0: the body (caller frees), or NULL. */
static char *metrics_body(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)http_port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    cr_assert(write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (buf && (r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    close(fd);
    cr_assert_not_null(buf);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n"), *body = sep ? strdup(sep + 4) : NULL;
    free(buf);
    return body;
}

/* The value of the sample line `series`, or -1 when absent. */
static double metric(const char *series)
{
    char *body = metrics_body();
    double v = -1;
    size_t n = strlen(series);
    for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
    free(body);
    return v;
}

#define DEFERRALS "sluice_registry_deferrals_total{queue=\"ro\",group=\"p\"}"

static long long dlq_len(void)
{
    redisContext *c = th_redis();
    long long n = th_int(c, "XLEN sluice:{ro}:dlq:p");
    redisFree(c);
    return n;
}

/* Several deferrals counted, or (the defect) the job dead-lettered. */
static int deferred_or_dead(void *arg)
{
    (void)arg;
    return metric(DEFERRALS) >= 5 || dlq_len() > 0;
}

/* Nothing pending (the group exists). */
static int pending_zero(void *arg)
{
    (void)arg;
    redisContext *c = th_redis();
    int zero = th_pending(c, "sluice:{ro}", "p") == 0;
    redisFree(c);
    return zero;
}

Test(registry_outage, jobs_wait_pending_without_spending_deliveries)
{
    th_register_schema("test.record", schema);

    /* The outage: every registry read fails (GET of the version key: WRONGTYPE). */
    redisContext *c = th_redis();
    th_int(c, "DEL %s", SL_REGISTRY_VERSION_KEY);
    th_int(c, "HSET %s broken 1", SL_REGISTRY_VERSION_KEY);

    char *record = th_tmp_path("outage-record.txt"), *text = NULL;
    http_port = th_free_port();
    /* A short reconnect backoff: the old code dead-lettered the job "crashed"
     * within a few hundred milliseconds, and many replays happen in the wait. */
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\",\"reconnect_min\":\"20ms\",\"reconnect_max\":\"200ms\"},"
                       "\"plugin_dir\":\"%s\",\"jobs\":{\"max_deliveries\":3},"
                       "\"supervisor\":{\"worker_path\":\"%s\",\"http_listen\":\"127.0.0.1:%d\","
                       "\"stats_interval\":\"200ms\"},"
                       "\"pools\":[{\"name\":\"p\",\"queue\":\"ro\",\"plugins\":[\"record\"],\"block\":\"200ms\","
                       "\"settings\":{\"record_file\":\"%s\"}}]}\n",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, http_port, record) > 0);
    char *cfg = th_write_file("outage.json", text);
    th_sup_init(&sup, "outage", cfg, "outage-sup.log");
    const char *log = sup.log;
    th_sup_start(&sup);
    freeReplyObject(redisCommand(c, "XADD sluice:{ro} * type test.record payload {\"n\":1}"));

    cr_assert(th_wait_until(deferred_or_dead, NULL, 30000), "no deferrals counted (see %s)", log);
    th_sleep_ms(1000); /* more replays, well past what used to dead-letter the job */
    cr_assert_eq(dlq_len(), 0, "the job must not be dead-lettered during the outage (see %s)", log);
    redisReply *rep = redisCommand(c, "XPENDING sluice:{ro} p - + 10");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1, "the job is pending");
    long long deliveries = rep->element[0]->element[3]->integer;
    freeReplyObject(rep);
    cr_assert_leq(deliveries, 2, "deliveries not spent by the deferrals (%lld)", deliveries);
    cr_assert_eq(th_count_lines(record), 0, "the handler did not run");
    cr_assert_eq(th_count_in_file(log, "schema registry cannot be read"), 1, "the outage is logged once (see %s)", log);
    cr_assert_eq(th_count_in_file(log, "cannot validate payload now"), 0, "no line per attempt (see %s)", log);

    /* The registry is back (a new version: caches start over). */
    th_int(c, "DEL %s", SL_REGISTRY_VERSION_KEY);
    th_int(c, "SET %s 1000", SL_REGISTRY_VERSION_KEY);
    th_want want = {.key = record, .n = 1};
    cr_assert(th_wait_until(th_lines_at_least, &want, 20000), "the job ran after the outage (see %s)", log);
    cr_assert(th_wait_until(pending_zero, NULL, 10000), "and was acked");
    th_sleep_ms(500);
    cr_assert_eq(th_count_lines(record), 1, "exactly once");
    cr_assert_eq(dlq_len(), 0);
    cr_assert_eq(th_count_in_file(log, "schema registry readable again"), 1, "the end of the outage is logged (see %s)",
                 log);
    double n = metric(DEFERRALS);
    cr_assert_geq(n, 5, "deferrals stay counted: %g", n);

    th_sup_stop(&sup, 15000);
    redisFree(c);
    free(record);
    free(text);
    free(cfg);
}
