/* Plugin loader: file and folder checks on an O_NOFOLLOW descriptor, dlopen of
 * that descriptor, the ABI check (before any plugin code runs), init() and
 * handler registration into an open-addressing hash table (FNV-1a, power-of-two
 * size, load <= 1/2) for O(1) lookups per job. */
#include "workers/loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "workers/host.h"

/* Smallest blocks an ABI 1.0 plugin can hand us: up to the end of their last
 * 1.0 member. Later minors only append, so bigger is fine. */
#define INFO_V1_0_SIZE (offsetof(sluice_plugin_info, fini) + sizeof(void (*)(void)))
#define DEF_V1_0_SIZE (offsetof(sluice_handler_def, flags) + sizeof(uint32_t))
#define KNOWN_FLAGS (SLUICE_HANDLER_DONE_MARKER)

/* One loaded plugin. The registration context lives here so a handler's
 * `plugin` name and the init ctx stay valid as long as the loader. */
typedef struct sl_plugin {
    char *name;
    char *path; /* real path (for messages) */
    int fd; /* the checked descriptor, loaded as fdpath; -1 when none */
    char fdpath[32];
    dev_t dev; /* the file loaded: the same file twice is refused */
    ino_t ino;
    void *dl;
    const sluice_plugin_info *info;
    int inited; /* init() returned 0: fini() is due */
} sl_plugin;

struct sluice_plugin_ctx {
    sl_loader *loader;
    sl_plugin *plugin;
    int active; /* init() is running: register_handler allowed */
    char err[512]; /* first registration error */
    sluice_ctx ctx; /* plugin_ctx_as_ctx */
};

struct sl_loader {
    char *dir;
    const sl_host_env *env;
    sl_plugin **plugins;
    size_t nplugins;
    sl_handler **handlers; /* registration order */
    size_t nhandlers, hcap;
    uint32_t *table; /* index+1 into handlers, 0 = empty */
    size_t tcap; /* power of two */
};

static uint64_t hash_type(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Rebuild the table for the current handlers; grows it to keep load <= 1/2. */
static int table_rebuild(sl_loader *l)
{
    size_t cap = 16;
    while (cap < l->nhandlers * 2 + 2)
        cap *= 2;
    uint32_t *t = calloc(cap, sizeof(*t));
    if (!t)
        return -1;
    for (size_t i = 0; i < l->nhandlers; i++) {
        size_t j = (size_t)hash_type(l->handlers[i]->type, l->handlers[i]->type_len) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)(i + 1);
    }
    free(l->table);
    l->table = t;
    l->tcap = cap;
    return 0;
}

sl_loader *sl_loader_new(const char *plugin_dir)
{
    sl_loader *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->dir = strdup(plugin_dir ? plugin_dir : "");
    if (!l->dir || table_rebuild(l) != 0) {
        sl_loader_free(l);
        return NULL;
    }
    return l;
}

void sl_loader_set_env(sl_loader *l, const struct sl_host_env *env)
{
    l->env = env;
}

const sl_handler *sl_loader_find(const sl_loader *l, const char *type, size_t len)
{
    size_t mask = l->tcap - 1;
    for (size_t j = (size_t)hash_type(type, len) & mask; l->table[j]; j = (j + 1) & mask) {
        const sl_handler *h = l->handlers[l->table[j] - 1];
        if (h->type_len == len && memcmp(h->type, type, len) == 0)
            return h;
    }
    return NULL;
}

size_t sl_loader_nplugins(const sl_loader *l)
{
    return l->nplugins;
}

size_t sl_loader_nhandlers(const sl_loader *l)
{
    return l->nhandlers;
}

const sl_handler *sl_loader_handler_at(const sl_loader *l, size_t i)
{
    return i < l->nhandlers ? l->handlers[i] : NULL;
}

static void handler_free(sl_handler *h)
{
    if (!h)
        return;
    free(h->schema);
    free(h);
}

