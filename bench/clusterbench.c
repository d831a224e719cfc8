/* clusterbench: Redis Cluster and partitioned queues (issue 12, "Outgrow one
 * Redis"). Starts its own redis-servers (a plain one, or a cluster of M
 * masters: slots split evenly with CLUSTER ADDSLOTSRANGE, CLUSTER MEET, ready
 * when every node says cluster_state:ok), enqueues N no-op jobs through the
 * public C client (sluice_enqueue_batch), then starts the real `sluice run`
 * (supervisor + sluice-workers, every guarantee on) and times the drain until
 * every stream of the queue has its group at lag 0 and pending 0, reading
 * INFO cpu of every master before and after. Prints tab-separated lines:
 *   R <TAB> run <TAB> masters <TAB> partitions <TAB> jobs <TAB> jobs/s <TAB>
 *     Redis CPU us/job (all masters) <TAB> per master <TAB> workers CPU us/job
 *   S <TAB> summary lines, D <TAB> details
 * Never pass/fail on timing: the exit code only says whether it ran. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hashslot.h"
#include "common/hiredis_compat.h"
#include <sluice/client.h>

#define GROUP "g"
#define BATCH 1000
#define MAX_NODES 8
#define MAX_PARTS 64
#define MAX_RUNS 16

/* ------------------------------------------------------------------ options */

static struct {
    long jobs;
    int workers;
    int partitions;
    int repeat;
    int no_job_log;
    const char *queue;
    const char *keep; /* keep the temp dir here instead of removing it (debugging) */
} O = {.jobs = 200000, .workers = 2, .partitions = 6, .repeat = 2, .queue = "bench"};

static char tmpdir[256]; /* our temp dir, removed at exit */

/* Every process we started, killed at exit (also on error or a signal). */
static pid_t redis_pids[MAX_NODES];
static pid_t sup_pid;

