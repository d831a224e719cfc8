/* JSON Schema draft-07 compiler (no C library for it ships with Debian): parses
 * a schema with cJSON, checks every keyword's shape, compiles patterns with
 * PCRE2 once and resolves every "$ref" to a node, so validation
 * (validate.c) never parses, compiles or allocates per keyword. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json/check.h"
#include "common/json/internal.h"

/* Format "<message> (at <schema pointer>)" into cs->err; returns -1. */
int sl_schema_cs_fail(sl_schema_cstate *cs, const char *fmt, ...)
{
    if (!cs->err || cs->errlen == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cs->err, cs->errlen, fmt, ap);
    va_end(ap);
    size_t n = strlen(cs->err);
    if (n < cs->errlen)
        snprintf(cs->err + n, cs->errlen - n, " (at schema \"%s\")", cs->path);
    return -1;
}

/* Append "/<escaped name>" to the schema path; returns the old length for sl_schema_cs_pop. */
size_t sl_schema_cs_push(sl_schema_cstate *cs, const char *name)
{
    size_t old = cs->path_len, n = old;
    if (n + 1 < sizeof cs->path)
        cs->path[n++] = '/';
    for (const char *c = name; *c && n + 2 < sizeof cs->path; c++) {
        if (*c == '~' || *c == '/') {
            cs->path[n++] = '~';
            cs->path[n++] = *c == '~' ? '0' : '1';
        } else {
            cs->path[n++] = *c;
        }
    }
    cs->path[n] = '\0';
    cs->path_len = n;
    return old;
}

static size_t cs_push_index(sl_schema_cstate *cs, size_t i)
{
    char b[24];
    snprintf(b, sizeof b, "%zu", i);
    return sl_schema_cs_push(cs, b);
}

void sl_schema_cs_pop(sl_schema_cstate *cs, size_t old)
{
    cs->path_len = old;
    cs->path[old] = '\0';
}

/* ---- cJSON item -> node map ---- */

static size_t ptr_hash(const cJSON *p, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 17) & (cap - 1);
}

static sl_schema_node *map_get(const sl_schema_cstate *cs, const cJSON *key)
{
    if (!cs->map_cap)
        return NULL;
    for (size_t i = ptr_hash(key, cs->map_cap);; i = (i + 1) & (cs->map_cap - 1)) {
        if (!cs->map[i].key)
            return NULL;
        if (cs->map[i].key == key)
            return cs->map[i].node;
    }
}

static int map_put(sl_schema_cstate *cs, const cJSON *key, sl_schema_node *node)
{
    if ((cs->map_n + 1) * 2 > cs->map_cap) {
        size_t cap = cs->map_cap ? cs->map_cap * 2 : 64;
        sl_schema_slot *m = calloc(cap, sizeof *m);
        if (!m)
            return -1;
        for (size_t i = 0; i < cs->map_cap; i++) {
            if (!cs->map[i].key)
                continue;
            size_t j = ptr_hash(cs->map[i].key, cap);
            while (m[j].key)
                j = (j + 1) & (cap - 1);
            m[j] = cs->map[i];
        }
        free(cs->map);
        cs->map = m;
        cs->map_cap = cap;
    }
    size_t j = ptr_hash(key, cs->map_cap);
    while (cs->map[j].key)
        j = (j + 1) & (cs->map_cap - 1);
    cs->map[j] = (sl_schema_slot){key, node};
    cs->map_n++;
    return 0;
}

/* ---- repeated member names ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A member name of object o that occurs twice, or NULL. Small objects compare
 * every pair; larger ones sort a copy of the names (a hostile 1 MiB schema can
 * hold one object of 100,000 members). *oom is set when the copy failed. */
static const char *repeated_name(const cJSON *o, int *oom)
{
    size_t n = 0, i = 0;
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, o) n++;
    if (n <= 16) {
        for (a = o->child; a; a = a->next)
            for (b = a->next; b; b = b->next)
                if (!strcmp(a->string, b->string))
                    return a->string;
        return NULL;
    }
    const char **v = malloc(n * sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    cJSON_ArrayForEach(a, o) v[i++] = a->string;
    qsort(v, n, sizeof *v, name_cmp);
    const char *dup = NULL;
    for (i = 1; i < n && !dup; i++)
        if (!strcmp(v[i - 1], v[i]))
            dup = v[i];
    free(v);
    return dup;
}

