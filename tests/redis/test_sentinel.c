/* sl_redis with a redis+sentinel:// URL against real processes: a master, one
 * replica and three sentinels (quorum 2). The master is found through the
 * sentinels and checked with ROLE; dead sentinels are skipped; an unknown
 * name and unreachable sentinels give messages that say so; a killed master
 * is replaced by the sentinels and the next connect finds the new one; a
 * master demoted under the connection (READONLY) drops it so the next connect
 * asks again; the password reaches the master and never a message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redis.h"
#include "support/sentinel.h"

#define NAME "mymaster"
#define NS 3

static th_server master, replica;
static th_sentinel sen[NS];
static char url[512];

static void start(const char *password)
{
    master.password = replica.password = password;
    th_server_start(&master);
    th_server_start(&replica);
    th_make_replica(&replica, &master);
    size_t n = (size_t)snprintf(url, sizeof url, "redis+sentinel://%s%s%s", password ? ":" : "",
                                password ? password : "", password ? "@" : "");
    for (int i = 0; i < NS; i++) {
        th_sentinel_start(&sen[i], NAME, master.port, 2, password);
        n += (size_t)snprintf(url + n, sizeof url - n, "%s127.0.0.1:%d", i ? "," : "", sen[i].port);
    }
    snprintf(url + n, sizeof url - n, "/" NAME);
    for (int i = 0; i < NS; i++)
        th_sentinel_wait_ready(&sen[i], NAME, 1, NS - 1);
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    for (int i = 0; i < NS; i++)
        th_sentinel_kill(&sen[i]);
    th_server_kill(&replica);
    th_server_kill(&master);
    memset(&master, 0, sizeof master);
    memset(&replica, 0, sizeof replica);
}

TestSuite(sentinel, .init = setup, .fini = teardown, .timeout = 120);

static sl_redis *connect_to(const char *u)
{
    char err[512];
    sl_redis *r = sl_redis_new(u, NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    return r;
}

static int port_of(sl_redis *r)
{
    redisReply *rep = sl_redis_cmd(r, "CONFIG GET port");
    cr_assert(rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2, "%s", sl_redis_errstr(r));
    int p = atoi(rep->element[1]->str);
    freeReplyObject(rep);
    return p;
}

Test(sentinel, the_master_through_the_sentinels)
{
    sl_redis *r = connect_to(url);
    cr_assert_eq(port_of(r), master.port);
    redisReply *rep = sl_redis_cmd(r, "SET k v");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS);
    freeReplyObject(rep);
    sl_redis_free(r);
}

Test(sentinel, dead_sentinels_are_skipped_and_named)
{
    char u[600];
    int dead = th_free_port();
    snprintf(u, sizeof u, "redis+sentinel://127.0.0.1:%d,127.0.0.1:%d/" NAME, dead, sen[1].port);
    sl_redis *r = connect_to(u);
    cr_assert_eq(port_of(r), master.port);
    sl_redis_free(r);

    snprintf(u, sizeof u, "redis+sentinel://127.0.0.1:%d/" NAME, dead);
    char err[512];
    r = sl_redis_new(u, NULL, err, sizeof err);
    cr_assert_eq(sl_redis_connect(r), -1);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d unreachable", dead);
    cr_assert(strstr(sl_redis_errstr(r), "no sentinel named a master for \"" NAME "\"") &&
                  strstr(sl_redis_errstr(r), want),
              "%s", sl_redis_errstr(r));
    sl_redis_free(r);
}

Test(sentinel, an_unknown_master_name)
{
    char u[600], err[512];
    snprintf(u, sizeof u, "redis+sentinel://127.0.0.1:%d/nosuch", sen[0].port);
    sl_redis *r = sl_redis_new(u, NULL, err, sizeof err);
    cr_assert_eq(sl_redis_connect(r), -1);
    cr_assert(strstr(sl_redis_errstr(r), "does not know a master named nosuch"), "%s", sl_redis_errstr(r));
    sl_redis_free(r);
}

typedef struct reconnect_arg {
    sl_redis *r;
} reconnect_arg;

static int reconnects(void *arg)
{
    reconnect_arg *a = arg;
    return sl_redis_connect(a->r) == 0;
}

static int promoted(void *arg)
{
    (void)arg;
    for (int i = 0; i < NS; i++)
        if (th_sentinel_master_port(&sen[i], NAME) != replica.port)
            return 0;
    return 1;
}

Test(sentinel, a_killed_master_is_replaced)
{
    sl_redis *r = connect_to(url);
    freeReplyObject(sl_redis_cmd(r, "SET before 1"));
    char err[256];
    cr_assert_eq(sl_redis_wait(r, 1, 5000, err, sizeof err), 0, "%s", err);
    th_server_kill(&master);
    redisReply *rep = sl_redis_cmd(r, "SET during 1");
    cr_assert_null(rep, "the old master is gone");
    cr_assert(th_wait_until(promoted, NULL, 60000), "the sentinels did not promote the replica");
    reconnect_arg a = {r};
    cr_assert(th_wait_until(reconnects, &a, 30000), "%s", sl_redis_errstr(r));
    cr_assert_eq(port_of(r), replica.port, "connected to the promoted replica, not the old address");
    rep = sl_redis_cmd(r, "GET before");
    cr_assert(rep && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1") == 0, "the confirmed write survived");
    freeReplyObject(rep);
    rep = sl_redis_cmd(r, "SET after 1");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    sl_redis_free(r);
}

Test(sentinel, a_demoted_master_drops_the_connection)
{
    sl_redis *r = connect_to(url);
    redisContext *m = th_server_connect(&master);
    freeReplyObject(redisCommand(m, "REPLICAOF 127.0.0.1 %d", replica.port));
    redisFree(m);
    redisReply *rep = sl_redis_cmd(r, "SET k v");
    cr_assert(rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "READONLY", 8) == 0, "%s",
              rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    cr_assert_eq(sl_redis_connected(r), 0, "READONLY dropped the connection");
    cr_assert(strstr(sl_redis_errstr(r), "asking the sentinels again"), "%s", sl_redis_errstr(r));
    sl_redis_free(r);
}

static void setup_auth(void)
{
    start("s3cr3t-PW");
}

TestSuite(sentinel_auth, .init = setup_auth, .fini = teardown, .timeout = 120);

Test(sentinel_auth, the_password_goes_to_the_master_only)
{
    sl_redis *r = connect_to(url);
    redisReply *rep = sl_redis_cmd(r, "SET k v");
    cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "%s", rep && rep->str ? rep->str : sl_redis_errstr(r));
    freeReplyObject(rep);
    sl_redis_free(r);
    char u[600], err[512];
    snprintf(u, sizeof u, "redis+sentinel://:s3cr3t-PW@127.0.0.1:%d/nosuch", sen[0].port);
    r = sl_redis_new(u, NULL, err, sizeof err);
    cr_assert_eq(sl_redis_connect(r), -1);
    cr_assert(strstr(sl_redis_errstr(r), "s3cr3t") == NULL, "%s", sl_redis_errstr(r));
    cr_assert(strstr(sl_redis_name(r), "s3cr3t") == NULL, "%s", sl_redis_name(r));
    sl_redis_free(r);
}
