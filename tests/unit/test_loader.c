/* Plugin loader: the real test plugins (the .so files in build/test-plugins)
 * loaded through the loader API. Every refusal must name the plugin and the
 * precise reason. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "th.h"
#include "workers/loader.h"

static char err[1024];

/* Copy a file with the given mode (chmod after create: umask must not interfere). */
static void copy_file(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY);
    cr_assert(in >= 0, "open(%s): %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(out >= 0, "open(%s): %s", dst, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    cr_assert_eq(chmod(dst, mode), 0);
}

/* A fresh directory under the test tmpdir. */
static char *subdir(const char *name)
{
    char *d = NULL;
    cr_assert(asprintf(&d, "%s/%s", th_tmpdir(), name) > 0);
    cr_assert(mkdir(d, 0755) == 0 || errno == EEXIST, "mkdir(%s): %s", d, strerror(errno));
    return d;
}

/* Load name from dir and expect a refusal containing every given substring. */
static void expect_refused(const char *dir, const char *name, const char *const *needles)
{
    sl_loader *l = sl_loader_new(dir);
    cr_assert_not_null(l);
    err[0] = '\0';
    cr_assert_eq(sl_loader_load(l, name, err, sizeof(err)), -1, "plugin %s loaded but should be refused", name);
    for (size_t i = 0; needles[i]; i++)
        cr_assert(strstr(err, needles[i]) != NULL, "error \"%s\" lacks \"%s\"", err, needles[i]);
    cr_assert_eq(sl_loader_nplugins(l), 0);
    cr_assert_eq(sl_loader_nhandlers(l), 0);
    sl_loader_free(l);
}

#define REFUSED(dir, name, ...) expect_refused((dir), (name), (const char *const[]){__VA_ARGS__, NULL})

Test(loader, loads_ok_and_finds_its_handler)
{
    sl_loader *l = sl_loader_new(SLUICE_TEST_PLUGIN_DIR);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_loader_nplugins(l), 1);
    cr_assert_eq(sl_loader_nhandlers(l), 1);
    const sl_handler *h = sl_loader_find(l, "test.ok", 7);
    cr_assert_not_null(h);
    cr_assert_str_eq(h->type, "test.ok");
    cr_assert_str_eq(h->plugin, "ok");
    /* a type given by length, not NUL-terminated */
    cr_assert_eq(sl_loader_find(l, "test.okay", 7), h);
    cr_assert_null(sl_loader_find(l, "test.ok2", 8));
    cr_assert_null(sl_loader_find(l, "test.o", 6));
    sluice_job job = {.size = sizeof(job), .id = "1-0", .type = "test.ok", .payload = "{}", .payload_len = 2};
    cr_assert_eq(h->fn(NULL, &job, h->data), SLUICE_OK);
    sl_loader_free(l);
}

Test(loader, loads_several_plugins_and_accepts_so_suffix)
{
    sl_loader *l = sl_loader_new(SLUICE_TEST_PLUGIN_DIR);
    const char *names[] = {"ok.so", "fail", "record.so", "retry", "slow", "crash", "hang"};
    const char *types[] = {"test.ok", "test.fail", "test.record", "test.retry", "test.slow", "test.crash", "test.hang"};
    for (size_t i = 0; i < 7; i++)
        cr_assert_eq(sl_loader_load(l, names[i], err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_loader_nhandlers(l), 7);
    for (size_t i = 0; i < 7; i++) {
        const sl_handler *h = sl_loader_find(l, types[i], strlen(types[i]));
        cr_assert_not_null(h, "%s not found", types[i]);
        cr_assert_str_eq(h->type, types[i]);
    }
    sl_loader_free(l);
}

Test(loader, refuses_missing_file)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "nosuch", "plugin nosuch:", "nosuch.so", "No such file or directory");
}

Test(loader, refuses_missing_plugin_dir)
{
    REFUSED("/nonexistent/sluice-plugins", "ok", "plugin ok:", "plugin_dir /nonexistent/sluice-plugins",
            "No such file or directory");
}

Test(loader, refuses_object_without_entry_point)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "no_entry", "plugin no_entry: no entry point 'sluice_plugin_entry' in",
            "no_entry.so (not built with SLUICE_PLUGIN? in C++ the entry point needs extern \"C\")");
}

