/* libFuzzer target: the Redis URL parser and redactor (common/url.c). Input: the
 * URL text (cut at a NUL). Checks that the redacted form of a parsed URL is the
 * input with exactly the password text replaced by "***" and parses to the same
 * endpoint, that a failure has a message, that wiping clears the password, and
 * that redaction into small buffers stays in bounds and terminated. */
#include <stdint.h>
#include <string.h>

#include "common/url.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char err[256], err2[256], red[4096 + 16];
    sl_url u, u2;
    int rc = sl_url_parse(s, &u, err, sizeof err);

    sl_url_redact(s, red, sizeof red);
    FUZZ_ASSERT(strlen(red) < sizeof red, "redaction not terminated");
    for (size_t n = 1; n < 12; n++) {
        char *small = malloc(n);
        if (small == NULL)
            abort();
        sl_url_redact(s, small, n);
        FUZZ_ASSERT(strnlen(small, n) < n, "small redaction not terminated");
        free(small);
    }
    if (rc == 0) {
        FUZZ_ASSERT(u.port >= 1 && u.port <= 65535 && u.db >= 0, "port %d db %d", u.port, u.db);
        /* "***" may make a 1- or 2-byte password's URL longer than the 2048 allowed */
        if (u.password[0] != '\0' && strlen(strstr(red, "://") + 3) <= 2048) {
            FUZZ_ASSERT(sl_url_parse(red, &u2, err2, sizeof err2) == 0, "redacted URL does not parse: %s", err2);
            FUZZ_ASSERT(strcmp(u2.password, "***") == 0, "redacted password is \"%s\"", u2.password);
            FUZZ_ASSERT(strcmp(u.user, u2.user) == 0 && strcmp(u.host, u2.host) == 0 && strcmp(u.path, u2.path) == 0 &&
                            u.port == u2.port && u.db == u2.db && u.is_unix == u2.is_unix,
                        "redaction changed the endpoint");
            /* exactly the input with the password text (between the userinfo's
             * first ':' and the last '@') replaced by "***" */
            const char *sep = strstr(s, "://");
            const char *at = strrchr(sep + 3, '@');
            const char *colon = memchr(sep + 3, ':', (size_t)(at - sep - 3));
            size_t keep = (size_t)(colon + 1 - s);
            FUZZ_ASSERT(strncmp(red, s, keep) == 0 && strncmp(red + keep, "***", 3) == 0 &&
                            strcmp(red + keep + 3, at) == 0,
                        "redacted \"%s\"", red);
        }
        sl_url_wipe(&u);
        FUZZ_ASSERT(u.password[0] == '\0', "wipe left the password");
    } else {
        FUZZ_ASSERT(err[0] != '\0', "failure without a message");
    }
    free(s);
    return 0;
}
