// Binary GEMM for binarized networks (Hubara et al. 2016; Rastegari et al. 2016, XNOR-Net): values ±1 packed 64 per
// word (bit 1 = +1, bit 0 = −1), and C[i][j] = Σ_p A[i][p] · B[j][p] = k − 2 · popcount(A_i XOR B_j) over the k
// logical bits (padding bits are 0 in both operands, so they never differ). AVX-512 VPOPCNTDQ where the CPU has it
// (a 4 × 4 block of rows and columns per pass, 512 bits at a time), `__builtin_popcountll` otherwise; run-time
// dispatch, the same integers either way.
#include "CKernels.h"
#include "features.h"
#include <immintrin.h>

void ck_pack_signs(const float *x, int64_t rows, int64_t columns, int64_t ldx, uint64_t *packed) {
    int64_t words = (columns + 63) / 64;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * ldx;
        uint64_t *out = packed + r * words;
        for (int64_t w = 0; w < words; w++) {
            uint64_t bits = 0;
            int64_t end = columns - w * 64 < 64 ? columns - w * 64 : 64;
            for (int64_t b = 0; b < end; b++) bits |= (uint64_t)(row[w * 64 + b] >= 0) << b;
            out[w] = bits;
        }
    }
}

static void binary_portable(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c) {
    int64_t words = (k + 63) / 64;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t differ = 0;
            for (int64_t w = 0; w < words; w++) differ += __builtin_popcountll(a[i * words + w] ^ b[j * words + w]);
            c[i * n + j] = (int32_t)(k - 2 * differ);
        }
}

__attribute__((target("avx512f,avx512vpopcntdq")))
static inline __m512i differ8(__m512i x, __m512i y, __m512i acc) {
    return _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
}

__attribute__((target("avx512f,avx512vpopcntdq")))
static void binary_avx512(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c) {
    int64_t words = (k + 63) / 64;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
            __m512i acc[4][4];
            for (int r = 0; r < 4; r++) for (int s = 0; s < 4; s++) acc[r][s] = _mm512_setzero_si512();
            for (int64_t w = 0; w < words; w += 8) {
                __mmask8 mask = words - w >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (words - w)) - 1);
                __m512i av[4], bv[4];
                for (int r = 0; r < 4; r++) av[r] = _mm512_maskz_loadu_epi64(mask, a + (i + r) * words + w);
                for (int s = 0; s < 4; s++) bv[s] = _mm512_maskz_loadu_epi64(mask, b + (j + s) * words + w);
                for (int r = 0; r < 4; r++)
                    for (int s = 0; s < 4; s++) acc[r][s] = differ8(av[r], bv[s], acc[r][s]);
            }
            for (int r = 0; r < 4; r++)
                for (int s = 0; s < 4; s++)
                    c[(i + r) * n + j + s] = (int32_t)(k - 2 * _mm512_reduce_add_epi64(acc[r][s]));
        }
        for (; j < n; j++)
            for (int r = 0; r < 4; r++) {
                __m512i acc = _mm512_setzero_si512();
                for (int64_t w = 0; w < words; w += 8) {
                    __mmask8 mask = words - w >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (words - w)) - 1);
                    acc = differ8(_mm512_maskz_loadu_epi64(mask, a + (i + r) * words + w),
                                  _mm512_maskz_loadu_epi64(mask, b + j * words + w), acc);
                }
                c[(i + r) * n + j] = (int32_t)(k - 2 * _mm512_reduce_add_epi64(acc));
            }
    }
    if (i < m) binary_portable(m - i, n, k, a + i * words, b, c + i * n);
}

int ck_gemm_binary_with(int vectorized, int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b,
                        int32_t *c) {
    if (m <= 0 || n <= 0) return 1;
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX512F | CK_FEATURE_AVX512VPOPCNTDQ)) return 0;
        binary_avx512(m, n, k, a, b, c);
    } else {
        binary_portable(m, n, k, a, b, c);
    }
    return 1;
}

void ck_gemm_binary(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c) {
    ck_gemm_binary_with(ck_has(CK_FEATURE_AVX512F | CK_FEATURE_AVX512VPOPCNTDQ), m, n, k, a, b, c);
}
