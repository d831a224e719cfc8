/* Ack journal names and stale-journal removal (journal_name.h). */
#include "common/journal_name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/url.h"

/* FNV-1a over s and its NUL (so fields cannot run into each other). */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s;; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
        if (!*p)
            return h;
    }
}

static int by_host(const void *a, const void *b)
{
    const sl_url_host *x = a, *y = b;
    int c = strcmp(x->host, y->host);
    return c ? c : x->port - y->port;
}

void sl_journal_identity(const char *redis_url, char *buf, size_t n)
{
    sl_url u;
    char err[256];
    if (sl_url_parse(redis_url, &u, err, sizeof err) != 0 || u.kind == SL_URL_SINGLE) {
        /* one server: the URL as written, as journals have always been named */
        sl_url_redact(redis_url, buf, n);
        sl_url_wipe(&u);
        return;
    }
    size_t at = 0;
    if (u.kind == SL_URL_SENTINEL) {
        /* the master's name and db: sentinels may be added or replaced */
        at = (size_t)snprintf(buf, n, "sentinel:%s@%s/%d", u.user, u.master, u.db);
    } else {
        /* the seeds in any order */
        qsort(u.hosts, (size_t)u.nhosts, sizeof u.hosts[0], by_host);
        at = (size_t)snprintf(buf, n, "cluster:%s@", u.user);
        for (int i = 0; i < u.nhosts && at < n; i++)
            at += (size_t)snprintf(buf + at, n - at, "%s%s:%d", i ? "," : "", u.hosts[i].host, u.hosts[i].port);
    }
    sl_url_wipe(&u);
}

int sl_journal_name(char *buf, size_t n, const char *redis_url, const char *stream, const char *group,
                    const char *consumer)
{
    char id[1024];
    sl_journal_identity(redis_url, id, sizeof id);
    uint64_t h = fnv(fnv(fnv(fnv(0xcbf29ce484222325ull, id), stream), group), consumer);
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    int len = snprintf(buf, n, "%s/sluice-acks-%016llx", dir, (unsigned long long)h);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

int sl_journal_remove_stale(const char *redis_url, const char *stream, const char *group, const char *consumer)
{
    char path[512];
    if (sl_journal_name(path, sizeof path, redis_url, stream, group, consumer) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    int rc = -1;
    /* Ours, as sl_journal_open makes them, and no live worker holds it. The
     * folder is sticky (/dev/shm, /tmp): nobody else can swap the name before
     * the unlink, and a successor that opens it after the unlink gets a new file. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0 &&
        flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0)
        rc = 1;
    close(fd);
    return rc;
}
