/* W3C traceparent helpers (see trace.h): fresh traceparents for new requests,
 * child span ids for jobs enqueued by handlers, validation for the decoder and
 * `sluice trace`. */
#include "common/trace.h"

#include <stdint.h>
#include <string.h>

#include "common/util.h"

static const char hex[] = "0123456789abcdef";

/* 1 if s[0..n) is lowercase hex. */
static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* 1 if s[0..n) is all '0'. */
static int is_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return 0;
    return 1;
}

/* n random bytes as 2n hex digits at out, redrawn while all zero. 0 or -1.
 * From the per-process PRNG (sl_rand64), not getrandom(2) per id: trace and
 * span ids must be unique, not secret. */
static int random_hex(char *out, size_t n)
{
    unsigned char b[16];
    if (n > sizeof(b))
        return -1;
    for (int tries = 0; tries < 8; tries++) {
        uint64_t r[2] = {sl_rand64(), sl_rand64()};
        memcpy(b, r, n);
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            out[2 * i] = hex[b[i] >> 4];
            out[2 * i + 1] = hex[b[i] & 0xf];
            any |= b[i];
        }
        if (any)
            return 0;
    }
    return -1; /* 8 all-zero draws: the random source is broken */
}

/* "00-" + trace + "-" + span + "-" + flags, with trace (32) and flags (2)
 * given (trace NULL: random) and a random span. 0 or -1 (out ""). */
static int build(const char *trace, const char *flags, char out[SL_TRACE_SIZE])
{
    char tp[SL_TRACE_SIZE];
    memcpy(tp, "00-", 3);
    if (trace)
        memcpy(tp + 3, trace, 32);
    else if (random_hex(tp + 3, 16) != 0)
        goto fail;
    tp[35] = '-';
    if (random_hex(tp + 36, 8) != 0)
        goto fail;
    tp[52] = '-';
    memcpy(tp + 53, flags, 2);
    tp[55] = '\0';
    memcpy(out, tp, SL_TRACE_SIZE);
    return 0;
fail:
    out[0] = '\0';
    return -1;
}

int sl_trace_new(char out[SL_TRACE_SIZE])
{
    return build(NULL, "01", out);
}

int sl_trace_valid(const char *tp)
{
    if (!tp)
        return 0;
    size_t len = strnlen(tp, 4096);
    if (len < SL_TRACE_LEN)
        return 0;
    if (!is_hex(tp, 2) || memcmp(tp, "ff", 2) == 0)
        return 0;
    if (tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return 0;
    if (!is_hex(tp + 3, 32) || is_zero(tp + 3, 32))
        return 0;
    if (!is_hex(tp + 36, 16) || is_zero(tp + 36, 16))
        return 0;
    if (!is_hex(tp + 53, 2))
        return 0;
    if (len == SL_TRACE_LEN)
        return 1;
    return memcmp(tp, "00", 2) != 0 && tp[55] == '-'; /* only later versions may be longer */
}

int sl_trace_child(const char *parent, char out[SL_TRACE_SIZE])
{
    if (!sl_trace_valid(parent))
        return sl_trace_new(out);
    char trace[32], flags[2];
    memcpy(trace, parent + 3, 32);
    memcpy(flags, parent + 53, 2);
    return build(trace, flags, out);
}

int sl_trace_id(const char *tp, char out[SL_TRACE_ID_SIZE])
{
    if (!sl_trace_valid(tp)) {
        out[0] = '\0';
        return -1;
    }
    memcpy(out, tp + 3, 32);
    out[32] = '\0';
    return 0;
}