/* Refuse a repeated member name in any object of json, at every depth and in
 * every position (subschema or not): cJSON keeps each occurrence, so "first"
 * or "last wins" would be a choice no other JSON Schema tool shares, and the
 * keyword compilers read each member once. Names that differ only after a
 * "\u0000" count as repeated, as cJSON cannot tell them apart. cs->path holds
 * the object's JSON pointer. 0, or -1 with cs->err. */
static int unique_members(sl_schema_cstate *cs, const cJSON *json)
{
    const cJSON *c;
    size_t i = 0;
    if (cJSON_IsObject(json)) {
        int oom = 0;
        const char *dup = repeated_name(json, &oom);
        if (oom)
            return sl_schema_cs_fail(cs, "out of memory");
        if (dup) {
            char q[SL_JSON_QUOTE_SIZE];
            sl_json_quote(q, sizeof q, dup, strlen(dup));
            if (cs->err && cs->errlen)
                snprintf(cs->err, cs->errlen, "duplicate member %s at %s", q, cs->path_len ? cs->path : "/");
            return -1;
        }
    } else if (!cJSON_IsArray(json)) {
        return 0;
    }
    cJSON_ArrayForEach(c, json)
    {
        size_t old = cJSON_IsObject(json) ? sl_schema_cs_push(cs, c->string) : cs_push_index(cs, i++);
        if (unique_members(cs, c) < 0)
            return -1;
        sl_schema_cs_pop(cs, old);
    }
    return 0;
}

/* ---- keyword compilation ---- */

/* Compile the subschema at keyword/child position of node n. */
static int sub(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *json, sl_schema_node **out, int depth)
{
    if (!sl_schema_is_schema(json))
        return sl_schema_cs_fail(cs, "not a schema: must be an object or a boolean");
    *out = sl_schema_get_node(cs, json, n->base, depth + 1);
    return *out ? 0 : -1;
}

/* The keyword compilers below allocate the node's array for this keyword once:
 * a second occurrence (unique_members refuses it first) is an error, never a
 * re-allocation that keeps the old count. Counts grow only after an element is
 * filled, so sl_schema_free is safe at any failure. */
static int once(sl_schema_cstate *cs, const void *already)
{
    return already ? sl_schema_cs_fail(cs, "duplicate keyword") : 0;
}

static int sub_list(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *v, sl_schema_list *l, int depth, int nonempty)
{
    if (once(cs, l->v) < 0)
        return -1;
    if (!cJSON_IsArray(v) || (nonempty && !cJSON_GetArraySize(v)))
        return sl_schema_cs_fail(cs, "must be a%s array of schemas", nonempty ? " non-empty" : "n");
    size_t len = (size_t)cJSON_GetArraySize(v);
    l->v = calloc(len ? len : 1, sizeof *l->v); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!l->v)
        return sl_schema_cs_fail(cs, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        size_t old = cs_push_index(cs, l->n);
        if (l->n >= len || sub(cs, n, c, &l->v[l->n], depth) < 0)
            return -1;
        l->n++;
        sl_schema_cs_pop(cs, old);
    }
    return 0;
}

static int prop_cmp(const void *a, const void *b)
{
    return strcmp(((const sl_schema_prop *)a)->name, ((const sl_schema_prop *)b)->name);
}

static int string_array(sl_schema_cstate *cs, const cJSON *v)
{
    const cJSON *c;
    if (!cJSON_IsArray(v))
        return sl_schema_cs_fail(cs, "must be an array of strings");
    cJSON_ArrayForEach(c, v)
    {
        if (!cJSON_IsString(c))
            return sl_schema_cs_fail(cs, "must be an array of strings");
    }
    return 0;
}

/* Compile a "pattern"/"patternProperties" regex once. UTF + UCP as draft-07
 * strings are Unicode; the other options bring PCRE2 nearer ECMA-262: "$" only
 * at the very end, "[]"/"[^]" classes, unset backreferences match empty. */
