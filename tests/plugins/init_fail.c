/* Test plugin: init refuses to start (returns -1), as a plugin would when
 * its required settings are missing. */
#include <sluice/plugin.h>

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    host->log(host->plugin_ctx_as_ctx(pctx), SLUICE_LOG_ERROR, "init_fail: refusing to start (deliberately)");
    return -1;
}

SLUICE_PLUGIN("init_fail", "1.0", init, NULL)
