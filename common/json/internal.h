/* Internals of the JSON Schema validator (common/json/): the compiled node
 * form of a schema, the compile and validation state, and the functions the
 * schema_*.c files share. Not part of any public API. */
#ifndef SL_SCHEMA_INTERNAL_H
#define SL_SCHEMA_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stddef.h>

#include "common/json/schema.h"

/* Bits of sl_schema_node.types. */
enum {
    SL_T_NULL = 1 << 0,
    SL_T_BOOLEAN = 1 << 1,
    SL_T_OBJECT = 1 << 2,
    SL_T_ARRAY = 1 << 3,
    SL_T_NUMBER = 1 << 4,
    SL_T_STRING = 1 << 5,
    SL_T_INTEGER = 1 << 6
};

/** Formats that are asserted; every other format is an annotation. */
typedef enum sl_schema_format {
    SL_FMT_NONE = 0,
    SL_FMT_DATE_TIME,
    SL_FMT_EMAIL,
    SL_FMT_UUID,
    SL_FMT_IPV4
} sl_schema_format;

/* Presence bits for the numeric keywords. */
enum {
    SL_HAS_MULTIPLE_OF = 1 << 0,
    SL_HAS_MAXIMUM = 1 << 1,
    SL_HAS_EXCL_MAXIMUM = 1 << 2,
    SL_HAS_MINIMUM = 1 << 3,
    SL_HAS_EXCL_MINIMUM = 1 << 4,
    SL_HAS_CONST = 1 << 5
};

typedef struct sl_schema_node sl_schema_node;

/** A name -> subschema pair (properties, schema-form dependencies). */
typedef struct sl_schema_prop {
    const char *name; /* borrowed from the schema's cJSON tree */
    sl_schema_node *node;
    const cJSON *names; /* dependencies only: the array form, else NULL */
} sl_schema_prop;

/** A pattern -> subschema pair (patternProperties). */
typedef struct sl_schema_patprop {
    const char *source;
    pcre2_code *re;
    sl_schema_node *node;
} sl_schema_patprop;

/** A list of subschemas (allOf, anyOf, oneOf, items array form). */
typedef struct sl_schema_list {
    sl_schema_node **v;
    size_t n;
} sl_schema_list;

/** One compiled (sub)schema. Absent keywords are NULL / 0 / -1. */
struct sl_schema_node {
    int boolean; /* -1: an object schema; 0/1: the boolean schema false/true */
    const cJSON *src; /* the schema's JSON (borrowed from sl_schema.doc) */
    char *base; /* base URI in effect (owned) */

    const char *ref; /* "$ref" as written; when set every sibling is ignored */
    sl_schema_node *ref_node; /* its target, or NULL when remote */
    char *ref_uri; /* the resolved absolute URI (owned) */
    char *ref_at; /* JSON pointer of the "$ref" in the schema, for messages (owned) */

    unsigned types; /* SL_T_* bits; 0: no "type" */
    const cJSON *enum_values; /* "enum" array */
    const cJSON *const_value; /* "const" (SL_HAS_CONST in has) */
    unsigned has; /* SL_HAS_* bits */
    double multiple_of, maximum, excl_maximum, minimum, excl_minimum;
    double max_length, min_length, max_items, min_items, max_props, min_props; /* -1 = absent */

    pcre2_code *pattern;
    const char *pattern_src;
    sl_schema_format format;

    sl_schema_node *items; /* schema form */
    sl_schema_list items_list; /* array form (items_is_list) */
    int items_is_list;
    sl_schema_node *additional_items;
    int unique_items;
    sl_schema_node *contains;

    const cJSON *required; /* array of strings */
    sl_schema_prop *props; /* sorted by name (strcmp) for bsearch */
    size_t n_props;
    sl_schema_patprop *patprops;
    size_t n_patprops;
    sl_schema_node *additional_props;
    sl_schema_prop *deps;
    size_t n_deps;
    sl_schema_node *property_names;

    sl_schema_node *if_, *then_, *else_;
    sl_schema_list all_of, any_of, one_of;
    sl_schema_node *not_;
};

struct sl_schema {
    cJSON *doc; /* the parsed schema document (owned) */
    cJSON *meta; /* the draft-07 meta-schema, parsed if referenced (owned) */
    sl_schema_node *root;
    sl_schema_node **nodes; /* every node, for freeing */
    size_t n_nodes, cap_nodes;
    pcre2_match_context *mctx; /* the PCRE2 limits; read-only (each validation copies it) */
};

/* ---- Compilation state (compile.c, ref.c) ---- */

/* A registered "$id": a resource (URI without fragment) or a plain-name anchor
 * ("uri#name"), with the JSON it names, the base URI in effect inside it and
 * the one above it (its parent's, against which its "$id" resolves). */
typedef struct sl_schema_id {
    char *uri;
    const cJSON *json;
    char *base, *parent;
} sl_schema_id;

