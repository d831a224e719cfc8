/* sluicebench: measures sluice against the raw Redis ceiling on the same server
 * (issue 6). Each subcommand runs sluice (the real supervisor and workers, every
 * guarantee on) and the matching raw hiredis loop, and prints tab-separated
 * lines that bench/run.sh turns into one table:
 *   R <TAB> figure <TAB> sluice <TAB> ceiling <TAB> ratio <TAB> target
 *   D <TAB> detail text (where the time goes)
 * Never pass/fail: the exit code only says whether the measurement ran. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/functions.h"
#include "common/hiredis_compat.h"
#include <sluice/client.h>

#define QUEUE "bench"
#define STREAM "sluice:{bench}"
#define GROUP "g"
#define BATCH 1000
#define CORR "00000000-0000-4000-8000-000000000000" /* raw XADDs carry a correlation id like the API's */

/* ------------------------------------------------------------------ options */

typedef struct bench_opts {
    const char *host;
    int port;
    char url[128];
    const char *tmp; /* work dir: configs, logs, latency files */
    long jobs; /* drain size */
    long enq_jobs; /* enqueue size */
    int read_count; /* pools[].read_count and the raw loop's COUNT */
    const char *prefetch; /* pools[].prefetch, NULL = the product default */
    int no_job_log; /* log.jobs false (default: true, the product default) */
    double window_s; /* end-to-end measuring window */
    double lat_s; /* latency run per rate */
    const char *tag; /* appended to figure names, e.g. " [AOF everysec]" */
    const char *perf; /* drain: record `perf record -a -g` into this file while sluice drains; no ceiling */
} bench_opts;

static bench_opts O = {.host = "127.0.0.1",
                       .port = 6379,
                       .tmp = "/tmp",
                       .jobs = 1000000,
                       .enq_jobs = 500000,
                       .read_count = 256,
                       .window_s = 10,
                       .lat_s = 10,
                       .tag = ""};

static pid_t sup_pid; /* a running supervisor, killed if we die */

static void cleanup(void)
{
    if (sup_pid > 0) {
        kill(sup_pid, SIGKILL);
        waitpid(sup_pid, NULL, 0);
        sup_pid = 0;
    }
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("sluicebench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------ output */

__attribute__((format(printf, 1, 2))) static void detail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("D\t", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* One table row; ratio < 0 prints "-". */
static void row(const char *figure, const char *sluice, const char *ceiling, double ratio, const char *target)
{
    char r[32] = "-";
    if (ratio >= 0)
        snprintf(r, sizeof r, "%.2fx", ratio);
    printf("R\t%s%s\t%s\t%s\t%s\t%s\n", figure, O.tag, sluice, ceiling, r, target);
    fflush(stdout);
}

static const char *fmt_rate(char *buf, size_t n, double per_s)
{
    long long v = (long long)(per_s + 0.5);
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", v);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    snprintf(buf + o, n - o, "/s");
    return buf;
}

static const char *fmt_ms(char *buf, size_t n, double us)
{
    snprintf(buf, n, "%.3f ms", us / 1000.0);
    return buf;
}

static const char *fmt_mib(char *buf, size_t n, long kb)
{
    if (kb < 0)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "%.1f MiB", kb / 1024.0);
    return buf;
}

/* ------------------------------------------------------------------ time */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ redis */

typedef enum ack_mode {
    ACK_BATCH, /* one XACK with every id of the read: the ceiling */
    ACK_EACH, /* one pipelined XACK per id */
    ACK_FCALL_EACH, /* one pipelined FCALL sluice_ack per id (what a worker sends) */
    ACK_FCALL_BATCH, /* one FCALL sluice_ack with every id of the read */
    ACK_FENCED_BATCH /* a sketch, not sluice's: one script per read, one XPENDING range + one XACK */
} ack_mode;

static const char *ack_mode_name[] = {"XACK per read batch", "XACK per job, pipelined",
                                      "FCALL sluice_ack per job, pipelined", "FCALL sluice_ack per read batch",
                                      "fenced batch script (1 XPENDING range + 1 XACK per read)"};

/* The fenced batch ack sketched for "what would reach the targets": the same
 * owner check as sluice_ack, but one XPENDING over the read's id range for this
 * consumer and one XACK of the owned ids, instead of XPENDING + XACK per id.
 * ARGV: group, consumer, ids in increasing order (one stream). */
static const char fenced_batch_lua[] = "local s, g, c, n = KEYS[1], ARGV[1], ARGV[2], #ARGV - 2\n"
                                       "local p = redis.call('XPENDING', s, g, ARGV[3], ARGV[#ARGV], n, c)\n"
                                       "local own, ids = {}, {}\n"
                                       "for i = 1, #p do own[p[i][1]] = true end\n"
                                       "for i = 3, #ARGV do if own[ARGV[i]] then ids[#ids + 1] = ARGV[i] end end\n"
                                       "if #ids > 0 then redis.call('XACK', s, g, unpack(ids)) end\n"
                                       "return {#ids, n - #ids}\n";
static char fenced_batch_sha[48];


static redisContext *rconnect(void)
{
    struct timeval tv = {5, 0};
    redisContext *c = redisConnectWithTimeout(O.host, O.port, tv);
    if (!c || c->err)
        die("connect(%s:%d) failed: %s", O.host, O.port, c ? c->errstr : "out of memory");
    return c;
}

/* Run a command; dies on a lost connection, returns error replies. */
static redisReply *cmdv(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r)
        die("%s failed: %s", argv[0], c->errstr);
    return r;
}

static void cmd_ok(redisContext *c, int argc, const char **argv)
{
    redisReply *r = cmdv(c, argc, argv);
    if (r->type == REDIS_REPLY_ERROR)
        die("%s failed: %s", argv[0], r->str);
    freeReplyObject(r);
}

static void flushall(redisContext *c)
{
    const char *a[] = {"FLUSHALL"};
    cmd_ok(c, 1, a);
}

static void load_functions(redisContext *c)
{
    const char *a[] = {"FUNCTION", "LOAD", "REPLACE", sl_functions_lua};
    size_t l[] = {8, 4, 7, sl_functions_lua_len};
    redisReply *r = redisCommandArgv(c, 4, a, l);
    if (!r || r->type == REDIS_REPLY_ERROR)
        die("FUNCTION LOAD failed: %s", r ? r->str : c->errstr);
    freeReplyObject(r);
    const char *b[] = {"SCRIPT", "LOAD", fenced_batch_lua};
    r = cmdv(c, 3, b);
    if (r->type != REDIS_REPLY_STRING)
        die("SCRIPT LOAD failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    snprintf(fenced_batch_sha, sizeof fenced_batch_sha, "%s", r->str);
    freeReplyObject(r);
}

static void group_create(redisContext *c)
{
    const char *a[] = {"XGROUP", "CREATE", STREAM, GROUP, "0", "MKSTREAM"};
    cmd_ok(c, 6, a);
}

/* XADD argv of one job as the client API writes it (type, payload,
 * correlation_id, enqueued_at). ms and payload must outlive the call. */
static int job_argv(const char **a, const char *type, const char *payload, const char *ms)
{
    int n = 0;
    a[n++] = "XADD", a[n++] = STREAM, a[n++] = "*", a[n++] = "type", a[n++] = type, a[n++] = "payload";
    a[n++] = payload, a[n++] = "correlation_id", a[n++] = CORR, a[n++] = "enqueued_at", a[n++] = ms;
    return n;
}

/* Raw pipelined XADD of n no-op jobs in batches of BATCH. */
static void xadd_pipelined(redisContext *c, long n)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, wall_us() / 1000);
    const char *a[16];
    int argc = job_argv(a, "bench.noop", "{}", ms);
    for (long done = 0; done < n;) {
        long b = n - done < BATCH ? n - done : BATCH;
        for (long i = 0; i < b; i++)
            redisAppendCommandArgv(c, argc, a, NULL);
        for (long i = 0; i < b; i++) {
            redisReply *r;
            if (redisGetReply(c, (void **)&r) != REDIS_OK)
                die("XADD failed: %s", c->errstr);
            if (r->type == REDIS_REPLY_ERROR)
                die("XADD failed: %s", r->str);
            freeReplyObject(r);
        }
        done += b;
    }
}

