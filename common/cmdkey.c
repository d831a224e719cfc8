/* Routing keys of Redis commands (cmdkey.h). */
#include "common/cmdkey.h"

#include <string.h>
#include <strings.h>

static size_t arglen(const char *const *argv, const size_t *lens, int i)
{
    return lens ? lens[i] : strlen(argv[i]);
}

static int is(const char *const *argv, const size_t *lens, int i, const char *word)
{
    size_t n = strlen(word);
    return arglen(argv, lens, i) == n && strncasecmp(argv[i], word, n) == 0;
}

static int found(const char *const *argv, const size_t *lens, int i, const char **key, size_t *keylen)
{
    *key = argv[i];
    *keylen = arglen(argv, lens, i);
    return 1;
}

/* Commands that name no key: sent to the node of the previous command (so
 * MULTI/EXEC and WAIT follow the WATCH or the write before them). */
static const char *const keyless[] = {
    "PING",    "ECHO",   "TIME",    "INFO",     "CLIENT",   "FUNCTION",  "SCAN",     "DBSIZE",    "WAIT",
    "MULTI",   "EXEC",   "DISCARD", "UNWATCH",  "COMMAND",  "CONFIG",    "ROLE",     "CLUSTER",   "ACL",
    "SCRIPT",  "SELECT", "AUTH",    "HELLO",    "QUIT",     "LATENCY",   "SLOWLOG",  "DEBUG",     "FLUSHALL",
    "FLUSHDB", "SAVE",   "BGSAVE",  "LASTSAVE", "READONLY", "READWRITE", "ASKING",   "PUBLISH",   "RANDOMKEY",
    "KEYS",    "LOLWUT", "SWAPDB",  "SHUTDOWN", "MONITOR",  "RESET",     "FAILOVER", "REPLICAOF", "SLAVEOF",
};

int sl_cmd_key(int argc, const char *const *argv, const size_t *lens, const char **key, size_t *keylen)
{
    if (argc < 1)
        return 0;
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
        if (is(argv, lens, 0, keyless[i]))
            return 0;
    if (is(argv, lens, 0, "FCALL") || is(argv, lens, 0, "FCALL_RO") || is(argv, lens, 0, "EVAL") ||
        is(argv, lens, 0, "EVALSHA") || is(argv, lens, 0, "EVAL_RO") || is(argv, lens, 0, "EVALSHA_RO")) {
        /* NAME NUMKEYS KEY... ARG... */
        if (argc < 4 || arglen(argv, lens, 2) == 0 || argv[2][0] == '0')
            return 0;
        return found(argv, lens, 3, key, keylen);
    }
    if (is(argv, lens, 0, "XREAD") || is(argv, lens, 0, "XREADGROUP")) {
        for (int i = 1; i + 1 < argc; i++)
            if (is(argv, lens, i, "STREAMS"))
                return found(argv, lens, i + 1, key, keylen);
        return 0;
    }
    if (is(argv, lens, 0, "XGROUP") || is(argv, lens, 0, "XINFO") || is(argv, lens, 0, "OBJECT") ||
        is(argv, lens, 0, "MEMORY")) {
        /* SUBCOMMAND KEY ...; HELP, STATS, DOCTOR... name none */
        if (argc < 3)
            return 0;
        return found(argv, lens, 2, key, keylen);
    }
    if (argc < 2)
        return 0;
    return found(argv, lens, 1, key, keylen);
}
