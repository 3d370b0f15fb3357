/* circuitc/config.h — GPT-2 hyper-parameters, read from a Hugging Face config.json. */
#ifndef CIRCUITC_CONFIG_H
#define CIRCUITC_CONFIG_H

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int n_layers;      /* n_layer */
    int n_heads;       /* n_head */
    int d_model;       /* n_embd */
    int d_head;        /* n_embd / n_head */
    int d_mlp;         /* n_inner, or 4 * n_embd when null */
    int d_vocab;       /* vocab_size */
    int n_ctx;         /* n_positions (or n_ctx) */
    double ln_eps;     /* layer_norm_epsilon */
    int bos_token_id;  /* bos_token_id, default d_vocab - 1 */
} cc_config;

/* Limits on every size (far above any GPT-2-style model: GPT-2 XL has 48
 * layers, 25 heads, n_embd 1600, vocab 50257, 1024 positions). They keep a
 * hostile config from asking for absurd allocations and keep every size
 * product well inside 64 bits; files beyond them are refused by name. */
#define CC_CONFIG_MAX_LAYERS 1024
#define CC_CONFIG_MAX_HEADS 1024
#define CC_CONFIG_MAX_D_MODEL 32768
#define CC_CONFIG_MAX_D_MLP 131072 /* 4 x CC_CONFIG_MAX_D_MODEL: the default n_inner always fits */
#define CC_CONFIG_MAX_VOCAB 1048576
#define CC_CONFIG_MAX_CTX 1048576
/* No weight matrix may hold more elements than this (2^32: 16 GiB as float32). */
#define CC_CONFIG_MAX_MATRIX_ELEMENTS 4294967296LL

/* Reads and checks PATH (config.json). Every missing or wrong field is an
 * error naming the file and the field. */
int cc_config_load(const char *path, cc_config *cfg, cc_error *err);

/* Checks internal consistency (sizes within the limits above, n_embd divisible by n_head...).
 * LABEL names the source in messages ("<config>" when NULL). */
int cc_config_validate(const cc_config *cfg, const char *label, cc_error *err);

/* Writes CFG as a Hugging Face GPT-2 config.json at PATH (the output-path rule, circuitc/fsio.h). */
int cc_config_save(const cc_config *cfg, const char *path, cc_error *err);

/* Parameter count of the GPT-2 layout (tied unembedding counted once). */
long long cc_config_n_params(const cc_config *cfg);

#ifdef __cplusplus
}
#endif

#endif