typedef struct ginfo {
    int exists;
    long long pending, lag, entries_read; /* lag -1: unknown (nil) */
} ginfo;

static long long reply_int(const redisReply *v)
{
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return -1;
}

static ginfo group_info(redisContext *c)
{
    ginfo g = {0, 0, -1, 0};
    const char *a[] = {"XINFO", "GROUPS", STREAM};
    redisReply *r = cmdv(c, 3, a);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *m = r->element[i];
        int mine = 0;
        ginfo t = {1, 0, -1, 0};
        for (size_t j = 0; m->type == REDIS_REPLY_ARRAY && j + 1 < m->elements; j += 2) {
            const char *k = m->element[j]->str;
            redisReply *v = m->element[j + 1];
            if (!k)
                continue;
            if (!strcmp(k, "name"))
                mine = v->type == REDIS_REPLY_STRING && !strcmp(v->str, GROUP);
            else if (!strcmp(k, "pending"))
                t.pending = reply_int(v);
            else if (!strcmp(k, "lag"))
                t.lag = reply_int(v);
            else if (!strcmp(k, "entries-read"))
                t.entries_read = reply_int(v);
        }
        if (mine)
            g = t;
    }
    freeReplyObject(r);
    return g;
}

static long long stream_len(redisContext *c)
{
    const char *a[] = {"XLEN", STREAM};
    redisReply *r = cmdv(c, 2, a);
    long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

/* INFO commandstats as name -> calls, usec. */
#define CMDSTATS_MAX 96
typedef struct cmdstats {
    int n;
    char name[CMDSTATS_MAX][48];
    long long calls[CMDSTATS_MAX], usec[CMDSTATS_MAX];
} cmdstats;

static void cmdstats_get(redisContext *c, cmdstats *s)
{
    const char *a[] = {"INFO", "commandstats"};
    redisReply *r = cmdv(c, 2, a);
    s->n = 0;
    for (char *line = r->type == REDIS_REPLY_STRING ? r->str : NULL; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char name[48];
        long long calls, usec;
        if (s->n < CMDSTATS_MAX && sscanf(line, "cmdstat_%47[^:]:calls=%lld,usec=%lld", name, &calls, &usec) == 3) {
            snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
            s->calls[s->n] = calls, s->usec[s->n] = usec;
            s->n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    freeReplyObject(r);
}

static long redis_server_pid(redisContext *c)
{
    const char *a[] = {"INFO", "server"};
    redisReply *r = cmdv(c, 2, a);
    const char *p = r->type == REDIS_REPLY_STRING ? strstr(r->str, "process_id:") : NULL;
    long pid = p ? strtol(p + 11, NULL, 10) : -1;
    freeReplyObject(r);
    return pid;
}

/* ------------------------------------------------------------------ processes */

/* fork+exec argv with stdin from in (or /dev/null) and stdout+stderr appended to out. */
static pid_t spawn(char *const argv[], const char *in, const char *out)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed: %s", strerror(errno));
    if (pid == 0) {
        int fi = open(in ? in : "/dev/null", O_RDONLY);
        int fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fi < 0 || fo < 0)
            _exit(127);
        dup2(fi, 0), dup2(fo, 1), dup2(fo, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* SIGTERM, then SIGKILL after timeout_s. Returns the wait status. */
static int stop_pid(pid_t pid, double timeout_s)
{
    int st = 0;
    kill(pid, SIGTERM);
    for (double t0 = mono_s(); mono_s() - t0 < timeout_s;) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        sleep_s(0.01);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return st;
}

/* Fields of /proc/<pid>/stat after the command name: [0] = state, [1] = ppid,
 * [11] = utime, [12] = stime. Returns 0 or -1. */
static int proc_stat(long pid, long long *ppid, long long *utime, long long *stime)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    long long v[13] = {0};
    p += 2;
    for (int i = 0; i < 13 && *p; i++) {
        v[i] = i == 0 ? 0 : strtoll(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p)
            break;
        p++;
    }
    if (ppid)
        *ppid = v[1];
    if (utime)
        *utime = v[11];
    if (stime)
        *stime = v[12];
    return 0;
}

/* Children of pid (the workers of a supervisor). Returns how many (<= max). */
static int children_of(long pid, long *out, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;) {
        char *end;
        long p = strtol(e->d_name, &end, 10);
        long long pp;
        if (*end || p <= 0)
            continue;
        if (proc_stat(p, &pp, NULL, NULL) == 0 && pp == pid)
            out[n++] = p;
    }
    closedir(d);
    return n;
}

static long rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU seconds (user, sys) of one process. */
static void cpu_of(long pid, double *user, double *sys)
{
    long long u = 0, s = 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    proc_stat(pid, NULL, &u, &s);
    *user = u / hz, *sys = s / hz;
}

/* ------------------------------------------------------------------ sluice */

/* Write a one-pool config and start `sluice run` on it. settings is the
 * inside of the pool's "settings" object. */
static pid_t start_sluice(int workers, const char *plugin, const char *settings)
{
    char cfg[512], log[512], prefetch[64] = "";
    snprintf(cfg, sizeof cfg, "%s/sluice-bench.json", O.tmp);
    if (O.prefetch)
        snprintf(prefetch, sizeof prefetch, "\"prefetch\": \"%s\", ", O.prefetch);
    snprintf(log, sizeof log, "%s/sluice.log", O.tmp);
    /* A fresh log per run: a drain writes a line per job, and runs that
     * append to one file make later figures slower as it grows (GBs). */
    FILE *lf = fopen(log, "w");
    if (lf)
        fclose(lf);
    FILE *f = fopen(cfg, "w");
    if (!f)
        die("fopen(%s) failed: %s", cfg, strerror(errno));
    fprintf(f,
            "{\"redis\": {\"url\": \"%s\"},\n"
            " \"plugin_dir\": \"%s\",\n"
            " \"log\": {\"level\": \"info\", \"file\": \"%s\", \"jobs\": %s},\n"
            " \"supervisor\": {\"shutdown_timeout\": \"10s\"},\n"
            " \"pools\": [{\"name\": \"bench\", \"queue\": \"" QUEUE "\", \"group\": \"" GROUP "\",\n"
            "   \"plugins\": [\"%s\"], \"workers\": %d, \"read_count\": %d, %s\"settings\": {%s}}]}\n",
            O.url, SLUICE_BENCH_PLUGIN_DIR, log, O.no_job_log ? "false" : "true", plugin, workers, O.read_count,
            prefetch, settings);
    fclose(f);
    char *argv[] = {(char *)SLUICE_BIN, (char *)"run", (char *)"-c", cfg, NULL};
    sup_pid = spawn(argv, NULL, log);
    return sup_pid;
}

static void stop_sluice(void)
{
    if (sup_pid <= 0)
        return;
    int st = stop_pid(sup_pid, 20);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        detail("warning: sluice run ended with status 0x%x (see %s/sluice.log)", st, O.tmp);
    sup_pid = 0;
}

/* Wait until the workers created the group (they have connected). */
static void wait_group(redisContext *c)
{
    for (double t0 = mono_s(); !group_info(c).exists; sleep_s(0.02)) {
        if (mono_s() - t0 > 10)
            die("the workers did not create group %s in 10 s (see %s/sluice.log)", GROUP, O.tmp);
        if (waitpid(sup_pid, NULL, WNOHANG) == sup_pid) {
            sup_pid = 0;
            die("sluice run exited at start (see %s/sluice.log)", O.tmp);
        }
    }
}

typedef struct mem {
    long sup_kb, worker_kb; /* worker: the largest */
} mem;

static mem mem_now(void)
{
    mem m = {rss_kb(sup_pid), -1};
    long kids[64];
    int n = children_of(sup_pid, kids, 64);
    for (int i = 0; i < n; i++) {
        long kb = rss_kb(kids[i]);
        if (kb > m.worker_kb)
            m.worker_kb = kb;
    }
    return m;
}

static void mem_max(mem *acc, mem m)
{
    if (m.sup_kb > acc->sup_kb)
        acc->sup_kb = m.sup_kb;
    if (m.worker_kb > acc->worker_kb)
        acc->worker_kb = m.worker_kb;
}

/* ------------------------------------------------------------------ raw consumers */


typedef struct raw_consumer {
    pthread_t th;
    int idx;
    ack_mode mode;
    int until_empty; /* drain: stop at the first empty read */
    atomic_int *stop; /* e2e/latency: stop when set */
    _Atomic long long *acked; /* shared counter */
    uint32_t *lat; /* latency samples (us), or NULL */
    size_t lat_n, lat_cap;
} raw_consumer;

static long long payload_t(const char *p)
{
    const char *t = p ? strstr(p, "\"t\":") : NULL;
    return t ? strtoll(t + 4, NULL, 10) : -1;
}

static void *raw_consumer_main(void *arg)
{
    raw_consumer *rc = arg;
    redisContext *c = rconnect();
    char consumer[32], count[16];
    snprintf(consumer, sizeof consumer, "raw-%d", rc->idx);
    snprintf(count, sizeof count, "%d", O.read_count);
    const char *rd[] = {"XREADGROUP", "GROUP", GROUP, consumer, "COUNT", count, "BLOCK", "50", "STREAMS", STREAM, ">"};
    const char **av = malloc((6 + (size_t)O.read_count * 2 + 8) * sizeof(*av));
    if (!av)
        die("out of memory");
    while (!(rc->stop && atomic_load(rc->stop))) {
        redisReply *r = cmdv(c, 11, rd);
        if (r->type == REDIS_REPLY_ERROR)
            die("XREADGROUP failed: %s", r->str);
        redisReply *entries = r->type == REDIS_REPLY_ARRAY && r->elements ? r->element[0]->element[1] : NULL;
        if (!entries || entries->elements == 0) {
            freeReplyObject(r);
            if (rc->until_empty)
                break;
            continue;
        }
        int64_t now = rc->lat ? wall_us() : 0;
        size_t n = entries->elements;
        for (size_t i = 0; rc->lat && i < n; i++) {
            redisReply *f = entries->element[i]->element[1];
            for (size_t j = 0; f && j + 1 < f->elements; j += 2)
                if (!strcmp(f->element[j]->str, "payload")) {
                    long long t = payload_t(f->element[j + 1]->str);
                    if (t > 0 && rc->lat_n < rc->lat_cap)
                        rc->lat[rc->lat_n++] = (uint32_t)(now > t ? now - t : 0);
                }
        }
        int argc = 0;
        if (rc->mode == ACK_BATCH || rc->mode == ACK_FCALL_BATCH || rc->mode == ACK_FENCED_BATCH) {
            if (rc->mode == ACK_BATCH)
                av[argc++] = "XACK", av[argc++] = STREAM, av[argc++] = GROUP;
            else if (rc->mode == ACK_FENCED_BATCH)
                av[argc++] = "EVALSHA", av[argc++] = fenced_batch_sha, av[argc++] = "1", av[argc++] = STREAM,
                av[argc++] = GROUP, av[argc++] = consumer;
            else
                av[argc++] = "FCALL", av[argc++] = "sluice_ack", av[argc++] = "1", av[argc++] = STREAM,
                av[argc++] = GROUP, av[argc++] = consumer, av[argc++] = "", av[argc++] = "0";
            for (size_t i = 0; i < n; i++)
                av[argc++] = entries->element[i]->element[0]->str;
            redisReply *a = cmdv(c, argc, av);
            if (a->type == REDIS_REPLY_ERROR)
                die("%s failed: %s", av[0], a->str);
            freeReplyObject(a);
        } else {
            for (size_t i = 0; i < n; i++) {
                const char *id = entries->element[i]->element[0]->str;
                if (rc->mode == ACK_EACH) {
                    const char *x[] = {"XACK", STREAM, GROUP, id};
                    redisAppendCommandArgv(c, 4, x, NULL);
                } else {
                    const char *x[] = {"FCALL", "sluice_ack", "1", STREAM, GROUP, consumer, "", "0", id};
                    redisAppendCommandArgv(c, 9, x, NULL);
                }
            }
            for (size_t i = 0; i < n; i++) {
                redisReply *a;
                if (redisGetReply(c, (void **)&a) != REDIS_OK)
                    die("ack failed: %s", c->errstr);
                if (a->type == REDIS_REPLY_ERROR)
                    die("ack failed: %s", a->str);
                freeReplyObject(a);
            }
        }
        atomic_fetch_add(rc->acked, (long long)n);
        freeReplyObject(r);
    }
    free(av);
    redisFree(c);
    return NULL;
}

static raw_consumer *raw_start(int n, ack_mode mode, int until_empty, atomic_int *stop, _Atomic long long *acked,
                               size_t lat_cap)
{
    raw_consumer *v = calloc((size_t)n, sizeof(*v));
    if (!v)
        die("out of memory");
    for (int i = 0; i < n; i++) {
        v[i] = (raw_consumer){.idx = i, .mode = mode, .until_empty = until_empty, .stop = stop, .acked = acked};
        if (lat_cap) {
            v[i].lat = malloc(lat_cap * sizeof(uint32_t));
            v[i].lat_cap = lat_cap;
            if (!v[i].lat)
                die("out of memory");
        }
        if (pthread_create(&v[i].th, NULL, raw_consumer_main, &v[i]) != 0)
            die("pthread_create failed");
    }
    return v;
}

static void raw_join(raw_consumer *v, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(v[i].th, NULL);
}

static void raw_free(raw_consumer *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].lat);
    free(v);
}

