/* libFuzzer target: the schema compatibility checker (common/json/compat*.c).
 * Input: the old schema, then a newline (or a NUL) and the new schema. Checks the
 * result contract and formats every change; a schema that compiles must have no
 * definite breaking change against itself (only "unverifiable" ones, if any). */
#include <stdint.h>
#include <string.h>

#include "common/json/compat.h"
#include "fuzz.h"

/* sl_compat_check's result; *definite (if not NULL) = changes that are not "unverifiable". */
static int compat(const char *a, size_t alen, const char *b, size_t blen, size_t *definite)
{
    sl_compat_report rep;
    char err[512], line[1024];

    memset(&rep, 0, sizeof rep);
    int rc = sl_compat_check(a, alen, b, blen, &rep, err, sizeof err);
    FUZZ_ASSERT(rc == -1 || rc == 0 || rc == 1, "rc %d", rc);
    FUZZ_ASSERT(rc != 1 || (rep.n == 0 && !rep.truncated), "compatible with %zu changes", rep.n);
    FUZZ_ASSERT(rc != 0 || rep.n > 0, "breaking without a change");
    FUZZ_ASSERT(rep.n <= SL_COMPAT_MAX_CHANGES, "%zu changes listed", rep.n);
    if (definite != NULL)
        *definite = 0;
    for (size_t i = 0; i < rep.n; i++) {
        if (definite != NULL && !rep.changes[i].unverifiable)
            (*definite)++;
        (void)sl_compat_where(rep.changes[i].pointer);
        FUZZ_ASSERT(sl_compat_format(&rep.changes[i], line, sizeof line) == line, "format");
    }
    sl_compat_report_free(&rep);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *b;
    size_t alen, blen;

    fuzz_split(data, size, &alen, &b, &blen);
    char *old = fuzz_strndup(data, alen);
    char *new = fuzz_strndup(b, blen);
    size_t definite;
    compat(old, alen, new, blen, NULL);
    /* Equal documents can hold no definite breaking change; "unverifiable" is
     * allowed (e.g. a $ref cycle such as {"$ref":"#"} cannot be followed). */
    if (compat(old, alen, old, alen, &definite) == 0)
        FUZZ_ASSERT(definite == 0, "a schema has %zu breaking changes against itself", definite);
    free(old);
    free(new);
    return 0;
}
