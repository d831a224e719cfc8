/* The read loop over the pool's two streams, sluice:{Q} and sluice:{Q}:r:G.
 * After every (re)connect it loads the function library, replays this
 * consumer's own pending entries (one stream, one entry at a time), reclaims
 * entries idle past the lease (then every lease/2), and reads new ones (">",
 * BLOCK <= 2000 ms so signals are seen). Redis faults are waited out
 * (reconnect, recreate the groups, back off); the loop only ends on stop.
 * A partitioned queue (queues.<Q>.partitions N > 1) is N such pairs, one hash
 * slot each: every worker of the pool takes them in turn, one partition at a
 * time (see "Partitions" below), so each has consumers while any worker runs.
 * A pool of several queues (pools[].queues) reads each queue's partitions the
 * same way, one "lane" (queue partition) at a time, in priority order (see
 * "Several queues" below). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/partition.h"
#include "common/util.h"
#include "workers/batch.h"
#include "workers/pause.h"
#include "workers/prio.h"
#include "workers/reclaim.h"
#include "workers/session.h"
#include "workers/validation.h"
#include "workers/worker.h"

/* Loop state that survives iterations. */
typedef struct sl_consume {
    char cursor[SL_STREAM_ID_MAX]; /* replay position in replay_stream */
    int replaying; /* reading own pending entries, not ">" */
    int replay_stream; /* SL_STREAM_MAIN, then SL_STREAM_RETRY */
    int session_ready; /* function library checked on this connection */
    int eviction_checked;
    int group_ready;
    unsigned failures; /* consecutive failed rounds, drives the backoff */
    uint64_t replayed; /* entries seen in the current replay */
    sl_batch batch;
    sl_reclaim reclaim;
    sl_pause pause; /* sluice pause: read nothing while the group is paused */
    int count_cap; /* after a large reply: COUNT at most this (doubling back), 0 = none */
    char count[16], block[24]; /* XREADGROUP arguments as text */
    /* lanes (nlanes > 1: a partitioned queue, or several queues): the state
     * above is the current lane's; parts[] keeps the others' while the worker
     * is elsewhere */
    struct sl_part_state *parts;
    int nlanes; /* every partition of every queue of the pool */
    int lane; /* the one the worker is on */
    struct sl_lane *lanes; /* what each lane is */
    /* several queues (pools[].queues): the read cycle, see "Several queues" */
    int multi; /* pool->nqueues > 1 */
    int cluster; /* redis+cluster://: one command per hash slot, so no read of every lane */
    sl_prio prio;
    int *order; /* the lanes of the current cycle, in the order they are read */
    int norder, pos; /* their count, and the one being read */
    int qfirst[SL_POOL_QUEUES_MAX]; /* per queue: its first lane */
    int qcursor[SL_POOL_QUEUES_MAX]; /* per queue: the partition its next cycle starts with */
    int wait_all; /* a whole cycle came back empty: the next read blocks on every lane */
    const char **wait_argv; /* that read's arguments: 9 + 4 per lane */
    int blocking; /* cluster: a whole cycle came back empty, so lane reads block block/nlanes */
    int reads_here; /* reads with entries since the worker came to this partition */
    int idle_streak; /* empty reads in a row, over every partition */
    size_t last_read; /* entries the last read_and_run got */
    char part_block[24]; /* BLOCK of a read once every partition came back empty */
} sl_consume;

/* A lane: partition part of queue pool->queues[queue], and its stream keys
 * (for the read of every lane, wait_all_round). */
typedef struct sl_lane {
    int queue, part;
    char keys[SL_NSTREAMS][SL_KEY_MAX];
} sl_lane;

/* What the loop keeps of a lane while the worker is on another. */
typedef struct sl_part_state {
    char cursor[SL_STREAM_ID_MAX];
    int replaying, replay_stream, group_ready;
    uint64_t replayed;
    sl_reclaim reclaim;
    sl_pause pause;
    int64_t fence, batch_fence;
} sl_part_state;

/** Reads with entries of one partition before the worker moves on to the
 *  next (an empty read moves it at once): no partition waits longer than
 *  this many batches of each other one. */
#define SL_PART_TURN_READS 8

