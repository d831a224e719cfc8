/* Supervisor channel and status slot, worker side: read the one config line,
 * say "ready", notice EOF without blocking, and map the shared sl_slot. */
#include "workers/channel.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

char *sl_channel_read_config(int fd, int timeout_ms, char *err, size_t errlen)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    int64_t deadline = sl_now_mono_ms() + timeout_ms;
    if (!buf) {
        snprintf(err, errlen, "out of memory reading the config line");
        return NULL;
    }
    for (;;) {
        int64_t left = deadline - sl_now_mono_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = left > 0 ? poll(&pfd, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            int e = errno;
            snprintf(err, errlen, "reading the config from fd %d: %s", fd, pr == 0 ? "timed out" : strerror(e));
            break;
        }
        if (cap - len < 4096) {
            if (cap >= SL_CHANNEL_MAX_CONFIG) {
                snprintf(err, errlen, "config line on fd %d is longer than %u bytes", fd, SL_CHANNEL_MAX_CONFIG);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                snprintf(err, errlen, "out of memory reading the config line");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            int e = errno;
            snprintf(err, errlen, "reading the config from fd %d: %s", fd, n == 0 ? "channel closed" : strerror(e));
            break;
        }
        char *nl = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (nl) {
            *nl = '\0';
            return buf;
        }
    }
    memset(buf, 0, cap); /* whatever arrived may hold the password */
    free(buf);
    return NULL;
}

int sl_channel_send_ready(int fd)
{
    static const char msg[] = "ready\n";
    for (;;) {
        ssize_t n = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(msg) - 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

int sl_channel_gone(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) <= 0)
        return 0;
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
        return 1;
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0)
        return 1;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return 1;
    return 0;
}

sl_slot *sl_slot_map(int fd, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "fstat(slot fd %d) failed: %s", fd, strerror(e));
        return NULL;
    }
    if ((size_t)st.st_size < sizeof(sl_slot)) {
        snprintf(err, errlen, "slot fd %d holds %lld bytes, need %zu", fd, (long long)st.st_size, sizeof(sl_slot));
        return NULL;
    }
    void *p = mmap(NULL, sizeof(sl_slot), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "mmap(slot fd %d) failed: %s", fd, strerror(e));
        return NULL;
    }
    return p;
}

void sl_slot_unmap(sl_slot *slot)
{
    if (slot)
        munmap(slot, sizeof(*slot));
}

void sl_slot_start(sl_slot *slot)
{
    slot->magic = SL_SLOT_MAGIC;
    slot->version = SL_SLOT_VERSION;
    atomic_store_explicit(&slot->pid, (int32_t)getpid(), memory_order_relaxed);
    atomic_store_explicit(&slot->heartbeat_mono_ms, sl_now_mono_ms(), memory_order_relaxed);
    atomic_store_explicit(&slot->state, SL_SLOT_STARTING, memory_order_release);
}
