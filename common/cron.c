/* Cron expressions and fire times (cron.h). Written here because Debian 12
 * packages no C cron library; the calendar arithmetic is Howard Hinnant's
 * days-from-civil algorithm, the zone rules are glibc's tzdata reader. */
#include "common/cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"

#define SEARCH_YEARS 10 /* "0 0 29 2 1" can wait years; beyond this: never */
#define DAY 86400

typedef struct field_def {
    const char *name;
    int lo, hi;
    const char *const *names; /* lo-based, or NULL */
} field_def;

static const char *const mon_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                        "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_N };
static const field_def fields[F_N] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},     {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL}, {"month", 1, 12, mon_names}, {"day of week", 0, 7, dow_names},
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A number or a name of field f at *s (advanced past it). 0, or -1. */
static int atom(const field_def *f, const char **s, long *out)
{
    const char *p = *s;
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        while (isdigit((unsigned char)*p) && v < 1000)
            v = v * 10 + (*p++ - '0');
        if (isdigit((unsigned char)*p))
            return -1;
        *s = p;
        *out = v;
        return 0;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(p, f->names[i], 3) == 0 && !isalpha((unsigned char)p[3])) {
            *s = p + 3;
            *out = f->lo + i;
            return 0;
        }
    return -1;
}

/* Parse one field text[0..len) into the bit set *bits. 0, or -1 with err. */
static int parse_field(const field_def *f, const char *text, size_t len, uint64_t *bits, char *err, size_t errlen)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return fail(err, errlen, "%s: empty or too long", f->name);
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bits = 0;
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        const char *p = item;
        long lo, hi, step = 1;
        int star = 0;
        if (*p == '*' || *p == '?') {
            star = 1;
            lo = f->lo;
            hi = f->hi == 7 ? 6 : f->hi;
            p++;
        } else {
            if (atom(f, &p, &lo) != 0)
                return fail(err, errlen, "%s: \"%s\" is not a number%s", f->name, item, f->names ? " or a name" : "");
            hi = lo;
            if (*p == '-') {
                p++;
                if (atom(f, &p, &hi) != 0)
                    return fail(err, errlen, "%s: \"%s\" is not a range N-M", f->name, item);
            }
        }
        if (*p == '/') {
            p++;
            if (!isdigit((unsigned char)*p))
                return fail(err, errlen, "%s: \"%s\" has no step after /", f->name, item);
            step = 0;
            while (isdigit((unsigned char)*p) && step < 1000)
                step = step * 10 + (*p++ - '0');
            if (step < 1 || step > f->hi)
                return fail(err, errlen, "%s: \"%s\" has a step out of 1..%d", f->name, item, f->hi);
            if (!star && hi == lo && strchr(item, '-') == NULL) /* "N/S": N to the maximum */
                hi = f->hi == 7 ? 6 : f->hi;
        }
        if (*p != '\0')
            return fail(err, errlen, "%s: \"%s\" is not a value, range or step", f->name, item);
        if (lo < f->lo || lo > f->hi)
            return fail(err, errlen, "%s: %ld is out of %d..%d", f->name, lo, f->lo, f->hi);
        if (hi < f->lo || hi > f->hi)
            return fail(err, errlen, "%s: %ld is out of %d..%d", f->name, hi, f->lo, f->hi);
        if (hi < lo)
            return fail(err, errlen, "%s: \"%s\" is a range that ends before it starts", f->name, item);
        for (long v = lo; v <= hi; v += step)
            *bits |= 1ull << (f->hi == 7 && v == 7 ? 0 : v); /* weekday 7 is Sunday */
    }
    return 0;
}

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"},
};

static int parse_every(const char *d, sl_cron *out, char *err, size_t errlen)
{
    while (*d == ' ')
        d++;
    int64_t ms = 0;
    if (sl_parse_duration_ms(d, &ms) != 0 || ms < 1000 || ms > 366LL * DAY * 1000 || ms % 1000 != 0)
        return fail(err, errlen, "@every: \"%.60s\" is not a duration of whole seconds in 1s..366d", d);
    out->every_ms = ms;
    return 0;
}

int sl_cron_parse(const char *expr, const char *zone, sl_cron *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        return fail(err, errlen, "no expression");
    if (zone && strcmp(zone, "UTC") != 0 && sl_tz_check(zone, err, errlen) != 0)
        return -1;
    snprintf(out->zone, sizeof out->zone, "%s", zone && strcmp(zone, "UTC") != 0 ? zone : "");
    while (*expr == ' ' || *expr == '\t')
        expr++;
    if (strncmp(expr, "@every", 6) == 0 && (expr[6] == ' ' || expr[6] == '\t'))
        return parse_every(expr + 7, out, err, errlen);
    if (*expr == '@') {
        size_t n = strcspn(expr, " \t");
        const char *rest = expr + n;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
            if (strlen(macros[i].name) == n && strncasecmp(expr, macros[i].name, n) == 0 && *rest == '\0')
                return sl_cron_parse(macros[i].expr, zone, out, err, errlen);
        return fail(err, errlen,
                    "\"%.40s\" is not a macro: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly "
                    "or @every DURATION",
                    expr);
    }
    const char *start[F_N + 1];
    size_t len[F_N + 1];
    int n = 0;
    for (const char *p = expr; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == F_N)
            return fail(err, errlen, "more than 6 fields (SEC MIN HOUR DOM MON DOW)");
        start[n] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        len[n] = (size_t)(p - start[n]);
        n++;
    }
    if (n != 5 && n != 6)
        return fail(err, errlen, "%d fields: a cron expression has 5 (MIN HOUR DOM MON DOW) or 6 (SEC first)", n);
    uint64_t bits[F_N];
    int first = n == 5 ? F_MIN : F_SEC;
    bits[F_SEC] = 1; /* five fields: second 0 */
    for (int i = 0; i < n; i++)
        if (parse_field(&fields[first + i], start[i], len[i], &bits[first + i], err, errlen) != 0)
            return -1;
    out->sec = bits[F_SEC];
    out->min = bits[F_MIN];
    out->hour = (uint32_t)bits[F_HOUR];
    out->dom = (uint32_t)bits[F_DOM];
    out->mon = (uint16_t)bits[F_MON];
    out->dow = (uint8_t)bits[F_DOW];
    out->dom_any = len[F_DOM - first] == 1 && (*start[F_DOM - first] == '*' || *start[F_DOM - first] == '?');
    out->dow_any = len[F_DOW - first] == 1 && (*start[F_DOW - first] == '*' || *start[F_DOW - first] == '?');
    return 0;
}

