/* Redis key names (keys.h; the list of keys: docs/guarantees.md "Keys"). */
#include "common/keys.h"

#include <string.h>

#include "common/util.h"


int sl_key_stream(char *buf, size_t n, const char *queue)
{
    return sl_fmt(buf, n, "sluice:{%s}", queue);
}

int sl_key_dlq(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:dlq:%s", queue, group);
}

int sl_key_fence(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:fence:%s", queue, group);
}

int sl_key_once(char *buf, size_t n, const char *queue, const char *group, const char *job_id, const char *key)
{
    return sl_fmt(buf, n, "sluice:{%s}:once:%s:%s:%s", queue, group, job_id, key);
}

int sl_key_retry(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:r:%s", queue, group);
}

int sl_key_sched(char *buf, size_t n, const char *queue)
{
    return sl_fmt(buf, n, "sluice:{%s}" SL_KEY_SCHED_SUFFIX, queue);
}

int sl_key_done(char *buf, size_t n, const char *queue, const char *group, const char *job_id)
{
    return sl_fmt(buf, n, "sluice:{%s}:done:%s:%s", queue, group, job_id);
}

int sl_key_idem(char *buf, size_t n, const char *queue, const char *key)
{
    return sl_fmt(buf, n, "sluice:{%s}:idem:%s", queue, key);
}

int sl_key_cron(char *buf, size_t n, const char *queue, const char *name)
{
    return sl_fmt(buf, n, "sluice:{%s}:cron:%s", queue, name);
}

int sl_key_cron_ticks(char *buf, size_t n, const char *queue, const char *name)
{
    return sl_fmt(buf, n, "sluice:{%s}:cron:%s:ticks", queue, name);
}

int sl_key_paused(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:paused:%s", queue, group);
}

int sl_key_stats(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:stats:%s", queue, group);
}

int sl_key_cancels(char *buf, size_t n, const char *queue)
{
    return sl_fmt(buf, n, "sluice:{%s}:cancels", queue);
}

int sl_key_cancelled(char *buf, size_t n, const char *queue, const char *job_id)
{
    return sl_fmt(buf, n, "sluice:{%s}:cancelled:%s", queue, job_id);
}

int sl_key_partitions(char *buf, size_t n, const char *queue)
{
    return sl_fmt(buf, n, "sluice:{%s}:partitions", queue);
}

int sl_key_match_queues(char *buf, size_t n, const char *suffix)
{
    return sl_fmt(buf, n, "sluice:{*}%s", suffix);
}

const char *sl_key_queue_of(const char *key, const char *suffix, size_t *len)
{
    static const char prefix[] = "sluice:{";
    size_t plen = sizeof prefix - 1, slen = strlen(suffix), klen = strlen(key);
    if (strncmp(key, prefix, plen) != 0 || klen < plen + 2 + slen || strcmp(key + klen - slen, suffix) != 0)
        return NULL;
    const char *q = key + plen;
    size_t qlen = klen - slen - plen - 1; /* without its '}' */
    if (q[qlen] != '}' || memchr(q, '}', qlen) != NULL)
        return NULL;
    *len = qlen;
    return q;
}

const char *sl_key_retry_group(const char *key, const char *queue)
{
    char prefix[SL_KEY_MAX];
    if (sl_fmt(prefix, sizeof prefix, "sluice:{%s}:r:", queue) != 0)
        return NULL;
    size_t plen = strlen(prefix);
    return strncmp(key, prefix, plen) == 0 ? key + plen : NULL;
}
