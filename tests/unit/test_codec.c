/* The envelope codec (common/codec.c): encode -> fields -> decode round trips,
 * defaults, every rejection with its status, dead-letter reason and message,
 * and the strict JSON checker. Pure functions: no Redis needed. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"

#define MAXP 1048576

/* Entry fields built from NUL-terminated name/value pairs. */
typedef struct entry {
    sl_field f[16];
    size_t n;
} entry;

static void add(entry *e, const char *name, const char *value)
{
    e->f[e->n++] = (sl_field){name, strlen(name), value, strlen(value)};
}

static void add_len(entry *e, const char *name, const char *value, size_t len)
{
    e->f[e->n++] = (sl_field){name, strlen(name), value, len};
}

/* Decode and check status, dead-letter reason and a substring of the message. */
static void expect_reject(const entry *e, size_t maxp, sl_codec_status st, const char *reason, const char *msg_part)
{
    sl_job job;
    char err[512];
    sl_codec_status got = sl_codec_decode("1-1", e->f, e->n, maxp, &job, err, sizeof err);
    cr_assert_eq(got, st, "status %d, want %d (%s)", got, st, err);
    cr_assert_str_eq(sl_codec_reason(got), reason);
    cr_assert(strstr(err, msg_part) != NULL, "message \"%s\" lacks \"%s\"", err, msg_part);
    cr_assert(strchr(err, '\n') == NULL, "message is not one line: %s", err);
}

/* Turn encoded XADD args (after "XADD key *") back into fields. */
static size_t args_to_fields(const sl_xadd_args *a, sl_field *f)
{
    size_t n = 0;
    for (int i = 3; i + 1 < a->argc; i += 2) {
        f[n++] = (sl_field){a->argv[i], a->lens[i], a->argv[i + 1], a->lens[i + 1]};
    }
    return n;
}

