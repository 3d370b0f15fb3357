/* model_internal.h — the definition of cc_model (opaque in circuitc/model.h),
 * for the library's own files: the mappings, shards and bookkeeping behind
 * the accessors of model.h. */
#ifndef CIRCUITC_MODEL_INTERNAL_H
#define CIRCUITC_MODEL_INTERNAL_H

#include "circuitc/model.h"
#include "model/safetensors_internal.h"

struct cc_model {
    char *model_path;           /* the path given by the user */
    char *weights_path;         /* the .safetensors file, or a sharded checkpoint's model.safetensors.index.json */
    char *config_path;          /* the config.json used */
    cc_config cfg;
    cc_st_file *st;             /* validated, mmapped; for a sharded checkpoint the shards' joined view */
    cc_st_file **shards;        /* a sharded checkpoint's shards (n_shards of them), else NULL */
    size_t n_shards;
    const char *prefix;         /* "" or "transformer." as found in the file */
    bool has_lm_head;           /* an untied lm_head.weight is present */
    cc_dtype dtype;             /* dtype of wte.weight (the file's main dtype) */
    bool allow_nonfinite;       /* set before loading: accept NaN / Inf weights, and forward passes whose
                                   activations are NaN / Inf or logits reach 2^24 (for inspection) */
    cc_error nonfinite_note;    /* with allow_nonfinite: where the first one read is ("" if none) */
    bool loaded;                /* weights below are filled (all of them) */
    bool processed;             /* TransformerLens default processing applied */
    cc_weights w;
    unsigned char *part_ready;  /* cc_model_need's bookkeeping: which parts are filled */
    unsigned char *tensor_checked; /* per file tensor: its values were found finite */
    cc_progress_fn load_progress;  /* optional, set before cc_model_load_weights: called as tensors are
                                      read (values read of all); it may cancel (circuitc/progress.h) */
    void *load_progress_ctx;
    int load_threads;              /* the loading calls' thread count (0: the default) */
};

#endif
