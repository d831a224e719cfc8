/* Configuration loading (see config.h and docs/configuration.md). One table per
 * object (top level, pool) lists every key with its type, default, range, env
 * variable and struct offset; parsing, defaults, env overrides, unknown-key
 * checks and JSON output (config_json.c) all use those tables so they cannot drift. */
#include "common/config.h"
#include "common/config_schema.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/url.h"
#include "common/util.h"

/* ---- schema ------------------------------------------------------------- */

#define C(f) offsetof(sl_config, f)
#define P(f) offsetof(sl_pool_cfg, f)
#define Q(f) offsetof(sl_queue_cfg, f)
#define PQ(f) offsetof(sl_pool_queue, f)
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

const sl_cfg_key sl_cfg_main_keys[] = {
    {"redis.url", SL_CFG_URL, 0, C(redis_url), 0, "redis://127.0.0.1:6379/0", 0, 0, "SLUICE_REDIS_URL"},
    {"redis.connect_timeout", SL_CFG_DUR, 0, C(connect_timeout_ms), 2000, NULL, 1, 10 * MIN_MS, NULL},
    {"redis.command_timeout", SL_CFG_DUR, 0, C(command_timeout_ms), 5000, NULL, 1, 10 * MIN_MS, NULL},
    {"redis.reconnect_min", SL_CFG_DUR, 0, C(reconnect_min_ms), 100, NULL, 1, HOUR_MS, NULL},
    {"redis.reconnect_max", SL_CFG_DUR, 0, C(reconnect_max_ms), 5000, NULL, 1, HOUR_MS, NULL},
    {"redis.wait_replicas", SL_CFG_INT, 0, C(wait_replicas), 0, NULL, 0, 64, "SLUICE_REDIS_WAIT_REPLICAS"},
    {"redis.wait_timeout", SL_CFG_DUR, 0, C(wait_timeout_ms), 1000, NULL, 1, 10 * MIN_MS, "SLUICE_REDIS_WAIT_TIMEOUT"},
    {"log.format", SL_CFG_FORMAT, 0, C(log_format), SL_LOG_TEXT, NULL, 0, 0, "SLUICE_LOG_FORMAT"},
    {"log.level", SL_CFG_LEVEL, 0, C(log_level), SL_INFO, NULL, 0, 0, "SLUICE_LOG_LEVEL"},
    {"log.file", SL_CFG_PATH, SL_CFG_NULLABLE, C(log_file), 0, NULL, 0, 0, "SLUICE_LOG_FILE"},
    {"log.jobs", SL_CFG_BOOL, 0, C(log_jobs), 1, NULL, 0, 1, "SLUICE_LOG_JOBS"},
    {"plugin_dir", SL_CFG_PATH, SL_CFG_REQUIRED, C(plugin_dir), 0, NULL, 0, 0, "SLUICE_PLUGIN_DIR"},
    {"schemas_dir", SL_CFG_PATH, SL_CFG_NULLABLE, C(schemas_dir), 0, NULL, 0, 0, "SLUICE_SCHEMAS_DIR"},
    {"supervisor.shutdown_timeout", SL_CFG_DUR, 0, C(shutdown_timeout_ms), 30000, NULL, 0, HOUR_MS,
     "SLUICE_SHUTDOWN_TIMEOUT"},
    {"supervisor.restart_backoff_min", SL_CFG_DUR, 0, C(restart_min_ms), 100, NULL, 1, HOUR_MS, NULL},
    {"supervisor.restart_backoff_max", SL_CFG_DUR, 0, C(restart_max_ms), 30000, NULL, 1, HOUR_MS, NULL},
    {"supervisor.worker_path", SL_CFG_STR, SL_CFG_NULLABLE, C(worker_path), 0, NULL, 0, 0, "SLUICE_WORKER_PATH"},
    {"jobs.max_payload_bytes", SL_CFG_I64, 0, C(max_payload_bytes), 1048576, NULL, 1, 536870912, NULL},
    {"jobs.max_attempts", SL_CFG_INT, 0, C(max_attempts), 25, NULL, 1, 10000, NULL},
    {"jobs.max_deliveries", SL_CFG_INT, 0, C(max_deliveries), 3, NULL, 1, 1000, NULL},
    {"jobs.backoff_base", SL_CFG_DUR, 0, C(backoff_base_ms), 1000, NULL, 1, DAY_MS, NULL},
    {"jobs.backoff_cap", SL_CFG_DUR, 0, C(backoff_cap_ms), HOUR_MS, NULL, 1, 7 * DAY_MS, NULL},
    {"jobs.timeout", SL_CFG_DUR, 0, C(job_timeout_ms), 5 * MIN_MS, NULL, 1, DAY_MS, NULL},
    {"jobs.lease", SL_CFG_DUR, 0, C(lease_ms), 30000, NULL, 1000, DAY_MS, NULL},
    {"jobs.dlq_maxlen", SL_CFG_I64, 0, C(dlq_maxlen), 100000, NULL, 0, 1000000000, NULL},
    {"jobs.done_ttl", SL_CFG_DUR, 0, C(done_ttl_ms), 7 * DAY_MS, NULL, 1000, 365 * DAY_MS, NULL},
    {"jobs.cancel_grace", SL_CFG_DUR, 0, C(cancel_grace_ms), 5000, NULL, 0, HOUR_MS, NULL},
    {"supervisor.promote_interval", SL_CFG_DUR, 0, C(promote_interval_ms), 100, NULL, 10, MIN_MS, NULL},
    {"supervisor.http_listen", SL_CFG_LISTEN, SL_CFG_NULLABLE, C(http_listen), 0, "127.0.0.1:9464", 0, 0,
     "SLUICE_HTTP_LISTEN"},
    {"supervisor.http_max_connections", SL_CFG_INT, 0, C(http_max_connections), 64, NULL, 1, 65536, NULL},
    {"supervisor.http_timeout", SL_CFG_DUR, 0, C(http_timeout_ms), 5000, NULL, 100, 10 * MIN_MS, NULL},
    {"supervisor.stats_interval", SL_CFG_DUR, 0, C(stats_interval_ms), 5000, NULL, 100, HOUR_MS, NULL},
    /* Read at start only (runner/privs.c): a reload cannot regain root to switch again. */
    {"supervisor.user", SL_CFG_STR, SL_CFG_NULLABLE, C(run_user), 0, NULL, 0, 0, NULL},
    {"supervisor.group", SL_CFG_STR, SL_CFG_NULLABLE, C(run_group), 0, NULL, 0, 0, NULL},
    {"health.stall_after", SL_CFG_DUR, 0, C(stall_after_ms), 5 * MIN_MS, NULL, 1000, DAY_MS, NULL},
    {"health.redis_error_after", SL_CFG_DUR, 0, C(redis_error_after_ms), 30000, NULL, 1000, DAY_MS, NULL},
    {"alerts.backlog", SL_CFG_I64, 0, C(alert_backlog), 10000, NULL, 0, 1000000000000LL, NULL},
    {"alerts.oldest_pending", SL_CFG_DUR, 0, C(alert_oldest_pending_ms), 10 * MIN_MS, NULL, 0, 7 * DAY_MS, NULL},
    {"alerts.dlq_growth", SL_CFG_I64, 0, C(alert_dlq_growth), 100, NULL, 0, 1000000000000LL, NULL},
    {"alerts.window", SL_CFG_DUR, 0, C(alert_window_ms), 5 * MIN_MS, NULL, 10000, DAY_MS, NULL},
    {"retention.interval", SL_CFG_DUR, 0, C(retention_interval_ms), 10000, NULL, 100, HOUR_MS, NULL},
    {"queues", SL_CFG_QUEUES, 0, C(queues), 0, NULL, 0, 0, NULL},
    {"schedules", SL_CFG_SCHEDULES, 0, C(schedules), 0, NULL, 0, 0, NULL},
    {"limits", SL_CFG_LIMITS, 0, C(limits), 0, NULL, 0, 0, NULL},
    {"pools", SL_CFG_POOLS, SL_CFG_REQUIRED, C(pools), 0, NULL, 0, 0, NULL},
};