/* A C++ plugin is loaded like a C one: SLUICE_PLUGIN gives the entry C linkage. */
Test(loader, loads_a_cxx_plugin)
{
    sl_loader *l = sl_loader_new(SLUICE_TEST_PLUGIN_DIR);
    cr_assert_eq(sl_loader_load(l, "cxx", err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(sl_loader_find(l, "test.cxx", 8));
    sl_loader_free(l);
}

/* An entry point with a C++ (mangled) name: the hint names the cause. */
Test(loader, refuses_a_mangled_entry_point_with_a_hint)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "cxx_mangled", "plugin cxx_mangled: no entry point 'sluice_plugin_entry' in",
            "exports it with a C++ (mangled) name", "extern \"C\"");
}

/* bad_abi's init() aborts: passing this test also proves init never ran. */
Test(loader, refuses_other_abi_major_before_init)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "bad_abi", "plugin bad_abi: ABI 2.0, this host supports 1.0");
}

Test(loader, refuses_duplicate_type_naming_both_plugins)
{
    sl_loader *l = sl_loader_new(SLUICE_TEST_PLUGIN_DIR);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_loader_load(l, "dup_type", err, sizeof(err)), -1);
    cr_assert(strstr(err, "duplicate handler type 'test.ok': plugin dup_type registers it, already registered by "
                          "plugin ok") != NULL,
              "%s", err);
    /* the first registration stands and the failed plugin left nothing behind */
    cr_assert_eq(sl_loader_nplugins(l), 1);
    cr_assert_eq(sl_loader_nhandlers(l), 1);
    cr_assert_str_eq(sl_loader_find(l, "test.ok", 7)->plugin, "ok");
    sl_loader_free(l);
}

Test(loader, refuses_failing_init)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "init_fail", "plugin init_fail: init failed (returned -1)");
}

Test(loader, refuses_the_same_file_twice)
{
    sl_loader *l = sl_loader_new(SLUICE_TEST_PLUGIN_DIR);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(sl_loader_load(l, "ok.so", err, sizeof(err)), -1);
    cr_assert(strstr(err, "plugin ok.so:") && strstr(err, "already loaded (as plugin ok)"), "%s", err);
    sl_loader_free(l);
}

Test(loader, refuses_group_writable_file)
{
    char *dir = subdir("gw"), *dst = NULL;
    cr_assert(asprintf(&dst, "%s/ok.so", dir) > 0);
    copy_file(SLUICE_TEST_PLUGIN_DIR "/ok.so", dst, 0664);
    REFUSED(dir, "ok", "plugin ok: refusing group/world-writable file", "/gw/ok.so (mode 0664)");
    cr_assert_eq(chmod(dst, 0646), 0);
    REFUSED(dir, "ok", "plugin ok: refusing group/world-writable file", "(mode 0646)");
    /* the same file with safe permissions loads */
    cr_assert_eq(chmod(dst, 0644), 0);
    sl_loader *l = sl_loader_new(dir);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    sl_loader_free(l);
    free(dst);
    free(dir);
}

Test(loader, refuses_symlink_escaping_the_dir)
{
    char *dir = subdir("esc"), *link = NULL;
    cr_assert(asprintf(&link, "%s/esc.so", dir) > 0);
    cr_assert_eq(symlink(SLUICE_TEST_PLUGIN_DIR "/ok.so", link), 0, "symlink: %s", strerror(errno));
    REFUSED(dir, "esc", "plugin esc: refusing symlink", "/esc/esc.so");
    free(link);
    free(dir);
}

/* Even a link to a file beside it: the plugin is opened with O_NOFOLLOW. */
Test(loader, refuses_symlink_inside_the_dir)
{
    char *dir = subdir("inside"), *dst = NULL, *link = NULL;
    cr_assert(asprintf(&dst, "%s/ok.so", dir) > 0 && asprintf(&link, "%s/alias.so", dir) > 0);
    copy_file(SLUICE_TEST_PLUGIN_DIR "/ok.so", dst, 0644);
    cr_assert_eq(symlink("ok.so", link), 0);
    REFUSED(dir, "alias", "plugin alias: refusing symlink", "/inside/alias.so");
    sl_loader *l = sl_loader_new(dir);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    sl_loader_free(l);
    free(link);
    free(dst);
    free(dir);
}