/* Remove the handlers registered after the first `keep` (a failed plugin's). */
static void handlers_truncate(sl_loader *l, size_t keep)
{
    while (l->nhandlers > keep)
        handler_free(l->handlers[--l->nhandlers]);
    table_rebuild(l); /* shrinking never needs more memory than it had */
}

/* Keep the first registration error of a plugin and log it. */
static int reg_fail(sluice_plugin_ctx *pctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reg_fail(sluice_plugin_ctx *pctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    SL_LOG(SL_ERROR, "register_handler refused", SL_S("plugin", pctx->plugin->name), SL_S("error", msg));
    if (!pctx->err[0])
        snprintf(pctx->err, sizeof(pctx->err), "%s", msg);
    return -1;
}

int sl_loader_register(sluice_plugin_ctx *pctx, const sluice_handler_def *def)
{
    if (!pctx)
        return -1;
    if (!pctx->active)
        return reg_fail(pctx, "register_handler called outside init()");
    if (!def)
        return reg_fail(pctx, "register_handler called with a NULL definition");
    const char *pname = pctx->plugin->name;
    if (def->size < DEF_V1_0_SIZE)
        return reg_fail(pctx, "plugin %s: handler definition is %zu bytes, ABI 1.0 needs at least %zu", pname,
                        def->size, (size_t)DEF_V1_0_SIZE);
    size_t tlen = def->type ? strlen(def->type) : 0;
    if (!def->type || !sl_valid_type(def->type, tlen))
        return reg_fail(pctx, "plugin %s: invalid handler type '%.*s' (want [a-z0-9_.-]{1,128})", pname,
                        (int)(tlen > 140 ? 140 : tlen), def->type ? def->type : "(null)");
    if (!def->fn)
        return reg_fail(pctx, "plugin %s: handler '%s' has no function", pname, def->type);
    if (def->flags & ~KNOWN_FLAGS)
        return reg_fail(pctx, "plugin %s: handler '%s' has unknown flags 0x%x", pname, def->type,
                        (unsigned)(def->flags & ~KNOWN_FLAGS));
    if (def->backoff_base_ms && def->backoff_cap_ms && def->backoff_base_ms > def->backoff_cap_ms)
        return reg_fail(pctx, "plugin %s: handler '%s': backoff_base_ms %u exceeds backoff_cap_ms %u", pname, def->type,
                        def->backoff_base_ms, def->backoff_cap_ms);
    sl_loader *l = pctx->loader;
    const sl_handler *dup = sl_loader_find(l, def->type, tlen);
    if (dup)
        return reg_fail(pctx, "duplicate handler type '%s': plugin %s registers it, already registered by plugin %s",
                        def->type, pname, dup->plugin);

    sl_handler *h = calloc(1, sizeof(*h));
    if (!h)
        return reg_fail(pctx, "plugin %s: out of memory registering '%s'", pname, def->type);
    memcpy(h->type, def->type, tlen + 1);
    h->type_len = tlen;
    h->fn = def->fn;
    h->data = def->data;
    h->max_attempts = def->max_attempts;
    h->backoff_base_ms = def->backoff_base_ms;
    h->backoff_cap_ms = def->backoff_cap_ms;
    h->timeout_ms = def->timeout_ms;
    h->flags = def->flags;
    h->plugin = pname;
    if (def->schema && !(h->schema = strdup(def->schema))) {
        handler_free(h);
        return reg_fail(pctx, "plugin %s: out of memory registering '%s'", pname, def->type);
    }
    if (l->nhandlers == l->hcap) {
        size_t ncap = l->hcap ? l->hcap * 2 : 16;
        sl_handler **nh =
            realloc(l->handlers, ncap * sizeof(*nh)); // NOLINT(bugprone-sizeof-expression): an array of pointers
        if (!nh) {
            handler_free(h);
            return reg_fail(pctx, "plugin %s: out of memory registering '%s'", pname, def->type);
        }
        l->handlers = nh;
        l->hcap = ncap;
    }
    l->handlers[l->nhandlers++] = h;
    if (table_rebuild(l) != 0) {
        handlers_truncate(l, l->nhandlers - 1);
        return reg_fail(pctx, "plugin %s: out of memory registering '%s'", pname, def->type);
    }
    SL_LOG(SL_DEBUG, "handler registered", SL_S("plugin", pname), SL_S("type", h->type));
    return 0;
}

sluice_ctx *sl_loader_pctx_ctx(sluice_plugin_ctx *pctx)
{
    return pctx ? &pctx->ctx : NULL;
}

/* Root and the user sluice runs as: the only owners a plugin or a folder
 * above it may have (anyone else who owns one can swap the code we run). */
static int trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* Check realdir and each folder above it, up to "/": a trusted owner and not
 * group/world-writable, unless sticky (like /tmp: others may add entries but
 * cannot rename or remove ours). realdir has no symlinks (realpath), and a
 * folder passing this cannot be changed by anyone else, so the check holds
 * until the open. Returns 0, or -1 with err naming the folder and the rule. */
static int check_dirs(const char *name, const char *realdir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (sl_fmt(path, sizeof(path), "%s", realdir) != 0) {
        snprintf(err, errlen, "plugin %s: plugin_dir %s: path too long", name, realdir);
        return -1;
    }
    for (;;) {
        struct stat st;
        if (stat(path, &st) != 0) {
            int e = errno;
            snprintf(err, errlen, "plugin %s: plugin_dir %s: stat(%s) failed: %s", name, realdir, path, strerror(e));
            return -1;
        }
        if (!trusted_owner(st.st_uid)) {
            snprintf(err, errlen,
                     "plugin %s: refusing plugin_dir %s: folder %s is owned by uid %u (must be root or uid %u, "
                     "the user sluice runs as)",
                     name, realdir, path, (unsigned)st.st_uid, (unsigned)geteuid());
            return -1;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
            snprintf(err, errlen,
                     "plugin %s: refusing plugin_dir %s: folder %s is group/world-writable (mode %04o) and not sticky",
                     name, realdir, path, (unsigned)(st.st_mode & 07777));
            return -1;
        }
        char *slash = strrchr(path, '/');
        if (!slash || slash == path) {
            if (path[1] == '\0')
                return 0; /* "/" checked */
            path[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

/* Open name inside the plugin folder and check it: not a symlink (O_NOFOLLOW),
 * a regular file, owned by root or us, not group/world-writable; the folder and
 * its parents as check_dirs says. The checks are made on the open descriptor,
 * which is what gets loaded (dlopen of /proc/self/fd/N), so nothing can be
 * swapped in between. Returns the descriptor and sets *real (malloc'd path, for
 * messages) and *st, or -1 with err set. */
static int open_checked(const sl_loader *l, const char *name, char **real, struct stat *st, char *err, size_t errlen)
{
    char path[PATH_MAX], realdir[PATH_MAX], fname[NAME_MAX + 1];
    size_t nlen = strlen(name);
    const char *ext = (nlen >= 3 && strcmp(name + nlen - 3, ".so") == 0) ? "" : ".so";
    *real = NULL;
    if (nlen == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        snprintf(err, errlen, "plugin %s: invalid plugin name (a file name in plugin_dir, no '/')", name);
        return -1;
    }
    if (!realpath(l->dir, realdir)) {
        int e = errno;
        snprintf(err, errlen, "plugin %s: plugin_dir %s: %s", name, l->dir, strerror(e));
        return -1;
    }
    if (sl_fmt(fname, sizeof(fname), "%s%s", name, ext) != 0 ||
        sl_fmt(path, sizeof(path), "%s/%s", strcmp(realdir, "/") == 0 ? "" : realdir, fname) != 0) {
        snprintf(err, errlen, "plugin %s: path too long", name);
        return -1;
    }
    if (check_dirs(name, realdir, err, errlen) != 0)
        return -1;
    int dfd = open(realdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        snprintf(err, errlen, "plugin %s: plugin_dir %s: %s", name, realdir, strerror(e));
        return -1;
    }
    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    int fd = openat(dfd, fname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    int e = errno;
    close(dfd);
    if (fd < 0 && e == ELOOP) {
        snprintf(err, errlen,
                 "plugin %s: refusing symlink %s (plugins are opened without following links: put the "
                 "file itself in plugin_dir)",
                 name, path);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "plugin %s: cannot open %s: %s", name, path, strerror(e));
        return -1;
    }
    if (fstat(fd, st) != 0) {
        e = errno;
        snprintf(err, errlen, "plugin %s: fstat(%s) failed: %s", name, path, strerror(e));
    } else if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "plugin %s: %s is not a regular file", name, path);
    } else if (!trusted_owner(st->st_uid)) {
        snprintf(err, errlen,
                 "plugin %s: refusing %s: owned by uid %u (must be root or uid %u, the user sluice runs as)", name,
                 path, (unsigned)st->st_uid, (unsigned)geteuid());
    } else if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen, "plugin %s: refusing group/world-writable file %s (mode %04o)", name, path,
                 (unsigned)(st->st_mode & 07777));
    } else if (!(*real = strdup(path))) {
        snprintf(err, errlen, "plugin %s: out of memory", name);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* Check the info block before any other plugin code runs. */
static int check_info(const char *name, const sluice_plugin_info *info, char *err, size_t errlen)
{
    if (!info) {
        snprintf(err, errlen, "plugin %s: entry point returned NULL", name);
    } else if (info->size < INFO_V1_0_SIZE) {
        snprintf(err, errlen, "plugin %s: info block is %zu bytes, ABI 1.0 needs at least %zu", name, info->size,
                 (size_t)INFO_V1_0_SIZE);
    } else if (info->abi_major != SLUICE_ABI_MAJOR || info->abi_minor > SLUICE_ABI_MINOR) {
        snprintf(err, errlen, "plugin %s: ABI %u.%u, this host supports %d.%d", name, info->abi_major, info->abi_minor,
                 SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
    } else if (!info->init) {
        snprintf(err, errlen, "plugin %s: info block has no init function", name);
    } else {
        return 0;
    }
    return -1;
}

/* Close the plugin's descriptor once nothing stays loaded under its
 * /proc/self/fd/N name. glibc's dlopen finds an object already loaded by its
 * name first, so a reused descriptor number would return a library that is
 * still resident (a failed or closed plugin dlclose could not unload, e.g. a
 * C++ one with unique symbols) instead of the new file. Such a descriptor is
 * kept open for the life of the process, pinning its number. */
static void plugin_close_fd(sl_plugin *p)
{
    if (p->fd < 0)
        return;
    void *still = dlopen(p->fdpath, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (still) {
        dlclose(still);
        return;
    }
    close(p->fd);
    p->fd = -1;
}

static void plugin_free(sl_plugin *p)
{
    if (!p)
        return;
    if (p->inited && p->info->fini)
        p->info->fini();
    if (p->dl)
        dlclose(p->dl);
    plugin_close_fd(p);
    free(p->path);
    free(p->name);
    free(p);
}

int sl_loader_load(sl_loader *l, const char *name, char *err, size_t errlen)
{
    int rc = -1, fd = -1;
    size_t keep = l->nhandlers;
    sluice_plugin_ctx *pctx = NULL;
    sl_plugin *p = calloc(1, sizeof(*p));
    sl_plugin **np = realloc(l->plugins, (l->nplugins + 1) *
                                             sizeof(*np)); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (p)
        p->fd = -1;
    if (!p || !np || !(p->name = strdup(name))) {
        if (np)
            l->plugins = np;
        snprintf(err, errlen, "plugin %s: out of memory", name);
        goto cleanup;
    }
    l->plugins = np;
    struct stat st;
    if ((fd = open_checked(l, name, &p->path, &st, err, errlen)) < 0)
        goto cleanup;
    p->dev = st.st_dev;
    p->ino = st.st_ino;
    for (size_t i = 0; i < l->nplugins; i++) {
        if (l->plugins[i]->dev == p->dev && l->plugins[i]->ino == p->ino) {
            snprintf(err, errlen, "plugin %s: %s is already loaded (as plugin %s)", name, p->path, l->plugins[i]->name);
            goto cleanup;
        }
    }
    /* Load the file that was checked, through its descriptor, not its name. */
    snprintf(p->fdpath, sizeof(p->fdpath), "/proc/self/fd/%d", fd);
    p->fd = fd;
    fd = -1;
    dlerror();
    if (!(p->dl = dlopen(p->fdpath, RTLD_NOW | RTLD_LOCAL))) {
        const char *e = dlerror();
        snprintf(err, errlen, "plugin %s: dlopen(%s) failed: %s", name, p->path, e ? e : "unknown error");
        goto cleanup;
    }
    dlerror();
    void *sym = dlsym(p->dl, SLUICE_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        /* The Itanium C++ ABI name of `sluice_plugin_entry()`: a C++ plugin whose
         * entry lacks C linkage (built against a header before that was fixed, or
         * a hand-written entry without extern "C"). */
        if (dlsym(p->dl, "_Z19sluice_plugin_entryv"))
            snprintf(err, errlen,
                     "plugin %s: no entry point '%s' in %s: it exports it with a C++ (mangled) name; give the "
                     "entry point C linkage (use SLUICE_PLUGIN from this sluice/plugin.h, or declare it "
                     "extern \"C\") and rebuild",
                     name, SLUICE_PLUGIN_ENTRY_SYMBOL, p->path);
        else
            snprintf(err, errlen,
                     "plugin %s: no entry point '%s' in %s (not built with SLUICE_PLUGIN? in C++ the entry "
                     "point needs extern \"C\")",
                     name, SLUICE_PLUGIN_ENTRY_SYMBOL, p->path);
        goto cleanup;
    }
    sluice_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof(entry)); /* object -> function pointer without a cast warning */
    p->info = entry();
    if (check_info(name, p->info, err, errlen) != 0)
        goto cleanup;

    if (!(pctx = calloc(1, sizeof(*pctx)))) {
        snprintf(err, errlen, "plugin %s: out of memory", name);
        goto cleanup;
    }
    pctx->loader = l;
    pctx->plugin = p;
    sl_host_ctx_init(&pctx->ctx, l->env, p->name);
    pctx->active = 1;
    int irc = p->info->init(sl_host_services(), pctx);
    pctx->active = 0;
    if (irc != 0) {
        snprintf(err, errlen, "plugin %s: init failed (returned %d)%s%s", name, irc, pctx->err[0] ? ": " : "",
                 pctx->err);
        goto cleanup;
    }
    p->inited = 1;
    if (pctx->err[0]) {
        snprintf(err, errlen, "%s", pctx->err); /* a refused registration fails the load */
        goto cleanup;
    }
    SL_LOG(SL_INFO, "plugin loaded", SL_S("plugin", name), SL_S("path", p->path),
           SL_S("plugin_name", p->info->name ? p->info->name : ""),
           SL_S("plugin_version", p->info->version ? p->info->version : ""), SL_I("handlers", l->nhandlers - keep));
    l->plugins[l->nplugins++] = p;
    p = NULL;
    rc = 0;
cleanup:
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        handlers_truncate(l, keep);
    if (pctx)
        sl_host_ctx_cleanup(&pctx->ctx);
    free(pctx);
    plugin_free(p);
    return rc;
}

void sl_loader_free(sl_loader *l)
{
    if (!l)
        return;
    for (size_t i = l->nplugins; i > 0; i--)
        plugin_free(l->plugins[i - 1]);
    for (size_t i = 0; i < l->nhandlers; i++)
        handler_free(l->handlers[i]);
    free(l->handlers);
    free(l->plugins);
    free(l->table);
    free(l->dir);
    free(l);
}