static void kill_wait(pid_t *p)
{
    if (*p > 0) {
        kill(*p, SIGKILL);
        waitpid(*p, NULL, 0);
        *p = 0;
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void cleanup(void)
{
    kill_wait(&sup_pid);
    for (int i = 0; i < MAX_NODES; i++)
        kill_wait(&redis_pids[i]);
    if (tmpdir[0] && !O.keep)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

static void on_signal(int sig)
{
    (void)sig;
    exit(130); /* runs cleanup via atexit */
}

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("clusterbench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

__attribute__((format(printf, 2, 3))) static void out(char kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%c\t", kind);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

/* ------------------------------------------------------------------ time */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ processes */

/* fork+exec argv (PATH searched) with stdin /dev/null, stdout+stderr appended to log. */
static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed: %s", strerror(errno));
    if (pid == 0) {
        int fi = open("/dev/null", O_RDONLY);
        int fo = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fi < 0 || fo < 0)
            _exit(127);
        dup2(fi, 0), dup2(fo, 1), dup2(fo, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* SIGTERM, then SIGKILL after timeout_s; the wait status. */
static int stop_pid(pid_t *p, double timeout_s)
{
    int st = 0;
    if (*p <= 0)
        return 0;
    kill(*p, SIGTERM);
    for (double t0 = mono_s(); mono_s() - t0 < timeout_s; sleep_s(0.01))
        if (waitpid(*p, &st, WNOHANG) == *p) {
            *p = 0;
            return st;
        }
    kill(*p, SIGKILL);
    waitpid(*p, &st, 0);
    *p = 0;
    return st;
}

/* utime+stime (seconds) and ppid of pid from /proc/<pid>/stat; -1 if gone. */
static double proc_cpu(long pid, long *ppid)
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
    for (int i = 0; i < 13 && p && *p; i++) {
        v[i] = i == 0 ? 0 : strtoll(p, NULL, 10);
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (ppid)
        *ppid = (long)v[1];
    return (double)(v[11] + v[12]) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of every child of pid (the workers of a supervisor). */
static double children_cpu(long pid, int *nkids)
{
    double sum = 0;
    int n = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long p = strtol(e->d_name, &end, 10), pp = 0;
        if (*end || p <= 0)
            continue;
        double c = proc_cpu(p, &pp);
        if (c >= 0 && pp == pid)
            sum += c, n++;
    }
    closedir(d);
    if (nkids)
        *nkids = n;
    return sum;
}

/* A TCP port of 127.0.0.1 nobody listens on (bind test). */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* ------------------------------------------------------------------ redis */

typedef struct node {
    int port;
    pid_t *pid; /* slot in redis_pids */
    redisContext *c;
    int lo, hi; /* slots (cluster) */
    char dir[384];
} node;

typedef struct env {
    int cluster; /* 0: one plain redis-server */
    int n; /* nodes (masters) */
    node nd[MAX_NODES];
    char url[512];
} env;

static redisContext *connect_port(int port)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    return c;
}

__attribute__((format(printf, 2, 3))) static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r)
        die("redis command failed: %s", c->errstr);
    return r;
}

static void start_node(env *e, int i)
{
    node *nd = &e->nd[i];
    nd->pid = &redis_pids[i];
    for (int tries = 0; tries < 20; tries++) {
        int port = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % 20000u); /* bus port +10000 stays < 50000 */
        if (!port_free(port) || (e->cluster && !port_free(port + 10000)))
            continue;
        char ps[16], nodes[448], log[448];
        snprintf(ps, sizeof ps, "%d", port);
        snprintf(nd->dir, sizeof nd->dir, "%s/redis-%d", tmpdir, port);
        if (mkdir(nd->dir, 0700) != 0 && errno != EEXIST)
            die("mkdir(%s) failed: %s", nd->dir, strerror(errno));
        snprintf(nodes, sizeof nodes, "%s/nodes.conf", nd->dir);
        snprintf(log, sizeof log, "%s/redis.log", nd->dir);
        char *argv[32] = {"redis-server",
                          "--port",
                          ps,
                          "--bind",
                          "127.0.0.1",
                          "--dir",
                          nd->dir,
                          "--save",
                          "",
                          "--appendonly",
                          "no",
                          "--daemonize",
                          "no",
                          "--maxmemory-policy",
                          "noeviction"};
        int n = 15;
        if (e->cluster) {
            argv[n++] = "--cluster-enabled";
            argv[n++] = "yes";
            argv[n++] = "--cluster-config-file";
            argv[n++] = nodes;
            /* A lone master does not know its own address (CLUSTER SHARDS
             * gives ip and endpoint ""), which sluice's slot map cannot
             * connect to; every node announces it, for the same setup. */
            argv[n++] = "--cluster-announce-ip";
            argv[n++] = "127.0.0.1";
        }
        argv[n] = NULL;
        *nd->pid = spawn(argv, log);
        for (int k = 0; k < 500; k++) {
            if ((nd->c = connect_port(port))) {
                redisReply *r = redisCommand(nd->c, "PING");
                int up = r && r->type == REDIS_REPLY_STATUS;
                if (r)
                    freeReplyObject(r);
                if (up) {
                    nd->port = port;
                    return;
                }
                redisFree(nd->c);
                nd->c = NULL;
            }
            if (waitpid(*nd->pid, NULL, WNOHANG) == *nd->pid) {
                *nd->pid = 0;
                break; /* it could not bind (a race for the port): another port */
            }
            sleep_s(0.02);
        }
        kill_wait(nd->pid);
    }
    die("could not start redis-server (see %s/redis.log)", nd->dir);
}

static int cluster_ok(env *e)
{
    char want[64];
    snprintf(want, sizeof want, "cluster_known_nodes:%d\r", e->n);
    for (int i = 0; i < e->n; i++) {
        redisReply *r = cmd(e->nd[i].c, "CLUSTER INFO");
        int up = r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") && strstr(r->str, want);
        freeReplyObject(r);
        if (!up)
            return 0;
    }
    return 1;
}

/* Start a plain server (cluster 0, n 1) or a cluster of n masters. */
static void env_start(env *e, int cluster, int n)
{
    memset(e, 0, sizeof *e);
    e->cluster = cluster;
    e->n = n;
    for (int i = 0; i < n; i++)
        start_node(e, i);
    if (!cluster) {
        snprintf(e->url, sizeof e->url, "redis://127.0.0.1:%d/0", e->nd[0].port);
        return;
    }
    size_t ul = (size_t)snprintf(e->url, sizeof e->url, "redis+cluster://");
    for (int i = 0; i < n; i++) {
        node *nd = &e->nd[i];
        nd->lo = SL_HASHSLOTS * i / n, nd->hi = SL_HASHSLOTS * (i + 1) / n - 1;
        redisReply *r = cmd(nd->c, "CLUSTER ADDSLOTSRANGE %d %d", nd->lo, nd->hi);
        if (r->type == REDIS_REPLY_ERROR)
            die("CLUSTER ADDSLOTSRANGE on %d: %s", nd->port, r->str);
        freeReplyObject(r);
        ul += (size_t)snprintf(e->url + ul, sizeof e->url - ul, "%s127.0.0.1:%d", i ? "," : "", nd->port);
    }
    for (int i = 1; i < n; i++) {
        redisReply *r = cmd(e->nd[0].c, "CLUSTER MEET 127.0.0.1 %d", e->nd[i].port);
        if (r->type == REDIS_REPLY_ERROR)
            die("CLUSTER MEET: %s", r->str);
        freeReplyObject(r);
    }
    double t0 = mono_s();
    while (!cluster_ok(e)) {
        if (mono_s() - t0 > 60)
            die("the cluster did not reach cluster_state:ok in 60 s (see %s/redis.log)", e->nd[0].dir);
        sleep_s(0.05);
    }
}

static void env_stop(env *e)
{
    for (int i = 0; i < e->n; i++) {
        if (e->nd[i].c)
            redisFree(e->nd[i].c);
        e->nd[i].c = NULL;
        stop_pid(e->nd[i].pid, 5);
    }
}

/* The node owning key's slot (the slots are ours: no redirections to follow). */
static int node_of(const env *e, const char *key)
{
    if (!e->cluster)
        return 0;
    int slot = (int)sl_hashslot(key, strlen(key));
    for (int i = 0; i < e->n; i++)
        if (slot >= e->nd[i].lo && slot <= e->nd[i].hi)
            return i;
    die("no node owns slot %d", slot);
}

/* Number after "name:" in an INFO text, or 0. */
static double info_num(const char *text, const char *name)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\n%s:", name);
    const char *p = text ? strstr(text, pat) : NULL;
    if (!p && text && !strncmp(text, pat + 1, strlen(pat + 1)))
        p = text - 1;
    return p ? strtod(p + strlen(pat), NULL) : 0;
}

/* What one master did: INFO cpu, stats and commandstats/errorstats totals. */
typedef struct snap {
    double cpu; /* used_cpu_user + used_cpu_sys, s */
    double calls, usec; /* commandstats sums, without info/xinfo/ping */
    double moved, ask, tryagain, clusterdown, errors; /* errorstats */
    char errtext[512]; /* every errorstat_<KIND>:count=N, as "KIND N " */
} snap;

static void snap_take(redisContext *c, snap *s)
{
    memset(s, 0, sizeof *s);
    redisReply *r = cmd(c, "INFO cpu");
    s->cpu = info_num(r->str, "used_cpu_user") + info_num(r->str, "used_cpu_sys");
    freeReplyObject(r);
    r = cmd(c, "INFO commandstats");
    for (char *line = r->type == REDIS_REPLY_STRING ? r->str : NULL; line && *line;) {
        char *nl = strchr(line, '\n');
        char name[64];
        long long calls, usec;
        if (sscanf(line, "cmdstat_%63[^:]:calls=%lld,usec=%lld", name, &calls, &usec) == 3 && strcmp(name, "info") &&
            strncmp(name, "xinfo", 5) && strcmp(name, "ping"))
            s->calls += (double)calls, s->usec += (double)usec;
        line = nl ? nl + 1 : NULL;
    }
    freeReplyObject(r);
    r = cmd(c, "INFO errorstats");
    const char *t = r->type == REDIS_REPLY_STRING ? r->str : "";
    size_t o = 0;
    for (const char *p = strstr(t, "errorstat_"); p && o < sizeof s->errtext - 80; p = strstr(p + 1, "errorstat_")) {
        char kind[48];
        long long count;
        if (sscanf(p, "errorstat_%47[^:]:count=%lld", kind, &count) == 2)
            o += (size_t)snprintf(s->errtext + o, sizeof s->errtext - o, "%s %lld ", kind, count);
    }
    const char *names[] = {"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"};
    double *dst[] = {&s->moved, &s->ask, &s->tryagain, &s->clusterdown};
    for (int i = 0; i < 4; i++) {
        char pat[48];
        snprintf(pat, sizeof pat, "errorstat_%s:count=", names[i]);
        const char *p = strstr(t, pat);
        *dst[i] = p ? strtod(p + strlen(pat), NULL) : 0;
    }
    freeReplyObject(r);
    r = cmd(c, "INFO stats");
    s->errors = info_num(r->str, "total_error_replies");
    freeReplyObject(r);
}

/* The count of error kind in a snap's errtext (0 if absent). */
static long long err_count(const snap *s, const char *kind)
{
    size_t kl = strlen(kind);
    for (const char *p = s->errtext; *p;) {
        const char *sp = strchr(p, ' ');
        if (!sp)
            break;
        if ((size_t)(sp - p) == kl && !strncmp(p, kind, kl))
            return strtoll(sp + 1, NULL, 10);
        sp = strchr(sp + 1, ' ');
        p = sp ? sp + 1 : "";
    }
    return 0;
}

/* "KIND +N" for every error kind that grew from a to b on any master. */
static void err_deltas(const snap *a, const snap *b, int n, char *buf, size_t size)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        for (const char *p = b[i].errtext; *p && o < size - 80;) {
            char kind[48];
            long long cnt;
            if (sscanf(p, "%47s %lld", kind, &cnt) != 2)
                break;
            long long d = cnt - err_count(&a[i], kind);
            if (d > 0) {
                char pat[64];
                snprintf(pat, sizeof pat, "%s +", kind);
                if (!strstr(buf, pat)) {
                    long long sum = 0;
                    for (int j = 0; j < n; j++)
                        sum += err_count(&b[j], kind) - err_count(&a[j], kind);
                    o += (size_t)snprintf(buf + o, size - o, "%s%s +%lld", o ? ", " : "", kind, sum);
                }
            }
            const char *sp = strchr(p, ' ');
            sp = sp ? strchr(sp + 1, ' ') : NULL;
            p = sp ? sp + 1 : "";
        }
    if (!o)
        snprintf(buf, size, "none");
}

