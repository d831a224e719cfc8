/* Shared helpers of the operator commands (see cli.h): connection, Redis reply
 * access, group lookup, time parsing/formatting, aligned tables, JSON output
 * and the confirmation prompt. */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/url.h"
#include "common/util.h"

#define DEFAULT_URL "redis://127.0.0.1:6379/0"

int sl_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sluice %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `sluice %s --help`)\n", cmd);
    return 2;
}

int sl_cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sluice %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int sl_cli_check_name(const char *cmd, const char *what, const char *name)
{
    if (sl_valid_name(name))
        return 0;
    return sl_cli_usage(cmd, "invalid %s name '%.64s' (expected [A-Za-z0-9_.-]{1,64})", what, name);
}

int sl_cli_bad_option(const char *cmd, int ch, const char *arg)
{
    /* Cut at '=' so a mistyped --url=redis://:secret@... never echoes a password. */
    int len = (int)strcspn(arg, "=");
    return sl_cli_usage(cmd, "%s '%.*s'", ch == ':' ? "missing value for option" : "unknown option",
                        len < 64 ? len : 64, arg);
}

int sl_cli_options(const char *cmd, const char *usage, int argc, char **argv, const char **url, int *json)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":u:h", longopts, NULL)) != -1) {
        if (ch == 'u')
            *url = optarg;
        else if (ch == 'j')
            *json = 1;
        else if (ch == 'h')
            return fputs(usage, stdout), 0;
        else
            return sl_cli_bad_option(cmd, ch, argv[optind - 1]);
    }
    return -1;
}

/* ---- the -u argument ---------------------------------------------------------- */

/* The URL in the file named by `-u @FILE`: its first line, blanks trimmed.
 * Warns when others may read it. malloc'd, or NULL with err set. */
static char *read_url_file(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s is not a regular file", path);
    } else if ((n = read(fd, buf, sizeof buf)) < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    } else if ((size_t)n == sizeof buf) {
        snprintf(err, errlen, "%s is too long for a URL", path);
        n = -1;
    }
    close(fd);
    if (n < 0) {
        explicit_bzero(buf, sizeof buf);
        return NULL;
    }
    if (st.st_mode & (S_IRGRP | S_IROTH))
        fprintf(stderr,
                "sluice: warning: -u @%s: the file is readable by group/others (mode %04o); it holds the "
                "Redis password: chmod 600 it\n",
                path, (unsigned)(st.st_mode & 07777));
    buf[n] = '\0';
    char *start = buf + strspn(buf, " \t\r\n");
    size_t len = strcspn(start, "\r\n");
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    char *url = len ? strndup(start, len) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!url)
        snprintf(err, errlen, len ? "out of memory" : "%s holds no URL", path);
    return url;
}

/* One -u value at argv[i], starting `prefix` bytes in ("-uURL", "--url=URL"):
 * give getopt a heap copy (the URL read from the file for @FILE) and hide a
 * password in the original bytes, which are what /proc/PID/cmdline shows.
 * 0, or 2 after printing why. */
static int take_url_arg(const char *cmd, char **argv, int i, size_t prefix)
{
    char *orig = argv[i], *value = orig + prefix, err[512];
    char *url = value[0] == '@' ? read_url_file(value + 1, err, sizeof err) : strdup(value);
    if (!url && value[0] == '@')
        return sl_cli_usage(cmd, "-u %.200s: %s", value, err);
    if (!url)
        return sl_cli_fail(cmd, "out of memory");
    char *arg = malloc(prefix + strlen(url) + 1);
    if (!arg) {
        explicit_bzero(url, strlen(url));
        free(url);
        return sl_cli_fail(cmd, "out of memory");
    }
    memcpy(arg, orig, prefix);
    strcpy(arg + prefix, url);
    explicit_bzero(url, strlen(url));
    free(url);
    argv[i] = arg; /* lives as long as the process, like argv */
    if (value[0] != '@') {
        char shown[1024];
        size_t vlen = strlen(value);
        sl_url_redact(value, shown, sizeof shown);
        if (strcmp(shown, value) != 0) { /* it held a password */
            if (strlen(shown) <= vlen) {
                memset(value, 0, vlen);
                memcpy(value, shown, strlen(shown));
            } else {
                memset(value, 0, vlen);
            }
        }
    }
    return 0;
}

