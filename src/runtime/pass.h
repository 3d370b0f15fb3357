/* pass.h — one forward pass and the one block composition both kernels
 * follow (internal to the library; compose.c).
 *
 * The order of a block's steps and hook points, which block shape takes which
 * branch (LayerNorm or RMSNorm, learned / shortformer / rotary positions,
 * grouped-query attention, attention scale, local windows, parallel or
 * sequential residual, plain / gated / no MLP) is written once, in compose.c.
 * A kernel supplies only the primitives (cc_kernel_ops): a norm over rows, a
 * linear map, the attention scores, softmax and mixing, the activation. The
 * fast kernel (forward.c: OpenBLAS, our threads, vectorised exp) and the
 * reference kernel (forward_ref.c: plain loops, float64 sums) each fill one
 * table and never call each other.
 *
 * Dimension letters: B batch, T pos, H n_heads, K key/value heads, dh d_head,
 * d d_model, m d_mlp, V d_vocab, R stacked rows. Every block works on R
 * stacked rows described by a list of segments (forward.h's cc_segment): a
 * full pass is B segments [0, T), so its stacked buffers are exactly
 * TransformerLens' [B, T, ...] layouts; a resumed pass recomputes only its
 * segments' rows and reads the keys and values of the rows before each
 * segment from the base run. */
#ifndef CC_RUNTIME_PASS_H
#define CC_RUNTIME_PASS_H

#include "circuitc/forward.h"

typedef struct cc_kernel_ops cc_kernel_ops;

typedef struct {
    const cc_model *m;
    const cc_config *c;
    const cc_kernel_ops *ops;
    const int *tokens;           /* [batch, pos] */
    int batch, pos;
    const cc_segment *seg;       /* rows [start, end) of sequence seq, in order */
    int n_seg;
    const cc_fwd_result *clean;  /* resuming: keys (cc_pass_key_hook) and values before each segment; else NULL */
    int patch_layer;             /* resuming: the block whose hooks apply the segments' patches (-1: none) */
    const cc_fwd_opts *opts;     /* full pass: hooks and cache; NULL when resuming */
    cc_fwd_result *res;
    int H, K, dh, group;         /* heads, key/value heads, d_head, query heads per key/value head */
    size_t *row_off;             /* [n_seg] first stacked row of each segment */
    size_t *sc_off;              /* [n_seg] offset of each segment's scores block [H, n, end] */
    size_t R, n_scores;
    /* workspace */
    float *xn;                   /* [R, d] normalised residual */
    float *xqk;                  /* [R, d] shortformer: xn + positional embedding (queries' and keys' input) */
    float *pe;                   /* [R, d] shortformer: positional embedding of each row */
    float *q, *z;                /* [R, H, dh] */
    float *k, *v;                /* [R, K, dh] */
    float *scores;               /* per segment s: [H, n_s, end_s]; full pass: [B, H, T, T]; then the pattern */
    float *attn_out, *mlp_out;   /* [R, d] */
    float *mlp, *mlp_lin;        /* [R, m]: pre-activation, then post in place; gated: x W_in */
    float *rot_sin, *rot_cos;    /* rotary: [pos, rotary_dim] */
    float *rot_tmp;              /* rotary: [rotary_dim], one head's dimensions before their rotation */
    void *kernel_ws;             /* the kernel's own workspace (kernel_init / kernel_free) */
} cc_pass;