/* XINFO GROUPS of stream, group GROUP: exists, pending, lag (-1 nil), entries-read. */
typedef struct ginfo {
    int exists;
    long long pending, lag, entries_read;
} ginfo;

static long long rint_(const redisReply *v)
{
    if (v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v->type == REDIS_REPLY_STRING)
        return strtoll(v->str, NULL, 10);
    return -1;
}

static ginfo group_info(redisContext *c, const char *stream)
{
    ginfo g = {0, 0, -1, 0};
    redisReply *r = cmd(c, "XINFO GROUPS %s", stream);
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *m = r->element[i];
        ginfo t = {1, 0, -1, 0};
        int mine = 0;
        for (size_t j = 0; m->type == REDIS_REPLY_ARRAY && j + 1 < m->elements; j += 2) {
            const char *k = m->element[j]->str;
            redisReply *v = m->element[j + 1];
            if (!k)
                continue;
            if (!strcmp(k, "name"))
                mine = v->type == REDIS_REPLY_STRING && !strcmp(v->str, GROUP);
            else if (!strcmp(k, "pending"))
                t.pending = rint_(v);
            else if (!strcmp(k, "lag"))
                t.lag = rint_(v);
            else if (!strcmp(k, "entries-read"))
                t.entries_read = rint_(v);
        }
        if (mine)
            g = t;
    }
    freeReplyObject(r);
    return g;
}