/* A plugin nobody but root or the running user owns (needs root to chown). */
Test(loader, refuses_file_of_another_owner)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to chown");
    char *dir = subdir("owner"), *dst = NULL;
    cr_assert(asprintf(&dst, "%s/ok.so", dir) > 0);
    copy_file(SLUICE_TEST_PLUGIN_DIR "/ok.so", dst, 0644);
    cr_assert_eq(chown(dst, 65534, 65534), 0, "chown: %s", strerror(errno));
    REFUSED(dir, "ok", "plugin ok: refusing", "/owner/ok.so: owned by uid 65534 (must be root or uid 0");
    free(dst);
    free(dir);
}

Test(loader, refuses_world_or_group_writable_plugin_dir)
{
    char *dir = subdir("wwdir"), *dst = NULL;
    cr_assert(asprintf(&dst, "%s/ok.so", dir) > 0);
    copy_file(SLUICE_TEST_PLUGIN_DIR "/ok.so", dst, 0644);
    cr_assert_eq(chmod(dir, 0777), 0);
    REFUSED(dir, "ok", "plugin ok: refusing plugin_dir", "/wwdir: folder",
            "/wwdir is group/world-writable (mode 0777) and not sticky");
    cr_assert_eq(chmod(dir, 0775), 0);
    REFUSED(dir, "ok", "plugin ok: refusing plugin_dir", "(mode 0775) and not sticky");
    /* sticky, as /tmp is: others cannot replace our entries */
    cr_assert_eq(chmod(dir, 01777), 0);
    sl_loader *l = sl_loader_new(dir);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    sl_loader_free(l);
    cr_assert_eq(chmod(dir, 0755), 0);
    free(dst);
    free(dir);
}

/* A writable folder above plugin_dir is as bad: it can swap plugin_dir itself. */
Test(loader, refuses_writable_parent_of_plugin_dir)
{
    char *parent = subdir("wwparent"), *dir = subdir("wwparent/plugins"), *dst = NULL;
    cr_assert(asprintf(&dst, "%s/ok.so", dir) > 0);
    copy_file(SLUICE_TEST_PLUGIN_DIR "/ok.so", dst, 0644);
    cr_assert_eq(chmod(parent, 0757), 0);
    REFUSED(dir, "ok", "plugin ok: refusing plugin_dir", "/wwparent/plugins: folder",
            "/wwparent is group/world-writable (mode 0757)");
    cr_assert_eq(chmod(parent, 0755), 0);
    if (geteuid() == 0) {
        cr_assert_eq(chown(parent, 65534, 65534), 0);
        REFUSED(dir, "ok", "plugin ok: refusing plugin_dir", "/wwparent is owned by uid 65534");
        cr_assert_eq(chown(parent, 0, 0), 0);
    }
    sl_loader *l = sl_loader_new(dir);
    cr_assert_eq(sl_loader_load(l, "ok", err, sizeof(err)), 0, "%s", err);
    sl_loader_free(l);
    free(dst);
    free(dir);
    free(parent);
}

/* A FIFO under the plugin's name: refused at once, not a hang in open(). */
Test(loader, refuses_fifo_without_blocking, .timeout = 10)
{
    char *dir = subdir("fifo"), *f = NULL;
    cr_assert(asprintf(&f, "%s/x.so", dir) > 0);
    cr_assert_eq(mkfifo(f, 0644), 0);
    REFUSED(dir, "x", "plugin x:", "x.so is not a regular file");
    free(f);
    free(dir);
}

Test(loader, refuses_names_with_a_slash)
{
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "../test-plugins/ok", "plugin ../test-plugins/ok: invalid plugin name", "no '/'");
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "/etc/passwd", "invalid plugin name");
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "..", "invalid plugin name");
    REFUSED(SLUICE_TEST_PLUGIN_DIR, "", "invalid plugin name");
}

Test(loader, refuses_non_regular_file)
{
    char *dir = subdir("nonreg"), *d = NULL;
    cr_assert(asprintf(&d, "%s/x.so", dir) > 0);
    cr_assert_eq(mkdir(d, 0755), 0);
    REFUSED(dir, "x", "plugin x:", "x.so is not a regular file");
    free(d);
    free(dir);
}

Test(loader, reports_dlopen_errors)
{
    char *dir = subdir("junk");
    free(th_write_file("junk/junk.so", "this is not an ELF file\n"));
    REFUSED(dir, "junk", "plugin junk: dlopen(", "junk.so) failed:");
    free(dir);
}
