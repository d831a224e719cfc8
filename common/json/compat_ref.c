/* The parts of the compatibility checker beyond single keywords: the report
 * and its pointers, following local "$ref"s, structural equality, and the
 * combinators (allOf/anyOf proven branch by branch; oneOf, not, if/then/else
 * only when unchanged). Anything not proven is reported as unverifiable. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json/compat_internal.h"

#define MAX_REF_HOPS 32

/* ---- Report ---- */

void cx_add(cx *x, const char *ptr, int unverifiable, const char *fmt, ...)
{
    sl_compat_report *r = x->rep;
    sl_compat_change *c;
    va_list ap;

    char msg[sizeof c->message];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < r->n; i++) /* the same change reached twice (e.g. items + additionalItems) */
        if (r->changes[i].unverifiable == unverifiable && strcmp(r->changes[i].message, msg) == 0 &&
            strncmp(r->changes[i].pointer, ptr, sizeof c->pointer - 1) == 0)
            return;
    if (r->n >= SL_COMPAT_MAX_CHANGES) {
        r->truncated = 1;
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        sl_compat_change *v = realloc(r->changes, cap * sizeof *v);
        if (v == NULL) {
            x->oom = 1;
            return;
        }
        r->changes = v;
        r->cap = cap;
    }
    c = &r->changes[r->n++];
    snprintf(c->pointer, sizeof c->pointer, "%s", ptr);
    c->unverifiable = unverifiable;
    memcpy(c->message, msg, sizeof c->message);
}

void sl_compat_report_free(sl_compat_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->changes);
    memset(rep, 0, sizeof *rep);
}

const char *sl_compat_where(const char *pointer)
{
    return pointer[0] != '\0' ? pointer : "(root)";
}

const char *sl_compat_format(const sl_compat_change *c, char *buf, size_t n)
{
    if (c->unverifiable)
        snprintf(buf, n, "unverifiable change at %s (%s)", sl_compat_where(c->pointer), c->message);
    else
        snprintf(buf, n, "%s: %s", sl_compat_where(c->pointer), c->message);
    return buf;
}

static void join_raw(char *out, const char *ptr, const char *tok)
{
    if ((size_t)snprintf(out, CX_PTR_MAX, "%s/%s", ptr, tok) >= CX_PTR_MAX)
        memcpy(out + CX_PTR_MAX - 4, "...", 4);
}

void cx_join(char *out, const char *ptr, const char *key)
{
    char tok[CX_PTR_MAX];
    size_t k = 0;

    for (const char *s = key; *s != '\0' && k + 3 < sizeof tok; s++) {
        if (*s == '~' || *s == '/') {
            tok[k++] = '~';
            tok[k++] = *s == '~' ? '0' : '1';
        } else {
            tok[k++] = *s;
        }
    }
    tok[k] = '\0';
    join_raw(out, ptr, tok);
}

void cx_join_index(char *out, const char *ptr, size_t i)
{
    char tok[24];
    snprintf(tok, sizeof tok, "%zu", i);
    join_raw(out, ptr, tok);
}

/* ---- $ref ---- */

/* One JSON-pointer token of ref (from *p to the next '/'), decoded (%XX, ~0,
 * ~1) into out. Returns 0, or -1 if it does not fit or is malformed. */
static int next_token(const char **p, char *out, size_t n)
{
    size_t k = 0;
    const char *s = *p;

    while (*s != '\0' && *s != '/') {
        char ch = *s++;
        if (ch == '%') {
            char hex[3] = {s[0], s[0] ? s[1] : '\0', '\0'};
            char *end;
            long v = strtol(hex, &end, 16);
            if (hex[0] == '\0' || hex[1] == '\0' || *end != '\0')
                return -1;
            ch = (char)v;
            s += 2;
        }
        if (ch == '~') {
            if (*s != '0' && *s != '1')
                return -1;
            ch = *s++ == '0' ? '~' : '/';
        }
        if (k + 1 >= n)
            return -1;
        out[k++] = ch;
    }
    out[k] = '\0';
    *p = s;
    return 0;
}

/* The node the local pointer ref ("#", "#/a/b") names in root, or NULL. */
static const cJSON *follow(const cJSON *root, const char *ref)
{
    const cJSON *cur = root;
    const char *p = ref + 1;
    char tok[512];

    while (*p == '/') {
        p++;
        if (next_token(&p, tok, sizeof tok) != 0)
            return NULL;
        if (cJSON_IsObject(cur)) {
            cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        } else if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            if (tok[0] == '\0' || *end != '\0' || i < 0)
                return NULL;
            cur = cJSON_GetArrayItem(cur, (int)i);
        } else {
            return NULL;
        }
        if (cur == NULL)
            return NULL;
    }
    return *p == '\0' ? cur : NULL;
}

