/* Redis stream ids: parse, format, compare (see streamid.h for the syntax). */
#include "common/streamid.h"

#include <errno.h>
#include <stdlib.h>

#include "common/util.h"

/* One decimal part at s: digits only, no overflow. 0 with *v and *end past
 * it, or -1. strtoull alone would take a sign and leading space. */
static int parse_part(const char *s, uint64_t *v, const char **end)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *e;
    errno = 0;
    unsigned long long x = strtoull(s, &e, 10);
    if (errno != 0)
        return -1;
    *v = x;
    *end = e;
    return 0;
}

/* "ms-seq", or "ms" alone when incomplete_ok. 0, or -1. */
static int parse(const char *s, int incomplete_ok, sl_streamid *out)
{
    sl_streamid id = {0, 0};
    const char *p;
    if (s == NULL || parse_part(s, &id.ms, &p) != 0)
        return -1;
    if (*p == '-') {
        if (parse_part(p + 1, &id.seq, &p) != 0)
            return -1;
    } else if (!incomplete_ok) {
        return -1;
    }
    if (*p != '\0')
        return -1;
    *out = id;
    return 0;
}

int sl_streamid_parse(const char *s, sl_streamid *out)
{
    return parse(s, 0, out);
}

int sl_streamid_parse_incomplete(const char *s, sl_streamid *out)
{
    return parse(s, 1, out);
}

int sl_streamid_fmt(char *buf, size_t n, sl_streamid id)
{
    return sl_fmt(buf, n, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

int sl_streamid_cmp(sl_streamid a, sl_streamid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

int sl_streamid_cmp_text(const char *a, const char *b)
{
    sl_streamid x = {0, 0}, y = {0, 0};
    (void)sl_streamid_parse_incomplete(a, &x);
    (void)sl_streamid_parse_incomplete(b, &y);
    return sl_streamid_cmp(x, y);
}

int64_t sl_streamid_ms(const char *s)
{
    sl_streamid id;
    return sl_streamid_parse_incomplete(s, &id) == 0 && id.ms <= INT64_MAX ? (int64_t)id.ms : -1;
}

int sl_streamid_prev(sl_streamid *id)
{
    if (id->seq > 0) {
        id->seq--;
        return 0;
    }
    if (id->ms == 0)
        return -1;
    id->ms--;
    id->seq = UINT64_MAX;
    return 0;
}
