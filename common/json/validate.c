/* JSON Schema draft-07 validation of a cJSON instance against a compiled schema
 * (common/json/compile.c): every assertion keyword, the first violation with its
 * instance pointer, and the bounds (depth, one work budget covering keywords
 * and pattern matching, PCRE2 limits) that keep a hostile schema or payload
 * from hanging or exhausting the stack. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json/check.h"
#include "common/json/internal.h"

/* ---- errors ---- */

static int fail(sl_schema_vstate *st, const char *keyword, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record a violation unless evaluating speculatively; returns 0 (invalid). */
static int fail(sl_schema_vstate *st, const char *keyword, const char *fmt, ...)
{
    if (st->quiet || st->recorded || !st->e)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    sl_schema_fill_error(st, keyword, fmt, ap);
    va_end(ap);
    st->recorded = 1; /* the first violation is final */
    return 0;
}

/* Append "/<escaped key>" (or "/<index>" when key is NULL) to the instance pointer. */
static size_t ptr_push(sl_schema_vstate *st, const char *key, size_t index)
{
    size_t old = st->ptr_len, n = old;
    char num[24];
    if (!key) {
        snprintf(num, sizeof num, "%zu", index);
        key = num;
    }
    if (n + 1 < SL_SCHEMA_PTR_CAP)
        st->ptr[n++] = '/';
    for (const char *c = key; *c; c++) {
        if (n + 3 >= SL_SCHEMA_PTR_CAP) {
            st->ptr_cut++;
            break;
        }
        if (*c == '~' || *c == '/') {
            st->ptr[n++] = '~';
            st->ptr[n++] = *c == '~' ? '0' : '1';
        } else {
            st->ptr[n++] = *c;
        }
    }
    st->ptr[n] = '\0';
    st->ptr_len = n;
    return old;
}

static void ptr_pop(sl_schema_vstate *st, size_t old, int cut)
{
    st->ptr_len = old;
    st->ptr[old] = '\0';
    st->ptr_cut = cut;
}

/* ---- describing values in messages ---- */

/* Shortest of %.15g / %.17g that reads back as d. */
static const char *fmt_num(char buf[32], double d)
{
    snprintf(buf, 32, "%.15g", d);
    if (strtod(buf, NULL) != d)
        snprintf(buf, 32, "%.17g", d);
    return buf;
}

static const char *describe(char buf[SL_JSON_QUOTE_SIZE], const cJSON *x)
{
    if (cJSON_IsString(x))
        sl_json_quote(buf, SL_JSON_QUOTE_SIZE, x->valuestring, strlen(x->valuestring));
    else if (cJSON_IsNumber(x))
        fmt_num(buf, x->valuedouble);
    else
        snprintf(buf, SL_JSON_QUOTE_SIZE, "%s",
                 cJSON_IsNull(x)    ? "null"
                 : cJSON_IsTrue(x)  ? "true"
                 : cJSON_IsFalse(x) ? "false"
                 : cJSON_IsArray(x) ? "the array"
                                    : "the object");
    return buf;
}

static unsigned type_bits(const cJSON *x)
{
    if (cJSON_IsNumber(x)) {
        double d = x->valuedouble;
        return SL_T_NUMBER | (isfinite(d) && d == floor(d) ? SL_T_INTEGER : 0);
    }
    return cJSON_IsNull(x)     ? SL_T_NULL
           : cJSON_IsBool(x)   ? SL_T_BOOLEAN
           : cJSON_IsString(x) ? SL_T_STRING
           : cJSON_IsArray(x)  ? SL_T_ARRAY
                               : SL_T_OBJECT;
}

static const char *type_name(unsigned bits)
{
    return bits & SL_T_NULL      ? "null"
           : bits & SL_T_BOOLEAN ? "boolean"
           : bits & SL_T_STRING  ? "string"
           : bits & SL_T_ARRAY   ? "array"
           : bits & SL_T_OBJECT  ? "object"
           : bits & SL_T_INTEGER ? "integer"
                                 : "number";
}

static void types_list(char *buf, size_t n, unsigned types)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "string", "integer"};
    size_t w = 0;
    buf[0] = '\0';
    for (int i = 0; i < 7; i++)
        if (types & (1u << i) && w < n)
            w += (size_t)snprintf(buf + w, n - w, "%s%s", w ? " or " : "", names[i]);
    if (!buf[0])
        snprintf(buf, n, "nothing (\"type\": [])");
}

