/* A strict, allocation-free JSON checker (RFC 8259) and the quoting of untrusted
 * bytes for error messages (see check.h). Hand-written: cJSON accepts invalid
 * UTF-8, raw control characters and unpaired surrogates and allocates as it
 * parses; the envelope codec must judge any entry, however hostile, without
 * allocating. */
#include "common/json/check.h"

#include <stddef.h>
#include <string.h>

/* How many bytes of entry data an error message may quote. */
#define QUOTE_MAX 64

/* ---- Quoting ---- */

void sl_json_quote(char *buf, size_t n, const char *value, size_t len)
{
    size_t o = 0;
    size_t take = len < QUOTE_MAX ? len : QUOTE_MAX;

    if (n == 0)
        return;
#define PUT(ch)              \
    do {                     \
        if (o + 1 < n)       \
            buf[o++] = (ch); \
    } while (0)
    PUT('"');
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c >= 0x20 && c < 0x7f) {
            PUT((char)c);
        } else {
            static const char hex[] = "0123456789abcdef";
            PUT('\\');
            PUT('x');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        }
    }
    PUT('"');
    if (take < len) {
        PUT('.');
        PUT('.');
        PUT('.');
    }
#undef PUT
    buf[o] = '\0';
}

/* ---- JSON checking (RFC 8259) ---- */

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at s[*i..]; advances *i. -1 if malformed. */
static long hex4(const unsigned char *s, size_t len, size_t *i)
{
    long v = 0;
    if (len - *i < 4)
        return -1;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[*i + (size_t)k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    *i += 4;
    return v;
}

/* Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0
 * (overlong forms, UTF-16 surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t i)
{
    unsigned char c = s[i];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (len - i - 1 < need)
        return 0;
    if (s[i + 1] < lo || s[i + 1] > hi)
        return 0;
    for (size_t k = 2; k <= need; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xbf)
            return 0;
    return need + 1;
}

/* A string whose opening quote is at s[*i]; on success *i is past the closing quote. */
static int check_string(const unsigned char *s, size_t len, size_t *i, const char **why)
{
    size_t p = *i + 1;

    for (;;) {
        if (p >= len) {
            *i = p;
            *why = "unterminated string";
            return -1;
        }
        unsigned char c = s[p];
        if (c == '"') {
            *i = p + 1;
            return 0;
        }
        if (c == '\\') {
            size_t at = p;
            if (p + 1 >= len) {
                *i = p;
                *why = "unterminated string";
                return -1;
            }
            c = s[p + 1];
            p += 2;
            if (c == 'u') {
                long u = hex4(s, len, &p);
                if (u < 0) {
                    *i = at;
                    *why = "bad \\u escape (expected 4 hex digits)";
                    return -1;
                }
                if (u >= 0xdc00 && u <= 0xdfff) {
                    *i = at;
                    *why = "unpaired UTF-16 surrogate in \\u escape";
                    return -1;
                }
                if (u >= 0xd800 && u <= 0xdbff) {
                    long lo = -1;
                    if (len - p >= 2 && s[p] == '\\' && s[p + 1] == 'u') {
                        p += 2;
                        lo = hex4(s, len, &p);
                    }
                    if (lo < 0xdc00 || lo > 0xdfff) {
                        *i = at;
                        *why = "unpaired UTF-16 surrogate in \\u escape";
                        return -1;
                    }
                }
            } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
                *i = at;
                *why = "bad escape in string";
                return -1;
            }
        } else if (c < 0x20) {
            *i = p;
            *why = "control character in string (must be escaped)";
            return -1;
        } else if (c < 0x80) {
            p++;
        } else {
            size_t n = utf8_seq(s, len, p);
            if (n == 0) {
                *i = p;
                *why = "invalid UTF-8 in string";
                return -1;
            }
            p += n;
        }
    }
}

