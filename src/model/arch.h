/* arch.h — one description per model family (src/model/arch/): how its
 * config file maps onto cc_config, and a table of its tensors: each one's name
 * in the file, its shape in terms of the config, the cc_weights array it
 * fills and how its layout is rearranged on the way. Opening a model checks
 * the file against the table, loading walks it, and nothing else in the
 * library knows a family's tensor names. Internal to the library.
 *
 * Adding a family: one file in src/model/arch/ defining an arch_family (its
 * config reader and tensor table), its line in arch_families[] (registry.c),
 * and a fixture with goldens (docs/architectures.md). */
#ifndef CIRCUITC_ARCH_H
#define CIRCUITC_ARCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "circuitc/config.h"
#include "circuitc/model.h"

/* A tensor dimension in terms of the config (ARCH_DIM_NONE ends a shape). */
typedef enum {
    ARCH_DIM_NONE,
    ARCH_DIM_D,     /* d_model */
    ARCH_DIM_Q,     /* n_heads * d_head */
    ARCH_DIM_KV,    /* n_kv_heads * d_head */
    ARCH_DIM_QKV,   /* 3 * n_heads * d_head (fused multi-head projections) */
    ARCH_DIM_H,     /* n_heads */
    ARCH_DIM_KVH,   /* n_kv_heads */
    ARCH_DIM_DH,    /* d_head */
    ARCH_DIM_MLP,   /* d_mlp */
    ARCH_DIM_VOCAB, /* d_vocab */
    ARCH_DIM_CTX,   /* n_ctx */
} arch_dim;

/* How a file tensor's layout becomes its destination's. */
typedef enum {
    ARCH_COPY,       /* same row-major layout as the destination */
    ARCH_TRANSPOSE,  /* [a, b] into [b, a] (nn.Linear's [out, in] weights, lm_head) */
    ARCH_HEADS,      /* nn.Linear [n*dh, d] of n = H or Hkv heads into [H, d, dh] */
    ARCH_KV_REPEAT,  /* [Hkv, ...] into [H, ...]: each key/value head copied to its query heads */
    ARCH_CONV1D_QKV, /* GPT-2 c_attn: [d, 3*H*dh] columns Q|K|V (bias [3*H*dh]) into three [H, d, dh] ([H, dh]) */
    ARCH_NEOX_QKV,   /* GPT-NeoX query_key_value: rows (head, q/k/v, dh) [3*H*dh, d] (bias alike) into three */
    ARCH_ZERO,       /* not in the file: the destination stays zero */
} arch_layout;

/* Conditions under which a table entry is part of a checkpoint (all set bits must hold). */
enum {
    ARCH_IF_MLP = 1 << 0,        /* the model has MLPs */
    ARCH_IF_GATED = 1 << 1,      /* ... gated ones */
    ARCH_IF_POS = 1 << 2,        /* learned or shortformer position embeddings */
    ARCH_IF_UNTIED = 1 << 3,     /* the unembedding is stored (else W_U is the embedding, transposed) */
    ARCH_IF_QKV_BIAS = 1 << 5,   /* q/k/v projections have biases */
    ARCH_IF_O_BIAS = 1 << 6,     /* the output projection has a bias */
    ARCH_IF_MLP_BIAS = 1 << 7,   /* MLP projections have biases */
    ARCH_IF_NORM = 1 << 8,       /* norm weights are stored (not folded already) */
    ARCH_IF_NORM_BIAS = 1 << 9,  /* ... and have biases (LayerNorm) */
    ARCH_IF_GQA = 1 << 10,       /* n_kv_heads set (TransformerLens then stores _W_K, _W_V) */
    ARCH_IF_MHA = 1 << 11,       /* n_kv_heads not set */
    ARCH_OPTIONAL = 1 << 12,     /* may be absent (GPT-2's lm_head: then tied) */
    ARCH_UNPREFIXED = 1 << 13,   /* never carries the family's optional prefix */
};

typedef struct {
    const char *name;        /* "%d" stands for the layer; NULL: not in any file (ARCH_ZERO) */
    bool per_layer;
    arch_dim shape[3];       /* the file's shape */
    size_t dest[3];          /* offsetof(cc_weights, ...): the array, or Q, K, V for the fused layouts */
    arch_layout layout;
    unsigned when;           /* ARCH_IF_* and flags */
} arch_tensor;

