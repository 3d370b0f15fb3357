/* circuitc/act_cache.h — TransformerLens' run_with_cache, out of the process:
 * choose hooks by name or glob, cache only those in a forward pass
 * (cc_fwd_opts.cache, so memory grows with what is chosen) and write them to
 * a file numpy, safetensors or torch load, each tensor named and shaped as
 * TransformerLens names and shapes the hook (circuitc/hooks.h), float32. */
#ifndef CIRCUITC_ACT_CACHE_H
#define CIRCUITC_ACT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "circuitc/config.h"
#include "circuitc/error.h"
#include "circuitc/forward.h"
#include "circuitc/hooks.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The two file formats, told apart by the path's extension (cc_cache_format_of). */
typedef enum {
    CC_CACHE_SAFETENSORS = 0, /* *.safetensors: safetensors.numpy / safetensors.torch load_file */
    CC_CACHE_NPZ = 1,         /* *.npz: numpy.load (a zip of NAME.npy, stored uncompressed) */
} cc_cache_format;

/* Fills SEL (CC_HOOK_COUNT masks, as cc_fwd_opts.cache: bit l of SEL[k] keeps
 * hook k of layer l, bit 0 a layer-less hook) with the hooks SPEC names:
 * comma-separated patterns, each a hook name in any form cc_hook_parse_any
 * reads (one without a layer means every layer: "resid_pre", "hook_pattern")
 * or a glob over the full names ("blocks.*.attn.hook_pattern", "*"; fnmatch).
 * A glob only picks hooks the model has; a pattern that selects nothing, a
 * layer out of range or a hook the model lacks is an error naming it. */
int cc_hook_select(const cc_config *cfg, const char *spec, uint64_t *sel, cc_error *err);

/* The number of hooks SEL chooses, and the bytes their activations take for
 * a [BATCH, POS] run (what the cache holds in memory and writes). */
int cc_hook_select_count(const cc_config *cfg, const uint64_t *sel);
size_t cc_hook_select_bytes(const cc_config *cfg, const uint64_t *sel, int batch, int pos);

/* The format PATH's extension names, or -1 with ERR saying which to use. */
int cc_cache_format_of(const char *path, cc_cache_format *fmt, cc_error *err);

/* Writes the activations of RES (a pass of a model of block shape CFG) that
 * SEL chooses to PATH in the format of its extension, in forward order,
 * under the output-path rule (circuitc/fsio.h: nothing partial is left on
 * failure). Every chosen hook must be in RES (cached by a pass with
 * opts.cache = SEL). */
int cc_cache_write(const char *path, const cc_config *cfg, const cc_fwd_result *res, const uint64_t *sel,
                   cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
