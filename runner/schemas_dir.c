/* The supervisor registers the schemas of its schemas_dir (default: the config
 * file's folder + "/schemas") in the Redis registry at start-up and on reload,
 * so producers and workers validate against them. One short synchronous
 * connection: it runs before workers start, and a Redis that is down only
 * delays registration to the next reload (logged). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/redis.h"
#include "common/registry.h"
#include "runner/supervisor.h"

void sl_sup_register_schemas(sl_sup *sup)
{
    const sl_config *cfg = sup->cfg;
    char dir[4096], err[4096];
    if (cfg->schemas_dir) {
        snprintf(dir, sizeof dir, "%s", cfg->schemas_dir);
    } else {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", sup->cfg_path);
        snprintf(dir, sizeof dir, "%s/schemas", dirname(copy));
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (cfg->schemas_dir)
            SL_LOG(SL_WARN, "schemas_dir is not a directory; no schemas registered", SL_S("dir", dir));
        return;
    }
    sl_redis_opts ro = {.connect_timeout_ms = cfg->connect_timeout_ms, .command_timeout_ms = cfg->command_timeout_ms};
    sl_redis *r = sl_redis_new(cfg->redis_url, &ro, err, sizeof err);
    if (!r)
        return;
    if (sl_redis_connect(r) != 0) {
        SL_LOG(SL_WARN, "schemas not registered: redis unavailable (next chance: SIGHUP)", SL_S("dir", dir),
               SL_S("error", sl_redis_errstr(r)));
    } else if (sl_registry_load_dir(r, dir, err, sizeof err) != 0) {
        SL_LOG(SL_ERROR, "registering schemas failed; the registry keeps the schemas it had", SL_S("dir", dir),
               SL_S("error", err));
    } else {
        SL_LOG(SL_INFO, "schemas registered", SL_S("dir", dir));
    }
    sl_redis_free(r);
}