/* ---- keyword groups ---- */

static int v_node(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x);

/* Validate x, a child of the current value, at pointer segment key/index. */
static int v_child(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x, const char *key, size_t index)
{
    int cut = st->ptr_cut, here = st->depth_here;
    size_t old = ptr_push(st, key, index);
    st->depth_here = 0;
    int r = v_node(st, n, x);
    st->depth_here = here;
    ptr_pop(st, old, cut);
    return r;
}

/* Evaluate n on x without recording a violation (anyOf, oneOf, not, if, contains). */
static int v_quiet(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    st->quiet++;
    int r = v_node(st, n, x);
    st->quiet--;
    return r;
}

/* multipleOf on doubles. An exact fmod when the quotient is too large to have a
 * fraction in a double (|x/m| >= 2^52); otherwise the quotient must be within
 * a relative 1e-9 of an integer, so 0.0075 is a multiple of 0.0001 although
 * 0.0075 / 0.0001 == 75.00000000000001 in binary floating point. */
static int is_multiple(double x, double m)
{
    double q = x / m;
    if (!isfinite(q))
        return 0;
    if (fabs(q) >= 4503599627370496.0)
        return fmod(x, m) == 0;
    double r = nearbyint(q);
    return fabs(q - r) <= 1e-9 * fmax(1.0, fabs(r));
}

static int v_number(sl_schema_vstate *st, const sl_schema_node *n, double d)
{
    char a[32], b[32];
    if (n->has & SL_HAS_MULTIPLE_OF && !is_multiple(d, n->multiple_of))
        return fail(st, "multipleOf", "%s is not a multiple of %s", fmt_num(a, d), fmt_num(b, n->multiple_of));
    if (n->has & SL_HAS_MAXIMUM && d > n->maximum)
        return fail(st, "maximum", "%s is greater than the maximum %s", fmt_num(a, d), fmt_num(b, n->maximum));
    if (n->has & SL_HAS_EXCL_MAXIMUM && d >= n->excl_maximum)
        return fail(st, "exclusiveMaximum", "%s is not less than the exclusive maximum %s", fmt_num(a, d),
                    fmt_num(b, n->excl_maximum));
    if (n->has & SL_HAS_MINIMUM && d < n->minimum)
        return fail(st, "minimum", "%s is less than the minimum %s", fmt_num(a, d), fmt_num(b, n->minimum));
    if (n->has & SL_HAS_EXCL_MINIMUM && d <= n->excl_minimum)
        return fail(st, "exclusiveMinimum", "%s is not greater than the exclusive minimum %s", fmt_num(a, d),
                    fmt_num(b, n->excl_minimum));
    return 1;
}

/* Match re against s (unanchored search) within the validation's one budget.
 * PCRE2 limits each match but does not report what a match cost, so a match
 * runs under a match limit that starts at SL_SCHEMA_PCRE2_FIRST_LIMIT and
 * grows 8x each time it is hit, up to the per-match limit and to what is left
 * of the budget. Every attempt is charged at its limit, an upper bound of the
 * work it did: cheap matches cost a step or two, and an array of strings that
 * each backtrack for long exhausts the budget after a few items instead of
 * the per-match limit allowing each one. 1 match, 0 none, -1 limit/error. */
