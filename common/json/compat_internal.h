/* Internals of the compatibility checker (common/json/compat*.c): the walk
 * state and the helpers shared by the keyword rules (compat.c) and the
 * $ref / combinator / equality code (compat_ref.c). Not a public API. */
#ifndef SL_SCHEMA_COMPAT_INTERNAL_H
#define SL_SCHEMA_COMPAT_INTERNAL_H

#include <cjson/cJSON.h>

#include "common/json/compat.h"

/* Deepest nesting of compared subschemas (including $ref hops); beyond it the
 * subschema is reported as unverifiable. */
#define CX_MAX_DEPTH 64
#define CX_PTR_MAX 256

/** The state of one check. */
typedef struct cx {
    const cJSON *old_root, *new_root;
    cJSON *empty; /* {} standing in for an absent or `true` schema */
    sl_compat_report *rep; /* where changes go (a scratch report while probing) */
    const cJSON *seen_old[CX_MAX_DEPTH], *seen_new[CX_MAX_DEPTH];
    int depth;
    int oom;
} cx;

/** Record a change at ptr (printf-style message). */
void cx_add(cx *x, const char *ptr, int unverifiable, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/** ptr + "/" + escaped key into out (CX_PTR_MAX); a too-long pointer ends in "...". */
void cx_join(char *out, const char *ptr, const char *key);
/** Same, with an array index. */
void cx_join_index(char *out, const char *ptr, size_t i);

/** Compare subschema o (old) with n (new) at ptr; NULL stands for `true`. */
void cx_compare(cx *x, const cJSON *o, const cJSON *n, const char *ptr);
/** 1 if comparing o with n records no change (nothing is recorded). */
int cx_clean(cx *x, const cJSON *o, const cJSON *n, const char *ptr);

/**
 * Follow "$ref"s from node within root (local JSON-pointer refs only).
 * @return the target, or NULL when a ref cannot be followed (remote, anchor,
 *         missing target, too many hops); *ref receives the first unfollowed ref.
 */
const cJSON *cx_resolve(const cJSON *root, const cJSON *node, const char **ref);

/** 1 if old subschema o and new subschema n are structurally identical, with
 *  local $refs followed on each side. */
int cx_same(cx *x, const cJSON *o, const cJSON *n);

/** The combinators: allOf, anyOf, oneOf, not, if/then/else of o and n (objects). */
void cx_combinators(cx *x, const cJSON *o, const cJSON *n, const char *ptr);

#endif
