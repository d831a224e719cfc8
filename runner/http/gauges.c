/* Queue/group gauges: every supervisor.stats_interval, one pipelined round
 * per group on the maintenance connection (XLEN, ZCARD, XINFO GROUPS, XPENDING
 * of the work and retry streams, XLEN of the DLQ, TIME), then the stall
 * tracking of /healthz and the alerts; plus the XADD of the supervisor's
 * cumulative counters to sluice:{Q}:stats:G for `sluice stats`. The timer
 * is here; the samples go into the registry's groups (metrics.c), which never
 * calls back. A partitioned queue's round sends the commands of every
 * partition (one hash slot each) and adds their replies up: its gauges are the
 * queue's; the counters, being the group's, go to its first partition's
 * stats stream sluice:{Q#0}:stats:G. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/partition.h"
#include "common/streamid.h"
#include "common/util.h"
#include "runner/http/metrics.h"
#include "runner/maint/conn.h"

enum {
    SL_RQ_XLEN,
    SL_RQ_SCHED,
    SL_RQ_GROUPS,
    SL_RQ_RGROUPS,
    SL_RQ_PENDING,
    SL_RQ_RPENDING,
    SL_RQ_DLQ,
    SL_RQ_TIME,
    SL_RQ_STATS /* fire and forget: not part of the round */
};

int sl_gauges_redis_up(const sl_metrics *m)
{
    return m->owner.conn && sl_mconn_ready(m->owner.conn);
}

/* Milliseconds of a stream id "ms-seq": 0 when malformed, INT64_MAX when
 * larger (the callers skip 0). */
static int64_t sl_id_ms(const char *id)
{
    sl_streamid sid;
    if (sl_streamid_parse_incomplete(id, &sid) != 0)
        return 0;
    return sid.ms > INT64_MAX ? INT64_MAX : (int64_t)sid.ms;
}

static int sl_is_missing(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && (strstr(r->str, "no such key") || strstr(r->str, "NOGROUP"));
}

static int64_t sl_int_of(const redisReply *v)
{
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return -1; /* nil: unknown */
}

/* XINFO GROUPS: our group's pending, lag and entries-read. 0, or -1 when the
 * reply has an unexpected shape. */
static int sl_parse_groups(const redisReply *r, const char *group, int *exists, int64_t *pending, int64_t *lag,
                           int64_t *read)
{
    *exists = 0;
    *pending = *lag = *read = 0;
    if (sl_is_missing(r))
        return 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements % 2)
            continue;
        int mine = 0;
        for (size_t k = 0; k + 1 < e->elements; k += 2)
            if (e->element[k]->type == REDIS_REPLY_STRING && strcmp(e->element[k]->str, "name") == 0 &&
                e->element[k + 1]->type == REDIS_REPLY_STRING && strcmp(e->element[k + 1]->str, group) == 0)
                mine = 1;
        if (!mine)
            continue;
        *exists = 1;
        for (size_t k = 0; k + 1 < e->elements; k += 2) {
            const char *f = e->element[k]->type == REDIS_REPLY_STRING ? e->element[k]->str : "";
            int64_t v = sl_int_of(e->element[k + 1]);
            if (strcmp(f, "pending") == 0)
                *pending = v > 0 ? v : 0;
            else if (strcmp(f, "lag") == 0)
                *lag = v > 0 ? v : 0; /* nil (unknown after deletions): 0 */
            else if (strcmp(f, "entries-read") == 0)
                *read = v > 0 ? v : 0;
        }
    }
    return 0;
}

/* XPENDING summary: the oldest pending id's ms into *oldest (kept if older). */
static int sl_parse_pending(const redisReply *r, int64_t *oldest)
{
    if (sl_is_missing(r))
        return 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return -1;
    if (r->element[1]->type == REDIS_REPLY_STRING) {
        int64_t ms = sl_id_ms(r->element[1]->str);
        if (ms > 0 && (*oldest == 0 || ms < *oldest))
            *oldest = ms;
    }
    return 0;
}

