/* sl_redis_wait (redis.wait_replicas) against a real master with one real
 * replica: a write confirmed by the replica passes; asking for more replicas
 * than exist, or a replica that is stopped (SIGSTOP), is an error naming how
 * many confirmed, never a success. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "common/redis.h"
#include "support/th.h"

static th_server master, replica;

static int replica_up(void *arg)
{
    redisContext *c = arg;
    redisReply *r = redisCommand(c, "INFO replication");
    int up =
        r && r->type == REDIS_REPLY_STRING && strstr(r->str, "connected_slaves:1") && strstr(r->str, "state=online");
    freeReplyObject(r);
    return up;
}

static void setup(void)
{
    th_server_start(&master);
    th_server_start(&replica);
    redisContext *mc0 = th_server_connect(&master);
    freeReplyObject(redisCommand(mc0, "CONFIG SET repl-diskless-sync-delay 0")); /* else 5 s per full sync */
    redisFree(mc0);
    redisContext *rc = th_server_connect(&replica);
    freeReplyObject(redisCommand(rc, "REPLICAOF 127.0.0.1 %d", master.port));
    redisFree(rc);
    redisContext *mc = th_server_connect(&master);
    cr_assert(th_wait_until(replica_up, mc, 30000), "the replica did not come online");
    redisFree(mc);
}

static void teardown(void)
{
    if (replica.pid)
        kill(replica.pid, SIGCONT);
    th_server_kill(&replica);
    th_server_kill(&master);
}

TestSuite(wait, .init = setup, .fini = teardown, .timeout = 60);

static sl_redis *connect_master(void)
{
    char err[256];
    sl_redis *r = sl_redis_new(master.url, NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    return r;
}

Test(wait, confirmed_by_the_replica)
{
    sl_redis *r = connect_master();
    char err[512] = "";
    freeReplyObject(sl_redis_cmd(r, "SET k v"));
    cr_assert_eq(sl_redis_wait(r, 1, 2000, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sl_redis_wait(r, 0, 1, err, sizeof err), 0, "0 replicas: nothing to wait for");
    sl_redis_free(r);
}

Test(wait, more_replicas_than_there_are_is_an_error)
{
    sl_redis *r = connect_master();
    char err[512] = "";
    freeReplyObject(sl_redis_cmd(r, "SET k v"));
    cr_assert_eq(sl_redis_wait(r, 2, 200, err, sizeof err), -1);
    cr_assert(strstr(err, "not confirmed: 1 of 2 replicas acknowledged it within redis.wait_timeout (200 ms)"), "%s",
              err);
    sl_redis_free(r);
}

Test(wait, a_stopped_replica_times_out)
{
    sl_redis *r = connect_master();
    char err[512] = "";
    kill(replica.pid, SIGSTOP);
    freeReplyObject(sl_redis_cmd(r, "SET k v2"));
    cr_assert_eq(sl_redis_wait(r, 1, 300, err, sizeof err), -1, "a write the replica has not taken is not confirmed");
    cr_assert(strstr(err, "0 of 1 replicas"), "%s", err);
    kill(replica.pid, SIGCONT);
    cr_assert_eq(sl_redis_wait(r, 1, 5000, err, sizeof err), 0, "after SIGCONT it is: %s", err);
    sl_redis_free(r);
}