/* ------------------------------------------------------------------ drain */

/* Raw ceiling: prefill, then n clients of XREADGROUP COUNT k + ack until
 * empty. *redis_us gets redis-server CPU (user+sys) per job (may be NULL). */
static double raw_drain(redisContext *c, int clients, ack_mode mode, double *redis_us)
{
    flushall(c);
    xadd_pipelined(c, O.jobs);
    group_create(c);
    long rpid = redis_server_pid(c);
    double u0, s0, u1, s1;
    cpu_of(rpid, &u0, &s0);
    _Atomic long long acked = 0;
    double t0 = mono_s();
    raw_consumer *v = raw_start(clients, mode, 1, NULL, &acked, 0);
    raw_join(v, clients);
    double dt = mono_s() - t0;
    cpu_of(rpid, &u1, &s1);
    raw_free(v, clients);
    if (redis_us)
        *redis_us = (u1 - u0 + s1 - s0) * 1e6 / (double)O.jobs;
    ginfo g = group_info(c);
    if (acked != O.jobs || g.pending != 0)
        detail("warning: raw drain acked %lld of %ld (pending %lld)", (long long)acked, O.jobs, g.pending);
    return O.jobs / dt;
}

static long long stat_delta(const cmdstats *a, const cmdstats *b, const char *name, long long *usec)
{
    long long c0 = 0, u0 = 0;
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->name[i], name))
            c0 = a->calls[i], u0 = a->usec[i];
    for (int i = 0; i < b->n; i++)
        if (!strcmp(b->name[i], name)) {
            if (usec)
                *usec = b->usec[i] - u0;
            return b->calls[i] - c0;
        }
    if (usec)
        *usec = 0;
    return 0;
}