/* COUNT of the next ">" read: at most the cap a large reply set (see
 * read_and_run). With pools[].prefetch, about that much work: the
 * averaged handler time says how many entries that is (at least 1, at most
 * read_count), and no more than SL_PREFETCH_BYTES of fields, so a fast worker
 * reads deep (few round trips, read_count no-op jobs a read) and a slow one reads
 * one job at a time, leaving the rest to idle workers of the group. Before the
 * first job has run, SL_PREFETCH_FIRST. */
static int prefetch_count(const sl_worker *w, const sl_consume *c)
{
    int max = w->pool->read_count;
    if (c->count_cap > 0 && c->count_cap < max)
        max = c->count_cap;
    if (w->pool->prefetch_ms <= 0)
        return max;
    if (!w->jobs_timed)
        return max < SL_PREFETCH_FIRST ? max : SL_PREFETCH_FIRST;
    double n = (double)w->pool->prefetch_ms * 1000.0 / (w->job_avg_us > 1.0 ? w->job_avg_us : 1.0);
    if (w->entry_avg_bytes > 0 && n * w->entry_avg_bytes > SL_PREFETCH_BYTES)
        n = SL_PREFETCH_BYTES / w->entry_avg_bytes;
    if (n < 1)
        return 1;
    return n > max ? max : (int)n;
}

/* Wait before the next round after a failure: capped exponential backoff with
 * full jitter, interruptible by stop. */
static void back_off(sl_worker *w, sl_consume *c)
{
    int64_t delay = sl_backoff_ms(w->cfg->reconnect_min_ms, w->cfg->reconnect_max_ms, c->failures,
                                  w->cfg->reconnect_min_ms / 2 > 10 ? w->cfg->reconnect_min_ms / 2 : 10);
    if (c->failures < 64)
        c->failures++;
    sl_sleep_ms(delay, w->stop);
}

static void start_replay(sl_consume *c)
{
    c->replaying = 1;
    c->replay_stream = SL_STREAM_MAIN;
    c->replayed = 0;
    snprintf(c->cursor, sizeof(c->cursor), "0");
}

/* Log an error reply (or lost connection) and decide what to do next. */
static void read_error(sl_worker *w, sl_consume *c, const char *what, const redisReply *r)
{
    sl_worker_redis_error(w, r);
    if (!r) {
        SL_LOG(SL_WARN, "redis read failed; reconnecting", SL_S("command", what),
               SL_S("error", sl_redis_errstr(w->redis)));
        return; /* the next round's sl_session_connect reconnects with backoff */
    }
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
    if (sl_redis_reply_is(r, "NOGROUP")) {
        SL_LOG(SL_WARN, "consumer group missing; recreating it", SL_S("command", what), SL_S("group", w->pool->group),
               SL_S("error", msg));
        c->group_ready = 0;
        start_replay(c);
        back_off(w, c); /* a group that keeps vanishing must not make us spin */
        return;
    }
    /* UNBLOCKED: a blocked read cut short by a role change (failover); transient. */
    int transient = sl_redis_reply_transient(r) || sl_redis_reply_is(r, "UNBLOCKED");
    SL_LOG(transient ? SL_WARN : SL_ERROR, "redis error; backing off", SL_S("command", what), SL_S("error", msg));
    back_off(w, c);
}

/* A fresh connection: the function library, and once per process (slot 0 of
 * the pool) the eviction-policy warning. Returns 0, or -1 to try again later. */
static int start_session(sl_worker *w, sl_consume *c)
{
    sl_session_rc rc = sl_session_functions(w);
    if (rc == SL_SESSION_FATAL) {
        w->exit_code = SL_EXIT_CONFIG;
        *w->stop = 1;
        return -1;
    }
    if (rc == SL_SESSION_OK) /* the registry's commands run on the connection: no ack reply may be in flight */
        rc = sl_acks_drain(w) == SL_WRITE_LOST ? SL_SESSION_RETRY : sl_schemas_register(w);
    if (rc == SL_SESSION_FATAL) {
        w->exit_code = SL_EXIT_CONFIG;
        *w->stop = 1;
        return -1;
    }
    if (rc != SL_SESSION_OK) {
        back_off(w, c);
        return -1;
    }
    if (!c->eviction_checked) {
        c->eviction_checked = 1;
        if (w->slot_index == 0)
            sl_session_check_eviction(w);
    }
    c->session_ready = 1;
    return 0;
}

