/* hiredis version gate: the one place that knows hiredis 0.14 (Debian 12) from 1.x.
 * Everything else includes this instead of <hiredis/hiredis.h>. */
#ifndef SL_COMPAT_H
#define SL_COMPAT_H

#include <hiredis/hiredis.h>

#if HIREDIS_MAJOR >= 1
#define SL_HIREDIS_V1 1
#else
#define SL_HIREDIS_V1 0
/* RESP3 reply types arrived in hiredis 1.0; define them so switch statements
 * and type checks compile on both. 0.14 never returns them. */
#ifndef REDIS_REPLY_DOUBLE
#define REDIS_REPLY_DOUBLE 7
#endif
#ifndef REDIS_REPLY_BOOL
#define REDIS_REPLY_BOOL 8
#endif
#ifndef REDIS_REPLY_MAP
#define REDIS_REPLY_MAP 9
#endif
#ifndef REDIS_REPLY_SET
#define REDIS_REPLY_SET 10
#endif
#endif

#endif