static pcre2_code *compile_re(sl_schema_cstate *cs, const char *src)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ALT_BSUX | PCRE2_DOLLAR_ENDONLY |
                                       PCRE2_ALLOW_EMPTY_CLASS | PCRE2_MATCH_UNSET_BACKREF,
                                   &code, &off, cs->cctx);
    if (!re) {
        PCRE2_UCHAR msg[160];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        char q[SL_JSON_QUOTE_SIZE];
        sl_json_quote(q, sizeof q, src, strlen(src));
        sl_schema_cs_fail(cs, "invalid regular expression %s: %s at offset %zu", q, (const char *)msg, (size_t)off);
    }
    return re;
}

static int type_bit(const char *t)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(t, names[i]))
            return 1 << i;
    return 0;
}

static int compile_type(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *v)
{
    const cJSON *c;
    if (cJSON_IsString(v)) {
        n->types = (unsigned)type_bit(v->valuestring);
        return n->types ? 0 : sl_schema_cs_fail(cs, "unknown type \"%.64s\"", v->valuestring);
    }
    if (!cJSON_IsArray(v))
        return sl_schema_cs_fail(cs, "\"type\" must be a string or an array of strings");
    cJSON_ArrayForEach(c, v)
    {
        int b = cJSON_IsString(c) ? type_bit(c->valuestring) : 0;
        if (!b)
            return sl_schema_cs_fail(cs, "\"type\" array holds %s",
                                     cJSON_IsString(c) ? "an unknown type name" : "a non-string");
        n->types |= (unsigned)b;
    }
    if (!n->types) /* "type": [] allows nothing */
        n->types = 1u << 30;
    return 0;
}

/* Numeric keywords: fill *out, or fail if v is not a number (or, for counts,
 * not a non-negative integer). */
static int number_kw(sl_schema_cstate *cs, const cJSON *v, double *out, int count)
{
    if (!cJSON_IsNumber(v))
        return sl_schema_cs_fail(cs, "must be a number");
    double d = v->valuedouble;
    if (count && (d < 0 || d != floor(d) || !isfinite(d)))
        return sl_schema_cs_fail(cs, "must be a non-negative integer");
    *out = d;
    return 0;
}

static int compile_props(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *v, int depth)
{
    if (once(cs, n->props) < 0)
        return -1;
    if (!cJSON_IsObject(v))
        return sl_schema_cs_fail(cs, "must be an object of schemas");
    n->props = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *n->props);
    if (!n->props)
        return sl_schema_cs_fail(cs, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        size_t old = sl_schema_cs_push(cs, c->string);
        sl_schema_prop *p = &n->props[n->n_props];
        p->name = c->string;
        if (sub(cs, n, c, &p->node, depth) < 0)
            return -1;
        n->n_props++;
        sl_schema_cs_pop(cs, old);
    }
    qsort(n->props, n->n_props, sizeof *n->props, prop_cmp);
    return 0;
}

static int compile_patprops(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *v, int depth)
{
    if (once(cs, n->patprops) < 0)
        return -1;
    if (!cJSON_IsObject(v))
        return sl_schema_cs_fail(cs, "must be an object of schemas");
    n->patprops = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *n->patprops);
    if (!n->patprops)
        return sl_schema_cs_fail(cs, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        size_t old = sl_schema_cs_push(cs, c->string);
        sl_schema_patprop *p = &n->patprops[n->n_patprops];
        p->source = c->string;
        p->re = compile_re(cs, c->string);
        if (p->re)
            n->n_patprops++; /* counted with its regex, which sl_schema_free releases */
        if (!p->re || sub(cs, n, c, &p->node, depth) < 0)
            return -1;
        sl_schema_cs_pop(cs, old);
    }
    return 0;
}

static int compile_deps(sl_schema_cstate *cs, sl_schema_node *n, const cJSON *v, int depth)
{
    if (once(cs, n->deps) < 0)
        return -1;
    if (!cJSON_IsObject(v))
        return sl_schema_cs_fail(cs, "must be an object");
    n->deps = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *n->deps);
    if (!n->deps)
        return sl_schema_cs_fail(cs, "out of memory");
    const cJSON *c;
    cJSON_ArrayForEach(c, v)
    {
        size_t old = sl_schema_cs_push(cs, c->string);
        sl_schema_prop *p = &n->deps[n->n_deps];
        p->name = c->string;
        if (cJSON_IsArray(c)) {
            if (string_array(cs, c) < 0)
                return -1;
            p->names = c;
        } else if (sub(cs, n, c, &p->node, depth) < 0) {
            return -1;
        }
        n->n_deps++;
        sl_schema_cs_pop(cs, old);
    }
    return 0;
}