struct cc_kernel_ops {
    /* Normalises R rows of X [R, d] into OUT with the model's norm (LayerNorm
     * or RMSNorm), then * W (+ B for LayerNorm) when W is not NULL. */
    void (*norm)(const cc_config *c, const float *x, size_t R, const float *w, const float *b, float *out);
    /* OUT [R, n] = X [R, k] W [k, n] + B [n] (B may be NULL). */
    void (*linear)(const float *x, size_t R, int k, const float *W, const float *b, int n, float *out);
    /* OUT [R, nh, dh] = X [R, d] W_i + b_i for heads i < NH, head i's
     * weights at W + i * STEP * d * dh ([d, dh]) and bias at B + i * STEP * dh. */
    void (*heads)(cc_pass *p, const float *x, const float *W, const float *b, int nh, int step, float *out);
    /* p->scores of block L: q.k / cc_pass_attn_scale for every segment and
     * head, -inf where cc_pass_key_visible says no. */
    void (*scores)(cc_pass *p, int l);
    /* Softmax of every row of p->scores in place (an all -inf row becomes 0). */
    void (*softmax)(cc_pass *p);
    /* p->z of block L from the pattern in p->scores and the values. */
    void (*mix)(cc_pass *p, int l);
    /* The model's activation (cfg act) in place on X [n]. */
    void (*act)(const cc_config *c, float *x, size_t n);
    /* X [R, m] = X * LIN + B (B [m]): the gated MLP's post from act(pre). */
    void (*gate)(float *x, const float *lin, const float *b, size_t R, int m);
    void (*add)(float *dst, const float *src, size_t n);
    void (*copy)(float *dst, const float *src, size_t n);
    /* Next-token log-probs LP [R] and argmax AMAX [R] (either may be NULL)
     * from p->xn (ln_final applied); the logits go through the LOGITS hook
     * (cc_pass_hook) only when cached. */
    int (*unembed)(cc_pass *p, const int *target, double *lp, int *amax, cc_error *err);
    /* A pass's thread policy: begin returns what end restores. */
    int (*begin)(void);
    void (*end)(int saved);
    int (*kernel_init)(cc_pass *p, cc_error *err);
    void (*kernel_free)(cc_pass *p);
};

extern const cc_kernel_ops cc_fast_kernel; /* forward.c */
extern const cc_kernel_ops cc_ref_kernel;  /* forward_ref.c */

/* Whether query position I of block L may attend to key position J: causal,
 * and within the window on a local layer (i - window < j <= i). */
static inline bool cc_pass_key_visible(const cc_config *c, int l, int i, int j)
{
    return j <= i && (c->window <= 0 || !cc_config_layer_is_local(c, l) || j > i - c->window);
}

/* The divisor of the attention scores: sqrt(d_head), or 1 (attn_unscaled). */
double cc_pass_attn_scale(const cc_config *c);

/* The hook whose cached activation holds the keys attention reads: hook_rot_k
 * with rotary positions, else hook_k. */
cc_hook_kind cc_pass_key_hook(const cc_config *c);

/* The key (WHICH = the key hook) or value (CC_HOOK_V) of key/value head G of
 * block L at position J of segment S: a recomputed row, or the base run's row
 * before the segment's start. [dh] */
const float *cc_pass_kv(const cc_pass *p, cc_hook_kind which, int l, int s, int j, int g);

/* A hook point: a resumed pass's segment patches, the caller's edit, the
 * range check (act_check.h), then a copy when (KIND, LAYER) is cached. */
int cc_pass_hook(cc_pass *p, cc_hook_kind kind, int layer, float *act, cc_error *err);

/* cc_pass_hook for a heap buffer ACT the caller gives away: cached, it
 * becomes the cache entry itself instead of a copy (the logits [R, V] are
 * the largest activation: no second copy at the peak); else it is freed. */
int cc_pass_hook_give(cc_pass *p, cc_hook_kind kind, int layer, float *act, cc_error *err);

/* Whether the full logits are cached (then they are materialised and hooked). */
static inline bool cc_pass_logits_cached(const cc_pass *p)
{
    return p->opts && (p->opts->cache[CC_HOOK_LOGITS] & 1);
}

/* Applies the patches of the segments whose kind is KIND to a resumed pass's
 * stacked activation ACT (q/k/v/z: [R, heads, dh]; the pattern: per segment
 * [H, n, end]). */
void cc_segment_patches_apply(const cc_pass *p, cc_hook_kind kind, float *act);

#endif
