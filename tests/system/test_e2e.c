/* End to end: a real supervisor with 2 real workers running the record plugin
 * processes 10,000 jobs enqueued three ways (the C client API, plain redis-cli
 * XADD, python3 redis-py); every job runs exactly once and nothing stays pending. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "sluice/client.h"
#include "support/sup.h"
#include "support/th.h"

#define N_API 4000
#define N_CLI 3000
#define N_PY 3000
#define N_ALL (N_API + N_CLI + N_PY)

static char *record_path;

static void setup(void)
{
    th_flushall();
}

static char *write_config(void)
{
    char json[4096];
    record_path = NULL;
    cr_assert(asprintf(&record_path, "%s/e2e-record.txt", th_tmpdir()) > 0);
    remove(record_path);
    snprintf(json, sizeof(json),
             "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\","
             "\"supervisor\":{\"worker_path\":\"%s\",\"shutdown_timeout\":\"10s\"},"
             "\"pools\":[{\"name\":\"e2e\",\"queue\":\"e2e\",\"group\":\"g\",\"plugins\":[\"record\"],"
             "\"workers\":2,\"settings\":{\"record_file\":\"%s\"}}]}",
             th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, record_path);
    return th_write_file("e2e.json", json);
}

static int consumers_ready(void *arg)
{
    (void)arg;
    redisContext *c = th_redis();
    long n = th_consumers(c, "sluice:{e2e}", "g");
    redisFree(c);
    return n == 2;
}

static int all_recorded(void *arg)
{
    (void)arg;
    return th_count_lines(record_path) >= N_ALL;
}

static int nothing_pending(void *arg)
{
    (void)arg;
    redisContext *c = th_redis();
    int zero = th_pending(c, "sluice:{e2e}", "g") == 0;
    redisFree(c);
    return zero;
}

/* Append the ids a command prints (one per line) to ids; returns how many. */
static size_t read_ids(FILE *p, char **ids, size_t at)
{
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof(line), p)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!*line)
            continue;
        ids[at + n++] = strdup(line);
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void host_port(char *host, size_t hn, int *port)
{
    const char *url = th_redis_url();
    int db = 0;
    char h[256];
    cr_assert(sscanf(url, "redis://%255[^:/]:%d/%d", h, port, &db) >= 2, "test needs a TCP url: %s", url);
    snprintf(host, hn, "%s", h);
}

