/* Test harness implementation: a private redis-server when $SLUICE_TEST_REDIS_URL
 * is unset, temp dirs, files, child processes and polling. See th.h. */
#include "th.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/redis.h"
#include "common/registry.h"

static char tmpdir[256];
static char redis_url[300];
static th_server private_redis; /* when $SLUICE_TEST_REDIS_URL is unset */
static pid_t owner_pid;

void th_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                rm_rf(sub);
            else
                unlink(sub);
        }
        closedir(d);
        rmdir(path);
    }
}

static void cleanup(void)
{
    if (getpid() != owner_pid)
        return; /* forked children must not tear down */
    th_server_kill(&private_redis);
    const char *keep = getenv("TH_KEEP");
    if (tmpdir[0] && !(keep && !strcmp(keep, "1")))
        rm_rf(tmpdir);
}

const char *th_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/sluice-test-XXXXXX", base && *base ? base : "/tmp");
        cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp(%s) failed: %s", tmpdir, strerror(errno));
        owner_pid = getpid();
        atexit(cleanup);
    }
    return tmpdir;
}

/* Ask the kernel for a free loopback port (bind to port 0). */
int th_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* 1 if port can be bound on loopback now. */
static int port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free port for a cluster node: its bus port (port + 10000, Redis's rule)
 * must be a port too, and free. The kernel's ephemeral range reaches 60999. */
static int free_cluster_port(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        int p = th_free_port();
        if (p <= 65535 - 10000 && port_free(p + 10000))
            return p;
    }
    cr_assert_fail("no free port pair for a cluster node");
    return 0;
}

/* Up: it answers PING with anything (PONG, or NOAUTH when it wants a password). */
static int server_up(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    int up = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        up = r != NULL;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return up;
}

void th_server_start(th_server *s)
{
    int fixed = s->port != 0;
    for (int tries = 0; tries < 5; tries++) {
        if (!fixed) {
            s->port = s->cluster ? free_cluster_port() : th_free_port();
            snprintf(s->dir, sizeof s->dir, "%.300s/redis-%d", th_tmpdir(), s->port);
            cr_assert(mkdir(s->dir, 0700) == 0 || errno == EEXIST, "mkdir(%s) failed: %s", s->dir, strerror(errno));
            snprintf(s->log, sizeof s->log, "%s/redis.log", s->dir);
            snprintf(s->url, sizeof s->url, "redis://127.0.0.1:%d/0", s->port);
        }
        char port[16];
        snprintf(port, sizeof port, "%d", s->port);
        char *argv[32] = {"redis-server", "--port", port, "--bind",      "127.0.0.1", "--dir",
                          s->dir,         "--save", "",   "--daemonize", "no"};
        int n = 11;
        if (s->aof) {
            char *aof[] = {"--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"};
            for (size_t i = 0; i < sizeof aof / sizeof *aof; i++)
                argv[n++] = aof[i];
        } else {
            argv[n++] = "--appendonly";
            argv[n++] = "no";
        }
        if (s->password) {
            argv[n++] = "--requirepass";
            argv[n++] = (char *)s->password;
        }
        char nodes[sizeof s->dir + 16];
        if (s->cluster) {
            snprintf(nodes, sizeof nodes, "%s/nodes.conf", s->dir);
            argv[n++] = "--cluster-enabled";
            argv[n++] = "yes";
            argv[n++] = "--cluster-config-file";
            argv[n++] = nodes;
            /* a killed master is failed over in seconds; no replica refuses
             * to take over for having been cut off too long */
            argv[n++] = "--cluster-node-timeout";
            argv[n++] = "2000";
            argv[n++] = "--cluster-replica-validity-factor";
            argv[n++] = "0";
        }
        argv[n] = NULL;
        s->pid = th_spawn(argv, NULL, s->log);
        int st = 0, exited = 0;
        for (int i = 0; i < 500; i++) {
            if (server_up(s->port))
                return;
            if ((exited = th_wait_exit(s->pid, 0, &st)))
                break; /* it could not bind the port (or failed otherwise: see its log) */
            th_sleep_ms(20);
        }
        if (!exited)
            th_kill(s->pid);
        s->pid = 0;
        if (fixed)
            break;
    }
    cr_assert_fail("private redis-server on port %d did not start (see %s)", s->port, s->log);
}

