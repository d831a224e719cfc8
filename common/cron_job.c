/* The FCALL sluice_cron_fire of a schedule's job (see cron_job.h). */
#include <stdio.h>
#include <string.h>

#include "common/cron_job.h"
#include "common/util.h"

int sl_cron_call_build(sl_cron_call *c, const char *part, const char *name, const char *mode, int64_t tick, int64_t due,
                       const char *type, const char *payload, int64_t now_ms)
{
    int trigger = strcmp(mode, "trigger") == 0;
    sl_job job = {0};
    char uuid[37];

    memset(c, 0, sizeof *c);
    sl_uuid4(c->corr);
    sl_uuid4(uuid);
    if ((trigger ? sl_fmt(c->id, sizeof c->id, "cron:%s:trigger:%s", name, uuid)
                 : sl_fmt(c->id, sizeof c->id, "cron:%s:%lld", name, (long long)tick)) != 0 ||
        sl_trace_new(c->tp) != 0 || sl_key_stream(c->stream, sizeof c->stream, part) != 0 ||
        sl_key_sched(c->sched, sizeof c->sched, part) != 0 || sl_key_cron(c->state, sizeof c->state, part, name) != 0 ||
        sl_key_cron_ticks(c->ticks, sizeof c->ticks, part, name) != 0)
        return -1;
    job.id = c->id;
    job.type = type;
    job.payload = payload;
    job.correlation_id = c->corr;
    job.traceparent = c->tp;
    job.enqueued_at_ms = now_ms;
    if (sl_codec_encode_xadd(c->stream, &job, &c->xadd) != 0)
        return -1;
    (void)snprintf(c->tick, sizeof c->tick, "%lld", trigger ? 0LL : (long long)tick);
    (void)snprintf(c->due, sizeof c->due, "%lld", trigger ? 0LL : (long long)due);
    const char *head[SL_CRON_CALL_PREFIX] = {"FCALL",  "sluice_cron_fire", "4",     c->stream, c->sched,
                                             c->state, c->ticks,           c->tick, c->due,    mode};
    for (; c->argc < SL_CRON_CALL_PREFIX; c->argc++) {
        c->argv[c->argc] = head[c->argc];
        c->lens[c->argc] = strlen(head[c->argc]);
    }
    for (int i = 3; i < c->xadd.argc; i++) { /* the fields: xadd is XADD <key> * <fields> */
        c->argv[c->argc] = c->xadd.argv[i];
        c->lens[c->argc++] = c->xadd.lens[i];
    }
    return 0;
}
