/* topk_bf16.h — the top-k screen in bfloat16 (internal to topk.c): factors
 * rounded to bfloat16, products accumulated in float32 by AVX-512 BF16
 * (vdpbf16ps), compared with each row's thresholds in registers, so that no
 * tile is written. Twice the multiply-adds per instruction of a float32 GEMM;
 * the wider rounding bound (topk.c) leaves a few more entries to recheck.
 * Used only where the CPU has avx512_bf16 (cc_bf16_available). */
#ifndef CIRCUITC_TOPK_BF16_H
#define CIRCUITC_TOPK_BF16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Columns per packed panel of B. */
#define CC_BF16_PANEL 16

/* Unit roundoff of rounding a float64 to bfloat16 through float32. */
#define CC_BF16_ROUNDING (0x1p-8 + 0x1p-23)

bool cc_bf16_available(void);

/* Pairs per row: ceil(m / 2). */
int cc_bf16_pairs(int m);

/* Packs X [rows, m] (float64 row-major) as bfloat16 pairs: OUT [rows, pairs] uint32. */
void cc_bf16_pack_rows(const double *X, int rows, int m, uint32_t *out);

/* Packs the columns of B given as Bt [n, m] (row j = column j) into panels of
 * CC_BF16_PANEL columns: OUT [ceil(n / PANEL), pairs, PANEL] uint32, zero-padded. */
void cc_bf16_pack_cols(const double *Bt, int n, int m, uint32_t *out);

/* An entry the thresholds could not settle: row index into ROWS, column. */
typedef struct {
    int r, col;
} cc_bf16_hit;

/* For the NR rows ROWS[r] of packed A against columns [c0, c0 + cw) of packed
 * B (c0 a multiple of PANEL, c0 + cw <= n): ABOVE[r] += #{t > HI[r]}, and every
 * column with LO[r] <= t <= HI[r] goes to HITS. Returns the number of hits
 * (at most NR * CW). */
long cc_bf16_scan(const uint32_t *Apk, const int *rows, int nr, const uint32_t *Bpk, int pairs, int c0, int cw,
                  const float *hi, const float *lo, long *above, cc_bf16_hit *hits);

#endif
