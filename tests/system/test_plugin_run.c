/* Plugins in real workers: a C++ plugin loaded by sluice-worker, and the
 * privilege rules of `sluice run` (supervisor.user/group, no_new_privs,
 * non-dumpable workers). Jobs go in by raw XADD; outcomes are read back from
 * Redis and the plugins' record files. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sup.h"
#include "th.h"

static void setup(void)
{
    th_flushall();
}

TestSuite(plugin_run, .init = setup, .timeout = 120);

/* XADD n jobs of type to sluice:{queue}, pipelined. */
static void xadd_jobs(redisContext *c, const char *queue, const char *type, int n)
{
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, "XADD sluice:{%s} * type %s payload {\"n\":%d}", queue, type, i);
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK);
        cr_assert_eq(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

static int nothing_pending(void *arg)
{
    th_want *w = arg;
    return th_pending(w->c, w->key, "p") == 0; /* -1 (no group yet) is not "nothing" */
}

Test(plugin_run, a_cxx_plugin_runs_jobs_in_a_real_worker)
{
    redisContext *c = th_redis();
    char *rec = th_tmp_path("cxx-rec.txt"), *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"pools\":[{\"name\":\"p\",\"queue\":"
                       "\"qcxx\",\"plugins\":[\"cxx\"],\"block\":\"200ms\",\"settings\":{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, rec) > 0);
    char *cfg = th_write_file("cxx.json", json);
    xadd_jobs(c, "qcxx", "test.cxx", 50);
    pid_t pid = th_worker_start(cfg, "p", "ccxx", "cxx.log");
    th_want lines = {c, rec, 50}, idle = {c, "sluice:{qcxx}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &lines, 30000), "only %ld of 50 jobs recorded", th_count_lines(rec));
    cr_assert(th_wait_until(nothing_pending, &idle, 10000), "entries still pending");
    th_worker_stop(pid, 5000);
    cr_assert_eq(th_count_lines(rec), 50);
    cr_assert_eq(th_int(c, "XLEN sluice:{qcxx}:dlq:p"), 0);
    free(cfg);
    free(json);
    free(rec);
    redisFree(c);
}

/* The value of a "Name:\t..." line of /proc/PID/status, or "" (static buffer). */
static const char *proc_status(pid_t pid, const char *name)
{
    static char val[256];
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    val[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return val;
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            snprintf(val, sizeof(val), "%s", line + n + 1 + strspn(line + n + 1, " \t"));
            val[strcspn(val, "\n")] = '\0';
            break;
        }
    fclose(f);
    return val;
}

/* A config for `sluice run` with pool "p" of `workers` record workers on queue,
 * the record file rec, and extra "supervisor" members. Returns the path. */
static char *sup_config(const char *name, const char *queue, int workers, const char *rec, const char *supervisor)
{
    char *json = NULL;
    cr_assert(asprintf(&json,
                       "{\"redis\":{\"url\":\"%s\"},\"plugin_dir\":\"%s\",\"supervisor\":{\"worker_path\":\"%s\","
                       "\"http_listen\":null,\"shutdown_timeout\":\"2s\"%s%s},\"pools\":[{\"name\":\"p\",\"queue\":"
                       "\"%s\",\"plugins\":[\"record\"],\"workers\":%d,\"block\":\"200ms\",\"settings\":"
                       "{\"record_file\":\"%s\"}}]}",
                       th_redis_url(), SLUICE_TEST_PLUGIN_DIR, SLUICE_WORKER_BIN, supervisor[0] ? "," : "", supervisor,
                       queue, workers, rec) > 0);
    char *path = th_write_file(name, json);
    free(json);
    return path;
}

/* Started as root with supervisor.user=nobody: the supervisor and every worker
 * run as nobody (real, effective, saved, fs ids), with no_new_privs, and the
 * jobs complete. The test dir is made readable for nobody; the plugins are in
 * the root-owned build dir. */
Test(plugin_run, supervisor_user_runs_supervisor_and_workers_as_that_user)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    redisContext *c = th_redis();
    cr_assert_eq(chmod(th_tmpdir(), 0755), 0);
    char *rec = th_tmp_path("nobody-rec.txt");
    free(th_write_file("nobody-rec.txt", ""));
    cr_assert_eq(chmod(rec, 0666), 0); /* the workers (nobody) append to it */
    char *cfg = sup_config("nobody.json", "qnobody", 2, rec, "\"user\":\"nobody\"");
    xadd_jobs(c, "qnobody", "test.record", 100);
    th_sup sup = {0};
    th_sup_init(&sup, "nobody", cfg, NULL);
    th_sup_start(&sup);
    th_want lines = {c, rec, 100}, idle = {c, "sluice:{qnobody}", 0};
    cr_assert(th_wait_until(th_lines_at_least, &lines, 30000), "only %ld of 100 jobs recorded (see %s)",
              th_count_lines(rec), sup.log);
    cr_assert(th_wait_until(nothing_pending, &idle, 10000), "entries still pending");
    pid_t w[8];
    int n = th_sup_workers(&sup, w, 8);
    cr_assert_eq(n, 2, "%d workers", n);
    cr_assert_str_eq(proc_status(sup.pid, "Uid"), "65534\t65534\t65534\t65534");
    cr_assert_str_eq(proc_status(sup.pid, "Gid"), "65534\t65534\t65534\t65534");
    for (int i = 0; i < n; i++) {
        cr_assert_str_eq(proc_status(w[i], "Uid"), "65534\t65534\t65534\t65534", "worker %d", (int)w[i]);
        cr_assert_str_eq(proc_status(w[i], "Gid"), "65534\t65534\t65534\t65534", "worker %d", (int)w[i]);
        cr_assert_str_eq(proc_status(w[i], "NoNewPrivs"), "1", "worker %d", (int)w[i]);
        cr_assert_str_eq(proc_status(w[i], "CapEff"), "0000000000000000", "worker %d", (int)w[i]);
        /* PR_SET_DUMPABLE 0 (it holds the password): /proc/PID belongs to root, not to nobody */
        char path[64];
        struct stat st;
        snprintf(path, sizeof path, "/proc/%d/status", (int)w[i]);
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_uid, 0, "worker %d is dumpable (%s owned by uid %u)", (int)w[i], path, (unsigned)st.st_uid);
    }
    th_sup_stop(&sup, 15000);
    cr_assert_eq(th_count_lines(rec), 100);
    cr_assert_eq(th_int(c, "XLEN sluice:{qnobody}:dlq:p"), 0);
    free(cfg);
    free(rec);
    redisFree(c);
}

