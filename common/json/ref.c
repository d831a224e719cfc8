/* JSON Schema $id registry and $ref resolution: every "$id" in a document is
 * registered with the base URI it sets, then each "$ref" is resolved (RFC 3986)
 * to a node, compiling targets the tree walk did not reach (a pointer into
 * "definitions" next to a "$ref", say). Remote documents stay unresolved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json/check.h"
#include "common/json/internal.h"

static const sl_schema_id *id_find(const sl_schema_cstate *cs, const char *uri)
{
    for (size_t i = 0; i < cs->n_ids; i++)
        if (!strcmp(cs->ids[i].uri, uri))
            return &cs->ids[i];
    return NULL;
}

/* Register uri (taken over) unless already known; the first registration wins. */
int sl_schema_id_add(sl_schema_cstate *cs, char *uri, const cJSON *json, const char *base, const char *parent)
{
    if (!uri)
        return -1;
    if (id_find(cs, uri)) {
        free(uri);
        return 0;
    }
    if (cs->n_ids == cs->cap_ids) {
        size_t cap = cs->cap_ids ? cs->cap_ids * 2 : 8;
        sl_schema_id *v = realloc(cs->ids, cap * sizeof *v);
        if (!v) {
            free(uri);
            return -1;
        }
        cs->ids = v;
        cs->cap_ids = cap;
    }
    char *b = strdup(base), *p = strdup(parent);
    if (!b || !p) {
        free(b);
        free(p);
        free(uri);
        return -1;
    }
    cs->ids[cs->n_ids++] = (sl_schema_id){uri, json, b, p};
    return 0;
}

/* The base URI inside schema json whose parent's base is parent: the parent's
 * resolved against "$id" (fragment dropped). "$id" next to "$ref" is ignored,
 * as draft-07 ignores every sibling of "$ref". malloc'd; NULL on OOM. */
char *sl_schema_child_base(const cJSON *json, const char *parent, char **anchor)
{
    if (anchor)
        *anchor = NULL;
    const cJSON *id = cJSON_IsObject(json) ? cJSON_GetObjectItemCaseSensitive(json, "$id") : NULL;
    if (id == NULL || !cJSON_IsString(id) || cJSON_GetObjectItemCaseSensitive(json, "$ref"))
        return strdup(parent);
    char *abs = sl_schema_uri_resolve(parent, id->valuestring);
    if (!abs)
        return NULL;
    char *hash = strchr(abs, '#');
    if (hash) {
        if (hash[1] && anchor)
            *anchor = strdup(abs);
        *hash = '\0';
    }
    return abs;
}

/* ---- subschema positions ---- */

typedef enum kw_kind { KW_SCHEMA, KW_LIST, KW_MAP, KW_ITEMS, KW_DEPS } kw_kind;

static const struct {
    const char *name;
    kw_kind kind;
} kw_sub[] = {
    {"definitions", KW_MAP},
    {"properties", KW_MAP},
    {"patternProperties", KW_MAP},
    {"dependencies", KW_DEPS},
    {"items", KW_ITEMS},
    {"additionalItems", KW_SCHEMA},
    {"contains", KW_SCHEMA},
    {"additionalProperties", KW_SCHEMA},
    {"propertyNames", KW_SCHEMA},
    {"if", KW_SCHEMA},
    {"then", KW_SCHEMA},
    {"else", KW_SCHEMA},
    {"not", KW_SCHEMA},
    {"allOf", KW_LIST},
    {"anyOf", KW_LIST},
    {"oneOf", KW_LIST},
};

int sl_schema_is_schema(const cJSON *j)
{
    return cJSON_IsObject(j) || cJSON_IsBool(j);
}

/* Register every "$id" under json (a schema) whose base is parent. Only
 * subschema positions are walked: an "$id" inside "enum" or "const" is data. */
int sl_schema_register_ids(sl_schema_cstate *cs, const cJSON *json, const char *parent, int depth)
{
    if (!cJSON_IsObject(json))
        return 0;
    if (depth > SL_SCHEMA_MAX_COMPILE_DEPTH)
        return sl_schema_cs_fail(cs, "schema nested deeper than %d levels", SL_SCHEMA_MAX_COMPILE_DEPTH);
    char *anchor = NULL;
    char *base = sl_schema_child_base(json, parent, &anchor);
    int rc = -1;
    if (!base)
        goto done;
    if (strcmp(base, parent) != 0 && sl_schema_id_add(cs, strdup(base), json, base, parent) < 0)
        goto done;
    if (anchor) {
        char *a = anchor;
        anchor = NULL;
        if (sl_schema_id_add(cs, a, json, base, parent) < 0)
            goto done;
    }
    for (size_t k = 0; k < sizeof kw_sub / sizeof kw_sub[0]; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, kw_sub[k].name), *c;
        if (!v)
            continue;
        int each = kw_sub[k].kind != KW_SCHEMA && !(kw_sub[k].kind == KW_ITEMS && cJSON_IsObject(v));
        if (!each) {
            if (sl_schema_register_ids(cs, v, base, depth + 1) < 0)
                goto done;
            continue;
        }
        cJSON_ArrayForEach(c, v)
        {
            if (sl_schema_register_ids(cs, c, base, depth + 1) < 0)
                goto done;
        }
    }
    rc = 0;
done:
    free(anchor);
    free(base);
    return rc;
}

/* ---- $ref resolution ---- */

