/* The supervisor's async Redis connection (see conn.h): connect, AUTH,
 * SELECT, function library, reconnect with capped backoff and jitter, and a
 * 100 ms tick that drops the connection when a command or the connect itself
 * outlives its timeout, so a stopped Redis cannot wedge maintenance. */
#define SL_COMPAT_ASYNC 1
#include "common/hiredis_compat.h"

#include <hiredis/adapters/libevent.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/functions.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/sentinel.h"
#include "common/url.h"
#include "common/util.h"
#include "runner/maint/conn.h"
#include "runner/maint/conn_int.h"

static void sl_mconn_connect(sl_mconn *c);
static void sl_mconn_sentinel_close(sl_mconn *c);
static void sl_mconn_drop(sl_mconn *c, const char *why);

/* ---- lists and requests ------------------------------------------------- */

void sl_mconn_push(sl_mconn_list *l, sl_mconn_req *q)
{
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

void sl_mconn_unlink(sl_mconn_list *l, sl_mconn_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->prev = q->next = NULL;
    l->n--;
}

/* A request with private copies of argv (one allocation); lens NULL: strlen of
 * each. NULL when out of memory. */
sl_mconn_req *sl_mconn_req_new(sl_mconn *c, sl_mconn_cb cb, void *arg, int argc, const char **argv, const size_t *lens)
{
    size_t bytes = sizeof(sl_mconn_req) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++)
        bytes += (lens ? lens[i] : strlen(argv[i])) + 1;
    sl_mconn_req *q = calloc(1, bytes);
    if (!q)
        return NULL;
    q->c = c;
    q->slot = q->ask = -1;
    q->cb = cb;
    q->arg = arg;
    q->argc = argc;
    q->lens = (size_t *)(q + 1);
    q->argv = (const char **)(q->lens + argc);
    char *p = (char *)(q->argv + argc);
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], len);
        p[len] = '\0';
        q->argv[i] = p;
        q->lens[i] = len;
        p += len + 1;
    }
    return q;
}

/* Free a request, wiping its arguments (AUTH carries the password). */
void sl_mconn_req_free(sl_mconn_req *q)
{
    for (int i = 0; i < q->argc; i++)
        explicit_bzero((char *)q->argv[i], q->lens[i]);
    free(q);
}

/* hiredis reply callback of every command (reply NULL: the context is going). */
static void sl_mconn_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    sl_mconn_req *q = privdata;
    sl_mconn *c = q->c;
    (void)ac;
    sl_mconn_unlink(&c->inflight, q);
    if (!q->internal || (reply && q->gen == c->gen && c->ac))
        q->cb(q->arg, reply);
    if (c->u.kind == SL_URL_SENTINEL && reply && q->gen == c->gen && c->ac &&
        (sl_redis_reply_is(reply, "READONLY") || sl_redis_reply_is(reply, "MASTERDOWN"))) {
        char why[256];
        (void)snprintf(why, sizeof why, "the master answered %.150s: asking the sentinels again",
                       ((redisReply *)reply)->str);
        sl_mconn_drop(c, why);
    }
    sl_mconn_req_free(q);
}

/* Hand a request to hiredis. 0, or -1 if the context refuses (tearing down). */
static int sl_mconn_send(sl_mconn *c, sl_mconn_req *q)
{
    if (!c->ac || SL_ASYNC_CLOSING(c->ac) ||
        redisAsyncCommandArgv(c->ac, sl_mconn_on_reply, q, q->argc, q->argv, q->lens) != REDIS_OK)
        return -1;
    q->gen = c->gen;
    q->t0 = sl_now_mono_ms();
    sl_mconn_push(&c->inflight, q);
    return 0;
}

/* ---- connection life ---------------------------------------------------- */

