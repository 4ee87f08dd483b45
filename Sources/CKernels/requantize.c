// Requantization: the step after the integer GEMM, int32 accumulators → uint8 activations, with the bias and the
// input zero-point correction folded into a per-channel offset (in accumulator units, kept in double so the bias is
// not rounded to the coarse accumulator grid of low-bit layers) and a fused ReLU/ReLU6 as the clamp bounds.
// The multiply is done in double and rounded half to even, so every GEMM path that produced the same int32
// accumulators gives the same bytes, and the AVX-512 path (8 doubles a lane group) gives the same bytes as the
// portable one: both compute ((double)acc + offset) · (double)multiplier exactly the same way, round half to
// even, clamp, then add the zero point.
#include "CKernels.h"
#include "features.h"
#include <immintrin.h>

/* Round half to even without a libm call: adding and subtracting 1.5 · 2^52 leaves the nearest integer under the
 * default rounding mode (exact for |x| < 2^51, far beyond any accumulator times a multiplier here). */
static inline double round_even(double x) {
    const double magic = 6755399441055744.0;
    volatile double shifted = x + magic;  /* volatile: the sum must be rounded to double before the subtraction */
    return shifted - magic;
}

static inline uint8_t requantize_one(int32_t acc, double offset, float multiplier, int32_t zeroPoint, int32_t low,
                                     int32_t high) {
    double scaled = (double)multiplier * ((double)acc + offset);
    double r = round_even(scaled);
    double lo = (double)(low - zeroPoint), hi = (double)(high - zeroPoint);
    r = r < lo ? lo : (r > hi ? hi : r);
    return (uint8_t)((int32_t)r + zeroPoint);
}

static void requantize_scalar(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                              const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                              int64_t ldo) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < columns; j++)
            out[i * ldo + j] = requantize_one(acc[i * lda + j], offset[j], multiplier[j], zeroPoint, low, high);
}

__attribute__((target("avx512f,avx512bw")))
static void requantize_avx512(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                              const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                              int64_t ldo) {
    const __m512d lo = _mm512_set1_pd((double)(low - zeroPoint)), hi = _mm512_set1_pd((double)(high - zeroPoint));
    const __m512i zp = _mm512_set1_epi32(zeroPoint);
    for (int64_t j = 0; j < columns; j += 16) {
        int64_t left = columns - j;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512d o0 = _mm512_maskz_loadu_pd((__mmask8)(mask & 0xFF), offset + j);
        const __m512d o1 = _mm512_maskz_loadu_pd((__mmask8)(mask >> 8), offset + j + 8);
        const __m512 vm = _mm512_maskz_loadu_ps(mask, multiplier + j);
        const __m512d m0 = _mm512_cvtps_pd(_mm512_castps512_ps256(vm));
        const __m512d m1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(vm), 1)));
        for (int64_t i = 0; i < rows; i++) {
            __m512i va = _mm512_maskz_loadu_epi32(mask, acc + i * lda + j);
            __m512d s0 = _mm512_mul_pd(m0, _mm512_add_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(va)), o0));
            __m512d s1 = _mm512_mul_pd(m1, _mm512_add_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(va, 1)), o1));
            __m256i r0 = _mm512_cvtpd_epi32(_mm512_min_pd(_mm512_max_pd(s0, lo), hi));
            __m256i r1 = _mm512_cvtpd_epi32(_mm512_min_pd(_mm512_max_pd(s1, lo), hi));
            __m512i q = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(r0), r1, 1), zp);
            _mm512_mask_cvtepi32_storeu_epi8(out + i * ldo + j, mask, q);
        }
    }
}

int ck_requantize_u8_with(int vectorized, const int32_t *acc, int64_t rows, int64_t columns, int64_t lda,
                          const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                          uint8_t *out, int64_t ldo) {
    if (vectorized) {
        if (!ck_has(CK_AVX512BW)) return 0;
        requantize_avx512(acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
    } else {
        requantize_scalar(acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
    }
    return 1;
}

void ck_requantize_u8(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                      const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                      int64_t ldo) {
    ck_requantize_u8_with(ck_has(CK_AVX512BW), acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
}
