/* The envelope codec: stream entry fields <-> job. Pure (no I/O); decoding borrows
 * pointers into the caller's field array and never allocates. */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/json/check.h"

/** One field/value pair of a stream entry. Values must be NUL-terminated at
 *  [len] (hiredis replies are). */
typedef struct sl_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} sl_field;

/** A decoded job; every pointer borrows from the fields (or a static ""). */
typedef struct sl_job {
    const char *stream_id; /* the entry id (not from the fields) */
    const char *id; /* field "id", else stream_id */
    const char *type; /* field "type" */
    size_t type_len;
    const char *payload; /* field "payload", else "{}" */
    size_t payload_len;
    uint32_t attempt; /* field "attempt", else 1 */
    int64_t enqueued_at_ms; /* field "enqueued_at", else 0 */
    const char *correlation_id; /* else "" */
    const char *causation_id; /* else "" */
    const char *traceparent; /* else "" */
    const char *unique_key; /* field "unique_key" (a unique job's idempotency key, sluice_enqueue_unique), else "" */
} sl_job;

/** Why decoding failed. Each maps to a dead-letter reason. */
typedef enum sl_codec_status {
    SL_CODEC_OK = 0,
    SL_CODEC_NIL, /* entry trimmed/deleted while pending (nil fields) -> "trimmed" */
    SL_CODEC_MISSING_TYPE, /* no "type" field -> "bad_envelope" */
    SL_CODEC_BAD_TYPE, /* type not [a-z0-9_.-]{1,128} -> "bad_envelope" */
    SL_CODEC_BAD_FIELD, /* malformed attempt/enqueued_at/id, duplicate field, binary in a text field -> "bad_envelope" */
    SL_CODEC_OVERSIZE, /* payload larger than the limit -> "oversize" */
    SL_CODEC_BAD_JSON /* payload is not valid JSON -> "bad_payload" */
} sl_codec_status;

/**
 * Decode an entry. fields may be NULL with n == 0 only for SL_CODEC_NIL callers;
 * pass fields == NULL to signal a nil entry.
 * @param max_payload  payload size limit in bytes
 * @param err          receives a precise one-line reason on failure
 *                     (e.g. "field 'attempt' is not a positive integer: \"x\""),
 *                     quoting at most 64 bytes of entry data, non-printables escaped
 * Unknown fields are ignored; a repeated known field is SL_CODEC_BAD_FIELD. On
 * failure *out is still filled with the defaults plus every field that had been
 * checked, so out->id (the "id" field if valid, else stream_id) and out->type
 * (when present, even if invalid) can name the entry in a dead-letter record.
 */
sl_codec_status sl_codec_decode(const char *stream_id, const sl_field *fields, size_t n, size_t max_payload,
                                sl_job *out, char *err, size_t errlen);

/** The dead-letter reason for a status ("bad_envelope", "oversize", ...; "ok" for OK). */
const char *sl_codec_reason(sl_codec_status st);

/** Maximum argv an encoded XADD needs. */
#define SL_CODEC_MAX_ARGS 24

/** Arguments for XADD, pointing into the job's strings and into numbuf. */
typedef struct sl_xadd_args {
    int argc;
    const char *argv[SL_CODEC_MAX_ARGS];
    size_t lens[SL_CODEC_MAX_ARGS];
    char numbuf[2][24]; /* attempt, enqueued_at as text */
} sl_xadd_args;

/**
 * Build `XADD <stream_key> * type T payload P [id I] [attempt A] [enqueued_at E]
 * [correlation_id C] [causation_id X] [traceparent T]`. Empty/zero optional
 * members are omitted (attempt 0 or 1 is omitted; enqueued_at_ms <= 0 is
 * omitted). job->stream_id is ignored. type_len 0 means strlen(type); payload
 * NULL means "{}", payload_len 0 with a payload means strlen(payload).
 * Only the type is checked here; use sl_codec_check_job for the other rules.
 * The result borrows stream_key and the job's strings.
 * @return 0, or -1 if the type is invalid.
 */
int sl_codec_encode_xadd(const char *stream_key, const sl_job *job, sl_xadd_args *out);

/* ---- Rules shared by decode and producers ---- */

#define SL_CODEC_TEXT_MAX 128 /* id, correlation_id, causation_id, traceparent */
#define SL_CODEC_ATTEMPT_MAX 1000000u /* attempt is 1..this */
#define SL_CODEC_ENQUEUED_AT_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z in ms */

/**
 * Check a job about to be written with the rules sl_codec_decode applies, so a
 * producer never writes an entry consumers would dead-letter: type, id (if
 * non-empty), correlation_id, causation_id, traceparent, attempt (0 or
 * 1..SL_CODEC_ATTEMPT_MAX), enqueued_at_ms (0..SL_CODEC_ENQUEUED_AT_MAX),
 * payload size (before JSON) and JSON. NULL strings count as absent; payload
 * NULL means "{}" and payload_len 0 with a payload means strlen(payload), as in
 * sl_codec_encode_xadd. type_len 0 means strlen(type).
 * @return SL_CODEC_OK, or the status decode would give, with a message in err
 */
sl_codec_status sl_codec_check_job(const sl_job *job, size_t max_payload, char *err, size_t errlen);


#endif