/* ------------------------------------------------------------------ sluice */

/* Write the config and start `sluice run` with `workers` workers. */
static void start_sluice(const env *e, int parts, int workers)
{
    char cfg[384], log[384], queues[160] = "";
    snprintf(cfg, sizeof cfg, "%s/sluice.json", tmpdir);
    snprintf(log, sizeof log, "%s/sluice.log", tmpdir);
    if (parts > 1)
        snprintf(queues, sizeof queues, " \"queues\": {\"%s\": {\"partitions\": %d}},\n", O.queue, parts);
    FILE *f = fopen(cfg, "w");
    if (!f)
        die("fopen(%s) failed: %s", cfg, strerror(errno));
    fprintf(f,
            "{\"redis\": {\"url\": \"%s\"},\n"
            " \"plugin_dir\": \"%s\",\n"
            " \"log\": {\"level\": \"info\", \"file\": \"%s\", \"jobs\": %s},\n"
            " \"supervisor\": {\"shutdown_timeout\": \"10s\", \"http_listen\": null},\n"
            "%s"
            " \"pools\": [{\"name\": \"bench\", \"queue\": \"%s\", \"group\": \"" GROUP "\",\n"
            "   \"plugins\": [\"noop\"], \"workers\": %d}]}\n",
            e->url, SLUICE_BENCH_PLUGIN_DIR, log, O.no_job_log ? "false" : "true", queues, O.queue, workers);
    fclose(f);
    char *argv[] = {(char *)SLUICE_BIN, (char *)"run", (char *)"-c", cfg, NULL};
    sup_pid = spawn(argv, log);
}