const sl_cfg_key sl_cfg_pool_keys[] = {
    {"name", SL_CFG_NAME, SL_CFG_REQUIRED, P(name), 0, NULL, 0, 0, NULL},
    {"queue", SL_CFG_NAME, 0, P(queue), 0, "default", 0, 0, NULL},
    {"queues", SL_CFG_POOL_QUEUES, SL_CFG_NULLABLE, P(queues), 0, NULL, 0, 0, NULL}, /* null: as absent */
    {"group", SL_CFG_NAME, 0, P(group), 0, NULL, 0, 0, NULL}, /* default: the pool name */
    {"plugins", SL_CFG_PLUGINS, SL_CFG_REQUIRED, P(plugins), 0, NULL, 0, 0, NULL},
    {"workers", SL_CFG_INT, 0, P(workers), 1, NULL, 0, 1024, NULL},
    {"start_at", SL_CFG_STARTAT, 0, P(start_at), 0, "0", 0, 0, NULL},
    {"read_count", SL_CFG_INT, 0, P(read_count), 256, NULL, 1, 1000, NULL},
    {"prefetch", SL_CFG_DUR, 0, P(prefetch_ms), 5, NULL, 0, MIN_MS, NULL},
    {"block", SL_CFG_DUR, 0, P(block_ms), 2000, NULL, 1, 2000, NULL},
    {"settings", SL_CFG_SETTINGS, 0, P(setting_keys), 0, NULL, 0, 0, NULL},
};

/* queues.<name>.*: dlq_maxlen's default -1 means "jobs.dlq_maxlen" (sl_cfg_queues_resolve). */
const sl_cfg_key sl_cfg_queue_keys[] = {
    {"retention_max_age", SL_CFG_DUR, 0, Q(retention_max_age_ms), 0, NULL, 0, 3650 * DAY_MS, NULL},
    {"retention_max_len", SL_CFG_I64, 0, Q(retention_max_len), 0, NULL, 0, 1000000000000LL, NULL},
    {"dlq_maxlen", SL_CFG_I64, 0, Q(dlq_maxlen), -1, NULL, 0, 1000000000, NULL},
    {"partitions", SL_CFG_INT, 0, Q(partitions), 1, NULL, 1, 1024, NULL},
};

