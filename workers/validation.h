/* Payload schemas in the worker: the plugins' handler schemas are registered
 * at session start, and every payload is validated against the registry before
 * its handler runs (dead letter reason "schema"). Private to workers/. */
#ifndef SL_WORKER_VALIDATION_H
#define SL_WORKER_VALIDATION_H

#include <stddef.h>

#include "common/codec.h"
#include "workers/session.h"

struct sl_worker;

/** Register every handler's schema (sluice_handler_def.schema) in the registry,
 *  with commands of its own on the worker's connection: no ack reply may be in
 *  flight (the caller drains the acks first). OK; RETRY on Redis trouble; FATAL when a schema is invalid or incompatible
 *  with the registered one (the worker exits 78: respawning cannot fix it). */
sl_session_rc sl_schemas_register(struct sl_worker *w);

/**
 * Validate a job's payload against the registered schema of its type.
 * @return 1 valid; 2 no schema for the type (nothing validated); 0 invalid
 *         (or over the validation budget), with "payload violates
 *         schema T at /pointer: keyword (message)" in err; -1 when the registry
 *         cannot be read now (Redis trouble, with the reason in err: defer the
 *         job with sl_schemas_deferred, leave the entry pending, back off).
 *         A result other than -1 ends an outage sl_schemas_deferred reported.
 */
int sl_schemas_check(struct sl_worker *w, const sl_job *job, char *err, size_t errlen);

/** While the registry stays unreadable, a summary line at most this often (ms). */
#define SL_SCHEMAS_OUTAGE_SUMMARY_MS 60000

/** Count a job deferred because sl_schemas_check returned -1 (the slot's
 *  registry_deferred, sluice_registry_deferrals_total) and report the outage:
 *  a warning at its first deferral, then a summary at most every
 *  SL_SCHEMAS_OUTAGE_SUMMARY_MS, and one line when the registry answers again. */
void sl_schemas_deferred(struct sl_worker *w, const sl_job *job, const char *error);

/** Free the validation cache and its connection. */
void sl_schemas_free(struct sl_worker *w);

#endif