/* Every reply of the round is in: publish the sample, track progress, alert. */
static void sl_gauges_finish(sl_mx_group *g)
{
    int64_t now = sl_now_mono_ms();
    if (g->round_failed)
        return; /* keep the last sample; /healthz reports Redis separately */
    int64_t lag = g->r_group_exists ? g->r_lag : (g->start_all ? g->r_xlen : 0);
    int64_t consumed = g->r_read + g->r_rread;
    g->xlen = g->r_xlen;
    g->sched = g->r_sched;
    g->dlq = g->r_dlq;
    g->pending = g->r_pending + g->r_rpending;
    g->lag = lag + g->r_rlag;
    g->oldest_age_ms = g->r_oldest_ms > 0 && g->r_time_ms > g->r_oldest_ms ? g->r_time_ms - g->r_oldest_ms : 0;
    if (!g->sampled || consumed != g->consumed || g->pending + g->lag == 0)
        g->progress_ms = now;
    g->consumed = consumed;
    g->sampled = 1;
    g->sampled_ms = now;
    sl_alerts_eval(g, now);
}

static void sl_gauges_on_reply(void *arg, redisReply *r)
{
    sl_mx_req *q = arg;
    sl_mx_group *g = q->g;
    int bad = 0;
    int64_t unused;
    if (q->kind == SL_RQ_STATS)
        return; /* best effort: the next round writes newer totals */
    if (!r) {
        bad = 1;
    } else {
        switch (q->kind) {
        case SL_RQ_XLEN:
        case SL_RQ_SCHED:
        case SL_RQ_DLQ: { /* summed over the partitions, like every count below */
            int64_t v = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
            bad = v < 0;
            *(q->kind == SL_RQ_XLEN ? &g->r_xlen : q->kind == SL_RQ_SCHED ? &g->r_sched : &g->r_dlq) += v;
            break;
        }
        case SL_RQ_GROUPS: { /* the group exists when it does in every partition */
            int exists;
            int64_t lag, read;
            bad = sl_parse_groups(r, g->group, &exists, &unused, &lag, &read) != 0;
            g->r_group_exists &= exists;
            g->r_lag += lag;
            g->r_read += read;
            break;
        }
        case SL_RQ_RGROUPS: {
            int exists;
            int64_t lag, read;
            bad = sl_parse_groups(r, g->group, &exists, &unused, &lag, &read) != 0;
            g->r_rlag += lag;
            g->r_rread += read;
            break;
        }
        case SL_RQ_PENDING:
        case SL_RQ_RPENDING:
            if (!sl_is_missing(r) && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                r->element[0]->type == REDIS_REPLY_INTEGER)
                *(q->kind == SL_RQ_PENDING ? &g->r_pending : &g->r_rpending) += r->element[0]->integer;
            bad = sl_parse_pending(r, &g->r_oldest_ms) != 0;
            break;
        case SL_RQ_TIME:
            bad = r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
                  r->element[1]->type != REDIS_REPLY_STRING;
            if (!bad)
                g->r_time_ms =
                    strtoll(r->element[0]->str, NULL, 10) * 1000 + strtoll(r->element[1]->str, NULL, 10) / 1000;
            break;
        default:
            break;
        }
    }
    if (bad)
        g->round_failed = 1;
    if (--g->outstanding == 0)
        sl_gauges_finish(g);
}

static void sl_gauges_send(sl_mconn *c, sl_mx_group *g, int kind, int argc, const char **argv)
{
    if (sl_mconn_call(c, SL_MCONN_NOW, sl_gauges_on_reply, &g->req[kind], argc, argv, NULL) != 0) {
        g->round_failed = 1;
        return;
    }
    if (kind != SL_RQ_STATS)
        g->outstanding++;
}

/* XADD sluice:{Q}:stats:G MAXLEN ~ 1000 * host H pid P processed ... dead ...
 * (Q: the queue's first partition, part). */
static void sl_gauges_stats(sl_metrics *m, sl_mconn *c, sl_mx_group *g, const char *part)
{
    char key[SL_KEY_MAX], pid[16], ok[24], unwritten[24], retried[24], dead[24];
    sl_mx_counts *t = malloc(sizeof *t);
    if (!t)
        return;
    sl_metrics_total(m, g, t);
    (void)snprintf(pid, sizeof pid, "%d", (int)getpid());
    (void)snprintf(ok, sizeof ok, "%llu", (unsigned long long)sl_mx_sum(t, SL_OUT_OK));
    (void)snprintf(unwritten, sizeof unwritten, "%llu", (unsigned long long)sl_mx_sum(t, SL_OUT_UNWRITTEN));
    (void)snprintf(retried, sizeof retried, "%llu", (unsigned long long)sl_mx_sum(t, SL_OUT_RETRY));
    (void)snprintf(dead, sizeof dead, "%llu", (unsigned long long)sl_mx_sum(t, SL_OUT_DEAD));
    free(t);
    if (sl_key_stats(key, sizeof key, part, g->group) != 0)
        return;
    const char *argv[] = {"XADD",      key,      "MAXLEN",    "~", "1000",    "*",     "host", m->owner.hostname,
                          "pid",       pid,      "processed", ok,  "retried", retried, "dead", dead,
                          "unwritten", unwritten};
    sl_gauges_send(c, g, SL_RQ_STATS, (int)(sizeof argv / sizeof argv[0]), argv);
}

