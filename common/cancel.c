/* Cancelling a job from a C caller (cancel.h): the places of a job id in one
 * partition, found with plain reads, then one FCALL sluice_cancel that checks
 * each again and decides atomically. What the reads saw may be stale by then;
 * the function's reply says so (moved), and the search runs again. */
#include "common/cancel.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keys.h"
#include "common/streamid.h"
#include "common/util.h"

#define CANCEL_TRIES 3

/* The places found: (where, what) pairs of FCALL arguments, owned. */
typedef struct places {
    char **v;
    size_t n, cap;
    int truncated;
} places;

static void places_free(places *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i]);
    free(p->v);
    memset(p, 0, sizeof *p);
}

static int places_add(places *p, const char *where, const char *what)
{
    if (p->n + 2 > p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        char **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -1;
        p->v = v, p->cap = cap;
    }
    char *a = strdup(where), *b = strdup(what);
    if (!a || !b) {
        free(a), free(b);
        return -1;
    }
    p->v[p->n++] = a, p->v[p->n++] = b;
    return 0;
}

static int fail(char *err, size_t errlen, const char *what, const sl_redis *r, const redisReply *rep)
{
    snprintf(err, errlen, "%s failed: %s", what,
             !rep                             ? sl_redis_errstr(r)
             : rep->type == REDIS_REPLY_ERROR ? rep->str
                                              : "unexpected reply");
    return -1;
}

/* The value of field name of an entry's field list ("" when absent). */
static const char *entry_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; fields && fields->type == REDIS_REPLY_ARRAY && i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1]->str : "";
    return "";
}

/* Entries of stream key whose id field is job_id, newest first, at most
 * SL_CANCEL_SCAN_LIMIT read, each added as (where, stream id). 0 or -1. */
static int scan_stream(sl_redis *r, const char *key, const char *job_id, const char *where, places *p, char *err,
                       size_t errlen)
{
    char end[SL_STREAMID_MAX + 2] = "+";
    for (long n = 0; n < SL_CANCEL_SCAN_LIMIT;) {
        const char *argv[] = {"XREVRANGE", key, end, "-", "COUNT", "1000"};
        redisReply *rep = sl_redis_cmdargv(r, 6, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            int rc = fail(err, errlen, "XREVRANGE", r, rep);
            if (rep)
                freeReplyObject(rep);
            return rc;
        }
        size_t got = rep->elements;
        for (size_t i = 0; i < got; i++) {
            const redisReply *e = rep->element[i];
            if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
                strcmp(entry_field(e->element[1], "id"), job_id) == 0 &&
                places_add(p, where, e->element[0]->str) != 0) {
                freeReplyObject(rep);
                return fail(err, errlen, "cancel", r, NULL);
            }
        }
        if (got)
            snprintf(end, sizeof end, "(%s", rep->element[got - 1]->element[0]->str);
        freeReplyObject(rep);
        n += (long)got;
        if (got < 1000)
            return 0;
    }
    p->truncated = 1;
    return 0;
}

/* Scheduled entries of the job: members of sched (ZSCAN MATCH on the id) whose
 * decoded field list has id job_id. 0 or -1. */
