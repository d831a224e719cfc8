/* The "format" values the validator asserts: date-time (RFC 3339, leap second
 * only at 23:59:60 UTC), email (RFC 5322 addr-spec, ASCII), uuid (RFC 4122
 * text form, any version) and ipv4 (dotted quad, no leading zeros). Every
 * other format is an annotation. */
#include <arpa/inet.h>
#include <string.h>

#include "common/json/internal.h"

sl_schema_format sl_schema_format_lookup(const char *name)
{
    if (!strcmp(name, "date-time"))
        return SL_FMT_DATE_TIME;
    if (!strcmp(name, "email"))
        return SL_FMT_EMAIL;
    if (!strcmp(name, "uuid"))
        return SL_FMT_UUID;
    if (!strcmp(name, "ipv4"))
        return SL_FMT_IPV4;
    return SL_FMT_NONE;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(char c)
{
    return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f');
}

static int is_alpha(char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}

/* n ASCII digits at *s as a number (advancing *s), or -1. */
static int digits(const char **s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (!is_digit(**s))
            return -1;
        v = v * 10 + (**s - '0');
    }
    return v;
}

static int date_time(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = digits(&s, 4), m, d, hh, mm, ss, oh = 0, om = 0, sign = 0;
    if (y < 0 || *s++ != '-' || (m = digits(&s, 2)) < 1 || m > 12 || *s++ != '-' || (d = digits(&s, 2)) < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return 0;
    if ((*s != 'T' && *s != 't') || (s++, (hh = digits(&s, 2)) < 0) || hh > 23 || *s++ != ':' ||
        (mm = digits(&s, 2)) < 0 || mm > 59 || *s++ != ':' || (ss = digits(&s, 2)) < 0 || ss > 60)
        return 0;
    if (*s == '.') {
        if (!is_digit(*++s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '+' ? 1 : -1;
        if ((oh = digits(&s, 2)) < 0 || oh > 23 || *s++ != ':' || (om = digits(&s, 2)) < 0 || om > 59)
            return 0;
    } else {
        return 0;
    }
    if (*s)
        return 0;
    if (ss == 60) { /* a leap second is inserted at 23:59:60 UTC only */
        int utc = ((hh * 60 + mm - sign * (oh * 60 + om)) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return 0;
    }
    return 1;
}

static int ipv4(const char *s, size_t len)
{
    int parts = 0;
    const char *end = s + len;
    while (s < end) {
        int n = 0, v = 0;
        while (s < end && is_digit(*s) && n < 4)
            v = v * 10 + (*s++ - '0'), n++;
        if (n == 0 || n > 3 || v > 255 || (n > 1 && s[-n] == '0'))
            return 0;
        parts++;
        if (s == end)
            break;
        if (*s++ != '.' || s == end)
            return 0;
    }
    return parts == 4;
}

static int uuid(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return 0;
    }
    return 1;
}

/* An RFC 1123 host name: dot-separated labels of 1-63 [A-Za-z0-9-], no label
 * starting or ending with '-', 253 characters at most. */
static int hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && s[len - 1] != '-';
}

static int email(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || !at[1])
        return 0;
    size_t local = (size_t)(at - s);
    if (local > 64)
        return 0;
    if (s[0] == '"') { /* quoted-string: qtext or quoted-pair, printable ASCII */
        if (local < 2 || s[local - 1] != '"')
            return 0;
        for (size_t i = 1; i + 1 < local; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (++i + 1 >= local || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                    return 0;
            } else if (c == '"' || c < 0x20 || c > 0x7e) {
                return 0;
            }
        }
    } else { /* dot-atom: atext runs separated by single dots */
        for (size_t i = 0; i < local; i++) {
            char c = s[i];
            if (c == '.') {
                if (i == 0 || i + 1 == local || s[i + 1] == '.')
                    return 0;
            } else if (!is_alpha(c) && !is_digit(c) && !strchr("!#$%&'*+-/=?^_`{|}~", c)) {
                return 0;
            }
        }
    }
    const char *dom = at + 1;
    size_t dlen = strlen(dom);
    if (dom[0] != '[')
        return hostname(dom, dlen);
    if (dom[dlen - 1] != ']' || dlen < 3)
        return 0;
    char lit[64];
    if (dlen - 2 >= sizeof lit)
        return 0;
    memcpy(lit, dom + 1, dlen - 2);
    lit[dlen - 2] = '\0';
    if (!strncmp(lit, "IPv6:", 5)) {
        unsigned char buf[16];
        return inet_pton(AF_INET6, lit + 5, buf) == 1;
    }
    return ipv4(lit, strlen(lit));
}

int sl_schema_format_check(sl_schema_format f, const char *s)
{
    switch (f) {
    case SL_FMT_DATE_TIME:
        return date_time(s);
    case SL_FMT_EMAIL:
        return email(s);
    case SL_FMT_UUID:
        return uuid(s);
    case SL_FMT_IPV4:
        return ipv4(s, strlen(s));
    case SL_FMT_NONE:
        break;
    }
    return 1;
}