Test(codec, round_trip_all_fields)
{
    sl_job in = {
        .id = "order-42",
        .type = "order.placed.v2",
        .payload = "{\"to\":\"a@b.c\",\"n\":[1,2.5e3,null,true]}",
        .attempt = 7,
        .enqueued_at_ms = 1764150581123,
        .correlation_id = "0b4c6a8e-1111-4222-8333-444455556666",
        .causation_id = "1700000000000-0",
        .traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    in.type_len = strlen(in.type);
    in.payload_len = strlen(in.payload);
    sl_xadd_args a;
    cr_assert_eq(sl_codec_encode_xadd("sluice:{q}", &in, &a), 0);
    cr_assert_eq(a.argc, 3 + 2 * 8);
    cr_assert_str_eq(a.argv[0], "XADD");
    cr_assert_str_eq(a.argv[1], "sluice:{q}");
    cr_assert_str_eq(a.argv[2], "*");
    cr_assert_str_eq(a.argv[3], "type");
    cr_assert_str_eq(a.argv[5], "payload");

    sl_field f[SL_CODEC_MAX_ARGS];
    size_t n = args_to_fields(&a, f);
    sl_job out;
    char err[256];
    cr_assert_eq(sl_codec_decode("1764150581123-0", f, n, MAXP, &out, err, sizeof err), SL_CODEC_OK, "%s", err);
    cr_assert_str_eq(out.stream_id, "1764150581123-0");
    cr_assert_str_eq(out.id, in.id);
    cr_assert_eq(out.type_len, in.type_len);
    cr_assert_eq(memcmp(out.type, in.type, in.type_len), 0);
    cr_assert_eq(out.payload_len, in.payload_len);
    cr_assert_eq(memcmp(out.payload, in.payload, in.payload_len), 0);
    cr_assert_eq(out.attempt, 7);
    cr_assert_eq(out.enqueued_at_ms, in.enqueued_at_ms);
    cr_assert_str_eq(out.correlation_id, in.correlation_id);
    cr_assert_str_eq(out.causation_id, in.causation_id);
    cr_assert_str_eq(out.traceparent, in.traceparent);
}

Test(codec, round_trip_minimal_omits_empty_members)
{
    sl_job in = {.type = "email.send"}; /* type_len 0: strlen; payload NULL: "{}" */
    sl_xadd_args a;
    cr_assert_eq(sl_codec_encode_xadd("sluice:{default}", &in, &a), 0);
    cr_assert_eq(a.argc, 7, "only type and payload are written");
    cr_assert_eq(a.lens[6], 2);
    cr_assert_eq(memcmp(a.argv[6], "{}", 2), 0);

    sl_field f[SL_CODEC_MAX_ARGS];
    size_t n = args_to_fields(&a, f);
    sl_job out;
    cr_assert_eq(sl_codec_decode("5-0", f, n, MAXP, &out, NULL, 0), SL_CODEC_OK);
    cr_assert_str_eq(out.id, "5-0");
    cr_assert_eq(out.attempt, 1);
    cr_assert_eq(out.enqueued_at_ms, 0);
    cr_assert_str_eq(out.correlation_id, "");
}

Test(codec, encode_attempt_one_omitted_and_two_written)
{
    sl_job in = {.type = "t", .attempt = 1, .payload = "[1]"};
    sl_xadd_args a;
    cr_assert_eq(sl_codec_encode_xadd("k", &in, &a), 0);
    cr_assert_eq(a.argc, 7);
    cr_assert_eq(a.lens[6], 3, "payload_len 0 with a payload means strlen");
    in.attempt = 2;
    cr_assert_eq(sl_codec_encode_xadd("k", &in, &a), 0);
    cr_assert_eq(a.argc, 9);
    cr_assert_str_eq(a.argv[7], "attempt");
    cr_assert_str_eq(a.argv[8], "2");
}

Test(codec, encode_payload_with_nul_uses_length)
{
    static const char bin[] = "\"a\0b\"";
    sl_job in = {.type = "t", .payload = bin, .payload_len = sizeof bin - 1};
    sl_xadd_args a;
    cr_assert_eq(sl_codec_encode_xadd("k", &in, &a), 0);
    cr_assert_eq(a.lens[6], 5);
}

Test(codec, encode_rejects_bad_type)
{
    sl_xadd_args a;
    sl_job in = {.type = "Bad Type"};
    cr_assert_eq(sl_codec_encode_xadd("k", &in, &a), -1);
    in.type = NULL;
    cr_assert_eq(sl_codec_encode_xadd("k", &in, &a), -1);
}

Test(codec, defaults)
{
    entry e = {0};
    add(&e, "type", "email.send");
    sl_job j;
    char err[128] = "untouched";
    cr_assert_eq(sl_codec_decode("1700000000000-3", e.f, e.n, MAXP, &j, err, sizeof err), SL_CODEC_OK);
    cr_assert_str_eq(err, "");
    cr_assert_str_eq(j.payload, "{}");
    cr_assert_eq(j.payload_len, 2);
    cr_assert_str_eq(j.id, "1700000000000-3", "no id field: the stream id");
    cr_assert_str_eq(j.stream_id, "1700000000000-3");
    cr_assert_eq(j.attempt, 1);
    cr_assert_eq(j.enqueued_at_ms, 0);
    cr_assert_str_eq(j.correlation_id, "");
    cr_assert_str_eq(j.causation_id, "");
    cr_assert_str_eq(j.traceparent, "");
}

Test(codec, any_json_value_is_a_payload)
{
    const char *ok[] = {"{}",
                        "[]",
                        "0",
                        "-0.5e+10",
                        "\"x\"",
                        "true",
                        "false",
                        "null",
                        " \t\r\n{ \"a\" : [ 1 , { } ] }\n",
                        "{\"\xc3\xa9\":\"\\ud83d\\ude00\"}",
                        "\"\xf0\x9f\x98\x80\""};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "payload", ok[i]);
        sl_job j;
        char err[256];
        cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, err, sizeof err), SL_CODEC_OK, "%s: %s", ok[i], err);
        cr_assert_eq(j.payload, ok[i]);
    }
}

Test(codec, unknown_field_ignored_and_names_case_sensitive)
{
    entry e = {0};
    add(&e, "type", "t");
    add(&e, "future_field", "whatever \x01 bytes");
    add(&e, "future_field", "twice is fine too");
    add(&e, "Type", "NOT A TYPE");
    add(&e, "ATTEMPT", "garbage");
    sl_job j;
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK);
    cr_assert_eq(j.type_len, 1);
    cr_assert_eq(j.attempt, 1);
}

Test(codec, nil_entry)
{
    sl_job j;
    char err[256];
    cr_assert_eq(sl_codec_decode("1-7", NULL, 0, MAXP, &j, err, sizeof err), SL_CODEC_NIL);
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_NIL), "trimmed");
    cr_assert(strstr(err, "1-7") && strstr(err, "trimmed"), "%s", err);
    cr_assert_str_eq(j.id, "1-7", "a nil entry is still named by its stream id");
}

Test(codec, rejects_missing_type)
{
    entry e = {0};
    add(&e, "payload", "{}");
    expect_reject(&e, MAXP, SL_CODEC_MISSING_TYPE, "bad_envelope", "missing field 'type'");
}