/* Prefill O.jobs no-op jobs, run `sluice run` with `workers` workers until
 * XINFO GROUPS shows everything read and acked (polled every 20 ms). Prints
 * where the time went. Returns jobs/s from the supervisor's start. */
static double sluice_drain(redisContext *c, int workers, mem *under_load)
{
    flushall(c);
    xadd_pipelined(c, O.jobs);
    long rpid = redis_server_pid(c);
    cmdstats s0, s1;
    cmdstats_get(c, &s0);
    double ru0, rs0, ru1, rs1, wu = 0, ws = 0, su, ss;
    cpu_of(rpid, &ru0, &rs0);
    double t0 = mono_s(), last_progress = t0, t1;
    long long last_read = -1;
    int sampled = 0;
    pid_t perf = 0;
    if (O.perf) { /* system-wide: the workers, the supervisor and redis-server, from start to drained */
        char *pa[] = {(char *)"/usr/bin/env",
                      (char *)"perf",
                      (char *)"record",
                      (char *)"-q",
                      (char *)"-e",
                      (char *)"cpu-clock",
                      (char *)"-F",
                      (char *)"999",
                      (char *)"-a",
                      (char *)"-g",
                      (char *)"-o",
                      (char *)O.perf,
                      NULL};
        char plog[600];
        snprintf(plog, sizeof plog, "%s.log", O.perf);
        perf = spawn(pa, NULL, plog);
        sleep_s(0.5);
        t0 = mono_s();
        last_progress = t0;
    }
    start_sluice(workers, "noop", "");
    for (;;) {
        sleep_s(0.02);
        ginfo g = group_info(c);
        if (g.exists && g.pending == 0 && g.entries_read >= O.jobs && (g.lag == 0 || g.lag < 0))
            break;
        if (g.entries_read != last_read)
            last_read = g.entries_read, last_progress = mono_s();
        if (!sampled && g.entries_read >= O.jobs / 2) {
            sampled = 1;
            if (under_load)
                mem_max(under_load, mem_now());
        }
        if (mono_s() - last_progress > 30) {
            detail("error: drain stalled at %lld read, %lld pending", g.entries_read, g.pending);
            stop_sluice();
            return -1;
        }
        if (waitpid(sup_pid, NULL, WNOHANG) == sup_pid) {
            sup_pid = 0;
            die("sluice run exited during the drain (see %s/sluice.log)", O.tmp);
        }
    }
    t1 = mono_s();
    long kids[64];
    int nk = children_of(sup_pid, kids, 64);
    for (int i = 0; i < nk; i++) {
        double u, s;
        cpu_of(kids[i], &u, &s);
        wu += u, ws += s;
    }
    cpu_of(sup_pid, &su, &ss);
    cpu_of(rpid, &ru1, &rs1);
    cmdstats_get(c, &s1);
    if (perf > 0) {
        int st;
        kill(perf, SIGINT);
        waitpid(perf, &st, 0);
    }
    stop_sluice();

    double n = (double)O.jobs, wall = t1 - t0;
    detail("drain %d worker(s), %ld jobs, read_count %d: %.2f s wall = %.2f us/job; CPU us/job: workers user %.2f "
           "sys %.2f, redis-server user %.2f sys %.2f, supervisor %.3f; busy: redis-server %.0f%% of one core, "
           "workers %.0f%% of one core",
           workers, O.jobs, O.read_count, wall, wall * 1e6 / n, wu * 1e6 / n, ws * 1e6 / n, (ru1 - ru0) * 1e6 / n,
           (rs1 - rs0) * 1e6 / n, (su + ss) * 1e6 / n, (ru1 - ru0 + rs1 - rs0) * 100 / wall, (wu + ws) * 100 / wall);
    char line[1024] = "";
    size_t o = 0;
    long long total_calls = 0;
    for (int i = 0; i < s1.n; i++) {
        long long us, calls = stat_delta(&s0, &s1, s1.name[i], &us);
        if (calls / n < 0.0005 || !strcmp(s1.name[i], "info") || !strcmp(s1.name[i], "xinfo|groups"))
            continue;
        total_calls += calls;
        if (o < sizeof line - 100)
            o += (size_t)snprintf(line + o, sizeof line - o, " %s %.3f calls/job %.2f us/job;", s1.name[i], calls / n,
                                  us / n);
    }
    detail("drain %d worker(s) redis commandstats delta (commands inside FCALL included):%s", workers, line);
    (void)total_calls;
    return n / wall;
}

