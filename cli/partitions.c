/* The partitions of a queue for the operator commands (partitions.h). */
#include "cli/partitions.h"

#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int sl_cli_nparts(const char *cmd, sl_redis *r, const char *queue)
{
    char key[SL_KEY_MAX];
    if (sl_key_partitions(key, sizeof key, queue) != 0)
        return sl_cli_fail(cmd, "queue name too long"), -1;
    const char *argv[] = {"GET", key};
    redisReply *rep = sl_cli_cmd(cmd, r, 2, argv);
    if (!rep)
        return -1;
    int n = rep->type == REDIS_REPLY_NIL      ? 1
            : rep->type == REDIS_REPLY_STRING ? sl_part_parse_count(rep->str, rep->len)
                                              : -1;
    if (n < 0)
        sl_cli_fail(cmd, "%s does not hold a partition count 1..%d", key, SL_PARTITIONS_MAX);
    freeReplyObject(rep);
    return n;
}

int sl_cli_parts_get(const char *cmd, sl_redis *r, const char *queue, int only, sl_cli_parts *p)
{
    memset(p, 0, sizeof *p);
    p->only = only;
    if ((p->total = sl_cli_nparts(cmd, r, queue)) < 0)
        return 1;
    if (only >= p->total)
        return sl_cli_fail(cmd, "queue '%s' has %d partition%s: no partition %d", queue, p->total,
                           p->total == 1 ? "" : "s", only);
    p->n = only >= 0 ? 1 : p->total;
    if (!(p->names = calloc((size_t)p->n, sizeof *p->names)))
        return sl_cli_fail(cmd, "out of memory");
    for (int i = 0; i < p->n; i++)
        if (sl_part_name(p->names[i], sizeof p->names[i], queue, p->total, only >= 0 ? only : i) != 0)
            return sl_cli_fail(cmd, "queue name too long");
    return 0;
}

void sl_cli_parts_free(sl_cli_parts *p)
{
    free(p->names);
    p->names = NULL;
}

int sl_cli_parse_partition(const char *cmd, const char *arg, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || v < 0 || v >= SL_PARTITIONS_MAX)
        return sl_cli_usage(cmd, "--partition wants an index 0..%d, got '%.20s'", SL_PARTITIONS_MAX - 1, arg);
    *out = (int)v;
    return 0;
}
