/* Internals of the connection module shared by redis.c (one server) and
 * redis_cluster.c (the Redis Cluster router). Private to common/redis*.c. */
#ifndef SL_COMMON_REDIS_INT_H
#define SL_COMMON_REDIS_INT_H

#include "common/redis.h"
#include "common/url.h"

typedef struct sl_cluster sl_cluster;

struct sl_redis {
    sl_url url; /* parsed; holds the password in memory only */
    sl_redis_opts opts;
    redisContext *ctx; /* NULL while disconnected; in a cluster the node of the last command */
    sl_cluster *cl; /* redis+cluster:// only, else NULL */
    char name[300]; /* redacted URL for logs */
    char errstr[1024]; /* room for the name, a hiredis errstr and a reply */
};

/** A ready context to host:port (path for unix://, NULL otherwise) with the
 *  URL's credentials, db and the timeouts; NULL with errstr set. who names the
 *  server in messages. */
redisContext *sl_redis_open(sl_redis *r, const char *host, int port, const char *path, int db, const char *who);

/** RESP encoding of argv: the size it needs at most, and the encoding into buf
 *  (which has that room); returns the bytes written. */
size_t sl_resp_size(int argc, const char **argv, const size_t *lens);
size_t sl_resp_encode(char *buf, int argc, const char **argv, const size_t *lens);

/* The cluster router (redis_cluster.c); buf is one RESP-encoded command. */
int sl_cluster_connect(sl_redis *r);
void sl_cluster_disconnect(sl_redis *r);
void sl_cluster_free(sl_redis *r);
redisReply *sl_cluster_exec(sl_redis *r, const char *buf, size_t len);
/** Takes buf (malloc'd) in every case. */
int sl_cluster_append(sl_redis *r, char *buf, size_t len);
redisReply *sl_cluster_get_reply(sl_redis *r);
int sl_cluster_nodes(const sl_redis *r);
redisReply *sl_cluster_exec_at(sl_redis *r, int node, const char *buf, size_t len);
const char *sl_cluster_node_name(sl_redis *r, int node, char *buf, size_t n);
/** buf (a WAIT) on every master sent to since the last call; *least the
 *  smallest count (replicas when none was sent to). 0, or -1 (I/O). */
int sl_cluster_wait(sl_redis *r, const char *buf, size_t len, int replicas, int *least);

#endif
