/* Helpers of the maintenance suites (tests/system/test_maint.c,
 * tests/faults/test_maint_stop.c): supervisors run from generated configs, the
 * record plugin's file, delayed jobs, and waits on pending/scheduled state.
 * Built on th.h; every wait polls and asserts. */
#ifndef TH_MT_H
#define TH_MT_H

#include <stddef.h>
#include <sys/types.h>

#include "sup.h"
#include "th.h"

extern redisContext *mt_rc; /* connection to the test Redis (or the private one) */
extern th_sup mt_s1, mt_s2; /* its supervisors (sup.h), killed by mt_teardown if still running */
extern char mt_rec_path[512]; /* the record file */
extern th_server mt_own_redis; /* a private redis-server a test started (th.h), pid 0 if none */

/** Suite init/fini: flush the test Redis, connect; kill what is left. */
void mt_setup(void);
void mt_teardown(void);

/** Write <name>.json: redis url (NULL: the test Redis) plus extra members of
 *  "redis", "supervisor" and "jobs", and the pools ("@REC@" = record file);
 *  th_sup_init s on it (log <name>.log). Start, stop and wait with th_sup_*. */
void mt_write_cfg(th_sup *s, const char *name, const char *url, const char *redis, const char *supv, const char *jobs,
                  const char *pools_tmpl);
/** Wait for the maintenance connection (the library is loaded then). */
void mt_wait_library(const th_sup *s);

void mt_wait_records(long n, int timeout_ms);
/* The record file: th_read_recs(mt_rec_path, &recs) (th.h). */

/** Pipelined FCALL sluice_schedule of n jobs due "in" in_ms (ids <prefix>-<i>). */
void mt_schedule(const char *q, const char *prefix, int n, int in_ms, const char *type, const char *payload);
/** Pipelined XADD of n jobs. */
void mt_xadd(const char *q, int n, const char *type, const char *payload);
/** Wait until nothing of q/g is pending (work and retry stream) or scheduled. */
void mt_wait_settled(const char *q, const char *g, int timeout_ms);

#endif
