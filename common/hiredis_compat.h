/* hiredis version gate: the one place that knows hiredis 0.14 (Debian 12) from 1.x.
 * Everything else includes this instead of <hiredis/hiredis.h> (and, for the
 * async API, instead of <hiredis/async.h>: define SL_COMPAT_ASYNC first). */
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

/* The async API. hiredis 0.14 has no command or connect timeouts for async
 * contexts (1.x has redisAsyncSetTimeout). sluice tracks in-flight async
 * commands itself (runner/maint/conn.c) so the same code is bounded on both;
 * SL_HIREDIS_ASYNC_TIMEOUT says whether the library could do it too. */
#define SL_HIREDIS_ASYNC_TIMEOUT SL_HIREDIS_V1

#endif

/* Outside the include guard: a file may include compat.h through another
 * header first and ask for the async part later. */
#if defined(SL_COMPAT_ASYNC) && !defined(SL_COMPAT_ASYNC_H)
#define SL_COMPAT_ASYNC_H
#include <hiredis/async.h>
/* Flags that make redisAsyncCommand refuse new commands: the context is being
 * torn down (its callbacks then run with a NULL reply). Same names in both. */
#define SL_ASYNC_CLOSING(ac) (((ac)->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)) != 0)
#endif