typedef struct arch_family {
    cc_family family;
    const char *model_type;  /* Hugging Face model_type values, "|"-separated; NULL: TransformerLens */
    const char *describe;    /* what it reads, for messages and `info` */
    const char *prefix;      /* optional prefix of every name ("transformer." for GPT-2), or NULL */
    const char *probe;       /* an unprefixed tensor name always present: finds the prefix */
    const arch_tensor *tensors;
    int n_tensors;
    /* Reads ROOT (the config file PATH) into C; fails naming the field. */
    int (*read_config)(json_t *root, const char *path, cc_config *c, cc_error *err);
    /* Name endings of buffers some exports carry (masks, rotary tables): not weights. */
    const char *const *ignored_suffixes; /* NULL-terminated */
} arch_family;

/* Every family circuitc reads (registry.c). */
extern const arch_family *const arch_families[];
extern const int arch_n_families;

/* Whether NAME (a file tensor not in FAM's table) is one of its buffers. */
bool arch_ignorable(const arch_family *fam, const char *name);

/* The family of a config file's JSON: by model_type, else TransformerLens'
 * config keys. Fails naming the file and what is supported. */
int arch_family_of(json_t *root, const char *path, const arch_family **out, cc_error *err);

/* The family of config C (whose family field says it). */
const arch_family *arch_family_get(cc_family f);

/* --- the table, evaluated for one config ---------------------------------- */

uint64_t arch_dim_size(const cc_config *c, arch_dim d);

/* Rank and shape of T as stored in a file of C. */
int arch_shape(const cc_config *c, const arch_tensor *t, uint64_t shape[3]);

/* Values of one layer's copy of T. */
uint64_t arch_numel(const cc_config *c, const arch_tensor *t);

/* Whether T's destination exists in a model of C (the block has the part:
 * an MLP, positions, norm weights); a bias the file lacks stays zero. */
bool arch_exists(const cc_config *c, const arch_tensor *t);

/* Whether T is in a checkpoint of C (ARCH_OPTIONAL ones may still be absent). */
bool arch_present(const cc_config *c, const arch_tensor *t);

/* T's name for LAYER with PREFIX ("" for none) into BUF. */
const char *arch_name(const arch_tensor *t, const char *prefix, int layer, char *buf, size_t size);

/* Destination I of T (I < 3 for the fused layouts, else 0). */
float **arch_dest(cc_weights *w, const arch_tensor *t, int i);
int arch_n_dests(const arch_tensor *t);

/* Floats of destination array of T under C (every layer's share, in cc_weights' layout). */
size_t arch_dest_floats(const cc_config *c, const arch_tensor *t);

/* Tensors and values a checkpoint of C must hold (optional entries not counted), saturating. */
uint64_t arch_tensor_count(const arch_family *fam, const cc_config *c);
uint64_t arch_value_count(const arch_family *fam, const cc_config *c);

/* --- config readers' shared field parsing (config.c) ------------------------ */

/* Integer KEY into *OUT (DFLT when absent or null, unless REQUIRED), within [0, MAX]. */
int arch_json_int(json_t *root, const char *path, const char *key, bool required, int dflt, int max, int *out,
                  cc_error *err);
/* Number KEY into *OUT (DFLT when absent or null). */
int arch_json_num(json_t *root, const char *path, const char *key, double dflt, double *out, cc_error *err);
/* Boolean KEY into *OUT (DFLT when absent or null). */
int arch_json_bool(json_t *root, const char *path, const char *key, bool dflt, bool *out, cc_error *err);
/* String KEY (NULL when absent or null). */
int arch_json_str(json_t *root, const char *path, const char *key, const char **out, cc_error *err);
/* Fails naming the first of KEYS (NULL-terminated) switched on in ROOT, with WHY:
 * a key is off when absent, null, false or a number <= 0 (TransformerLens
 * writes -1 for "no soft cap"), on otherwise (true, a positive number, an
 * object such as rope_scaling's). For features circuitc does not implement. */
int arch_json_refuse_on(json_t *root, const char *path, const char *const *keys, const char *why, cc_error *err);
/* The activation named NAME (Hugging Face / TransformerLens spelling) into *OUT; KEY names the field. */
int arch_json_act(const char *name, const char *path, const char *key, cc_act_kind *out, cc_error *err);

#endif
