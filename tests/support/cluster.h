/* A real Redis Cluster for tests: N cluster-enabled redis-servers (th_server),
 * the 16384 slots split evenly among them with CLUSTER ADDSLOTSRANGE, joined
 * with CLUSTER MEET, and ready when every node says cluster_state:ok. Masters
 * only: a test that needs replicas adds them. */
#ifndef TH_CLUSTER_H
#define TH_CLUSTER_H

#include "support/th.h"

#define TH_CLUSTER_MAX 6

typedef struct th_cluster {
    int n;
    th_server srv[TH_CLUSTER_MAX];
    redisContext *rc[TH_CLUSTER_MAX]; /* one connection per node, for the test's own checks */
    char url[512]; /* redis+cluster://127.0.0.1:P1,127.0.0.1:P2,... */
} th_cluster;

/** Start n (1..TH_CLUSTER_MAX) masters and wait for the cluster (asserts). */
void th_cluster_start(th_cluster *c, int n);
/** Kill every node. NULL-safe and idempotent. */
void th_cluster_stop(th_cluster *c);
/** The node (0..n-1) whose slots hold key, by node 0's CLUSTER SHARDS. */
int th_cluster_node_of(th_cluster *c, const char *key);
/** Move slot from node `from` to node `to` with its keys (SETSLOT IMPORTING/MIGRATING,
 *  MIGRATE, SETSLOT NODE on every node), and wait until every node agrees. */
void th_cluster_move_slot(th_cluster *c, unsigned slot, int from, int to);
/** Reply of fmt on node i (asserts a reply came). */
redisReply *th_cluster_cmd(th_cluster *c, int i, const char *fmt, ...);

#endif
