// Binary GEMM for binarized networks (Hubara et al. 2016; Rastegari et al. 2016, XNOR-Net): values ±1 packed 64 per
// word (bit 1 = +1, bit 0 = −1), and C[i][j] = Σ_p A[i][p] · B[j][p] = k − 2 · popcount(A_i XOR B_j) over the k
// logical bits (padding bits are 0 in both operands, so they never differ). AVX-512 VPOPCNTDQ where the CPU has it
// (a 4 × 4 block of rows and columns per pass, 512 bits at a time), `__builtin_popcountll` otherwise; run-time
// dispatch, the same integers either way.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <stdlib.h>

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

// Short rows (fewer than 16 words, as in a binary convolution's k·k·C bits): the 4 × 4 blocks above would spend
// most of their time in horizontal reductions, so B is transposed to words-major once per call and each lane of a
// vector accumulates one column: a row's word broadcast, XORed with 8 columns' words, popcounts added.
__attribute__((target("avx512f,avx512vpopcntdq")))
static void binary_avx512_short(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c) {
    int64_t words = (k + 63) / 64;
    uint64_t *bt = malloc((size_t)(words * n) * sizeof(uint64_t));
    if (!bt) { binary_portable(m, n, k, a, b, c); return; }
    for (int64_t j = 0; j < n; j++)
        for (int64_t w = 0; w < words; w++) bt[w * n + j] = b[j * words + w];
    const __m512i kk = _mm512_set1_epi64(k);
    for (int64_t i = 0; i < m; i++) {
        const uint64_t *ai = a + i * words;
        int32_t *ci = c + i * n;
        int64_t j = 0;
        for (; j + 32 <= n; j += 32) {
            __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
            for (int64_t w = 0; w < words; w++) {
                __m512i x = _mm512_set1_epi64((long long)ai[w]);
                const uint64_t *row = bt + w * n + j;
                acc0 = differ8(x, _mm512_loadu_si512(row), acc0);
                acc1 = differ8(x, _mm512_loadu_si512(row + 8), acc1);
                acc2 = differ8(x, _mm512_loadu_si512(row + 16), acc2);
                acc3 = differ8(x, _mm512_loadu_si512(row + 24), acc3);
            }
            _mm256_storeu_si256((__m256i *)(ci + j), _mm512_cvtepi64_epi32(_mm512_sub_epi64(kk, _mm512_slli_epi64(acc0, 1))));
            _mm256_storeu_si256((__m256i *)(ci + j + 8), _mm512_cvtepi64_epi32(_mm512_sub_epi64(kk, _mm512_slli_epi64(acc1, 1))));
            _mm256_storeu_si256((__m256i *)(ci + j + 16), _mm512_cvtepi64_epi32(_mm512_sub_epi64(kk, _mm512_slli_epi64(acc2, 1))));
            _mm256_storeu_si256((__m256i *)(ci + j + 24), _mm512_cvtepi64_epi32(_mm512_sub_epi64(kk, _mm512_slli_epi64(acc3, 1))));
        }
        for (; j < n; j += 8) {
            __mmask8 mask = n - j >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n - j)) - 1);
            __m512i acc = _mm512_setzero_si512();
            for (int64_t w = 0; w < words; w++)
                acc = differ8(_mm512_set1_epi64((long long)ai[w]), _mm512_maskz_loadu_epi64(mask, bt + w * n + j), acc);
            _mm512_mask_cvtepi64_storeu_epi32(ci + j, mask, _mm512_sub_epi64(kk, _mm512_slli_epi64(acc, 1)));
        }
    }
    free(bt);
}

int ck_gemm_binary_with(int vectorized, int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b,
                        int32_t *c) {
    if (m <= 0 || n <= 0) return 1;
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX512F | CK_FEATURE_AVX512VPOPCNTDQ)) return 0;
        if ((k + 63) / 64 < 16 && n >= 8) binary_avx512_short(m, n, k, a, b, c);
        else binary_avx512(m, n, k, a, b, c);
    } else {
        binary_portable(m, n, k, a, b, c);
    }
    return 1;
}

void ck_gemm_binary(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c) {
    ck_gemm_binary_with(ck_has(CK_FEATURE_AVX512F | CK_FEATURE_AVX512VPOPCNTDQ), m, n, k, a, b, c);
}

// ---- Binary convolution: sign planes and bit-packed im2row ----
//
// A binary convolution is a binary GEMM of "rows" (one per output position, the k·k·C input bits it sees, tap by
// tap, C bits a tap) with the weights packed in the same order (out, ky, kx, c). The input's signs are first packed
// per position (`ck_pack_signs_channels`: C bits, ⌈C/64⌉ words a position); each row is then the concatenation of
// the k·k taps' words at bit offsets t·C. A tap that falls in the padding has no value to binarize — padding is 0,
// which ±1 cannot express — so it is written as C one-bits (+1) and the layer subtracts their contribution, the sum
// of those taps' weights, which depends only on the position and the weights (see BinaryConv2d).

void ck_pack_signs_channels(const float *x, int64_t channels, int64_t positions, uint64_t *out) {
    int64_t words = (channels + 63) / 64;
    for (int64_t i = 0; i < positions * words; i++) out[i] = 0;
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = x + c * positions;
        uint64_t *base = out + c / 64;
        uint64_t bit = 1ull << (c % 64);
        for (int64_t p = 0; p < positions; p++) base[p * words] |= plane[p] >= 0 ? bit : 0;
    }
}

/// ORs the first `n` bits of `src` into `dst` at bit `offset` (dst's bits there must be 0).
static inline void put_bits(uint64_t *dst, int64_t offset, const uint64_t *src, int64_t n) {
    int64_t word = offset >> 6, shift = offset & 63, full = n >> 6, rest = n & 63;
    if (shift == 0) {
        for (int64_t i = 0; i < full; i++) dst[word + i] |= src[i];
        if (rest) dst[word + full] |= src[full] & ((1ull << rest) - 1);
        return;
    }
    for (int64_t i = 0; i < full; i++) {
        dst[word + i] |= src[i] << shift;
        dst[word + i + 1] |= src[i] >> (64 - shift);
    }
    if (rest) {
        uint64_t v = src[full] & ((1ull << rest) - 1);
        dst[word + full] |= v << shift;
        if (shift + rest > 64) dst[word + full + 1] |= v >> (64 - shift);
    }
}

void ck_im2row_binary(const uint64_t *planes, int64_t channels, int64_t height, int64_t width, int64_t kernel,
                      int64_t stride, int64_t padding, int64_t out_height, int64_t out_width, const uint64_t *ones,
                      uint64_t *rows) {
    int64_t words = (channels + 63) / 64;
    int64_t row_words = (kernel * kernel * channels + 63) / 64;
    for (int64_t oy = 0; oy < out_height; oy++)
        for (int64_t ox = 0; ox < out_width; ox++) {
            uint64_t *row = rows + (oy * out_width + ox) * row_words;
            for (int64_t w = 0; w < row_words; w++) row[w] = 0;
            int64_t offset = 0;
            for (int64_t ky = 0; ky < kernel; ky++) {
                int64_t iy = oy * stride - padding + ky;
                for (int64_t kx = 0; kx < kernel; kx++, offset += channels) {
                    int64_t ix = ox * stride - padding + kx;
                    int inside = iy >= 0 && iy < height && ix >= 0 && ix < width;
                    put_bits(row, offset, inside ? planes + (iy * width + ix) * words : ones, channels);
                }
            }
        }
}