/* cJSON item -> compiled node, so a subschema reached twice (tree and $ref)
 * is compiled once. Open addressing on the pointer value. */
typedef struct sl_schema_slot {
    const cJSON *key;
    sl_schema_node *node;
} sl_schema_slot;

typedef struct sl_schema_cstate {
    sl_schema *s;
    char *err;
    size_t errlen;
    sl_schema_id *ids;
    size_t n_ids, cap_ids;
    sl_schema_slot *map;
    size_t map_n, map_cap;
    pcre2_compile_context *cctx;
    char path[1024]; /* JSON pointer of the keyword being compiled, for messages */
    size_t path_len;
} sl_schema_cstate;

/** Format "<message> (at schema \"<pointer>\")" into cs->err; returns -1. */
int sl_schema_cs_fail(sl_schema_cstate *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append "/<escaped name>" to cs->path; returns the old length for sl_schema_cs_pop. */
size_t sl_schema_cs_push(sl_schema_cstate *cs, const char *name);
void sl_schema_cs_pop(sl_schema_cstate *cs, size_t old);
/** The node for schema json (object or boolean) below base parent, compiled on
 *  first use and shared after. NULL with cs->err set on error. */
sl_schema_node *sl_schema_get_node(sl_schema_cstate *cs, const cJSON *json, const char *parent, int depth);
/** 1 if j can be a schema (an object or a boolean). */
int sl_schema_is_schema(const cJSON *j);
/** The base URI inside json below base parent (its "$id" applied unless it has
 *  "$ref"); *anchor receives "uri#name" for a plain-name "$id". malloc'd. */
char *sl_schema_child_base(const cJSON *json, const char *parent, char **anchor);
/** Register uri (taken over) for json; the first registration of a URI wins. */
int sl_schema_id_add(sl_schema_cstate *cs, char *uri, const cJSON *json, const char *base, const char *parent);
/** Register every "$id" in subschema positions under json. 0 or -1. */
int sl_schema_register_ids(sl_schema_cstate *cs, const cJSON *json, const char *parent, int depth);
/** Resolve n->ref to n->ref_node (NULL for a remote document). 0 or -1. */
int sl_schema_resolve_ref(sl_schema_cstate *cs, sl_schema_node *n);

/* ---- Validation state (validate.c, equal.c; errors and budget in vstate.c) ---- */

#define SL_SCHEMA_PTR_CAP 4096

typedef struct sl_schema_vstate {
    const sl_schema *s;
    sl_schema_error *e; /* may be NULL */
    int quiet; /* > 0 while evaluating speculatively (anyOf, not, ...) */
    int recorded; /* e holds the first violation */
    unsigned long steps; /* units of the one budget spent (SL_SCHEMA_MAX_STEPS) */
    unsigned long re_units; /* PCRE2 match-limit units not yet a whole step */
    int depth_total, depth_here;
    pcre2_match_data *md;
    pcre2_match_context *mctx; /* this validation's copy of the schema's: its match limit shrinks */
    char ptr[SL_SCHEMA_PTR_CAP]; /* instance pointer of the value being validated */
    size_t ptr_len;
    int ptr_cut; /* the pointer did not fit */
} sl_schema_vstate;

/** Write a report (keyword, message, the instance pointer) into st->e, which must be set. */
void sl_schema_fill_error(sl_schema_vstate *st, const char *keyword, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/** The "validation budget exceeded" abort; returns -1. */
int sl_schema_over_budget(sl_schema_vstate *st);
/** Count n units of work; returns -1 (with "validation budget exceeded") over budget. */
int sl_schema_step(sl_schema_vstate *st, unsigned long n);
/** Fill the error with the "limit" keyword (always, even when quiet); returns -1. */
int sl_schema_abort(sl_schema_vstate *st, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Deep JSON equality (1 == 1.0, object keys unordered). 1 equal, 0 not, -1 budget. */
int sl_schema_equal(sl_schema_vstate *st, const cJSON *a, const cJSON *b, int depth);
/** uniqueItems: 1 all distinct, 0 a duplicate (indices in *i, *j, i < j), -1 budget. */
int sl_schema_unique(sl_schema_vstate *st, const cJSON *arr, size_t *i, size_t *j);

/** 1 if s satisfies the format (only SL_FMT_* other than NONE are checked). */
int sl_schema_format_check(sl_schema_format f, const char *s);
/** The asserted format for a "format" value, SL_FMT_NONE for annotations. */
sl_schema_format sl_schema_format_lookup(const char *name);

/** The built-in draft-07 meta-schema (meta.c) and its URI (no fragment). */
extern const char sl_schema_meta_uri[];
extern const char sl_schema_meta_json[];

/** RFC 3986 section 5.2 reference resolution: malloc'd result or NULL on OOM. */
char *sl_schema_uri_resolve(const char *base, const char *ref);

#endif
