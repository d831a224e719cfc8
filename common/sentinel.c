/* Sentinel master lookup (sentinel.h). */
#include "common/sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_sentinel_parse_addr(const redisReply *r, sl_url_host *out)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 || r->element[0]->len >= sizeof out->host)
        return -1;
    char *end;
    long port = strtol(r->element[1]->str, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return -1;
    memcpy(out->host, r->element[0]->str, r->element[0]->len + 1);
    out->port = (int)port;
    return 0;
}

int sl_sentinel_is_master(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_STRING &&
           strcmp(r->element[0]->str, "master") == 0;
}

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/* SENTINEL get-master-addr-by-name on c, with AUTH first when auth. */
static redisReply *ask(redisContext *c, const sl_url *u, int auth)
{
    if (auth) {
        const char *argv[3] = {"AUTH", u->user[0] ? u->user : u->password, u->password};
        redisReply *a = redisCommandArgv(c, u->user[0] ? 3 : 2, argv, NULL);
        if (!a)
            return NULL;
        freeReplyObject(a);
    }
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", u->master};
    return redisCommandArgv(c, 3, argv, NULL);
}

/* What sentinel s said, appended to buf ("; " between). */
static void note(char *buf, size_t n, size_t *at, const sl_url_host *s, const char *what)
{
    if (*at >= n)
        return;
    int w = snprintf(buf + *at, n - *at, "%s%s:%d %s", *at ? "; " : "", s->host, s->port, what);
    if (w > 0)
        *at += (size_t)w;
}

void sl_sentinel_tally_add(sl_sentinel_tally *t, const sl_url_host *a)
{
    int k = 0;
    while (k < t->n && !(t->found[k].port == a->port && strcmp(t->found[k].host, a->host) == 0))
        k++;
    if (k == t->n) {
        if (t->n == SL_URL_MAX_HOSTS)
            return;
        t->found[t->n] = *a;
        t->votes[t->n++] = 0;
    }
    t->votes[k]++;
}

int sl_sentinel_tally_order(const sl_sentinel_tally *t, sl_url_host *out, int max)
{
    int taken = 0;
    for (int v = SL_URL_MAX_HOSTS; v > 0 && taken < max; v--) /* most named first, first named among equals */
        for (int k = 0; k < t->n && taken < max; k++)
            if (t->votes[k] == v)
                out[taken++] = t->found[k];
    return taken;
}

int sl_sentinel_masters(const sl_url *u, int64_t connect_timeout_ms, int64_t command_timeout_ms, sl_url_host *out,
                        int max, char *err, size_t errlen)
{
    sl_sentinel_tally tally = {.n = 0};
    char said[768] = "", msg[256];
    size_t at = 0;

    for (int i = 0; i < u->nhosts; i++) {
        const sl_url_host *s = &u->hosts[i];
        redisContext *c = redisConnectWithTimeout(s->host, s->port, tv_of(connect_timeout_ms));
        if (!c || c->err) {
            snprintf(msg, sizeof msg, "unreachable (%.200s)", c ? c->errstr : "out of memory");
            note(said, sizeof said, &at, s, msg);
            if (c)
                redisFree(c);
            continue;
        }
        redisSetTimeout(c, tv_of(command_timeout_ms));
        redisReply *r = ask(c, u, 0);
        if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0 && u->password[0]) {
            freeReplyObject(r);
            r = ask(c, u, 1);
        }
        sl_url_host a;
        if (!r) {
            snprintf(msg, sizeof msg, "did not answer (%.200s)", c->errstr);
            note(said, sizeof said, &at, s, msg);
        } else if (r->type == REDIS_REPLY_ERROR) {
            snprintf(msg, sizeof msg, "answered %.150s", r->str);
            note(said, sizeof said, &at, s, msg);
        } else if (sl_sentinel_parse_addr(r, &a) != 0) {
            snprintf(msg, sizeof msg, "does not know a master named %.128s", u->master);
            note(said, sizeof said, &at, s, msg);
        } else {
            sl_sentinel_tally_add(&tally, &a);
        }
        if (r)
            freeReplyObject(r);
        redisFree(c);
    }
    if (tally.n == 0) {
        snprintf(err, errlen, "no sentinel named a master for \"%s\": %s", u->master, said);
        return -1;
    }
    return sl_sentinel_tally_order(&tally, out, max);
}
