/* Redis Sentinel for tests: real sentinel processes (redis-sentinel, or
 * redis-server --sentinel) on free loopback ports, each with its own writable
 * config in a temp dir, watching a th_server master with short failure
 * timeouts (down after 1 s, failover timeout 3 s), so a killed master is
 * replaced within a few seconds. */
#ifndef TH_SENTINEL_H
#define TH_SENTINEL_H

#include "support/th.h"

typedef struct th_sentinel {
    pid_t pid; /* 0: not running */
    int port;
    char dir[400], conf[512], log[512];
} th_sentinel;

/** Start a sentinel watching 127.0.0.1:master_port as name with quorum q;
 *  auth_pass (may be NULL) is the master's password. Waits until it answers (asserts). */
void th_sentinel_start(th_sentinel *s, const char *name, int master_port, int quorum, const char *auth_pass);
/** kill -9 and reap. NULL-safe, idempotent. */
void th_sentinel_kill(th_sentinel *s);
/** The master port this sentinel names for name now, or -1. */
int th_sentinel_master_port(const th_sentinel *s, const char *name);

/** Wait until s knows name's master with `replicas` replicas and `others`
 *  other sentinels (what a failover needs); asserts. */
void th_sentinel_wait_ready(const th_sentinel *s, const char *name, int replicas, int others);

/** Make replica a replica of master (masterauth when master has a password)
 *  and wait until master sees it online (asserts). */
void th_make_replica(th_server *replica, const th_server *master);

#endif