static void check_sup_alive(void)
{
    if (sup_pid > 0 && waitpid(sup_pid, NULL, WNOHANG) == sup_pid) {
        sup_pid = 0;
        die("sluice run exited (see %s/sluice.log; -K DIR keeps it)", tmpdir);
    }
}

static void stream_name(char *buf, size_t n, int parts, int i)
{
    if (parts > 1)
        snprintf(buf, n, "sluice:{%s#%d}", O.queue, i);
    else
        snprintf(buf, n, "sluice:{%s}", O.queue);
}

/* A partitioned queue: run the supervisor once without workers so it
 * publishes sluice:{Q}:partitions, which the client reads to spread jobs. */
static void publish_partitions(env *e, int parts)
{
    char key[160];
    snprintf(key, sizeof key, "sluice:{%s}:partitions", O.queue);
    redisContext *c = e->nd[node_of(e, key)].c;
    start_sluice(e, parts, 0);
    for (double t0 = mono_s();; sleep_s(0.02)) {
        redisReply *r = cmd(c, "GET %s", key);
        int done = r->type == REDIS_REPLY_STRING && atoi(r->str) == parts;
        freeReplyObject(r);
        if (done)
            break;
        check_sup_alive();
        if (mono_s() - t0 > 20)
            die("the supervisor did not publish %s in 20 s (see %s/sluice.log)", key, tmpdir);
    }
    int st = stop_pid(&sup_pid, 15);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        out('D', "warning: the publishing supervisor ended with status 0x%x", st);
}

/* ------------------------------------------------------------------ one run */

typedef struct result {
    char name[32];
    int cluster, masters, parts;
    double rate, enq_rate;
    double redis_us; /* all masters' CPU / jobs */
    double shard_us[MAX_NODES]; /* master i's CPU / master i's jobs (-1: no jobs) */
    double idle_us[MAX_NODES]; /* master i's CPU / all jobs, for masters without jobs */
    long jobs_on[MAX_NODES];
    int parts_on[MAX_NODES];
    double workers_us, sup_us, calls_per_job, cmd_us_per_job;
    double moved, ask, other_err;
} result;

static result runs[MAX_RUNS * 8];
static int nruns;

