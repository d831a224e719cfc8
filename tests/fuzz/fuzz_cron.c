/* libFuzzer target: the cron parser and fire times (common/cron.c). Input: an
 * expression, optionally a newline and a time zone name, then optionally a
 * newline and a start time in seconds. Checks that a failure has a message,
 * that a parsed expression's next fire time is strictly after the start and a
 * whole second (or a multiple of @every), and that the one after it is later
 * still; hostile expressions and zones end in bounded time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size), *zone = NULL, *start = NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        zone = nl + 1;
        if ((nl = strchr(zone, '\n')) != NULL) {
            *nl = '\0';
            start = nl + 1;
        }
    }
    int64_t after = start ? strtoll(start, NULL, 10) % (4000LL * 365 * 86400) : 1790000000;
    if (after < 0)
        after = -after;
    char err[256] = "";
    sl_cron c;
    if (sl_cron_parse(s, zone, &c, err, sizeof err) != 0) {
        FUZZ_ASSERT(err[0] != '\0', "failure without a message");
    } else {
        int64_t next = 0, again = 0;
        if (sl_cron_next(&c, after * 1000, &next) == 0) {
            FUZZ_ASSERT(next > after * 1000, "next %lld not after %lld", (long long)next, (long long)after * 1000);
            FUZZ_ASSERT(next % (c.every_ms > 0 ? c.every_ms : 1000) == 0, "next %lld not on a tick", (long long)next);
            FUZZ_ASSERT(sl_cron_next(&c, next, &again) == 0 && again > next, "the tick after %lld", (long long)next);
        }
    }
    free(s);
    return 0;
}
