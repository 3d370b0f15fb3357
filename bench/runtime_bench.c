/* runtime_bench.c — times the runtime on a GPT-2-small-shaped model: one
 * forward pass of [30, 101] repeated tokens caching every layer's pattern,
 * the sgemm FLOP rate that pass achieves, a bare sgemm at the MLP shape for
 * comparison, and the full mlp_out patching sweep (12 layers x 51 positions,
 * seq_len 50), causal path (and, with --naive, the full-rerun path).
 *
 * Built with the project, not a test (timings are reported, never asserted):
 *   build/src/circuitc synth --preset gpt2-small --seed 0 --out /tmp/g2s
 *   build/bench/runtime_bench /tmp/g2s [--naive] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuitc/experiments.h"
#include "circuitc/forward.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [--naive]\n", argv[0]);
        return 2;
    }
    bool naive = argc > 2 && strcmp(argv[2], "--naive") == 0;
    cc_error err;
    cc_model *m;
    double t0 = now();
    if (cc_model_load(argv[1], NULL, true, &m, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("load + process: %.2f s\n", now() - t0);
    const cc_config *c = &m->cfg;
    int B = 30, n = 50, T = 1 + 2 * n;
    int *tok = malloc((size_t)B * T * sizeof *tok);
    if (cc_repeat_tokens(c, 0, B, n, tok, &err) != 0) return 1;
    double R = (double)B * T, d = c->d_model, M = c->d_mlp, V = c->d_vocab, L = c->n_layers;
    double flops = L * (8 * R * d * d + 4 * R * d * M + 4.0 * B * c->n_heads * (double)T * T * c->d_head) + 2 * R * d * V;
    for (int rep = 0; rep < 2; rep++) {
        cc_fwd_opts o = {.kernel = CC_KERNEL_FAST, .logprobs = true};
        cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
        cc_fwd_result r;
        t0 = now();
        if (cc_forward(m, tok, B, T, &o, &r, &err) != 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        printf("forward [%d, %d] + all patterns cached + log-probs: %.3f s; GEMM work %.1f GFLOP -> %.1f GFLOP/s "
               "over the whole pass\n", B, T, dt, flops * 1e-9, flops * 1e-9 / dt);
        cc_fwd_result_free(&r);
    }
    { /* bare sgemm at the MLP-in shape [R, d] x [d, m] */
        int Ri = (int)R, di = (int)d, Mi = (int)M;
        float *a = calloc((size_t)Ri * di, 4), *b = calloc((size_t)di * Mi, 4), *cc = calloc((size_t)Ri * Mi, 4);
        for (size_t i = 0; i < (size_t)Ri * di; i++) a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)di * Mi; i++) b[i] = (float)(i % 5) * 0.1f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Ri, Mi, di, 1, a, di, b, Mi, 0, cc, Mi);
        t0 = now();
        for (int k = 0; k < 5; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Ri, Mi, di, 1, a, di, b, Mi, 0, cc, Mi);
        double dt = (now() - t0) / 5;
        printf("bare sgemm [%d x %d] x [%d x %d]: %.4f s -> %.1f GFLOP/s\n", Ri, di, di, Mi, dt,
               2.0 * Ri * di * Mi * 1e-9 / dt);
        free(a), free(b), free(cc);
    }
    cc_patch_sweep s;
    t0 = now();
    if (cc_patch_mlp_sweep(m, tok, n, false, CC_KERNEL_FAST, NULL, NULL, &s, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double tc = now() - t0;
    printf("patching sweep mlp_out (%d layers x %d positions), causal path: %.2f s (clean loss %.4f)\n", c->n_layers,
           n + 1, tc, s.clean_loss);
    if (naive) {
        cc_patch_sweep s2;
        t0 = now();
        if (cc_patch_mlp_sweep(m, tok, n, true, CC_KERNEL_FAST, NULL, NULL, &s2, &err) != 0) return 1;
        double tn = now() - t0, mx = 0;
        for (int i = 0; i < c->n_layers * (n + 1); i++) {
            double dd = s.delta[i] - s2.delta[i];
            mx = dd > mx ? dd : (-dd > mx ? -dd : mx);
        }
        printf("patching sweep, naive reruns: %.2f s (%.1fx slower); max |delta difference| %.3g\n", tn, tn / tc, mx);
        cc_patch_sweep_free(&s2);
    }
    cc_patch_sweep_free(&s);
    free(tok);
    cc_model_free(m);
    return 0;
}