static void sl_mconn_ms_to_tv(int64_t ms, struct timeval *tv)
{
    tv->tv_sec = (time_t)(ms / 1000);
    tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

/* Arm the reconnect timer: capped exponential backoff with full jitter, never
 * below reconnect_min (no busy loop even when Redis refuses at once). */
static void sl_mconn_schedule(sl_mconn *c)
{
    struct timeval tv;
    unsigned n = c->failures ? c->failures - 1 : 0;
    int64_t delay = sl_backoff_ms(c->reconnect_min_ms, c->reconnect_max_ms, n, c->reconnect_min_ms);
    c->state = SL_MC_DOWN;
    sl_mconn_ms_to_tv(delay, &tv);
    evtimer_add(c->retry, &tv);
}

/* Forget the context (its pending callbacks run now, with NULL replies) and
 * schedule a reconnect. Safe inside a hiredis callback (the free is deferred). */
static void sl_mconn_drop(sl_mconn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    sl_mconn_sentinel_close(c);
    int closing = c->state == SL_MC_CLOSED;
    c->ac = NULL;
    if (!closing) {
        c->failures++;
        c->state = SL_MC_DOWN;
        if (c->failures == 1)
            SL_LOG(SL_WARN, "redis maintenance connection dropped; maintenance paused", SL_S("redis", c->name),
                   SL_S("reason", why));
        else
            SL_LOG(SL_DEBUG, "redis maintenance connection dropped", SL_S("redis", c->name), SL_S("reason", why),
                   SL_I("failures", c->failures));
    }
    if (ac)
        redisAsyncFree(ac);
    if (!closing)
        sl_mconn_schedule(c);
}

/* A connect attempt failed before there was a usable context. */
static void sl_mconn_failed(sl_mconn *c, const char *why)
{
    c->ac = NULL;
    c->failures++;
    if (c->failures == 1)
        SL_LOG(SL_WARN, "cannot connect to redis for maintenance; retrying with backoff", SL_S("redis", c->name),
               SL_S("error", why));
    else
        SL_LOG(SL_DEBUG, "redis maintenance connect failed", SL_S("redis", c->name), SL_S("error", why),
               SL_I("failures", c->failures));
    sl_mconn_schedule(c);
}

static void sl_mconn_ready_now(sl_mconn *c)
{
    c->state = SL_MC_READY;
    SL_LOG(SL_INFO, c->was_ready ? "redis maintenance connection restored" : "redis maintenance connection ready",
           SL_S("redis", c->name), SL_I("failures", c->failures));
    c->failures = 0;
    c->was_ready = 1;
    /* Commands queued while down go out first, in order. */
    while (c->queue.head && c->state == SL_MC_READY) {
        sl_mconn_req *q = c->queue.head;
        sl_mconn_unlink(&c->queue, q);
        if (sl_mconn_send(c, q) != 0) {
            q->cb(q->arg, NULL);
            sl_mconn_req_free(q);
        }
    }
    if (c->state == SL_MC_READY && c->on_ready)
        c->on_ready(c->ready_arg);
}

/* Send one handshake command. 0 or -1 (then the connection is dropped). */
static int sl_mconn_internal(sl_mconn *c, sl_mconn_cb cb, int argc, const char **argv, const size_t *lens)
{
    sl_mconn_req *q = sl_mconn_req_new(c, cb, c, argc, argv, lens);
    if (!q)
        return -1;
    q->internal = 1;
    if (sl_mconn_send(c, q) != 0) {
        sl_mconn_req_free(q);
        return -1;
    }
    return 0;
}

/* A handshake step's reply: 0 if it is not an error; else log it, drop the
 * connection (the reconnect backoff retries the handshake) and return 1. */
static int sl_mconn_is_error(sl_mconn *c, redisReply *r, const char *what)
{
    if (r->type != REDIS_REPLY_ERROR)
        return 0;
    char why[256];
    (void)snprintf(why, sizeof why, "%s failed: %.*s", what, (int)(r->len > 200 ? 200 : r->len), r->str);
    SL_LOG(SL_ERROR, "redis maintenance handshake failed", SL_S("redis", c->name), SL_S("error", why));
    sl_mconn_drop(c, why);
    return 1;
}

static void sl_mconn_hs_auth(void *arg, redisReply *r)
{
    (void)sl_mconn_is_error(arg, r, "AUTH");
}

static void sl_mconn_hs_select(void *arg, redisReply *r)
{
    (void)sl_mconn_is_error(arg, r, "SELECT");
}

static void sl_mconn_hs_load(void *arg, redisReply *r)
{
    sl_mconn *c = arg;
    if (sl_mconn_is_error(c, r, "FUNCTION LOAD sluice"))
        return;
    SL_LOG(SL_INFO, "loaded redis function library", SL_S("library", "sluice"), SL_S("version", SL_FUNCTIONS_VERSION),
           SL_S("redis", c->name));
    sl_mconn_ready_now(c);
}

/* FCALL sluice_version: current or newer -> ready; missing or older ->
 * FUNCTION LOAD REPLACE (the Lua source is one binary-safe argument). */
static void sl_mconn_hs_version(void *arg, redisReply *r)
{
    sl_mconn *c = arg;
    if (sl_functions_version_ok(r)) {
        sl_mconn_ready_now(c);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && !sl_functions_missing(r)) {
        (void)sl_mconn_is_error(c, r, "FCALL sluice_version");
        return;
    }
    const char *argv[] = {"FUNCTION", "LOAD", "REPLACE", sl_functions_lua};
    size_t lens[] = {8, 4, 7, sl_functions_lua_len};
    if (sl_mconn_internal(c, sl_mconn_hs_load, 4, argv, lens) != 0)
        sl_mconn_drop(c, "cannot send FUNCTION LOAD");
}

/* ROLE of the master a sentinel named: anything but "master" drops the
 * connection, and the reconnect asks the sentinels again. */
static void sl_mconn_hs_role(void *arg, redisReply *r)
{
    sl_mconn *c = arg;
    if (sl_sentinel_is_master(r))
        return;
    char why[400];
    (void)snprintf(why, sizeof why, "%.200s:%d, named by a sentinel, is not a master", c->master_host, c->master_port);
    SL_LOG(SL_WARN, "redis maintenance connection: not the master", SL_S("redis", c->name), SL_S("error", why));
    sl_mconn_drop(c, why);
}

/* CONFIG GET maxmemory-policy: an evicting policy can drop queued jobs. Errors
 * (CONFIG renamed or disabled) are ignored. Once per connection. */
static void sl_mconn_hs_policy(void *arg, redisReply *r)
{
    sl_mconn *c = arg;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(r->element[1]->str, "noeviction") != 0)
        SL_LOG(SL_WARN, "redis maxmemory-policy is not noeviction: Redis may evict queued jobs under memory pressure",
               SL_S("redis", c->name), SL_S("maxmemory_policy", r->element[1]->str));
}

