/* The ack journal (journal.h): a fixed array of records in a MAP_SHARED file
 * under /dev/shm. Writes to such a mapping sit in the page cache and survive
 * the process's death, so the next worker of the same consumer finds them.
 * Lost with the host: then a crash re-runs the finished jobs whose acks were
 * not sent, as at-least-once allows. */
#include "workers/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/journal_name.h"
#include "common/log.h"
#include "common/util.h"

#define JOURNAL_MAGIC "slackj1"

struct sl_journal_file {
    char magic[8];
    uint32_t nrecs;
    uint32_t rec_size;
    sl_journal_rec rec[SL_ACKS_MAX];
};

int sl_journal_open(sl_journal *j, const char *redis_url, const char *stream, const char *group, const char *consumer)
{
    memset(j, 0, sizeof(*j));
    j->fd = -1;
    if (sl_journal_name(j->path, sizeof(j->path), redis_url, stream, group, consumer) != 0)
        return -1;
    const char *what = "open";
    /* /dev/shm is world-writable and the name is predictable: never follow a
     * link, and use only a regular file of our own that nobody else can write,
     * or another local user could plant records that make us ack jobs that
     * never ran. Anything else leaves the journal off (acks unbatched). */
    int fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto fail;
    what = "flock";
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto fail; /* another live worker of this consumer holds it */
    struct stat st;
    what = "fstat";
    if (fstat(fd, &st) != 0)
        goto fail;
    what = "ownership check (must be a regular file of this user, mode 0600)";
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        errno = EPERM;
        goto fail;
    }
    int fresh = (size_t)st.st_size != sizeof(sl_journal_file);
    what = "ftruncate";
    if (fresh && ftruncate(fd, 0) != 0)
        goto fail; /* another layout: start empty */
    if (fresh && ftruncate(fd, (off_t)sizeof(sl_journal_file)) != 0)
        goto fail;
    what = "mmap";
    void *m = mmap(NULL, sizeof(sl_journal_file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        goto fail;
    j->map = m;
    j->fd = fd;
    if (memcmp(j->map->magic, JOURNAL_MAGIC, sizeof(JOURNAL_MAGIC)) != 0 || j->map->nrecs != SL_ACKS_MAX ||
        j->map->rec_size != sizeof(sl_journal_rec)) {
        memset(j->map, 0, sizeof(*j->map));
        j->map->nrecs = SL_ACKS_MAX;
        j->map->rec_size = sizeof(sl_journal_rec);
        memcpy(j->map->magic, JOURNAL_MAGIC, sizeof(JOURNAL_MAGIC));
    }
    for (int i = SL_ACKS_MAX - 1; i >= 0; i--)
        if (!atomic_load_explicit(&j->map->rec[i].live, memory_order_acquire))
            j->free_v[j->nfree++] = i;
    return 0;
fail:;
    int e = errno;
    SL_LOG(SL_WARN, "ack journal unavailable; acks are sent before each next job", SL_S("call", what),
           SL_S("path", j->path), SL_S("error", strerror(e)));
    if (fd >= 0)
        close(fd);
    j->map = NULL;
    return -1;
}

int sl_journal_put(sl_journal *j, int stream, const char *sid, const char *job_id)
{
    if (!j->map || j->nfree == 0)
        return -1;
    int ix = j->free_v[--j->nfree];
    sl_journal_rec *r = &j->map->rec[ix];
    r->stream = stream;
    r->marker = job_id != NULL;
    sl_copy(r->sid, sizeof(r->sid), sid);
    sl_copy(r->job_id, sizeof(r->job_id), job_id ? job_id : "");
    atomic_store_explicit(&r->live, 1, memory_order_release);
    return ix;
}

void sl_journal_drop(sl_journal *j, int ix)
{
    if (!j->map || ix < 0 || ix >= SL_ACKS_MAX)
        return;
    atomic_store_explicit(&j->map->rec[ix].live, 0, memory_order_release);
    j->free_v[j->nfree++] = ix;
}

const sl_journal_rec *sl_journal_live(const sl_journal *j, int ix)
{
    if (!j->map || ix < 0 || ix >= SL_ACKS_MAX)
        return NULL;
    return atomic_load_explicit(&j->map->rec[ix].live, memory_order_acquire) ? &j->map->rec[ix] : NULL;
}

void sl_journal_close(sl_journal *j)
{
    if (!j->map)
        return;
    int empty = j->nfree == SL_ACKS_MAX;
    munmap(j->map, sizeof(*j->map));
    j->map = NULL;
    if (empty)
        unlink(j->path); /* before the unlock: a successor never maps a removed file */
    close(j->fd);
    j->fd = -1;
}
