/* Schema compatibility under additive-only evolution (compat.h): walks
 * OLD and NEW side by side and records each keyword that makes NEW reject
 * something OLD accepted (a narrowed type, enum, range, pattern, items, a new
 * required field, a closed object) plus every removed property. $refs and
 * combinators are handled in compat_ref.c. */
#include "common/json/compat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/json/compat_internal.h"
#include "common/json/schema.h"

/* Type bits; "number" covers "integer". */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_NUM = 16, T_STR = 32, T_INT = 64, T_ALL = 127 };

/* ---- Small helpers ---- */

static const cJSON *kw(const cJSON *s, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(s, name);
}

/* A number as short as round-trips ("0.1", not "0.10000000000000001"). */
static const char *num(double v, char buf[32])
{
    snprintf(buf, 32, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, 32, "%.17g", v);
    return buf;
}

/* A JSON value, compact, cut to fit buf. */
static const char *json(const cJSON *v, char *buf, size_t n)
{
    char *s = cJSON_PrintUnformatted(v);
    if (s == NULL)
        snprintf(buf, n, "?");
    else if ((size_t)snprintf(buf, n, "%s", s) >= n && n > 4)
        memcpy(buf + n - 4, "...", 4);
    free(s);
    return buf;
}

static unsigned type_bit(const char *name)
{
    static const struct {
        const char *name;
        unsigned bits;
    } map[] = {
        {"null", T_NULL},          {"boolean", T_BOOL}, {"object", T_OBJ},  {"array", T_ARR},
        {"number", T_NUM | T_INT}, {"string", T_STR},   {"integer", T_INT},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(name, map[i].name) == 0)
            return map[i].bits;
    return 0;
}

/* The instance types schema s admits by "type" (T_ALL when absent). */
static unsigned types_of(const cJSON *s)
{
    const cJSON *t = kw(s, "type"), *it;
    unsigned bits = 0;

    if (cJSON_IsString(t))
        return type_bit(t->valuestring);
    if (!cJSON_IsArray(t))
        return T_ALL;
    cJSON_ArrayForEach(it, t)
    {
        if (cJSON_IsString(it))
            bits |= type_bit(it->valuestring);
    }
    return bits;
}

/* "type" as a JSON array for messages ("any" when absent). */
static const char *types_text(const cJSON *s, char *buf, size_t n)
{
    const cJSON *t = kw(s, "type");
    char one[64];

    if (t == NULL)
        return snprintf(buf, n, "any"), buf;
    if (cJSON_IsString(t))
        return snprintf(buf, n, "[%s]", json(t, one, sizeof one)), buf;
    return json(t, buf, n);
}

/* ---- Keyword rules ---- */

static void check_type(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    unsigned ot = types_of(o), nt = types_of(n);
    char a[160], b[160];

    if ((ot & ~nt) == 0)
        return;
    cx_add(x, ptr, 0, "type %s from %s to %s", (ot & nt) != 0 ? "narrowed" : "changed", types_text(o, a, sizeof a),
           types_text(n, b, sizeof b));
}

/* enum and const: every value OLD admits must stay admitted. */
static void check_values(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *oc = kw(o, "const"), *oe = kw(o, "enum"), *nc = kw(n, "const"), *ne = kw(n, "enum");
    const cJSON *it;
    char a[96], b[96];

    if (nc != NULL) {
        if (oc == NULL && oe == NULL)
            cx_add(x, ptr, 0, "const added: %s", json(nc, b, sizeof b));
        else if (oc != NULL && !cJSON_Compare(oc, nc, 1))
            cx_add(x, ptr, 0, "const changed from %s to %s", json(oc, a, sizeof a), json(nc, b, sizeof b));
        else if (oc == NULL)
            cx_add(x, ptr, 0, "const %s replaces an enum", json(nc, b, sizeof b));
    }
    if (ne == NULL)
        return;
    if (oc == NULL && oe == NULL) {
        cx_add(x, ptr, 0, "enum added: %s", json(ne, b, sizeof b));
        return;
    }
    const cJSON *old_values = oc != NULL ? NULL : oe;
    cJSON_ArrayForEach(it, old_values)
    {
        const cJSON *v;
        int found = 0;
        cJSON_ArrayForEach(v, ne)
        {
            if (cJSON_Compare(it, v, 1)) {
                found = 1;
                break;
            }
        }
        if (!found)
            cx_add(x, ptr, 0, "enum narrowed: %s removed", json(it, a, sizeof a));
    }
    if (oc != NULL) {
        cJSON_ArrayForEach(it, ne)
        {
            if (cJSON_Compare(it, oc, 1))
                return;
        }
        cx_add(x, ptr, 0, "enum %s does not include the old const %s", json(ne, b, sizeof b), json(oc, a, sizeof a));
    }
}

