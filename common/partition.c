/* Partitioned queues: names, counts and the producer's choice (partition.h). */
#include "common/partition.h"

#include <string.h>

#include "common/util.h"

uint32_t sl_part_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

int sl_part_count(const sl_config *cfg, const char *queue)
{
    const sl_queue_cfg *q = sl_cfg_queue(cfg, queue);

    return q != NULL && q->partitions > 1 ? q->partitions : 1;
}

int sl_part_name(char *buf, size_t size, const char *queue, int n, int i)
{
    if (n < 1 || i < 0 || i >= n)
        return -1;
    return n == 1 ? sl_fmt(buf, size, "%s", queue) : sl_fmt(buf, size, "%s#%d", queue, i);
}

/* A canonical decimal s[0..len) below limit: its value, else -1. */
static int canonical_below(const char *s, size_t len, int limit)
{
    int v = 0;

    if (len == 0 || len > 4 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < limit ? v : -1;
}

const char *sl_part_split(const char *name, size_t *qlen, int *index)
{
    const char *hash = strchr(name, '#');

    if (hash == NULL) {
        *qlen = strlen(name);
        *index = -1;
        return name;
    }
    int i = canonical_below(hash + 1, strlen(hash + 1), SL_PARTITIONS_MAX);
    if (i < 0 || hash == name)
        return NULL;
    *qlen = (size_t)(hash - name);
    *index = i;
    return name;
}

int sl_part_parse_count(const char *s, size_t len)
{
    int v = canonical_below(s, len, SL_PARTITIONS_MAX + 1);

    return v >= 1 ? v : -1;
}

int sl_part_pick(int n, const char *idem_key, const char *partition_key, sl_part_rr *rr)
{
    if (n <= 1)
        return 0;
    if (idem_key != NULL && idem_key[0] != '\0')
        return (int)(sl_part_hash(idem_key, strlen(idem_key)) % (uint32_t)n);
    if (partition_key != NULL && partition_key[0] != '\0')
        return (int)(sl_part_hash(partition_key, strlen(partition_key)) % (uint32_t)n);
    if (!rr->seeded) {
        rr->next = (uint32_t)sl_rand64();
        rr->seeded = 1;
    }
    return (int)(rr->next++ % (uint32_t)n);
}