/* Compile one keyword k (value v) of object schema n. Unknown keywords are
 * annotations and ignored, as draft-07 requires. */
static int compile_kw(sl_schema_cstate *cs, sl_schema_node *n, const char *k, const cJSON *v, int depth)
{
    static const struct {
        const char *name;
        size_t off;
        unsigned bit;
    } nums[] = {
        {"multipleOf", offsetof(sl_schema_node, multiple_of), SL_HAS_MULTIPLE_OF},
        {"maximum", offsetof(sl_schema_node, maximum), SL_HAS_MAXIMUM},
        {"exclusiveMaximum", offsetof(sl_schema_node, excl_maximum), SL_HAS_EXCL_MAXIMUM},
        {"minimum", offsetof(sl_schema_node, minimum), SL_HAS_MINIMUM},
        {"exclusiveMinimum", offsetof(sl_schema_node, excl_minimum), SL_HAS_EXCL_MINIMUM},
        {"maxLength", offsetof(sl_schema_node, max_length), 0},
        {"minLength", offsetof(sl_schema_node, min_length), 0},
        {"maxItems", offsetof(sl_schema_node, max_items), 0},
        {"minItems", offsetof(sl_schema_node, min_items), 0},
        {"maxProperties", offsetof(sl_schema_node, max_props), 0},
        {"minProperties", offsetof(sl_schema_node, min_props), 0},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        if (strcmp(k, nums[i].name) != 0)
            continue;
        double *slot = (double *)(void *)((char *)n + nums[i].off);
        if (number_kw(cs, v, slot, nums[i].bit == 0) < 0)
            return -1;
        if (nums[i].bit == SL_HAS_MULTIPLE_OF && !(*slot > 0))
            return sl_schema_cs_fail(cs, "must be greater than 0");
        n->has |= nums[i].bit;
        return 0;
    }
    if (!strcmp(k, "type"))
        return compile_type(cs, n, v);
    if (!strcmp(k, "enum")) {
        n->enum_values = v;
        return cJSON_IsArray(v) ? 0 : sl_schema_cs_fail(cs, "must be an array");
    }
    if (!strcmp(k, "const")) {
        n->const_value = v;
        n->has |= SL_HAS_CONST;
        return 0;
    }
    if (!strcmp(k, "pattern")) {
        if (once(cs, n->pattern) < 0)
            return -1;
        if (!cJSON_IsString(v))
            return sl_schema_cs_fail(cs, "must be a string");
        n->pattern_src = v->valuestring;
        return (n->pattern = compile_re(cs, v->valuestring)) ? 0 : -1;
    }
    if (!strcmp(k, "format")) {
        if (!cJSON_IsString(v))
            return sl_schema_cs_fail(cs, "must be a string");
        n->format = sl_schema_format_lookup(v->valuestring);
        return 0;
    }
    if (!strcmp(k, "uniqueItems")) {
        n->unique_items = cJSON_IsTrue(v);
        return cJSON_IsBool(v) ? 0 : sl_schema_cs_fail(cs, "must be a boolean");
    }
    if (!strcmp(k, "required")) {
        n->required = v;
        return string_array(cs, v);
    }
    if (!strcmp(k, "$id") || !strcmp(k, "$schema"))
        return cJSON_IsString(v) ? 0 : sl_schema_cs_fail(cs, "must be a string");
    if (!strcmp(k, "items")) {
        if (cJSON_IsArray(v)) {
            n->items_is_list = 1;
            return sub_list(cs, n, v, &n->items_list, depth, 0);
        }
        return sub(cs, n, v, &n->items, depth);
    }
    if (!strcmp(k, "properties"))
        return compile_props(cs, n, v, depth);
    if (!strcmp(k, "patternProperties"))
        return compile_patprops(cs, n, v, depth);
    if (!strcmp(k, "dependencies"))
        return compile_deps(cs, n, v, depth);
    if (!strcmp(k, "definitions")) {
        const cJSON *c;
        sl_schema_node *unused;
        if (!cJSON_IsObject(v))
            return sl_schema_cs_fail(cs, "must be an object of schemas");
        cJSON_ArrayForEach(c, v)
        {
            size_t old = sl_schema_cs_push(cs, c->string);
            if (sub(cs, n, c, &unused, depth) < 0)
                return -1;
            sl_schema_cs_pop(cs, old);
        }
        return 0;
    }
    static const struct {
        const char *name;
        size_t off;
    } singles[] = {
        {"additionalItems", offsetof(sl_schema_node, additional_items)},
        {"contains", offsetof(sl_schema_node, contains)},
        {"additionalProperties", offsetof(sl_schema_node, additional_props)},
        {"propertyNames", offsetof(sl_schema_node, property_names)},
        {"if", offsetof(sl_schema_node, if_)},
        {"then", offsetof(sl_schema_node, then_)},
        {"else", offsetof(sl_schema_node, else_)},
        {"not", offsetof(sl_schema_node, not_)},
    };
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++)
        if (!strcmp(k, singles[i].name))
            return sub(cs, n, v, (sl_schema_node **)(void *)((char *)n + singles[i].off), depth);
    static const struct {
        const char *name;
        size_t off;
    } lists[] = {
        {"allOf", offsetof(sl_schema_node, all_of)},
        {"anyOf", offsetof(sl_schema_node, any_of)},
        {"oneOf", offsetof(sl_schema_node, one_of)},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (!strcmp(k, lists[i].name))
            return sub_list(cs, n, v, (sl_schema_list *)(void *)((char *)n + lists[i].off), depth, 1);
    return 0;
}