/* One side's numeric bound: the tighter of the inclusive and exclusive keyword. */
typedef struct bound {
    int has, excl;
    double v;
    const char *kw;
} bound;

static bound get_bound(const cJSON *s, int lower)
{
    const cJSON *inc = kw(s, lower ? "minimum" : "maximum");
    const cJSON *exc = kw(s, lower ? "exclusiveMinimum" : "exclusiveMaximum");
    bound b = {0, 0, 0, NULL};

    if (cJSON_IsNumber(inc))
        b = (bound){1, 0, inc->valuedouble, inc->string};
    if (cJSON_IsNumber(exc)) {
        double e = exc->valuedouble;
        if (!b.has || (lower ? e >= b.v : e <= b.v))
            b = (bound){1, 1, e, exc->string};
    }
    return b;
}

static void check_bound(cx *x, const cJSON *o, const cJSON *n, const char *ptr, int lower)
{
    bound ob = get_bound(o, lower), nb = get_bound(n, lower);
    char a[32], b[32];
    const char *verb = lower ? "raised" : "lowered";

    if (!nb.has)
        return;
    if (!ob.has) {
        cx_add(x, ptr, 0, "%s added: %s", nb.kw, num(nb.v, b));
        return;
    }
    if (!(lower ? nb.v > ob.v : nb.v < ob.v) && !(nb.v == ob.v && nb.excl && !ob.excl))
        return;
    if (strcmp(ob.kw, nb.kw) == 0)
        cx_add(x, ptr, 0, "%s %s from %s to %s", nb.kw, verb, num(ob.v, a), num(nb.v, b));
    else
        cx_add(x, ptr, 0, "%s bound narrowed from %s %s to %s %s", lower ? "lower" : "upper", ob.kw, num(ob.v, a),
               nb.kw, num(nb.v, b));
}

/* A count bound such as minLength (lower) or maxItems (upper). */
static void check_count(cx *x, const cJSON *o, const cJSON *n, const char *ptr, const char *name, int lower)
{
    const cJSON *a = kw(o, name), *b = kw(n, name);
    char s1[32], s2[32];

    if (!cJSON_IsNumber(b))
        return;
    if (!cJSON_IsNumber(a))
        cx_add(x, ptr, 0, "%s added: %s", name, num(b->valuedouble, s2));
    else if (lower ? b->valuedouble > a->valuedouble : b->valuedouble < a->valuedouble)
        cx_add(x, ptr, 0, "%s %s from %s to %s", name, lower ? "raised" : "lowered", num(a->valuedouble, s1),
               num(b->valuedouble, s2));
}

static void check_numeric(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *om = kw(o, "multipleOf"), *nm = kw(n, "multipleOf");
    char a[32], b[32];

    check_bound(x, o, n, ptr, 1);
    check_bound(x, o, n, ptr, 0);
    if (!cJSON_IsNumber(nm))
        return;
    if (!cJSON_IsNumber(om)) {
        cx_add(x, ptr, 0, "multipleOf added: %s", num(nm->valuedouble, b));
    } else {
        double q = om->valuedouble / nm->valuedouble; /* OLD's step must be a multiple of NEW's */
        if (!isfinite(q) || fabs(q - round(q)) > 1e-9 * fmax(1.0, fabs(q)))
            cx_add(x, ptr, 0, "multipleOf changed from %s to %s", num(om->valuedouble, a), num(nm->valuedouble, b));
    }
}