static int ensure_groups(sl_worker *w, sl_consume *c)
{
    redisReply *failed = NULL;
    if (sl_session_groups(w, &failed) == 0) {
        c->group_ready = 1;
        return 0;
    }
    read_error(w, c, "XGROUP CREATE", failed);
    if (failed)
        freeReplyObject(failed);
    return -1;
}

/* Index of a stream key of ours, or -1. */
static int stream_index(const sl_worker *w, const redisReply *key)
{
    for (int s = 0; s < SL_NSTREAMS; s++)
        if (key->type == REDIS_REPLY_STRING && strcmp(key->str, w->keys[s]) == 0)
            return s;
    return -1;
}

/* Add every entry of an XREADGROUP reply ([[key, entries]...] or nil) to the
 * batch; with others, streams of other lanes (the read of every lane) are
 * left out rather than malformed. Returns 0, or -1 when the reply is malformed. */
static int add_streams(sl_worker *w, sl_batch *b, const redisReply *r, int others)
{
    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *x = r->element[i];
        int s = x->type == REDIS_REPLY_ARRAY && x->elements == 2 ? stream_index(w, x->element[0]) : -1;
        if (s < 0 && others && x->type == REDIS_REPLY_ARRAY && x->elements == 2)
            continue;
        if (s < 0 || sl_batch_add(b, s, x->element[1]) != 0)
            return -1;
    }
    return 0;
}

/* GET the group's fence (an idle worker: a read came back empty), so that a
 * hand-off by a stopping worker (sluice_release) brings its reclaim forward.
 * The value is read before the next read is sent, as an ack reply's would be,
 * so the next batch's acks may use it. Errors are left to the next read. */
static void read_fence(sl_worker *w)
{
    const char *argv[] = {"GET", w->fence_key};
    redisReply *r = sl_worker_cmd(w, 2, argv, NULL);
    if (r && r->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        if (end != r->str && *end == '\0' && v >= 0)
            w->fence = v;
    } else if (r && r->type == REDIS_REPLY_NIL) {
        w->fence = 0; /* as sluice_ack reports an unset fence */
    }
    if (r)
        freeReplyObject(r);
}

/* A read worked: the error streak ends (written only when it changes, so
 * the shared slot's cache line stays clean on the hot path). */
static void read_worked(sl_worker *w)
{
    if (atomic_load_explicit(&w->slot->redis_error_since_mono_ms, memory_order_relaxed) != 0) {
        atomic_store_explicit(&w->slot->redis_error_since_mono_ms, 0, memory_order_relaxed);
        atomic_store_explicit(&w->slot->redis_error_kind, SL_RERR_NONE, memory_order_relaxed);
    }
    if (!atomic_load_explicit(&w->slot->consumed, memory_order_relaxed))
        atomic_store_explicit(&w->slot->consumed, 1, memory_order_relaxed);
}

/* Read with XREADGROUP (argv), run what came back. replay: own pending
 * entries of one stream, one at a time, with counts from XPENDING. Returns 0,
 * or -1 when the read failed (logged, backed off). */
