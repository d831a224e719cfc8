/* The worker's side of the supervisor contract (common/worker_slot.h): the config line
 * and "ready" on the channel socket, EOF detection, and the shared status slot. */
#ifndef SL_WORKER_CHANNEL_H
#define SL_WORKER_CHANNEL_H

#include <stddef.h>

#include "common/worker_slot.h"

/** Longest config line accepted from the supervisor. */
#define SL_CHANNEL_MAX_CONFIG (16u << 20)

/**
 * Read the config line (up to '\n') from fd, waiting at most timeout_ms.
 * @return the malloc'd line without the newline (the caller wipes and frees it:
 *         it holds the Redis password), or NULL with err set.
 */
char *sl_channel_read_config(int fd, int timeout_ms, char *err, size_t errlen);

/** Send "ready\n". Returns 0 or -1 (errno). A closed channel never raises SIGPIPE. */
int sl_channel_send_ready(int fd);

/** Non-blocking: 1 if the supervisor closed its end (EOF/hangup), else 0.
 *  Unexpected bytes are read and ignored. */
int sl_channel_gone(int fd);

/** Map the slot memfd (MAP_SHARED). Returns the slot or NULL with err set. */
sl_slot *sl_slot_map(int fd, char *err, size_t errlen);
void sl_slot_unmap(sl_slot *slot);

/** Fill the header: magic, version, pid; state STARTING. */
void sl_slot_start(sl_slot *slot);

#endif
