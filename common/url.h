/* Redis URLs: redis://[user:pass@]host[:port][/db] and unix:///path[?db=N].
 * The password is kept only in memory; sl_url_redact() gives the loggable form. */
#ifndef SL_URL_H
#define SL_URL_H

#include <stddef.h>

typedef struct sl_url {
    int is_unix; /* 1 for unix:// */
    char host[256]; /* TCP host (brackets stripped from [::1]) */
    int port; /* TCP port, default 6379 */
    char path[108]; /* unix socket path */
    int db; /* database number, default 0 */
    char user[128]; /* ACL user, "" if none (percent-decoded) */
    char password[256]; /* "" if none (percent-decoded) */
} sl_url;

/**
 * Parse a URL. Accepts redis://, unix://; rejects anything else (rediss:// with
 * "TLS is not supported"), bad ports (1..65535), bad db (0..(2^31-1)), over-long parts.
 * @return 0, or -1 with a message in err that never contains the password.
 */
int sl_url_parse(const char *s, sl_url *out, char *err, size_t errlen);

/** Write s with any password replaced by "***" (s need not be valid). */
void sl_url_redact(const char *s, char *buf, size_t n);

/** Overwrite the password bytes with zeros. */
void sl_url_wipe(sl_url *u);

#endif
