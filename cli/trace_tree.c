/* `sluice trace` model and output (see trace_int.h): jobs keyed by queue and
 * id, their per-group outcomes, causation links, and the tree printed for
 * people (one job a line, one group outcome a line under it) or as JSON. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cli.h"
#include "cli/trace_int.h"
#include "common/streamid.h"
#include "common/trace.h"
#include "common/util.h"

#define MAX_DEPTH 64 /* deeper chains are cut (and causation cycles stopped) */

static char *xstrdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        abort();
    return d;
}

tr_job *tr_job_get(tr_trace *t, const char *queue, const char *id)
{
    for (size_t i = 0; i < t->njobs; i++)
        if (strcmp(t->jobs[i].id, id) == 0 && strcmp(t->jobs[i].queue, queue) == 0)
            return &t->jobs[i];
    if (t->njobs == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        tr_job *nj = realloc(t->jobs, cap * sizeof(*nj));
        if (!nj)
            abort();
        t->jobs = nj;
        t->cap = cap;
    }
    tr_job *j = &t->jobs[t->njobs++];
    memset(j, 0, sizeof(*j));
    j->id = xstrdup(id);
    j->queue = xstrdup(queue);
    j->parent = -1;
    return j;
}

tr_outcome *tr_outcome_get(tr_job *j, const char *group)
{
    for (size_t i = 0; i < j->nout; i++)
        if (strcmp(j->out[i].group, group) == 0)
            return &j->out[i];
    tr_outcome *no = realloc(j->out, (j->nout + 1) * sizeof(*no));
    if (!no)
        abort();
    j->out = no;
    tr_outcome *o = &j->out[j->nout++];
    memset(o, 0, sizeof(*o));
    o->group = xstrdup(group);
    o->attempts = -1;
    return o;
}

void tr_note(tr_trace *t, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char **nn = realloc(t->notes, (t->nnotes + 1) * sizeof(*nn));
    if (!nn)
        abort();
    t->notes = nn;
    t->notes[t->nnotes++] = xstrdup(buf);
}

/* Enqueue order: enqueued_at, then stream id. */
static int earlier(const tr_job *a, const tr_job *b)
{
    if (a->enqueued_at_ms != b->enqueued_at_ms)
        return a->enqueued_at_ms < b->enqueued_at_ms;
    return sl_streamid_cmp_text(a->stream_id ? a->stream_id : "", b->stream_id ? b->stream_id : "") < 0;
}

static int by_group(const void *a, const void *b)
{
    return strcmp(((const tr_outcome *)a)->group, ((const tr_outcome *)b)->group);
}

void tr_link(tr_trace *t)
{
    for (size_t i = 0; i < t->njobs; i++)
        if (t->jobs[i].nout > 1)
            qsort(t->jobs[i].out, t->jobs[i].nout, sizeof(tr_outcome), by_group);
    /* Sort the jobs themselves first, so roots and children come out in order. */
    for (size_t i = 1; i < t->njobs; i++)
        for (size_t k = i; k > 0 && earlier(&t->jobs[k], &t->jobs[k - 1]); k--) {
            tr_job tmp = t->jobs[k];
            t->jobs[k] = t->jobs[k - 1];
            t->jobs[k - 1] = tmp;
        }
    for (size_t i = 0; i < t->njobs; i++) {
        tr_job *j = &t->jobs[i];
        for (size_t p = 0; j->causation && p < t->njobs; p++) {
            if (p == i || strcmp(t->jobs[p].id, j->causation) != 0)
                continue;
            tr_job *par = &t->jobs[p];
            size_t *nk = realloc(par->kids, (par->nkids + 1) * sizeof(*nk));
            if (!nk)
                abort();
            par->kids = nk;
            par->kids[par->nkids++] = i;
            j->parent = (long)p;
            break;
        }
    }
}