static int find_scheduled(sl_redis *r, const char *sched, const char *job_id, places *p, char *err, size_t errlen)
{
    char pat[2 * SL_KEY_MAX + 3], cursor[32] = "0";
    sl_glob_containing(pat, sizeof pat, job_id);
    do {
        const char *argv[] = {"ZSCAN", sched, cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *rep = sl_redis_cmdargv(r, 7, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            int rc = fail(err, errlen, "ZSCAN", r, rep);
            if (rep)
                freeReplyObject(rep);
            return rc;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *m = rep->element[1];
        int bad = 0;
        for (size_t i = 0; i + 1 < m->elements && !bad; i += 2) {
            cJSON *j = cJSON_Parse(m->element[i]->str);
            const cJSON *f = cJSON_GetObjectItem(j, "f"), *it;
            int match = 0;
            for (it = f ? f->child : NULL; it && it->next; it = it->next->next)
                if (cJSON_IsString(it) && strcmp(it->valuestring, "id") == 0 && cJSON_IsString(it->next))
                    match = strcmp(it->next->valuestring, job_id) == 0;
            cJSON_Delete(j);
            bad = match && places_add(p, "sched", m->element[i]->str) != 0;
        }
        freeReplyObject(rep);
        if (bad)
            return fail(err, errlen, "cancel", r, NULL);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Every place of job_id in partition part. 0 or -1. */
static int find_places(sl_redis *r, const char *part, const char *job_id, places *p, char *err, size_t errlen)
{
    char stream[SL_KEY_MAX], sched[SL_KEY_MAX], retry[SL_KEY_MAX], where[SL_KEY_MAX];
    if (sl_key_stream(stream, sizeof stream, part) != 0 || sl_key_sched(sched, sizeof sched, part) != 0)
        return snprintf(err, errlen, "queue name too long"), -1;
    if (find_scheduled(r, sched, job_id, p, err, errlen) != 0)
        return -1;
    int direct = 0;
    if (sl_streamid_ms(job_id) >= 0) { /* a job without an id field is known by its stream id */
        const char *argv[] = {"XRANGE", stream, job_id, job_id};
        redisReply *rep = sl_redis_cmdargv(r, 4, argv, NULL);
        if (!rep || rep->type != REDIS_REPLY_ARRAY) {
            int rc = fail(err, errlen, "XRANGE", r, rep);
            if (rep)
                freeReplyObject(rep);
            return rc;
        }
        if (rep->elements == 1) {
            const char *id = entry_field(rep->element[0]->element[1], "id");
            direct = !*id || strcmp(id, job_id) == 0;
            if (direct && places_add(p, "stream", rep->element[0]->element[0]->str) != 0)
                direct = -1;
        }
        freeReplyObject(rep);
        if (direct < 0)
            return fail(err, errlen, "cancel", r, NULL);
    }
    if (!direct && scan_stream(r, stream, job_id, "stream", p, err, errlen) != 0)
        return -1;
    const char *argv[] = {"XINFO", "GROUPS", stream};
    redisReply *groups = sl_redis_cmdargv(r, 3, argv, NULL);
    if (!groups)
        return fail(err, errlen, "XINFO GROUPS", r, NULL);
    int rc = 0;
    for (size_t i = 0; groups->type == REDIS_REPLY_ARRAY && i < groups->elements && rc == 0; i++) {
        const char *g = entry_field(groups->element[i], "name");
        if (!*g || sl_key_retry(retry, sizeof retry, part, g) != 0 || sl_fmt(where, sizeof where, "retry:%s", g) != 0)
            continue;
        rc = scan_stream(r, retry, job_id, where, p, err, errlen);
    }
    freeReplyObject(groups); /* an error reply: no stream yet, so no groups */
    return rc;
}

static sl_cancel_verdict verdict_of(const char *s)
{
    if (strcmp(s, "cancelled") == 0)
        return SL_CANCEL_CANCELLED;
    if (strcmp(s, "already") == 0)
        return SL_CANCEL_ALREADY;
    if (strcmp(s, "finished") == 0)
        return SL_CANCEL_FINISHED;
    return SL_CANCEL_NOT_FOUND;
}

/* One FCALL sluice_cancel with the places. *moved gets its moved count. 0 or -1. */
static int call_cancel(sl_redis *r, const char *part, const char *job_id, int64_t ttl_s, const places *p,
                       sl_cancel_result *out, long long *moved, char *err, size_t errlen)
{
    char stream[SL_KEY_MAX], sched[SL_KEY_MAX], cancels[SL_KEY_MAX], record[2 * SL_KEY_MAX], ttl[SL_INT_TEXT_SIZE];
    if (sl_key_stream(stream, sizeof stream, part) != 0 || sl_key_sched(sched, sizeof sched, part) != 0 ||
        sl_key_cancels(cancels, sizeof cancels, part) != 0 ||
        sl_key_cancelled(record, sizeof record, part, job_id) != 0)
        return snprintf(err, errlen, "queue name or job id too long"), -1;
    sl_fmt_ll(ttl, ttl_s);
    const char **argv = malloc((10 + p->n) * sizeof *argv);
    if (!argv)
        return snprintf(err, errlen, "out of memory"), -1;
    int argc = 0;
    argv[argc++] = "FCALL", argv[argc++] = "sluice_cancel", argv[argc++] = "4", argv[argc++] = stream;
    argv[argc++] = sched, argv[argc++] = cancels, argv[argc++] = record, argv[argc++] = job_id, argv[argc++] = ttl;
    for (size_t i = 0; i < p->n; i++)
        argv[argc++] = p->v[i];
    redisReply *rep = sl_redis_cmdargv(r, argc, argv, NULL);
    free(argv);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 4 || rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING) {
        int rc = fail(err, errlen, "FCALL sluice_cancel", r, rep);
        if (rep)
            freeReplyObject(rep);
        return rc;
    }
    sl_cancel_verdict v = verdict_of(rep->element[0]->str);
    /* a later call's verdict only adds to an earlier cancel */
    if (out->verdict != SL_CANCEL_CANCELLED || v == SL_CANCEL_CANCELLED) {
        if (out->verdict != SL_CANCEL_CANCELLED)
            out->verdict = v;
        if (*rep->element[1]->str)
            snprintf(out->state, sizeof out->state, "%s", rep->element[1]->str);
    }
    out->open += rep->element[2]->type == REDIS_REPLY_INTEGER ? rep->element[2]->integer : 0;
    *moved = rep->element[3]->type == REDIS_REPLY_INTEGER ? rep->element[3]->integer : 0;
    freeReplyObject(rep);
    return 0;
}

int sl_cancel_job(sl_redis *r, const char *part, const char *job_id, int64_t ttl_s, sl_cancel_result *out, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->verdict = SL_CANCEL_NOT_FOUND;
    long long moved = 1;
    for (int t = 0; t < CANCEL_TRIES && moved > 0; t++) {
        places p = {0};
        int rc = find_places(r, part, job_id, &p, err, errlen);
        out->truncated |= p.truncated;
        if (rc == 0)
            rc = call_cancel(r, part, job_id, ttl_s, &p, out, &moved, err, errlen);
        places_free(&p);
        if (rc != 0)
            return -1;
    }
    return 0;
}

const char *sl_cancel_verdict_name(sl_cancel_verdict v)
{
    static const char *const names[] = {"cancelled", "already", "finished", "not_found"};
    return (unsigned)v < sizeof names / sizeof names[0] ? names[v] : "?";
}
