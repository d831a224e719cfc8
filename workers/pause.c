/* The worker side of `sluice pause`/`resume`: a GET of sluice:{Q}:paused:G
 * before reading (at most every 100 ms), and short interruptible sleeps while
 * the key exists, so a resume is seen within one read cycle. */
#include "workers/pause.h"

#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "workers/worker.h"

void sl_pause_init(sl_pause *p, const sl_worker *w)
{
    p->paused = 0;
    p->next_check_ms = 0;
    if (sl_key_paused(p->key, sizeof p->key, w->part, w->pool->group) != 0) /* of the worker's partition */
        p->key[0] = '\0'; /* names are checked at config load; cannot happen */
}

int sl_pause_check(sl_pause *p, sl_worker *w)
{
    int64_t now = sl_now_mono_ms();
    if (p->key[0] != '\0' && now >= p->next_check_ms) {
        const char *argv[] = {"EXISTS", p->key};
        redisReply *r = sl_worker_cmd(w, 2, argv, NULL);
        if (r && r->type == REDIS_REPLY_INTEGER) {
            int paused = r->integer > 0;
            if (paused != p->paused)
                SL_LOG(SL_INFO, paused ? "paused" : "resumed", SL_S("group", w->pool->group), SL_S("key", p->key));
            p->paused = paused;
        }
        if (r)
            freeReplyObject(r);
        p->next_check_ms = now + SL_PAUSE_CHECK_MS;
    }
    return p->paused;
}

int sl_pause_gate(sl_pause *p, sl_worker *w)
{
    if (!sl_pause_check(p, w))
        return 0;
    sl_sleep_ms(SL_PAUSE_SLEEP_MS, w->stop);
    return 1;
}