Test(codec, rejects_empty_entry_as_missing_type)
{
    entry e = {0};
    expect_reject(&e, MAXP, SL_CODEC_MISSING_TYPE, "bad_envelope", "missing field 'type'");
}

Test(codec, rejects_bad_type)
{
    const char *bad[] = {"", "Email.Send", "a b", "x/y"};
    for (size_t i = 0; i < 4; i++) {
        entry e = {0};
        add(&e, "type", bad[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_TYPE, "bad_envelope", "field 'type' is not [a-z0-9_.-]{1,128}");
    }
    char longtype[130];
    memset(longtype, 'a', 129);
    longtype[129] = '\0';
    entry e = {0};
    add(&e, "type", longtype);
    expect_reject(&e, MAXP, SL_CODEC_BAD_TYPE, "bad_envelope", "{1,128}");
    longtype[128] = '\0';
    e.n = 0;
    add(&e, "type", longtype);
    sl_job j;
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK, "128 bytes is fine");
}

Test(codec, bad_type_message_quotes_it)
{
    entry e = {0};
    add(&e, "type", "Bad Type");
    expect_reject(&e, MAXP, SL_CODEC_BAD_TYPE, "bad_envelope", "\"Bad Type\"");
    sl_job j;
    sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0);
    cr_assert_eq(j.type_len, 8, "the bad type is still reported in the job for the DLQ");
}

Test(codec, rejects_duplicate_known_field)
{
    const char *names[] = {"type",        "payload",        "id",           "attempt",
                           "enqueued_at", "correlation_id", "causation_id", "traceparent"};
    for (size_t i = 0; i < 8; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "payload", "{}");
        add(&e, "id", "x");
        add(&e, "attempt", "2");
        add(&e, "enqueued_at", "5");
        add(&e, "correlation_id", "c");
        add(&e, "causation_id", "c");
        add(&e, "traceparent", "t");
        add(&e, names[i], i == 0 ? "t" : "1");
        char want[64];
        snprintf(want, sizeof want, "duplicate field '%s'", names[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", want);
    }
}

Test(codec, rejects_bad_attempt)
{
    const char *bad[] = {"0", "x", "", "-1", "+1", " 1", "1 ", "1000001", "99999999999999999999999", "1.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "attempt", bad[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope",
                      "field 'attempt' is not a decimal integer 1..1000000");
    }
    entry e = {0};
    add(&e, "type", "t");
    add(&e, "attempt", "1000000");
    sl_job j;
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK);
    cr_assert_eq(j.attempt, 1000000);
}

Test(codec, rejects_bad_enqueued_at)
{
    const char *bad[] = {"-5", "abc", "", "253402300800000", "1e3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "enqueued_at", bad[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "field 'enqueued_at' is not a decimal integer 0..");
    }
    entry e = {0};
    add(&e, "type", "t");
    add(&e, "enqueued_at", "253402300799999");
    sl_job j;
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK);
    cr_assert_eq(j.enqueued_at_ms, 253402300799999LL);
}

Test(codec, rejects_bad_id)
{
    char longid[130];
    memset(longid, 'i', 129);
    longid[129] = '\0';
    const char *bad[] = {"", "has space", "tab\there", "\x7f", "caf\xc3\xa9", longid};
    const char *msg[] = {"must be 1..128 bytes, got 0", "byte 0x20 at offset 3", "byte 0x09 at offset 3",
                         "byte 0x7f at offset 0",       "byte 0xc3 at offset 3", "must be 1..128 bytes, got 129"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "id", bad[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", msg[i]);
        sl_job j;
        sl_codec_decode("9-9", e.f, e.n, MAXP, &j, NULL, 0);
        cr_assert_str_eq(j.id, "9-9", "a bad id falls back to the stream id");
    }
}

Test(codec, trace_fields_allow_spaces_not_control_bytes)
{
    const char *names[] = {"correlation_id", "causation_id", "traceparent"};
    char longv[130];
    memset(longv, 'c', 129);
    longv[129] = '\0';
    for (size_t i = 0; i < 3; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, names[i], "with space ok");
        sl_job j;
        cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK);

        e.n = 1;
        add(&e, names[i], "bell\a");
        char want[96];
        snprintf(want, sizeof want, "field '%s' has a byte 0x07 at offset 4", names[i]);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", want);

        e.n = 1;
        add(&e, names[i], longv);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "must be 0..128 bytes, got 129");

        e.n = 1;
        add(&e, names[i], "");
        cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, NULL, 0), SL_CODEC_OK, "empty is allowed");
    }
}