static void cmd_drain(int argc, char **argv)
{
    redisContext *c = rconnect();
    load_functions(c);
    for (int i = 0; i < argc; i++) {
        int w = atoi(argv[i]);
        if (w < 1 || w > 64)
            die("drain: bad worker count '%s'", argv[i]);
        double rus;
        if (O.perf) { /* profiling: only sluice's drain is recorded */
            sluice_drain(c, w, NULL);
            continue;
        }
        double ceil = raw_drain(c, w, ACK_BATCH, &rus);
        detail("raw drain %d client(s), COUNT %d, XACK per read batch: redis-server CPU %.2f us/job", w, O.read_count,
               rus);
        double s = sluice_drain(c, w, NULL);
        char fig[128], a[32], b[32];
        snprintf(fig, sizeof fig, "drain, %d worker%s (%ld jobs, read_count %d, prefetch %s%s)", w, w > 1 ? "s" : "",
                 O.jobs, O.read_count, O.prefetch ? O.prefetch : "5ms", O.no_job_log ? ", log.jobs false" : "");
        row(fig, s > 0 ? fmt_rate(a, sizeof a, s) : "stalled", fmt_rate(b, sizeof b, ceil), s > 0 ? s / ceil : -1,
            w == 2 ? ">= 50% of ceiling and >= 300,000/s" : "-");
    }
    redisFree(c);
}

/* Diagnostics: the raw loop with the other ack styles. */
static void cmd_rawdrain(int argc, char **argv)
{
    redisContext *c = rconnect();
    load_functions(c);
    int w = argc > 0 ? atoi(argv[0]) : 2;
    if (w < 1 || w > 64)
        die("rawdrain: bad client count");
    for (int m = ACK_BATCH; m <= ACK_FENCED_BATCH; m++) {
        cmdstats s0, s1;
        cmdstats_get(c, &s0);
        double rus;
        double r = raw_drain(c, w, (ack_mode)m, &rus);
        cmdstats_get(c, &s1);
        long long us_fcall, us_xack, us_rd, us_eval;
        stat_delta(&s0, &s1, "fcall", &us_fcall);
        stat_delta(&s0, &s1, "evalsha", &us_eval);
        stat_delta(&s0, &s1, "xack", &us_xack);
        stat_delta(&s0, &s1, "xreadgroup", &us_rd);
        char a[32];
        detail("raw drain, %d clients, COUNT %d, %s: %s; redis-server CPU %.2f us/job; commandstats us/job: "
               "xreadgroup %.2f, xack %.2f, fcall %.2f, evalsha %.2f",
               w, O.read_count, ack_mode_name[m], fmt_rate(a, sizeof a, r), rus, (double)us_rd / O.jobs,
               (double)us_xack / O.jobs, (double)us_fcall / O.jobs, (double)us_eval / O.jobs);
    }
    redisFree(c);
}

/* ------------------------------------------------------------------ end-to-end */

typedef struct producer {
    pthread_t th;
    int use_api;
    atomic_int *stop;
    _Atomic long long sent;
} producer;

static void *producer_main(void *arg)
{
    producer *p = arg;
    if (p->use_api) {
        char err[256];
        sluice_client *cl = sluice_client_new(O.url, NULL, err, sizeof err);
        if (!cl)
            die("sluice_client_new failed: %s", err);
        sluice_job_spec specs[BATCH];
        for (int i = 0; i < BATCH; i++)
            specs[i] = (sluice_job_spec){.type = "bench.noop", .payload = "{}"};
        while (!atomic_load(p->stop)) {
            long n = sluice_enqueue_batch(cl, QUEUE, specs, BATCH, NULL);
            if (n != BATCH)
                die("sluice_enqueue_batch failed: %s", sluice_client_error(cl));
            atomic_fetch_add(&p->sent, n);
        }
        sluice_client_free(cl);
    } else {
        redisContext *c = rconnect();
        while (!atomic_load(p->stop)) {
            xadd_pipelined(c, BATCH);
            atomic_fetch_add(&p->sent, BATCH);
        }
        redisFree(c);
    }
    return NULL;
}

