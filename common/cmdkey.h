/* Which key a Redis command is routed by in a Redis Cluster: the first key it
 * names, found by a table of the commands sluice sends (and the common ones a
 * user's handler may send), or none for commands that name no key. Pure: no
 * I/O, no allocation. hiredis 0.14 has no cluster support (see redis.c), so
 * this is ours; COMMAND GETKEYS would cost a round trip per command. */
#ifndef SL_COMMON_CMDKEY_H
#define SL_COMMON_CMDKEY_H

#include <stddef.h>

/**
 * The routing key of argv[0..argc) (lens[i] the lengths; NULL for
 * NUL-terminated strings): *key and *keylen point into argv.
 * @return 1 with a key; 0 for a command that names none (PING, INFO, SCAN,
 *         MULTI, EXEC, WAIT, FUNCTION, an FCALL with 0 keys...): the caller
 *         sends it where the previous command went
 */
int sl_cmd_key(int argc, const char *const *argv, const size_t *lens, const char **key, size_t *keylen);

#endif
