/* Test plugin: a shared object without the sluice entry symbol (it exports
 * something else), as if built without SLUICE_PLUGIN(). */
#include <sluice/plugin.h>

SLUICE_EXPORT int not_a_sluice_plugin(void);
SLUICE_EXPORT int not_a_sluice_plugin(void)
{
    return 42;
}