/* pools[].queues[].*: a weight of 0 is strict priority. */
const sl_cfg_key sl_cfg_pool_queue_keys[] = {
    {"name", SL_CFG_NAME, SL_CFG_REQUIRED, PQ(name), 0, NULL, 0, 0, NULL},
    {"weight", SL_CFG_INT, 0, PQ(weight), 1, NULL, 0, SL_POOL_WEIGHT_MAX, NULL},
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))
const size_t sl_cfg_nmain_keys = NKEYS(sl_cfg_main_keys);
const size_t sl_cfg_npool_keys = NKEYS(sl_cfg_pool_keys);
const size_t sl_cfg_nqueue_keys = NKEYS(sl_cfg_queue_keys);
const size_t sl_cfg_npool_queue_keys = NKEYS(sl_cfg_pool_queue_keys);
#define FIELD SL_CFG_FIELD

/* ---- errors ------------------------------------------------------------- */

struct sl_cfg_pctx {
    const char *origin; /* file name or "<string>" */
    const char *base; /* absolute folder for relative paths in the file */
    const char *cwd; /* absolute folder for relative paths from the env */
    char *err;
    size_t errlen;
};
typedef struct sl_cfg_pctx pctx;

/* Report "origin: label: message", or "VAR: message" for env overrides. */
static int vbad(pctx *p, const char *label, int from_env, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
static int vbad(pctx *p, const char *label, int from_env, const char *fmt, va_list ap)
{
    int n;

    if (p->err == NULL || p->errlen == 0)
        return -1;
    if (from_env)
        n = snprintf(p->err, p->errlen, "%s: ", label);
    else if (label != NULL)
        n = snprintf(p->err, p->errlen, "%s: %s: ", p->origin, label);
    else
        n = snprintf(p->err, p->errlen, "%s: ", p->origin);
    if (n < 0 || (size_t)n >= p->errlen)
        return -1;
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    return -1;
}

static int bad(pctx *p, const char *label, int from_env, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(pctx *p, const char *label, int from_env, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vbad(p, label, from_env, fmt, ap);
    va_end(ap);
    return -1;
}

int sl_cfg_bad(pctx *p, const char *label, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vbad(p, label, 0, fmt, ap);
    va_end(ap);
    return -1;
}

/* A short description of a JSON value for "got ..." (strings quoted, truncated). */
static const char *got(const cJSON *it, char *buf, size_t n)
{
    char *s;

    if (cJSON_IsObject(it))
        return "an object";
    if (cJSON_IsArray(it))
        return "an array";
    s = cJSON_PrintUnformatted(it);
    if (s == NULL)
        return "?";
    if (strlen(s) > 60)
        snprintf(buf, n, "%.56s...", s);
    else
        snprintf(buf, n, "%s", s);
    free(s);
    return buf;
}

const char *sl_cfg_got(const cJSON *it, char *buf, size_t n)
{
    return got(it, buf, n);
}

/* "1ms", "2s", "10m", "1h": the largest unit that divides ms exactly. */
static const char *fmt_dur(long long ms, char *buf, size_t n)
{
    if (ms > 0 && ms % HOUR_MS == 0)
        snprintf(buf, n, "%lldh", ms / HOUR_MS);
    else if (ms > 0 && ms % MIN_MS == 0)
        snprintf(buf, n, "%lldm", ms / MIN_MS);
    else if (ms > 0 && ms % 1000 == 0)
        snprintf(buf, n, "%llds", ms / 1000);
    else
        snprintf(buf, n, "%lldms", ms);
    return buf;
}

/* ---- paths -------------------------------------------------------------- */

/* Join base and rel (unless rel is absolute) and drop "." segments and repeated
 * slashes. ".." is kept: folding it lexically would be wrong across symlinks. */
static char *abs_path(const char *base, const char *rel)
{
    size_t n = strlen(base) + strlen(rel) + 2;
    char *joined = malloc(n), *out = malloc(n);
    const char *s;
    size_t o = 0;

    if (joined == NULL || out == NULL)
        goto fail;
    snprintf(joined, n, "%s/%s", rel[0] == '/' ? "" : base, rel);
    for (s = joined; *s != '\0';) {
        size_t seg;
        while (*s == '/')
            s++;
        seg = strcspn(s, "/");
        if (seg == 0 || (seg == 1 && s[0] == '.')) {
            s += seg;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, s, seg);
        o += seg;
        s += seg;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
fail:
    free(joined);
    free(out);
    return NULL;
}

/* ---- scalar values ------------------------------------------------------ */

static int set_str(pctx *p, char **slot, const char *v)
{
    char *c = NULL;

    if (v != NULL && (c = strdup(v)) == NULL)
        return bad(p, NULL, 0, "out of memory");
    free(*slot);
    *slot = c;
    return 0;
}

static int valid_start_at(const char *s)
{
    static const char digits[] = "0123456789";
    size_t a = strspn(s, digits), b;

    if (strcmp(s, "$") == 0)
        return 1;
    if (a == 0 || a > 20)
        return 0;
    if (s[a] == '\0')
        return 1;
    if (s[a] != '-')
        return 0;
    b = strspn(s + a + 1, digits);
    return b > 0 && b <= 20 && s[a + 1 + b] == '\0';
}

int sl_cfg_parse_listen(const char *listen, char *host, size_t n, unsigned short *port)
{
    const char *colon = strrchr(listen, ':');
    const char *h = listen;
    char *end;
    size_t hl;
    long p;

    if (!colon || colon[1] < '0' || colon[1] > '9')
        return -1;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535)
        return -1;
    hl = (size_t)(colon - listen);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl) != NULL || memchr(h, '[', hl) != NULL || memchr(h, ']', hl) != NULL) {
        return -1; /* an IPv6 address needs its brackets */
    }
    if (hl == 0) {
        h = "0.0.0.0";
        hl = strlen(h);
    }
    if (hl >= n)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned short)p;
    return 0;
}