void tr_free(tr_trace *t)
{
    for (size_t i = 0; i < t->njobs; i++) {
        tr_job *j = &t->jobs[i];
        for (size_t k = 0; k < j->nout; k++) {
            tr_outcome *o = &j->out[k];
            free(o->group), free(o->consumer), free(o->retry_stream_id), free(o->last_error);
            free(o->reason), free(o->error);
        }
        free(j->out), free(j->kids);
        free(j->id), free(j->type), free(j->queue), free(j->stream_id), free(j->causation), free(j->traceparent);
    }
    for (size_t i = 0; i < t->nqueues; i++) {
        for (size_t g = 0; g < t->queues[i].ngroups; g++)
            free(t->queues[i].groups[g]);
        free(t->queues[i].groups), free(t->queues[i].name);
    }
    for (size_t i = 0; i < t->nnotes; i++)
        free(t->notes[i]);
    free(t->jobs), free(t->queues), free(t->notes);
    memset(t, 0, sizeof(*t));
}

const char *tr_state_name(tr_state s)
{
    static const char *const names[] = {"not yet delivered", "pending",       "completed",
                                        "retry scheduled",   "dead-lettered", "unknown (entry trimmed)"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *tr_state_key(tr_state s)
{
    static const char *const keys[] = {"undelivered",     "pending",       "completed",
                                       "retry_scheduled", "dead_lettered", "unknown"};
    return (unsigned)s < sizeof(keys) / sizeof(keys[0]) ? keys[s] : "unknown";
}

/* ---- text ------------------------------------------------------------------- */

static int64_t root_time(const tr_trace *t)
{
    int64_t m = 0;
    for (size_t i = 0; i < t->njobs; i++)
        if (t->jobs[i].enqueued_at_ms && (!m || t->jobs[i].enqueued_at_ms < m))
            m = t->jobs[i].enqueued_at_ms;
    return m;
}

/* One group's outcome in words, with timing from enqueue. */
static void outcome_text(const tr_trace *t, const tr_job *j, const tr_outcome *o, char *buf, size_t n)
{
    char a[32], b[40];
    size_t len = (size_t)snprintf(buf, n, "%s: %s", o->group, tr_state_name(o->state));
    if (len >= n)
        return;
    if (o->state == TR_DEAD) {
        sl_cli_fmt_time(b, sizeof(b), o->failed_at_ms);
        sl_cli_fmt_age(a, sizeof(a), j->enqueued_at_ms && o->failed_at_ms ? o->failed_at_ms - j->enqueued_at_ms : 0);
        len += (size_t)snprintf(buf + len, n - len,
                                ", reason %s, error \"%s\", attempts %ld, failed_at %s (%s after enqueue)",
                                o->reason ? o->reason : "?", o->error ? o->error : "", o->attempts, b, a);
    } else if (o->state == TR_PENDING) {
        sl_cli_fmt_age(a, sizeof(a), o->idle_ms);
        len += (size_t)snprintf(buf + len, n - len, " on consumer %s, idle %s, %ld deliver%s",
                                o->consumer ? o->consumer : "?", a, o->deliveries, o->deliveries == 1 ? "y" : "ies");
    } else if (o->state == TR_RETRY_SCHEDULED) {
        sl_cli_fmt_time(b, sizeof(b), o->due_ms);
        len += (size_t)snprintf(buf + len, n - len, ": attempt %u due %s", o->due_attempt, b);
    }
    if (len < n && (o->state == TR_PENDING || o->state == TR_UNDELIVERED || o->state == TR_RETRY_SCHEDULED) &&
        j->enqueued_at_ms) {
        sl_cli_fmt_age(a, sizeof(a), t->now_ms - j->enqueued_at_ms);
        len += (size_t)snprintf(buf + len, n - len, " (open for %s)", a);
    }
    if (len < n && o->last_attempt)
        len += (size_t)snprintf(buf + len, n - len, "; retried %u time%s (last attempt %u)", o->retries,
                                o->retries == 1 ? "" : "s", o->last_attempt);
    if (len < n && o->last_error && o->state != TR_DEAD) /* truncated to fit: a display line */
        (void)sl_fmt(buf + len, n - len, ", last error \"%s\"", o->last_error);
}

static void print_job(const tr_trace *t, FILE *out, size_t i, const char *prefix, int last, int root, int depth)
{
    const tr_job *j = &t->jobs[i];
    char when[40], off[32], line[2048], pre[512];
    sl_cli_fmt_time(when, sizeof(when), j->enqueued_at_ms);
    sl_cli_fmt_age(off, sizeof(off), j->enqueued_at_ms ? j->enqueued_at_ms - root_time(t) : 0);
    fprintf(out, "%s%s%s  id %s  queue %s  enqueued %s (+%s)\n", prefix,
            root   ? ""
            : last ? "`-- "
                   : "+-- ",
            j->type ? j->type : "(no type)", j->id, j->queue, j->enqueued_at_ms ? when : "?", off);
    (void)sl_fmt(pre, sizeof(pre), "%s%s", prefix, root ? "" : last ? "    " : "|   "); /* deep trees are cut */
    const char *bar = j->nkids ? "|   " : "    ";
    if (root && j->causation)
        fprintf(out, "%s%s  caused by %s (not found)\n", pre, bar, j->causation);
    if (j->traceparent)
        fprintf(out, "%s%s  traceparent %s\n", pre, bar, j->traceparent);
    if (j->due_ms) {
        char sched[SL_KEY_MAX];
        sl_cli_fmt_time(when, sizeof(when), j->due_ms);
        (void)sl_key_sched(sched, sizeof(sched), j->queue); /* a queue name fits */
        fprintf(out, "%s%s  scheduled: waiting in %s until %s\n", pre, bar, sched, when);
    }
    for (size_t k = 0; k < j->nout; k++) {
        outcome_text(t, j, &j->out[k], line, sizeof(line));
        fprintf(out, "%s%s  %s%s\n", pre, bar, j->out[k].state == TR_DEAD ? "!! " : "", line);
    }
    if (depth >= MAX_DEPTH) {
        if (j->nkids)
            fprintf(out, "%s    ... (deeper jobs not shown)\n", pre);
        return;
    }
    for (size_t k = 0; k < j->nkids; k++)
        print_job(t, out, j->kids[k], pre, k + 1 == j->nkids, 0, depth + 1);
}

void tr_print_text(const tr_trace *t, FILE *out)
{
    char tid[SL_TRACE_ID_SIZE] = "";
    for (size_t i = 0; i < t->njobs && !tid[0]; i++)
        sl_trace_id(t->jobs[i].traceparent, tid);
    fprintf(out, "correlation_id %s: %zu job%s", t->correlation, t->njobs, t->njobs == 1 ? "" : "s");
    if (tid[0])
        fprintf(out, ", trace id %s", tid);
    fprintf(out, "\n\n");
    for (size_t i = 0; i < t->njobs; i++)
        if (t->jobs[i].parent < 0)
            print_job(t, out, i, "", 1, 1, 0);
    long dead = 0;
    for (size_t i = 0; i < t->njobs; i++)
        for (size_t k = 0; k < t->jobs[i].nout; k++)
            dead += t->jobs[i].out[k].state == TR_DEAD;
    if (dead) {
        fprintf(out, "\n%ld dead letter%s:\n", dead, dead == 1 ? "" : "s");
        for (size_t i = 0; i < t->njobs; i++)
            for (size_t k = 0; k < t->jobs[i].nout; k++) {
                const tr_outcome *o = &t->jobs[i].out[k];
                if (o->state == TR_DEAD)
                    fprintf(out, "  %s %s in group %s: %s: %s\n", t->jobs[i].type ? t->jobs[i].type : "?",
                            t->jobs[i].id, o->group, o->reason ? o->reason : "?", o->error ? o->error : "");
            }
    }
    for (size_t i = 0; i < t->nnotes; i++)
        fprintf(out, "note: %s\n", t->notes[i]);
}

/* ---- JSON ------------------------------------------------------------------- */

static void add_str(cJSON *o, const char *name, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, name, v);
    else
        cJSON_AddNullToObject(o, name);
}

static void add_time(cJSON *o, const char *name, int64_t ms)
{
    char b[40];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    sl_cli_fmt_time(b, sizeof(b), ms);
    cJSON_AddStringToObject(o, name, b);
}

static cJSON *outcome_json(const tr_trace *t, const tr_job *j, const tr_outcome *o)
{
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "group", o->group);
    cJSON_AddStringToObject(g, "state", tr_state_key(o->state));
    if (o->state == TR_PENDING) {
        add_str(g, "consumer", o->consumer);
        cJSON_AddNumberToObject(g, "idle_ms", (double)o->idle_ms);
        cJSON_AddNumberToObject(g, "deliveries", (double)o->deliveries);
    }
    if (o->state == TR_DEAD) {
        add_str(g, "reason", o->reason);
        add_str(g, "error", o->error);
        sl_cli_json_num_or_null(g, "attempts", (double)o->attempts, o->attempts < 0);
        add_time(g, "failed_at", o->failed_at_ms);
        sl_cli_json_num_or_null(g, "elapsed_ms", (double)(o->failed_at_ms - j->enqueued_at_ms),
                                !o->failed_at_ms || !j->enqueued_at_ms);
    } else if (o->state != TR_COMPLETED && o->state != TR_UNKNOWN) {
        sl_cli_json_num_or_null(g, "elapsed_ms", (double)(t->now_ms - j->enqueued_at_ms), !j->enqueued_at_ms);
    }
    if (o->state == TR_RETRY_SCHEDULED) {
        cJSON_AddNumberToObject(g, "due_attempt", o->due_attempt);
        add_time(g, "due_at", o->due_ms);
    }
    cJSON_AddNumberToObject(g, "retries", o->retries);
    cJSON_AddNumberToObject(g, "last_attempt", o->last_attempt);
    add_str(g, "last_error", o->last_error);
    return g;
}

