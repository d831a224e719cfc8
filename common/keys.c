/* Redis key names (see keys.h for the list and README "Keys"). */
#include "common/keys.h"

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

int sl_key_once(char *buf, size_t n, const char *queue, const char *group, const char *job_id,
                const char *key)
{
    return sl_fmt(buf, n, "sluice:{%s}:once:%s:%s:%s", queue, group, job_id, key);
}

int sl_key_retry(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:r:%s", queue, group);
}

int sl_key_sched(char *buf, size_t n, const char *queue)
{
    return sl_fmt(buf, n, "sluice:{%s}:sched", queue);
}

int sl_key_done(char *buf, size_t n, const char *queue, const char *group, const char *job_id)
{
    return sl_fmt(buf, n, "sluice:{%s}:done:%s:%s", queue, group, job_id);
}

int sl_key_idem(char *buf, size_t n, const char *queue, const char *key)
{
    return sl_fmt(buf, n, "sluice:{%s}:idem:%s", queue, key);
}

int sl_key_paused(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:paused:%s", queue, group);
}

int sl_key_stats(char *buf, size_t n, const char *queue, const char *group)
{
    return sl_fmt(buf, n, "sluice:{%s}:stats:%s", queue, group);
}