static int read_and_run(sl_worker *w, sl_consume *c, int argc, const char **argv, int replay)
{
    int64_t asked = sl_now_mono_ms(); /* the entries' leases may start any time after this */
    /* The cancel set's EXISTS goes in the same write, right after the read: it
     * tells whether the jobs this read brings must be checked (cancel.h). */
    const char *probe[2];
    redisReply *cancels = NULL;
    sl_cancel_probe_argv(w, probe);
    redisReply *r = sl_worker_cmd2(w, argc, argv, 2, probe, &cancels);
    sl_cancel_probe_result(w, cancels);
    if (cancels)
        freeReplyObject(cancels);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        read_error(w, c, "XREADGROUP", r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    read_worked(w);
    sl_batch *b = &c->batch;
    sl_batch_reset(b, replay, asked);
    if (add_streams(w, b, r, 0) != 0) {
        SL_LOG(SL_ERROR, "unexpected XREADGROUP reply shape; backing off", SL_I("type", r->type));
        freeReplyObject(r);
        sl_batch_reset(b, 0, 0);
        back_off(w, c);
        return -1;
    }
    c->last_read = b->n;
    if (b->n)
        w->entry_avg_bytes = (double)b->bytes / (double)b->n;
    /* A reply past SL_PREFETCH_BYTES (huge entries: hiredis holds the whole
     * reply) makes the next read COUNT 1, then COUNT doubles back read by read. */
    if (!replay) {
        if (b->bytes > (size_t)SL_PREFETCH_BYTES)
            c->count_cap = 1;
        else if (c->count_cap > 0)
            c->count_cap = c->count_cap >= w->pool->read_count ? 0 : 2 * c->count_cap;
    }
    if (!replay && b->n == 0 && !c->multi)
        read_fence(w); /* idle: no ack reply tells us of a hand-off (several queues: wait_all_round does) */
    if (replay && b->n == 0) { /* this stream's pending list is done */
        if (c->replay_stream == SL_STREAM_MAIN) {
            c->replay_stream = SL_STREAM_RETRY;
            snprintf(c->cursor, sizeof(c->cursor), "0");
        } else {
            c->replaying = 0;
            c->reclaim.next_mono_ms = 0; /* reclaim right after the start-up replay */
            if (c->replayed)
                SL_LOG(SL_INFO, "pending entries replayed", SL_I("entries", c->replayed));
        }
    } else if (replay) { /* advance even past entries left pending */
        snprintf(c->cursor, sizeof(c->cursor), "%s", b->v[b->n - 1].id);
        c->replayed += b->n;
    }
    int rc = 0;
    if (b->n && ((replay && sl_batch_deliveries(w, b) != 0) || sl_batch_run(w, b) != 0))
        rc = -1;
    sl_batch_reset(b, 0, 0);
    freeReplyObject(r);
    return rc;
}

/* ---- Partitions ---------------------------------------------------------
 * A worker of a partitioned queue works one partition at a time with all of
 * the single-queue machinery above (its keys: sl_worker_set_partition), and
 * moves on to the next after an empty read or SL_PART_TURN_READS reads with
 * entries. It moves only when nothing is in flight there: every ack answered,
 * no move held, no resync; its journal is per partition (journal names hold
 * the stream). Each partition keeps its replay, group, reclaim, pause and
 * fence state. One partition per command keeps every command in one hash
 * slot: a Redis Cluster node serves each read. */

static void part_save(const sl_worker *w, const sl_consume *c, sl_part_state *p)
{
    memcpy(p->cursor, c->cursor, sizeof(p->cursor));
    p->replaying = c->replaying;
    p->replay_stream = c->replay_stream;
    p->replayed = c->replayed;
    p->group_ready = c->group_ready;
    p->reclaim = c->reclaim;
    p->pause = c->pause;
    p->fence = w->fence;
    p->batch_fence = w->batch_fence;
}

static void part_load(sl_worker *w, sl_consume *c, const sl_part_state *p)
{
    memcpy(c->cursor, p->cursor, sizeof(c->cursor));
    c->replaying = p->replaying;
    c->replay_stream = p->replay_stream;
    c->replayed = p->replayed;
    c->group_ready = p->group_ready;
    c->reclaim = p->reclaim;
    c->pause = p->pause;
    w->fence = p->fence;
    w->batch_fence = p->batch_fence;
}

/* Open the journal of the worker's partition and queue what a predecessor
 * left in it. */
static void journal_open(sl_worker *w)
{
    if (sl_journal_open(&w->journal, w->cfg->redis_url, w->keys[SL_STREAM_MAIN], w->pool->group, w->consumer) == 0)
        sl_acks_recover(w);
}

/* Every lane's state at the start: replay own pending entries, make the
 * groups, reclaim after the replay. Returns 0, or -1 (out of memory, or
 * names too long). */
static int parts_init(sl_worker *w, sl_consume *c)
{
    const sl_pool_cfg *p = w->pool;
    c->multi = p->nqueues > 1;
    c->cluster = strncmp(w->cfg->redis_url, "redis+cluster://", 16) == 0;
    c->nlanes = 0;
    for (size_t q = 0; q < p->nqueues && q < SL_POOL_QUEUES_MAX; q++) {
        c->qfirst[q] = c->nlanes;
        c->nlanes += sl_part_count(w->cfg, p->queues[q].name);
    }
    if (c->nlanes <= 1)
        return 0;
    if (!(c->parts = calloc((size_t)c->nlanes, sizeof(*c->parts))) ||
        !(c->lanes = calloc((size_t)c->nlanes, sizeof(*c->lanes))) ||
        !(c->order = calloc((size_t)c->nlanes, sizeof(*c->order))) ||
        !(c->wait_argv = calloc(9 + 4 * (size_t)c->nlanes, sizeof(*c->wait_argv))))
        return -1;
    int64_t b = p->block_ms / c->nlanes;
    snprintf(c->part_block, sizeof(c->part_block), "%" PRId64, b > 0 ? b : 1); /* BLOCK 0 would block forever */
    for (int q = (int)p->nqueues - 1; q >= 0; q--) { /* ends on lane 0: partition 0 of the first queue */
        for (int i = sl_part_count(w->cfg, p->queues[q].name) - 1; i >= 0; i--) {
            int l = c->qfirst[q] + i;
            if (sl_worker_set_lane(w, q, i) != 0)
                return -1;
            c->lanes[l].queue = q;
            c->lanes[l].part = i;
            memcpy(c->lanes[l].keys, w->keys, sizeof(c->lanes[l].keys));
            start_replay(c);
            sl_reclaim_init(&c->reclaim);
            sl_pause_init(&c->pause, w);
            c->group_ready = 0;
            part_save(w, c, &c->parts[l]);
        }
    }
    c->lane = 0;
    sl_prio_init(&c->prio, p);
    return 0;
}

/* Move the worker to lane next when nothing is in flight on this one: every
 * ack answered, no move held, no resync, no replay under way. 0 when it is
 * there now, -1 when it stays (the next rounds settle what is in flight). */
static int switch_lane(sl_worker *w, sl_consume *c, int next)
{
    if (next == c->lane)
        return 0;
    if (c->replaying || w->resync || sl_settle_held(w) || (w->acks.n && sl_acks_flush(w) != SL_WRITE_OK) || w->acks.n)
        return -1;
    part_save(w, c, &c->parts[c->lane]);
    sl_journal_close(&w->journal);
    if (sl_worker_set_lane(w, c->lanes[next].queue, c->lanes[next].part) != 0) { /* cannot happen: checked at start */
        *w->stop = 1;
        return -1;
    }
    c->lane = next;
    part_load(w, c, &c->parts[next]);
    journal_open(w);
    c->reads_here = 0;
    return 0;
}

/* After a read that got n entries (or a paused round, n 0): move on to the
 * next partition when this one is done for now and nothing is in flight. */
static void next_partition(sl_worker *w, sl_consume *c, size_t n)
{
    if (c->nlanes <= 1)
        return;
    if (n > 0) {
        c->idle_streak = 0;
        if (++c->reads_here < SL_PART_TURN_READS)
            return;
    } else if (c->idle_streak < c->nlanes) {
        c->idle_streak++;
    }
    (void)switch_lane(w, c, (c->lane + 1) % c->nlanes);
}

/* ---- Several queues -------------------------------------------------------
 * A pool with pools[].queues reads in cycles. A cycle's order (plan_cycle) is
 * the strict queues in list order, then the weighted ones in weighted random
 * order (prio.c), each queue's partitions in turn from its cursor. The worker
 * reads the lanes in that order without BLOCK, and the first that has
 * entries runs as a batch; then a new cycle starts at the top. So a strict
 * job waits for no more than the batch running when it arrives: prefetch
 * cannot hide it, because a batch is one read (at most read_count entries per
 * stream, fewer with pools[].prefetch) and strict queues are read again
 * before every next batch; the entries of a batch are never put back (that
 * would spend a delivery on each). When a whole cycle came back empty, one
 * read blocks on every lane at once (wait_all_round, COUNT 1): a job arriving
 * on any queue wakes the worker. On a cluster each queue is in its own hash
 * slot and one command cannot span them, so there the lanes are read one by
 * one, each with BLOCK block/lanes, until one has entries. A paused lane is
 * skipped without sleeping, unless every lane is. */

/* How many lanes (partitions) queue q of the pool has. */
static int lanes_of(const sl_consume *c, int q)
{
    return ((size_t)q + 1 < c->prio.pool->nqueues ? c->qfirst[q + 1] : c->nlanes) - c->qfirst[q];
}

/* A new cycle: the order of the lanes to read, from the top. */
static void plan_cycle(sl_consume *c)
{
    int qs[SL_POOL_QUEUES_MAX];
    int nq = sl_prio_order(&c->prio, qs);
    c->norder = c->pos = 0;
    for (int k = 0; k < nq; k++) {
        int q = qs[k], np = lanes_of(c, q);
        for (int j = 0; j < np; j++)
            c->order[c->norder++] = c->qfirst[q] + (c->qcursor[q] + j) % np;
    }
}

/* After a ">" read of the current lane that got n entries, or a paused lane
 * (n 0): a batch ran, so a new cycle starts at the top; an empty lane passes
 * the turn to the next of the cycle; after the last, the worker waits on
 * every lane. */
static void next_lane(sl_worker *w, sl_consume *c, size_t n)
{
    if (n > 0) {
        const sl_lane *l = &c->lanes[c->lane];
        c->qcursor[l->queue] = (l->part + 1) % lanes_of(c, l->queue); /* its partitions take turns */
        c->blocking = 0;
        plan_cycle(c);
    } else if (++c->pos >= c->norder) {
        if (!c->cluster) { /* stays here: the next round reads every lane in this cycle's order, then plans anew */
            c->pos = 0;
            c->wait_all = 1;
            return;
        }
        plan_cycle(c);
        c->blocking = 1;
    }
    (void)switch_lane(w, c, c->order[c->pos]);
}

/* Whether lane l may be in the read of every lane: its group exists, its
 * replay is done and it was not paused when last seen. */
static int lane_waits(const sl_consume *c, int l)
{
    if (l == c->lane)
        return c->group_ready && !c->replaying && !c->pause.paused;
    if (!c->parts) /* one lane: it is the current one */
        return 0;
    const sl_part_state *p = &c->parts[l];
    return p->group_ready && !p->replaying && !p->pause.paused;
}

/* The read of every lane, after a whole cycle came back empty: one
 * XREADGROUP COUNT 1 BLOCK block over both streams of every lane that may
 * wait (lane_waits), so that a job on any queue wakes the worker. What it
 * got runs lane by lane in the cycle's order (strict queues first). An entry
 * of a lane the worker cannot move to (something in flight failed to settle)
 * stays pending to this consumer and that lane replays it. Returns 0, or -1
 * when the read failed (logged, backed off). */
static int wait_all_round(sl_worker *w, sl_consume *c)
{
    int n = 0; /* lanes in the read */
    c->wait_all = 0;
    const char **av = c->wait_argv;
    int argc = 0;
    av[argc++] = "XREADGROUP", av[argc++] = "GROUP", av[argc++] = w->pool->group, av[argc++] = w->consumer;
    av[argc++] = "COUNT", av[argc++] = "1", av[argc++] = "BLOCK", av[argc++] = c->block, av[argc++] = "STREAMS";
    for (int k = 0; k < c->norder; k++) {
        int l = c->order[k];
        if (!lane_waits(c, l))
            continue;
        av[argc++] = c->lanes[l].keys[SL_STREAM_MAIN], av[argc++] = c->lanes[l].keys[SL_STREAM_RETRY];
        n++;
    }
    if (n == 0) { /* every lane paused: nothing to wait on, and no spin */
        sl_sleep_ms(SL_PAUSE_SLEEP_MS, w->stop);
        return 0;
    }
    for (int i = 0; i < 2 * n; i++)
        av[argc++] = ">";
    int64_t asked = sl_now_mono_ms();
    redisReply *r = sl_worker_cmd(w, argc, av, NULL);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        read_error(w, c, "XREADGROUP", r);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    read_worked(w);
    if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY) {
        SL_LOG(SL_ERROR, "unexpected XREADGROUP reply shape; backing off", SL_I("type", r->type));
        freeReplyObject(r);
        back_off(w, c);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL)
        read_fence(w); /* idle: no ack reply tells us of a hand-off */
    int rc = 0;
    for (int k = 0; r->type == REDIS_REPLY_ARRAY && k < c->norder && rc == 0; k++) {
        int l = c->order[k], got = 0;
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *x = r->element[i];
            if (x->type == REDIS_REPLY_ARRAY && x->elements == 2 && x->element[0]->type == REDIS_REPLY_STRING &&
                (strcmp(x->element[0]->str, c->lanes[l].keys[SL_STREAM_MAIN]) == 0 ||
                 strcmp(x->element[0]->str, c->lanes[l].keys[SL_STREAM_RETRY]) == 0))
                got = 1;
        }
        if (!got)
            continue;
        if (switch_lane(w, c, l) != 0) { /* its entries stay pending to us: that lane replays them */
            sl_part_state *p = &c->parts[l];
            p->replaying = 1, p->replay_stream = SL_STREAM_MAIN, p->replayed = 0;
            snprintf(p->cursor, sizeof(p->cursor), "0");
            continue;
        }
        sl_batch *b = &c->batch;
        sl_batch_reset(b, 0, asked);
        if (add_streams(w, b, r, 1) != 0) { /* this lane's streams: the worker's keys now */
            SL_LOG(SL_ERROR, "unexpected XREADGROUP reply shape; backing off", SL_I("type", r->type));
            rc = -1;
        } else if (b->n) {
            w->entry_avg_bytes = (double)b->bytes / (double)b->n;
            rc = sl_batch_run(w, b);
        }
        sl_batch_reset(b, 0, 0);
    }
    freeReplyObject(r);
    return rc;
}

