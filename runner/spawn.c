/* fork+exec of sluice-worker: the channel socketpair, the memfd status slot and
 * the child's setup between fork and exec (fds 3 and 4, signals, death signal).
 * Everything the child does before exec is async-signal-safe. */
#include "runner/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* Lowest fd the child moves its two inherited fds to before placing them on
 * 3 and 4, so neither dup2 can clobber the other's source. */
#define SL_SPAWN_HIGH_FD 10

/* Close every fd from `from` up. close_range(2) when the kernel has it, else a
 * loop over the fd limit. */
static void sl_spawn_close_from(int from)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)from, ~0u, 0u) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = from; fd < max; fd++)
        (void)close(fd);
}

/* The child between fork and exec. Never returns. */
static void sl_spawn_child(int chan, int memfd, pid_t parent, const char *path, char *const argv[])
{
    /* dup2 onto 3 and 4 gives fresh fds without FD_CLOEXEC: they survive exec. */
    int c = fcntl(chan, F_DUPFD_CLOEXEC, SL_SPAWN_HIGH_FD);
    int m = fcntl(memfd, F_DUPFD_CLOEXEC, SL_SPAWN_HIGH_FD);
    if (c < 0 || m < 0 || dup2(c, SL_CHANNEL_FD) < 0 || dup2(m, SL_SLOT_FD) < 0)
        _exit(127);

    /* The supervisor's handlers (libevent's) and ignored SIGPIPE must not leak
     * into the worker; exec keeps ignored dispositions and the mask. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; s++)
        (void)sigaction(s, &dfl, NULL); /* fails harmlessly for KILL, STOP, reserved */

    /* Die with the supervisor. If it already died between fork and prctl, the
     * death signal will never come: give up now. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(1);

    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    sl_spawn_close_from(SL_SLOT_FD + 1);
    execv(path, argv);
    _exit(127);
}

int sl_spawn_worker(const sl_spawn_args *a, sl_spawn_proc *out, char *err, size_t errlen)
{
    int sv[2] = {-1, -1};
    int memfd = -1;
    sl_slot *shm = MAP_FAILED;
    int rc = -1;
    char slotnum[16];
    char *argv[9];
    int argc = 0;

    (void)snprintf(slotnum, sizeof slotnum, "%d", a->slot);
    argv[argc++] = "sluice-worker";
    argv[argc++] = "--pool";
    argv[argc++] = (char *)a->pool;
    argv[argc++] = "--slot";
    argv[argc++] = slotnum;
    argv[argc++] = "--consumer";
    argv[argc++] = (char *)a->consumer;
    if (a->check)
        argv[argc++] = "--check";
    argv[argc] = NULL;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        (void)snprintf(err, errlen, "socketpair() failed: %s", strerror(errno));
        goto cleanup;
    }
    memfd = memfd_create("sluice-slot", MFD_CLOEXEC);
    if (memfd < 0) {
        (void)snprintf(err, errlen, "memfd_create(sluice-slot) failed: %s", strerror(errno));
        goto cleanup;
    }
    if (ftruncate(memfd, (off_t)sizeof(sl_slot)) != 0) {
        (void)snprintf(err, errlen, "ftruncate(sluice-slot) failed: %s", strerror(errno));
        goto cleanup;
    }
    shm = mmap(NULL, sizeof(sl_slot), PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (shm == MAP_FAILED) {
        (void)snprintf(err, errlen, "mmap(sluice-slot) failed: %s", strerror(errno));
        goto cleanup;
    }
    memset(shm, 0, sizeof *shm);
    shm->magic = SL_SLOT_MAGIC;
    shm->version = SL_SLOT_VERSION;

    /* Block every signal across fork so no supervisor handler runs in the child
     * before it has reset them; the child unblocks after the reset. */
    sigset_t all, old;
    sigfillset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        sl_spawn_child(sv[1], memfd, parent, a->path, argv);
    int fork_errno = errno;
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        (void)snprintf(err, errlen, "fork() failed: %s", strerror(fork_errno));
        goto cleanup;
    }

    out->pid = pid;
    out->chan_fd = sv[0];
    sv[0] = -1;
    out->shm = shm;
    shm = MAP_FAILED;
    rc = 0;

cleanup:
    if (shm != MAP_FAILED)
        (void)munmap(shm, sizeof(sl_slot));
    if (memfd >= 0)
        (void)close(memfd);
    if (sv[1] >= 0)
        (void)close(sv[1]);
    if (sv[0] >= 0)
        (void)close(sv[0]);
    return rc;
}

void sl_spawn_unmap(sl_slot *shm)
{
    if (shm)
        (void)munmap(shm, sizeof(sl_slot));
}

int sl_spawn_worker_path(const sl_config *cfg, char *out, size_t n, char *err, size_t errlen)
{
    if (cfg->worker_path && cfg->worker_path[0]) {
        if (sl_fmt(out, n, "%s", cfg->worker_path) != 0) {
            (void)snprintf(err, errlen, "supervisor.worker_path: too long");
            return -1;
        }
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) {
        (void)snprintf(err, errlen, "readlink(/proc/self/exe) failed: %s", strerror(errno));
        return -1;
    }
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    if (sl_fmt(out, n, "%s/sluice-worker", slash ? exe : ".") != 0) {
        (void)snprintf(err, errlen, "worker path too long");
        return -1;
    }
    return 0;
}

int sl_spawn_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}