redisContext *th_server_connect(const th_server *s)
{
    redisContext *c = redisConnect("127.0.0.1", s->port);
    cr_assert(c && !c->err, "connect to 127.0.0.1:%d failed: %s", s->port, c ? c->errstr : "oom");
    return c;
}

void th_server_kill(th_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGCONT);
        th_kill(s->pid);
    }
    s->pid = 0;
}

const char *th_redis_url(void)
{
    if (!redis_url[0]) {
        const char *env = getenv("SLUICE_TEST_REDIS_URL");
        if (env && *env)
            snprintf(redis_url, sizeof(redis_url), "%s", env);
        else {
            th_server_start(&private_redis);
            snprintf(redis_url, sizeof(redis_url), "%s", private_redis.url);
        }
    }
    return redis_url;
}

redisContext *th_redis(void)
{
    const char *url = th_redis_url();
    /* Test URLs are plain: redis://host:port[/db] or unix:///path. */
    redisContext *c = NULL;
    int db = 0;
    if (!strncmp(url, "unix://", 7)) {
        c = redisConnectUnix(url + 7);
    } else {
        char host[256] = "127.0.0.1";
        int port = 6379;
        cr_assert(sscanf(url, "redis://%255[^:/]:%d/%d", host, &port, &db) >= 2, "bad test url %s", url);
        c = redisConnect(host, port);
    }
    cr_assert(c && !c->err, "connect to test redis %s failed: %s", url, c ? c->errstr : "oom");
    if (db) {
        redisReply *r = redisCommand(c, "SELECT %d", db);
        cr_assert(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    return c;
}

void th_flushall(void)
{
    redisContext *c = th_redis();
    redisReply *r = redisCommand(c, "FLUSHALL");
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "FLUSHALL failed");
    freeReplyObject(r);
    redisFree(c);
}

long long th_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert(r, "command %s failed: %s", fmt, c->errstr);
    cr_assert(r->type != REDIS_REPLY_ERROR, "command %s: %s", fmt, r->str);
    long long v = -1;
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    else if (r->type == REDIS_REPLY_ARRAY)
        v = (long long)r->elements;
    freeReplyObject(r);
    return v;
}

