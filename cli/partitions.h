/* The partitions of a queue as the operator commands see them
 * (queues.<Q>.partitions, published in sluice:{Q}:partitions): the count, the
 * names Q#i the commands visit, and the --partition I option that narrows a
 * command to one of them. Private to cli/. */
#ifndef SL_CLI_PARTITIONS_H
#define SL_CLI_PARTITIONS_H

#include "common/partition.h"
#include "common/redis.h"

/** The names of the partitions a command visits. */
typedef struct sl_cli_parts {
    int n; /* how many names (1 for an unpartitioned queue or --partition) */
    int total; /* the queue's partition count */
    int only; /* the --partition index, -1 for all */
    char (*names)[SL_PARTITION_NAME_MAX]; /* "Q" or "Q#i" */
} sl_cli_parts;

/** GET sluice:{queue}:partitions: the queue's count, 1 when absent; -1 after
 *  printing why (Redis error, a value that is not a count). */
int sl_cli_nparts(const char *cmd, sl_redis *r, const char *queue);

/**
 * The partitions of queue a command visits: every one, or only partition
 * `only` (>= 0, from --partition). Fills *p (free with sl_cli_parts_free).
 * @return 0, or 1 after printing why (Redis error, no such partition).
 */
int sl_cli_parts_get(const char *cmd, sl_redis *r, const char *queue, int only, sl_cli_parts *p);
void sl_cli_parts_free(sl_cli_parts *p);

/** Parse the value of --partition: 0..SL_PARTITIONS_MAX-1 into *out. 0, or 2
 *  after a usage error. */
int sl_cli_parse_partition(const char *cmd, const char *arg, int *out);

#endif
