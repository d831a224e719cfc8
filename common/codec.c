/* The envelope codec: stream entry fields <-> sl_job, plus the rules both sides
 * share (field formats; payloads through common/json/check.c). Decoding borrows
 * from the caller's fields and never allocates, so a worker can decode any entry,
 * however malformed, without failing for lack of memory. */
#include "common/codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static const char empty[] = "";
static const char default_payload[] = "{}";

/* ---- Error messages ---- */

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

/* ---- Field rules ---- */

/* Which printable range a text field allows. */
enum text_rule {
    TEXT_ID, /* 1..128 bytes of 0x21..0x7e */
    TEXT_TRACE /* 0..128 bytes of 0x20..0x7e */
};

/* Check a text field value; on failure write the message and return BAD_FIELD. */
static sl_codec_status check_text(const char *name, const char *v, size_t len, enum text_rule rule, char *err,
                                  size_t errlen)
{
    char q[SL_JSON_QUOTE_SIZE];
    const char *nul = memchr(v, '\0', len);

    if (nul != NULL) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen,
                    "field '%s' contains a NUL byte at offset %zu (binary garbage): %s", name, (size_t)(nul - v), q);
    }
    if (len > SL_CODEC_TEXT_MAX || (rule == TEXT_ID && len == 0)) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' must be %s..%d bytes, got %zu: %s", name,
                    rule == TEXT_ID ? "1" : "0", SL_CODEC_TEXT_MAX, len, q);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c > 0x7e || c < 0x20 || (c == ' ' && rule == TEXT_ID)) {
            sl_json_quote(q, sizeof q, v, len);
            return fail(SL_CODEC_BAD_FIELD, err, errlen,
                        "field '%s' has a byte 0x%02x at offset %zu (allowed: printable ASCII%s): %s", name, c, i,
                        rule == TEXT_ID ? " without spaces" : "", q);
        }
    }
    return SL_CODEC_OK;
}

/* Parse a decimal field in [lo, hi] (digits only, no sign or spaces). */
static sl_codec_status check_decimal(const char *name, const char *v, size_t len, uint64_t lo, uint64_t hi,
                                     uint64_t *out, char *err, size_t errlen)
{
    char q[SL_JSON_QUOTE_SIZE];
    uint64_t x = 0;
    size_t i;

    if (memchr(v, '\0', len) != NULL) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' contains a NUL byte (binary garbage): %s", name, q);
    }
    for (i = 0; i < len && i < 20; i++) {
        if (v[i] < '0' || v[i] > '9' || x > hi)
            break;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (len == 0 || i != len || x < lo || x > hi) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' is not a decimal integer %llu..%llu: %s", name,
                    (unsigned long long)lo, (unsigned long long)hi, q);
    }
    *out = x;
    return SL_CODEC_OK;
}

static sl_codec_status check_type(const char *v, size_t len, char *err, size_t errlen)
{
    char q[SL_JSON_QUOTE_SIZE];

    if (memchr(v, '\0', len) != NULL) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field 'type' contains a NUL byte (binary garbage): %s", q);
    }
    if (!sl_valid_type(v, len)) {
        sl_json_quote(q, sizeof q, v, len);
        return fail(SL_CODEC_BAD_TYPE, err, errlen, "field 'type' is not [a-z0-9_.-]{1,128}: %s", q);
    }
    return SL_CODEC_OK;
}

static sl_codec_status check_payload(const char *v, size_t len, size_t max_payload, char *err, size_t errlen)
{
    size_t off = 0;
    const char *why = NULL;
    char q[SL_JSON_QUOTE_SIZE];

    if (len > max_payload)
        return fail(SL_CODEC_OVERSIZE, err, errlen, "payload is %zu bytes, more than the limit of %zu", len,
                    max_payload);
    if (sl_json_check(v, len, &off, &why) < 0) {
        /* Quote a little of the text from the error on, for context. */
        size_t ctx = len - off < 24 ? len - off : 24;
        if (ctx == 0)
            return fail(SL_CODEC_BAD_JSON, err, errlen, "payload is not valid JSON: %s at offset %zu (the end)", why,
                        off);
        sl_json_quote(q, sizeof q, v + off, ctx);
        return fail(SL_CODEC_BAD_JSON, err, errlen, "payload is not valid JSON: %s at offset %zu (near %s%s)", why, off,
                    q, off + ctx < len ? "..." : "");
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
    F_UNIQUE_KEY,
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
    [F_UNIQUE_KEY] = {"unique_key", 10},
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

sl_codec_status sl_codec_decode(const char *stream_id, const sl_field *fields, size_t n, size_t max_payload,
                                sl_job *out, char *err, size_t errlen)
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
    out->unique_key = empty;

    if (fields == NULL)
        return fail(SL_CODEC_NIL, err, errlen, "entry %s has no fields (deleted or trimmed while pending)",
                    out->stream_id);

    for (size_t i = 0; i < n; i++) {
        int k = lookup(&fields[i]);
        if (k < 0)
            continue; /* unknown: written by a newer producer, ignored */
        if (fields[i].value == NULL)
            return fail(SL_CODEC_BAD_FIELD, err, errlen, "field '%s' has no value", known_fields[k].name);
        if (at[k] != NULL)
            return fail(SL_CODEC_BAD_FIELD, err, errlen, "duplicate field '%s'", known_fields[k].name);
        at[k] = &fields[i];
    }

    if (at[F_ID] != NULL) {
        st = check_text("id", at[F_ID]->value, at[F_ID]->value_len, TEXT_ID, err, errlen);
        if (st != SL_CODEC_OK)
            return st;
        out->id = at[F_ID]->value;
    }
    if (at[F_UNIQUE_KEY] != NULL)
        out->unique_key = at[F_UNIQUE_KEY]->value; /* any text: only the server-side functions use it */
    if (at[F_TYPE] == NULL)
        return fail(SL_CODEC_MISSING_TYPE, err, errlen, "missing field 'type'");
    out->type = at[F_TYPE]->value;
    out->type_len = at[F_TYPE]->value_len;
    st = check_type(out->type, out->type_len, err, errlen);
    if (st != SL_CODEC_OK)
        return st;
    if (at[F_ATTEMPT] != NULL) {
        st = check_decimal("attempt", at[F_ATTEMPT]->value, at[F_ATTEMPT]->value_len, 1, SL_CODEC_ATTEMPT_MAX, &num,
                           err, errlen);
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
        return fail(SL_CODEC_BAD_FIELD, err, errlen, "field 'attempt' is not 1..%u: %u", SL_CODEC_ATTEMPT_MAX,
                    job->attempt);
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

#define ARG(s, l)           \
    do {                    \
        out->argv[n] = (s); \
        out->lens[n] = (l); \
        n++;                \
    } while (0)
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
