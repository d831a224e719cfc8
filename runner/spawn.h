/* Starting one worker process (fork+exec) per the contract in common/worker_slot.h:
 * channel on fd 3, shared status slot on fd 4, death signal, clean signal state.
 * Private to runner/. Used by the pools (slot.c) and by `sluice run -t`. */
#ifndef SL_RUNNER_SPAWN_H
#define SL_RUNNER_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/worker_slot.h"

/** What to start. */
typedef struct sl_spawn_args {
    const char *path; /* worker binary */
    const char *pool; /* --pool */
    int slot; /* --slot */
    const char *consumer; /* --consumer */
    int check; /* non-zero: add --check */
} sl_spawn_args;

/** A started process, as the supervisor holds it. */
typedef struct sl_spawn_proc {
    pid_t pid;
    int chan_fd; /* supervisor end of the channel, CLOEXEC, blocking */
    sl_slot *shm; /* the process's status slot, mapped shared; sl_spawn_unmap() */
} sl_spawn_proc;

/**
 * Fork and exec a worker. Creates the socketpair and the memfd (zeroed, magic
 * and version set), so the slot is valid before the child runs. The child
 * resets signal dispositions and mask, sets PR_SET_PDEATHSIG(SIGTERM), closes
 * every fd above 4 and execs; if exec fails it exits 127.
 * @return 0 with *out filled, or -1 with a message naming the failed call in err
 *         (nothing is left open or mapped then).
 */
int sl_spawn_worker(const sl_spawn_args *a, sl_spawn_proc *out, char *err, size_t errlen);

/** Unmap a status slot from sl_spawn_worker; NULL is allowed. */
void sl_spawn_unmap(sl_slot *shm);

/**
 * The worker binary to run: cfg->worker_path if set, else "sluice-worker" in
 * the directory of /proc/self/exe.
 * @return 0, or -1 with a message in err.
 */
int sl_spawn_worker_path(const sl_config *cfg, char *out, size_t n, char *err, size_t errlen);

/** Write all of buf to a blocking fd (retrying EINTR and short writes). 0 or -1 (errno). */
int sl_spawn_write_all(int fd, const char *buf, size_t len);

#endif
