/* URI reference resolution for "$id" and "$ref" (RFC 3986 section 5.2): each
 * subschema's base URI is its parent's resolved against its "$id", and a "$ref"
 * is resolved against the base of the schema holding it. */
#include <stdlib.h>
#include <string.h>

#include "common/json/internal.h"

/* Borrowed spans of a URI reference; a NULL start means "absent". */
typedef struct uri_parts {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_n, auth_n, path_n, query_n, frag_n;
} uri_parts;

static void uri_split(const char *u, uri_parts *p)
{
    memset(p, 0, sizeof *p);
    const char *c = u;
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    const char *s = c;
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
        while (*s && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.", *s))
            s++;
        if (*s == ':') {
            p->scheme = c;
            p->scheme_n = (size_t)(s - c);
            c = s + 1;
        }
    }
    if (c[0] == '/' && c[1] == '/') {
        c += 2;
        p->auth = c;
        p->auth_n = strcspn(c, "/?#");
        c += p->auth_n;
    }
    p->path = c;
    p->path_n = strcspn(c, "?#");
    c += p->path_n;
    if (*c == '?') {
        p->query = ++c;
        p->query_n = strcspn(c, "#");
        c += p->query_n;
    }
    if (*c == '#') {
        p->frag = ++c;
        p->frag_n = strlen(c);
    }
}

/* remove_dot_segments (RFC 3986 5.2.4) of in[0..n) into out (room for n + 1).
 * in is modified: "/." and "/.." at its end are rewritten to "/" in place. */
static void remove_dots(char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i < n) {
        char *r = in + i;
        size_t left = n - i;
        if (left >= 3 && !strncmp(r, "../", 3)) {
            i += 3;
        } else if (left >= 2 &&
                   !strncmp(r, "./", 2)) { // NOLINT(bugprone-branch-clone): rules A and B of 5.2.4 kept apart
            i += 2;
        } else if (left >= 3 && !strncmp(r, "/./", 3)) {
            i += 2;
        } else if (left == 2 && !strncmp(r, "/.", 2)) {
            r[1] = '/';
            i += 1;
        } else if ((left >= 4 && !strncmp(r, "/../", 4)) || (left == 3 && !strncmp(r, "/..", 3))) {
            if (left == 3) {
                r[2] = '/';
                i += 2;
            } else {
                i += 3;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else if ((left == 1 && r[0] == '.') || (left == 2 && !strncmp(r, "..", 2))) {
            i = n;
        } else {
            size_t seg = r[0] == '/' ? 1 : 0;
            while (seg < left && r[seg] != '/')
                seg++;
            memcpy(out + o, r, seg);
            o += seg;
            i += seg;
        }
    }
    out[o] = '\0';
}

static void put(char **w, const char *s, size_t n)
{
    memcpy(*w, s, n);
    *w += n;
}

/* remove_dots on a const span, through scratch (room for n + 1). */
static void remove_dots_copy(const char *p, size_t n, char *scratch, char *out)
{
    memcpy(scratch, p, n);
    remove_dots(scratch, n, out);
}

char *sl_schema_uri_resolve(const char *base, const char *ref)
{
    uri_parts b, r;
    uri_split(base ? base : "", &b);
    uri_split(ref, &r);
    size_t cap = strlen(base ? base : "") + strlen(ref) + 8;
    char *out = malloc(cap), *tmp = malloc(cap), *merged = malloc(cap);
    char *result = NULL;
    if (!out || !tmp || !merged)
        goto done;

    /* Target components (borrowed) and the path, built in tmp. */
    const char *scheme = NULL, *auth = NULL, *query = NULL;
    size_t scheme_n = 0, auth_n = 0, query_n = 0;
    if (r.scheme) {
        scheme = r.scheme, scheme_n = r.scheme_n;
        auth = r.auth, auth_n = r.auth_n;
        remove_dots_copy(r.path, r.path_n, merged, tmp);
        query = r.query, query_n = r.query_n;
    } else {
        scheme = b.scheme, scheme_n = b.scheme_n;
        if (r.auth) {
            auth = r.auth, auth_n = r.auth_n;
            remove_dots_copy(r.path, r.path_n, merged, tmp);
            query = r.query, query_n = r.query_n;
        } else {
            auth = b.auth, auth_n = b.auth_n;
            if (r.path_n == 0) {
                memcpy(tmp, b.path, b.path_n);
                tmp[b.path_n] = '\0';
                query = r.query ? r.query : b.query;
                query_n = r.query ? r.query_n : b.query_n;
            } else {
                if (r.path[0] == '/') {
                    remove_dots_copy(r.path, r.path_n, merged, tmp);
                } else {
                    /* merge: the base path up to its last "/", then the reference path */
                    char *m = merged;
                    if (b.auth && b.path_n == 0) {
                        *m++ = '/';
                    } else {
                        size_t k = b.path_n;
                        while (k > 0 && b.path[k - 1] != '/')
                            k--;
                        put(&m, b.path, k);
                    }
                    put(&m, r.path, r.path_n);
                    remove_dots(merged, (size_t)(m - merged), tmp);
                }
                query = r.query, query_n = r.query_n;
            }
        }
    }

    char *w = out;
    if (scheme) {
        put(&w, scheme, scheme_n);
        *w++ = ':';
    }
    if (auth) {
        put(&w, "//", 2);
        put(&w, auth, auth_n);
    }
    put(&w, tmp, strlen(tmp));
    if (query) {
        *w++ = '?';
        put(&w, query, query_n);
    }
    if (r.frag) {
        *w++ = '#';
        put(&w, r.frag, r.frag_n);
    }
    *w = '\0';
    result = out;
    out = NULL;
done:
    free(merged);
    free(tmp);
    free(out);
    return result;
}
