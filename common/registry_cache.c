/* The per-process validation cache of the schema registry (registry.h): a hash
 * table of type -> compiled schema, "no schema" or "does not compile", emptied
 * when sluice:{:schemas}:version changes. The version is read at most once per
 * interval, so a type without a schema costs no Redis round trip per job. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/registry.h"
#include "common/util.h"

#define NBUCKETS 256
/* Beyond this many cached types (e.g. many distinct unknown types) the cache
 * starts over rather than grow without bound. */
#define MAX_ENTRIES 4096

typedef enum entry_state { NO_SCHEMA, HAS_SCHEMA, BROKEN } entry_state;

typedef struct entry {
    struct entry *next;
    entry_state state;
    sl_schema *schema; /* HAS_SCHEMA */
    char *why; /* BROKEN: why the registered text does not compile */
    char type[];
} entry;

struct sl_registry_cache {
    sl_redis *redis;
    entry *buckets[NBUCKETS];
    size_t count;
    long long version; /* of the cached entries; -1 before the first read */
    int64_t checked_ms; /* monotonic time of the last version read */
    int64_t interval_ms;
};

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static void clear(sl_registry_cache *c)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        entry *e = c->buckets[i];
        while (e != NULL) {
            entry *next = e->next;
            sl_schema_free(e->schema);
            free(e->why);
            free(e);
            e = next;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
}

sl_registry_cache *sl_registry_cache_new(sl_redis *r)
{
    sl_registry_cache *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->redis = r;
    c->version = -1;
    c->interval_ms = SL_REGISTRY_REFRESH_MS;
    return c;
}

void sl_registry_cache_free(sl_registry_cache *c)
{
    if (c == NULL)
        return;
    clear(c);
    free(c);
}

void sl_registry_cache_set_interval(sl_registry_cache *c, int64_t ms)
{
    c->interval_ms = ms < 0 ? 0 : ms;
}

static int set_error(sl_schema_error *e, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(sl_schema_error *e, const char *keyword, const char *fmt, ...)
{
    va_list ap;

    if (e != NULL) {
        e->pointer[0] = '\0';
        snprintf(e->keyword, sizeof e->keyword, "%s", keyword);
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Be connected, then run argv. NULL with e set on failure or an error reply. */
static redisReply *query(sl_registry_cache *c, int argc, const char **argv, sl_schema_error *e)
{
    redisReply *rep = NULL;

    if (sl_redis_connected(c->redis) || sl_redis_connect(c->redis) == 0)
        rep = sl_redis_cmdargv(c->redis, argc, argv, NULL);
    if (rep == NULL) {
        set_error(e, "registry", "%s %s", argv[0], sl_redis_errstr(c->redis));
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        set_error(e, "registry", "%s failed: %.200s", argv[0], rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Re-read the version when the interval has passed; empty the cache when it
 * changed. 0, or -1 with e set. */
static int refresh(sl_registry_cache *c, sl_schema_error *e)
{
    const char *argv[2] = {"GET", SL_REGISTRY_VERSION_KEY};
    int64_t now = sl_now_mono_ms();
    long long v = 0;
    redisReply *rep;

    if (c->version >= 0 && now - c->checked_ms < c->interval_ms)
        return 0;
    rep = query(c, 2, argv, e);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING)
        v = strtoll(rep->str, NULL, 10);
    freeReplyObject(rep);
    if (v != c->version)
        clear(c);
    c->version = v;
    c->checked_ms = now;
    return 0;
}

/* Fetch, compile and cache type's schema. The entry, or NULL with e set. */
static entry *load(sl_registry_cache *c, const char *type, sl_schema_error *e)
{
    const char *argv[3] = {"HGET", SL_REGISTRY_KEY, type};
    size_t tlen = strlen(type);
    redisReply *rep;
    entry *ent;
    char why[300];

    rep = query(c, 3, argv, e);
    if (rep == NULL)
        return NULL;
    if (c->count >= MAX_ENTRIES)
        clear(c);
    ent = calloc(1, sizeof *ent + tlen + 1);
    if (ent == NULL) {
        freeReplyObject(rep);
        set_error(e, "registry", "out of memory caching the schema of %s", type);
        return NULL;
    }
    memcpy(ent->type, type, tlen + 1);
    ent->state = NO_SCHEMA;
    if (rep->type == REDIS_REPLY_STRING) {
        ent->schema = sl_schema_compile(rep->str, rep->len, why, sizeof why);
        ent->state = ent->schema != NULL ? HAS_SCHEMA : BROKEN;
        if (ent->schema == NULL && (ent->why = strdup(why)) == NULL) {
            freeReplyObject(rep);
            free(ent);
            set_error(e, "registry", "out of memory caching the schema of %s", type);
            return NULL;
        }
    }
    freeReplyObject(rep);
    ent->next = c->buckets[hash(type)];
    c->buckets[hash(type)] = ent;
    c->count++;
    return ent;
}

int sl_registry_validate(sl_registry_cache *c, const char *type, const char *payload, size_t len, sl_schema_error *e)
{
    entry *ent;

    if (c == NULL || type == NULL)
        return set_error(e, "registry", "no cache or no type");
    if (refresh(c, e) != 0)
        return -1;
    for (ent = c->buckets[hash(type)]; ent != NULL; ent = ent->next)
        if (strcmp(ent->type, type) == 0)
            break;
    if (ent == NULL && (ent = load(c, type, e)) == NULL)
        return -1;
    switch (ent->state) {
    case NO_SCHEMA:
        return 2;
    case BROKEN:
        return set_error(e, "schema", "the registered schema of %s does not compile: %s", type, ent->why);
    default:
        return sl_schema_validate(ent->schema, payload, len, e);
    }
}
