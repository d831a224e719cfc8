/* The envelope codec: stream entry fields <-> sl_job, plus the rules both sides
 * share (field formats, a strict allocation-free JSON checker). Decoding borrows
 * from the caller's fields and never allocates, so a worker can decode any entry,
 * however malformed, without failing for lack of memory. */
#include "common/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

/* How many bytes of entry data an error message may quote. */
#define QUOTE_MAX 64

static const char empty[] = "";
static const char default_payload[] = "{}";

/* ---- Error messages ---- */

void sl_codec_quote(char *buf, size_t n, const char *value, size_t len)
{
    size_t o = 0;
    size_t take = len < QUOTE_MAX ? len : QUOTE_MAX;

    if (n == 0)
        return;
#define PUT(ch) do { if (o + 1 < n) buf[o++] = (ch); } while (0)
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

/* Write a message to err (which may be NULL) and return st. */
static sl_codec_status fail(sl_codec_status st, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static sl_codec_status fail(sl_codec_status st, char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *sl_codec_reason(sl_codec_status st)
{
    switch (st) {
    case SL_CODEC_OK:
        return "ok";
    case SL_CODEC_NIL:
        return "trimmed";
    case SL_CODEC_MISSING_TYPE:
    case SL_CODEC_BAD_TYPE:
    case SL_CODEC_BAD_FIELD:
        return "bad_envelope";
    case SL_CODEC_OVERSIZE:
        return "oversize";
    case SL_CODEC_BAD_JSON:
        return "bad_payload";
    }
    return "bad_envelope";
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

int sl_codec_json_check(const char *text, size_t len, size_t *err_off, const char **why)
{
    const unsigned char *s = (const unsigned char *)text;
    unsigned char stack[(SL_CODEC_JSON_DEPTH_MAX + 7) / 8]; /* bit set: object, clear: array */
    size_t depth = 0;
    size_t i = 0;
    int want_key = 0; /* the next thing is an object member's "key": */
    const char *reason = NULL;

#define SKIP_WS() while (i < len && is_ws(s[i])) i++
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
            if (depth >= SL_CODEC_JSON_DEPTH_MAX) {
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

/* ---- Field rules ---- */

/* Which printable range a text field allows. */
enum text_rule {
    TEXT_ID,   /* 1..128 bytes of 0x21..0x7e */
    TEXT_TRACE /* 0..128 bytes of 0x20..0x7e */
};

/* Check a text field value; on failure write the message and return BAD_FIELD. */
static sl_codec_status check_text(const char *name, const char *v, size_t len, enum text_rule rule,
                                  char *err, size_t errlen)
{
    char q[SL_CODEC_QUOTE_SIZE];
    const char *nul = memchr(v, '\0', len);

    if (nul != NULL) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen,
                    "field '%s' contains a NUL byte at offset %zu (binary garbage): %s", name,
                    (size_t)(nul - v), q);
    }
    if (len > SL_CODEC_TEXT_MAX || (rule == TEXT_ID && len == 0)) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' must be %s..%d bytes, got %zu: %s",
                    name, rule == TEXT_ID ? "1" : "0", SL_CODEC_TEXT_MAX, len, q);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c > 0x7e || c < 0x20 || (c == ' ' && rule == TEXT_ID)) {
            sl_codec_quote(q, sizeof q, v, len);
            return fail(SL_CODEC_BAD_FIELD, err, errlen,
                        "field '%s' has a byte 0x%02x at offset %zu (allowed: printable ASCII%s): %s",
                        name, c, i, rule == TEXT_ID ? " without spaces" : "", q);
        }
    }
    return SL_CODEC_OK;
}

/* Parse a decimal field in [lo, hi] (digits only, no sign or spaces). */
static sl_codec_status check_decimal(const char *name, const char *v, size_t len, uint64_t lo,
                                     uint64_t hi, uint64_t *out, char *err, size_t errlen)
{
    char q[SL_CODEC_QUOTE_SIZE];
    uint64_t x = 0;
    size_t i;

    if (memchr(v, '\0', len) != NULL) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen,
                    "field '%s' contains a NUL byte (binary garbage): %s", name, q);
    }
    for (i = 0; i < len && i < 20; i++) {
        if (v[i] < '0' || v[i] > '9' || x > hi)
            break;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (len == 0 || i != len || x < lo || x > hi) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen,
                    "field '%s' is not a decimal integer %llu..%llu: %s", name,
                    (unsigned long long)lo, (unsigned long long)hi, q);
    }
    *out = x;
    return SL_CODEC_OK;
}

static sl_codec_status check_type(const char *v, size_t len, char *err, size_t errlen)
{
    char q[SL_CODEC_QUOTE_SIZE];

    if (memchr(v, '\0', len) != NULL) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen,
                    "field 'type' contains a NUL byte (binary garbage): %s", q);
    }
    if (!sl_valid_type(v, len)) {
        sl_codec_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_TYPE, err, errlen,
                    "field 'type' is not [a-z0-9_.-]{1,128}: %s", q);
    }
    return SL_CODEC_OK;
}