/* Acked jobs of the group: everything read minus what is still pending. */
static long long acked_now(redisContext *c)
{
    ginfo g = group_info(c);
    return g.entries_read - g.pending;
}

static void cmd_e2e(int argc, char **argv)
{
    int w = argc > 0 ? atoi(argv[0]) : 2;
    if (w < 1 || w > 64)
        die("e2e: bad worker count");
    redisContext *c = rconnect();
    load_functions(c);
    atomic_int stop = 0;

    /* Raw: one pipelined XADD producer + w raw consumers. */
    flushall(c);
    group_create(c);
    _Atomic long long acked = 0;
    producer rp = {.use_api = 0, .stop = &stop};
    raw_consumer *v = raw_start(w, ACK_BATCH, 0, &stop, &acked, 0);
    pthread_create(&rp.th, NULL, producer_main, &rp);
    sleep_s(1);
    long long a0 = atomic_load(&acked);
    double t0 = mono_s();
    sleep_s(O.window_s);
    long long a1 = atomic_load(&acked);
    double raw_rate = (a1 - a0) / (mono_s() - t0);
    atomic_store(&stop, 1);
    pthread_join(rp.th, NULL);
    raw_join(v, w);
    raw_free(v, w);

    /* sluice: the supervisor, idle, then the client API producer. */
    flushall(c);
    atomic_store(&stop, 0);
    start_sluice(w, "noop", "");
    wait_group(c);
    sleep_s(1.5);
    mem idle = mem_now(), load = {-1, -1};
    producer sp = {.use_api = 1, .stop = &stop};
    pthread_create(&sp.th, NULL, producer_main, &sp);
    sleep_s(1);
    a0 = acked_now(c);
    long long p0 = atomic_load(&sp.sent);
    t0 = mono_s();
    while (mono_s() - t0 < O.window_s) {
        sleep_s(0.2);
        mem_max(&load, mem_now());
    }
    a1 = acked_now(c);
    double dt = mono_s() - t0;
    long long p1 = atomic_load(&sp.sent);
    atomic_store(&stop, 1);
    pthread_join(sp.th, NULL);
    ginfo g = group_info(c);
    stop_sluice();
    double rate = (a1 - a0) / dt;

    char fig[96], a[32], b[32];
    snprintf(fig, sizeof fig, "end-to-end, %d workers + 1 producer (%.0f s)", w, O.window_s);
    row(fig, fmt_rate(a, sizeof a, rate), fmt_rate(b, sizeof b, raw_rate), rate / raw_rate, ">= 150,000/s");
    detail("end-to-end: producer (client API, batches of %d) enqueued %s during the window; backlog at the end: "
           "%lld unread, %lld pending",
           BATCH, fmt_rate(a, sizeof a, (p1 - p0) / dt), g.lag, g.pending);
    row("RSS supervisor, idle", fmt_mib(a, sizeof a, idle.sup_kb), "-", -1, "<= 8 MiB");
    row("RSS supervisor, under load (max)", fmt_mib(a, sizeof a, load.sup_kb), "-", -1, "<= 8 MiB");
    row("RSS worker, idle (largest)", fmt_mib(a, sizeof a, idle.worker_kb), "-", -1, "<= 4 MiB");
    row("RSS worker, under load (max)", fmt_mib(a, sizeof a, load.worker_kb), "-", -1, "<= 4 MiB");
    redisFree(c);
}

/* ------------------------------------------------------------------ latency */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint32_t *v, size_t n, double p)
{
    if (!n)
        return -1;
    size_t i = (size_t)(p / 100.0 * (double)n);
    if (i >= n)
        i = n - 1;
    return v[i];
}

/* Paced producer: `rate` jobs/s for O.lat_s seconds, each payload {"t":<wall us>}
 * written just before its batch is sent; a batch every millisecond. */
static long paced_produce(sluice_client *cl, redisContext *raw, long rate)
{
    static char payload[BATCH][40];
    sluice_job_spec specs[BATCH];
    long sent = 0;
    double t0 = mono_s();
    for (long tick = 1;; tick++) {
        double now = mono_s() - t0;
        if (now >= O.lat_s)
            break;
        long due = (long)(rate * now), n = due - sent;
        if (n > BATCH)
            n = BATCH;
        for (long i = 0; i < n; i++) {
            snprintf(payload[i], sizeof payload[i], "{\"t\":%" PRId64 "}", wall_us());
            specs[i] = (sluice_job_spec){.type = "bench.lat", .payload = payload[i]};
        }
        if (n > 0 && cl) {
            if (sluice_enqueue_batch(cl, QUEUE, specs, (size_t)n, NULL) != n)
                die("sluice_enqueue_batch failed: %s", sluice_client_error(cl));
        } else if (n > 0) {
            char ms[24];
            snprintf(ms, sizeof ms, "%" PRId64, wall_us() / 1000);
            for (long i = 0; i < n; i++) {
                const char *a[16];
                int argc = job_argv(a, "bench.lat", payload[i], ms);
                redisAppendCommandArgv(raw, argc, a, NULL);
            }
            for (long i = 0; i < n; i++) {
                redisReply *r;
                if (redisGetReply(raw, (void **)&r) != REDIS_OK)
                    die("XADD failed: %s", raw->errstr);
                freeReplyObject(r);
            }
        }
        sent += n > 0 ? n : 0;
        double next = tick * 0.001 - (mono_s() - t0);
        if (next > 0)
            sleep_s(next);
    }
    return sent;
}

/* Read every <tmp>/lat.<pid> file the plugin wrote; returns the samples. */
static uint32_t *read_lat_files(size_t *n_out)
{
    size_t n = 0, cap = 1 << 16;
    uint32_t *v = malloc(cap * sizeof(*v));
    DIR *d = opendir(O.tmp);
    if (!v || !d)
        die("reading latency files in %s failed", O.tmp);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "lat.", 4) != 0)
            continue;
        char path[1024], line[64];
        snprintf(path, sizeof path, "%s/%s", O.tmp, e->d_name);
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            if (line[0] == '#') {
                unsigned long long dropped = 0, bad = 0;
                if (sscanf(line, "# samples %*u dropped %llu bad %llu", &dropped, &bad) == 2 && (dropped || bad))
                    detail("warning: %s: %llu samples dropped, %llu payloads without t", e->d_name, dropped, bad);
                continue;
            }
            if (n == cap) {
                cap *= 2;
                uint32_t *nv = realloc(v, cap * sizeof(*v));
                if (!nv)
                    die("out of memory");
                v = nv;
            }
            v[n++] = (uint32_t)strtoul(line, NULL, 10);
        }
        if (f)
            fclose(f);
        unlink(path);
    }
    closedir(d);
    *n_out = n;
    return v;
}