const cJSON *cx_resolve(const cJSON *root, const cJSON *node, const char **ref)
{
    for (int hops = 0; hops < MAX_REF_HOPS; hops++) {
        const cJSON *r = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, "$ref") : NULL;
        const cJSON *target;

        if (r == NULL || !cJSON_IsString(r))
            return node;
        *ref = r->valuestring;
        if (r->valuestring[0] != '#' || (r->valuestring[1] != '\0' && r->valuestring[1] != '/'))
            return NULL; /* remote, relative to an $id, or a plain-name anchor */
        target = follow(root, r->valuestring);
        if (target == NULL)
            return NULL;
        node = target;
    }
    return NULL;
}

/* Structural equality with refs followed; depth bounds cycles (a cycle that
 * deep is "not proven equal"). */
static int same_at(cx *x, const cJSON *o, const cJSON *n, int depth)
{
    const char *ro = NULL, *rn = NULL;
    const cJSON *a, *b;

    if (depth > CX_MAX_DEPTH)
        return 0;
    a = cx_resolve(x->old_root, o, &ro);
    b = cx_resolve(x->new_root, n, &rn);
    if (a == NULL || b == NULL) /* an unfollowed ref: equal only as the same remote text */
        return a == NULL && b == NULL && strcmp(ro, rn) == 0 && ro[0] != '#';
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *it;
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
            return 0;
        cJSON_ArrayForEach(it, a)
        {
            const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, it->string);
            if (other == NULL || !same_at(x, it, other, depth + 1))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        const cJSON *i = a->child, *j = b->child;
        for (; i != NULL && j != NULL; i = i->next, j = j->next)
            if (!same_at(x, i, j, depth + 1))
                return 0;
        return i == NULL && j == NULL;
    }
    return cJSON_Compare(a, b, 1);
}

int cx_same(cx *x, const cJSON *o, const cJSON *n)
{
    return same_at(x, o, n, 0);
}

/* allOf: each NEW branch must accept everything OLD accepts; proven when some
 * OLD branch compares clean against it. anyOf: each OLD branch must be covered
 * by some NEW branch. */
static void branches(cx *x, const cJSON *o, const cJSON *n, const char *ptr, const char *kw)
{
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(o, kw);
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(n, kw);
    const cJSON *outer, *inner;
    int all = strcmp(kw, "allOf") == 0;
    char at[CX_PTR_MAX];
    size_t i = 0;

    cx_join(at, ptr, kw);
    if (nb == NULL)
        return; /* dropping allOf/anyOf only widens */
    if (ob == NULL) {
        if (all) {
            cx_add(x, at, 1, "allOf added");
            return;
        }
        /* anyOf added: OLD (the whole node) must fit one of the branches */
        cJSON_ArrayForEach(inner, nb)
        {
            if (cx_clean(x, o, inner, at))
                return;
        }
        cx_add(x, at, 1, "anyOf added");
        return;
    }
    const cJSON *outers = all ? nb : ob, *inners = all ? ob : nb;
    cJSON_ArrayForEach(outer, outers)
    {
        int proven = 0;
        char here[CX_PTR_MAX];
        cx_join_index(here, at, i++);
        cJSON_ArrayForEach(inner, inners)
        {
            if (all ? cx_clean(x, inner, outer, here) : cx_clean(x, outer, inner, here)) {
                proven = 1;
                break;
            }
        }
        if (!proven)
            cx_add(x, here, 1, "%s branch %s", kw, all ? "added or changed" : "removed or changed");
    }
}

/* A keyword group that must stay identical when NEW has it. */
static void unchanged(cx *x, const cJSON *o, const cJSON *n, const char *ptr, const char *label, const char *const *kws)
{
    int in_new = 0, differs = 0;
    char at[CX_PTR_MAX];

    for (const char *const *k = kws; *k != NULL; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, *k);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(n, *k);
        in_new |= b != NULL;
        if ((a == NULL) != (b == NULL) || (a != NULL && !cx_same(x, a, b)))
            differs = 1;
    }
    if (!in_new || !differs)
        return; /* absent in NEW: removing a constraint only widens */
    cx_join(at, ptr, kws[0]);
    cx_add(x, at, 1, "%s added or changed", label);
}

void cx_combinators(cx *x, const cJSON *o, const cJSON *n, const char *ptr)
{
    static const char *const one_of[] = {"oneOf", NULL};
    static const char *const not_kw[] = {"not", NULL};
    static const char *const cond[] = {"if", "then", "else", NULL};

    branches(x, o, n, ptr, "allOf");
    branches(x, o, n, ptr, "anyOf");
    unchanged(x, o, n, ptr, "oneOf", one_of);
    unchanged(x, o, n, ptr, "not", not_kw);
    unchanged(x, o, n, ptr, "if/then/else", cond);
}