int sl_cli_prepare_argv(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--") == 0)
            break;
        if ((strcmp(a, "-u") == 0 || strcmp(a, "--url") == 0) && i + 1 < argc)
            rc = take_url_arg(cmd, argv, ++i, 0);
        else if (strncmp(a, "-u", 2) == 0 && a[2] != '\0' && a[1] != '-')
            rc = take_url_arg(cmd, argv, i, 2);
        else if (strncmp(a, "--url=", 6) == 0)
            rc = take_url_arg(cmd, argv, i, 6);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sl_cli_set_url_env(const char *cmd, char *url)
{
    sl_url u;
    char err[512];
    if (sl_url_parse(url, &u, err, sizeof err) != 0)
        return sl_cli_usage(cmd, "-u: %s", err);
    sl_url_wipe(&u);
    int rc = setenv("SLUICE_REDIS_URL", url, 1);
    explicit_bzero(url, strlen(url)); /* the heap copy sl_cli_prepare_argv made */
    if (rc != 0)
        return sl_cli_fail(cmd, "setenv(SLUICE_REDIS_URL) failed: %s", strerror(errno));
    return 0;
}

sl_redis *sl_cli_connect(const char *cmd, const char *url)
{
    char err[512];
    if (url == NULL || url[0] == '\0')
        url = getenv("SLUICE_REDIS_URL");
    if (url == NULL || url[0] == '\0')
        url = DEFAULT_URL;
    sl_log_open(NULL, SL_LOG_TEXT, SL_WARN);
    sl_redis *r = sl_redis_new(url, NULL, err, sizeof err);
    if (r == NULL) {
        sl_cli_fail(cmd, "%s", err);
        return NULL;
    }
    if (sl_redis_connect(r) != 0) {
        sl_cli_fail(cmd, "cannot connect to %s: %s", sl_redis_name(r), sl_redis_errstr(r));
        sl_redis_free(r);
        return NULL;
    }
    return r;
}

/* 1 if master n's library has sluice_dlq_replay (see sl_cli_functions). */
static int has_dlq_replay(sl_redis *r, int n)
{
    const char *argv[4] = {"FUNCTION", "LIST", "LIBRARYNAME", "sluice"};
    redisReply *rep = sl_redis_cmdargv_at(r, n, 4, argv, NULL);
    int have = 0;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1) {
        const redisReply *fns = sl_cli_kv(rep->element[0], "functions");
        for (size_t i = 0; fns && fns->type == REDIS_REPLY_ARRAY && i < fns->elements; i++)
            if (strcmp(sl_cli_kv_str(fns->element[i], "name"), "sluice_dlq_replay") == 0)
                have = 1;
    }
    if (rep)
        freeReplyObject(rep);
    return have;
}

int sl_cli_functions(const char *cmd, sl_redis *r)
{
    char err[512];
    if (sl_functions_ensure(r, err, sizeof err) != 0)
        return sl_cli_fail(cmd, "%s", err);
    /* A library of this version loaded by a build from before a function was
     * appended lacks it: probe the newest one and load ours where it is missing. */
    for (int n = 0; n < sl_redis_nodes(r); n++)
        if (!has_dlq_replay(r, n)) {
            if (sl_functions_load_all(r, 1, NULL, err, sizeof err) != 0)
                return sl_cli_fail(cmd, "FUNCTION LOAD failed: %s", err);
            break;
        }
    return 0;
}

redisReply *sl_cli_cmd(const char *cmd, sl_redis *r, int argc, const char **argv)
{
    return sl_cli_cmd_at(cmd, r, -1, argc, argv);
}

redisReply *sl_cli_cmd_at(const char *cmd, sl_redis *r, int node, int argc, const char **argv)
{
    redisReply *rep = node < 0 ? sl_redis_cmdargv(r, argc, argv, NULL) : sl_redis_cmdargv_at(r, node, argc, argv, NULL);
    if (!rep) {
        sl_cli_fail(cmd, "%s failed: %s", argv[0], sl_redis_errstr(r));
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        sl_cli_fail(cmd, "%s %s failed: %s", argv[0], argc > 1 ? argv[1] : "", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

int64_t sl_cli_server_ms(const char *cmd, sl_redis *r)
{
    const char *argv[] = {"TIME"};
    redisReply *rep = sl_cli_cmd(cmd, r, 1, argv);
    int64_t ms = -1;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2)
        ms = strtoll(rep->element[0]->str, NULL, 10) * 1000 + strtoll(rep->element[1]->str, NULL, 10) / 1000;
    if (rep)
        freeReplyObject(rep);
    return ms;
}

/* ---- replies ---------------------------------------------------------------- */

const redisReply *sl_cli_kv(const redisReply *arr, const char *name)
{
    if (!arr || arr->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < arr->elements; i += 2) {
        const redisReply *k = arr->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) && strcmp(k->str, name) == 0)
            return arr->element[i + 1];
    }
    return NULL;
}