static void lat_rows(long rate, const uint32_t *s, size_t sn, const uint32_t *r, size_t rn, long sent)
{
    static const double ps[] = {50, 99, 99.9};
    for (int i = 0; i < 3; i++) {
        char fig[96], a[32], b[32];
        double x = pct(s, sn, ps[i]), y = pct(r, rn, ps[i]);
        snprintf(fig, sizeof fig, "enqueue->start p%g at %ld/s (%.0f s)", ps[i], rate, O.lat_s);
        row(fig, fmt_ms(a, sizeof a, x), fmt_ms(b, sizeof b, y), y > 0 ? x / y : -1,
            rate == 1000 && ps[i] == 99 ? "<= 2 ms" : "-");
    }
    if (sn + 100 < (size_t)sent)
        detail("warning: latency at %ld/s: %zu samples for %ld jobs sent", rate, sn, sent);
}

static void cmd_latency(int argc, char **argv)
{
    const int w = 2;
    redisContext *c = rconnect();
    load_functions(c);
    for (int i = 0; i < argc; i++) {
        long rate = atol(argv[i]);
        if (rate < 1 || rate > 1000000)
            die("latency: bad rate '%s'", argv[i]);
        size_t cap = (size_t)(rate * O.lat_s) + 1024;

        /* Raw: w consumers, XREADGROUP BLOCK + XACK, latency at read time. */
        flushall(c);
        group_create(c);
        atomic_int stop = 0;
        _Atomic long long acked = 0;
        raw_consumer *v = raw_start(w, ACK_BATCH, 0, &stop, &acked, cap);
        sleep_s(0.3);
        redisContext *p = rconnect();
        paced_produce(NULL, p, rate);
        redisFree(p);
        sleep_s(0.5);
        atomic_store(&stop, 1);
        raw_join(v, w);
        size_t rn = 0;
        uint32_t *raw = malloc(cap * (size_t)w * sizeof(uint32_t));
        if (!raw)
            die("out of memory");
        for (int k = 0; k < w; k++) {
            memcpy(raw + rn, v[k].lat, v[k].lat_n * sizeof(uint32_t));
            rn += v[k].lat_n;
        }
        raw_free(v, w);

        /* sluice: the lat plugin in 2 workers, the client API producer. */
        flushall(c);
        char settings[600];
        snprintf(settings, sizeof settings, "\"lat_file\": \"%s/lat\"", O.tmp);
        size_t junk_n;
        free(read_lat_files(&junk_n)); /* stale files of an aborted run */
        start_sluice(w, "lat", settings);
        wait_group(c);
        sleep_s(0.5);
        char err[256];
        sluice_client *cl = sluice_client_new(O.url, NULL, err, sizeof err);
        if (!cl)
            die("sluice_client_new failed: %s", err);
        long sent = paced_produce(cl, NULL, rate);
        sluice_client_free(cl);
        for (double t0 = mono_s(); mono_s() - t0 < 10; sleep_s(0.02)) {
            ginfo g = group_info(c);
            if (g.pending == 0 && g.lag == 0)
                break;
        }
        stop_sluice(); /* workers write their files at fini */
        size_t sn = 0;
        uint32_t *s = read_lat_files(&sn);
        qsort(s, sn, sizeof(*s), cmp_u32);
        qsort(raw, rn, sizeof(*raw), cmp_u32);
        lat_rows(rate, s, sn, raw, rn, sent);
        detail("latency at %ld/s: %zu sluice samples, %zu raw samples; max sluice %.3f ms, raw %.3f ms", rate, sn, rn,
               sn ? s[sn - 1] / 1000.0 : 0, rn ? raw[rn - 1] / 1000.0 : 0);
        free(s);
        free(raw);
    }
    redisFree(c);
}

/* ------------------------------------------------------------------ enqueue */

/* One timed pass of each enqueue path over O.enq_jobs jobs; rates in r[3]:
 * raw pipelined XADD, client API batches, `sluice enqueue -`. */
