/* The sluice Redis function library (common/functions.lua): loading it and the
 * version this build expects. Every atomic, fenced move of a job is one of its
 * functions; see the .lua file for each function's KEYS/ARGV/reply. */
#ifndef SL_FUNCTIONS_H
#define SL_FUNCTIONS_H

#include <stddef.h>

#include "common/redis.h"

/** The library version this build ships (VERSION in functions.lua). */
#define SL_FUNCTIONS_VERSION "10"

/** The library's Lua source, embedded at build time. */
extern const char sl_functions_lua[];
extern const size_t sl_functions_lua_len;

/**
 * Make sure the library is loaded at this build's version or a newer one: FCALL
 * sluice_version, and FUNCTION LOAD REPLACE when it is missing or older, on
 * every master (a Redis Cluster has one library per master). Safe to race with
 * other processes doing the same.
 * @return 0; -1 on a lost connection (errstr of r says why) or an error reply
 *         (message in err, e.g. functions disabled or an old Redis).
 */
int sl_functions_ensure(sl_redis *r, char *err, size_t errlen);

/**
 * sl_functions_ensure on every master (sl_redis_nodes: one server, or each
 * master of a Redis Cluster); with force, FUNCTION LOAD REPLACE on each
 * whatever it has (`sluice functions load`). *loaded (may be NULL) counts the
 * masters where the library was loaded. 0 or -1 (err names the master).
 */
int sl_functions_load_all(sl_redis *r, int force, int *loaded, char *err, size_t errlen);

/** 1 if reply (of FCALL sluice_version) is this build's version or a newer one,
 *  which is kept: every version accepts the calls of older ones. */
int sl_functions_version_ok(const redisReply *reply);

/** 1 if reply is the error Redis gives for a missing function (library gone,
 *  e.g. after FUNCTION FLUSH): the caller should sl_functions_ensure and retry. */
int sl_functions_missing(const redisReply *reply);

#endif
