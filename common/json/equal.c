/* Deep JSON equality for "enum", "const" and "uniqueItems": numbers compare by
 * value (1 == 1.0), object members regardless of order. uniqueItems hashes and
 * sorts large arrays so 10k items cost O(n log n), not n^2 comparisons. All
 * work is counted against the validation step budget. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json/internal.h"

/* Equality recursion stops here even if both sides nest deeper (they cannot:
 * instances are checked to SL_SCHEMA_MAX_INSTANCE_DEPTH first). */
#define EQ_MAX_DEPTH (SL_SCHEMA_MAX_INSTANCE_DEPTH + 8)

static int kind(const cJSON *x)
{
    return cJSON_IsBool(x) ? cJSON_True : x->type & 0xFF;
}

int sl_schema_equal(sl_schema_vstate *st, const cJSON *a, const cJSON *b, int depth)
{
    if (sl_schema_step(st, 1) < 0)
        return -1;
    if (depth > EQ_MAX_DEPTH)
        return sl_schema_abort(st, "limit", "values nested too deeply to compare");
    if (kind(a) != kind(b))
        return 0;
    if (cJSON_IsBool(a))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    if (cJSON_IsNumber(a))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a))
        return !strcmp(a->valuestring, b->valuestring);
    if (cJSON_IsNull(a))
        return 1;
    int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
    if (na != nb)
        return 0;
    const cJSON *x, *y;
    if (cJSON_IsArray(a)) {
        for (x = a->child, y = b->child; x && y; x = x->next, y = y->next) {
            int r = sl_schema_equal(st, x, y, depth + 1);
            if (r <= 0)
                return r;
        }
        return 1;
    }
    cJSON_ArrayForEach(x, a)
    {
        if (sl_schema_step(st, (unsigned long)nb / 16 + 1) < 0)
            return -1;
        y = cJSON_GetObjectItemCaseSensitive(b, x->string);
        if (!y)
            return 0;
        int r = sl_schema_equal(st, x, y, depth + 1);
        if (r <= 0)
            return r;
    }
    return 1;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* A hash consistent with sl_schema_equal: equal values hash equal. */
static int hash(sl_schema_vstate *st, const cJSON *x, int depth, uint64_t *out)
{
    if (sl_schema_step(st, 1) < 0)
        return -1;
    if (depth > EQ_MAX_DEPTH)
        return sl_schema_abort(st, "limit", "values nested too deeply to compare");
    uint64_t h = (uint64_t)kind(x) * 0x9E3779B97F4A7C15ULL, c;
    const cJSON *y;
    if (cJSON_IsBool(x)) {
        h += cJSON_IsTrue(x);
    } else if (cJSON_IsNumber(x)) {
        double d = x->valuedouble == 0 ? 0.0 : x->valuedouble; /* -0 == 0 */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        h ^= bits;
    } else if (cJSON_IsString(x)) {
        h ^= str_hash(x->valuestring);
    } else if (cJSON_IsArray(x)) {
        cJSON_ArrayForEach(y, x)
        {
            if (hash(st, y, depth + 1, &c) < 0)
                return -1;
            h = mix(h) + c;
        }
    } else if (cJSON_IsObject(x)) {
        cJSON_ArrayForEach(y, x)
        { /* order-independent: a sum of per-member hashes */
            if (hash(st, y, depth + 1, &c) < 0)
                return -1;
            h += mix(str_hash(y->string) ^ mix(c));
        }
    }
    *out = mix(h);
    return 0;
}

typedef struct hitem {
    uint64_t h;
    size_t i;
    const cJSON *x;
} hitem;

static int hitem_cmp(const void *a, const void *b)
{
    const hitem *p = a, *q = b;
    if (p->h != q->h)
        return p->h < q->h ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

int sl_schema_unique(sl_schema_vstate *st, const cJSON *arr, size_t *oi, size_t *oj)
{
    size_t n = (size_t)cJSON_GetArraySize(arr), k = 0, best_j = SIZE_MAX, best_i = 0;
    int rc = -1;
    hitem *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return sl_schema_abort(st, "limit", "out of memory checking uniqueItems");
    const cJSON *x;
    cJSON_ArrayForEach(x, arr)
    {
        v[k] = (hitem){0, k, x};
        if (hash(st, x, 0, &v[k].h) < 0)
            goto done;
        k++;
    }
    qsort(v, n, sizeof *v, hitem_cmp);
    /* Within each run of equal hashes (sorted by index), find the smallest j
     * that equals an earlier item: that is the first duplicate in the array. */
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && v[b].h == v[a].h)
            b++;
        for (size_t j = a + 1; j < b && v[j].i < best_j; j++) {
            for (size_t i = a; i < j; i++) {
                int r = sl_schema_equal(st, v[i].x, v[j].x, 0);
                if (r < 0)
                    goto done;
                if (r) {
                    best_j = v[j].i;
                    best_i = v[i].i;
                    break;
                }
            }
        }
        a = b;
    }
    if (best_j != SIZE_MAX) {
        *oi = best_i;
        *oj = best_j;
    }
    rc = best_j == SIZE_MAX;
done:
    free(v);
    return rc;
}