/* A number starting at s[*i] ('-' or a digit); on success *i is past it. */
static int check_number(const unsigned char *s, size_t len, size_t *i, const char **why)
{
    size_t p = *i;

#define DIGIT(k) ((k) < len && s[k] >= '0' && s[k] <= '9')
    if (s[p] == '-')
        p++;
    if (p < len && s[p] == '0') {
        p++;
    } else if (DIGIT(p)) {
        while (DIGIT(p))
            p++;
    } else {
        *i = p;
        *why = "bad number (expected a digit)";
        return -1;
    }
    if (p < len && s[p] == '.') {
        p++;
        if (!DIGIT(p)) {
            *i = p;
            *why = "bad number (expected a digit after '.')";
            return -1;
        }
        while (DIGIT(p))
            p++;
    }
    if (p < len && (s[p] == 'e' || s[p] == 'E')) {
        p++;
        if (p < len && (s[p] == '+' || s[p] == '-'))
            p++;
        if (!DIGIT(p)) {
            *i = p;
            *why = "bad number (expected a digit in the exponent)";
            return -1;
        }
        while (DIGIT(p))
            p++;
    }
#undef DIGIT
    *i = p;
    return 0;
}

int sl_json_check(const char *text, size_t len, size_t *err_off, const char **why)
{
    const unsigned char *s = (const unsigned char *)text;
    /* bit set: object, clear: array; zeroed so the |= and &= below never read an indeterminate byte */
    unsigned char stack[(SL_JSON_DEPTH_MAX + 7) / 8] = {0};
    size_t depth = 0;
    size_t i = 0;
    int want_key = 0; /* the next thing is an object member's "key": */
    const char *reason = NULL;

#define SKIP_WS()                  \
    while (i < len && is_ws(s[i])) \
    i++
#define IN_OBJECT() (depth > 0 && (stack[(depth - 1) / 8] & (1u << ((depth - 1) % 8))))
    if (text == NULL)
        len = 0;
    SKIP_WS();
    for (;;) {
        if (i >= len) {
            reason = i == 0 ? "empty text (expected a JSON value)" : "unexpected end of text";
            goto fail;
        }
        if (want_key) {
            if (s[i] != '"') {
                reason = "expected a string key";
                goto fail;
            }
            if (check_string(s, len, &i, &reason) < 0)
                goto fail;
            SKIP_WS();
            if (i >= len || s[i] != ':') {
                reason = i >= len ? "unexpected end of text" : "expected ':'";
                goto fail;
            }
            i++;
            SKIP_WS();
            want_key = 0;
            continue;
        }

        /* A value at s[i]. */
        switch (s[i]) {
        case '{':
        case '[':
            if (depth >= SL_JSON_DEPTH_MAX) {
                reason = "nesting deeper than 1000";
                goto fail;
            }
            if (s[i] == '{')
                stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
            else
                stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
            depth++;
            i++;
            SKIP_WS();
            if (i < len && s[i] == (IN_OBJECT() ? '}' : ']')) {
                depth--; /* empty container: a complete value */
                i++;
                break;
            }
            want_key = IN_OBJECT();
            continue;
        case '"':
            if (check_string(s, len, &i, &reason) < 0)
                goto fail;
            break;
        case 't':
        case 'f':
        case 'n': {
            const char *lit = s[i] == 't' ? "true" : s[i] == 'f' ? "false" : "null";
            size_t ll = strlen(lit);
            if (len - i < ll || memcmp(s + i, lit, ll) != 0) {
                reason = "unexpected character (expected a JSON value)";
                goto fail;
            }
            i += ll;
            break;
        }
        default:
            if (s[i] != '-' && (s[i] < '0' || s[i] > '9')) {
                reason = "unexpected character (expected a JSON value)";
                goto fail;
            }
            if (check_number(s, len, &i, &reason) < 0)
                goto fail;
            break;
        }

        /* After a complete value: close containers, or step to the next element. */
        for (;;) {
            SKIP_WS();
            if (depth == 0) {
                if (i < len) {
                    reason = "unexpected text after the JSON value";
                    goto fail;
                }
                return 0;
            }
            if (i >= len) {
                reason = "unexpected end of text";
                goto fail;
            }
            if (s[i] == ',') {
                i++;
                SKIP_WS();
                want_key = IN_OBJECT();
                break;
            }
            if (s[i] != (IN_OBJECT() ? '}' : ']')) {
                reason = IN_OBJECT() ? "expected ',' or '}'" : "expected ',' or ']'";
                goto fail;
            }
            depth--;
            i++;
        }
    }
#undef SKIP_WS
#undef IN_OBJECT

fail:
    if (err_off != NULL)
        *err_off = i;
    if (why != NULL)
        *why = reason;
    return -1;
}
