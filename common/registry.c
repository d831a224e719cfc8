/* The schema registry in Redis (registry.h): registering with an atomic
 * check-and-set (read the stored schema, compare, then FCALL sluice_schema_put
 * stores and bumps the version only if the stored schema is still the one
 * compared with; retried when another writer got in between), reading one
 * or all schemas, and loading config/schemas/TYPE.json files. */
#include "common/registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/util.h"

/* Attempts of the check-and-set before giving up under contention. */
#define CAS_ATTEMPTS 50

static void fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Be connected (one attempt). 0, or -1 with err. */
static int connected(sl_redis *r, char *err, size_t errlen)
{
    if (sl_redis_connected(r) || sl_redis_connect(r) == 0)
        return 0;
    fail(err, errlen, "%s", sl_redis_errstr(r));
    return -1;
}

/* Run a command; NULL (err set) on an I/O failure or an error reply. */
static redisReply *run(sl_redis *r, int argc, const char **argv, const size_t *lens, char *err, size_t errlen)
{
    redisReply *rep = sl_redis_cmdargv(r, argc, argv, lens);

    if (rep == NULL) {
        fail(err, errlen, "%s %s failed: %s", argv[0], argc > 1 ? argv[1] : "", sl_redis_errstr(r));
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fail(err, errlen, "%s %s failed: %.200s", argv[0], argc > 1 ? argv[1] : "", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* The canonical (compact) form of schema text, checked to compile. NULL with
 * err when it is not JSON or not a schema. */
static char *canonical(const char *json, size_t len, char *err, size_t errlen)
{
    char why[300];
    cJSON *doc;
    char *text;
    sl_schema *s;

    if (len > SL_REGISTRY_MAX_SCHEMA) {
        fail(err, errlen, "the schema is %zu bytes, more than %d", len, SL_REGISTRY_MAX_SCHEMA);
        return NULL;
    }
    s = sl_schema_compile(json, len, why, sizeof why);
    if (s == NULL) {
        fail(err, errlen, "not a valid schema: %s", why);
        return NULL;
    }
    sl_schema_free(s);
    doc = cJSON_ParseWithLength(json, len);
    text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text == NULL)
        fail(err, errlen, "out of memory");
    return text;
}

/* "change; change; ..." of a report into err after prefix. */
static void changes_text(const sl_compat_report *rep, const char *prefix, char *err, size_t errlen)
{
    size_t used;

    fail(err, errlen, "%s", prefix);
    for (size_t i = 0; err != NULL && i < rep->n; i++) {
        char line[700];
        used = strlen(err);
        snprintf(err + used, errlen - used, "%s%s", i == 0 ? ": " : "; ",
                 sl_compat_format(&rep->changes[i], line, sizeof line));
    }
}

/* One check-and-set attempt: read the stored schema, compare in C, then swap
 * with FCALL sluice_schema_put, which stores only when the stored schema is
 * still the one compared with. Returns the outcome, or -1 when someone
 * registered in between (try again). */
static int put_once(sl_redis *r, const char *type, const char *canon, sl_compat_report *rep, char *err, size_t errlen)
{
    const char *hget[3] = {"HGET", SL_REGISTRY_KEY, type};
    redisReply *old = NULL, *put;
    sl_reg_outcome out = SL_REG_ADDED;
    char msg[300];

    old = run(r, 3, hget, NULL, err, errlen);
    if (old == NULL)
        return SL_REG_FAILED;
    if (old->type == REDIS_REPLY_STRING) {
        sl_compat_report local = {0};
        sl_compat_report *cr = rep != NULL ? rep : &local;
        int rc;

        if (strlen(canon) == old->len && memcmp(canon, old->str, old->len) == 0) {
            out = SL_REG_UNCHANGED;
        } else if ((rc = sl_compat_check(old->str, old->len, canon, strlen(canon), cr, msg, sizeof msg)) < 0) {
            fail(err, errlen, "cannot compare with the registered schema of %s (%s); delete it with HDEL %s %s", type,
                 msg, SL_REGISTRY_KEY, type);
            out = SL_REG_INCOMPATIBLE;
        } else if (rc == 0) {
            char prefix[200];
            snprintf(prefix, sizeof prefix, "schema for %s is not compatible with the registered one", type);
            changes_text(cr, prefix, err, errlen);
            out = SL_REG_INCOMPATIBLE;
        } else {
            out = SL_REG_UPDATED;
        }
        sl_compat_report_free(&local);
    } else if (old->type != REDIS_REPLY_NIL) {
        fail(err, errlen, "HGET %s %s: unexpected reply type %d", SL_REGISTRY_KEY, type, old->type);
        freeReplyObject(old);
        return SL_REG_FAILED;
    }
    if (out == SL_REG_UNCHANGED || out == SL_REG_INCOMPATIBLE) {
        freeReplyObject(old);
        return (int)out;
    }
    int had = old->type == REDIS_REPLY_STRING;
    const char *argv[9] = {"FCALL",         "sluice_schema_put", "2",  SL_REGISTRY_KEY, SL_REGISTRY_VERSION_KEY, type,
                           had ? "1" : "0", had ? old->str : "", canon};
    size_t lens[9] = {5,
                      17,
                      1,
                      strlen(SL_REGISTRY_KEY),
                      strlen(SL_REGISTRY_VERSION_KEY),
                      strlen(type),
                      1,
                      had ? old->len : 0,
                      strlen(canon)};
    put = sl_redis_cmdargv(r, 9, argv, lens);
    if (put && sl_functions_missing(put)) { /* a server without the library (yet): load it, once */
        freeReplyObject(put);
        put = NULL;
        if (sl_functions_ensure(r, msg, sizeof msg) != 0)
            fail(err, errlen, "registering %s needs the sluice function library: %s", type, msg);
        else
            put = sl_redis_cmdargv(r, 9, argv, lens);
    } else if (!put) {
        fail(err, errlen, "FCALL sluice_schema_put failed: %s", sl_redis_errstr(r));
    }
    freeReplyObject(old);
    if (put == NULL)
        return SL_REG_FAILED;
    if (put->type != REDIS_REPLY_INTEGER) {
        fail(err, errlen, "FCALL sluice_schema_put %s: %.200s", type,
             put->type == REDIS_REPLY_ERROR ? put->str : "unexpected reply");
        freeReplyObject(put);
        return SL_REG_FAILED;
    }
    int stored = put->integer == 1;
    freeReplyObject(put);
    return stored ? (int)out : -1; /* 0: someone registered in between: compare again */
}

sl_reg_outcome sl_registry_put(sl_redis *r, const char *type, const char *json, size_t len, sl_compat_report *rep,
                               char *err, size_t errlen)
{
    char *canon;
    int rc = SL_REG_FAILED;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (type == NULL || !sl_valid_type(type, strlen(type))) {
        fail(err, errlen, "invalid type \"%.128s\" (expected [a-z0-9_.-]{1,128})", type != NULL ? type : "(null)");
        return SL_REG_INVALID;
    }
    if (json == NULL || (canon = canonical(json, len, err, errlen)) == NULL)
        return SL_REG_INVALID;
    if (connected(r, err, errlen) == 0) {
        for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
            if (rep != NULL)
                sl_compat_report_free(rep);
            rc = put_once(r, type, canon, rep, err, errlen);
            if (rc >= 0)
                break;
            sl_sleep_ms((int64_t)(sl_rand64() % (uint64_t)(5 + attempt * 5)), NULL);
        }
        if (rc < 0) {
            fail(err, errlen, "registering %s: %d concurrent changes in a row; try again", type, CAS_ATTEMPTS);
            rc = SL_REG_FAILED;
        }
    }
    free(canon);
    return (sl_reg_outcome)rc;
}

int sl_registry_register(sl_redis *r, const char *type, const char *schema_json, char *err, size_t errlen)
{
    sl_reg_outcome o =
        sl_registry_put(r, type, schema_json, schema_json != NULL ? strlen(schema_json) : 0, NULL, err, errlen);
    return o == SL_REG_ADDED || o == SL_REG_UPDATED || o == SL_REG_UNCHANGED ? 0 : -1;
}

int sl_registry_get(sl_redis *r, const char *type, char **out, size_t *len, char *err, size_t errlen)
{
    const char *argv[3] = {"HGET", SL_REGISTRY_KEY, type};
    redisReply *rep;
    int rc = 0;

    *out = NULL;
    if (connected(r, err, errlen) != 0 || (rep = run(r, 3, argv, NULL, err, errlen)) == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        *out = malloc(rep->len + 1);
        if (*out == NULL) {
            fail(err, errlen, "out of memory");
            rc = -1;
        } else {
            memcpy(*out, rep->str, rep->len);
            (*out)[rep->len] = '\0';
            if (len != NULL)
                *len = rep->len;
            rc = 1;
        }
    }
    freeReplyObject(rep);
    return rc;
}

static int by_type(const void *a, const void *b)
{
    return strcmp(((const sl_registry_entry *)a)->type, ((const sl_registry_entry *)b)->type);
}

void sl_registry_entries_free(sl_registry_entry *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].type);
        free(v[i].json);
    }
    free(v);
}

