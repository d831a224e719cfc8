/* The names limits use in Redis (docs/limits.md), built the same way by the
 * worker that takes a slot and the supervisor that keeps it (lease
 * extension). */
#ifndef SL_COMMON_LIMIT_H
#define SL_COMMON_LIMIT_H

#include <stddef.h>

/** The job field of a deferred job's rate reservations ("NAME:MS,..."). */
#define SL_LIMIT_FIELD "limit_at"

/**
 * "sluice:{:limit:NAME:V}": limit NAME's bucket for key value value[0..len)
 * ("" for a limit without a key). A value of [A-Za-z0-9_.:-]{0,64} is used
 * as it is, any other as "~" + its FNV-1a hash and length (a value may hold
 * '}' or bytes no key name should), so each value is one bucket in its own slot.
 * @return 0, or -1 when it does not fit in n
 */
int sl_limit_bucket(char *buf, size_t n, const char *name, const char *value, size_t len);

/** "CONSUMER|w|STREAM_ID" (work stream) or "...|r|..." (retry stream): who
 *  holds a concurrency slot. 0 or -1. */
int sl_limit_holder(char *buf, size_t n, const char *consumer, int in_retry, const char *stream_id);

#endif
