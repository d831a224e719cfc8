/* One slot's process: spawn it and hand it the config over its channel, stop
 * or kill it, classify its exit (stopped / config error / crash), and respawn
 * it after capped exponential backoff with jitter.
 *
 * A slot never calls its pool or the supervisor. What its own callbacks see
 * that the pool must act on ("ready" of a replacement, the end of a backoff)
 * is recorded in s->events and the owner's wake event is activated; the pool
 * acts from that event's callback (sl_pool_on_events), when no callback of
 * the slot is running. The pool may free the slot when it acts, so doing it
 * in place, as before, meant every slot callback had to stop touching s after
 * the call ("may free s"); recording the event leaves nothing to re-enter. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "common/log.h"
#include "common/util.h"
#include "runner/http/metrics.h"
#include "runner/maint/maint.h"
#include "runner/spawn.h"
#include "runner/supervisor.h"

/* Longest line a worker may send on its channel; more is garbage, dropped. */
#define SL_SLOT_LINE_MAX 4096

static void sl_pool_slot_on_timer(evutil_socket_t fd, short what, void *arg);

sl_pool_slot *sl_pool_slot_new(sl_pool *p, int index, struct event *wake)
{
    sl_pool_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pool = p;
    s->index = index;
    s->wake = wake;
    s->phase = SL_PHASE_EMPTY;
    if (sl_fmt(s->consumer, sizeof s->consumer, "%s-%s-%d", p->sup->hostname, p->name, index) != 0 ||
        !(s->timer = evtimer_new(p->sup->base, sl_pool_slot_on_timer, s))) {
        free(s);
        return NULL;
    }
    return s;
}

/* Drop the channel and the status slot of a process that is gone. */
static void sl_pool_slot_release(sl_pool_slot *s)
{
    if (s->chan) {
        bufferevent_free(s->chan);
        s->chan = NULL;
    }
    sl_spawn_unmap(s->shm);
    s->shm = NULL;
}

void sl_pool_slot_free(sl_pool_slot *s)
{
    if (!s)
        return;
    sl_pool_slot_release(s);
    if (s->timer)
        event_free(s->timer);
    free(s);
}

