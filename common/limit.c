/* Limit bucket and holder names (see limit.h). */
#include <stdint.h>
#include <string.h>

#include "common/limit.h"
#include "common/partition.h"
#include "common/util.h"

static int plain(const char *s, size_t len)
{
    if (len > 64)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-'))
            return 0;
    }
    return 1;
}

int sl_limit_bucket(char *buf, size_t n, const char *name, const char *value, size_t len)
{
    if (plain(value, len))
        return sl_fmt(buf, n, "sluice:{:limit:%s:%.*s}", name, (int)len, value);
    return sl_fmt(buf, n, "sluice:{:limit:%s:~%08x.%zu}", name, (unsigned)sl_part_hash(value, len), len);
}

int sl_limit_holder(char *buf, size_t n, const char *consumer, int in_retry, const char *stream_id)
{
    return sl_fmt(buf, n, "%s|%c|%s", consumer, in_retry ? 'r' : 'w', stream_id);
}