/* sl_parse_duration_ms plus a "d" (day) unit, for retention ages: "7d", "1.5d".
 * 0 or -1. */
static int parse_dur(const char *s, int64_t *ms)
{
    char h[40];
    size_t n = strlen(s);
    int64_t v;

    if (n < 2 || n >= sizeof h || s[n - 1] != 'd')
        return sl_parse_duration_ms(s, ms);
    memcpy(h, s, n - 1); /* "7d" -> "7h" x 24 */
    h[n - 1] = 'h';
    h[n] = '\0';
    if (sl_parse_duration_ms(h, &v) != 0 || v > INT64_MAX / 24)
        return -1;
    *ms = v * 24;
    return 0;
}

/* The integer value of a JSON number, when it has one that fits long long:
 * the range is checked in double first, since converting an out-of-range
 * double to an integer is undefined behaviour (1e300). 1 with *out, or 0. */
static int json_integer(const cJSON *it, long long *out)
{
    /* 2^63 exactly; [-2^63, 2^63) is long long's range, exact in double */
    const double lim = 9223372036854775808.0;
    double d;

    if (!cJSON_IsNumber(it))
        return 0;
    d = it->valuedouble;
    if (!(d >= -lim && d < lim) || (double)(long long)d != d)
        return 0;
    *out = (long long)d;
    return 1;
}

/* An integer-valued JSON number in [min, max]? */
static int int_in(const cJSON *it, long long min, long long max, long long *out)
{
    long long v;

    if (!json_integer(it, &v) || v < min || v > max)
        return 0;
    *out = v;
    return 1;
}

/* Parse one value into its field of obj (sl_config or sl_pool_cfg). label names
 * it in errors: the key path, or the env variable when from_env. */
static int set_scalar(pctx *p, const sl_cfg_key *k, void *obj, const cJSON *it, const char *label, int from_env)
{
    const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
    char gb[80], d1[24], d2[24], uerr[160];
    long long v;
    int64_t ms;

    if (cJSON_IsNull(it) && (k->flags & SL_CFG_NULLABLE))
        return set_str(p, FIELD(obj, k->off, char *), NULL);
    switch (k->type) {
    case SL_CFG_INT:
    case SL_CFG_I64:
        if (!int_in(it, k->min, k->max, &v))
            return bad(p, label, from_env, "expected an integer in %lld..%lld, got %s", k->min, k->max,
                       got(it, gb, sizeof gb));
        if (k->type == SL_CFG_INT)
            *FIELD(obj, k->off, int) = (int)v;
        else
            *FIELD(obj, k->off, int64_t) = v;
        return 0;
    case SL_CFG_DUR:
        if (int_in(it, 0, LLONG_MAX / 2, &v))
            ms = v;
        else if (s == NULL || parse_dur(s, &ms) != 0)
            ms = -1;
        if (ms < k->min || ms > k->max)
            return bad(p, label, from_env,
                       "expected a duration in %s..%s (milliseconds, or a string like \"250ms\", "
                       "\"10s\", \"2m\", \"1h\", \"7d\"), got %s",
                       fmt_dur(k->min, d1, sizeof d1), fmt_dur(k->max, d2, sizeof d2), got(it, gb, sizeof gb));
        *FIELD(obj, k->off, int64_t) = ms;
        return 0;
    case SL_CFG_LEVEL: {
        sl_log_level l;
        if (sl_log_parse_level(s, &l) != 0)
            return bad(p, label, from_env, "expected one of debug|info|warn|error, got %s", got(it, gb, sizeof gb));
        *FIELD(obj, k->off, int) = (int)l;
        return 0;
    }
    case SL_CFG_BOOL:
        if (cJSON_IsBool(it)) {
            *FIELD(obj, k->off, int) = cJSON_IsTrue(it) ? 1 : 0;
            return 0;
        }
        if (s != NULL &&
            (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)) {
            *FIELD(obj, k->off, int) = (strcmp(s, "true") == 0 || strcmp(s, "1") == 0);
            return 0;
        }
        return bad(p, label, from_env, "expected true or false, got %s", got(it, gb, sizeof gb));
    case SL_CFG_FORMAT: {
        sl_log_format f;
        if (sl_log_parse_format(s, &f) != 0)
            return bad(p, label, from_env, "expected one of text|json, got %s", got(it, gb, sizeof gb));
        *FIELD(obj, k->off, int) = (int)f;
        return 0;
    }
    default:
        break;
    }
    /* string kinds */
    if (s == NULL)
        return bad(p, label, from_env, "expected a string%s, got %s", (k->flags & SL_CFG_NULLABLE) ? " or null" : "",
                   k->type == SL_CFG_URL ? "a non-string" : got(it, gb, sizeof gb));
    if (*s == '\0' && (k->flags & SL_CFG_NULLABLE))
        return set_str(p, FIELD(obj, k->off, char *), NULL);
    if (*s == '\0')
        return bad(p, label, from_env, "must not be empty");
    switch (k->type) {
    case SL_CFG_NAME:
        if (!sl_valid_name(s))
            return bad(p, label, from_env, "expected a name of 1-64 characters from [A-Za-z0-9_.-], got %s",
                       got(it, gb, sizeof gb));
        break;
    case SL_CFG_URL: {
        sl_url u;
        int rc = sl_url_parse(s, &u, uerr, sizeof uerr);
        sl_url_wipe(&u);
        if (rc != 0)
            return bad(p, label, from_env, "%s", uerr); /* never holds the password */
        break;
    }
    case SL_CFG_LISTEN: {
        char host[256];
        unsigned short port;
        if (sl_cfg_parse_listen(s, host, sizeof host, &port) != 0)
            return bad(p, label, from_env, "expected host:port (\"127.0.0.1:9464\", \"[::1]:9464\", \":9464\"), got %s",
                       got(it, gb, sizeof gb));
        break;
    }
    case SL_CFG_STARTAT:
        if (!valid_start_at(s))
            return bad(p, label, from_env, "expected \"0\", \"$\" or a stream id like \"1700000000000-0\", got %s",
                       got(it, gb, sizeof gb));
        break;
    case SL_CFG_PATH: {
        char *a = abs_path(from_env ? p->cwd : p->base, s);
        if (a == NULL)
            return bad(p, NULL, 0, "out of memory");
        free(*FIELD(obj, k->off, char *));
        *FIELD(obj, k->off, char *) = a;
        return 0;
    }
    default:
        break;
    }
    return set_str(p, FIELD(obj, k->off, char *), s);
}