static void sl_ms_to_tv(int64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

/*
 * Restart delay after the n-th consecutive crash (n >= 1): d = min(max,
 * min * 2^(n-1)), then "equal jitter" d/2 + uniform[0, d/2], never below min.
 * Unlike full jitter it keeps growing, so a crash loop really slows down.
 */
static int64_t sl_pool_slot_backoff_ms(const sl_config *cfg, unsigned n)
{
    int64_t lo = cfg->restart_min_ms > 0 ? cfg->restart_min_ms : 1;
    int64_t hi = cfg->restart_max_ms > lo ? cfg->restart_max_ms : lo;
    int64_t d = lo;
    for (unsigned i = 1; i < n && d < hi; i++)
        d = d > hi / 2 ? hi : d * 2;
    int64_t half = d / 2;
    int64_t delay = half + (int64_t)(sl_rand64() % (uint64_t)(half + 1));
    return delay < lo ? lo : delay;
}

/* Schedule the respawn; count_crash 0 (a hard-timeout kill: the worker was
 * healthy, the handler hung, and the timeout itself bounds the rate) keeps the
 * crash counter and uses the current step. */
static void sl_pool_slot_backoff(sl_pool_slot *s, int count_crash)
{
    struct timeval tv;
    if (count_crash)
        s->crashes++;
    int64_t delay = sl_pool_slot_backoff_ms(s->pool->sup->cfg, s->crashes ? s->crashes : 1);
    s->phase = SL_PHASE_BACKOFF;
    sl_ms_to_tv(delay, &tv);
    evtimer_add(s->timer, &tv);
    SL_LOG(SL_INFO, "worker restart scheduled", SL_S("pool", s->pool->name), SL_I("slot", s->index),
           SL_I("delay_ms", delay), SL_I("crashes", s->crashes));
}

/* Record an event for the pool and wake the owner's loop to act on it. */
static void sl_pool_slot_report(sl_pool_slot *s, unsigned ev)
{
    s->events |= ev;
    event_active(s->wake, EV_TIMEOUT, 1);
}

/* The process said "ready": it loaded its plugins. Advances a rolling restart. */
static void sl_pool_slot_ready(sl_pool_slot *s)
{
    if (s->phase != SL_PHASE_STARTING)
        return;
    s->phase = SL_PHASE_READY;
    s->exec_failures = 0;
    SL_LOG(SL_INFO, "worker ready", SL_S("pool", s->pool->name), SL_I("slot", s->index), SL_I("pid", s->pid));
    if (s->restarting) {
        /* Replaced: the roll moves on. (If another reload bumped the
         * generation meanwhile, this process is stale again and the roll
         * will come back to it.) */
        s->restarting = 0;
        sl_pool_slot_report(s, SL_SLOT_EV_REPLACED);
    }
}

static void sl_pool_slot_on_read(struct bufferevent *bev, void *arg)
{
    sl_pool_slot *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t n;
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        if (strcmp(line, "ready") == 0)
            sl_pool_slot_ready(s);
        else
            SL_LOG(SL_DEBUG, "unexpected line on worker channel", SL_S("pool", s->pool->name), SL_I("slot", s->index),
                   SL_I("bytes", n));
        free(line);
    }
    if (evbuffer_get_length(in) > SL_SLOT_LINE_MAX) {
        SL_LOG(SL_WARN, "oversized line on worker channel dropped", SL_S("pool", s->pool->name),
               SL_I("slot", s->index));
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

/* EOF or error: the worker closed its end (it is exiting). The exit itself
 * is handled when SIGCHLD reaps it. */
static void sl_pool_slot_on_event(struct bufferevent *bev, short what, void *arg)
{
    sl_pool_slot *s = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(s->chan);
        s->chan = NULL;
    }
}

/* Stop deadline (live process) or end of the restart backoff (no process). */
static void sl_pool_slot_on_timer(evutil_socket_t fd, short what, void *arg)
{
    sl_pool_slot *s = arg;
    (void)fd;
    (void)what;
    if (s->pid) {
        SL_LOG(SL_WARN, "worker did not stop within shutdown_timeout; killing it", SL_S("pool", s->pool->name),
               SL_I("slot", s->index), SL_I("pid", s->pid));
        sl_pool_slot_kill_release(s, "shutdown_timeout");
        return;
    }
    if (s->phase == SL_PHASE_BACKOFF) {
        s->phase = SL_PHASE_EMPTY;
        sl_pool_slot_report(s, SL_SLOT_EV_BACKOFF_OVER);
    }
}

/* Open the channel: send the config line, watch for "ready" and EOF. The
 * config holds the Redis password: it goes only into this socket. */
static int sl_pool_slot_channel(sl_pool_slot *s, int fd)
{
    sl_sup *sup = s->pool->sup;
    if (evutil_make_socket_nonblocking(fd) != 0) {
        (void)close(fd);
        return -1;
    }
    s->chan = bufferevent_socket_new(sup->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->chan) {
        (void)close(fd);
        return -1;
    }
    bufferevent_setcb(s->chan, sl_pool_slot_on_read, NULL, sl_pool_slot_on_event, s);
    if (bufferevent_enable(s->chan, EV_READ | EV_WRITE) != 0 ||
        bufferevent_write(s->chan, sup->cfg_json, sup->cfg_json_len) != 0 || bufferevent_write(s->chan, "\n", 1) != 0) {
        bufferevent_free(s->chan);
        s->chan = NULL;
        return -1;
    }
    return 0;
}

void sl_pool_slot_spawn(sl_pool_slot *s)
{
    sl_pool *p = s->pool;
    sl_sup *sup = p->sup;
    char path[PATH_MAX];
    char err[256];
    sl_spawn_proc proc;

    if (sl_spawn_worker_path(sup->cfg, path, sizeof path, err, sizeof err) == 0) {
        sl_spawn_args args = {.path = path, .pool = p->name, .slot = s->index, .consumer = s->consumer, .check = 0};
        if (sl_spawn_worker(&args, &proc, err, sizeof err) == 0)
            goto spawned;
    }
    SL_LOG(SL_ERROR, "cannot spawn worker", SL_S("pool", p->name), SL_I("slot", s->index), SL_S("error", err));
    sl_pool_slot_backoff(s, 1);
    return;

spawned:
    /* The keys of this process's jobs, for the supervisor's moves of them
     * (a reload may change the pool's queue before this process is gone). */
    (void)sl_fmt(s->queue, sizeof s->queue, "%s", p->cfg ? p->cfg->queue : "");
    (void)sl_fmt(s->group, sizeof s->group, "%s", p->cfg ? p->cfg->group : "");
    s->pid = proc.pid;
    s->shm = proc.shm;
    s->gen = p->gen;
    s->started_ms = sl_now_mono_ms();
    s->phase = SL_PHASE_STARTING;
    s->stop_reason = NULL;
    s->kill_reason = NULL;
    SL_LOG(SL_INFO, "worker spawned", SL_S("pool", p->name), SL_I("slot", s->index), SL_I("pid", s->pid),
           SL_S("consumer", s->consumer));
    /* Without a channel the worker sees EOF and stops; its exit is then
     * handled like any other. */
    if (sl_pool_slot_channel(s, proc.chan_fd) != 0)
        SL_LOG(SL_ERROR, "cannot set up worker channel", SL_S("pool", p->name), SL_I("slot", s->index),
               SL_I("pid", s->pid));
}

void sl_pool_slot_stop(sl_pool_slot *s, const char *reason)
{
    struct timeval tv;
    if (!s->pid || s->stop_reason)
        return;
    s->stop_reason = reason;
    if (kill(s->pid, SIGTERM) != 0 && errno != ESRCH)
        SL_LOG(SL_WARN, "kill(SIGTERM) failed", SL_I("pid", s->pid), SL_S("error", strerror(errno)));
    SL_LOG(SL_INFO, "stopping worker", SL_S("pool", s->pool->name), SL_I("slot", s->index), SL_I("pid", s->pid),
           SL_S("reason", reason));
    sl_ms_to_tv(s->pool->sup->cfg->shutdown_timeout_ms, &tv);
    evtimer_add(s->timer, &tv);
}

void sl_pool_slot_kill(sl_pool_slot *s, const char *reason)
{
    if (!s->pid || s->kill_reason)
        return;
    s->kill_reason = reason;
    if (kill(s->pid, SIGKILL) != 0 && errno != ESRCH)
        SL_LOG(SL_WARN, "kill(SIGKILL) failed", SL_I("pid", s->pid), SL_S("error", strerror(errno)));
}

void sl_pool_slot_kill_release(sl_pool_slot *s, const char *reason)
{
    sl_job_snap snap;
    if (!s->pid || s->kill_reason)
        return;
    /* Read before the kill: after it the slot may show a later job or none. */
    int running = sl_slot_snapshot(s->shm, &snap) == 0;
    sl_pool_slot_kill(s, reason);
    if (running) {
        sl_maint_worker w;
        sl_pool_slot_worker(s, &w);
        if (sl_maint_release(s->pool->sup->maint, &w, s, &snap) == 0)
            s->hold++; /* until the maintenance reports the move's end (supervisor.c) */
    }
}

void sl_pool_slot_worker(const sl_pool_slot *s, sl_maint_worker *w)
{
    w->pool = s->pool->name;
    w->slot = s->index;
    w->queue = s->queue;
    w->group = s->group;
    w->consumer = s->consumer;
}

/* Exit 78 or repeated exec failures: never respawn (until a reload).
 * Returns 1 when s replaced a worker for the pool's current config in a
 * rolling restart: the new config fails, the pool stops the roll. */
static int sl_pool_slot_disable(sl_pool_slot *s)
{
    int roll_failed = s->restarting && s->gen == s->pool->gen;
    s->phase = SL_PHASE_DISABLED;
    s->restarting = 0;
    return roll_failed;
}

/* Log an exit that was not asked for, with its code or signal, and the job it
 * was running (job, NULL if idle): the entry to look at for a poison job. */
static void sl_pool_slot_log_crash(const sl_pool_slot *s, pid_t pid, int status, int64_t lived, const sl_job_snap *job)
{
    const char *reason = s->kill_reason ? s->kill_reason : "crash";
    sl_kv kv[14];
    size_t n = 0;
    int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    kv[n++] = SL_S("pool", s->pool->name);
    kv[n++] = SL_I("slot", s->index);
    kv[n++] = SL_I("pid", pid);
    if (WIFSIGNALED(status)) {
        kv[n++] = SL_I("signal", WTERMSIG(status));
        kv[n++] = SL_S("signal_name", strsignal(WTERMSIG(status)));
    } else if (!clean) {
        kv[n++] = SL_I("exit_code", WEXITSTATUS(status));
    }
    if (!clean)
        kv[n++] = SL_S("reason", reason);
    kv[n++] = SL_I("lived_ms", lived);
    if (job) {
        kv[n++] = SL_S("job_id", job->id);
        kv[n++] = SL_S("job_type", job->type);
        kv[n++] = SL_S("stream_id", job->stream_id);
        kv[n++] = SL_S("stream", job->in_retry_stream ? "retry" : "work");
        kv[n++] = SL_I("attempt", job->attempt);
        kv[n++] = SL_I("deliveries", job->deliveries);
    }
    if (clean)
        sl_log_event(SL_WARN, "worker exited without being asked to", kv, n);
    else
        sl_log_event(SL_ERROR, "worker crashed", kv, n);
}

/* The restart cause of an exit for sluice_worker_restarts_total, or -1 for an
 * exit that was asked for (mirrors the classification below). */
static int sl_pool_slot_cause(const sl_pool_slot *s, int status, int code, int64_t lived)
{
    int exec_failed = code == 127 && lived < SL_SUP_FAST_EXIT_MS;
    if (code == SL_EXIT_CONFIG)
        return SL_CAUSE_CONFIG;
    if (s->stop_reason && !exec_failed &&
        (code == 0 || s->kill_reason || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)))
        return -1;
    if (s->kill_reason && strcmp(s->kill_reason, "timeout") == 0)
        return SL_CAUSE_TIMEOUT;
    if (s->kill_reason && strcmp(s->kill_reason, "cancelled") == 0)
        return -1; /* we killed it for a cancel: not a restart cause */
    return code == 0 ? SL_CAUSE_EXIT : SL_CAUSE_CRASH;
}