static int re_search(sl_schema_vstate *st, const pcre2_code *re, const char *src, const char *s)
{
    if (!st->md && !(st->md = pcre2_match_data_create(1, NULL)))
        return sl_schema_abort(st, "limit", "out of memory");
    if (!st->mctx && !(st->mctx = pcre2_match_context_copy(st->s->mctx)))
        return sl_schema_abort(st, "limit", "out of memory");
    int rc;
    uint32_t limit = SL_SCHEMA_PCRE2_FIRST_LIMIT, lim;
    for (;;) {
        if (st->steps >= SL_SCHEMA_MAX_STEPS)
            return sl_schema_over_budget(st);
        unsigned long left = (SL_SCHEMA_MAX_STEPS - st->steps) * SL_SCHEMA_PCRE2_UNITS_PER_STEP - st->re_units;
        lim = limit < SL_SCHEMA_PCRE2_MATCH_LIMIT ? limit : SL_SCHEMA_PCRE2_MATCH_LIMIT;
        if (lim > left)
            lim = (uint32_t)left;
        pcre2_set_match_limit(st->mctx, lim);
        rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, st->md, st->mctx);
        st->re_units += lim;
        st->steps += st->re_units / SL_SCHEMA_PCRE2_UNITS_PER_STEP;
        st->re_units %= SL_SCHEMA_PCRE2_UNITS_PER_STEP;
        if (rc != PCRE2_ERROR_MATCHLIMIT || lim >= SL_SCHEMA_PCRE2_MATCH_LIMIT)
            break;
        if (lim < limit)
            return sl_schema_over_budget(st); /* cut short by the budget, not by its own limit */
        limit *= 8;
    }
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    char q[SL_JSON_QUOTE_SIZE];
    sl_json_quote(q, sizeof q, src, strlen(src));
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT)
        return sl_schema_abort(st, "limit", "pattern %s hit the PCRE2 %s limit", q,
                               rc == PCRE2_ERROR_MATCHLIMIT   ? "match"
                               : rc == PCRE2_ERROR_DEPTHLIMIT ? "depth"
                                                              : "heap");
    PCRE2_UCHAR msg[120];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return sl_schema_abort(st, "pattern", "pattern %s could not run: %s", q, (const char *)msg);
}

static int v_string(sl_schema_vstate *st, const sl_schema_node *n, const char *s)
{
    if (n->max_length >= 0 || n->min_length >= 0) {
        size_t len = 0; /* code points: every byte that is not a UTF-8 continuation byte */
        for (const unsigned char *c = (const unsigned char *)s; *c; c++)
            len += (*c & 0xC0) != 0x80;
        if (n->max_length >= 0 && (double)len > n->max_length)
            return fail(st, "maxLength", "string of %zu characters is longer than the maximum length %.0f", len,
                        n->max_length);
        if (n->min_length >= 0 && (double)len < n->min_length)
            return fail(st, "minLength", "string of %zu characters is shorter than the minimum length %.0f", len,
                        n->min_length);
    }
    char q[SL_JSON_QUOTE_SIZE], p[SL_JSON_QUOTE_SIZE];
    if (n->pattern) {
        int r = re_search(st, n->pattern, n->pattern_src, s);
        if (r < 0)
            return -1;
        if (r == 0) {
            sl_json_quote(q, sizeof q, s, strlen(s));
            sl_json_quote(p, sizeof p, n->pattern_src, strlen(n->pattern_src));
            return fail(st, "pattern", "%s does not match the pattern %s", q, p);
        }
    }
    if (n->format != SL_FMT_NONE && !sl_schema_format_check(n->format, s)) {
        static const char *const names[] = {"", "date-time", "email", "uuid", "ipv4"};
        sl_json_quote(q, sizeof q, s, strlen(s));
        return fail(st, "format", "%s is not a valid %s", q, names[n->format]);
    }
    return 1;
}