static int asserted_format(const char *f)
{
    return strcmp(f, "date-time") == 0 || strcmp(f, "email") == 0 || strcmp(f, "uuid") == 0 || strcmp(f, "ipv4") == 0;
}

static void check_string(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *op = kw(o, "pattern"), *np = kw(n, "pattern"), *of = kw(o, "format"), *nf = kw(n, "format");
    char a[128], b[128];

    check_count(x, o, n, ptr, "minLength", 1);
    check_count(x, o, n, ptr, "maxLength", 0);
    if (cJSON_IsString(np) && !cJSON_IsString(op))
        cx_add(x, ptr, 0, "pattern added: %s", json(np, b, sizeof b));
    else if (cJSON_IsString(np) && strcmp(op->valuestring, np->valuestring) != 0)
        cx_add(x, ptr, 0, "pattern changed from %s to %s", json(op, a, sizeof a), json(np, b, sizeof b));
    if (cJSON_IsString(nf) && asserted_format(nf->valuestring) &&
        !(cJSON_IsString(of) && strcmp(of->valuestring, nf->valuestring) == 0))
        cx_add(x, ptr, 0, "format %s: %s", cJSON_IsString(of) ? "changed" : "added", nf->valuestring);
}

/* The schema array position i must satisfy in s (NULL: true); i == SIZE_MAX
 * is "any position past every tuple entry". */
static const cJSON *item_at(const cJSON *s, size_t i)
{
    const cJSON *items = kw(s, "items");
    if (!cJSON_IsArray(items))
        return items;
    if (i < (size_t)cJSON_GetArraySize(items))
        return cJSON_GetArrayItem(items, (int)i);
    return kw(s, "additionalItems");
}

static void check_array(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *oi = kw(o, "items"), *ni = kw(n, "items"), *nc = kw(n, "contains");
    size_t olen = cJSON_IsArray(oi) ? (size_t)cJSON_GetArraySize(oi) : 0;
    size_t nlen = cJSON_IsArray(ni) ? (size_t)cJSON_GetArraySize(ni) : 0;
    size_t len = olen > nlen ? olen : nlen;
    char at[CX_PTR_MAX];

    for (size_t i = 0; i < len; i++) {
        if (i < nlen) {
            char items_at[CX_PTR_MAX];
            cx_join(items_at, ptr, "items");
            cx_join_index(at, items_at, i);
        } else {
            cx_join(at, ptr, cJSON_IsArray(ni) ? "additionalItems" : "items");
        }
        cx_compare(x, item_at(o, i), item_at(n, i), at);
    }
    cx_join(at, ptr, cJSON_IsArray(ni) ? "additionalItems" : "items");
    cx_compare(x, item_at(o, (size_t)-1), item_at(n, (size_t)-1), at);
    check_count(x, o, n, ptr, "minItems", 1);
    check_count(x, o, n, ptr, "maxItems", 0);
    if (cJSON_IsTrue(kw(n, "uniqueItems")) && !cJSON_IsTrue(kw(o, "uniqueItems")))
        cx_add(x, ptr, 0, "uniqueItems added");
    if (nc != NULL) {
        cx_join(at, ptr, "contains");
        if (kw(o, "contains") == NULL)
            cx_add(x, at, 0, "contains added");
        else
            cx_compare(x, kw(o, "contains"), nc, at);
    }
}

/* What OLD allowed for a property it did not declare: the patternProperties
 * that match name, else additionalProperties. Compares each with NEW's schema. */
static void check_new_property(cx *x, const cJSON *o, const char *name, const cJSON *nschema, const char *at)
{
    const cJSON *pp = kw(o, "patternProperties"), *it, *ap = kw(o, "additionalProperties");
    int matched = 0;

    cJSON_ArrayForEach(it, pp)
    {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re =
            pcre2_compile((PCRE2_SPTR)it->string, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        pcre2_match_data *md = re != NULL ? pcre2_match_data_create_from_pattern(re, NULL) : NULL;
        int rc = md != NULL ? pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) : -1;
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            cx_add(x, at, 1, "patternProperties %s could not be matched", it->string);
            return;
        }
        if (rc >= 0) {
            matched = 1;
            cx_compare(x, it, nschema, at);
        }
    }
    /* absent or true: a new optional property is the additive change itself */
    if (!matched && ap != NULL && !cJSON_IsBool(ap))
        cx_compare(x, ap, nschema, at);
}

