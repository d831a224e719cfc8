/* Loads the embedded sluice function library into Redis when it is missing or
 * older than this build's. A newer one is kept: during a rolling upgrade old and
 * new processes share one Redis, and every version accepts the calls of every
 * older one (see the VERSION rule in functions.lua), so the library only ever
 * moves forward instead of flipping between the two. */
#include "common/functions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

int sl_functions_missing(const redisReply *reply)
{
    return reply && reply->type == REDIS_REPLY_ERROR && reply->str && strstr(reply->str, "Function not found") != NULL;
}

int sl_functions_version_ok(const redisReply *reply)
{
    if (!reply || reply->type != REDIS_REPLY_STRING)
        return 0;
    if (strcmp(reply->str, SL_FUNCTIONS_VERSION) == 0)
        return 1;
    char *end;
    long loaded = strtol(reply->str, &end, 10);
    if (end == reply->str || *end != '\0' || loaded <= strtol(SL_FUNCTIONS_VERSION, NULL, 10))
        return 0;
    SL_LOG(SL_INFO, "a newer sluice function library is loaded; keeping it", SL_S("loaded", reply->str),
           SL_S("ours", SL_FUNCTIONS_VERSION));
    return 1;
}

static int reply_error(const redisReply *rep, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s failed: %.*s", what, (int)(rep->len > 200 ? 200 : rep->len), rep->str);
    return -1;
}

/* The library on master node n: checked, and loaded when missing, older or
 * force. *loaded is set to 1 when it was loaded. 0 or -1 as sl_functions_ensure. */
static int ensure_on(sl_redis *r, int n, int force, int *loaded, char *err, size_t errlen)
{
    char node[300];
    *loaded = 0;
    if (!force) {
        const char *vargv[3] = {"FCALL", "sluice_version", "0"};
        redisReply *rep = sl_redis_cmdargv_at(r, n, 3, vargv, NULL);
        if (!rep) {
            snprintf(err, errlen, "%s", sl_redis_errstr(r));
            return -1;
        }
        int current = sl_functions_version_ok(rep);
        int missing = sl_functions_missing(rep);
        if (!current && !missing && rep->type == REDIS_REPLY_ERROR) {
            int rc = reply_error(rep, "FCALL sluice_version", err, errlen);
            freeReplyObject(rep);
            return rc;
        }
        freeReplyObject(rep);
        if (current)
            return 0;
    }
    const char *argv[4] = {"FUNCTION", "LOAD", "REPLACE", sl_functions_lua};
    size_t lens[4] = {8, 4, 7, sl_functions_lua_len};
    redisReply *rep = sl_redis_cmdargv_at(r, n, 4, argv, lens);
    if (!rep) {
        snprintf(err, errlen, "%s", sl_redis_errstr(r));
        return -1;
    }
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        rc = reply_error(rep, "FUNCTION LOAD sluice", err, errlen);
    } else {
        *loaded = 1;
        SL_LOG(SL_DEBUG, "loaded redis function library", SL_S("library", "sluice"),
               SL_S("version", SL_FUNCTIONS_VERSION), SL_S("redis", sl_redis_node_name(r, n, node, sizeof node)));
    }
    freeReplyObject(rep);
    return rc;
}

int sl_functions_load_all(sl_redis *r, int force, int *loaded, char *err, size_t errlen)
{
    int count = 0, nodes = sl_redis_nodes(r);
    for (int n = 0; n < nodes; n++) {
        int one;
        if (ensure_on(r, n, force, &one, err, errlen) != 0) {
            if (nodes > 1) { /* say which master */
                char node[300], why[512];
                snprintf(why, sizeof why, "%s", err);
                snprintf(err, errlen, "on cluster node %s: %s", sl_redis_node_name(r, n, node, sizeof node), why);
            }
            return -1;
        }
        count += one;
    }
    if (loaded)
        *loaded = count;
    return 0;
}

int sl_functions_ensure(sl_redis *r, char *err, size_t errlen)
{
    return sl_functions_load_all(r, 0, NULL, err, errlen);
}