static int set_defaults(pctx *p, const sl_cfg_key *tbl, size_t n, void *obj)
{
    for (size_t i = 0; i < n; i++) {
        const sl_cfg_key *k = &tbl[i];
        switch (k->type) {
        case SL_CFG_INT:
        case SL_CFG_LEVEL:
        case SL_CFG_FORMAT:
        case SL_CFG_BOOL:
            *FIELD(obj, k->off, int) = (int)k->def;
            break;
        case SL_CFG_I64:
        case SL_CFG_DUR:
            *FIELD(obj, k->off, int64_t) = k->def;
            break;
        case SL_CFG_STR:
        case SL_CFG_NAME:
        case SL_CFG_URL:
        case SL_CFG_PATH:
        case SL_CFG_STARTAT:
        case SL_CFG_LISTEN:
            if (set_str(p, FIELD(obj, k->off, char *), k->sdef) != 0)
                return -1;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* ---- structure checks --------------------------------------------------- */

/* Copy a JSON key into a label, neutralising characters that would garble a
 * one-line error message. */
static void join_label(char *out, size_t n, const char *prefix, const char *key)
{
    size_t o;

    snprintf(out, n, "%s%s%s", prefix, *prefix ? "." : "", key);
    for (o = strlen(prefix); out[o] != '\0'; o++)
        if ((unsigned char)out[o] < 0x20 || out[o] == 0x7F)
            out[o] = '?';
}

void sl_cfg_label(char *out, size_t n, const char *prefix, const char *key)
{
    join_label(out, n, prefix, key);
}

/* Every key of obj must be in tbl (match is the table path prefix, label the
 * error prefix); a table path "a.b" makes "a" a section that must be an object
 * and is checked recursively. Duplicate keys are refused. */
static int check_keys(pctx *p, const cJSON *obj, const sl_cfg_key *tbl, size_t n, const char *match, const char *label)
{
    char path[256], lab[320];
    const cJSON *c, *e;
    size_t plen;
    int found;

    for (c = obj->child; c != NULL; c = c->next) {
        join_label(path, sizeof path, match, c->string);
        join_label(lab, sizeof lab, label, c->string);
        for (e = obj->child; e != c; e = e->next)
            if (strcmp(e->string, c->string) == 0)
                return bad(p, lab, 0, "duplicate key");
        plen = strlen(path);
        found = 0;
        for (size_t i = 0; i < n && !found; i++) {
            if (strcmp(tbl[i].path, path) == 0)
                found = 1;
            else if (strncmp(tbl[i].path, path, plen) == 0 && tbl[i].path[plen] == '.')
                found = 2;
        }
        if (!found || strchr(c->string, '.') != NULL)
            return bad(p, lab, 0, "unknown key");
        if (found == 2) {
            if (!cJSON_IsObject(c))
                return bad(p, lab, 0, "expected an object");
            if (check_keys(p, c, tbl, n, path, lab) != 0)
                return -1;
        }
    }
    return 0;
}

/* The item at a dotted path ("redis.url"), or NULL. */
static const cJSON *lookup(const cJSON *obj, const char *path)
{
    char part[64];
    const char *dot;

    while (obj != NULL && (dot = strchr(path, '.')) != NULL) {
        snprintf(part, sizeof part, "%.*s", (int)(dot - path), path);
        obj = cJSON_GetObjectItemCaseSensitive(obj, part);
        path = dot + 1;
    }
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, path) : NULL;
}

int sl_cfg_parse_object(pctx *p, const sl_cfg_key *tbl, size_t n, void *obj, const cJSON *json, const char *label)
{
    char lab[340], gb[80];

    if (!cJSON_IsObject(json))
        return bad(p, label, 0, "expected an object, got %s", got(json, gb, sizeof gb));
    if (check_keys(p, json, tbl, n, "", label) != 0 || set_defaults(p, tbl, n, obj) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(json, tbl[i].path);
        join_label(lab, sizeof lab, label, tbl[i].path);
        if (it == NULL && (tbl[i].flags & SL_CFG_REQUIRED))
            return bad(p, lab, 0, "required key is missing");
        if (it != NULL && set_scalar(p, &tbl[i], obj, it, lab, 0) != 0)
            return -1;
    }
    return 0;
}

/* ---- pools -------------------------------------------------------------- */

static int parse_plugins(pctx *p, sl_pool_cfg *pool, const cJSON *arr, const char *label)
{
    char lab[340], gb[80];
    const cJSON *it;
    size_t i = 0;

    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
        return bad(p, label, 0, "expected a non-empty array of plugin file names");
    pool->plugins = calloc((size_t)cJSON_GetArraySize(arr), sizeof(char *));
    if (pool->plugins == NULL)
        return bad(p, NULL, 0, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        const char *s = cJSON_IsString(it) ? it->valuestring : NULL;
        snprintf(lab, sizeof lab, "%s[%zu]", label, i);
        if (s == NULL || *s == '\0' || strlen(s) > 255)
            return bad(p, lab, 0, "expected a plugin file name, got %s", got(it, gb, sizeof gb));
        if (strchr(s, '/') != NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
            return bad(p, lab, 0,
                       "plugin names are file names in plugin_dir and must not "
                       "contain '/', got %s",
                       got(it, gb, sizeof gb));
        for (size_t j = 0; j < i; j++)
            if (strcmp(pool->plugins[j], s) == 0)
                return bad(p, lab, 0, "duplicate plugin %s", got(it, gb, sizeof gb));
        if ((pool->plugins[i] = strdup(s)) == NULL)
            return bad(p, NULL, 0, "out of memory");
        pool->nplugins = ++i;
    }
    return 0;
}

/* Whether a pool setting names a path: its key ends in "_file" or "_dir". */
static int is_path_setting(const char *key)
{
    size_t n = strlen(key);
    return (n > 5 && strcmp(key + n - 5, "_file") == 0) || (n > 4 && strcmp(key + n - 4, "_dir") == 0);
}

/* pools[].settings: strings, numbers and booleans stored as strings; relative
 * path settings (is_path_setting) resolved against p->base. 0, or -1 after
 * bad() (the caller frees the half-filled pool with sl_cfg_free). */
static int parse_settings(pctx *p, sl_pool_cfg *pool, const cJSON *obj, const char *label)
{
    char lab[340], gb[80], num[32];
    const cJSON *it;
    long long iv;
    size_t n = 0;

    if (!cJSON_IsObject(obj))
        return bad(p, label, 0, "expected an object of strings, numbers or booleans, got %s", got(obj, gb, sizeof gb));
    cJSON_ArrayForEach(it, obj) n++;
    pool->setting_keys = calloc(n + 1, sizeof(char *));
    pool->setting_values = calloc(n + 1, sizeof(char *));
    if (pool->setting_keys == NULL || pool->setting_values == NULL)
        return bad(p, NULL, 0, "out of memory");
    cJSON_ArrayForEach(it, obj)
    {
        const char *v = num;
        join_label(lab, sizeof lab, label, it->string);
        if (it->string[0] == '\0')
            return bad(p, lab, 0, "empty setting name");
        for (size_t j = 0; j < pool->nsettings; j++)
            if (strcmp(pool->setting_keys[j], it->string) == 0)
                return bad(p, lab, 0, "duplicate key");
        if (cJSON_IsString(it))
            v = it->valuestring;
        else if (cJSON_IsBool(it))
            v = cJSON_IsTrue(it) ? "true" : "false";
        else if (json_integer(it, &iv) && iv > -9000000000000000LL && iv < 9000000000000000LL)
            snprintf(num, sizeof num, "%lld", iv); /* exact in double: printed as an integer */
        else if (cJSON_IsNumber(it))
            snprintf(num, sizeof num, "%.17g", it->valuedouble);
        else
            return bad(p, lab, 0, "expected a string, number or boolean, got %s", got(it, gb, sizeof gb));
        pool->setting_keys[pool->nsettings] = strdup(it->string);
        /* a path setting (key ending in _file or _dir) given relative is
         * made absolute against the config file's folder, like plugin_dir */
        if (cJSON_IsString(it) && v[0] != '\0' && v[0] != '/' && is_path_setting(it->string))
            pool->setting_values[pool->nsettings] = abs_path(p->base, v);
        else
            pool->setting_values[pool->nsettings] = strdup(v);
        pool->nsettings++; /* counted first so sl_cfg_free releases a half pair */
        if (pool->setting_keys[pool->nsettings - 1] == NULL || pool->setting_values[pool->nsettings - 1] == NULL)
            return bad(p, NULL, 0, "out of memory");
    }
    return 0;
}

/* pools[].queue and pools[].queues, after both were parsed: one of them (a
 * single queue is a one-entry list), and pool->queue the list's first. 0 or -1. */
static int pool_queues(pctx *p, sl_pool_cfg *pool, const cJSON *obj, const char *label)
{
    char lab[64];

    if (pool->nqueues > 0) {
        snprintf(lab, sizeof lab, "%s.queues", label);
        if (cJSON_GetObjectItemCaseSensitive(obj, "queue") != NULL)
            return bad(p, lab, 0, "give either queue or queues, not both");
        pool->queues_listed = 1;
        return set_str(p, &pool->queue, pool->queues[0].name);
    }
    if ((pool->queues = calloc(1, sizeof *pool->queues)) == NULL)
        return bad(p, NULL, 0, "out of memory");
    pool->queues[0].weight = 1;
    pool->nqueues = 1;
    return set_str(p, &pool->queues[0].name, pool->queue);
}

static int parse_pool(pctx *p, sl_pool_cfg *pool, const cJSON *obj, size_t idx)
{
    char label[32], lab[64];

    snprintf(label, sizeof label, "pools[%zu]", idx);
    if (!cJSON_IsObject(obj))
        return bad(p, label, 0, "expected an object");
    if (check_keys(p, obj, sl_cfg_pool_keys, sl_cfg_npool_keys, "", label) != 0 ||
        set_defaults(p, sl_cfg_pool_keys, sl_cfg_npool_keys, pool) != 0)
        return -1;
    for (size_t i = 0; i < sl_cfg_npool_keys; i++) {
        const sl_cfg_key *k = &sl_cfg_pool_keys[i];
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, k->path);
        int rc = 0;
        snprintf(lab, sizeof lab, "%s.%s", label, k->path);
        if (it == NULL) {
            if (k->flags & SL_CFG_REQUIRED)
                return bad(p, lab, 0, "required key is missing");
            continue;
        }
        if (k->type == SL_CFG_POOL_QUEUES)
            rc = cJSON_IsNull(it) ? 0 : sl_cfg_parse_pool_queues(p, pool, it, lab);
        else if (k->type == SL_CFG_PLUGINS)
            rc = parse_plugins(p, pool, it, lab);
        else if (k->type == SL_CFG_SETTINGS)
            rc = parse_settings(p, pool, it, lab);
        else
            rc = set_scalar(p, k, pool, it, lab, 0);
        if (rc != 0)
            return -1;
    }
    if (pool_queues(p, pool, obj, label) != 0)
        return -1;
    if (pool->group == NULL)
        return set_str(p, &pool->group, pool->name);
    return 0;
}

static int parse_pools(pctx *p, sl_config *cfg, const cJSON *arr)
{
    char lab[48];
    const cJSON *it;
    size_t n, i = 0;

    if (!cJSON_IsArray(arr) || (n = (size_t)cJSON_GetArraySize(arr)) == 0)
        return bad(p, "pools", 0, "expected a non-empty array of pool objects");
    if ((cfg->pools = calloc(n, sizeof *cfg->pools)) == NULL)
        return bad(p, NULL, 0, "out of memory");
    cJSON_ArrayForEach(it, arr)
    {
        cfg->npools = i + 1;
        if (parse_pool(p, &cfg->pools[i], it, i) != 0)
            return -1;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(cfg->pools[j].name, cfg->pools[i].name) == 0) {
                snprintf(lab, sizeof lab, "pools[%zu].name", i);
                return bad(p, lab, 0, "duplicate pool name \"%s\" (also pools[%zu])", cfg->pools[i].name, j);
            }
        }
        i++;
    }
    return 0;
}