static int in_array(const cJSON *arr, const char *s)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static void check_dependencies(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *od = kw(o, "dependencies"), *nd = kw(n, "dependencies"), *it, *name;
    char deps_at[CX_PTR_MAX], at[CX_PTR_MAX];

    cx_join(deps_at, ptr, "dependencies");
    cJSON_ArrayForEach(it, nd)
    {
        const cJSON *old = kw(od, it->string);
        cx_join(at, deps_at, it->string);
        if (cJSON_IsArray(it) && old == NULL) {
            cx_add(x, at, 0, "dependency added for \"%s\"", it->string);
        } else if (cJSON_IsArray(it) && cJSON_IsArray(old)) {
            cJSON_ArrayForEach(name, it)
            {
                if (cJSON_IsString(name) && !in_array(old, name->valuestring))
                    cx_add(x, at, 0, "\"%s\" now also requires \"%s\"", it->string, name->valuestring);
            }
        } else if (!cJSON_IsArray(it) && (old == NULL || !cJSON_IsArray(old))) {
            cx_compare(x, old, it, at);
        } else {
            cx_add(x, at, 1, "dependency form changed");
        }
    }
}

static void check_object(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const cJSON *op = kw(o, "properties"), *np = kw(n, "properties"), *it;
    const cJSON *oap = kw(o, "additionalProperties"), *nap = kw(n, "additionalProperties");
    const cJSON *opp = kw(o, "patternProperties"), *npp = kw(n, "patternProperties");
    char props_at[CX_PTR_MAX], at[CX_PTR_MAX];

    cx_join(props_at, ptr, "properties");
    cJSON_ArrayForEach(it, op)
    {
        const cJSON *ns = kw(np, it->string);
        cx_join(at, props_at, it->string);
        if (ns == NULL)
            cx_add(x, at, 0, "property removed");
        else
            cx_compare(x, it, ns, at);
    }
    cJSON_ArrayForEach(it, np)
    {
        if (kw(op, it->string) == NULL) {
            cx_join(at, props_at, it->string);
            check_new_property(x, o, it->string, it, at);
        }
    }
    cJSON_ArrayForEach(it, kw(n, "required"))
    {
        if (cJSON_IsString(it) && !in_array(kw(o, "required"), it->valuestring)) {
            cx_join(at, props_at, it->valuestring);
            cx_add(x, at, 0, "new required field \"%s\"", it->valuestring);
        }
    }
    cx_join(at, ptr, "additionalProperties");
    if (cJSON_IsFalse(nap) && !cJSON_IsFalse(oap))
        cx_add(x, at, 0, "additionalProperties changed from %s to false",
               oap == NULL || cJSON_IsTrue(oap) ? "true" : "a schema");
    else if (nap != NULL)
        cx_compare(x, oap, nap, at);
    cJSON_ArrayForEach(it, npp)
    {
        char pp_at[CX_PTR_MAX];
        cx_join(pp_at, ptr, "patternProperties");
        cx_join(at, pp_at, it->string);
        if (kw(opp, it->string) != NULL)
            cx_compare(x, kw(opp, it->string), it, at);
        else /* it may constrain declared and undeclared properties alike */
            cx_add(x, at, 1, "patternProperties entry added");
    }
    cJSON_ArrayForEach(it, opp)
    {
        if (kw(npp, it->string) == NULL && nap != NULL && !cJSON_IsTrue(nap)) {
            cx_join(at, ptr, "patternProperties");
            cx_add(x, at, 1, "patternProperties entry %s removed", it->string);
        }
    }
    if (kw(n, "propertyNames") != NULL) {
        cx_join(at, ptr, "propertyNames");
        cx_compare(x, kw(o, "propertyNames"), kw(n, "propertyNames"), at);
    }
    check_dependencies(x, o, n, ptr);
    check_count(x, o, n, ptr, "minProperties", 1);
    check_count(x, o, n, ptr, "maxProperties", 0);
}