const char *sl_cli_kv_str(const redisReply *arr, const char *name)
{
    const redisReply *v = sl_cli_kv(arr, name);
    return v && (v->type == REDIS_REPLY_STRING || v->type == REDIS_REPLY_STATUS) ? v->str : "";
}

long long sl_cli_kv_int(const redisReply *arr, const char *name, long long def)
{
    const redisReply *v = sl_cli_kv(arr, name);
    if (!v)
        return def;
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return def;
}

int sl_cli_groups(const char *cmd, sl_redis *r, const char *queue, char names[][SL_CLI_NAME_MAX])
{
    char key[SL_KEY_MAX];
    if (sl_key_stream(key, sizeof key, queue) != 0)
        return sl_cli_fail(cmd, "queue name too long"), -1;
    const char *argv[] = {"XINFO", "GROUPS", key};
    redisReply *rep = sl_redis_cmdargv(r, 3, argv, NULL);
    if (!rep)
        return sl_cli_fail(cmd, "XINFO GROUPS failed: %s", sl_redis_errstr(r)), -1;
    int n = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* "ERR no such key": a queue nobody wrote to has no groups. */
        if (strstr(rep->str, "no such key") == NULL) {
            sl_cli_fail(cmd, "XINFO GROUPS %s failed: %s", key, rep->str);
            n = -1;
        }
    } else {
        for (size_t i = 0; i < rep->elements && n < SL_CLI_MAX_GROUPS; i++)
            snprintf(names[n++], SL_CLI_NAME_MAX, "%s", sl_cli_kv_str(rep->element[i], "name"));
    }
    freeReplyObject(rep);
    return n;
}

int sl_cli_pick_group(const char *cmd, sl_redis *r, const char *queue, const char *given, char *out)
{
    char names[SL_CLI_MAX_GROUPS][SL_CLI_NAME_MAX];
    if (given != NULL) {
        snprintf(out, SL_CLI_NAME_MAX, "%s", given);
        return 0;
    }
    int n = sl_cli_groups(cmd, r, queue, names);
    if (n < 0)
        return 1;
    if (n == 0)
        return sl_cli_fail(cmd, "queue '%s' has no consumer group (name one with --group)", queue);
    if (n > 1) {
        fprintf(stderr, "sluice %s: queue '%s' has %d groups; pick one with --group:", cmd, queue, n);
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %s", names[i]);
        fputc('\n', stderr);
        return 2;
    }
    snprintf(out, SL_CLI_NAME_MAX, "%s", names[0]);
    return 0;
}

/* ---- time ------------------------------------------------------------------- */

static int read_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return (int64_t)era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The same grammar as `sluice enqueue --at` (cmd_enqueue.c), years 1970..9999. */
int sl_cli_parse_time(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, frac_ms = 0;
    int64_t off = 0;
    const char *p;
    if (s[0] == '@') {
        int64_t v = 0;
        if (s[1] == '\0')
            return -1;
        for (p = s + 1; *p; p++) {
            if (*p < '0' || *p > '9' || v > 253402300799LL)
                return -1;
            v = v * 10 + (*p - '0');
        }
        if (v > 253402300799LL)
            return -1;
        *out_ms = v * 1000;
        return 0;
    }
    if (read_digits(s, 4, &y) || s[4] != '-' || read_digits(s + 5, 2, &mo) || s[7] != '-' ||
        read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || read_digits(s + 11, 2, &h) || s[13] != ':' ||
        read_digits(s + 14, 2, &mi) || s[16] != ':' || read_digits(s + 17, 2, &sec))
        return -1;
    p = s + 19;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (n == 0)
            return -1;
        for (; n < 3; n++)
            frac_ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (read_digits(p + 1, 2, &oh) || p[3] != ':' || read_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (*p == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        sec > 60)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    if (secs < 0)
        return -1;
    *out_ms = secs * 1000 + frac_ms;
    return 0;
}

int sl_cli_parse_when(const char *s, int64_t now_ms, int64_t *out_ms)
{
    int64_t ago;
    if (sl_cli_parse_time(s, out_ms) == 0)
        return 0;
    /* A duration needs a unit here: a bare number would read as ms ago. */
    size_t len = strlen(s);
    if (len == 0 || (s[len - 1] >= '0' && s[len - 1] <= '9'))
        return -1;
    if (sl_parse_duration_ms(s, &ago) != 0)
        return -1;
    *out_ms = now_ms > ago ? now_ms - ago : 0;
    return 0;
}

void sl_cli_fmt_time(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char date[32];
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", date, (int)(ms % 1000));
}

void sl_cli_fmt_age(char *buf, size_t n, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    int64_t s = ms / 1000;
    if (ms < 1000)
        snprintf(buf, n, "%dms", (int)ms);
    else if (s < 60)
        snprintf(buf, n, "%ds", (int)s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)(s % 60));
    else if (s < 86400)
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s % 3600 / 60));
    else
        snprintf(buf, n, "%lldd%02dh", (long long)(s / 86400), (int)(s % 86400 / 3600));
}