static int v_array(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    size_t len = (size_t)cJSON_GetArraySize(x), i = 0, j = 0;
    if (sl_schema_step(st, len / 16 + 1) < 0)
        return -1;
    if (n->max_items >= 0 && (double)len > n->max_items)
        return fail(st, "maxItems", "array has %zu items, more than the maximum %.0f", len, n->max_items);
    if (n->min_items >= 0 && (double)len < n->min_items)
        return fail(st, "minItems", "array has %zu items, fewer than the minimum %.0f", len, n->min_items);
    if (n->unique_items && len > 1) {
        int r = sl_schema_unique(st, x, &i, &j);
        if (r <= 0) {
            if (r < 0)
                return -1;
            int cut = st->ptr_cut;
            size_t old = ptr_push(st, NULL, j);
            fail(st, "uniqueItems", "item %zu equals item %zu", j, i);
            ptr_pop(st, old, cut);
            return 0;
        }
    }
    const cJSON *c;
    i = 0;
    if (n->items || n->items_is_list) {
        cJSON_ArrayForEach(c, x)
        {
            const sl_schema_node *sn = n->items;
            if (n->items_is_list)
                sn = i < n->items_list.n ? n->items_list.v[i] : n->additional_items;
            if (sn && sn->boolean == 0 && n->items_is_list && i >= n->items_list.n) {
                int cut = st->ptr_cut;
                size_t old = ptr_push(st, NULL, i);
                fail(st, "additionalItems", "array has %zu items, more than the %zu allowed by \"items\"", len,
                     n->items_list.n);
                ptr_pop(st, old, cut);
                return 0;
            }
            int r = sn ? v_child(st, sn, c, NULL, i) : 1;
            if (r <= 0)
                return r;
            i++;
        }
    }
    if (n->contains) {
        cJSON_ArrayForEach(c, x)
        {
            int r = v_quiet(st, n->contains, c);
            if (r != 0)
                return r;
        }
        return fail(st, "contains", "no item matches the \"contains\" schema");
    }
    return 1;
}

static int prop_cmp(const void *key, const void *p)
{
    return strcmp((const char *)key, ((const sl_schema_prop *)p)->name);
}

/* properties, patternProperties and additionalProperties, in instance order. */
static int v_members(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, x)
    {
        int matched = 0, r;
        if (sl_schema_step(st, 1 + n->n_patprops) < 0)
            return -1;
        const sl_schema_prop *p = n->n_props ? bsearch(c->string, n->props, n->n_props, sizeof *p, prop_cmp) : NULL;
        if (p) {
            matched = 1;
            if ((r = v_child(st, p->node, c, c->string, 0)) <= 0)
                return r;
        }
        for (size_t i = 0; i < n->n_patprops; i++) {
            if ((r = re_search(st, n->patprops[i].re, n->patprops[i].source, c->string)) < 0)
                return -1;
            if (!r)
                continue;
            matched = 1;
            if ((r = v_child(st, n->patprops[i].node, c, c->string, 0)) <= 0)
                return r;
        }
        if (matched || !n->additional_props)
            continue;
        if (n->additional_props->boolean == 0) {
            char q[SL_JSON_QUOTE_SIZE];
            int cut = st->ptr_cut;
            size_t old = ptr_push(st, c->string, 0);
            sl_json_quote(q, sizeof q, c->string, strlen(c->string));
            fail(st, "additionalProperties", "property %s is not allowed", q);
            ptr_pop(st, old, cut);
            return 0;
        }
        if ((r = v_child(st, n->additional_props, c, c->string, 0)) <= 0)
            return r;
    }
    return 1;
}

/* Whether object x (of size len) has member name; counts the scan as steps. */
static int has_member(sl_schema_vstate *st, const cJSON *x, size_t len, const char *name)
{
    if (sl_schema_step(st, len / 16 + 1) < 0)
        return -1;
    return cJSON_GetObjectItemCaseSensitive(x, name) != NULL;
}