char *th_write_file(const char *name, const char *text)
{
    char *path = NULL;
    cr_assert(asprintf(&path, "%s/%s", th_tmpdir(), name) > 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen(%s) failed: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    return path;
}

char *th_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

long th_count_lines_with(const char *path, const char *a, const char *b)
{
    char *text = th_read_file(path), *save = NULL;
    long n = 0;
    for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
        n += strstr(l, a) && (!b || strstr(l, b));
    free(text);
    return n;
}

long th_count_in(const char *text, const char *needle)
{
    long n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

long th_count_in_file(const char *path, const char *needle)
{
    char *text = th_read_file(path);
    long n = th_count_in(text, needle);
    free(text);
    return n;
}

long th_count_lines(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    long lines = 0;
    int ch;
    while ((ch = getc(f)) != EOF)
        if (ch == '\n')
            lines++;
    fclose(f);
    return lines;
}

int th_has_lines(void *arg)
{
    const th_lines *w = arg;
    return th_count_lines(w->path) >= w->n;
}

pid_t th_spawn(char *const argv[], char *const env[], const char *log_path)
{
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork failed: %s", strerror(errno));
    if (pid == 0) {
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
        }
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        setpgid(0, 0); /* own group: a test killing it never hits the runner */
        /* Die with the test process, so a crashed or timed-out test leaks no
         * redis-server or supervisor. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s failed: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int th_wait_exit(pid_t pid, int timeout_ms, int *status)
{
    for (int waited = 0;; waited += 10) {
        int st = 0;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            if (status)
                *status = st;
            return 1;
        }
        if (r < 0)
            return 1; /* already reaped */
        if (waited >= timeout_ms)
            return 0;
        th_sleep_ms(10);
    }
}

void th_kill(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int th_in_sleep(void *pid)
{
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/%d/syscall", *(pid_t *)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    buf[fread(buf, 1, sizeof buf - 1, f)] = '\0';
    fclose(f);
    long nr = strtol(buf, NULL, 10);
#ifdef SYS_nanosleep
    if (nr == SYS_nanosleep)
        return 1;
#endif
    return nr == SYS_clock_nanosleep;
}

int th_alive(pid_t pid, th_zombie z)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* pid (comm) state ...: the state follows the last ')'. */
    const char *close_p = strrchr(buf, ')');
    if (!close_p || close_p[1] != ' ')
        return 0;
    if (close_p[2] == 'X')
        return 0;
    return close_p[2] != 'Z' || z == TH_ZOMBIE_ALIVE;
}

int th_wait_until(int (*pred)(void *), void *arg, int timeout_ms)
{
    int v = 0;
    for (int waited = 0;; waited += 20) {
        if ((v = pred(arg)))
            return v;
        if (waited >= timeout_ms)
            return v;
        th_sleep_ms(20);
    }
}

int th_children(pid_t parent, const char *comm, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* pid (comm) state ppid ... ; comm may hold spaces/parens: split at the last ')'. */
        char *open = strchr(buf, '('), *close_p = strrchr(buf, ')');
        if (!open || !close_p)
            continue;
        *close_p = '\0';
        char state;
        long ppid;
        if (sscanf(close_p + 2, "%c %ld", &state, &ppid) != 2)
            continue;
        if (ppid != parent || state == 'Z')
            continue;
        if (comm && strcmp(open + 1, comm) != 0)
            continue;
        out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

char *th_tmp_path(const char *name)
{
    char *p = NULL;
    cr_assert(asprintf(&p, "%s/%s", th_tmpdir(), name) > 0);
    return p;
}

pid_t th_worker_start(const char *config, const char *pool, const char *consumer, const char *log)
{
    char *argv[] = {SLUICE_WORKER_BIN, "--config",   (char *)config,   "--pool",
                    (char *)pool,      "--consumer", (char *)consumer, NULL};
    char *lp = th_tmp_path(log);
    pid_t pid = th_spawn(argv, NULL, lp);
    free(lp);
    return pid;
}

void th_worker_stop(pid_t pid, int timeout_ms)
{
    int st = 0;
    kill(pid, SIGTERM);
    int exited = th_wait_exit(pid, timeout_ms, &st);
    if (!exited)
        th_kill(pid);
    cr_assert(exited, "worker %d did not exit within %d ms of SIGTERM", (int)pid, timeout_ms);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker exit status 0x%x", st);
}

int th_lines_at_least(void *arg)
{
    th_want *w = arg;
    return th_count_lines(w->key) >= w->n;
}

int th_xlen_at_least(void *arg)
{
    th_want *w = arg;
    return th_int(w->c, "XLEN %s", w->key) >= w->n;
}

void th_register_schema(const char *type, const char *schema)
{
    char err[512];
    sl_redis *r = sl_redis_new(th_redis_url(), NULL, err, sizeof err);
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(sl_redis_connect(r), 0, "%s", sl_redis_errstr(r));
    cr_assert_eq(sl_registry_register(r, type, schema, err, sizeof err), 0, "%s", err);
    sl_redis_free(r);
}

/* XINFO CONSUMERS stream group: the reply, or NULL when it is not an array. */
static redisReply *xinfo_consumers(redisContext *c, const char *stream, const char *group)
{
    redisReply *r = redisCommand(c, "XINFO CONSUMERS %s %s", stream, group);
    if (r && r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        r = NULL;
    }
    return r;
}

long th_consumers(redisContext *c, const char *stream, const char *group)
{
    redisReply *r = xinfo_consumers(c, stream, group);
    long n = r ? (long)r->elements : -1;
    if (r)
        freeReplyObject(r);
    return n;
}

int th_has_consumer(redisContext *c, const char *stream, const char *group, const char *consumer)
{
    redisReply *r = xinfo_consumers(c, stream, group);
    if (!r)
        return -1;
    int found = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        for (size_t k = 0; k + 1 < e->elements; k += 2)
            if (strcmp(e->element[k]->str, "name") == 0 && strcmp(e->element[k + 1]->str, consumer) == 0)
                found = 1;
    }
    freeReplyObject(r);
    return found;
}

long long th_group_field(redisContext *c, const char *stream, const char *group, const char *field)
{
    redisReply *r = redisCommand(c, "XINFO GROUPS %s", stream);
    long long v = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        const redisReply *name = NULL, *val = NULL;
        for (size_t k = 0; k + 1 < g->elements; k += 2) {
            if (strcmp(g->element[k]->str, "name") == 0)
                name = g->element[k + 1];
            else if (strcmp(g->element[k]->str, field) == 0)
                val = g->element[k + 1];
        }
        if (name && name->type == REDIS_REPLY_STRING && strcmp(name->str, group) == 0 && val &&
            val->type == REDIS_REPLY_INTEGER)
            v = val->integer;
    }
    if (r)
        freeReplyObject(r);
    return v;
}