/* ---- tables ----------------------------------------------------------------- */

struct sl_table {
    size_t ncols, nrows, cap; /* nrows counts the header row */
    char align[16];
    char **cells; /* nrows rows of ncols cells, the header first */
};

sl_table *sl_table_new(const char *const *headers, size_t ncols, const char *align)
{
    sl_table *t = calloc(1, sizeof *t);
    if (!t || ncols == 0 || ncols >= sizeof t->align || strlen(align) != ncols) {
        free(t);
        return NULL;
    }
    t->ncols = ncols;
    snprintf(t->align, sizeof t->align, "%s", align);
    if (sl_table_row(t, headers) != 0) {
        sl_table_free(t);
        return NULL;
    }
    return t;
}

int sl_table_row(sl_table *t, const char *const *cells)
{
    size_t used = t->nrows * t->ncols;
    if (used + t->ncols > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : t->ncols * 8;
        char **p = realloc(t->cells, cap * sizeof *p);
        if (!p)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        t->cells[used + i] = strdup(cells[i] ? cells[i] : "-");
        if (!t->cells[used + i]) {
            while (i-- > 0)
                free(t->cells[used + i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

size_t sl_table_rows(const sl_table *t)
{
    return t->nrows - 1;
}

void sl_table_print(const sl_table *t, FILE *out)
{
    size_t w[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t len = strlen(t->cells[r * t->ncols + c]);
            if (len > w[c])
                w[c] = len;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int last = c + 1 == t->ncols;
            if (t->align[c] == 'r')
                fprintf(out, "%*s%s", (int)w[c], s, last ? "" : "  ");
            else if (last)
                fputs(s, out);
            else
                fprintf(out, "%-*s  ", (int)w[c], s);
        }
        fputc('\n', out);
    }
}

void sl_table_free(sl_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* ---- output ----------------------------------------------------------------- */

int sl_cli_print_json(const char *cmd, cJSON *root)
{
    char *s = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!s)
        return sl_cli_fail(cmd, "out of memory");
    puts(s);
    free(s);
    return 0;
}

void sl_cli_json_num_or_null(cJSON *obj, const char *name, double v, int unknown)
{
    if (unknown)
        cJSON_AddNullToObject(obj, name);
    else
        cJSON_AddNumberToObject(obj, name, v);
}

/* Not by cJSON_InsertItemInArray: cJSON 1.7.15, Debian 12's, drops an item
 * inserted mid-array. */
int sl_cli_json_sort(cJSON *arr, int (*cmp)(const void *, const void *))
{
    int n = cJSON_GetArraySize(arr);
    cJSON **v =
        calloc((size_t)(n ? n : 1), sizeof(cJSON *)); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!v)
        return -1;
    for (int i = 0; i < n; i++)
        v[i] = cJSON_DetachItemFromArray(arr, 0);
    qsort(v, (size_t)n, sizeof(cJSON *), cmp); // NOLINT(bugprone-sizeof-expression): an array of pointers
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, v[i]);
    free(v);
    return 0;
}

int sl_cli_flush(const char *cmd)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    return sl_cli_fail(cmd, "writing to stdout failed: %s", strerror(errno));
}

int sl_cli_confirm(const char *question)
{
    char line[64];
    if (!isatty(STDIN_FILENO))
        return -1;
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (!fgets(line, sizeof line, stdin))
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0 || strcmp(line, "YES") == 0;
}
