// Test plugin: what a C++ plugin exported before SLUICE_PLUGIN gave its entry
// point C linkage: the same entry function with a C++ (mangled) name. The
// loader must refuse it with a hint at the mangling, not a bare "no entry point".
#include <sluice/plugin.h>

namespace
{

int init(const sluice_host *, sluice_plugin_ctx *)
{
    return 0;
}

} // namespace

SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void);
SLUICE_EXPORT const sluice_plugin_info *sluice_plugin_entry(void)
{
    static const sluice_plugin_info info = {
        sizeof(sluice_plugin_info), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, "cxx_mangled", "1.0", init, nullptr};
    return &info;
}
