/* circuitc/forward.h — the forward pass with TransformerLens hook points,
 * for every block shape cc_config describes (GPT-2, GPT-Neo, GPT-NeoX,
 * Llama-family, TransformerLens' attention-only models).
 *
 * Semantics are HookedTransformer's (docs/hooks.md): float32 storage; the
 * model's norm (LayerNorm or RMSNorm) with its weights when they are present
 * (--no-processing), else LNPre / RMSPre; learned, shortformer or rotary
 * positions; grouped-query attention; attention scale sqrt(d_head) unless
 * the model has none; causal mask (and a local window on local layers) =
 * -inf before softmax; parallel or sequential attention and MLP, or no MLP;
 * plain or gated MLP with gelu_new, gelu, silu or relu.
 *
 * A caller picks which hook activations to keep (cc_fwd_opts.cache, one bit per
 * layer; only those are copied out) and may edit any activation in place through
 * a callback (patching, zero/mean ablation): the edited value is what the rest
 * of the pass uses. The hooks, which ones a model has and their shapes are in
 * circuitc/hooks.h.
 *
 * Two kernels compute it, following one block composition
 * (src/runtime/compose.c): CC_KERNEL_FAST (OpenBLAS sgemm, threads,
 * vectorised exp; src/runtime/forward.c) and CC_KERNEL_REF (plain
 * single-threaded loops, float64 dot products and reductions;
 * src/runtime/forward_ref.c), the reference the fast one is tested against. */
#ifndef CIRCUITC_FORWARD_H
#define CIRCUITC_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "circuitc/error.h"
#include "circuitc/hooks.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_FWD_MAX_LAYERS 64 /* cache masks are uint64_t bit sets over layers */

typedef enum { CC_KERNEL_FAST = 0, CC_KERNEL_REF = 1 } cc_kernel;

/* Edit callback: called at every hook point, in forward order, with the live
 * activation (shape SHAPE); it may modify ACT in place. Return 0, or -1 with ERR
 * filled to abort the pass. Layer-less hooks get LAYER = -1. The logits are
 * materialised (and their hook called) only when they are cached; otherwise
 * they are computed in row chunks and reduced to log-probs on the fly. The
 * cache keeps the value after the callback's edit. */
typedef int (*cc_hook_fn)(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *shape,
                          cc_error *err);

typedef struct {
    cc_kernel kernel;
    uint64_t cache[CC_HOOK_COUNT]; /* bit l of cache[k]: keep hook (k, l); layer-less hooks use bit 0 */
    cc_hook_fn hook;               /* optional */
    void *hook_ctx;
    bool logprobs;                 /* fill res->logprob / res->argmax (needs the unembedding) */
    bool skip_unembed;             /* stop after the last block (no ln_final, logits, logprobs) */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_fwd_opts;

/* Everything a pass returns. act[k][l] is NULL unless requested (layer-less: l = 0). */
typedef struct {
    int batch, pos, n_layers;
    float *act[CC_HOOK_COUNT][CC_FWD_MAX_LAYERS];
    double *logprob;     /* [B, T-1]: log_softmax(logits[b,t])[tokens[b,t+1]] (float64 reduction) */
    int *argmax;         /* [B, T]: argmax_v logits[b,t,v] (lowest index on ties) */
} cc_fwd_result;

/* Requests hook (K, LAYER) in OPTS->cache (LAYER < 0: every layer). */
void cc_fwd_want(cc_fwd_opts *opts, cc_hook_kind k, int layer);

/* Runs TOKENS [batch, pos] (row-major ints in [0, d_vocab)) through M (weights
 * loaded; processed or not). 1 <= pos <= n_ctx. Asking OPTS->cache for a hook
 * the model does not have (cc_hook_available) is an error saying why. RES is
 * overwritten; free with
 * cc_fwd_result_free (also after a failure). Unless M->allow_nonfinite, this and
 * every function below that computes activations or logits fails on a NaN or
 * infinite activation (the scores' -inf mask aside) or a logit of magnitude
 * 2^24 or more, naming the hook, layer and element (docs/hooks.md). */
int cc_forward(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
               cc_fwd_result *res, cc_error *err);

void cc_fwd_result_free(cc_fwd_result *res);

/* Pointer to activation (K, LAYER) in RES, or NULL if it was not cached. */
float *cc_fwd_act(const cc_fwd_result *res, cc_hook_kind k, int layer);

/* LOGITS [ROWS, V] = unembed(ln_final(X)) for residual-stream rows X [ROWS, d]:
 * ln_final with each row's own statistics (the weights applied when present,
 * i.e. --no-processing), then W_U and b_U, as the pass's last step computes
 * them. The logit lens runs earlier layers' residuals through it. */
int cc_fwd_unembed(const cc_model *m, const float *x, int rows, cc_kernel kernel, float *logits, cc_error *err);

/* --- Resuming a run (causal reuse; used by activation patching) ----------
 *
 * A segment is rows [start, end) of base sequence SEQ whose residual stream
 * differs from the base run's from some point of block LAYER on. Because
 * attention is causal, rows [start, end) from there on depend only on those
 * rows plus the base run's keys/values of rows [0, start): cc_forward_resume
 * recomputes just them. BASE must hold the keys (hook_k, or hook_rot_k with
 * rotary positions) and hook_v of every block the resumed segments run
 * attention in. */
typedef struct cc_row_patch cc_row_patch;

typedef struct {
    int seq;    /* row of the base batch */
    int start;  /* first recomputed position */
    int end;    /* one past the last (start <= end <= pos) */
    const cc_row_patch *patch; /* optional edit inside the first resumed block (NULL: none) */
} cc_segment;

/* An edit of a resumed segment at hook KIND (hook_q, hook_k, hook_v,
 * hook_pattern or hook_z) of the first resumed block: positions [pos_lo,
 * pos_hi) (inside the segment) of head HEAD (-1: every head) take SRC's values
 * at position p + SRC_SHIFT of the same sequence. SRC is that hook's activation
 * from a full run of the same batch shape: [B, T, H, dh], or [B, H, T, T] for
 * the pattern (a patched pattern row keeps its first end entries). For hook_k
 * and hook_v HEAD is a key/value head (cc_config_kv_heads); a hook_k patch
 * applies before the rotation of a rotary model. */
struct cc_row_patch {
    cc_hook_kind kind;
    int head;
    int pos_lo, pos_hi;
    int src_shift;
    const float *src;
};

/* X: [R, d], R = sum of (end - start), the segments' residuals at point FROM of
 * block LAYER, stacked in segment order: FROM = CC_HOOK_RESID_PRE (entering the
 * block: the whole block runs), CC_HOOK_RESID_MID (its MLP runs) or
 * CC_HOOK_RESID_POST (after it: the next block runs first); hook_resid_mid
 * exists only in sequential blocks with an MLP (a parallel or attention-only
 * block is refused, saying why). X is overwritten
 * with the residual after the last block. LOGPROB: [R], filled with the
 * log-prob of the next token for every row whose position t < pos - 1 (NaN for
 * the last position); may be NULL to skip the unembedding. Segment patches
 * apply only when FROM = CC_HOOK_RESID_PRE. No hooks, no cache. */
int cc_forward_resume(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_result *base,
                      cc_hook_kind from, int layer, const cc_segment *seg, int n_seg, float *x, double *logprob,
                      cc_kernel kernel, cc_error *err);

/* OUT [R, n_cols]: the logits of columns COLS of the final residual rows X [R, d]
 * (ln_final, then W_U and b_U), as the forward pass computes them. */
int cc_logits_cols(const cc_model *m, const float *x, int R, const int *cols, int n_cols, double *out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