int sl_pool_slot_exited(sl_pool_slot *s, int status)
{
    sl_pool *p = s->pool;
    int roll_failed = 0;
    pid_t pid = s->pid;
    int64_t lived = sl_now_mono_ms() - s->started_ms;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    const char *stop = s->stop_reason;

    sl_job_snap job;
    /* The job it was running, read before the status slot is unmapped. */
    int running = sl_slot_snapshot(s->shm, &job) == 0;

    evtimer_del(s->timer);
    /* Its counters must outlive it: folded into its group before the unmap. */
    sl_metrics_reaped(p->sup->metrics, p->name, s->queue, s->group, s->shm, sl_pool_slot_cause(s, status, code, lived));
    sl_pool_slot_release(s);
    s->pid = 0;
    s->phase = SL_PHASE_EMPTY;
    if (lived >= SL_SUP_STABLE_MS)
        s->crashes = 0;
    if (code == 127 && lived < SL_SUP_FAST_EXIT_MS)
        s->exec_failures++;
    else
        s->exec_failures = 0;

    if (code == SL_EXIT_CONFIG) {
        SL_LOG(SL_ERROR, "worker exited with a config error (78); slot disabled, not respawned", SL_S("pool", p->name),
               SL_I("slot", s->index), SL_I("pid", pid));
        roll_failed = sl_pool_slot_disable(s);
    } else if (s->exec_failures > 0) { /* a fast exit 127: exec failed */
        char path[PATH_MAX], err[256];
        const char *why = err;
        if (sl_spawn_worker_path(p->sup->cfg, path, sizeof path, err, sizeof err) != 0)
            path[0] = '\0';
        else if (access(path, X_OK) != 0)
            why = strerror(errno);
        else
            why = "exit code 127 (exec failed, or the worker exited 127)";
        SL_LOG(SL_ERROR, "worker binary could not be executed", SL_S("pool", p->name), SL_I("slot", s->index),
               SL_S("path", path), SL_S("error", why), SL_I("failures", s->exec_failures));
        if (s->exec_failures >= SL_SUP_MAX_EXEC_FAILURES) {
            SL_LOG(SL_ERROR, "worker binary failed repeatedly; slot disabled, not respawned", SL_S("pool", p->name),
                   SL_I("slot", s->index), SL_S("path", path));
            roll_failed = sl_pool_slot_disable(s);
        } else if (!stop) {
            sl_pool_slot_backoff(s, 1);
        }
    } else if (stop && (code == 0 || s->kill_reason || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))) {
        /* Asked to stop: exit 0, our SIGKILL, or our SIGTERM arriving before
         * the worker had installed its handler. */
        SL_LOG(SL_INFO, "worker stopped", SL_S("pool", p->name), SL_I("slot", s->index), SL_I("pid", pid),
               SL_S("reason", stop), SL_S("how", code == 0 ? "exit 0" : "signal"));
    } else if (s->kill_reason && strcmp(s->kill_reason, "cancelled") == 0) {
        SL_LOG(SL_INFO, "worker killed after its cancelled job's jobs.cancel_grace; respawning", SL_S("pool", p->name),
               SL_I("slot", s->index), SL_I("pid", pid));
        if (!stop)
            sl_pool_slot_backoff(s, 0);
    } else {
        sl_pool_slot_log_crash(s, pid, status, lived, running ? &job : NULL);
        if (!stop)
            sl_pool_slot_backoff(s, !(s->kill_reason && strcmp(s->kill_reason, "timeout") == 0));
    }
    s->cancel_seq = 0;
    s->stop_reason = NULL;
    s->kill_reason = NULL;
    return roll_failed;
}