Test(codec, rejects_nul_inside_text_fields)
{
    static const char v[] = "abc\0def";
    const char *names[] = {"id", "correlation_id", "causation_id", "traceparent"};
    for (size_t i = 0; i < 4; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add_len(&e, names[i], v, sizeof v - 1);
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "NUL byte at offset 3 (binary garbage)");
        expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "\"abc\\x00def\"");
    }
    entry e = {0};
    add_len(&e, "type", "email\0send", 10);
    expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "field 'type' contains a NUL byte");
    e.n = 0;
    add(&e, "type", "t");
    add_len(&e, "attempt", "2\0", 2);
    expect_reject(&e, MAXP, SL_CODEC_BAD_FIELD, "bad_envelope", "field 'attempt' contains a NUL byte");
}

Test(codec, nul_inside_payload_is_bad_json)
{
    entry e = {0};
    add(&e, "type", "t");
    add_len(&e, "payload", "{}\0junk", 7);
    expect_reject(&e, MAXP, SL_CODEC_BAD_JSON, "bad_payload", "unexpected text after the JSON value at offset 2");
    e.n = 1;
    add_len(&e, "payload", "\"a\0\"", 4);
    expect_reject(&e, MAXP, SL_CODEC_BAD_JSON, "bad_payload", "control character in string");
}

Test(codec, oversize_boundary)
{
    size_t max = 100;
    char *p = malloc(max + 2);
    cr_assert_not_null(p);
    /* A JSON string of exactly max bytes: quote, max-2 x's, quote. */
    p[0] = '"';
    memset(p + 1, 'x', max);
    p[max - 1] = '"';
    p[max] = '\0';
    entry e = {0};
    add(&e, "type", "t");
    add_len(&e, "payload", p, max);
    sl_job j;
    char err[256];
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, max, &j, err, sizeof err), SL_CODEC_OK, "%s", err);
    cr_assert_eq(j.payload_len, max);

    p[max - 1] = 'x';
    p[max] = '"';
    p[max + 1] = '\0';
    e.n = 1;
    add_len(&e, "payload", p, max + 1);
    expect_reject(&e, max, SL_CODEC_OVERSIZE, "oversize", "payload is 101 bytes, more than the limit of 100");

    /* Size is checked before JSON: invalid and too big is oversize. */
    memset(p, '!', max + 1);
    expect_reject(&e, max, SL_CODEC_OVERSIZE, "oversize", "more than the limit");
    free(p);
}

