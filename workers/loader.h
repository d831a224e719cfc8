/* Plugin loader: opens handler plugins from the configured plugin directory,
 * checks their ABI before any plugin code runs, calls init() so they register
 * handlers, and keeps the type -> handler table the worker looks jobs up in.
 * Private to workers/ (and the test suites). */
#ifndef SL_WORKER_LOADER_H
#define SL_WORKER_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/plugin.h"

struct sl_host_env;

/** Longest handler type, as in the wire format: [a-z0-9_.-]{1,128}. */
#define SL_TYPE_MAX 128

/** A registered handler: the plugin's definition, copied. */
typedef struct sl_handler {
    char type[SL_TYPE_MAX + 1];
    size_t type_len;
    sluice_handler_fn fn;
    void *data;
    uint32_t max_attempts; /* 0: configured default */
    uint32_t backoff_base_ms; /* 0: configured default */
    uint32_t backoff_cap_ms; /* 0: configured default */
    uint32_t timeout_ms; /* 0: configured default */
    uint32_t flags; /* SLUICE_HANDLER_* */
    char *schema; /* copied JSON Schema text, or NULL */
    const char *plugin; /* name of the plugin that registered it (loader-owned) */
} sl_handler;

typedef struct sl_loader sl_loader;

/**
 * A loader for plugins in plugin_dir (copied). Nothing is opened yet.
 * @return the loader, or NULL when out of memory.
 */
sl_loader *sl_loader_new(const char *plugin_dir);

/** Give plugins the worker's services (pool settings, Redis, stop flag) for
 *  config_get/log during init and for their handlers. env must outlive the
 *  loader; without it config_get returns NULL and enqueue/once fail. */
void sl_loader_set_env(sl_loader *l, const struct sl_host_env *env);

/**
 * Load one plugin by name ("orders" or "orders.so", no '/'): check plugin_dir
 * and every folder above it (owner root or the effective uid; not group/world-
 * writable unless sticky), open <plugin_dir>/<name>.so with O_NOFOLLOW (a
 * symlink is refused), require on that descriptor a regular file owned by root
 * or the effective uid and not group/world-writable, dlopen the descriptor
 * (/proc/self/fd/N), check its info block (size, ABI major, ABI minor) and only
 * then call init(), which registers handlers. A plugin that fails is rolled
 * back (its handlers removed).
 * @return 0, or -1 with a one-line reason naming the plugin in err.
 */
int sl_loader_load(sl_loader *l, const char *name, char *err, size_t errlen);

/** The handler for a type, or NULL. type need not be NUL-terminated. */
const sl_handler *sl_loader_find(const sl_loader *l, const char *type, size_t len);

/** Number of loaded plugins / registered handlers. */
size_t sl_loader_nplugins(const sl_loader *l);
size_t sl_loader_nhandlers(const sl_loader *l);
/** The i-th handler in registration order, or NULL past the end. */
const sl_handler *sl_loader_handler_at(const sl_loader *l, size_t i);

/** Call every successfully initialised plugin's fini() (in reverse load order),
 *  dlclose them and free the loader. NULL-safe. */
void sl_loader_free(sl_loader *l);

/* For host.c: the host services forward these to the loader. */

/** register_handler: validate and add a handler (only while its plugin's init()
 *  runs). Returns 0, or -1 with the reason logged and kept for the load error. */
int sl_loader_register(sluice_plugin_ctx *pctx, const sluice_handler_def *def);

/** plugin_ctx_as_ctx: the context config_get/log accept during init(). */
sluice_ctx *sl_loader_pctx_ctx(sluice_plugin_ctx *pctx);

#endif
