/* fuzz_config.c — config.json reading (cc_config_load, which only reads from
 * a path: the input goes through an in-memory file). An accepted config must
 * pass validation and give a consistent head size; a refused one gets a
 * message naming the file. */
#include "circuitc/config.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_memfile(data, size);
    cc_config cfg;
    cc_error err;
    if (cc_config_load(path, &cfg, &err) != 0) {
        fuzz_require_error_names(&err, path);
        return 0;
    }
    fuzz_require(cc_config_validate(&cfg, path, &err) == 0, "a loaded config fails validation: %s", err.msg);
    fuzz_require(cfg.d_head * cfg.n_heads == cfg.d_model, "d_head %d x n_head %d != n_embd %d", cfg.d_head,
                 cfg.n_heads, cfg.d_model);
    fuzz_require(cc_config_n_params(&cfg) > 0, "parameter count is not positive");
    return 0;
}