/* The node for schema json (object or boolean) whose parent's base is parent:
 * the existing one if json was compiled before, else a new one. NULL on error. */
sl_schema_node *sl_schema_get_node(sl_schema_cstate *cs, const cJSON *json, const char *parent, int depth)
{
    sl_schema_node *n = map_get(cs, json);
    if (n)
        return n;
    if (depth > SL_SCHEMA_MAX_COMPILE_DEPTH) {
        sl_schema_cs_fail(cs, "schema nested deeper than %d levels", SL_SCHEMA_MAX_COMPILE_DEPTH);
        return NULL;
    }
    sl_schema *s = cs->s;
    if (s->n_nodes == s->cap_nodes) {
        size_t cap = s->cap_nodes ? s->cap_nodes * 2 : 32;
        sl_schema_node **v =
            realloc(s->nodes, cap * sizeof *v); // NOLINT(bugprone-sizeof-expression): an array of pointers
        if (!v)
            goto oom;
        s->nodes = v;
        s->cap_nodes = cap;
    }
    n = calloc(1, sizeof *n);
    if (!n)
        goto oom;
    s->nodes[s->n_nodes++] = n;
    n->src = json;
    n->boolean = cJSON_IsBool(json) ? cJSON_IsTrue(json) : -1;
    n->max_length = n->min_length = n->max_items = n->min_items = n->max_props = n->min_props = -1;
    if (!(n->base = sl_schema_child_base(json, parent, NULL)) || map_put(cs, json, n) < 0)
        goto oom;
    if (n->boolean >= 0)
        return n;

    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(json, "$ref");
    if (ref) {
        if (!cJSON_IsString(ref)) {
            size_t old = sl_schema_cs_push(cs, "$ref");
            sl_schema_cs_fail(cs, "\"$ref\" must be a string");
            sl_schema_cs_pop(cs, old);
            return NULL;
        }
        n->ref = ref->valuestring; /* every sibling is ignored; resolved in resolve_ref */
        size_t old = sl_schema_cs_push(cs, "$ref");
        n->ref_at = strdup(cs->path);
        sl_schema_cs_pop(cs, old);
        if (!n->ref_at)
            goto oom;
        return n;
    }
    const cJSON *k;
    cJSON_ArrayForEach(k, json)
    {
        size_t old = sl_schema_cs_push(cs, k->string);
        if (compile_kw(cs, n, k->string, k, depth) < 0)
            return NULL;
        sl_schema_cs_pop(cs, old);
    }
    return n;
oom:
    sl_schema_cs_fail(cs, "out of memory");
    return NULL;
}