static void enqueue_pass(redisContext *c, const char *lines, double r[3])
{
    long n = O.enq_jobs;
    flushall(c);
    double t0 = mono_s();
    xadd_pipelined(c, n);
    r[0] = n / (mono_s() - t0);

    flushall(c);
    char err[256];
    sluice_client *cl = sluice_client_new(O.url, NULL, err, sizeof err);
    if (!cl)
        die("sluice_client_new failed: %s", err);
    static sluice_job_spec specs[BATCH];
    for (int i = 0; i < BATCH; i++)
        specs[i] = (sluice_job_spec){.type = "bench.noop", .payload = "{}"};
    sluice_enqueue(cl, QUEUE, "bench.noop", "{}", 0, NULL, NULL, 0); /* connect + function check outside the clock */
    t0 = mono_s();
    for (long done = 0; done < n;) {
        size_t b = (size_t)(n - done < BATCH ? n - done : BATCH);
        if (sluice_enqueue_batch(cl, QUEUE, specs, b, NULL) != (long)b)
            die("sluice_enqueue_batch failed: %s", sluice_client_error(cl));
        done += (long)b;
    }
    r[1] = n / (mono_s() - t0);
    sluice_client_free(cl);
    if (stream_len(c) != n + 1)
        detail("warning: client API enqueue: XLEN %lld, expected %ld", stream_len(c), n + 1);

    flushall(c);
    char out[512];
    snprintf(out, sizeof out, "%s/enqueue-cli.log", O.tmp);
    char *argv[] = {(char *)SLUICE_BIN, (char *)"enqueue",    (char *)"-u", O.url, (char *)"-q",
                    (char *)QUEUE,      (char *)"bench.noop", (char *)"-",  NULL};
    t0 = mono_s();
    pid_t pid = spawn(argv, lines, out);
    int st;
    waitpid(pid, &st, 0);
    r[2] = n / (mono_s() - t0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        detail("warning: sluice enqueue - exited 0x%x (see %s)", st, out);
    if (stream_len(c) != n)
        detail("warning: sluice enqueue -: XLEN %lld, expected %ld", stream_len(c), n);
}

/* Enqueue: the three paths interleaved, three passes, best of each (the
 * machine is shared: the best pass is the least disturbed one). */
static void cmd_enqueue(void)
{
    redisContext *c = rconnect();
    load_functions(c);
    long n = O.enq_jobs;
    char in[512];
    snprintf(in, sizeof in, "%s/enqueue-lines.txt", O.tmp);
    FILE *f = fopen(in, "w");
    if (!f)
        die("fopen(%s) failed: %s", in, strerror(errno));
    for (long i = 0; i < n; i++)
        fputs("{}\n", f);
    fclose(f);
    double best[3] = {0, 0, 0};
    for (int pass = 0; pass < 3; pass++) {
        double r[3];
        enqueue_pass(c, in, r);
        char a[32], b[32], d[32];
        detail("enqueue pass %d: raw XADD %s, client API %s, sluice enqueue - %s", pass + 1,
               fmt_rate(a, sizeof a, r[0]), fmt_rate(b, sizeof b, r[1]), fmt_rate(d, sizeof d, r[2]));
        for (int i = 0; i < 3; i++)
            if (r[i] > best[i])
                best[i] = r[i];
    }
    unlink(in);
    flushall(c);

    char fig[96], a[32], b[32];
    snprintf(fig, sizeof fig, "enqueue, client API batches of %d (%ld jobs, best of 3)", BATCH, n);
    row(fig, fmt_rate(a, sizeof a, best[1]), fmt_rate(b, sizeof b, best[0]), best[1] / best[0], ">= 500,000/s");
    snprintf(fig, sizeof fig, "enqueue, `sluice enqueue -` from stdin (%ld jobs, best of 3)", n);
    row(fig, fmt_rate(a, sizeof a, best[2]), fmt_rate(b, sizeof b, best[0]), best[2] / best[0], "-");
    redisFree(c);
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fputs("usage: sluicebench [options] COMMAND [ARGS]\n"
          "  drain W...        prefilled no-op jobs drained by W workers, and the raw ceiling\n"
          "  rawdrain [W]      the raw loop with each ack style (diagnostics)\n"
          "  e2e [W]           producer + W workers at once, and RSS idle / under load\n"
          "  latency RATE...   enqueue->start p50/p99/p99.9 at RATE jobs/s (2 workers)\n"
          "  enqueue           client API batches, `sluice enqueue -`, raw pipelined XADD\n"
          "options:\n"
          "  -p, --port N        redis-server port on 127.0.0.1 (default 6379; its data is FLUSHALLed!)\n"
          "  -t, --tmp DIR       work dir for configs, logs, latency files (default /tmp)\n"
          "  -n, --jobs N        drain size (default 1000000)\n"
          "  -e, --enqueue N     enqueue size (default 500000)\n"
          "  -k, --read-count K  pools[].read_count and raw COUNT (default 256, the product default)\n"
          "  -f, --prefetch D    pools[].prefetch, e.g. 0 or 5ms (default: not set, the product default 5ms)\n"
          "  -J, --no-job-log    log.jobs false: no info line per job (default: true, the product default)\n"
          "  -w, --window S      end-to-end window in seconds (default 10)\n"
          "  -l, --lat-secs S    seconds per latency rate (default 10)\n"
          "  -g, --tag TEXT      appended to every figure name\n"
          "  -P, --perf FILE     drain: `perf record -a -g -o FILE` around sluice's drain only (no ceiling row)\n"
          "Output: R<TAB>figure<TAB>sluice<TAB>ceiling<TAB>ratio<TAB>target and D<TAB>detail lines.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port", 1, NULL, 'p'},     {"tmp", 1, NULL, 't'},        {"jobs", 1, NULL, 'n'},
        {"enqueue", 1, NULL, 'e'},  {"read-count", 1, NULL, 'k'}, {"window", 1, NULL, 'w'},
        {"lat-secs", 1, NULL, 'l'}, {"tag", 1, NULL, 'g'},        {"perf", 1, NULL, 'P'},
        {"prefetch", 1, NULL, 'f'}, {"no-job-log", 0, NULL, 'J'}, {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "+p:t:n:e:k:f:Jw:l:g:P:h", lo, NULL)) != -1;) {
        switch (ch) {
        case 'p':
            O.port = atoi(optarg);
            break;
        case 't':
            O.tmp = optarg;
            break;
        case 'n':
            O.jobs = atol(optarg);
            break;
        case 'e':
            O.enq_jobs = atol(optarg);
            break;
        case 'k':
            O.read_count = atoi(optarg);
            break;
        case 'f':
            O.prefetch = optarg;
            break;
        case 'J':
            O.no_job_log = 1;
            break;
        case 'w':
            O.window_s = atof(optarg);
            break;
        case 'l':
            O.lat_s = atof(optarg);
            break;
        case 'g':
            O.tag = optarg;
            break;
        case 'P':
            O.perf = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc || O.port < 1 || O.port > 65535 || O.jobs < 1 || O.enq_jobs < 1 || O.read_count < 1 ||
        O.read_count > 1000 || O.window_s <= 0 || O.lat_s <= 0) {
        usage(stderr);
        return 2;
    }
    snprintf(O.url, sizeof O.url, "redis://%s:%d/0", O.host, O.port);
    atexit(cleanup);
    signal(SIGPIPE, SIG_IGN);
    const char *cmd = argv[optind];
    int n = argc - optind - 1;
    char **args = argv + optind + 1;
    if (!strcmp(cmd, "drain")) {
        char *dflt[] = {(char *)"1", (char *)"2", (char *)"4"};
        cmd_drain(n ? n : 3, n ? args : dflt);
    } else if (!strcmp(cmd, "rawdrain")) {
        cmd_rawdrain(n, args);
    } else if (!strcmp(cmd, "e2e")) {
        cmd_e2e(n, args);
    } else if (!strcmp(cmd, "latency")) {
        char *dflt[] = {(char *)"1000", (char *)"10000"};
        cmd_latency(n ? n : 2, n ? args : dflt);
    } else if (!strcmp(cmd, "enqueue")) {
        cmd_enqueue();
    } else {
        usage(stderr);
        return 2;
    }
    return 0;
}