/* One round: be connected, flush acks, have the groups, then replay, reclaim or read. */
static void round_once(sl_worker *w, sl_consume *c)
{
    sl_log_flush(); /* a round may block (read, backoff, pause): no line waits for it */
    if (!sl_redis_connected(w->redis)) {
        if (sl_session_connect(w) != 0)
            return;
        start_replay(c); /* a lost connection may have lost acks: entries are still ours */
        for (int i = 0; c->parts && i < c->nlanes; i++) /* in every lane */
            c->parts[i].replaying = 1, c->parts[i].replay_stream = SL_STREAM_MAIN, c->parts[i].replayed = 0,
            snprintf(c->parts[i].cursor, sizeof(c->parts[i].cursor), "0");
        c->session_ready = 0;
    }
    if (!c->session_ready && start_session(w, c) != 0)
        return;
    /* Acks kept after a failure are resent now; freshly queued ones go out
     * with the next command (the read), in the same write. */
    sl_write_rc frc = sl_acks_kept(w) ? sl_acks_flush(w) : sl_acks_drain(w);
    if (frc == SL_WRITE_LOST)
        return;
    if (frc == SL_WRITE_BUSY) { /* acks kept: wait, then send them again */
        back_off(w, c);
        return;
    }
    /* A kept retry/dead-letter move goes out before any replay, which would
     * run its job again. */
    sl_write_rc hrc = sl_settle_resend_held(w);
    if (hrc == SL_WRITE_LOST)
        return;
    if (hrc == SL_WRITE_BUSY) {
        back_off(w, c);
        return;
    }
    if (w->resync) { /* an entry was left pending (e.g. a failed done-marker check): wait, then replay it */
        w->resync = 0;
        back_off(w, c);
        start_replay(c);
        return;
    }
    if (!c->group_ready && ensure_groups(w, c) != 0)
        return;
    if (c->wait_all) { /* several queues, all empty: wait on every lane */
        if (wait_all_round(w, c) != 0)
            return;
        plan_cycle(c);
        goto settled;
    }
    /* paused: no replay, reclaim or read; acks still go out. Several queues:
     * the next lane's turn, no sleep (a paused strict queue must not slow the others) */
    if (c->multi ? sl_pause_check(&c->pause, w) : sl_pause_gate(&c->pause, w)) {
        sl_acks_flush(w);
        if (c->multi)
            next_lane(w, c, 0);
        else
            next_partition(w, c, 0);
        return;
    }

    if (c->replaying) {
        /* Replay reads one entry at a time, one stream after the other: reading
         * history bumps the delivery count of every entry returned, and after a
         * crash only the entry about to run should be charged. Never blocks. */
        const char *rd[] = {"XREADGROUP", "GROUP", w->pool->group, w->consumer,
                            "COUNT",      "1",     "STREAMS",      w->keys[c->replay_stream],
                            c->cursor};
        if (read_and_run(w, c, 9, rd, 1) != 0)
            return;
    } else if (sl_reclaim_due(&c->reclaim, w->fence)) {
        int rc = sl_reclaim_round(w, &c->reclaim, &c->batch);
        if (rc == 1) {
            SL_LOG(SL_WARN, "consumer group missing at reclaim; recreating it", SL_S("group", w->pool->group));
            c->group_ready = 0;
            back_off(w, c);
        }
        if (rc != 0)
            return;
    } else if (c->multi && c->lane != c->order[c->pos]) {
        /* the cycle reads another lane now (a move deferred by something in
         * flight): go there; its own round (groups, pause, replay) comes next */
        if (switch_lane(w, c, c->order[c->pos]) != 0)
            back_off(w, c);
        return;
    } else {
        snprintf(c->count, sizeof(c->count), "%d", prefetch_count(w, c));
        const char *rd[] = {"XREADGROUP",
                            "GROUP",
                            w->pool->group,
                            w->consumer,
                            "COUNT",
                            c->count,
                            "BLOCK",
                            c->block,
                            "STREAMS",
                            w->keys[SL_STREAM_MAIN],
                            w->keys[SL_STREAM_RETRY],
                            ">",
                            ">"};
        /* Partitions: a read blocks only once every partition came back
         * empty, and then for block/N, so a full turn blocks about block.
         * Several queues: no BLOCK (wait_all_round blocks), except on a
         * cluster after an empty cycle: block/N per lane, as partitions do. */
        int skip = 0;
        if (c->multi)
            skip = c->blocking ? 0 : 2, rd[7] = c->part_block;
        else if (c->nlanes > 1 && c->idle_streak < c->nlanes)
            skip = 2; /* no BLOCK: another partition may have work */
        else if (c->nlanes > 1)
            rd[7] = c->part_block;
        if (skip)
            memmove(&rd[6], &rd[8], 5 * sizeof(rd[0]));
        if (read_and_run(w, c, 13 - skip, rd, 0) != 0)
            return;
        if (c->multi)
            next_lane(w, c, c->last_read);
        else
            next_partition(w, c, c->last_read);
    }
settled:
    /* A clean round ends the backoff; a deferred outcome keeps it growing. The
     * batch's queued acks leave with the next read (or at stop). */
    if (sl_acks_drain(w) == SL_WRITE_OK && !sl_acks_kept(w) && !sl_settle_held(w) && !w->resync)
        c->failures = 0;
}

