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

int sl_journal_name(char *buf, size_t n, const char *redis_url, const char *stream, const char *group,
                    const char *consumer)
{
    char redacted[1024];
    sl_url_redact(redis_url, redacted, sizeof redacted);
    uint64_t h = fnv(fnv(fnv(fnv(0xcbf29ce484222325ull, redacted), stream), group), consumer);
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