static int v_object(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    size_t len = (size_t)cJSON_GetArraySize(x);
    char q[SL_JSON_QUOTE_SIZE], q2[SL_JSON_QUOTE_SIZE];
    const cJSON *c, *d;
    int r;
    if (sl_schema_step(st, len / 16 + 1) < 0)
        return -1;
    if (n->max_props >= 0 && (double)len > n->max_props)
        return fail(st, "maxProperties", "object has %zu properties, more than the maximum %.0f", len, n->max_props);
    if (n->min_props >= 0 && (double)len < n->min_props)
        return fail(st, "minProperties", "object has %zu properties, fewer than the minimum %.0f", len, n->min_props);
    cJSON_ArrayForEach(c, n->required)
    {
        if ((r = has_member(st, x, len, c->valuestring)) <= 0) {
            sl_json_quote(q, sizeof q, c->valuestring, strlen(c->valuestring));
            return r < 0 ? -1 : fail(st, "required", "required property %s is missing", q);
        }
    }
    if ((r = v_members(st, n, x)) <= 0)
        return r;
    for (size_t i = 0; i < n->n_deps; i++) {
        const sl_schema_prop *p = &n->deps[i];
        if ((r = has_member(st, x, len, p->name)) <= 0) {
            if (r < 0)
                return -1;
            continue;
        }
        if (p->node && (r = v_node(st, p->node, x)) <= 0)
            return r;
        cJSON_ArrayForEach(d, p->names)
        {
            if ((r = has_member(st, x, len, d->valuestring)) <= 0) {
                sl_json_quote(q, sizeof q, p->name, strlen(p->name));
                sl_json_quote(q2, sizeof q2, d->valuestring, strlen(d->valuestring));
                return r < 0 ? -1 : fail(st, "dependencies", "property %s requires property %s", q, q2);
            }
        }
    }
    if (n->property_names) {
        cJSON_ArrayForEach(c, x)
        {
            cJSON key = {.type = cJSON_String, .valuestring = c->string};
            if ((r = v_quiet(st, n->property_names, &key)) <= 0) {
                if (r < 0)
                    return -1;
                int cut = st->ptr_cut;
                size_t old = ptr_push(st, c->string, 0);
                sl_json_quote(q, sizeof q, c->string, strlen(c->string));
                fail(st, "propertyNames", "property name %s does not match \"propertyNames\"", q);
                ptr_pop(st, old, cut);
                return 0;
            }
        }
    }
    return 1;
}

static int v_combinators(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    int r;
    for (size_t i = 0; i < n->all_of.n; i++)
        if ((r = v_node(st, n->all_of.v[i], x)) <= 0)
            return r;
    if (n->any_of.n) {
        r = 0;
        for (size_t i = 0; i < n->any_of.n && r == 0; i++)
            r = v_quiet(st, n->any_of.v[i], x);
        if (r < 0)
            return -1;
        if (r == 0)
            return fail(st, "anyOf", "value matches none of the %zu schemas in \"anyOf\"", n->any_of.n);
    }
    if (n->one_of.n) {
        size_t hits = 0, first = 0, second = 0;
        for (size_t i = 0; i < n->one_of.n && hits < 2; i++) {
            if ((r = v_quiet(st, n->one_of.v[i], x)) < 0)
                return -1;
            if (r) {
                if (hits++)
                    second = i;
                else
                    first = i;
            }
        }
        if (hits == 0)
            return fail(st, "oneOf", "value matches none of the %zu schemas in \"oneOf\"", n->one_of.n);
        if (hits > 1)
            return fail(st, "oneOf", "value matches both schema %zu and schema %zu in \"oneOf\"", first, second);
    }
    if (n->not_) {
        if ((r = v_quiet(st, n->not_, x)) != 0)
            return r < 0 ? -1 : fail(st, "not", "value matches the \"not\" schema");
    }
    if (n->if_) {
        if ((r = v_quiet(st, n->if_, x)) < 0)
            return -1;
        const sl_schema_node *branch = r ? n->then_ : n->else_;
        if (branch && (r = v_node(st, branch, x)) <= 0)
            return r;
    }
    return 1;
}