/* Host services run their own commands on the worker's connection: queued
 * acks go out first and every reply is read. */
void sl_worker_sync(void *worker)
{
    sl_acks_flush(worker);
}

void sl_consume_run(sl_worker *w)
{
    sl_consume c;
    memset(&c, 0, sizeof(c));
    w->fence = w->batch_fence = -1; /* unknown until the first sluice_ack reply */
    snprintf(c.block, sizeof(c.block), "%" PRId64, w->pool->block_ms);
    start_replay(&c);
    sl_reclaim_init(&c.reclaim);
    sl_pause_init(&c.pause, w);
    if (parts_init(w, &c) != 0) {
        SL_LOG(SL_ERROR, "cannot set up the pool's queues and partitions", SL_I("lanes", c.nlanes));
        w->exit_code = 1;
        free(c.parts), free(c.lanes), free(c.order), free(c.wait_argv);
        return;
    }
    if (c.multi)
        plan_cycle(&c); /* the first cycle; the worker is on lane 0, replaying */
    /* The ack journal is per consumer (and partition): a predecessor's
     * unconfirmed acks go out first, before the replay would run their jobs again. */
    journal_open(w);
    atomic_store_explicit(&w->slot->state, SL_SLOT_IDLE, memory_order_release);
    while (!*w->stop) {
        sl_worker_tick(w);
        if (*w->stop)
            break;
        round_once(w, &c);
    }
    atomic_store_explicit(&w->slot->state, SL_SLOT_STOPPING, memory_order_release);
    /* Last chance for acks in flight: one reconnect attempt, no waiting. */
    if (w->acks.n && !sl_redis_connected(w->redis))
        sl_redis_connect(w->redis);
    if (w->acks.n && sl_acks_flush(w) != SL_WRITE_OK)
        SL_LOG(SL_WARN, "acks not sent at stop; those entries stay pending (and in the ack journal when it is on)",
               SL_I("entries", w->acks.n));
    if (sl_settle_held(w) && !sl_redis_connected(w->redis))
        sl_redis_connect(w->redis);
    if (sl_settle_held(w) && (!sl_redis_connected(w->redis) || sl_settle_resend_held(w) != SL_WRITE_OK))
        SL_LOG(SL_WARN, "job result not written at stop; its entry stays pending and the job runs again",
               SL_S("job_id", w->held.job_id), SL_S("stream_id", w->held.stream_id));
    sl_journal_close(&w->journal);
    sl_batch_free(&c.batch);
    free(c.parts);
    free(c.lanes);
    free(c.order);
    free(c.wait_argv);
}
