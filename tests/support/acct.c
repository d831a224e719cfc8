/* Accounting checker (see acct.h): a table of job ids filled from the
 * producer's ids, the handler's record file and the dead-letter stream, and the
 * group's pending, scheduled and undelivered counters read from Redis. */
#include "acct.h"
#include "th.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBUCKETS 8192

typedef struct entry {
    struct entry *next;
    acct_job job;
    char id[];
} entry;

struct acct_ledger {
    char queue[128], group[128];
    int nparts; /* 1, or the queue's partitions (acct_set_partitions) */
    char *record_path;
    entry *buckets[NBUCKETS];
    long enqueued;
    acct_route_fn route; /* NULL: every key on the context acct_check gets */
    void *route_arg;
};

static const char *reason_names[] = {
#define X(r) #r,
    ACCT_REASONS
#undef X
};

const char *acct_reason_name(acct_reason r)
{
    return r < ACCT_NREASONS ? reason_names[r] : "?";
}

static unsigned hash(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % NBUCKETS;
}

static entry *find(const acct_ledger *a, const char *id)
{
    for (entry *e = a->buckets[hash(id)]; e; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    return NULL;
}

static entry *get(acct_ledger *a, const char *id)
{
    entry *e = find(a, id);
    if (e)
        return e;
    size_t len = strlen(id);
    e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        abort();
    memcpy(e->id, id, len + 1);
    unsigned h = hash(id);
    e->next = a->buckets[h];
    a->buckets[h] = e;
    return e;
}

acct_ledger *acct_new(const char *queue, const char *group, const char *record_path)
{
    acct_ledger *a = calloc(1, sizeof(*a));
    if (!a)
        abort();
    snprintf(a->queue, sizeof(a->queue), "%s", queue);
    a->nparts = 1;
    snprintf(a->group, sizeof(a->group), "%s", group);
    a->record_path = strdup(record_path);
    return a;
}

void acct_set_route(acct_ledger *a, acct_route_fn route, void *arg)
{
    a->route = route;
    a->route_arg = arg;
}

void acct_free(acct_ledger *a)
{
    if (!a)
        return;
    for (int i = 0; i < NBUCKETS; i++)
        for (entry *e = a->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(a->record_path);
    free(a);
}

void acct_add(acct_ledger *a, const char *job_id)
{
    entry *e = get(a, job_id);
    if (!e->job.enqueued)
        a->enqueued++;
    e->job.enqueued = 1;
}

const acct_job *acct_job_get(const acct_ledger *a, const char *job_id)
{
    const entry *e = find(a, job_id);
    return e ? &e->job : NULL;
}

static void reset(acct_ledger *a)
{
    for (int i = 0; i < NBUCKETS; i++)
        for (entry *e = a->buckets[i]; e; e = e->next) {
            int enq = e->job.enqueued;
            memset(&e->job, 0, sizeof(e->job));
            e->job.enqueued = enq;
        }
}

static void read_records(acct_ledger *a, acct_counts *k)
{
    FILE *f = fopen(a->record_path, "r");
    if (!f)
        return;
    char line[512], id[256];
    unsigned attempt, deliveries;
    long pid;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%255s %u %ld %u", id, &attempt, &pid, &deliveries) != 4)
            continue;
        entry *e = get(a, id);
        e->job.completions++;
        e->job.attempt = attempt;
        if (deliveries > e->job.deliveries_max)
            e->job.deliveries_max = deliveries;
        k->runs++;
    }
    fclose(f);
}

static long field_long(const redisReply *kv, const char *name)
{
    const redisReply *v = th_field(kv, name);
    return v && v->type == REDIS_REPLY_STRING ? strtol(v->str, NULL, 10) : -1;
}

static void dead_letter(acct_ledger *a, const redisReply *kv)
{
    const redisReply *id = th_field(kv, "id");
    if (!id || id->type != REDIS_REPLY_STRING)
        id = th_field(kv, "original_id");
    const redisReply *reason = th_field(kv, "reason");
    entry *e = get(a, id && id->type == REDIS_REPLY_STRING ? id->str : "(no id)");
    e->job.dead++;
    snprintf(e->job.reason, sizeof(e->job.reason), "%s",
             reason && reason->type == REDIS_REPLY_STRING ? reason->str : "(none)");
    e->job.attempts = field_long(kv, "attempts");
    e->job.deliveries = field_long(kv, "deliveries");
}

void acct_set_partitions(acct_ledger *a, int n)
{
    a->nparts = n;
}

/* The name of partition i of the queue: Q for one, Q#i. */
static const char *part_name(const acct_ledger *a, int i, char *buf, size_t n)
{
    if (a->nparts <= 1)
        snprintf(buf, n, "%s", a->queue);
    else
        snprintf(buf, n, "%s#%d", a->queue, i);
    return buf;
}

/* Every dead letter of the group in partition q, read in pages. Returns 0 or -1. */
static int read_dlq(acct_ledger *a, redisContext *c, const char *q)
{
    char start[64] = "-";
    for (;;) {
        redisReply *r = redisCommand(c, "XRANGE sluice:{%s}:dlq:%s %s + COUNT 1000", q, a->group, start);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        size_t n = r->elements;
        for (size_t i = 0; i < n; i++) {
            const redisReply *x = r->element[i];
            if (x->elements == 2 && x->element[1]->type == REDIS_REPLY_ARRAY)
                dead_letter(a, x->element[1]);
        }
        if (n)
            snprintf(start, sizeof(start), "(%s", r->element[n - 1]->element[0]->str);
        freeReplyObject(r);
        if (n < 1000)
            return 0;
    }
}

/* Every cancel record of partition q (SCAN sluice:{q}:cancelled:*). 0 or -1. */
static int read_cancels(acct_ledger *a, redisContext *c, const char *q)
{
    char cursor[32] = "0", prefix[200];
    snprintf(prefix, sizeof prefix, "sluice:{%s}:cancelled:", q);
    size_t plen = strlen(prefix);
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s* COUNT 1000", cursor, prefix);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            get(a, r->element[1]->element[i]->str + plen)->job.cancelled = 1;
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* XPENDING count of the group on `stream`: 0 when the stream does not exist,
 * -1 when the group is missing on an existing stream or Redis fails. */
static long pending_of(acct_ledger *a, redisContext *c, const char *stream)
{
    redisReply *r = redisCommand(c, "EXISTS %s", stream);
    long exists = r && r->type == REDIS_REPLY_INTEGER ? (long)r->integer : -1;
    if (r)
        freeReplyObject(r);
    if (exists <= 0)
        return exists;
    r = redisCommand(c, "XPENDING %s %s", stream, a->group);
    long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_INTEGER)
        n = (long)r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

/* 1 when the group has not yet read up to the stream's last id (0 for a
 * missing stream; 1 when the group is missing or Redis fails). */
static long undelivered_of(acct_ledger *a, redisContext *c, const char *stream)
{
    redisReply *s = redisCommand(c, "XINFO STREAM %s", stream);
    if (s && s->type == REDIS_REPLY_ERROR && strstr(s->str, "no such key")) {
        freeReplyObject(s);
        return 0;
    }
    redisReply *g = redisCommand(c, "XINFO GROUPS %s", stream);
    long out = 1;
    const redisReply *last = s && s->type == REDIS_REPLY_ARRAY ? th_field(s, "last-generated-id") : NULL;
    for (size_t i = 0; last && g && g->type == REDIS_REPLY_ARRAY && i < g->elements; i++) {
        const redisReply *name = th_field(g->element[i], "name");
        const redisReply *lid = th_field(g->element[i], "last-delivered-id");
        if (name && lid && strcmp(name->str, a->group) == 0)
            out = strcmp(lid->str, last->str) != 0;
    }
    if (s)
        freeReplyObject(s);
    if (g)
        freeReplyObject(g);
    return out;
}

int acct_check(acct_ledger *a, redisContext *c, acct_counts *k)
{
    memset(k, 0, sizeof(*k));
    reset(a);
    read_records(a, k);
    int rc = 0;
    redisContext *given = c;
    for (int i = 0; i < a->nparts; i++) {
        char q[160], main_key[300], retry_key[300];
        part_name(a, i, q, sizeof q);
        c = a->route ? a->route(a->route_arg, q) : given;
        if (read_dlq(a, c, q) != 0 || read_cancels(a, c, q) != 0)
            rc = -1;
        snprintf(main_key, sizeof(main_key), "sluice:{%s}", q);
        snprintf(retry_key, sizeof(retry_key), "sluice:{%s}:r:%s", q, a->group);
        long p1 = pending_of(a, c, main_key), p2 = pending_of(a, c, retry_key);
        if (p1 < 0 || p2 < 0 || k->pending < 0)
            k->pending = -1;
        else
            k->pending += p1 + p2;
        k->undelivered += undelivered_of(a, c, main_key) + undelivered_of(a, c, retry_key);
        redisReply *r = redisCommand(c, "ZCARD sluice:{%s}:sched", q);
        if (r && r->type == REDIS_REPLY_INTEGER && k->scheduled >= 0)
            k->scheduled += (long)r->integer;
        else
            k->scheduled = -1;
        if (!r || r->type != REDIS_REPLY_INTEGER || k->pending < 0)
            rc = -1;
        if (r)
            freeReplyObject(r);
    }

    k->enqueued = a->enqueued;
    for (int i = 0; i < NBUCKETS; i++)
        for (entry *e = a->buckets[i]; e; e = e->next) {
            const acct_job *j = &e->job;
            if (!j->enqueued) {
                if (j->completions || j->dead || j->cancelled)
                    k->unknown++;
                continue;
            }
            if (j->cancelled) {
                k->cancelled++;
                k->cancelled_ran += j->completions > 0;
            }
            if (j->completions)
                k->completed++;
            if (j->completions > 1)
                k->duplicates += j->completions - 1;
            if (j->dead) {
                k->dead++;
                k->dead_dups += j->dead - 1;
                acct_reason rr = ACCT_other;
                for (int x = 0; x < ACCT_other; x++)
                    if (strcmp(j->reason, reason_names[x]) == 0)
                        rr = (acct_reason)x;
                k->by_reason[rr]++;
            }
            if (j->completions && j->dead)
                k->both++;
            if (!j->completions && !j->dead && !j->cancelled)
                k->lost++;
        }
    return rc;
}

int acct_wait_settled(acct_ledger *a, redisContext *c, int timeout_ms, acct_counts *k)
{
    struct timespec t0, now, nap = {0, 100 * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int rc = acct_check(a, c, k);
        if (rc == 0 && k->lost == 0 && k->pending == 0 && k->scheduled == 0 && k->undelivered == 0)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L;
        if (ms >= timeout_ms)
            return 0;
        nanosleep(&nap, NULL);
    }
}

void acct_print(const char *name, const acct_counts *k)
{
    char reasons[512] = "";
    size_t n = 0;
    for (int r = 0; r < ACCT_NREASONS; r++)
        if (k->by_reason[r] && n < sizeof(reasons))
            n += (size_t)snprintf(reasons + n, sizeof(reasons) - n, "%s%s=%ld", n ? " " : "", reason_names[r],
                                  k->by_reason[r]);
    fprintf(stderr,
            "scenario %s: enqueued=%ld completed=%ld dead=%ld (%s) cancelled=%ld (ran %ld) duplicates=%ld lost=%ld"
            " both=%ld unknown=%ld dead_dups=%ld pending=%ld scheduled=%ld\n",
            name, k->enqueued, k->completed, k->dead, n ? reasons : "none", k->cancelled, k->cancelled_ran,
            k->duplicates, k->lost, k->both, k->unknown, k->dead_dups, k->pending, k->scheduled);
}

void acct_print_bad(const acct_ledger *a, int max)
{
    int n = 0;
    for (int i = 0; i < NBUCKETS; i++)
        for (const entry *e = a->buckets[i]; e; e = e->next)
            if (e->job.enqueued && (e->job.completions ? e->job.dead : !e->job.dead && !e->job.cancelled) && n++ < max)
                fprintf(stderr, "  %s job: %s (%d completions, dead letter: %s)\n",
                        e->job.completions ? "both" : "lost", e->id, e->job.completions,
                        e->job.dead ? e->job.reason : "none");
    if (n > max)
        fprintf(stderr, "  ... %d lost or both in all\n", n);
}