/* Validate x against n: 1 valid, 0 invalid (first violation recorded), -1 abort. */
static int v_node(sl_schema_vstate *st, const sl_schema_node *n, const cJSON *x)
{
    char q[SL_JSON_QUOTE_SIZE], want[96];
    int r = 1;
    if (++st->depth_here > SL_SCHEMA_MAX_SCHEMA_DEPTH || ++st->depth_total > SL_SCHEMA_MAX_TOTAL_DEPTH) {
        r = sl_schema_abort(st, "limit", "more than %d nested subschemas or $refs at one value (%d in all)",
                            SL_SCHEMA_MAX_SCHEMA_DEPTH, SL_SCHEMA_MAX_TOTAL_DEPTH);
        goto done;
    }
    if (sl_schema_step(st, 1) < 0) {
        r = -1;
        goto done;
    }
    if (n->boolean >= 0) {
        r = n->boolean ? 1 : fail(st, "false", "no value is allowed here (false schema)");
        goto done;
    }
    if (n->ref) {
        if (!n->ref_node) {
            sl_json_quote(q, sizeof q, n->ref_uri, strlen(n->ref_uri));
            r = sl_schema_abort(st, "$ref", "remote reference %s is not supported (only this document)", q);
        } else {
            r = v_node(st, n->ref_node, x);
        }
        goto done;
    }
    unsigned tb = type_bits(x);
    if (n->types && !(n->types & tb)) {
        types_list(want, sizeof want, n->types);
        r = fail(st, "type", "expected %s, got %s", want, type_name(tb));
        goto done;
    }
    if (n->enum_values) {
        const cJSON *v;
        r = 0;
        cJSON_ArrayForEach(v, n->enum_values)
        {
            if ((r = sl_schema_equal(st, v, x, 0)) != 0)
                break;
        }
        if (r <= 0) {
            r = r < 0 ? -1 : fail(st, "enum", "%s is not one of the allowed values", describe(q, x));
            goto done;
        }
    }
    if (n->has & SL_HAS_CONST && (r = sl_schema_equal(st, n->const_value, x, 0)) <= 0) {
        r = r < 0 ? -1 : fail(st, "const", "%s is not the constant value", describe(q, x));
        goto done;
    }
    r = 1;
    if (tb & SL_T_NUMBER)
        r = v_number(st, n, x->valuedouble);
    else if (tb & SL_T_STRING)
        r = v_string(st, n, x->valuestring);
    else if (tb & SL_T_ARRAY)
        r = v_array(st, n, x);
    else if (tb & SL_T_OBJECT)
        r = v_object(st, n, x);
    if (r > 0)
        r = v_combinators(st, n, x);
done:
    st->depth_here--;
    st->depth_total--;
    return r;
}

/* ---- entry points ---- */

/* -1 if x nests deeper than max (x itself is depth 1) or holds a non-JSON item. */
static int check_instance(const cJSON *x, int depth, const char **why)
{
    if (depth > SL_SCHEMA_MAX_INSTANCE_DEPTH) {
        *why = "limit";
        return -1;
    }
    if (cJSON_IsArray(x) || cJSON_IsObject(x)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x)
        {
            if (check_instance(c, depth + 1, why) < 0)
                return -1;
        }
        return 0;
    }
    if (cJSON_IsString(x) ? !x->valuestring : !(cJSON_IsNumber(x) || cJSON_IsBool(x) || cJSON_IsNull(x))) {
        *why = "json";
        return -1;
    }
    return 0;
}

int sl_schema_validate_cjson(const sl_schema *s, const cJSON *instance, sl_schema_error *e)
{
    sl_schema_vstate st = {.s = s, .e = e};
    const char *why = NULL;
    if (!s || !instance)
        return sl_schema_abort(&st, "json", "no schema or no instance");
    if (check_instance(instance, 1, &why) < 0) {
        if (!strcmp(why, "limit"))
            return sl_schema_abort(&st, "limit", "instance nested deeper than %d levels", SL_SCHEMA_MAX_INSTANCE_DEPTH);
        return sl_schema_abort(&st, "json", "instance holds a cJSON item that is not a JSON value");
    }
    int r = v_node(&st, s->root, instance);
    pcre2_match_data_free(st.md);
    pcre2_match_context_free(st.mctx);
    return r;
}

int sl_schema_validate(const sl_schema *s, const char *json, size_t len, sl_schema_error *e)
{
    sl_schema_vstate st = {.s = s, .e = e};
    size_t off = 0;
    const char *why = NULL;
    if (!json || sl_json_check(json, len, &off, &why) < 0) {
        if (why && strstr(why, "nesting"))
            return sl_schema_abort(&st, "limit", "instance %s", why);
        return sl_schema_abort(&st, "json", "instance is not valid JSON: %s at offset %zu", why ? why : "no input",
                               off);
    }
    cJSON *x = cJSON_ParseWithLength(json, len);
    if (!x)
        return sl_schema_abort(&st, "json", "out of memory parsing the instance");
    int r = sl_schema_validate_cjson(s, x, e);
    cJSON_Delete(x);
    return r;
}
