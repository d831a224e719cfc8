/* libFuzzer target: the config loader (common/config*.c) on config text, as
 * sl_cfg_load_string reads it (no environment overrides). Checks that a loaded
 * config round-trips: its JSON (sl_cfg_to_json) loads back, and gives the same
 * JSON again; and that every pool has a fingerprint. */
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char err[512];
    sl_config *cfg = sl_cfg_load_string(text, "fuzz", SL_CFG_NO_ENV, err, sizeof err);

    if (cfg == NULL) {
        FUZZ_ASSERT(err[0] != '\0', "load failed without a message");
        free(text);
        return 0;
    }
    char *j1 = sl_cfg_to_json(cfg);
    FUZZ_ASSERT(j1 != NULL, "to_json");
    sl_config *again = sl_cfg_load_string(j1, "fuzz-again", SL_CFG_NO_ENV, err, sizeof err);
    FUZZ_ASSERT(again != NULL, "the config's own JSON does not load: %s\n%s", err, j1);
    char *j2 = sl_cfg_to_json(again);
    FUZZ_ASSERT(j2 != NULL && strcmp(j1, j2) == 0, "round trip changed the config:\n%s\n%s", j1, j2);
    for (size_t i = 0; i < cfg->npools; i++) {
        char *fp = sl_cfg_pool_fingerprint(cfg, &cfg->pools[i]);
        FUZZ_ASSERT(fp != NULL, "no fingerprint for pool %zu", i);
        free(fp);
    }
    free(j1);
    free(j2);
    sl_cfg_free(again);
    sl_cfg_free(cfg);
    free(text);
    return 0;
}
