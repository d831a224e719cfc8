/* Test plugin: an entry point claiming the next ABI major. The loader must
 * refuse it before init runs (init here would abort the worker). */
#include <stdlib.h>

#include <sluice/plugin.h>

static int init(const sluice_host *host, sluice_plugin_ctx *pctx)
{
    (void)host, (void)pctx;
    abort(); /* must never run */
}

SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void);
SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void)
{
    static const sluice_plugin_info info = {
        sizeof(sluice_plugin_info), SLUICE_ABI_MAJOR + 1, 0, "bad_abi", "1.0", init, NULL};
    return &info;
}