/* Percent-decode s in place (invalid escapes are kept as written). */
static void pct_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' &&
            (hi = (r[1] >= '0' && r[1] <= '9')               ? r[1] - '0'
                  : (r[1] | 32) >= 'a' && (r[1] | 32) <= 'f' ? (r[1] | 32) - 'a' + 10
                                                             : -1) >= 0 &&
            (lo = (r[2] >= '0' && r[2] <= '9')               ? r[2] - '0'
                  : (r[2] | 32) >= 'a' && (r[2] | 32) <= 'f' ? (r[2] | 32) - 'a' + 10
                                                             : -1) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Walk JSON pointer ptr (decoded) from json, whose inner base is *base; *base
 * follows the "$id"s of the objects passed through, so it ends as the base
 * above the target. Returns the target or NULL if there is none. */
static const cJSON *walk_pointer(const cJSON *json, const char *ptr, char **base)
{
    char tok[512];
    while (json && *ptr == '/') {
        ptr++;
        size_t n = 0;
        for (; *ptr && *ptr != '/'; ptr++) {
            char c = *ptr;
            if (c == '~' && (ptr[1] == '0' || ptr[1] == '1'))
                c = *++ptr == '0' ? '~' : '/';
            else if (c == '~')
                return NULL;
            if (n + 1 >= sizeof tok)
                return NULL;
            tok[n++] = c;
        }
        tok[n] = '\0';
        if (cJSON_IsObject(json)) {
            json = cJSON_GetObjectItemCaseSensitive(json, tok);
        } else if (cJSON_IsArray(json)) {
            char *end;
            if (!n || (n > 1 && tok[0] == '0') || tok[0] < '0' || tok[0] > '9')
                return NULL;
            unsigned long i = strtoul(tok, &end, 10);
            json = *end || i > (unsigned long)cJSON_GetArraySize(json) ? NULL : cJSON_GetArrayItem(json, (int)i);
        } else {
            return NULL;
        }
        if (json && *ptr == '/' && cJSON_IsObject(json)) {
            char *b = sl_schema_child_base(json, *base, NULL);
            if (!b)
                return NULL;
            free(*base);
            *base = b;
        }
    }
    return *ptr ? NULL : json;
}

/* Resolve n->ref to a node (compiling the target if it was not reached by the
 * tree walk). A reference to a document not in this one is left unresolved
 * (remote). Returns 0 or -1 with the message in cs->err. */
int sl_schema_resolve_ref(sl_schema_cstate *cs, sl_schema_node *n)
{
    char *frag_copy = NULL, *base = NULL;
    int rc = -1;
    snprintf(cs->path, sizeof cs->path, "%s", n->ref_at);
    cs->path_len = strlen(cs->path);
    n->ref_uri = sl_schema_uri_resolve(n->base, n->ref);
    if (!n->ref_uri)
        goto done; /* out of memory */
    char *hash = strchr(n->ref_uri, '#');
    frag_copy = strdup(hash ? hash + 1 : "");
    char *doc_uri = strndup(n->ref_uri, hash ? (size_t)(hash - n->ref_uri) : strlen(n->ref_uri));
    if (!frag_copy || !doc_uri) {
        free(doc_uri);
        goto done; /* out of memory */
    }
    const sl_schema_id *doc = id_find(cs, doc_uri);
    if (!doc && !strcmp(doc_uri, sl_schema_meta_uri) && !cs->s->meta) {
        /* The meta-schema is built in: load it as a second document. */
        if (!(cs->s->meta = cJSON_Parse(sl_schema_meta_json)) || sl_schema_register_ids(cs, cs->s->meta, "", 0) < 0) {
            free(doc_uri);
            goto done; /* out of memory */
        }
        doc = id_find(cs, doc_uri);
    }
    free(doc_uri);
    const cJSON *target = NULL;
    if (frag_copy[0] == '\0' || frag_copy[0] == '/') {
        if (!doc) {
            rc = 0; /* remote: validation through it reports "$ref" */
            goto done;
        }
        pct_decode(frag_copy);
        if (!(base = strdup(frag_copy[0] ? doc->base : doc->parent)))
            goto done; /* out of memory */
        target = walk_pointer(doc->json, frag_copy, &base);
    } else {
        const sl_schema_id *anchor = id_find(cs, n->ref_uri);
        if (!anchor && !doc) {
            rc = 0;
            goto done;
        }
        if (anchor) {
            target = anchor->json;
            if (!(base = strdup(anchor->parent)))
                goto done; /* out of memory */
        }
    }
    if (!target) {
        char q[SL_JSON_QUOTE_SIZE];
        sl_json_quote(q, sizeof q, n->ref, strlen(n->ref));
        sl_schema_cs_fail(cs, "\"$ref\" %s: no such target in this document", q);
        goto done;
    }
    if (!sl_schema_is_schema(target)) {
        char q[SL_JSON_QUOTE_SIZE];
        sl_json_quote(q, sizeof q, n->ref, strlen(n->ref));
        sl_schema_cs_fail(cs, "\"$ref\" %s: the target is not a schema", q);
        goto done;
    }
    snprintf(cs->path, sizeof cs->path, "%s", hash ? hash + 1 : "");
    cs->path_len = strlen(cs->path);
    n->ref_node = sl_schema_get_node(cs, target, base, 0);
    rc = n->ref_node ? 0 : -1;
done:
    if (rc < 0 && cs->err && cs->errlen && !cs->err[0])
        sl_schema_cs_fail(cs, "out of memory");
    free(base);
    free(frag_copy);
    return rc;
}
