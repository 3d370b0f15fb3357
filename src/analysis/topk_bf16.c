/* topk_bf16.c — the bfloat16 top-k screen (topk_bf16.h). The kernel is
 * compiled for AVX-512 BF16 through function attributes and only called after
 * cc_bf16_available() said the CPU has it. */
#include "topk_bf16.h"

#include <immintrin.h>
#include <string.h>

enum { MICRO_ROWS = 8, MICRO_COLS = 2 * CC_BF16_PANEL };

bool cc_bf16_available(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

int cc_bf16_pairs(int m) { return (m + 1) / 2; }

/* Round to nearest even: float64 -> float32 -> bfloat16 (finite inputs). */
static uint32_t to_bf16(double x)
{
    float f = (float)x;
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    b += 0x7fff + ((b >> 16) & 1);
    return b >> 16;
}

/* The pair (x[2p], x[2p+1]) of a row of length m, the even element in the low half. */
static uint32_t pair_of(const double *x, int m, int p)
{
    uint32_t lo = to_bf16(x[2 * p]), hi = 2 * p + 1 < m ? to_bf16(x[2 * p + 1]) : 0;
    return lo | hi << 16;
}

void cc_bf16_pack_rows(const double *X, int rows, int m, uint32_t *out)
{
    int pairs = cc_bf16_pairs(m);
    for (int i = 0; i < rows; i++)
        for (int p = 0; p < pairs; p++) out[(size_t)i * pairs + p] = pair_of(X + (size_t)i * m, m, p);
}

void cc_bf16_pack_cols(const double *Bt, int n, int m, uint32_t *out)
{
    int pairs = cc_bf16_pairs(m), panels = (n + CC_BF16_PANEL - 1) / CC_BF16_PANEL;
    for (int P = 0; P < panels; P++)
        for (int p = 0; p < pairs; p++)
            for (int c = 0; c < CC_BF16_PANEL; c++) {
                int j = P * CC_BF16_PANEL + c;
                out[((size_t)P * pairs + p) * CC_BF16_PANEL + c] = j < n ? pair_of(Bt + (size_t)j * m, m, p) : 0;
            }
}

/* Appends the columns set in NEAR (lanes of the panel at column J0) to HITS. */
static long add_hits(unsigned near, int r, int j0, cc_bf16_hit *hits, long nh)
{
    while (near) {
        hits[nh++] = (cc_bf16_hit){r, j0 + __builtin_ctz(near)};
        near &= near - 1;
    }
    return nh;
}

__attribute__((target("avx512f,avx512bf16"))) long cc_bf16_scan(const uint32_t *Apk, const int *rows, int nr,
                                                                const uint32_t *Bpk, int pairs, int c0, int cw,
                                                                const float *hi, const float *lo, long *above,
                                                                cc_bf16_hit *hits)
{
    long nh = 0;
    for (int r0 = 0; r0 < nr; r0 += MICRO_ROWS) {
        int rb = nr - r0 < MICRO_ROWS ? nr - r0 : MICRO_ROWS;
        const uint32_t *a[MICRO_ROWS];
        for (int r = 0; r < MICRO_ROWS; r++) a[r] = Apk + (size_t)rows[r0 + (r < rb ? r : 0)] * pairs;
        for (int j0 = c0; j0 < c0 + cw; j0 += MICRO_COLS) {
            int w = c0 + cw - j0;
            const uint32_t *b0 = Bpk + (size_t)(j0 / CC_BF16_PANEL) * pairs * CC_BF16_PANEL;
            const uint32_t *b1 = w > CC_BF16_PANEL ? b0 + (size_t)pairs * CC_BF16_PANEL : b0;
            __m512 acc0[MICRO_ROWS], acc1[MICRO_ROWS];
            for (int r = 0; r < MICRO_ROWS; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
            for (int p = 0; p < pairs; p++) {
                __m512bh B0 = (__m512bh)_mm512_loadu_si512(b0 + (size_t)p * CC_BF16_PANEL);
                __m512bh B1 = (__m512bh)_mm512_loadu_si512(b1 + (size_t)p * CC_BF16_PANEL);
                for (int r = 0; r < MICRO_ROWS; r++) {
                    __m512bh A = (__m512bh)_mm512_set1_epi32((int)a[r][p]);
                    acc0[r] = _mm512_dpbf16_ps(acc0[r], A, B0);
                    acc1[r] = _mm512_dpbf16_ps(acc1[r], A, B1);
                }
            }
            __mmask16 valid0 = w >= CC_BF16_PANEL ? 0xffff : (__mmask16)((1u << w) - 1);
            __mmask16 valid1 = w >= MICRO_COLS ? 0xffff
                               : w > CC_BF16_PANEL ? (__mmask16)((1u << (w - CC_BF16_PANEL)) - 1)
                                                   : 0;
            for (int r = 0; r < rb; r++) {
                __m512 h = _mm512_set1_ps(hi[r0 + r]), l = _mm512_set1_ps(lo[r0 + r]);
                __mmask16 up0 = _mm512_mask_cmp_ps_mask(valid0, acc0[r], h, _CMP_GT_OQ);
                __mmask16 up1 = _mm512_mask_cmp_ps_mask(valid1, acc1[r], h, _CMP_GT_OQ);
                __mmask16 near0 = _mm512_mask_cmp_ps_mask(valid0, acc0[r], l, _CMP_GE_OQ) & ~up0;
                __mmask16 near1 = _mm512_mask_cmp_ps_mask(valid1, acc1[r], l, _CMP_GE_OQ) & ~up1;
                above[r0 + r] += __builtin_popcount(up0) + __builtin_popcount(up1);
                nh = add_hits(near0, r0 + r, j0, hits, nh);
                nh = add_hits(near1, r0 + r, j0 + CC_BF16_PANEL, hits, nh);
            }
        }
    }
    return nh;
}