Test(codec, rejects_bad_json_with_offset)
{
    struct {
        const char *text, *msg;
    } bad[] = {
        {"", "empty text (expected a JSON value) at offset 0"},
        {"   ", "unexpected end of text at offset 3"},
        {"{", "unexpected end of text at offset 1"},
        {"{\"a\":1,}", "expected a string key at offset 7"},
        {"{\"a\" 1}", "expected ':' at offset 5"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}' at offset 7"},
        {"[1 2]", "expected ',' or ']' at offset 3"},
        {"{} x", "unexpected text after the JSON value at offset 3"},
        {"{'a':1}", "expected a string key at offset 1"},
        {"nul", "unexpected character (expected a JSON value) at offset 0"},
        {"NaN", "unexpected character (expected a JSON value) at offset 0"},
        {"01", "unexpected text after the JSON value at offset 1"},
        {"1.", "expected a digit after '.'"},
        {"-", "bad number (expected a digit)"},
        {"1e+", "expected a digit in the exponent"},
        {"\"abc", "unterminated string at offset 4"},
        {"\"\\x\"", "bad escape in string at offset 1"},
        {"\"\\u12G4\"", "bad \\u escape"},
        {"\"\\udc00\"", "unpaired UTF-16 surrogate"},
        {"\"\\ud800x\"", "unpaired UTF-16 surrogate"},
        {"\"\t\"", "control character in string"},
        {"\"\xff\"", "invalid UTF-8 in string at offset 1"},
        {"\"\xc0\xaf\"", "invalid UTF-8"}, /* overlong */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"}, /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
        {"\"\xe2\x82\"", "invalid UTF-8"}, /* truncated */
        {"\"\xe0\x80\xaf\"", "invalid UTF-8"}, /* overlong 3-byte */
        {"\x01{}", "unexpected character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        entry e = {0};
        add(&e, "type", "t");
        add(&e, "payload", bad[i].text);
        expect_reject(&e, MAXP, SL_CODEC_BAD_JSON, "bad_payload", bad[i].msg);
        expect_reject(&e, MAXP, SL_CODEC_BAD_JSON, "bad_payload", "payload is not valid JSON: ");
    }
}

Test(codec, json_nesting_limit)
{
    size_t deep = SL_JSON_DEPTH_MAX;
    char *p = malloc(2 * deep + 2);
    cr_assert_not_null(p);
    memset(p, '[', deep);
    memset(p + deep, ']', deep);
    cr_assert_eq(sl_json_check(p, 2 * deep, NULL, NULL), 0, "1000 levels are fine");
    memset(p, '[', deep + 1);
    memset(p + deep + 1, ']', deep + 1);
    size_t off = 0;
    const char *why = NULL;
    cr_assert_eq(sl_json_check(p, 2 * deep + 2, &off, &why), -1);
    cr_assert_eq(off, deep);
    cr_assert_str_eq(why, "nesting deeper than 1000");
    free(p);
}

Test(codec, messages_quote_at_most_64_bytes_and_escape)
{
    char big[1000];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[10] = '\n';
    entry e = {0};
    add(&e, "type", big);
    sl_job j;
    char err[1024];
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, err, sizeof err), SL_CODEC_BAD_TYPE);
    cr_assert(strchr(err, '\n') == NULL, "%s", err);
    cr_assert(strstr(err, "\\x0a") != NULL, "%s", err);
    cr_assert(strstr(err, "\"...") != NULL, "cut quotes end with ...: %s", err);
    cr_assert_lt(strlen(err), 200, "%s", err);

    /* A long bad payload is quoted only near the error. */
    char *p = malloc(5000);
    cr_assert_not_null(p);
    memset(p, ' ', 4999);
    p[0] = '[';
    p[4000] = '?';
    p[4999] = '\0';
    e.n = 0;
    add(&e, "type", "t");
    add(&e, "payload", p);
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, err, sizeof err), SL_CODEC_BAD_JSON);
    cr_assert(strstr(err, "at offset 4000") != NULL, "%s", err);
    cr_assert_lt(strlen(err), 200, "%s", err);
    free(p);
}

Test(codec, tiny_error_buffer_is_safe)
{
    entry e = {0};
    add(&e, "type", "Bad Type");
    sl_job j;
    char err[8];
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, err, sizeof err), SL_CODEC_BAD_TYPE);
    cr_assert_eq(strlen(err), 7);
    cr_assert_eq(sl_codec_decode("1-1", e.f, e.n, MAXP, &j, err, 0), SL_CODEC_BAD_TYPE);
}

Test(codec, reason_strings)
{
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_OK), "ok");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_NIL), "trimmed");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_MISSING_TYPE), "bad_envelope");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_BAD_TYPE), "bad_envelope");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_BAD_FIELD), "bad_envelope");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_OVERSIZE), "oversize");
    cr_assert_str_eq(sl_codec_reason(SL_CODEC_BAD_JSON), "bad_payload");
}

Test(codec, check_job_applies_decode_rules)
{
    char err[256];
    sl_job ok = {.type = "t", .id = "", .correlation_id = "a b", .attempt = 0};
    cr_assert_eq(sl_codec_check_job(&ok, MAXP, err, sizeof err), SL_CODEC_OK, "%s", err);

    sl_job j = ok;
    j.type = "No";
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_TYPE);
    j = ok;
    j.type = NULL;
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_MISSING_TYPE);
    j = ok;
    j.id = "a b";
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_FIELD);
    cr_assert(strstr(err, "field 'id'") != NULL, "%s", err);
    j = ok;
    j.causation_id = "\x1b[31m";
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_FIELD);
    cr_assert(strstr(err, "\\x1b") != NULL, "%s", err);
    j = ok;
    j.attempt = SL_CODEC_ATTEMPT_MAX + 1;
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_FIELD);
    j = ok;
    j.enqueued_at_ms = -1;
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_FIELD);
    j = ok;
    j.payload = "{\"a\":}";
    cr_assert_eq(sl_codec_check_job(&j, MAXP, err, sizeof err), SL_CODEC_BAD_JSON);
    cr_assert(strstr(err, "at offset 5") != NULL, "%s", err);
    j = ok;
    j.payload = "[1,2]";
    cr_assert_eq(sl_codec_check_job(&j, 4, err, sizeof err), SL_CODEC_OVERSIZE);
    cr_assert_eq(sl_codec_check_job(&j, 5, err, sizeof err), SL_CODEC_OK);
}