/* The value of the first (last: the last) field name in a flat [f, v, ...] reply. */
static const redisReply *field_at(const redisReply *fv, const char *name, int last)
{
    const redisReply *v = NULL;
    for (size_t i = 0; i + 1 < fv->elements; i += 2)
        if (fv->element[i]->type == REDIS_REPLY_STRING && strcmp(fv->element[i]->str, name) == 0) {
            v = fv->element[i + 1];
            if (!last)
                break;
        }
    return v;
}

const redisReply *th_field(const redisReply *fv, const char *name)
{
    return field_at(fv, name, 0);
}

const char *th_field_str(const redisReply *fv, const char *name)
{
    const redisReply *v = field_at(fv, name, 0);
    return v ? v->str : NULL;
}

const char *th_field_last_str(const redisReply *fv, const char *name)
{
    const redisReply *v = field_at(fv, name, 1);
    return v ? v->str : NULL;
}

long long th_pending(redisContext *c, const char *stream, const char *group)
{
    redisReply *r = redisCommand(c, "XPENDING %s %s", stream, group);
    long long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && r->element[0]->type == REDIS_REPLY_INTEGER)
        n = r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const th_rec *)a)->id, ((const th_rec *)b)->id);
}

int th_read_recs(const char *path, th_rec **out)
{
    char *text = th_read_file(path), *save = NULL;
    int n = 0, cap = 0;
    *out = NULL;
    for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap)
            *out = realloc(*out, (size_t)(cap = cap ? cap * 2 : 256) * sizeof **out);
        th_rec *r = &(*out)[n++];
        cr_assert(sscanf(l, "%63s %d %ld %d", r->id, &r->attempt, &r->pid, &r->deliveries) == 4, "bad line %s", l);
    }
    free(text);
    if (n)
        qsort(*out, (size_t)n, sizeof **out, cmp_rec);
    return n;
}

int th_recs_distinct(const th_rec *r, int n)
{
    int d = n > 0;
    for (int i = 1; i < n; i++)
        d += strcmp(r[i].id, r[i - 1].id) != 0;
    return d;
}
/* GET path with HTTP/1.0. Returns the status code (-1: no connection) and the
 * body in *body (caller frees; may be NULL). */
int th_http_get(int port, const char *path, char **body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (body)
        *body = NULL;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    cr_assert(write(fd, req, (size_t)n) == n);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 4096)
            buf = realloc(buf, cap *= 2);
    }
    close(fd);
    buf[len] = '\0';
    int code = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1)
        code = -1;
    char *sep = strstr(buf, "\r\n\r\n");
    if (body)
        *body = strdup(sep ? sep + 4 : "");
    free(buf);
    return code;
}

long long th_xreadgroup_calls(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    /* calls, plus rejected_calls (READONLY refuses before running) and failed_calls */
    long long n = 0;
    const char *p = strstr(r->str, "cmdstat_xreadgroup:");
    const char *end = p ? strchr(p, '\n') : NULL;
    const char *keys[] = {"calls=", "rejected_calls=", "failed_calls="};
    for (size_t i = 0; p && i < 3; i++) {
        const char *k = strstr(p, keys[i]);
        if (k && (!end || k < end) && (k[-1] == ',' || k[-1] == ':'))
            n += strtoll(k + strlen(keys[i]), NULL, 10);
    }
    freeReplyObject(r);
    return n;
}