/* Connected: AUTH, SELECT, library version, eviction policy, pipelined.
 * Replies come in order, so a failed AUTH drops the connection before
 * anything after it matters. */
static void sl_mconn_handshake(sl_mconn *c)
{
    char db[16];
    int rc = 0;
    c->state = SL_MC_HANDSHAKE;
    if (c->u.password[0]) {
        const char *argv[3] = {"AUTH"};
        size_t lens[3] = {4};
        int n = 1;
        if (c->u.user[0]) {
            argv[n] = c->u.user;
            lens[n++] = strlen(c->u.user);
        }
        argv[n] = c->u.password;
        lens[n++] = strlen(c->u.password);
        rc |= sl_mconn_internal(c, sl_mconn_hs_auth, n, argv, lens);
    }
    if (c->u.db != 0) {
        (void)snprintf(db, sizeof db, "%d", c->u.db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        rc |= sl_mconn_internal(c, sl_mconn_hs_select, 2, argv, lens);
    }
    const char *ver[] = {"FCALL", "sluice_version", "0"};
    size_t verl[] = {5, 14, 1};
    rc |= sl_mconn_internal(c, sl_mconn_hs_version, 3, ver, verl);
    if (c->u.kind == SL_URL_SENTINEL) { /* a sentinel can be behind a failover: the master must say so itself */
        const char *role[] = {"ROLE"};
        size_t rolel[] = {4};
        rc |= sl_mconn_internal(c, sl_mconn_hs_role, 1, role, rolel);
    }
    const char *pol[] = {"CONFIG", "GET", "maxmemory-policy"};
    size_t poll[] = {6, 3, 16};
    rc |= sl_mconn_internal(c, sl_mconn_hs_policy, 3, pol, poll);
    if (rc)
        sl_mconn_drop(c, "cannot send the handshake");
}

static void sl_mconn_on_connect(const redisAsyncContext *ac, int status)
{
    sl_mconn *c = ac->data;
    if (c->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        sl_mconn_failed(c, ac->errstr ? ac->errstr : "connect failed");
        return;
    }
    sl_mconn_handshake(c);
}

/* hiredis lost the connection (EOF, I/O error); it frees the context. Not
 * called for our own drops: c->ac no longer points at it then. */
static void sl_mconn_on_disconnect(const redisAsyncContext *ac, int status)
{
    sl_mconn *c = ac->data;
    (void)status;
    if (c->ac != ac)
        return;
    c->ac = NULL;
    sl_mconn_drop(c, ac->errstr && ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Connect to host:port (NULL host: the unix socket of the URL). */
static void sl_mconn_connect_to(sl_mconn *c, const char *host, int port)
{
    redisAsyncContext *ac = host ? redisAsyncConnect(host, port) : redisAsyncConnectUnix(c->u.path);
    if (!ac) {
        sl_mconn_failed(c, "out of memory");
        return;
    }
    if (ac->err) {
        char why[256];
        (void)snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac);
        sl_mconn_failed(c, why);
        return;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
        redisAsyncFree(ac);
        sl_mconn_failed(c, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(ac, sl_mconn_on_connect);
    redisAsyncSetDisconnectCallback(ac, sl_mconn_on_disconnect);
    c->ac = ac;
    c->gen++;
    c->state = SL_MC_CONNECTING;
    c->conn_t0 = sl_now_mono_ms();
}

/* ---- redis+sentinel:// -------------------------------------------------- */

static void sl_mconn_ask_sentinel(sl_mconn *c, int i);

/* Forget the sentinel context (deferred free inside its callbacks). */
static void sl_mconn_sentinel_close(sl_mconn *c)
{
    redisAsyncContext *sac = c->sac;
    c->sac = NULL;
    if (sac)
        redisAsyncFree(sac);
}

static void sl_mconn_sentinel_next(sl_mconn *c, const char *why)
{
    const sl_url_host *s = &c->u.hosts[c->sidx];
    (void)snprintf(c->resolve_why, sizeof c->resolve_why, "%.120s:%d %.120s", s->host, s->port, why);
    sl_mconn_sentinel_close(c);
    sl_mconn_ask_sentinel(c, (c->sidx + 1) % c->u.nhosts);
}

static void sl_mconn_on_sentinel(redisAsyncContext *ac, void *reply, void *privdata)
{
    sl_mconn *c = privdata;
    redisReply *r = reply;
    sl_url_host a;
    if (ac != c->sac || c->state != SL_MC_RESOLVING)
        return;
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0 && c->u.password[0] && !c->sauth) {
        const char *argv[3] = {"AUTH", c->u.user[0] ? c->u.user : c->u.password, c->u.password};
        const char *ask[3] = {"SENTINEL", "get-master-addr-by-name", c->u.master};
        c->sauth = 1;
        if (redisAsyncCommandArgv(ac, NULL, NULL, c->u.user[0] ? 3 : 2, argv, NULL) != REDIS_OK ||
            redisAsyncCommandArgv(ac, sl_mconn_on_sentinel, c, 3, ask, NULL) != REDIS_OK)
            sl_mconn_sentinel_next(c, "cannot send AUTH");
        return;
    }
    if (!r) {
        sl_mconn_sentinel_next(c, ac->errstr[0] ? ac->errstr : "connection lost");
    } else if (r->type == REDIS_REPLY_ERROR) {
        char why[200];
        (void)snprintf(why, sizeof why, "answered %.150s", r->str);
        sl_mconn_sentinel_next(c, why);
    } else if (sl_sentinel_parse_addr(r, &a) != 0) {
        sl_mconn_sentinel_next(c, "does not know the master");
    } else {
        sl_sentinel_tally_add(&c->tally, &a);
        sl_mconn_sentinel_close(c);
        sl_mconn_ask_sentinel(c, (c->sidx + 1) % c->u.nhosts);
    }
}

static void sl_mconn_on_sentinel_connect(const redisAsyncContext *ac, int status)
{
    sl_mconn *c = ac->data;
    if (ac != c->sac || status == REDIS_OK)
        return;
    c->sac = NULL; /* hiredis frees it after this callback */
    const sl_url_host *s = &c->u.hosts[c->sidx];
    (void)snprintf(c->resolve_why, sizeof c->resolve_why, "%.120s:%d unreachable (%.100s)", s->host, s->port,
                   ac->errstr);
    sl_mconn_ask_sentinel(c, (c->sidx + 1) % c->u.nhosts);
}

static void sl_mconn_on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
    sl_mconn *c = ac->data;
    (void)status;
    if (ac == c->sac)
        c->sac = NULL; /* its pending reply callback already moved on */
}

/* Ask sentinel i, then the ones after it, for the master; once each was
 * asked, connect to the address most of them named (as common/sentinel.c
 * does for the blocking connections): a stale or partitioned sentinel alone
 * does not pick the master. Its ROLE is checked in the handshake. */
static void sl_mconn_ask_sentinel(sl_mconn *c, int i)
{
    if (c->sasked++ >= c->u.nhosts && c->tally.n > 0) {
        sl_url_host best;
        (void)sl_sentinel_tally_order(&c->tally, &best, 1);
        (void)snprintf(c->master_host, sizeof c->master_host, "%s", best.host);
        c->master_port = best.port;
        sl_mconn_connect_to(c, c->master_host, c->master_port);
        return;
    }
    if (c->sasked > c->u.nhosts) {
        char why[400];
        (void)snprintf(why, sizeof why, "no sentinel named a master for \"%.100s\" (last: %.250s)", c->u.master,
                       c->resolve_why);
        c->state = SL_MC_DOWN;
        sl_mconn_failed(c, why);
        return;
    }
    c->sidx = i;
    c->sauth = 0;
    c->state = SL_MC_RESOLVING;
    c->conn_t0 = sl_now_mono_ms();
    redisAsyncContext *sac = redisAsyncConnect(c->u.hosts[i].host, c->u.hosts[i].port);
    const char *ask[3] = {"SENTINEL", "get-master-addr-by-name", c->u.master};
    if (!sac || sac->err) {
        (void)snprintf(c->resolve_why, sizeof c->resolve_why, "%.120s:%d %.100s", c->u.hosts[i].host,
                       c->u.hosts[i].port, sac ? sac->errstr : "out of memory");
        if (sac)
            redisAsyncFree(sac);
        sl_mconn_ask_sentinel(c, (i + 1) % c->u.nhosts);
        return;
    }
    sac->data = c;
    if (redisLibeventAttach(sac, c->base) != REDIS_OK) {
        redisAsyncFree(sac);
        sl_mconn_failed(c, "cannot attach to the event loop");
        return;
    }
    redisAsyncSetConnectCallback(sac, sl_mconn_on_sentinel_connect);
    redisAsyncSetDisconnectCallback(sac, sl_mconn_on_sentinel_disconnect);
    c->sac = sac;
    if (redisAsyncCommandArgv(sac, sl_mconn_on_sentinel, c, 3, ask, NULL) != REDIS_OK)
        sl_mconn_sentinel_next(c, "cannot send the question");
}

/* Connect by the URL: its server, or the master its sentinels name now (asked
 * on every connect, so a reconnect after a failover finds the new one). */
static void sl_mconn_connect(sl_mconn *c)
{
    if (c->u.kind == SL_URL_SENTINEL) {
        /* each attempt starts one sentinel further, so a stale one is not asked first forever */
        c->resolve_why[0] = '\0';
        c->sasked = 0;
        c->tally.n = 0;
        sl_mconn_ask_sentinel(c, (int)(c->failures % (unsigned)c->u.nhosts));
        return;
    }
    sl_mconn_connect_to(c, c->u.is_unix ? NULL : c->u.host, c->u.port);
}

static void sl_mconn_on_retry(evutil_socket_t fd, short what, void *arg)
{
    sl_mconn *c = arg;
    (void)fd;
    (void)what;
    if (c->state == SL_MC_DOWN)
        sl_mconn_connect(c);
}

/* Every 100 ms: bound the connect, the oldest in-flight command and the
 * queued ones. hiredis 0.14 would wait forever on a stopped Redis. */
static void sl_mconn_on_tick(evutil_socket_t fd, short what, void *arg)
{
    sl_mconn *c = arg;
    int64_t now = sl_now_mono_ms();
    char why[128];
    (void)fd;
    (void)what;
    if (c->rt) {
        sl_mrouter_tick(c);
        return;
    }
    if (c->state == SL_MC_RESOLVING && now - c->conn_t0 > c->connect_timeout_ms + c->command_timeout_ms) {
        sl_mconn_sentinel_next(c, "did not answer in time");
    } else if (c->state == SL_MC_CONNECTING && now - c->conn_t0 > c->connect_timeout_ms) {
        (void)snprintf(why, sizeof why, "connect timed out after %lld ms", (long long)(now - c->conn_t0));
        sl_mconn_drop(c, why);
    } else if (c->inflight.head && now - c->inflight.head->t0 > c->command_timeout_ms) {
        (void)snprintf(why, sizeof why, "no reply within command_timeout (%lld ms, %zu commands in flight)",
                       (long long)c->command_timeout_ms, c->inflight.n);
        sl_mconn_drop(c, why);
    }
    while (c->queue.head && now - c->queue.head->t0 > c->command_timeout_ms) {
        sl_mconn_req *q = c->queue.head;
        sl_mconn_unlink(&c->queue, q);
        q->cb(q->arg, NULL);
        sl_mconn_req_free(q);
    }
}

/* ---- public ------------------------------------------------------------- */

/* Take cfg's redis.* values; the URL only if it parses. 0, or -1 (logged). */
static int sl_mconn_take_cfg(sl_mconn *c, const sl_config *cfg, int *url_changed)
{
    char err[256];
    *url_changed = 0;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 2000;
    c->command_timeout_ms = cfg->command_timeout_ms > 0 ? cfg->command_timeout_ms : 5000;
    c->reconnect_min_ms = cfg->reconnect_min_ms > 10 ? cfg->reconnect_min_ms : 10;
    c->reconnect_max_ms = cfg->reconnect_max_ms > c->reconnect_min_ms ? cfg->reconnect_max_ms : c->reconnect_min_ms;
    if (c->url && strcmp(c->url, cfg->redis_url) == 0)
        return 0;
    sl_url u;
    if (sl_url_parse(cfg->redis_url, &u, err, sizeof err) != 0) {
        SL_LOG(SL_ERROR, "bad redis.url for the maintenance connection", SL_S("error", err));
        sl_url_wipe(&u);
        return -1;
    }
    char *url = strdup(cfg->redis_url);
    if (!url) {
        sl_url_wipe(&u);
        return -1;
    }
    if (c->url) {
        explicit_bzero(c->url, strlen(c->url));
        free(c->url);
    }
    sl_url_wipe(&c->u);
    c->url = url;
    c->u = u;
    sl_url_wipe(&u);
    sl_url_redact(c->url, c->name, sizeof c->name);
    *url_changed = 1;
    return 0;
}

/* A connection with its timers, not connected yet. NULL when out of memory. */
static sl_mconn *sl_mconn_alloc(struct event_base *base, sl_mconn_ready_fn on_ready, void *arg)
{
    struct timeval tv;
    sl_mconn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->base = base;
    c->on_ready = on_ready;
    c->ready_arg = arg;
    c->state = SL_MC_DOWN;
    c->tick = event_new(base, -1, EV_PERSIST, sl_mconn_on_tick, c);
    c->retry = evtimer_new(base, sl_mconn_on_retry, c);
    sl_mconn_ms_to_tv(SL_MCONN_TICK_MS, &tv);
    if (!c->tick || !c->retry || event_add(c->tick, &tv) != 0) {
        sl_mconn_free(c);
        return NULL;
    }
    return c;
}

/* Connect c by its URL: one server, or the cluster router. */
static int sl_mconn_start(sl_mconn *c)
{
    if (c->u.kind == SL_URL_CLUSTER)
        return sl_mrouter_start(c);
    sl_mconn_connect(c);
    return 0;
}

sl_mconn *sl_mconn_new(struct event_base *base, const sl_config *cfg, sl_mconn_ready_fn on_ready, void *arg)
{
    int changed;
    sl_mconn *c = sl_mconn_alloc(base, on_ready, arg);
    if (!c)
        return NULL;
    if (sl_mconn_take_cfg(c, cfg, &changed) != 0 || sl_mconn_start(c) != 0) {
        sl_mconn_free(c);
        return NULL;
    }
    return c;
}

sl_mconn *sl_mconn_link_new(sl_mconn *parent, const char *host, int port, sl_mconn_ready_fn on_ready, void *arg)
{
    sl_mconn *c = sl_mconn_alloc(parent->base, on_ready, arg);
    if (!c)
        return NULL;
    c->connect_timeout_ms = parent->connect_timeout_ms;
    c->command_timeout_ms = parent->command_timeout_ms;
    c->reconnect_min_ms = parent->reconnect_min_ms;
    c->reconnect_max_ms = parent->reconnect_max_ms;
    c->u = parent->u; /* the credentials; one server, db 0 */
    c->u.kind = SL_URL_SINGLE;
    c->u.nhosts = 0;
    c->u.is_unix = 0;
    c->u.db = 0;
    (void)snprintf(c->u.host, sizeof c->u.host, "%s", host);
    c->u.port = port;
    (void)snprintf(c->name, sizeof c->name, "%s:%d (cluster node of %.300s)", host, port, parent->name);
    sl_mconn_connect(c);
    return c;
}

void sl_mconn_free(sl_mconn *c)
{
    if (!c)
        return;
    c->state = SL_MC_CLOSED;
    sl_mrouter_stop(c);
    sl_mconn_drop(c, "closing");
    while (c->queue.head) {
        sl_mconn_req *q = c->queue.head;
        sl_mconn_unlink(&c->queue, q);
        q->cb(q->arg, NULL);
        sl_mconn_req_free(q);
    }
    if (c->tick)
        event_free(c->tick);
    if (c->retry)
        event_free(c->retry);
    if (c->url) {
        explicit_bzero(c->url, strlen(c->url));
        free(c->url);
    }
    sl_url_wipe(&c->u);
    free(c);
}

int sl_mconn_configure(sl_mconn *c, const sl_config *cfg)
{
    int changed;
    if (sl_mconn_take_cfg(c, cfg, &changed) != 0)
        return -1;
    if (changed) {
        SL_LOG(SL_INFO, "redis.url changed: reconnecting the maintenance connection", SL_S("redis", c->name));
        sl_mrouter_stop(c);
        evtimer_del(c->retry);
        if (c->ac)
            sl_mconn_drop(c, "redis.url changed");
        c->failures = 0;
        c->state = SL_MC_DOWN;
        evtimer_del(c->retry);
        return sl_mconn_start(c);
    }
    sl_mrouter_timeouts(c);
    return 0;
}

int sl_mconn_ready(const sl_mconn *c)
{
    if (c->rt)
        return sl_mrouter_ready(c);
    return c->state == SL_MC_READY && c->ac && !SL_ASYNC_CLOSING(c->ac);
}

int sl_mconn_call(sl_mconn *c, sl_mconn_mode mode, sl_mconn_cb cb, void *arg, int argc, const char **argv,
                  const size_t *lens)
{
    if (c->state == SL_MC_CLOSED)
        return -1;
    if (c->rt)
        return sl_mrouter_call(c, mode, cb, arg, argc, argv, lens);
    int ready = sl_mconn_ready(c);
    if (!ready && mode == SL_MCONN_NOW)
        return -1;
    sl_mconn_req *q = sl_mconn_req_new(c, cb, arg, argc, argv, lens);
    if (!q)
        return -1;
    if (ready && sl_mconn_send(c, q) == 0)
        return 0;
    if (mode == SL_MCONN_NOW) {
        sl_mconn_req_free(q);
        return -1;
    }
    q->t0 = sl_now_mono_ms();
    sl_mconn_push(&c->queue, q);
    return 0;
}

void sl_mconn_reset(sl_mconn *c, const char *why)
{
    if (c->rt)
        sl_mrouter_reset(c, why);
    else if (c->ac && c->state != SL_MC_CLOSED)
        sl_mconn_drop(c, why);
}

size_t sl_mconn_inflight(const sl_mconn *c)
{
    return c->rt ? sl_mrouter_inflight(c) : c->inflight.n;
}