int sl_registry_list(sl_redis *r, sl_registry_entry **out, size_t *n, char *err, size_t errlen)
{
    const char *argv[2] = {"HGETALL", SL_REGISTRY_KEY};
    redisReply *rep;
    sl_registry_entry *v;
    size_t k = 0;

    *out = NULL;
    *n = 0;
    if (connected(r, err, errlen) != 0 || (rep = run(r, 2, argv, NULL, err, errlen)) == NULL)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY) {
        fail(err, errlen, "HGETALL %s: unexpected reply type %d", SL_REGISTRY_KEY, rep->type);
        freeReplyObject(rep);
        return -1;
    }
    v = calloc(rep->elements / 2 + 1, sizeof *v);
    for (size_t i = 0; v != NULL && i + 1 < rep->elements; i += 2) {
        const redisReply *f = rep->element[i], *val = rep->element[i + 1];
        v[k].type = strndup(f->str != NULL ? f->str : "", f->len);
        v[k].json = strndup(val->str != NULL ? val->str : "", val->len);
        v[k].len = val->len;
        if (v[k].type == NULL || v[k].json == NULL) {
            sl_registry_entries_free(v, k + 1);
            v = NULL;
        }
        k++;
    }
    freeReplyObject(rep);
    if (v == NULL) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    qsort(v, k, sizeof *v, by_type);
    *out = v;
    *n = k;
    return 0;
}