static void one_run(const char *name, int cluster, int masters, int parts, int round)
{
    env e;
    result *res = &runs[nruns++];
    memset(res, 0, sizeof *res);
    snprintf(res->name, sizeof res->name, "%s", name);
    res->cluster = cluster, res->masters = masters, res->parts = parts;
    env_start(&e, cluster, masters);

    if (parts > 1)
        publish_partitions(&e, parts);

    /* Enqueue through the public client (routes by slot, spreads over partitions). */
    char err[256];
    sluice_client *cl = sluice_client_new(e.url, NULL, err, sizeof err);
    if (!cl)
        die("sluice_client_new(%s) failed: %s", e.url, err);
    static sluice_job_spec specs[BATCH];
    for (int i = 0; i < BATCH; i++)
        specs[i] = (sluice_job_spec){.type = "bench.noop", .payload = "{}"};
    double t0 = mono_s();
    for (long done = 0; done < O.jobs;) {
        size_t b = (size_t)(O.jobs - done < BATCH ? O.jobs - done : BATCH);
        if (sluice_enqueue_batch(cl, O.queue, specs, b, NULL) != (long)b)
            die("sluice_enqueue_batch failed: %s", sluice_client_error(cl));
        done += (long)b;
    }
    res->enq_rate = (double)O.jobs / (mono_s() - t0);
    sluice_client_free(cl);

    /* Where the jobs are. */
    int np = parts > 1 ? parts : 1, owner[MAX_PARTS];
    long long len[MAX_PARTS], total = 0;
    char streams[MAX_PARTS][160];
    for (int i = 0; i < np; i++) {
        stream_name(streams[i], sizeof streams[i], parts, i);
        owner[i] = node_of(&e, streams[i]);
        redisReply *r = cmd(e.nd[owner[i]].c, "XLEN %s", streams[i]);
        len[i] = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        total += len[i];
        res->jobs_on[owner[i]] += (long)len[i];
        res->parts_on[owner[i]]++;
    }
    if (total != O.jobs)
        die("enqueued %ld jobs but the streams hold %lld", O.jobs, total);

    snap s0[MAX_NODES], s1[MAX_NODES];
    for (int i = 0; i < masters; i++)
        snap_take(e.nd[i].c, &s0[i]);
    t0 = mono_s();
    start_sluice(&e, parts, O.workers);
    double last_progress = t0;
    long long last_read = -1;
    for (;;) {
        sleep_s(0.02);
        long long read = 0;
        int done = 1;
        for (int i = 0; i < np; i++) {
            ginfo g = group_info(e.nd[owner[i]].c, streams[i]);
            read += g.entries_read;
            if (!g.exists || g.pending != 0 || g.lag > 0 || g.entries_read < len[i])
                done = 0;
        }
        if (done)
            break;
        if (read != last_read)
            last_read = read, last_progress = mono_s();
        if (mono_s() - last_progress > 30)
            die("drain stalled at %lld of %ld read (see %s/sluice.log; -K DIR keeps it)", read, O.jobs, tmpdir);
        check_sup_alive();
    }
    double t1 = mono_s();
    int nk = 0;
    double wcpu = children_cpu(sup_pid, &nk), scpu = proc_cpu(sup_pid, NULL);
    for (int i = 0; i < masters; i++)
        snap_take(e.nd[i].c, &s1[i]);
    int st = stop_pid(&sup_pid, 20);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        out('D', "warning: sluice run ended with status 0x%x", st);

    double n = (double)O.jobs, cpu = 0, calls = 0, usec = 0;
    res->rate = n / (t1 - t0);
    char per[256] = "";
    size_t o = 0;
    for (int i = 0; i < masters; i++) {
        double d = s1[i].cpu - s0[i].cpu;
        cpu += d;
        calls += s1[i].calls - s0[i].calls, usec += s1[i].usec - s0[i].usec;
        res->moved += s1[i].moved - s0[i].moved, res->ask += s1[i].ask - s0[i].ask;
        res->other_err += (s1[i].errors - s0[i].errors) - (s1[i].moved - s0[i].moved) - (s1[i].ask - s0[i].ask);
        res->shard_us[i] = res->jobs_on[i] ? d * 1e6 / (double)res->jobs_on[i] : -1;
        res->idle_us[i] = d * 1e6 / n;
        if (res->jobs_on[i])
            o += (size_t)snprintf(per + o, sizeof per - o, "%s%.2f", o ? " " : "", res->shard_us[i]);
        else
            o += (size_t)snprintf(per + o, sizeof per - o, "%s(%.3f, no jobs)", o ? " " : "", res->idle_us[i]);
    }
    res->redis_us = cpu * 1e6 / n;
    res->workers_us = wcpu * 1e6 / n;
    res->sup_us = scpu * 1e6 / n;
    res->calls_per_job = calls / n;
    res->cmd_us_per_job = usec / n;

    out('R', "%s#%d\t%d\t%d\t%ld\t%.0f\t%.3f\t%s\t%.3f", name, round, masters, parts, O.jobs, res->rate, res->redis_us,
        per, res->workers_us);
    char spread[256] = "", errs[512];
    err_deltas(s0, s1, masters, errs, sizeof errs);
    o = 0;
    for (int i = 0; i < masters; i++)
        o += (size_t)snprintf(spread + o, sizeof spread - o, "%s%d:%ld jobs/%d part", i ? ", " : "", e.nd[i].port,
                              res->jobs_on[i], res->parts_on[i]);
    out('D',
        "%s#%d: %s %d master(s), queue %s, %d partition(s) [%s]; enqueue %.0f jobs/s; drain %.3f s, %d workers; "
        "CPU us/job: redis %.3f (commandstats %.2f calls/job, %.3f us/job), workers %.3f, supervisor %.3f; "
        "redirections during the drain: MOVED %.0f, ASK %.0f, other error replies %.0f (by kind: %s)",
        name, round, cluster ? "cluster of" : "plain server,", masters, O.queue, np, spread, res->enq_rate, t1 - t0, nk,
        res->redis_us, res->calls_per_job, res->cmd_us_per_job, res->workers_us, res->sup_us, res->moved, res->ask,
        res->other_err, errs);
    env_stop(&e);
    char log[384];
    snprintf(log, sizeof log, "%s/sluice.log", tmpdir);
    if (!O.keep)
        unlink(log); /* ~60 MB per 200,000 jobs with log.jobs true */
    for (int i = 0; i < masters; i++)
        if (!O.keep)
            nftw(e.nd[i].dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ main */

typedef struct conf {
    char name[32];
    int cluster, masters, parted;
} conf;

static int parse_conf(const char *s, conf *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", s);
    int m;
    char tail;
    if (!strcmp(s, "single"))
        c->masters = 1;
    else if (!strcmp(s, "single-part"))
        c->masters = 1, c->parted = 1;
    else if (sscanf(s, "cluster%d%c", &m, &tail) == 1 && m >= 1 && m <= MAX_NODES)
        c->cluster = 1, c->masters = m;
    else if (sscanf(s, "part%d%c", &m, &tail) == 1 && m >= 1 && m <= MAX_NODES)
        c->cluster = 1, c->masters = m, c->parted = 1;
    else
        return -1;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: clusterbench [options] [RUN...]\n"
          "  RUN: single       a plain redis-server, the queue unpartitioned (redis://)\n"
          "       single-part  a plain redis-server, the queue partitioned\n"
          "       clusterM     a cluster of M masters, the queue unpartitioned (one master holds it)\n"
          "       partM        a cluster of M masters, the queue partitioned (spread over the masters)\n"
          "  default: single cluster3 single-part part1 part2 part3, each --repeat times (interleaved)\n"
          "options:\n"
          "  -n, --jobs N         jobs per drain (default 200000)\n"
          "      --smoke          5000 jobs, one round\n"
          "  -r, --repeat R       rounds (default 2)\n"
          "  -p, --partitions P   queues.<Q>.partitions of the part runs (default 6)\n"
          "  -q, --queue Q        queue name (default bench)\n"
          "  -w, --workers W      workers of the pool (default 2)\n"
          "  -J, --no-job-log     log.jobs false (default true, the product default)\n"
          "  -K, --keep DIR       work in DIR and keep it (configs, logs, redis dirs)\n"
          "Output: R<TAB>run<TAB>masters<TAB>partitions<TAB>jobs<TAB>jobs/s<TAB>redis CPU us/job (all masters)"
          "<TAB>per master (CPU / its jobs)<TAB>workers CPU us/job; S summary lines; D details.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"jobs", 1, NULL, 'n'},  {"smoke", 0, NULL, 'S'},   {"repeat", 1, NULL, 'r'},     {"partitions", 1, NULL, 'p'},
        {"queue", 1, NULL, 'q'}, {"workers", 1, NULL, 'w'}, {"no-job-log", 0, NULL, 'J'}, {"keep", 1, NULL, 'K'},
        {"help", 0, NULL, 'h'},  {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "+n:r:p:q:w:JK:h", lo, NULL)) != -1;) {
        switch (ch) {
        case 'n':
            O.jobs = atol(optarg);
            break;
        case 'S':
            O.jobs = 5000, O.repeat = 1;
            break;
        case 'r':
            O.repeat = atoi(optarg);
            break;
        case 'p':
            O.partitions = atoi(optarg);
            break;
        case 'q':
            O.queue = optarg;
            break;
        case 'w':
            O.workers = atoi(optarg);
            break;
        case 'J':
            O.no_job_log = 1;
            break;
        case 'K':
            O.keep = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (O.jobs < 1 || O.repeat < 1 || O.repeat > MAX_RUNS || O.partitions < 2 || O.partitions > MAX_PARTS ||
        O.workers < 1 || O.workers > 64 || strlen(O.queue) > 64) {
        usage(stderr);
        return 2;
    }
    conf confs[8];
    int nconf = 0;
    const char *dflt[] = {"single", "cluster3", "single-part", "part1", "part2", "part3"};
    int nargs = argc - optind;
    if (nargs > 8)
        die("at most 8 runs");
    for (int i = 0; i < (nargs ? nargs : 6); i++)
        if (parse_conf(nargs ? argv[optind + i] : dflt[i], &confs[nconf++]) != 0) {
            usage(stderr);
            return 2;
        }

    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    atexit(cleanup);
    if (O.keep) {
        snprintf(tmpdir, sizeof tmpdir, "%s", O.keep);
        if (mkdir(tmpdir, 0700) != 0 && errno != EEXIST)
            die("mkdir(%s) failed: %s", tmpdir, strerror(errno));
    } else {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/sluice-clusterbench.XXXXXX");
        if (!mkdtemp(tmpdir)) {
            tmpdir[0] = '\0';
            die("mkdtemp failed: %s", strerror(errno));
        }
    }

    for (int round = 1; round <= O.repeat; round++)
        for (int i = 0; i < nconf; i++)
            one_run(confs[i].name, confs[i].cluster, confs[i].masters, confs[i].parted ? O.partitions : 1, round);

    /* Summary per run kind, every round: jobs/s, Redis CPU per job of the
     * masters holding jobs (idle masters of an unpartitioned queue apart), its
     * ratio to the single server, and the one-core-per-shard estimate. */
    double single_mean = 0;
    int nsingle = 0;
    for (int i = 0; i < nruns; i++)
        if (!strcmp(runs[i].name, "single"))
            single_mean += runs[i].redis_us, nsingle++;
    single_mean = nsingle ? single_mean / nsingle : 0;
    for (int k = 0; k < nconf; k++) {
        char rates[256] = "", us[256] = "", est[256] = "", idle[256] = "";
        size_t a = 0, b = 0, d = 0, f = 0;
        double mean = 0;
        int cnt = 0;
        for (int i = 0; i < nruns; i++) {
            result *r = &runs[i];
            if (strcmp(r->name, confs[k].name))
                continue;
            double held = 0, rest = 0;
            int holders = 0;
            for (int m = 0; m < r->masters; m++) {
                if (r->jobs_on[m])
                    held += r->idle_us[m], holders++;
                else
                    rest += r->idle_us[m];
            }
            a += (size_t)snprintf(rates + a, sizeof rates - a, "%s%.0f", a ? ", " : "", r->rate);
            b += (size_t)snprintf(us + b, sizeof us - b, "%s%.3f", b ? ", " : "", held);
            d += (size_t)snprintf(est + d, sizeof est - d, "%s%.0f", d ? ", " : "", 1e6 / held * holders);
            if (holders < r->masters)
                f += (size_t)snprintf(idle + f, sizeof idle - f, "%s%.3f", f ? ", " : "", rest);
            mean += held, cnt++;
        }
        mean /= cnt ? cnt : 1;
        char ratio[64] = "-";
        if (single_mean > 0)
            snprintf(ratio, sizeof ratio, "%.2fx", mean / single_mean);
        out('S',
            "%s\tjobs/s %s\tRedis CPU us/job (masters holding jobs) %s\tmean %.3f = %s of single\t"
            "masters without jobs us/job %s\test. aggregate, one core per shard (1e6 / us-per-job x shards) %s/s",
            confs[k].name, rates, us, mean, ratio, f ? idle : "-", est);
    }
    return 0;
}
