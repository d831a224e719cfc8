/* Redis connection for workers, the supervisor, the CLI and the client API:
 * a blocking hiredis context with connect/command timeouts, AUTH and SELECT from
 * the URL, and reconnection with capped exponential backoff and full jitter. */
#include "common/redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/redis_int.h"
#include "common/sentinel.h"
#include "common/url.h"
#include "common/util.h"

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

sl_redis *sl_redis_new(const char *url, const sl_redis_opts *opts, char *err, size_t errlen)
{
    sl_redis *r = calloc(1, sizeof(*r));
    if (!r) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sl_url_parse(url, &r->url, err, errlen) != 0) {
        free(r);
        return NULL;
    }
    if (opts)
        r->opts = *opts;
    if (r->opts.connect_timeout_ms <= 0)
        r->opts.connect_timeout_ms = 2000;
    if (r->opts.command_timeout_ms <= 0)
        r->opts.command_timeout_ms = 5000;
    if (r->opts.reconnect_min_ms <= 0)
        r->opts.reconnect_min_ms = 100;
    if (r->opts.reconnect_max_ms <= 0)
        r->opts.reconnect_max_ms = 5000;
    sl_url_redact(url, r->name, sizeof(r->name));
    return r;
}

void sl_redis_disconnect(sl_redis *r)
{
    if (r && r->cl) {
        sl_cluster_disconnect(r);
    } else if (r && r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
}

void sl_redis_free(sl_redis *r)
{
    if (!r)
        return;
    sl_redis_disconnect(r);
    sl_cluster_free(r);
    sl_url_wipe(&r->url);
    free(r);
}

int sl_redis_connected(const sl_redis *r)
{
    return r->ctx != NULL;
}

/* Where a Redis password goes: said by every message about a missing or wrong one. */
#define PASSWORD_HOWTO                                                                                  \
    "the password in the URL, redis://:PASSWORD@host:port/db (or redis://USER:PASSWORD@... for an ACL " \
    "user), through redis.url in the config, $SLUICE_REDIS_URL, or `-u @FILE` on the command line"

/* errstr for an error reply to a setup command (AUTH, SELECT, PING): the
 * password problems (NOAUTH, WRONGPASS, the pre-6 "invalid password", AUTH
 * without a configured password) in words that say what to change; anything
 * else as "<what> on <name> failed: <reply>". Replies never echo the password. */
static void auth_error(sl_redis *r, const char *who, const char *what, const redisReply *rep)
{
    int len = (int)(rep->len > 160 ? 160 : rep->len);
    if (sl_redis_reply_is(rep, "NOAUTH"))
        snprintf(r->errstr, sizeof(r->errstr), "redis %s requires a password (NOAUTH): set " PASSWORD_HOWTO, who);
    else if (sl_redis_reply_is(rep, "WRONGPASS") || strstr(rep->str, "invalid password"))
        snprintf(r->errstr, sizeof(r->errstr),
                 "redis %s refused the password (%.*s): check the password in redis.url, $SLUICE_REDIS_URL or "
                 "-u @FILE (and the user name, for an ACL user)",
                 who, len, rep->str);
    else if (strstr(rep->str, "without any password configured"))
        snprintf(r->errstr, sizeof(r->errstr),
                 "redis %s has no password set, but the URL gives one: remove it from the URL (or set "
                 "requirepass / an ACL user on the server) (%.*s)",
                 who, len, rep->str);
    else
        snprintf(r->errstr, sizeof(r->errstr), "%s on %s failed: %.*s", what, who, len, rep->str);
}

/* Send a setup command on a fresh context; 0 or -1 with errstr set. The password
 * is an argv element, never formatted into a message. */
static int setup_cmd(sl_redis *r, const char *who, redisContext *c, const char *what, int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (!rep) {
        snprintf(r->errstr, sizeof(r->errstr), "%s on %s failed: %s", what, who, c->errstr);
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        auth_error(r, who, what, rep);
        rc = -1;
    }
    freeReplyObject(rep);
    return rc;
}

redisContext *sl_redis_open(sl_redis *r, const char *host, int port, const char *path, int db, const char *who)
{
    struct timeval ctv = ms_to_tv(r->opts.connect_timeout_ms);
    redisContext *c = path ? redisConnectUnixWithTimeout(path, ctv) : redisConnectWithTimeout(host, port, ctv);
    if (!c) {
        snprintf(r->errstr, sizeof(r->errstr), "connect(%s) failed: out of memory", who);
        return NULL;
    }
    if (c->err) {
        snprintf(r->errstr, sizeof(r->errstr), "connect(%s) failed: %s", who, c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, ms_to_tv(r->opts.command_timeout_ms)) != REDIS_OK) {
        snprintf(r->errstr, sizeof(r->errstr), "setting the command timeout on %s failed: %s", who, c->errstr);
        goto fail;
    }
    if (!path)
        redisEnableKeepAlive(c);
    if (r->url.password[0]) {
        const char *argv[3] = {"AUTH", r->url.user, r->url.password};
        int argc = 3;
        if (!r->url.user[0]) {
            argv[1] = r->url.password;
            argc = 2;
        }
        if (setup_cmd(r, who, c, "AUTH", argc, argv) != 0)
            goto fail;
    }
    if (db != 0) {
        char dbs[16];
        snprintf(dbs, sizeof(dbs), "%d", db);
        const char *argv[2] = {"SELECT", dbs};
        if (setup_cmd(r, who, c, "SELECT", 2, argv) != 0)
            goto fail;
    } else if (!r->url.password[0]) {
        /* Nothing was sent yet: without this a server that needs a password
         * would answer the caller's first command with a raw NOAUTH. Only that
         * fails the connect: other errors (LOADING...) are the callers' to
         * wait out, as before. */
        redisReply *rep = redisCommand(c, "PING");
        if (!rep) {
            snprintf(r->errstr, sizeof(r->errstr), "PING on %s failed: %s", who, c->errstr);
            goto fail;
        }
        int noauth = sl_redis_reply_is(rep, "NOAUTH");
        if (noauth)
            auth_error(r, who, "PING", rep);
        freeReplyObject(rep);
        if (noauth)
            goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* The master of a redis+sentinel:// URL: asked of the sentinels on every
 * connect (so a reconnect after a failover finds the new one), and accepted
 * only when it answers ROLE as a master. */
static int connect_sentinel(sl_redis *r)
{
    sl_url_host cand[SL_URL_MAX_HOSTS];
    char why[768], tried[600] = "";
    size_t tl = 0;
    int n = sl_sentinel_masters(&r->url, r->opts.connect_timeout_ms, r->opts.command_timeout_ms, cand, SL_URL_MAX_HOSTS,
                                why, sizeof why);
    if (n < 0) {
        snprintf(r->errstr, sizeof(r->errstr), "redis %s: %.700s", r->name, why);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char who[300];
        snprintf(who, sizeof who, "%.150s:%d (master \"%.100s\" by its sentinels)", cand[i].host, cand[i].port,
                 r->url.master);
        redisContext *c = sl_redis_open(r, cand[i].host, cand[i].port, NULL, r->url.db, who);
        if (c) {
            redisReply *role = redisCommand(c, "ROLE");
            int master = sl_sentinel_is_master(role);
            freeReplyObject(role);
            if (master) {
                r->ctx = c;
                r->errstr[0] = '\0';
                return 0;
            }
            redisFree(c);
            snprintf(why, sizeof why, "%.200s:%d is not a master (a sentinel is behind a failover)", cand[i].host,
                     cand[i].port);
        } else {
            snprintf(why, sizeof why, "%.500s", r->errstr);
        }
        if (tl < sizeof tried)
            tl += (size_t)snprintf(tried + tl, sizeof tried - tl, "%s%s", tl ? "; " : "", why);
    }
    snprintf(r->errstr, sizeof(r->errstr), "redis %s: no master for \"%s\" yet: %s", r->name, r->url.master, tried);
    return -1;
}

int sl_redis_connect(sl_redis *r)
{
    sl_redis_disconnect(r);
    if (r->url.kind == SL_URL_CLUSTER)
        return sl_cluster_connect(r);
    if (r->url.kind == SL_URL_SENTINEL)
        return connect_sentinel(r);
    r->ctx = sl_redis_open(r, r->url.host, r->url.port, r->url.is_unix ? r->url.path : NULL, r->url.db, r->name);
    if (!r->ctx)
        return -1;
    r->errstr[0] = '\0';
    return 0;
}

void sl_sleep_ms(int64_t ms, volatile sig_atomic_t *stop)
{
    while (ms > 0 && !(stop && *stop)) {
        int64_t step = ms < 50 ? ms : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* After a NULL reply the context is unusable (hiredis sets err): keep the reason
 * and drop it so the next sl_redis_connect reconnects. */
static redisReply *io_failed(sl_redis *r)
{
    snprintf(r->errstr, sizeof(r->errstr), "redis %s: %s", r->name,
             r->ctx && r->ctx->errstr[0] ? r->ctx->errstr : "connection lost");
    sl_redis_disconnect(r);
    return NULL;
}

/* A reply on a redis+sentinel:// connection that says this is no longer the
 * master (READONLY: demoted to a replica; MASTERDOWN): the reply is the
 * caller's, and the connection is dropped so the next connect asks the
 * sentinels again instead of retrying the old address. */
static redisReply *checked(sl_redis *r, redisReply *rep)
{
    if (r->url.kind == SL_URL_SENTINEL && rep &&
        (sl_redis_reply_is(rep, "READONLY") || sl_redis_reply_is(rep, "MASTERDOWN"))) {
        snprintf(r->errstr, sizeof(r->errstr), "redis %s: the master answered %.200s: asking the sentinels again",
                 r->name, rep->str);
        sl_redis_disconnect(r);
    }
    return rep;
}

static redisReply *not_connected(sl_redis *r)
{
    snprintf(r->errstr, sizeof(r->errstr), "redis %s: not connected", r->name);
    return NULL;
}

redisReply *sl_redis_cmd(sl_redis *r, const char *fmt, ...)
{
    if (!r->ctx)
        return not_connected(r);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep;
    if (r->cl) {
        char *buf = NULL;
        int len = redisvFormatCommand(&buf, fmt, ap);
        rep = len < 0 ? NULL : sl_cluster_exec(r, buf, (size_t)len);
        if (len < 0)
            snprintf(r->errstr, sizeof(r->errstr), "redis %s: cannot format the command", r->name);
        redisFreeCommand(buf);
        va_end(ap);
        return rep;
    }
    rep = redisvCommand(r->ctx, fmt, ap);
    va_end(ap);
    return rep ? checked(r, rep) : io_failed(r);
}

size_t sl_resp_size(int argc, const char **argv, const size_t *lens)
{
    size_t total = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + 20 + 2 + (lens ? lens[i] : strlen(argv[i])) + 2;
    return total;
}

size_t sl_resp_encode(char *buf, int argc, const char **argv, const size_t *lens)
{
    char *p = buf;
    *p++ = '*';
    p += sl_fmt_ll(p, argc); /* each number has room for SL_INT_TEXT_SIZE (1 + 20 + 2 in sl_resp_size) */
    *p++ = '\r', *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        size_t len = lens ? lens[i] : strlen(argv[i]);
        *p++ = '$';
        p += sl_fmt_ll(p, (long long)len);
        *p++ = '\r', *p++ = '\n';
        memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r', *p++ = '\n';
    }
    return (size_t)(p - buf);
}

/* A cluster command as RESP in a malloc'd buffer (*len its length); NULL with errstr. */
static char *encode_alloc(sl_redis *r, int argc, const char **argv, const size_t *lens, size_t *len)
{
    size_t total = sl_resp_size(argc, argv, lens);
    char *buf = malloc(total);
    if (!buf) {
        snprintf(r->errstr, sizeof(r->errstr), "redis %s: out of memory for a %zu-byte command", r->name, total);
        return NULL;
    }
    *len = sl_resp_encode(buf, argc, argv, lens);
    return buf;
}

redisReply *sl_redis_cmdargv(sl_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->ctx)
        return not_connected(r);
    if (r->cl) {
        size_t len;
        char *buf = encode_alloc(r, argc, argv, lens, &len);
        redisReply *rep = buf ? sl_cluster_exec(r, buf, len) : NULL;
        free(buf);
        return rep;
    }
    redisReply *rep = redisCommandArgv(r->ctx, argc, argv, lens);
    return rep ? checked(r, rep) : io_failed(r);
}

/* The command is encoded as RESP here, in one pass into one buffer, and handed
 * to hiredis with redisAppendFormattedCommand. Not redisAppendCommandArgv:
 * hiredis builds the text with one sdscatfmt per argument, which was a third of
 * the producer's CPU at ~400k XADDs/s (perf, bench/README.md); this is the
 * same bytes at a fraction of the cost. */
int sl_redis_append_argv(sl_redis *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->ctx) {
        not_connected(r);
        return -1;
    }
    if (r->cl) {
        size_t len;
        char *buf = encode_alloc(r, argc, argv, lens, &len);
        return buf ? sl_cluster_append(r, buf, len) : -1;
    }
    size_t total = sl_resp_size(argc, argv, lens);
    char stack[4096];
    char *buf = total <= sizeof(stack) ? stack : malloc(total);
    if (!buf) {
        snprintf(r->errstr, sizeof(r->errstr), "redis %s: out of memory for a %zu-byte command", r->name, total);
        return -1;
    }
    size_t len = sl_resp_encode(buf, argc, argv, lens);
    int rc = redisAppendFormattedCommand(r->ctx, buf, len);
    if (buf != stack)
        free(buf);
    if (rc != REDIS_OK) {
        io_failed(r);
        return -1;
    }
    return 0;
}

redisReply *sl_redis_get_reply(sl_redis *r)
{
    if (!r->ctx)
        return not_connected(r);
    if (r->cl)
        return sl_cluster_get_reply(r);
    void *rep = NULL;
    if (redisGetReply(r->ctx, &rep) != REDIS_OK || !rep)
        return io_failed(r);
    return checked(r, rep);
}

int sl_redis_wait(sl_redis *r, int replicas, int64_t timeout_ms, char *err, size_t errlen)
{
    char n[24], t[24];
    snprintf(n, sizeof n, "%d", replicas);
    snprintf(t, sizeof t, "%lld", (long long)timeout_ms);
    const char *argv[3] = {"WAIT", n, t};
    int got = -1;
    if (replicas <= 0)
        return 0;
    if (!r->ctx) {
        not_connected(r);
        snprintf(err, errlen, "%s", r->errstr);
        return -1;
    }
    if (r->cl) {
        char buf[96];
        size_t len = sl_resp_encode(buf, 3, argv, NULL);
        if (sl_cluster_wait(r, buf, len, replicas, &got) != 0) {
            snprintf(err, errlen, "%s", r->errstr);
            return -1;
        }
    } else {
        redisReply *rep = sl_redis_cmdargv(r, 3, argv, NULL);
        if (!rep) {
            snprintf(err, errlen, "%s", r->errstr);
            return -1;
        }
        if (rep->type == REDIS_REPLY_INTEGER)
            got = (int)rep->integer;
        else
            snprintf(err, errlen, "WAIT %d %lld failed on %s: %.200s", replicas, (long long)timeout_ms, r->name,
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        freeReplyObject(rep);
        if (got < 0)
            return -1;
    }
    if (got >= replicas)
        return 0;
    snprintf(err, errlen,
             "the write was not confirmed: %d of %d replicas acknowledged it within redis.wait_timeout (%lld ms) on %s",
             got, replicas, (long long)timeout_ms, r->name);
    return -1;
}

int sl_redis_nodes(const sl_redis *r)
{
    return r->cl ? sl_cluster_nodes(r) : 1;
}

redisReply *sl_redis_cmdargv_at(sl_redis *r, int node, int argc, const char **argv, const size_t *lens)
{
    if (!r->cl)
        return sl_redis_cmdargv(r, argc, argv, lens);
    if (!r->ctx)
        return not_connected(r);
    size_t len;
    char *buf = encode_alloc(r, argc, argv, lens, &len);
    redisReply *rep = buf ? sl_cluster_exec_at(r, node, buf, len) : NULL;
    free(buf);
    return rep;
}

const char *sl_redis_node_name(sl_redis *r, int node, char *buf, size_t n)
{
    if (!r->cl) {
        snprintf(buf, n, "%s", r->name);
        return buf;
    }
    return sl_cluster_node_name(r, node, buf, n);
}

int sl_redis_reply_is(const redisReply *reply, const char *code)
{
    if (!reply || reply->type != REDIS_REPLY_ERROR || !reply->str)
        return 0;
    size_t n = strlen(code);
    return reply->len >= n && strncmp(reply->str, code, n) == 0 && (reply->len == n || reply->str[n] == ' ');
}

int sl_redis_reply_transient(const redisReply *reply)
{
    static const char *const codes[] = {"LOADING",  "READONLY",    "OOM",        "MASTERDOWN", "BUSY",
                                        "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "UNBLOCKED"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (sl_redis_reply_is(reply, codes[i]))
            return 1;
    return 0;
}

const char *sl_redis_errstr(const sl_redis *r)
{
    return r->errstr;
}

const char *sl_redis_name(const sl_redis *r)
{
    return r->name;
}

redisContext *sl_redis_context(sl_redis *r)
{
    return r->ctx;
}