static sl_codec_status check_payload(const char *v, size_t len, size_t max_payload, char *err,
                                     size_t errlen)
{
    size_t off = 0;
    const char *why = NULL;
    char q[SL_CODEC_QUOTE_SIZE];

    if (len > max_payload)
        return fail(SL_CODEC_OVERSIZE, err, errlen,
                    "payload is %zu bytes, more than the limit of %zu", len, max_payload);
    if (sl_codec_json_check(v, len, &off, &why) < 0) {
        /* Quote a little of the text from the error on, for context. */
        size_t ctx = len - off < 24 ? len - off : 24;
        if (ctx == 0)
            return fail(SL_CODEC_BAD_JSON, err, errlen,
                        "payload is not valid JSON: %s at offset %zu (the end)", why, off);
        sl_codec_quote(q, sizeof q, v + off, ctx);
        return fail(SL_CODEC_BAD_JSON, err, errlen,
                    "payload is not valid JSON: %s at offset %zu (near %s%s)", why, off, q,
                    off + ctx < len ? "..." : "");
    }
    return SL_CODEC_OK;
}

/* ---- Decode ---- */

/* The known fields, in the order they are checked. */
enum known {
    F_ID,
    F_TYPE,
    F_ATTEMPT,
    F_ENQUEUED_AT,
    F_CORRELATION_ID,
    F_CAUSATION_ID,
    F_TRACEPARENT,
    F_PAYLOAD,
    F_COUNT
};

static const struct {
    const char *name;
    size_t len;
} known_fields[F_COUNT] = {
    [F_ID] = {"id", 2},
    [F_TYPE] = {"type", 4},
    [F_ATTEMPT] = {"attempt", 7},
    [F_ENQUEUED_AT] = {"enqueued_at", 11},
    [F_CORRELATION_ID] = {"correlation_id", 14},
    [F_CAUSATION_ID] = {"causation_id", 12},
    [F_TRACEPARENT] = {"traceparent", 11},
    [F_PAYLOAD] = {"payload", 7},
};

static int lookup(const sl_field *f)
{
    if (f->name == NULL)
        return -1;
    for (int k = 0; k < F_COUNT; k++)
        if (f->name_len == known_fields[k].len && memcmp(f->name, known_fields[k].name, f->name_len) == 0)
            return k;
    return -1;
}