/* ---- loading ------------------------------------------------------------ */

/* Relations between keys, checked once everything is parsed. */
static int cross_check(pctx *p, const sl_config *c)
{
    char d1[24], d2[24];

    for (size_t i = 0; i < c->npools; i++)
        if (c->command_timeout_ms <= c->pools[i].block_ms)
            return bad(p, "redis.command_timeout", 0,
                       "must be greater than every pool's block (%s <= pools[%zu].block %s)",
                       fmt_dur(c->command_timeout_ms, d1, sizeof d1), i, fmt_dur(c->pools[i].block_ms, d2, sizeof d2));
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        return bad(p, "redis.reconnect_max", 0, "must not be less than redis.reconnect_min");
    if (c->wait_replicas > 0 && c->wait_timeout_ms >= c->command_timeout_ms)
        return bad(p, "redis.wait_timeout", 0,
                   "must be less than redis.command_timeout (%s >= %s): WAIT blocks the connection that long",
                   fmt_dur(c->wait_timeout_ms, d1, sizeof d1), fmt_dur(c->command_timeout_ms, d2, sizeof d2));
    if (c->restart_max_ms < c->restart_min_ms)
        return bad(p, "supervisor.restart_backoff_max", 0, "must not be less than supervisor.restart_backoff_min");
    if (c->backoff_cap_ms < c->backoff_base_ms)
        return bad(p, "jobs.backoff_cap", 0, "must not be less than jobs.backoff_base");
    return 0;
}

