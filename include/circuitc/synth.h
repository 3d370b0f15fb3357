/* circuitc/synth.h — seeded random GPT-2 models, bit-identical to the golden
 * generator's (docs/synthetic-models.md defines the generator exactly). */
#ifndef CIRCUITC_SYNTH_H
#define CIRCUITC_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/config.h"
#include "circuitc/error.h"
#include "circuitc/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    cc_dtype dtype;        /* CC_DT_F32 (default), CC_DT_F16 or CC_DT_BF16 */
    bool prefix;           /* name tensors "transformer.*" like some checkpoints */
    bool lm_head;          /* also write an (untied) lm_head.weight */
} cc_synth_options;

/* Fills CFG with preset NAME ("gpt2-small" or "tiny"). */
int cc_synth_preset(const char *name, cc_config *cfg, cc_error *err);

/* Element K of tensor NAME for SEED, exactly as docs/synthetic-models.md says. */
float cc_synth_value(uint64_t seed, const char *name, uint64_t k);

/* Writes DIR/config.json and DIR/model.safetensors (creating DIR). OPT may be
 * NULL: the defaults above. */
int cc_synth_write(const cc_config *cfg, uint64_t seed, const cc_synth_options *opt, const char *dir,
                   cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
