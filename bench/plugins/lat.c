/* bench.lat: records enqueue-to-start latency. The payload carries the
 * producer's CLOCK_REALTIME in microseconds ({"t":<us>}); the handler stores
 * now - t in a fixed array (no allocation per job) and fini() writes the raw
 * values, one decimal number of microseconds a line, to "<lat_file>.<pid>"
 * (pool setting lat_file). Plugins link nothing of the host, so the number is
 * parsed by hand. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sluice/plugin.h>

#define LAT_MAX (1u << 20) /* samples kept per worker; later ones are only counted */

static uint32_t lat_us[LAT_MAX]; /* bss: pages are touched only as samples arrive */
static size_t lat_n;
static uint64_t lat_dropped, lat_bad;
static char lat_path[512];

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The value of "t" in the payload, or -1 when there is none. */
static int64_t payload_t(const char *p, size_t len)
{
    const char *end = p + len;
    for (; p + 4 <= end; p++) {
        if (p[0] != '"' || p[1] != 't' || p[2] != '"')
            continue;
        p += 3;
        while (p < end && (*p == ' ' || *p == ':'))
            p++;
        int64_t v = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9' && digits < 18)
            v = v * 10 + (*p++ - '0'), digits++;
        return digits ? v : -1;
    }
    return -1;
}

static sluice_result lat(sluice_ctx *ctx, const sluice_job *job, void *data)
{
    (void)ctx;
    (void)data;
    int64_t now = wall_us(), t = payload_t(job->payload, job->payload_len);
    if (t < 0) {
        lat_bad++;
        return SLUICE_OK;
    }
    int64_t d = now - t;
    if (d < 0)
        d = 0;
    if (d > UINT32_MAX)
        d = UINT32_MAX;
    if (lat_n < LAT_MAX)
        lat_us[lat_n++] = (uint32_t)d;
    else
        lat_dropped++;
    return SLUICE_OK;
}

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    const char *f = host->config_get(host->plugin_ctx_as_ctx(pctx), "lat_file");
    if (!f || !*f) {
        host->log(host->plugin_ctx_as_ctx(pctx), SLUICE_LOG_ERROR, "bench.lat: pool setting lat_file is required");
        return 1;
    }
    snprintf(lat_path, sizeof lat_path, "%s.%ld", f, (long)getpid());
    sluice_handler_def def = {.size = sizeof def, .type = "bench.lat", .fn = lat};
    return host->register_handler(pctx, &def);
}

static void fini(void)
{
    FILE *fp = fopen(lat_path, "w");
    if (!fp)
        return;
    fprintf(fp, "# samples %zu dropped %llu bad %llu\n", lat_n, (unsigned long long)lat_dropped,
            (unsigned long long)lat_bad);
    for (size_t i = 0; i < lat_n; i++)
        fprintf(fp, "%u\n", lat_us[i]);
    fclose(fp);
}

SLUICE_PLUGIN("lat", "1.0.0", init, fini)