/* One round for g: every command of every partition pipelined, the replies
 * counted down. */
static void sl_gauges_group(sl_metrics *m, sl_mconn *c, sl_mx_group *g)
{
    char stream[SL_KEY_MAX], retry[SL_KEY_MAX], sched[SL_KEY_MAX], dlq[SL_KEY_MAX], part[SL_PARTITION_NAME_MAX];
    int nparts = sl_part_count(m->cfg, g->queue);
    g->round_failed = 0;
    g->r_xlen = g->r_sched = g->r_dlq = g->r_time_ms = g->r_oldest_ms = 0;
    g->r_pending = g->r_lag = g->r_read = g->r_rpending = g->r_rlag = g->r_rread = 0;
    g->r_group_exists = 1;
    g->outstanding = 1; /* held until every command is out: no early finish */
    for (int i = 0; i < nparts; i++) {
        if (sl_part_name(part, sizeof part, g->queue, nparts, i) != 0 ||
            sl_key_stream(stream, sizeof stream, part) != 0 || sl_key_retry(retry, sizeof retry, part, g->group) ||
            sl_key_sched(sched, sizeof sched, part) != 0 || sl_key_dlq(dlq, sizeof dlq, part, g->group) != 0) {
            g->round_failed = 1; /* cannot happen: names are checked at load */
            break;
        }
        sl_gauges_send(c, g, SL_RQ_XLEN, 2, (const char *[]){"XLEN", stream});
        sl_gauges_send(c, g, SL_RQ_SCHED, 2, (const char *[]){"ZCARD", sched});
        sl_gauges_send(c, g, SL_RQ_GROUPS, 3, (const char *[]){"XINFO", "GROUPS", stream});
        sl_gauges_send(c, g, SL_RQ_RGROUPS, 3, (const char *[]){"XINFO", "GROUPS", retry});
        sl_gauges_send(c, g, SL_RQ_PENDING, 3, (const char *[]){"XPENDING", stream, g->group});
        sl_gauges_send(c, g, SL_RQ_RPENDING, 3, (const char *[]){"XPENDING", retry, g->group});
        sl_gauges_send(c, g, SL_RQ_DLQ, 2, (const char *[]){"XLEN", dlq});
    }
    sl_gauges_send(c, g, SL_RQ_TIME, 1, (const char *[]){"TIME"});
    if (sl_part_name(part, sizeof part, g->queue, nparts, 0) == 0)
        sl_gauges_stats(m, c, g, part);
    if (--g->outstanding == 0)
        sl_gauges_finish(g); /* nothing was accepted: round_failed is set */
}

/* Start one sample round for every active group (skips busy ones). */
static void sl_gauges_sample(sl_metrics *m)
{
    if (m->owner.view(m->owner.ctx)->closing || !sl_gauges_redis_up(m))
        return;
    for (sl_mx_group *g = m->groups; g; g = g->next)
        if (g->active && g->outstanding == 0)
            sl_gauges_group(m, m->owner.conn, g);
}

static void sl_gauges_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_alerts_redis_eval(arg, sl_now_mono_ms()); /* from the workers' slots: also while Redis fails */
    sl_gauges_sample(arg);
}

int sl_gauges_arm(sl_metrics *m)
{
    int64_t period = m->cfg->stats_interval_ms > 100 ? m->cfg->stats_interval_ms : 100;
    if (period != m->sample_ms) {
        struct timeval tv = {(time_t)(period / 1000), (suseconds_t)((period % 1000) * 1000)};
        m->sample_ms = period;
        event_del(m->sample_ev);
        if (event_add(m->sample_ev, &tv) != 0)
            return -1;
    }
    return 0;
}

int sl_gauges_start(sl_metrics *m)
{
    m->sample_ev = event_new(m->owner.base, -1, EV_PERSIST, sl_gauges_on_tick, m);
    if (!m->sample_ev)
        return -1;
    return sl_gauges_arm(m);
}
