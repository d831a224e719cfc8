/* libFuzzer target: the strict JSON checker (sl_json_check in
 * common/codec.c) that guards every payload before cJSON sees it. Input: the
 * text. Checks the failure contract (offset within the text, a reason) and that
 * every text it accepts also parses with cJSON, which the validator relies on. */
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = (size_t)-1;
    const char *why = NULL;
    int rc = sl_json_check((const char *)data, size, &off, &why);

    if (rc != 0) {
        FUZZ_ASSERT(rc == -1, "rc %d", rc);
        FUZZ_ASSERT(off <= size, "error offset %zu past the text (%zu)", off, size);
        FUZZ_ASSERT(why != NULL && why[0] != '\0', "no reason");
        return 0;
    }
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    FUZZ_ASSERT(j != NULL, "accepted text that cJSON cannot parse (at %s)", cJSON_GetErrorPtr() ? "an error" : "?");
    cJSON_Delete(j);
    return 0;
}