/* ---- zones --------------------------------------------------------------- */

int sl_tz_check(const char *zone, char *err, size_t errlen)
{
    if (!zone || !*zone || strcmp(zone, "UTC") == 0)
        return 0;
    size_t n = strlen(zone);
    if (n >= SL_CRON_ZONE_MAX || zone[0] == '/' || strstr(zone, "..") ||
        strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/_+-") != n)
        return fail(err, errlen, "\"%.80s\" is not an IANA time zone name like Europe/Berlin", zone);
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int ok = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    if (f)
        fclose(f);
    if (!ok)
        return fail(err, errlen, "unknown time zone %.80s (not in %s: install tzdata)", zone,
                    dir && *dir ? dir : "/usr/share/zoneinfo");
    return 0;
}

/* The zone TZ was last set to by us (NULL: not yet). */
static char tz_now[SL_CRON_ZONE_MAX + 2];

long sl_tz_offset(const char *zone, int64_t t)
{
    if (!zone || !*zone)
        return 0;
    char want[SL_CRON_ZONE_MAX + 2];
    snprintf(want, sizeof want, ":%s", zone);
    if (strcmp(tz_now, want) != 0) {
        setenv("TZ", want, 1);
        tzset();
        snprintf(tz_now, sizeof tz_now, "%s", want);
    }
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return 0;
    return tm.tm_gmtoff;
}

/* ---- the calendar -------------------------------------------------------- */

/* Days since 1970-01-01 of y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int day_matches(const sl_cron *c, int64_t days, unsigned d)
{
    unsigned wd = (unsigned)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int dm = (c->dom >> d) & 1, wm = (c->dow >> wd) & 1;
    if (c->dom_any || c->dow_any)
        return dm && wm;
    return dm || wm;
}

/* The first wall-clock time after w (seconds, local time as if UTC) that c
 * matches, into *out: 0, or -1 when none within SEARCH_YEARS. */
static int next_wall(const sl_cron *c, int64_t w, int64_t *out)
{
    int64_t t = w + 1, y0 = 0;
    unsigned m0, d0;
    civil_from_days(floor_div(t, DAY), &y0, &m0, &d0);
    for (;;) {
        int64_t days = floor_div(t, DAY), y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        if (y > y0 + SEARCH_YEARS)
            return -1;
        if (!((c->mon >> m) & 1)) { /* the first day of the next month */
            t = days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY;
            continue;
        }
        if (!day_matches(c, days, d)) {
            t = (days + 1) * DAY;
            continue;
        }
        int64_t s = t - days * DAY;
        unsigned h = (unsigned)(s / 3600), mi = (unsigned)(s / 60 % 60), se = (unsigned)(s % 60);
        if (!((c->hour >> h) & 1)) {
            t = days * DAY + (int64_t)(h + 1) * 3600;
            continue;
        }
        if (!((c->min >> mi) & 1)) {
            t = days * DAY + h * 3600 + (int64_t)(mi + 1) * 60;
            continue;
        }
        uint64_t later = c->sec >> se << se; /* matching seconds from se on */
        if (!later) {
            t = days * DAY + h * 3600 + (int64_t)(mi + 1) * 60;
            continue;
        }
        *out = days * DAY + h * 3600 + mi * 60 + __builtin_ctzll(later);
        return 0;
    }
}

/* The instant of wall-clock time w in zone: its first occurrence when the
 * clock went back over it; the end of the jump when it jumped over w. */
static int64_t instant_of(const char *zone, int64_t w)
{
    long a = sl_tz_offset(zone, w - DAY), b = sl_tz_offset(zone, w + DAY);
    int64_t ua = w - a, ub = w - b, best = INT64_MAX;
    if (ua + sl_tz_offset(zone, ua) == w)
        best = ua;
    if (ub + sl_tz_offset(zone, ub) == w && ub < best)
        best = ub;
    if (best != INT64_MAX)
        return best;
    /* in a gap: the first instant whose wall-clock time is past w */
    int64_t lo = ua < ub ? ua : ub, hi = ua < ub ? ub : ua;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (mid + sl_tz_offset(zone, mid) > w)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int sl_cron_next(const sl_cron *c, int64_t after_ms, int64_t *next_ms)
{
    if (c->every_ms > 0) {
        *next_ms = (floor_div(after_ms, c->every_ms) + 1) * c->every_ms;
        return 0;
    }
    int64_t t = floor_div(after_ms, 1000), w = t + sl_tz_offset(c->zone, t);
    /* walls past w whose instant is not past t are the second pass of a
     * repeated hour: at most a few thousand */
    for (int i = 0; i < 200000; i++) {
        if (next_wall(c, w, &w) != 0)
            return -1;
        int64_t u = c->zone[0] ? instant_of(c->zone, w) : w;
        if (u > t) {
            *next_ms = u * 1000;
            return 0;
        }
    }
    return -1;
}