/* Parse the JSON text and build the config; base is the folder relative paths
 * in the file resolve against. */
static sl_config *load(const char *json, const char *origin, const char *base, int env, char *err, size_t errlen)
{
    char cwd[PATH_MAX];
    pctx p = {origin, base, cwd, err, errlen};
    const char *end = NULL;
    cJSON *root = NULL;
    sl_config *cfg = NULL;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (getcwd(cwd, sizeof cwd) == NULL) {
        bad(&p, NULL, 0, "getcwd() failed: %s", strerror(errno));
        goto fail;
    }
    root = cJSON_ParseWithOpts(json, &end, 1);
    if (root == NULL) {
        long line = 1, col = 1;
        for (const char *s = json; end != NULL && s < end && *s; s++, col++)
            if (*s == '\n')
                line++, col = 0;
        bad(&p, NULL, 0, "line %ld, column %ld: invalid JSON", line, col);
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        bad(&p, NULL, 0, "expected a JSON object at the top level");
        goto fail;
    }
    if ((cfg = calloc(1, sizeof *cfg)) == NULL || (cfg->origin = strdup(origin)) == NULL) {
        bad(&p, NULL, 0, "out of memory");
        goto fail;
    }
    if (check_keys(&p, root, sl_cfg_main_keys, sl_cfg_nmain_keys, "", "") != 0 ||
        set_defaults(&p, sl_cfg_main_keys, sl_cfg_nmain_keys, cfg) != 0)
        goto fail;
    for (size_t i = 0; i < sl_cfg_nmain_keys; i++) {
        const sl_cfg_key *k = &sl_cfg_main_keys[i];
        const cJSON *it = lookup(root, k->path);
        const char *ev = (env == SL_CFG_ENV && k->env) ? getenv(k->env) : NULL;
        int rc;
        if (k->type == SL_CFG_POOLS) {
            rc = it ? parse_pools(&p, cfg, it) : bad(&p, k->path, 0, "required key is missing");
        } else if (k->type == SL_CFG_QUEUES) {
            rc = it ? sl_cfg_parse_queues(&p, cfg, it) : 0;
        } else if (k->type == SL_CFG_SCHEDULES) {
            rc = it ? sl_cfg_parse_schedules(&p, cfg, it) : 0;
        } else if (k->type == SL_CFG_LIMITS) {
            rc = it ? sl_cfg_parse_limits(&p, cfg, it) : 0;
        } else if (ev != NULL && *ev == '\0' && k->type == SL_CFG_LISTEN) {
            rc = set_str(&p, FIELD(cfg, k->off, char *), NULL); /* SLUICE_HTTP_LISTEN="": off */
        } else if (ev != NULL && *ev != '\0') { /* env wins; empty means unset */
            cJSON *tmp = cJSON_CreateString(ev);
            rc = tmp ? set_scalar(&p, k, cfg, tmp, k->env, 1) : bad(&p, NULL, 0, "out of memory");
            cJSON_Delete(tmp);
        } else if (it != NULL) {
            rc = set_scalar(&p, k, cfg, it, k->path, 0);
        } else {
            rc = (k->flags & SL_CFG_REQUIRED) ? bad(&p, k->path, 0, "required key is missing") : 0;
        }
        if (rc != 0)
            goto fail;
    }
    sl_cfg_queues_resolve(cfg);
    if (cross_check(&p, cfg) != 0)
        goto fail;
    cJSON_Delete(root);
    return cfg;
fail:
    sl_cfg_free(cfg);
    cJSON_Delete(root);
    return NULL;
}

