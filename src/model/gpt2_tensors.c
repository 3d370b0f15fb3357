/* gpt2_tensors.c — the table of GPT-2's tensors (gpt2_tensors.h). */
#include "gpt2_tensors.h"

#include <stdio.h>

#define DEST(field) offsetof(cc_weights, field)

/* Hugging Face GPT-2 (Conv1D weights are [in, out]) to TransformerLens' layout:
 * c_attn's columns are Q, K, V of every head; c_proj's rows h*dh+i are
 * W_O[h, i, :], the same memory as [H, dh, d]; the unembedding is the
 * transpose of lm_head.weight, or of wte.weight when tied. */
const gpt2_tensor GPT2_TENSORS[GPT2_N_TENSORS] = {
    [GPT2_WTE] = {"wte.weight", false, GPT2_DIM_VOCAB, GPT2_DIM_D, {DEST(W_E)}, GPT2_COPY},
    [GPT2_WPE] = {"wpe.weight", false, GPT2_DIM_CTX, GPT2_DIM_D, {DEST(W_pos)}, GPT2_COPY},
    [GPT2_LN1_W] = {"h.%d.ln_1.weight", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(ln1_w)}, GPT2_COPY},
    [GPT2_LN1_B] = {"h.%d.ln_1.bias", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(ln1_b)}, GPT2_COPY},
    [GPT2_ATTN_W] = {"h.%d.attn.c_attn.weight", true, GPT2_DIM_D, GPT2_DIM_3D, {DEST(W_Q), DEST(W_K), DEST(W_V)},
                     GPT2_SPLIT_QKV},
    [GPT2_ATTN_B] = {"h.%d.attn.c_attn.bias", true, GPT2_DIM_3D, GPT2_DIM_NONE, {DEST(b_Q), DEST(b_K), DEST(b_V)},
                     GPT2_SPLIT_QKV},
    [GPT2_ATTN_PROJ_W] = {"h.%d.attn.c_proj.weight", true, GPT2_DIM_D, GPT2_DIM_D, {DEST(W_O)}, GPT2_COPY},
    [GPT2_ATTN_PROJ_B] = {"h.%d.attn.c_proj.bias", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(b_O)}, GPT2_COPY},
    [GPT2_LN2_W] = {"h.%d.ln_2.weight", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(ln2_w)}, GPT2_COPY},
    [GPT2_LN2_B] = {"h.%d.ln_2.bias", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(ln2_b)}, GPT2_COPY},
    [GPT2_FC_W] = {"h.%d.mlp.c_fc.weight", true, GPT2_DIM_D, GPT2_DIM_MLP, {DEST(W_in)}, GPT2_COPY},
    [GPT2_FC_B] = {"h.%d.mlp.c_fc.bias", true, GPT2_DIM_MLP, GPT2_DIM_NONE, {DEST(b_in)}, GPT2_COPY},
    [GPT2_MLP_PROJ_W] = {"h.%d.mlp.c_proj.weight", true, GPT2_DIM_MLP, GPT2_DIM_D, {DEST(W_out)}, GPT2_COPY},
    [GPT2_MLP_PROJ_B] = {"h.%d.mlp.c_proj.bias", true, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(b_out)}, GPT2_COPY},
    [GPT2_LNF_W] = {"ln_f.weight", false, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(lnf_w)}, GPT2_COPY},
    [GPT2_LNF_B] = {"ln_f.bias", false, GPT2_DIM_D, GPT2_DIM_NONE, {DEST(lnf_b)}, GPT2_COPY},
    [GPT2_LM_HEAD] = {"lm_head.weight", false, GPT2_DIM_VOCAB, GPT2_DIM_D, {DEST(W_U)}, GPT2_TRANSPOSE},
    [GPT2_UNEMBED_BIAS] = {NULL, false, GPT2_DIM_VOCAB, GPT2_DIM_NONE, {DEST(b_U)}, GPT2_ZERO},
};

uint64_t gpt2_dim_size(const cc_config *c, gpt2_dim d)
{
    switch (d) {
    case GPT2_DIM_D: return (uint64_t)c->d_model;
    case GPT2_DIM_3D: return 3 * (uint64_t)c->d_model;
    case GPT2_DIM_MLP: return (uint64_t)c->d_mlp;
    case GPT2_DIM_VOCAB: return (uint64_t)c->d_vocab;
    case GPT2_DIM_CTX: return (uint64_t)c->n_ctx;
    default: return 1;
    }
}

int gpt2_shape(const cc_config *c, const gpt2_tensor *t, uint64_t shape[2])
{
    shape[0] = gpt2_dim_size(c, t->rows);
    shape[1] = gpt2_dim_size(c, t->cols);
    return t->cols == GPT2_DIM_NONE ? 1 : 2;
}

/* Saturating uint64 arithmetic: a hostile config cannot wrap the counts. */
static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

uint64_t gpt2_numel(const cc_config *c, const gpt2_tensor *t)
{
    return sat_mul(gpt2_dim_size(c, t->rows), gpt2_dim_size(c, t->cols));
}

const char *gpt2_name(const gpt2_tensor *t, int layer, char *buf, size_t size)
{
    if (t->per_layer) snprintf(buf, size, t->name, layer);
    else snprintf(buf, size, "%s", t->name);
    return buf;
}

/* Copies of T in a checkpoint of C: one per layer, or one. */
static uint64_t copies(const cc_config *c, const gpt2_tensor *t)
{
    return t->per_layer ? (uint64_t)c->n_layers : 1;
}

/* The tensors every GPT-2 checkpoint holds: in the file, and not lm_head.weight. */
static bool required(const gpt2_tensor *t) { return t->name && t != &GPT2_TENSORS[GPT2_LM_HEAD]; }

uint64_t gpt2_tensor_count(const cc_config *c)
{
    uint64_t n = 0;
    for (int i = 0; i < GPT2_N_TENSORS; i++)
        if (required(&GPT2_TENSORS[i])) n = sat_add(n, copies(c, &GPT2_TENSORS[i]));
    return n;
}

uint64_t gpt2_value_count(const cc_config *c)
{
    uint64_t n = 0;
    for (int i = 0; i < GPT2_N_TENSORS; i++)
        if (required(&GPT2_TENSORS[i]))
            n = sat_add(n, sat_mul(copies(c, &GPT2_TENSORS[i]), gpt2_numel(c, &GPT2_TENSORS[i])));
    return n;
}

float **gpt2_dest(cc_weights *w, const gpt2_tensor *t, int i)
{
    return (float **)((char *)w + t->dest[i]);
}

size_t gpt2_dest_floats(const cc_config *c, const gpt2_tensor *t)
{
    uint64_t n = sat_mul(copies(c, t), gpt2_numel(c, t));
    return (size_t)(t->transform == GPT2_SPLIT_QKV ? n / 3 : n);
}