/* Run `sluice run -t -c cfg` as nobody; returns the exit code, stderr in *out. */
static int run_check_as_nobody(const char *cfg, char **out)
{
    char *log = th_tmp_path("asnobody.log");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(120);
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
            _exit(121);
        execl(SLUICE_BIN, SLUICE_BIN, "run", "-t", "-c", cfg, (char *)NULL);
        _exit(122);
    }
    int st = 0;
    cr_assert(th_wait_exit(pid, 30000, &st), "sluice run -t did not exit");
    *out = th_read_file(log);
    free(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Not root: another user is refused naming the key; the current user is a warning. */
Test(plugin_run, supervisor_user_without_root)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to become nobody");
    cr_assert_eq(chmod(th_tmpdir(), 0755), 0);
    char *rec = th_tmp_path("x-rec.txt");
    char *cfg = sup_config("asroot.json", "qx", 1, rec, "\"user\":\"root\"");
    char *out = NULL;
    cr_assert_eq(run_check_as_nobody(cfg, &out), 78, "%s", out);
    cr_assert(strstr(out, "supervisor.user 'root': sluice run is not running as root (uid 65534), so it cannot "
                          "switch user") != NULL,
              "%s", out);
    free(out);
    free(cfg);
    cfg = sup_config("asself.json", "qx", 1, rec, "\"user\":\"nobody\"");
    run_check_as_nobody(cfg, &out);
    cr_assert(strstr(out, "warning: supervisor.user 'nobody' is the user sluice runs as already") != NULL, "%s", out);
    free(out);
    free(cfg);
    cfg = sup_config("grouponly.json", "qx", 1, rec, "\"group\":\"nogroup\"");
    cr_assert_eq(run_check_as_nobody(cfg, &out), 78, "%s", out);
    cr_assert(strstr(out, "supervisor.group is set without supervisor.user") != NULL, "%s", out);
    free(out);
    free(cfg);
    free(rec);
}
