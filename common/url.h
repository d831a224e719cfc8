/* Redis URLs: redis://[user:pass@]host[:port][/db], unix:///path[?db=N],
 * redis+cluster://[user:pass@]host:port[,host:port...] (seed nodes of a Redis
 * Cluster; db 0 only) and
 * redis+sentinel://[user:pass@]host:port[,host:port...]/MASTER_NAME[/db].
 * The password is kept only in memory; sl_url_redact() gives the loggable form. */
#ifndef SL_URL_H
#define SL_URL_H

#include <stddef.h>

#define SL_URL_SCHEMES "redis://, unix://, redis+cluster:// or redis+sentinel://"
#define SL_URL_MAX_HOSTS 16

typedef enum sl_url_kind {
    SL_URL_SINGLE, /* redis:// or unix://: one server */
    SL_URL_CLUSTER, /* redis+cluster://: hosts are seeds of a cluster */
    SL_URL_SENTINEL /* redis+sentinel://: hosts are sentinels watching master */
} sl_url_kind;

typedef struct sl_url_host {
    char host[256];
    int port;
} sl_url_host;

typedef struct sl_url {
    sl_url_kind kind;
    int is_unix; /* 1 for unix:// */
    char host[256]; /* TCP host (brackets stripped from [::1]); the first of hosts for cluster/sentinel */
    int port; /* TCP port, default 6379 (26379 for a sentinel) */
    sl_url_host hosts[SL_URL_MAX_HOSTS]; /* cluster seeds or sentinels, in URL order */
    int nhosts; /* 0 for SINGLE */
    char master[128]; /* SENTINEL: the master's name (percent-decoded) */
    char path[108]; /* unix socket path */
    int db; /* database number, default 0 */
    char user[128]; /* ACL user, "" if none (percent-decoded) */
    char password[256]; /* "" if none (percent-decoded) */
} sl_url;

/**
 * Parse a URL. Accepts redis://, unix://, redis+cluster://, redis+sentinel://; rejects anything else (rediss:// with
 * "TLS is not supported"), bad ports (1..65535), bad db (0..(2^31-1)), over-long parts.
 * @return 0, or -1 with a message in err that never contains the password.
 */
int sl_url_parse(const char *s, sl_url *out, char *err, size_t errlen);

/** Write s with any password replaced by "***" (s need not be valid). */
void sl_url_redact(const char *s, char *buf, size_t n);

/** Overwrite the password bytes with zeros. */
void sl_url_wipe(sl_url *u);

#endif
