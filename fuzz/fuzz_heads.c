/* fuzz_heads.c — head names ("L4H11", "4.11") through cc_head_parse, alone
 * and against a GPT-2-small-sized config. An accepted name must be in range
 * and survive cc_head_name -> cc_head_parse unchanged. */
#include <stdlib.h>

#include "circuitc/heads.h"
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const cc_config gpt2_small = {.n_layers = 12, .n_heads = 12, .d_model = 768, .d_head = 64, .d_mlp = 3072,
                                         .d_vocab = 50257, .n_ctx = 1024, .ln_eps = 1e-5, .bos_token_id = 50256};
    char *spec = fuzz_cstring(data, size);
    cc_error err;
    cc_head h, in_model;
    if (cc_head_parse(spec, NULL, &h, &err) == 0) {
        fuzz_require(h.layer >= 0 && h.head >= 0, "\"%s\" parsed as a negative head L%dH%d", spec, h.layer, h.head);
        char name[32];
        cc_head again;
        fuzz_require(cc_head_parse(cc_head_name(h, name, sizeof name), NULL, &again, &err) == 0 &&
                         again.layer == h.layer && again.head == h.head,
                     "\"%s\" -> %s does not parse back to the same head", spec, name);
        int fits = h.layer < gpt2_small.n_layers && h.head < gpt2_small.n_heads;
        fuzz_require((cc_head_parse(spec, &gpt2_small, &in_model, &err) == 0) == fits,
                     "\"%s\": the range check against 12 layers x 12 heads is wrong", spec);
    } else {
        fuzz_require(cc_head_parse(spec, &gpt2_small, &in_model, &err) != 0,
                     "\"%s\" is refused alone but accepted with a config", spec);
    }
    free(spec);
    return 0;
}
