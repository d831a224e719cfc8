/* libFuzzer target: the JSON Schema compiler and validator (common/json/compile.c,
 * validate.c and what they call). Input: the schema, then a newline (or a
 * NUL) and the instance. Compiles the schema; if it compiles, validates the
 * instance and the schema document itself, and checks the result contract. */
#include <stdint.h>
#include <string.h>

#include "common/json/schema.h"
#include "fuzz.h"

static void check(const sl_schema *s, const char *json, size_t len)
{
    sl_schema_error e;
    memset(&e, 0x55, sizeof e); /* the contract: untouched on 1, filled on 0 and -1 */
    int r = sl_schema_validate(s, json, len, &e);
    FUZZ_ASSERT(r == -1 || r == 0 || r == 1, "validate returned %d", r);
    if (r != 1) {
        FUZZ_ASSERT(memchr(e.pointer, '\0', sizeof e.pointer) && memchr(e.keyword, '\0', sizeof e.keyword) &&
                        memchr(e.message, '\0', sizeof e.message),
                    "error fields not terminated (r %d)", r);
        FUZZ_ASSERT(e.keyword[0] != '\0', "no keyword (r %d, message \"%s\")", r, e.message);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *inst;
    size_t slen, ilen;
    char err[512];

    fuzz_split(data, size, &slen, &inst, &ilen);
    /* exact-size copies: compile and validate take lengths, not NULs */
    char *schema = fuzz_strndup(data, slen);
    char *instance = fuzz_strndup(inst, ilen);
    sl_schema *s = sl_schema_compile(schema, slen, err, sizeof err);
    if (s == NULL) {
        FUZZ_ASSERT(err[0] != '\0', "compile failed without a message");
    } else {
        check(s, instance, ilen);
        check(s, schema, slen);
        sl_schema_free(s);
    }
    free(schema);
    free(instance);
    return 0;
}