Test(e2e, ten_thousand_jobs_from_three_producers, .init = setup, .timeout = 300)
{
    char *cfg = write_config();
    th_sup sup = {0};
    th_sup_init(&sup, "e2e", cfg, "e2e-supervisor.log");
    th_sup_start(&sup);
    cr_assert(th_wait_until(consumers_ready, NULL, 20000), "2 workers did not join group g (see %s)", sup.log);

    char **ids = calloc(N_ALL, sizeof(char *));
    size_t nids = 0;

    /* 1. The C client API, pipelined batches. */
    char err[256];
    sluice_client *cl = sluice_client_new(th_redis_url(), NULL, err, sizeof(err));
    cr_assert_not_null(cl, "client: %s", err);
    sluice_job_spec *specs = calloc(N_API, sizeof(*specs));
    char(*out)[SLUICE_ID_MAX] = calloc(N_API, SLUICE_ID_MAX);
    char(*payloads)[64] = calloc(N_API, 64);
    for (int i = 0; i < N_API; i++) {
        snprintf(payloads[i], 64, "{\"n\":%d,\"via\":\"api\"}", i);
        specs[i].type = "test.record";
        specs[i].payload = payloads[i];
    }
    cr_assert_eq(sluice_enqueue_batch(cl, "e2e", specs, N_API, out), N_API, "batch: %s", sluice_client_error(cl));
    for (int i = 0; i < N_API; i++)
        ids[nids++] = strdup(out[i]);
    sluice_client_free(cl);
    free(specs);
    free(out);
    free(payloads);

    /* 2. Plain XADD through redis-cli, one command per line on stdin. */
    char host[256];
    int port;
    host_port(host, sizeof(host), &port);
    char cmdpath[512];
    snprintf(cmdpath, sizeof(cmdpath), "%s/e2e-cli.txt", th_tmpdir());
    FILE *f = fopen(cmdpath, "w");
    for (int i = 0; i < N_CLI; i++)
        fprintf(f, "XADD sluice:{e2e} * type test.record payload '{\"n\":%d,\"via\":\"redis-cli\"}'\n", i);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "redis-cli -h %s -p %d < %s", host, port, cmdpath);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = read_ids(p, ids, nids);
    cr_assert_eq(pclose(p), 0, "redis-cli failed");
    cr_assert_eq(got, N_CLI, "redis-cli returned %zu ids", got);
    nids += got;

    /* 3. python3 with redis-py, pipelined. */
    const char *py = getenv("SLUICE_PYTHON") ? getenv("SLUICE_PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof(cmd),
             "%s -c 'import redis,json,sys\n"
             "r=redis.Redis(host=\"%s\",port=%d)\n"
             "p=r.pipeline(transaction=False)\n"
             "[p.xadd(\"sluice:{e2e}\",{\"type\":\"test.record\",\"payload\":json.dumps({\"n\":i,\"via\":\"python\"})})"
             " for i in range(%d)]\n"
             "print(\"\\n\".join(x.decode() for x in p.execute()))'",
             py, host, port, N_PY);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    got = read_ids(p, ids, nids);
    cr_assert_eq(pclose(p), 0, "python3 redis-py producer failed (is python3-redis installed?)");
    cr_assert_eq(got, N_PY, "python returned %zu ids", got);
    nids += got;
    cr_assert_eq(nids, N_ALL);

    cr_assert(th_wait_until(all_recorded, NULL, 120000), "only %ld of %d jobs recorded", th_count_lines(record_path),
              N_ALL);
    cr_assert(th_wait_until(nothing_pending, NULL, 10000), "entries left pending");

    /* Every enqueued id ran exactly once; two worker processes shared the work. */
    cr_assert_eq(th_count_lines(record_path), N_ALL, "duplicate runs: %ld lines for %d jobs",
                 th_count_lines(record_path), N_ALL);
    char **ran = calloc(N_ALL, sizeof(char *));
    f = fopen(record_path, "r");
    char line[512];
    size_t nran = 0;
    long pids[8];
    int npids = 0;
    while (fgets(line, sizeof(line), f) && nran < N_ALL) {
        char id[200];
        long attempt, pid, deliveries;
        cr_assert_eq(sscanf(line, "%199s %ld %ld %ld", id, &attempt, &pid, &deliveries), 4, "bad line %s", line);
        cr_assert_eq(attempt, 1);
        cr_assert_eq(deliveries, 1);
        ran[nran++] = strdup(id);
        int seen = 0;
        for (int i = 0; i < npids; i++)
            seen |= pids[i] == pid;
        if (!seen && npids < 8)
            pids[npids++] = pid;
    }
    fclose(f);
    cr_assert_eq(npids, 2, "expected 2 worker pids, saw %d", npids);
    qsort(ids, N_ALL, sizeof(char *), cmp_str);
    qsort(ran, N_ALL, sizeof(char *), cmp_str);
    for (size_t i = 0; i < N_ALL; i++) {
        cr_assert_str_eq(ids[i], ran[i], "enqueued and completed ids differ at %zu", i);
        if (i)
            cr_assert_str_neq(ids[i - 1], ids[i], "duplicate id %s", ids[i]);
    }

    th_sup_stop(&sup, 20000);
    for (size_t i = 0; i < N_ALL; i++) {
        free(ids[i]);
        free(ran[i]);
    }
    free(ids);
    free(ran);
    free(cfg);
}