/* ---- The walk ---- */

void cx_compare(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    const char *oref = NULL, *nref = NULL;
    unsigned ot;

    if (x->oom)
        return;
    o = o != NULL ? cx_resolve(x->old_root, o, &oref) : x->empty;
    n = n != NULL ? cx_resolve(x->new_root, n, &nref) : x->empty;
    if (o == NULL || n == NULL) {
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): NULL is an unfollowed $ref; cx_resolve set oref / nref
        if (o == NULL && n == NULL && strcmp(oref, nref) == 0 && oref[0] != '#')
            return; /* the same remote document, as far as we can tell */
        cx_add(x, ptr, 1, "$ref %s", o == NULL ? oref : nref);
        return;
    }
    for (int i = 0; i < x->depth; i++)
        if (x->seen_old[i] == o && x->seen_new[i] == n)
            return; /* a recursive schema: this pair is being compared further up */
    if (x->depth == CX_MAX_DEPTH) {
        cx_add(x, ptr, 1, "nested deeper than %d subschemas", CX_MAX_DEPTH);
        return;
    }
    if (cJSON_IsFalse(o) || cJSON_IsTrue(n))
        return; /* OLD accepted nothing, or NEW accepts everything */
    if (cJSON_IsFalse(n)) {
        cx_add(x, ptr, 0, "schema changed to false (accepts nothing)");
        return;
    }
    if (cJSON_IsTrue(o))
        o = x->empty;
    x->seen_old[x->depth] = o;
    x->seen_new[x->depth++] = n;
    ot = types_of(o);
    check_type(x, o, n, ptr);
    check_values(x, o, n, ptr);
    if (ot & (T_NUM | T_INT))
        check_numeric(x, o, n, ptr);
    if (ot & T_STR)
        check_string(x, o, n, ptr);
    if (ot & T_ARR)
        check_array(x, o, n, ptr);
    if (ot & T_OBJ)
        check_object(x, o, n, ptr);
    cx_combinators(x, o, n, ptr);
    x->depth--;
}

int cx_clean(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    sl_compat_report scratch = {0}, *saved = x->rep;
    int clean;

    x->rep = &scratch;
    cx_compare(x, o, n, ptr);
    clean = scratch.n == 0 && !scratch.truncated;
    x->rep = saved;
    sl_compat_report_free(&scratch);
    return clean;
}

int sl_compat_check(const char *old_json, size_t old_len, const char *new_json, size_t new_len, sl_compat_report *rep,
                    char *err, size_t errlen)
{
    char why[300];
    cx x;
    int rc = -1;
    sl_schema *so = sl_schema_compile(old_json, old_len, why, sizeof why);
    sl_schema *sn = so != NULL ? sl_schema_compile(new_json, new_len, why, sizeof why) : NULL;

    memset(&x, 0, sizeof x);
    x.rep = rep;
    if (so == NULL || sn == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "the %s schema does not compile: %s", so == NULL ? "old" : "new", why);
        goto done;
    }
    x.old_root = cJSON_ParseWithLength(old_json, old_len);
    x.new_root = cJSON_ParseWithLength(new_json, new_len);
    x.empty = cJSON_CreateObject();
    if (x.old_root == NULL || x.new_root == NULL || x.empty == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory parsing the schemas");
        goto done;
    }
    cx_compare(&x, x.old_root, x.new_root, "");
    if (x.oom) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "out of memory comparing the schemas");
        goto done;
    }
    rc = rep->n == 0 && !rep->truncated ? 1 : 0;

done:
    cJSON_Delete((cJSON *)x.old_root);
    cJSON_Delete((cJSON *)x.new_root);
    cJSON_Delete(x.empty);
    sl_schema_free(sn);
    sl_schema_free(so);
    return rc;
}
