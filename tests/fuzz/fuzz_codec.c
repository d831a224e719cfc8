/* libFuzzer target: the envelope decoder (sl_codec_decode in common/codec.c) on
 * hostile stream entries. Input: "name=value" fields, one a line; or, when the
 * first byte is NUL, NUL-separated name, value, name, value... (values may then
 * hold newlines). Checks that a decoded job passes sl_codec_check_job and that
 * encoding it and decoding the XADD arguments again gives the same job. */
#include <stdint.h>
#include <string.h>

#include "common/codec.h"
#include "fuzz.h"

#define MAX_FIELDS 64
#define MAX_PAYLOAD 1024 /* small, so "oversize" is reachable */

/* Each name and value gets its own allocation: names exactly name_len bytes (no
 * NUL: decode must not need one), values value_len + 1 with the NUL the
 * contract promises. */
static size_t parse_fields(const uint8_t *data, size_t size, sl_field *f, char **bufs)
{
    size_t n = 0, i = 0;
    int nul_mode = size > 0 && data[0] == '\0';

    if (nul_mode)
        i = 1;
    while (i < size && n < MAX_FIELDS) {
        const uint8_t *name = data + i, *value;
        size_t name_len, value_len;
        if (nul_mode) {
            const uint8_t *end = memchr(name, '\0', size - i);
            name_len = end ? (size_t)(end - name) : size - i;
            i += name_len + 1;
            value = data + (i < size ? i : size);
            end = i < size ? memchr(value, '\0', size - i) : NULL;
            value_len = i < size ? (end ? (size_t)(end - value) : size - i) : 0;
            i += value_len + 1;
        } else {
            const uint8_t *nl = memchr(name, '\n', size - i);
            size_t line = nl ? (size_t)(nl - name) : size - i;
            const uint8_t *eq = memchr(name, '=', line);
            name_len = eq ? (size_t)(eq - name) : line;
            value = eq ? eq + 1 : name + line;
            value_len = eq ? line - name_len - 1 : 0;
            i += line + 1;
        }
        bufs[2 * n] = malloc(name_len ? name_len : 1);
        if (bufs[2 * n] == NULL)
            abort();
        memcpy(bufs[2 * n], name, name_len);
        bufs[2 * n + 1] = fuzz_strndup(value, value_len);
        f[n].name = bufs[2 * n];
        f[n].name_len = name_len;
        f[n].value = bufs[2 * n + 1];
        f[n].value_len = value_len;
        n++;
    }
    return n;
}

static int same(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_field f[MAX_FIELDS], f2[SL_CODEC_MAX_ARGS / 2];
    char *bufs[2 * MAX_FIELDS];
    char err[256], err2[256], q[SL_JSON_QUOTE_SIZE];
    sl_job job, job2;
    sl_xadd_args xa;
    sl_codec_status st;
    size_t n = parse_fields(data, size, f, bufs);

    (void)sl_codec_decode("1-0", NULL, 0, MAX_PAYLOAD, &job, err, sizeof err);
    st = sl_codec_decode("1-0", f, n, MAX_PAYLOAD, &job, err, sizeof err);
    FUZZ_ASSERT(strlen(err) < sizeof err, "err not terminated");
    FUZZ_ASSERT((st == SL_CODEC_OK) == (err[0] == '\0'), "status %d with err \"%s\"", st, err);
    (void)sl_codec_reason(st);
    sl_json_quote(q, sizeof q, (const char *)data, size);
    sl_json_quote(q, 7, (const char *)data, size);

    if (st == SL_CODEC_OK) {
        st = sl_codec_check_job(&job, MAX_PAYLOAD, err2, sizeof err2);
        FUZZ_ASSERT(st == SL_CODEC_OK, "decoded job refused by check_job: %s", err2);
        FUZZ_ASSERT(sl_codec_encode_xadd("s", &job, &xa) == 0, "decoded job does not encode");
        /* argv: XADD key * then name/value pairs; hand the pairs back to decode */
        size_t m = 0;
        for (int a = 3; a + 1 < xa.argc; a += 2, m++) {
            f2[m].name = xa.argv[a];
            f2[m].name_len = xa.lens[a];
            f2[m].value = xa.argv[a + 1];
            f2[m].value_len = xa.lens[a + 1];
        }
        st = sl_codec_decode("1-0", f2, m, MAX_PAYLOAD, &job2, err2, sizeof err2);
        FUZZ_ASSERT(st == SL_CODEC_OK, "re-decode of the encoded job failed: %s", err2);
        FUZZ_ASSERT(job.type_len == job2.type_len && memcmp(job.type, job2.type, job.type_len) == 0, "type changed");
        FUZZ_ASSERT(job.payload_len == job2.payload_len && memcmp(job.payload, job2.payload, job.payload_len) == 0,
                    "payload changed");
        FUZZ_ASSERT(same(job.id, job2.id) && job.attempt == job2.attempt && job.enqueued_at_ms == job2.enqueued_at_ms &&
                        same(job.correlation_id, job2.correlation_id) && same(job.causation_id, job2.causation_id) &&
                        same(job.traceparent, job2.traceparent),
                    "a field changed in the round trip");
    }
    for (size_t k = 0; k < 2 * n; k++)
        free(bufs[k]);
    return 0;
}
