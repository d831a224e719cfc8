/* Redis URL parsing and redaction (see url.h). Error messages never echo the
 * part of the input that can hold credentials, so they are always safe to log;
 * only the scheme name is quoted back. */
#include "common/url.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DB_MAX 2147483647L

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    if (err != NULL && errlen > 0) {
        n = snprintf(err, errlen, "invalid Redis URL: ");
        if (n < 0 || (size_t)n >= errlen)
            n = 0;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Percent-decode s[0..n) into out (size outn, NUL-terminated).
 * Returns 0, -1 on a bad %XX escape or a decoded NUL, -2 if it does not fit. */
static int pct_decode(const char *s, size_t n, char *out, size_t outn)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return -1;
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outn)
            return -2;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Parse a decimal number s[0..n) in [lo, hi]. Returns 0 or -1. */
static int parse_num(const char *s, size_t n, long lo, long hi, long *out)
{
    long v = 0;

    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* userinfo "[user][:password]"; a bare "name@" is refused because users often
 * mean a password there and we would neither send nor redact it correctly. */
static int parse_userinfo(const char *s, size_t n, sl_url *u, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    int r;

    if (colon == NULL)
        return fail(err, errlen, "credentials must be written user:password@ or :password@");
    r = pct_decode(s, (size_t)(colon - s), u->user, sizeof u->user);
    if (r == -1)
        return fail(err, errlen, "bad percent-encoding in the user name");
    if (r == -2)
        return fail(err, errlen, "user name too long (max %zu bytes)", sizeof u->user - 1);
    r = pct_decode(colon + 1, n - (size_t)(colon + 1 - s), u->password, sizeof u->password);
    if (r == -1)
        return fail(err, errlen, "bad percent-encoding in the password");
    if (r == -2)
        return fail(err, errlen, "password too long (max %zu bytes)", sizeof u->password - 1);
    return 0;
}

/* Query string "db=N[&db=N]": the only parameter understood. */
static int parse_query(const char *q, sl_url *u, char *err, size_t errlen)
{
    while (*q != '\0') {
        size_t n = strcspn(q, "&");
        long db;
        if (n >= 3 && strncmp(q, "db=", 3) == 0) {
            if (parse_num(q + 3, n - 3, 0, DB_MAX, &db) != 0)
                return fail(err, errlen, "db must be a number in 0..%ld", DB_MAX);
            u->db = (int)db;
        } else if (n > 0) {
            return fail(err, errlen, "unsupported URL parameter (only db=N is understood)");
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* One "host[:port]" at s (up to one of the stop characters or the end) into
 * host/port (port left as is when absent); *end is where it stopped. */
static int parse_hostport(const char *s, const char *stops, char *host, size_t hostn, int *port, const char **end,
                          char *err, size_t errlen)
{
    const char *h = s, *hend, *p;
    size_t hlen;
    long v;

    if (*s == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (hend == NULL)
            return fail(err, errlen, "missing ']' after an IPv6 address");
        p = hend + 1;
        for (const char *c = h; c < hend; c++)
            if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.' && *c != '%')
                return fail(err, errlen, "invalid character in IPv6 address");
    } else {
        char set[16];
        snprintf(set, sizeof set, ":%s", stops);
        hend = h + strcspn(h, set);
        p = hend;
        for (const char *c = h; c < hend; c++)
            if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
                return fail(err, errlen, "invalid character in host name");
    }
    hlen = (size_t)(hend - h);
    if (hlen == 0)
        return fail(err, errlen, "empty host");
    if (hlen >= hostn)
        return fail(err, errlen, "host name too long (max %zu bytes)", hostn - 1);
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    if (*p == ':') {
        size_t n = strcspn(p + 1, stops);
        if (parse_num(p + 1, n, 1, 65535, &v) != 0)
            return fail(err, errlen, "port must be a number in 1..65535");
        *port = (int)v;
        p += 1 + n;
    } else if (*p != '\0' && !strchr(stops, *p)) {
        return fail(err, errlen, "unexpected character after the host");
    }
    *end = p;
    return 0;
}

/* "/db" (optional) and "?query" at p. */
static int parse_db_tail(const char *p, sl_url *u, char *err, size_t errlen)
{
    long v;

    if (*p == '/') {
        size_t n = strcspn(p + 1, "?");
        if (n > 0 && parse_num(p + 1, n, 0, DB_MAX, &v) != 0)
            return fail(err, errlen, "database must be a number in 0..%ld", DB_MAX);
        if (n > 0)
            u->db = (int)v;
        p += 1 + n;
    }
    if (*p == '?')
        return parse_query(p + 1, u, err, errlen);
    if (*p != '\0')
        return fail(err, errlen, "unexpected text after the database number");
    return 0;
}

/* host[:port][/db][?query] after the userinfo of a redis:// URL. */
static int parse_tcp(const char *s, sl_url *u, char *err, size_t errlen)
{
    const char *p = s; /* set by parse_hostport */

    if (parse_hostport(s, "/?", u->host, sizeof u->host, &u->port, &p, err, errlen) != 0)
        return -1;
    return parse_db_tail(p, u, err, errlen);
}

/* "h1[:p1],h2[:p2],..." into u->hosts (default port dflt); *end after the list.
 * The first one is also u->host/u->port. */
static int parse_hosts(const char *s, int dflt, sl_url *u, const char **end, char *err, size_t errlen)
{
    const char *p = s;

    for (;;) {
        if (u->nhosts == SL_URL_MAX_HOSTS)
            return fail(err, errlen, "too many hosts (max %d)", SL_URL_MAX_HOSTS);
        sl_url_host *h = &u->hosts[u->nhosts];
        h->port = dflt;
        if (parse_hostport(p, ",/?", h->host, sizeof h->host, &h->port, &p, err, errlen) != 0)
            return -1;
        u->nhosts++;
        if (*p != ',')
            break;
        p++;
    }
    snprintf(u->host, sizeof u->host, "%s", u->hosts[0].host);
    u->port = u->hosts[0].port;
    *end = p;
    return 0;
}

/* redis+cluster://seeds[/0]: the slot map is asked of the seeds, and a cluster
 * has only database 0 (SELECT is refused on a cluster node). */
static int parse_cluster(const char *s, sl_url *u, char *err, size_t errlen)
{
    const char *p = s; /* set by parse_hosts */

    if (parse_hosts(s, 6379, u, &p, err, errlen) != 0 || parse_db_tail(p, u, err, errlen) != 0)
        return -1;
    if (u->db != 0)
        return fail(err, errlen, "a Redis Cluster has only database 0, so a redis+cluster:// URL cannot name db %d",
                    u->db);
    return 0;
}

/* redis+sentinel://sentinels/MASTER_NAME[/db][?query]. */
static int parse_sentinel(const char *s, sl_url *u, char *err, size_t errlen)
{
    const char *p = s; /* set by parse_hosts */

    if (parse_hosts(s, 26379, u, &p, err, errlen) != 0)
        return -1;
    if (*p != '/' || p[1] == '\0' || p[1] == '/' || p[1] == '?')
        return fail(err, errlen,
                    "a redis+sentinel:// URL names the master after the sentinels: "
                    "redis+sentinel://host:26379[,host:26379...]/MASTER_NAME[/db]");
    p++;
    size_t n = strcspn(p, "/?");
    if (pct_decode(p, n, u->master, sizeof u->master) != 0)
        return fail(err, errlen, "bad master name (percent-encoding, or longer than %zu bytes)", sizeof u->master - 1);
    for (const char *c = u->master; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c == 0x7f)
            return fail(err, errlen, "the master name holds a space or a control character");
    return parse_db_tail(p + n, u, err, errlen);
}

/* /abs/path[?db=N] after the (empty) authority of a unix:// URL. */
static int parse_unix(const char *s, sl_url *u, char *err, size_t errlen)
{
    size_t n = strcspn(s, "?");

    if (*s != '/')
        return fail(err, errlen, "unix socket path must be absolute (unix:///path/to/redis.sock)");
    if (n >= sizeof u->path)
        return fail(err, errlen, "unix socket path too long (max %zu bytes)", sizeof u->path - 1);
    memcpy(u->path, s, n);
    u->path[n] = '\0';
    if (s[n] == '?')
        return parse_query(s + n + 1, u, err, errlen);
    return 0;
}

/* Is s[0..n) a plausible scheme name, safe to quote back? */
static int scheme_printable(const char *s, size_t n)
{
    if (n == 0 || n > 16)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

int sl_url_parse(const char *s, sl_url *out, char *err, size_t errlen)
{
    const char *sep, *rest, *at;
    size_t slen;
    int rc;

    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (s == NULL || *s == '\0')
        return fail(err, errlen, "empty URL");
    sep = strstr(s, "://");
    if (sep == NULL)
        return fail(err, errlen,
                    "expected redis://host[:port][/db], unix:///path, "
                    "redis+cluster://host:port[,host:port...] or "
                    "redis+sentinel://host:port[,host:port...]/MASTER_NAME[/db]");
    slen = (size_t)(sep - s);
    if (slen == 6 && strncasecmp(s, "rediss", 6) == 0)
        return fail(err, errlen, "TLS (rediss://) is not supported");
    if (slen == 5 && strncasecmp(s, "redis", 5) == 0)
        out->kind = SL_URL_SINGLE;
    else if (slen == 4 && strncasecmp(s, "unix", 4) == 0)
        out->kind = SL_URL_SINGLE, out->is_unix = 1;
    else if (slen == 13 && strncasecmp(s, "redis+cluster", 13) == 0)
        out->kind = SL_URL_CLUSTER;
    else if (slen == 14 && strncasecmp(s, "redis+sentinel", 14) == 0)
        out->kind = SL_URL_SENTINEL;
    else if (scheme_printable(s, slen))
        return fail(err, errlen, "unsupported scheme \"%.*s\" (expected " SL_URL_SCHEMES ")", (int)slen, s);
    else
        return fail(err, errlen, "unsupported scheme (expected " SL_URL_SCHEMES ")");
    rest = sep + 3;
    if (strlen(rest) > 2048)
        return fail(err, errlen, "URL too long");

    /* The last '@' ends the userinfo, so a password with an unescaped '/', '?',
     * '#' or '@' still parses (db numbers and socket paths never hold '@'). */
    at = strrchr(rest, '@');
    if (at != NULL) {
        if (parse_userinfo(rest, (size_t)(at - rest), out, err, errlen) != 0) {
            sl_url_wipe(out);
            return -1;
        }
        rest = at + 1;
    }
    if (out->kind == SL_URL_CLUSTER)
        rc = parse_cluster(rest, out, err, errlen);
    else if (out->kind == SL_URL_SENTINEL)
        rc = parse_sentinel(rest, out, err, errlen);
    else
        rc = out->is_unix ? parse_unix(rest, out, err, errlen) : parse_tcp(rest, out, err, errlen);
    if (rc != 0)
        sl_url_wipe(out);
    return rc;
}

/* Copy with the userinfo's secret part replaced. Works on anything: the last
 * '@' after the scheme (or anywhere, if there is no scheme) ends the userinfo;
 * with a ':' only what follows it is hidden, without one the whole userinfo is
 * hidden (it may well be a password written without the leading ':'). */
void sl_url_redact(const char *s, char *buf, size_t n)
{
    const char *start, *sep, *at, *colon;
    size_t keep;

    if (buf == NULL || n == 0)
        return;
    if (s == NULL) {
        buf[0] = '\0';
        return;
    }
    sep = strstr(s, "://");
    start = sep ? sep + 3 : s;
    at = strrchr(start, '@');
    if (at == NULL) {
        snprintf(buf, n, "%s", s);
        return;
    }
    colon = memchr(start, ':', (size_t)(at - start));
    keep = colon ? (size_t)(colon + 1 - s) : (size_t)(start - s);
    if (keep > (size_t)INT_MAX)
        keep = INT_MAX;
    snprintf(buf, n, "%.*s***%s", (int)keep, s, at);
}

void sl_url_wipe(sl_url *u)
{
    if (u != NULL)
        explicit_bzero(u->password, sizeof u->password);
}
