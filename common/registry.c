/* The schema registry in Redis (registry.h): registering with an atomic
 * check-and-set (WATCH the hash, compare the stored schema, MULTI HSET + INCR
 * the version, EXEC; retried when another writer got in between), reading one
 * or all schemas, and loading config/schemas/TYPE.json files. */
#include "common/registry.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

/* A command whose reply we only need to be a success. 0 or -1. */
static int run_ok(sl_redis *r, const char *cmd, char *err, size_t errlen)
{
    const char *argv[1] = {cmd};
    redisReply *rep = run(r, 1, argv, NULL, err, errlen);
    freeReplyObject(rep);
    return rep != NULL ? 0 : -1;
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

/* One check-and-set attempt. Returns the outcome, or -1 when EXEC found the
 * hash changed since WATCH (try again). */
static int put_once(sl_redis *r, const char *type, const char *canon, sl_compat_report *rep, char *err, size_t errlen)
{
    const char *watch[2] = {"WATCH", SL_REGISTRY_KEY};
    const char *hget[3] = {"HGET", SL_REGISTRY_KEY, type};
    const char *hset[4] = {"HSET", SL_REGISTRY_KEY, type, canon};
    const char *incr[2] = {"INCR", SL_REGISTRY_VERSION_KEY};
    size_t hset_lens[4] = {4, strlen(SL_REGISTRY_KEY), strlen(type), strlen(canon)};
    redisReply *old = NULL, *rep_exec;
    sl_reg_outcome out = SL_REG_ADDED;
    char msg[300];

    freeReplyObject(run(r, 2, watch, NULL, err, errlen)); /* an error shows up in HGET below */
    old = run(r, 3, hget, NULL, err, errlen);
    if (old == NULL)
        goto failed;
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
        goto failed;
    }
    freeReplyObject(old);
    old = NULL;
    if (out == SL_REG_UNCHANGED || out == SL_REG_INCOMPATIBLE)
        return run_ok(r, "UNWATCH", err, errlen) == 0 ? (int)out : SL_REG_FAILED;

    if (run_ok(r, "MULTI", err, errlen) != 0)
        goto failed;
    freeReplyObject(sl_redis_cmdargv(r, 4, hset, hset_lens)); /* QUEUED; errors surface at EXEC */
    freeReplyObject(sl_redis_cmdargv(r, 2, incr, NULL));
    rep_exec = run(r, 1, (const char *[]){"EXEC"}, NULL, err, errlen);
    if (rep_exec == NULL)
        return SL_REG_FAILED;
    if (rep_exec->type == REDIS_REPLY_NIL) {
        freeReplyObject(rep_exec);
        return -1; /* someone changed the hash: compare again */
    }
    if (rep_exec->type != REDIS_REPLY_ARRAY || rep_exec->elements != 2 ||
        rep_exec->element[0]->type == REDIS_REPLY_ERROR || rep_exec->element[1]->type == REDIS_REPLY_ERROR) {
        fail(err, errlen, "EXEC (HSET %s + INCR %s) failed: %.200s", SL_REGISTRY_KEY, SL_REGISTRY_VERSION_KEY,
             rep_exec->type == REDIS_REPLY_ARRAY && rep_exec->elements == 2
                 ? (rep_exec->element[0]->type == REDIS_REPLY_ERROR ? rep_exec->element[0]->str
                                                                    : rep_exec->element[1]->str)
                 : "unexpected reply");
        freeReplyObject(rep_exec);
        return SL_REG_FAILED;
    }
    freeReplyObject(rep_exec);
    return (int)out;

failed:
    freeReplyObject(old);
    if (sl_redis_connected(r)) {
        char ignored[64];
        run_ok(r, "DISCARD", ignored, sizeof ignored); /* fails harmlessly outside MULTI */
        run_ok(r, "UNWATCH", ignored, sizeof ignored);
    }
    return SL_REG_FAILED;
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
