/* libFuzzer target: the traceparent parser (common/trace.c). Input: the header
 * value (cut at a NUL). Checks that a valid value's trace id is its bytes 3..35,
 * that a child span keeps the trace id and flags of a valid parent and is always
 * itself valid, and that an invalid parent gives a fresh valid traceparent. */
#include <stdint.h>
#include <string.h>

#include "common/trace.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tp = fuzz_strndup(data, size);
    char id[SL_TRACE_ID_SIZE], cid[SL_TRACE_ID_SIZE], child[SL_TRACE_SIZE];
    int valid = sl_trace_valid(tp);

    FUZZ_ASSERT(valid == 0 || valid == 1, "valid %d", valid);
    if (valid) {
        FUZZ_ASSERT(strlen(tp) >= SL_TRACE_LEN, "short value accepted");
        FUZZ_ASSERT(sl_trace_id(tp, id) == 0 && memcmp(id, tp + 3, 32) == 0 && id[32] == '\0', "trace id");
    } else {
        FUZZ_ASSERT(sl_trace_id(tp, id) == -1 && id[0] == '\0', "id of an invalid value");
    }
    FUZZ_ASSERT(sl_trace_child(tp, child) == 0, "no child");
    FUZZ_ASSERT(strlen(child) == SL_TRACE_LEN && sl_trace_valid(child), "child \"%s\" invalid", child);
    FUZZ_ASSERT(sl_trace_id(child, cid) == 0, "child id");
    if (valid) {
        FUZZ_ASSERT(strcmp(cid, id) == 0, "child changed the trace id");
        FUZZ_ASSERT(memcmp(child + 53, tp + 53, 2) == 0, "child changed the flags");
        FUZZ_ASSERT(memcmp(child, "00-", 3) == 0, "child version");
    }
    free(tp);
    return 0;
}