sl_config *sl_cfg_load_string(const char *json, const char *origin, int env, char *err, size_t errlen)
{
    char cwd[PATH_MAX], none[1];

    if (err == NULL || errlen == 0) {
        err = none;
        errlen = sizeof none;
    }
    if (origin == NULL)
        origin = "<string>";
    if (getcwd(cwd, sizeof cwd) == NULL) {
        snprintf(err, errlen, "%s: getcwd() failed: %s", origin, strerror(errno));
        return NULL;
    }
    return load(json ? json : "", origin, cwd, env, err, errlen);
}

sl_config *sl_cfg_load_file(const char *path, int env, char *err, size_t errlen)
{
    char cwd[PATH_MAX], none[1];
    char *text = NULL, *abs = NULL, *slash;
    sl_config *cfg = NULL;
    FILE *f = NULL;
    long size;

    if (err == NULL || errlen == 0) {
        err = none;
        errlen = sizeof none;
    }

    if ((f = fopen(path, "rb")) == NULL) {
        snprintf(err, errlen, "%s: open() failed: %s", path, strerror(errno));
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    if (size > 16L * 1024 * 1024) {
        snprintf(err, errlen, "%s: file too large (max 16 MiB)", path);
        goto done;
    }
    if ((text = malloc((size_t)size + 1)) == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: read() failed: %s", path, text ? strerror(errno) : "out of memory");
        goto done;
    }
    text[size] = '\0';
    if (strlen(text) != (size_t)size) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        goto done;
    }
    /* folder of the file, absolute, for relative plugin_dir / log.file */
    if (getcwd(cwd, sizeof cwd) == NULL || (abs = abs_path(cwd, path)) == NULL) {
        snprintf(err, errlen, "%s: cannot resolve its folder: %s", path, strerror(errno));
        goto done;
    }
    slash = strrchr(abs, '/');
    if (slash == abs)
        slash[1] = '\0';
    else
        *slash = '\0';
    cfg = load(text, path, abs, env, err, errlen);
done:
    free(abs);
    free(text);
    if (f != NULL)
        fclose(f);
    return cfg;
}
