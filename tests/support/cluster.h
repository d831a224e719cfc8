/* A real Redis Cluster for tests: N cluster-enabled redis-servers (th_server),
 * the 16384 slots split evenly among them with CLUSTER ADDSLOTSRANGE, joined
 * with CLUSTER MEET, and ready when every node says cluster_state:ok. With
 * th_cluster_start_replicated each master gets one replica (CLUSTER
 * REPLICATE), for failover tests: cluster-node-timeout is 2 s (th.c), so a
 * killed master's replica takes over within seconds. */
#ifndef TH_CLUSTER_H
#define TH_CLUSTER_H

#include "support/th.h"

#define TH_CLUSTER_MAX 6

typedef struct th_cluster {
    int n; /* nodes */
    int masters; /* nodes 0..masters-1 were started as masters, the rest as their replicas */
    th_server srv[TH_CLUSTER_MAX];
    redisContext *rc[TH_CLUSTER_MAX]; /* one connection per node, for the test's own checks; NULL: killed */
    char url[512]; /* redis+cluster://127.0.0.1:P1,127.0.0.1:P2,... (the first masters) */
} th_cluster;

/** Start n (1..TH_CLUSTER_MAX) masters and wait for the cluster (asserts). */
void th_cluster_start(th_cluster *c, int n);
/** Start n (1..TH_CLUSTER_MAX/2) masters and one replica of each (node n+i
 *  replicates node i), and wait until the cluster is ok and every replica's
 *  link is up (asserts). The URL names the masters. */
void th_cluster_start_replicated(th_cluster *c, int n);
/** Start one more master without slots (node c->n, which it returns), MEET it
 *  and wait until every node knows it (asserts). */
int th_cluster_add_master(th_cluster *c);
/** kill -9 node i (its connection is closed; port and dir stay). */
void th_cluster_kill(th_cluster *c, int i);
/** Start killed node i again (same port and nodes.conf: it rejoins the
 *  cluster, as a replica once its master was replaced) and reconnect. */
void th_cluster_restart(th_cluster *c, int i);
/** Wait until a live node other than `not` is the master of key's slot for
 *  every live node and says cluster_state:ok; its index (asserts within timeout_ms). */
int th_cluster_wait_new_master(th_cluster *c, const char *key, int not, int timeout_ms);
/** Wait until node i, a replica, has its master link up (asserts). */
void th_cluster_wait_replica_up(th_cluster *c, int i, int timeout_ms);
/** Kill every node. NULL-safe and idempotent. */
void th_cluster_stop(th_cluster *c);
/** The node (0..n-1) that is master of key's slot, by the first live node's CLUSTER SHARDS (asserts one is). */
int th_cluster_node_of(th_cluster *c, const char *key);
/** The connection to the master of queue (or partition) q's keys
 *  sluice:{q}...: an acct_route_fn (support/acct.h) with arg the cluster. */
redisContext *th_cluster_route(void *arg, const char *q);
/** Move slot from node `from` to node `to` with its keys (SETSLOT IMPORTING/MIGRATING,
 *  MIGRATE, SETSLOT NODE on every master), and wait until every node agrees. */
void th_cluster_move_slot(th_cluster *c, unsigned slot, int from, int to);
/** The same, but key `first` (may be NULL) migrates alone first and the
 *  rest pause_ms later: meanwhile clients of the slot meet ASK for it. */
void th_cluster_move_slot_paced(th_cluster *c, unsigned slot, int from, int to, const char *first, int pause_ms);
/** Node i's count of error replies with this code ("ASK", "MOVED"), from INFO errorstats. */
long long th_cluster_errorstat(th_cluster *c, int i, const char *code);
/** Reply of fmt on node i (asserts a reply came). */
redisReply *th_cluster_cmd(th_cluster *c, int i, const char *fmt, ...);

#endif
