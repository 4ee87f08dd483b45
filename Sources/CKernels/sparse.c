// Sparse × dense: y (n × rows) += x (n × cols) · Wᵀ with W (rows × cols) in CSR, the kernel a pruned linear layer
// runs at inference. Fewer than 4 samples: each row is a dot product whose inputs are gathered 16 at a time. More:
// samples go in blocks of up to 16: the block of x is transposed once (cols × w floats), then every
// nonzero W[r][c] adds W[r][c] · x[·][c] to 16 samples at once with one AVX-512 FMA, and the 16 sums of a row are
// scattered back into y. Work is proportional to the nonzeros, not to rows × cols. A portable path computes the same
// sums in the same order: nonzero j of a row goes into partial sum j mod 4 by a fused multiply-add, and the row's
// result is (s0 + s1) + (s2 + s3).
#include "CKernels.h"
#include "ck_features.h"
#include "transpose16.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#define BLOCK 16

/* Few samples: per row, nonzero j of the row goes into lane j mod 16 (a gather of 16 inputs on AVX-512), and the
 * lanes are summed by halving: lane i += lane i + h for h = 8, 4, 2, 1. */
#define FEW_SAMPLES 4

static float halving_sum(float lanes[16]) {
    for (int h = 8; h >= 1; h /= 2)
        for (int i = 0; i < h; i++) lanes[i] += lanes[i + h];
    return lanes[0];
}

static void spmm_portable(int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex,
                          const float *values, int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy) {
    if (n < FEW_SAMPLES) {
        for (int64_t s = 0; s < n; s++)
            for (int64_t r = 0; r < rows; r++) {
                float lanes[16] = {0};
                for (int32_t p = rowStart[r]; p < rowStart[r + 1]; p++) {
                    int j = (p - rowStart[r]) & 15;
                    lanes[j] = fmaf(values[p], x[s * ldx + columnIndex[p]], lanes[j]);
                }
                y[s * ldy + r] += halving_sum(lanes);
            }
        return;
    }
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * ldx;
        float *ys = y + s * ldy;
        for (int64_t r = 0; r < rows; r++) {
            float sum[4] = {0, 0, 0, 0};
            for (int32_t p = rowStart[r]; p < rowStart[r + 1]; p++) {
                int j = (p - rowStart[r]) & 3;
                sum[j] = fmaf(values[p], xs[columnIndex[p]], sum[j]);
            }
            ys[r] += (sum[0] + sum[1]) + (sum[2] + sum[3]);
        }
    }
    (void)cols;
}

__attribute__((target("avx512f")))
static void spmm_gather_avx512(int64_t rows, const int32_t *rowStart, const int32_t *columnIndex, const float *values,
                               int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy) {
    for (int64_t s = 0; s < n; s++) {
        const float *xs = x + s * ldx;
        for (int64_t r = 0; r < rows; r++) {
            __m512 acc = _mm512_setzero_ps();
            for (int32_t p = rowStart[r]; p < rowStart[r + 1]; p += 16) {
                int32_t left = rowStart[r + 1] - p;
                __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
                __m512i index = _mm512_maskz_loadu_epi32(mask, columnIndex + p);
                __m512 w = _mm512_maskz_loadu_ps(mask, values + p);
                __m512 gathered = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask, index, xs, 4);
                acc = _mm512_mask3_fmadd_ps(w, gathered, acc, mask);
            }
            float lanes[16];
            _mm512_storeu_ps(lanes, acc);
            y[s * ldy + r] += halving_sum(lanes);
        }
    }
}

__attribute__((target("avx512f")))
static void spmm_avx512(int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex,
                        const float *values, int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy) {
    float *xt = aligned_alloc(64, (size_t)((cols * BLOCK * sizeof(float) + 63) / 64 * 64));
    if (!xt) abort();  /* out of memory for one transposed block: nothing sensible is left to do */
    for (int64_t s0 = 0; s0 < n; s0 += BLOCK) {
        int64_t w = n - s0 < BLOCK ? n - s0 : BLOCK;
        __mmask16 mask = (__mmask16)((1u << w) - 1);
        int64_t c0 = 0;
        if (w == BLOCK) {  /* 16 columns of 16 samples at a time, transposed in registers */
            __m512 columns[16];
            for (; c0 + 16 <= cols; c0 += 16) {
                transpose16(x + s0 * ldx + c0, ldx, columns);
                for (int p = 0; p < 16; p++) _mm512_storeu_ps(xt + (c0 + p) * BLOCK, columns[p]);
            }
        }
        for (int64_t c = c0; c < cols; c++)
            for (int64_t s = 0; s < w; s++) xt[c * w + s] = x[(s0 + s) * ldx + c];
        for (int64_t r = 0; r < rows; r++) {
            /* Four partial sums (nonzero j of the row goes to sum j mod 4) hide the FMA latency. */
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            int32_t p = rowStart[r], end = rowStart[r + 1];
            for (; p + 4 <= end; p += 4)
                for (int j = 0; j < 4; j++)
                    acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(values[p + j]),
                                             _mm512_maskz_loadu_ps(mask, xt + columnIndex[p + j] * w), acc[j]);
            for (int j = 0; p < end; p++, j++)
                acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(values[p]), _mm512_maskz_loadu_ps(mask, xt + columnIndex[p] * w),
                                         acc[j]);
            float sums[BLOCK];
            _mm512_storeu_ps(sums, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
            for (int64_t s = 0; s < w; s++) y[(s0 + s) * ldy + r] += sums[s];
        }
    }
    free(xt);
}

int ck_spmm_csr_with(int vectorized, int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex,
                     const float *values, int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy) {
    if (rows <= 0 || n <= 0) return 1;
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX512F)) return 0;
        if (n < FEW_SAMPLES) spmm_gather_avx512(rows, rowStart, columnIndex, values, n, x, ldx, y, ldy);
        else spmm_avx512(rows, cols, rowStart, columnIndex, values, n, x, ldx, y, ldy);
    } else {
        spmm_portable(rows, cols, rowStart, columnIndex, values, n, x, ldx, y, ldy);
    }
    return 1;
}

void ck_spmm_csr(int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex, const float *values,
                 int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy) {
    ck_spmm_csr_with(ck_has(CK_FEATURE_AVX512F), rows, cols, rowStart, columnIndex, values, n, x, ldx, y, ldy);
}
