/* The Sentinel fixture (sentinel.h). */
#include "support/sentinel.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int answers(void *arg)
{
    const th_sentinel *s = arg;
    redisContext *c = redisConnect("127.0.0.1", s->port);
    int up = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        up = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return up;
}

void th_sentinel_start(th_sentinel *s, const char *name, int master_port, int quorum, const char *auth_pass)
{
    memset(s, 0, sizeof *s);
    s->port = th_free_port();
    snprintf(s->dir, sizeof s->dir, "%.300s/sentinel-%d", th_tmpdir(), s->port);
    cr_assert(mkdir(s->dir, 0700) == 0 || errno == EEXIST, "mkdir(%s): %s", s->dir, strerror(errno));
    snprintf(s->conf, sizeof s->conf, "%s/sentinel.conf", s->dir);
    snprintf(s->log, sizeof s->log, "%s/sentinel.log", s->dir);
    FILE *f = fopen(s->conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\n"
            "sentinel monitor %s 127.0.0.1 %d %d\n"
            "sentinel down-after-milliseconds %s 1000\n"
            "sentinel failover-timeout %s 3000\n"
            "sentinel parallel-syncs %s 1\n",
            s->port, s->dir, name, master_port, quorum, name, name, name);
    if (auth_pass)
        fprintf(f, "sentinel auth-pass %s %s\n", name, auth_pass);
    fclose(f);
    /* redis-sentinel (package redis-sentinel) when installed, else the same server in sentinel mode */
    int have = access("/usr/bin/redis-sentinel", X_OK) == 0;
    char *argv_s[] = {"redis-sentinel", s->conf, NULL};
    char *argv_r[] = {"redis-server", s->conf, "--sentinel", NULL};
    s->pid = th_spawn(have ? argv_s : argv_r, NULL, s->log);
    cr_assert(th_wait_until(answers, s, 10000), "sentinel on %d did not start (see %s)", s->port, s->log);
}

void th_sentinel_kill(th_sentinel *s)
{
    if (s && s->pid) {
        th_kill(s->pid);
        s->pid = 0;
    }
}

int th_sentinel_master_port(const th_sentinel *s, const char *name)
{
    redisContext *c = redisConnect("127.0.0.1", s->port);
    int port = -1;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", name);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            port = atoi(r->element[1]->str);
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return port;
}

typedef struct online_arg {
    const th_server *master;
    int replica_port;
} online_arg;

static int replica_online(void *arg)
{
    online_arg *a = arg;
    redisContext *c = redisConnect("127.0.0.1", a->master->port);
    int up = 0;
    if (c && !c->err) {
        if (a->master->password)
            freeReplyObject(redisCommand(c, "AUTH %s", a->master->password));
        redisReply *r = redisCommand(c, "INFO replication");
        char want[64];
        snprintf(want, sizeof want, "port=%d,state=online", a->replica_port);
        up = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want);
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return up;
}

void th_make_replica(th_server *replica, const th_server *master)
{
    redisContext *m = th_server_connect(master);
    if (master->password)
        freeReplyObject(redisCommand(m, "AUTH %s", master->password));
    freeReplyObject(redisCommand(m, "CONFIG SET repl-diskless-sync-delay 0")); /* else 5 s per full sync */
    redisFree(m);
    redisContext *c = th_server_connect(replica);
    if (replica->password)
        freeReplyObject(redisCommand(c, "AUTH %s", replica->password));
    if (master->password)
        freeReplyObject(redisCommand(c, "CONFIG SET masterauth %s", master->password));
    freeReplyObject(redisCommand(c, "CONFIG SET repl-diskless-sync-delay 0"));
    redisReply *r = redisCommand(c, "REPLICAOF 127.0.0.1 %d", master->port);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "REPLICAOF: %s", r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
    online_arg a = {master, replica->port};
    cr_assert(th_wait_until(replica_online, &a, 30000), "replica %d did not come online (see %s)", replica->port,
              replica->log);
}

typedef struct ready_arg {
    const th_sentinel *s;
    const char *name;
    int replicas, others;
} ready_arg;

static int knows_all(void *arg)
{
    ready_arg *a = arg;
    redisContext *c = redisConnect("127.0.0.1", a->s->port);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "SENTINEL master %s", a->name);
        int slaves = -1, others = -1;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
            if (strcmp(r->element[i]->str, "num-slaves") == 0)
                slaves = atoi(r->element[i + 1]->str);
            if (strcmp(r->element[i]->str, "num-other-sentinels") == 0)
                others = atoi(r->element[i + 1]->str);
        }
        ok = slaves == a->replicas && others == a->others;
        freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

void th_sentinel_wait_ready(const th_sentinel *s, const char *name, int replicas, int others)
{
    ready_arg a = {s, name, replicas, others};
    cr_assert(th_wait_until(knows_all, &a, 30000),
              "sentinel %d does not see %d replica(s) and %d other sentinel(s) (see %s)", s->port, replicas, others,
              s->log);
}