static cJSON *job_json(const tr_trace *t, size_t i, int depth)
{
    const tr_job *j = &t->jobs[i];
    char tid[SL_TRACE_ID_SIZE];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    add_str(o, "type", j->type);
    cJSON_AddStringToObject(o, "queue", j->queue);
    add_str(o, "stream_id", j->stream_id);
    add_time(o, "enqueued_at", j->enqueued_at_ms);
    sl_cli_json_num_or_null(o, "enqueued_at_ms", (double)j->enqueued_at_ms, !j->enqueued_at_ms);
    add_str(o, "causation_id", j->causation);
    add_str(o, "traceparent", j->traceparent);
    add_str(o, "trace_id", sl_trace_id(j->traceparent, tid) == 0 ? tid : NULL);
    if (j->due_ms)
        add_time(o, "scheduled_until", j->due_ms);
    cJSON *groups = cJSON_AddArrayToObject(o, "groups");
    for (size_t k = 0; k < j->nout; k++)
        cJSON_AddItemToArray(groups, outcome_json(t, j, &j->out[k]));
    cJSON *kids = cJSON_AddArrayToObject(o, "children");
    for (size_t k = 0; depth < MAX_DEPTH && k < j->nkids; k++)
        cJSON_AddItemToArray(kids, job_json(t, j->kids[k], depth + 1));
    return o;
}

int tr_print_json(const tr_trace *t)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "correlation_id", t->correlation);
    cJSON_AddNumberToObject(root, "job_count", (double)t->njobs);
    cJSON *qs = cJSON_AddArrayToObject(root, "queues");
    for (size_t i = 0; i < t->nqueues; i++)
        cJSON_AddItemToArray(qs, cJSON_CreateString(t->queues[i].name));
    cJSON_AddNumberToObject(root, "entries_scanned", (double)t->scanned);
    cJSON *jobs = cJSON_AddArrayToObject(root, "jobs");
    for (size_t i = 0; i < t->njobs; i++)
        if (t->jobs[i].parent < 0)
            cJSON_AddItemToArray(jobs, job_json(t, i, 0));
    cJSON *notes = cJSON_AddArrayToObject(root, "notes");
    for (size_t i = 0; i < t->nnotes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(t->notes[i]));
    return sl_cli_print_json("trace", root);
}