sl_codec_status sl_codec_decode(const char *stream_id, const sl_field *fields, size_t n,
                                size_t max_payload, sl_job *out, char *err, size_t errlen)
{
    const sl_field *at[F_COUNT] = {0};
    sl_codec_status st;
    uint64_t num = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    out->stream_id = stream_id != NULL ? stream_id : empty;
    out->id = out->stream_id;
    out->type = empty;
    out->type_len = 0;
    out->payload = default_payload;
    out->payload_len = sizeof default_payload - 1;
    out->attempt = 1;
    out->enqueued_at_ms = 0;
    out->correlation_id = empty;
    out->causation_id = empty;
    out->traceparent = empty;

    if (fields == NULL)
        return fail(SL_CODEC_NIL, err, errlen,
                    "entry %s has no fields (deleted or trimmed while pending)", out->stream_id);

    for (size_t i = 0; i < n; i++) {
        int k = lookup(&fields[i]);
        if (k < 0)
            continue; /* unknown: written by a newer producer, ignored */
        if (fields[i].value == NULL)
            return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' has no value",
                        known_fields[k].name);
        if (at[k] != NULL)
            return fail(SL_CODEC_BAD_FIELD, err, errlen, "duplicate field '%s'",
                        known_fields[k].name);
        at[k] = &fields[i];
    }

    if (at[F_ID] != NULL) {
        st = check_text("id", at[F_ID]->value, at[F_ID]->value_len, TEXT_ID, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
        out->id = at[F_ID]->value;
    }
    if (at[F_TYPE] == NULL)
        return fail(SL_CODEC_MISSING_TYPE, err, errlen, "missing field 'type'");
    out->type = at[F_TYPE]->value;
    out->type_len = at[F_TYPE]->value_len;
    st = check_type(out->type, out->type_len, err, errlen);
    if (st != SL_CODEC_OK)
        return st;
    if (at[F_ATTEMPT] != NULL) {
        st = check_decimal("attempt", at[F_ATTEMPT]->value, at[F_ATTEMPT]->value_len, 1,
                           SL_CODEC_ATTEMPT_MAX, &num, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
        out->attempt = (uint32_t)num;
    }
    if (at[F_ENQUEUED_AT] != NULL) {
        st = check_decimal("enqueued_at", at[F_ENQUEUED_AT]->value, at[F_ENQUEUED_AT]->value_len, 0,
                           SL_CODEC_ENQUEUED_AT_MAX, &num, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
        out->enqueued_at_ms = (int64_t)num;
    }
    for (int k = F_CORRELATION_ID; k <= F_TRACEPARENT; k++) {
        if (at[k] == NULL)
            continue;
        st = check_text(known_fields[k].name, at[k]->value, at[k]->value_len, TEXT_TRACE, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
    }
    if (at[F_CORRELATION_ID] != NULL)
        out->correlation_id = at[F_CORRELATION_ID]->value;
    if (at[F_CAUSATION_ID] != NULL)
        out->causation_id = at[F_CAUSATION_ID]->value;
    if (at[F_TRACEPARENT] != NULL)
        out->traceparent = at[F_TRACEPARENT]->value;
    if (at[F_PAYLOAD] != NULL) {
        st = check_payload(at[F_PAYLOAD]->value, at[F_PAYLOAD]->value_len, max_payload, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
        out->payload = at[F_PAYLOAD]->value;
        out->payload_len = at[F_PAYLOAD]->value_len;
    }
    return SL_CODEC_OK;
}

/* ---- Encode and producer-side checks ---- */

static size_t type_len_of(const sl_job *job)
{
    return job->type_len != 0 ? job->type_len : strlen(job->type);
}

static void payload_of(const sl_job *job, const char **p, size_t *len)
{
    if (job->payload == NULL) {
        *p = default_payload;
        *len = sizeof default_payload - 1;
    } else {
        *p = job->payload;
        *len = job->payload_len != 0 ? job->payload_len : strlen(job->payload);
    }
}

sl_codec_status sl_codec_check_job(const sl_job *job, size_t max_payload, char *err, size_t errlen)
{
    static const char *const trace_names[3] = {"correlation_id", "causation_id", "traceparent"};
    const char *trace[3] = {job->correlation_id, job->causation_id, job->traceparent};
    const char *payload;
    size_t payload_len;
    sl_codec_status st;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (job->type == NULL)
        return fail(SL_CODEC_MISSING_TYPE, err, errlen, "missing field 'type'");
    st = check_type(job->type, type_len_of(job), err, errlen);
    if (st != SL_CODEC_OK)
        return st;
    if (job->id != NULL && job->id[0] != '\0') {
        st = check_text("id", job->id, strlen(job->id), TEXT_ID, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
    }
    if (job->attempt > SL_CODEC_ATTEMPT_MAX)
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field 'attempt' is not 1..%u: %u",
                    SL_CODEC_ATTEMPT_MAX, job->attempt);
    if (job->enqueued_at_ms < 0 || job->enqueued_at_ms > (int64_t)SL_CODEC_ENQUEUED_AT_MAX)
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field 'enqueued_at' is not 0..%lld: %lld",
                    (long long)SL_CODEC_ENQUEUED_AT_MAX, (long long)job->enqueued_at_ms);
    for (int k = 0; k < 3; k++) {
        if (trace[k] == NULL)
            continue;
        st = check_text(trace_names[k], trace[k], strlen(trace[k]), TEXT_TRACE, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
    }
    payload_of(job, &payload, &payload_len);
    return check_payload(payload, payload_len, max_payload, err, errlen);
}

int sl_codec_encode_xadd(const char *stream_key, const sl_job *job, sl_xadd_args *out)
{
    const char *payload;
    size_t payload_len;
    size_t tlen;
    int n = 0;

    if (job->type == NULL)
        return -1;
    tlen = type_len_of(job);
    if (!sl_valid_type(job->type, tlen))
        return -1;
    payload_of(job, &payload, &payload_len);

#define ARG(s, l) do { out->argv[n] = (s); out->lens[n] = (l); n++; } while (0)
#define STR(s) ARG((s), strlen(s))
    STR("XADD");
    STR(stream_key);
    STR("*");
    STR("type");
    ARG(job->type, tlen);
    STR("payload");
    ARG(payload, payload_len);
    if (job->id != NULL && job->id[0] != '\0') {
        STR("id");
        STR(job->id);
    }
    if (job->attempt > 1) {
        sl_fmt_ll(out->numbuf[0], job->attempt);
        STR("attempt");
        STR(out->numbuf[0]);
    }
    if (job->enqueued_at_ms > 0) {
        sl_fmt_ll(out->numbuf[1], (long long)job->enqueued_at_ms);
        STR("enqueued_at");
        STR(out->numbuf[1]);
    }
    if (job->correlation_id != NULL && job->correlation_id[0] != '\0') {
        STR("correlation_id");
        STR(job->correlation_id);
    }
    if (job->causation_id != NULL && job->causation_id[0] != '\0') {
        STR("causation_id");
        STR(job->causation_id);
    }
    if (job->traceparent != NULL && job->traceparent[0] != '\0') {
        STR("traceparent");
        STR(job->traceparent);
    }
#undef STR
#undef ARG
    out->argc = n;
    return 0;
}