/* ---- config/schemas ---- */

/* Read a whole file of at most SL_REGISTRY_MAX_SCHEMA bytes. NULL with why. */
static char *read_small_file(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (f == NULL) {
        snprintf(why, whylen, "open failed: %s", strerror(errno));
        return NULL;
    }
    buf = malloc(SL_REGISTRY_MAX_SCHEMA + 1);
    if (buf == NULL) {
        snprintf(why, whylen, "out of memory");
    } else {
        n = fread(buf, 1, SL_REGISTRY_MAX_SCHEMA + 1, f);
        if (ferror(f) || n > SL_REGISTRY_MAX_SCHEMA) {
            snprintf(why, whylen, ferror(f) ? "read failed" : "larger than %d bytes", SL_REGISTRY_MAX_SCHEMA);
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
            *len = n;
        }
    }
    fclose(f);
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int json_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Append "FILE: reason" to the failure list in err. */
static void add_failure(char *err, size_t errlen, int *failures, const char *path, const char *why)
{
    size_t used = err != NULL ? strlen(err) : 0;

    if (err != NULL && used < errlen)
        snprintf(err + used, errlen - used, "%s%s: %s", (*failures)++ ? "; " : "", path, why);
}

int sl_registry_load_dir(sl_redis *r, const char *dir, char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int n, failures = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    n = scandir(dir, &names, json_file, by_name);
    if (n < 0) {
        if (errno == ENOENT)
            return 0;
        fail(err, errlen, "scandir(%s) failed: %s", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096], type[256], why[1024];
        size_t len = 0;
        char *text;
        sl_reg_outcome o;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        snprintf(type, sizeof type, "%.*s", (int)(strlen(names[i]->d_name) - 5), names[i]->d_name);
        if (!sl_valid_type(type, strlen(type))) {
            add_failure(err, errlen, &failures, path, "the file name must be TYPE.json with TYPE [a-z0-9_.-]{1,128}");
            continue;
        }
        text = read_small_file(path, &len, why, sizeof why);
        if (text == NULL) {
            add_failure(err, errlen, &failures, path, why);
            continue;
        }
        o = sl_registry_put(r, type, text, len, NULL, why, sizeof why);
        free(text);
        if (o == SL_REG_ADDED || o == SL_REG_UPDATED)
            SL_LOG(SL_INFO, o == SL_REG_ADDED ? "schema registered" : "schema updated", SL_S("type", type),
                   SL_S("file", path));
        else if (o != SL_REG_UNCHANGED)
            add_failure(err, errlen, &failures, path, why);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return failures > 0 ? -1 : 0;
}