/* ---- public entry points ---- */

void sl_schema_free(sl_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_nodes; i++) {
        sl_schema_node *n = s->nodes[i];
        free(n->base);
        free(n->ref_uri);
        free(n->ref_at);
        pcre2_code_free(n->pattern);
        for (size_t j = 0; j < n->n_patprops; j++)
            pcre2_code_free(n->patprops[j].re);
        free(n->patprops);
        free(n->props);
        free(n->deps);
        free(n->items_list.v);
        free(n->all_of.v);
        free(n->any_of.v);
        free(n->one_of.v);
        free(n);
    }
    free(s->nodes);
    pcre2_match_context_free(s->mctx);
    cJSON_Delete(s->meta);
    cJSON_Delete(s->doc);
    free(s);
}

sl_schema *sl_schema_compile(const char *json, size_t len, char *err, size_t errlen)
{
    sl_schema_cstate cs = {.err = err, .errlen = errlen};
    sl_schema *s = NULL;
    size_t off = 0;
    const char *why = NULL;
    int ok = 0;
    if (err && errlen)
        err[0] = '\0';
    if (!json || sl_json_check(json, len, &off, &why) < 0) {
        sl_schema_cs_fail(&cs, "schema is not valid JSON: %s at offset %zu", why ? why : "no input", off);
        goto done;
    }
    if (!(s = calloc(1, sizeof *s)) || !(cs.cctx = pcre2_compile_context_create(NULL)) ||
        !(s->mctx = pcre2_match_context_create(NULL)) || !(s->doc = cJSON_ParseWithLength(json, len))) {
        sl_schema_cs_fail(&cs, "out of memory");
        goto done;
    }
    cs.s = s;
    /* Closer to ECMA-262 (docs/schema.md lists what still differs): "\u{...}"
     * escapes besides "\uhhhh" (PCRE2_ALT_BSUX), and "." not matching CR. */
    pcre2_set_compile_extra_options(cs.cctx, PCRE2_EXTRA_ALT_BSUX);
    pcre2_set_newline(cs.cctx, PCRE2_NEWLINE_ANYCRLF);
    pcre2_set_match_limit(s->mctx, SL_SCHEMA_PCRE2_MATCH_LIMIT);
    pcre2_set_depth_limit(s->mctx, SL_SCHEMA_PCRE2_DEPTH_LIMIT);
    pcre2_set_heap_limit(s->mctx, SL_SCHEMA_PCRE2_HEAP_LIMIT);
    if (!sl_schema_is_schema(s->doc)) {
        sl_schema_cs_fail(&cs, "a schema must be an object or a boolean");
        goto done;
    }
    if (unique_members(&cs, s->doc) < 0)
        goto done;
    char *root_base = sl_schema_child_base(s->doc, "", NULL);
    if (!root_base || sl_schema_id_add(&cs, strdup(root_base), s->doc, root_base, "") < 0 ||
        sl_schema_register_ids(&cs, s->doc, "", 0) < 0) {
        free(root_base);
        goto done;
    }
    free(root_base);
    if (!(s->root = sl_schema_get_node(&cs, s->doc, "", 0)))
        goto done;
    for (size_t i = 0; i < s->n_nodes; i++) /* n_nodes grows as targets compile */
        if (s->nodes[i]->ref && sl_schema_resolve_ref(&cs, s->nodes[i]) < 0)
            goto done;
    ok = 1;
done:
    if (!ok) {
        if (cs.err && cs.errlen && !cs.err[0])
            sl_schema_cs_fail(&cs, "out of memory");
        sl_schema_free(s);
        s = NULL;
    }
    for (size_t i = 0; i < cs.n_ids; i++) {
        free(cs.ids[i].uri);
        free(cs.ids[i].base);
        free(cs.ids[i].parent);
    }
    free(cs.ids);
    free(cs.map);
    pcre2_compile_context_free(cs.cctx);
    return s;
}
