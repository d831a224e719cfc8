/* Helpers of the maintenance suites; see mt.h. */
#include "mt.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

redisContext *mt_rc;
th_sup mt_s1, mt_s2;
char mt_rec_path[512];
th_server mt_own_redis;

void mt_setup(void)
{
    th_flushall();
    mt_rc = th_redis();
    snprintf(mt_rec_path, sizeof mt_rec_path, "%s/rec.txt", th_tmpdir());
}

void mt_teardown(void)
{
    th_sup_kill(&mt_s1);
    th_sup_kill(&mt_s2);
    th_server_kill(&mt_own_redis); /* SIGCONT first: a test may have stopped it */
    memset(&mt_own_redis, 0, sizeof mt_own_redis);
    if (mt_rc)
        redisFree(mt_rc);
    mt_rc = NULL;
}

/* pools with every "@REC@" replaced by the record file's path. Caller frees. */
static char *mt_with_rec(const char *pools)
{
    size_t n = strlen(pools) + 1;
    for (const char *p = strstr(pools, "@REC@"); p; p = strstr(p + 5, "@REC@"))
        n += strlen(mt_rec_path);
    char *out = malloc(n), *o = out;
    cr_assert(out);
    for (const char *p = pools; *p;) {
        if (strncmp(p, "@REC@", 5) == 0) {
            o = stpcpy(o, mt_rec_path);
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Write <name>.json: redis url (NULL: the test Redis) and extra redis members,
 * supervisor members, jobs members, and pools ("@REC@" = the record file). */
void mt_write_cfg(th_sup *s, const char *name, const char *url, const char *redis, const char *supv, const char *jobs,
                  const char *pools_tmpl)
{
    char *pools = mt_with_rec(pools_tmpl), *text = NULL, file[64];
    cr_assert(asprintf(&text,
                       "{\"redis\":{\"url\":\"%s\"%s},\"log\":{\"format\":\"json\"},\"plugin_dir\":\"%s\","
                       "\"supervisor\":{%s},\"jobs\":{%s},\"pools\":[%s]}\n",
                       url ? url : th_redis_url(), redis, SLUICE_TEST_PLUGIN_DIR, supv, jobs, pools) > 0);
    snprintf(file, sizeof file, "%s.json", name);
    char *path = th_write_file(file, text);
    th_sup_init(s, name, path, NULL);
    free(path);
    free(text);
    free(pools);
}

static int recorded_at_least(void *arg)
{
    return th_count_lines(mt_rec_path) >= *(long *)arg;
}

void mt_wait_records(long n, int timeout_ms)
{
    cr_assert(th_wait_until(recorded_at_least, &n, timeout_ms), "only %ld of %ld jobs recorded",
              th_count_lines(mt_rec_path), n);
}

/* Pipelined FCALL sluice_schedule of n jobs "in" ms (ids <prefix>-<i>). */
void mt_schedule(const char *q, const char *prefix, int n, int in_ms, const char *type, const char *payload)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(mt_rc,
                           "FCALL sluice_schedule 2 sluice:{%s} sluice:{%s}:sched in %d id %s-%d type %s payload %s", q,
                           q, in_ms, prefix, i, type, payload);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(mt_rc, (void **)&r) == REDIS_OK && r, "FCALL sluice_schedule: no reply");
        cr_assert(r->type == REDIS_REPLY_STRING, "FCALL sluice_schedule: %s",
                  r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
    }
}

/* The function library must be there before the test schedules: the
 * supervisor loads it on connect. */
void mt_wait_library(const th_sup *s)
{
    cr_assert(th_sup_wait_log(s, "redis maintenance connection ready", 10000), "maintenance never connected");
}

void mt_xadd(const char *q, int n, const char *type, const char *payload)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(mt_rc, "XADD sluice:{%s} * type %s payload %s", q, type, payload);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert(redisGetReply(mt_rc, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

struct quiet {
    const char *q, *g;
};

/* Nothing pending in the work stream and the retry stream, nothing scheduled. */
static int all_settled(void *arg)
{
    struct quiet *a = arg;
    char s[128], r[128];
    snprintf(s, sizeof s, "sluice:{%s}", a->q);
    snprintf(r, sizeof r, "sluice:{%s}:r:%s", a->q, a->g);
    /* <= 0: a missing group (-1, e.g. no retry yet) has nothing pending */
    return th_pending(mt_rc, s, a->g) <= 0 && th_pending(mt_rc, r, a->g) <= 0 &&
           th_int(mt_rc, "ZCARD sluice:{%s}:sched", a->q) == 0;
}

void mt_wait_settled(const char *q, const char *g, int timeout_ms)
{
    struct quiet a = {q, g};
    cr_assert(th_wait_until(all_settled, &a, timeout_ms), "jobs of %s/%s still pending or scheduled", q, g);
}
