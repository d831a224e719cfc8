/* Names of the workers' ack journals (workers/journal.h) in /dev/shm, and the
 * removal of a stale one. In common/ so the supervisor can remove the journals
 * of slots that no longer exist, with the same name the worker uses. */
#ifndef SL_JOURNAL_NAME_H
#define SL_JOURNAL_NAME_H

#include <stddef.h>

/**
 * The journal path of one consumer: /dev/shm (else $TMPDIR, else /tmp)
 * "sluice-acks-<hash>", the hash (FNV-1a, 64 bit) over the deployment's
 * identity (sl_journal_identity), the stream key, the group and the consumer.
 * @return 0, or -1 when it does not fit in n.
 */
int sl_journal_name(char *buf, size_t n, const char *redis_url, const char *stream, const char *group,
                    const char *consumer);

/**
 * The identity of the Redis deployment a URL names, never the node a
 * connection happens to reach, and never the password (a new password keeps
 * the journal): one server, the URL as written with its password redacted; a
 * Redis Cluster, "cluster:USER@" and its seeds sorted (their order does not
 * matter); Sentinel, "sentinel:USER@MASTER/DB" (the sentinels can change, and
 * a failover moves the master, without changing it).
 */
void sl_journal_identity(const char *redis_url, char *buf, size_t n);

/**
 * Remove the journal of a consumer that will not come back (a slot beyond its
 * pool's size), if it is ours: opened without following links, a regular file
 * of this euid with mode 0600, and not locked by a live worker (flock).
 * Unconfirmed acks in it are dropped: those entries stay pending and are
 * reclaimed and run again after the lease, as at-least-once allows.
 * @return 1 removed, 0 no such file, -1 kept (in use, not ours, or an error).
 */
int sl_journal_remove_stale(const char *redis_url, const char *stream, const char *group, const char *consumer);

#endif
