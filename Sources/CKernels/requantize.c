// Requantization: the step after the integer GEMM, int32 accumulators → uint8 activations, with the bias and the
// input zero-point correction folded into a per-channel offset (in accumulator units, kept in double by the caller so
// the bias is not rounded to the coarse accumulator grid of low-bit layers) and a fused ReLU/ReLU6 as the clamp
// bounds. Each output is computed in float, as MLAS and XNNPACK requantize: s = (float)acc · m + c with
// c = (float)(offset · m) (the offset scaled in double, then rounded once), clamped to the bounds less the zero point,
// rounded half to even, plus the zero point. Every path does exactly these float operations (no fused multiply-add),
// so every GEMM path that produced the same int32 accumulators gives the same bytes on every instruction set. One
// float multiply-add a value instead of double arithmetic on two half-vectors: a third of the cost, which had been a
// third of an int8 MobileNetV2's time.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <string.h>

#pragma clang fp contract(off)

/* Round half to even without a libm call: adding and subtracting 1.5 · 2^52 leaves the nearest integer under the
 * default rounding mode (exact for |x| < 2^51, far beyond any accumulator times a multiplier here). */
static inline double round_even(double x) {
    const double magic = 6755399441055744.0;
    volatile double shifted = x + magic;  /* volatile: the sum must be rounded to double before the subtraction */
    return shifted - magic;
}

/* The same in float, for |x| < 2^22 (the requantized values are clamped to ±255 first). */
static inline float round_even_float(float x) {
    const float magic = 12582912.0f;
    volatile float shifted = x + magic;
    return shifted - magic;
}

/* The per-channel constant term, in output units. */
static inline float scaled_offset(double offset, float multiplier) { return (float)(offset * (double)multiplier); }

static inline uint8_t requantize_one(int32_t acc, float c, float multiplier, int32_t zeroPoint, int32_t low,
                                     int32_t high) {
    float s = (float)acc * multiplier + c;
    float lo = (float)(low - zeroPoint), hi = (float)(high - zeroPoint);
    s = s < lo ? lo : (s > hi ? hi : s);
    return (uint8_t)((int32_t)round_even_float(s) + zeroPoint);
}

static void requantize_scalar(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                              const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                              int64_t ldo) {
    for (int64_t j = 0; j < columns; j++) {
        float c = scaled_offset(offset[j], multiplier[j]);
        for (int64_t i = 0; i < rows; i++)
            out[i * ldo + j] = requantize_one(acc[i * lda + j], c, multiplier[j], zeroPoint, low, high);
    }
}

/* Sixteen codes (0…255 in int32 lanes) as bytes: one 16-byte store when every lane is kept, else the masked
 * narrowing store (measured here: faster than a byte-masked store of the narrowed register). */
__attribute__((target("avx512f"), always_inline))
static inline void store_codes(uint8_t *out, __mmask16 mask, __m512i q) {
    if (mask == 0xFFFF) _mm_storeu_si128((__m128i *)out, _mm512_cvtepi32_epi8(q));
    else _mm512_mask_cvtepi32_storeu_epi8(out, mask, q);
}

/* AVX-512: 16 channels a vector, the clamp before the conversion (cvtps rounds half to even; lo and hi are whole
 * numbers, so clamping before or after rounding agrees), two rows at a time so their chains overlap. */
__attribute__((target("avx512f,avx512bw")))
static void requantize_avx512(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                              const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                              int64_t ldo) {
    const __m512 lo = _mm512_set1_ps((float)(low - zeroPoint)), hi = _mm512_set1_ps((float)(high - zeroPoint));
    const __m512i zp = _mm512_set1_epi32(zeroPoint);
    for (int64_t j = 0; j < columns; j += 16) {
        int64_t left = columns - j;
        __mmask16 mask = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __m512 vm = _mm512_maskz_loadu_ps(mask, multiplier + j);
        const __m512d o0 = _mm512_maskz_loadu_pd((__mmask8)(mask & 0xFF), offset + j);
        const __m512d o1 = _mm512_maskz_loadu_pd((__mmask8)(mask >> 8), offset + j + 8);
        const __m512d m0 = _mm512_cvtps_pd(_mm512_castps512_ps256(vm));
        const __m512d m1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(vm), 1)));
        const __m512 vc = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_mul_pd(o0, m0)))),
            _mm256_castps_pd(_mm512_cvtpd_ps(_mm512_mul_pd(o1, m1))), 1));
        int64_t i = 0;
        for (; i + 2 <= rows; i += 2) {
            __m512 s0 = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, acc + i * lda + j));
            __m512 s1 = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, acc + (i + 1) * lda + j));
            s0 = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_mul_ps(s0, vm), vc), lo), hi);
            s1 = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_mul_ps(s1, vm), vc), lo), hi);
            __m512i q0 = _mm512_add_epi32(_mm512_cvtps_epi32(s0), zp), q1 = _mm512_add_epi32(_mm512_cvtps_epi32(s1), zp);
            store_codes(out + i * ldo + j, mask, q0);
            store_codes(out + (i + 1) * ldo + j, mask, q1);
        }
        if (i < rows) {
            __m512 s0 = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(mask, acc + i * lda + j));
            s0 = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_mul_ps(s0, vm), vc), lo), hi);
            __m512i q0 = _mm512_add_epi32(_mm512_cvtps_epi32(s0), zp);
            store_codes(out + i * ldo + j, mask, q0);
        }
    }
}

/* AVX2: eight channels a vector, the same operations; the tail of fewer than eight channels is the portable loop. */
__attribute__((target("avx2")))
static void requantize_avx2(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                            const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                            int64_t ldo) {
    const __m256 lo = _mm256_set1_ps((float)(low - zeroPoint)), hi = _mm256_set1_ps((float)(high - zeroPoint));
    const __m128i zp = _mm_set1_epi32(zeroPoint);
    int64_t j8 = columns / 8 * 8;
    for (int64_t j = 0; j < j8; j += 8) {
        const __m256 vm = _mm256_loadu_ps(multiplier + j);
        float c[8];
        for (int t = 0; t < 8; t++) c[t] = scaled_offset(offset[j + t], multiplier[j + t]);
        const __m256 vc = _mm256_loadu_ps(c);
        for (int64_t i = 0; i < rows; i++) {
            __m256 s = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i * lda + j)));
            s = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(_mm256_mul_ps(s, vm), vc), lo), hi);
            __m256i q = _mm256_cvtps_epi32(s);
            __m128i q0 = _mm_add_epi32(_mm256_castsi256_si128(q), zp), q1 = _mm_add_epi32(_mm256_extracti128_si256(q, 1), zp);
            /* Eight values in 0…255: to int16, then to bytes, stored as one 8-byte word. */
            __m128i words = _mm_packs_epi32(q0, q1);
            _mm_storel_epi64((__m128i *)(out + i * ldo + j), _mm_packus_epi16(words, words));
        }
    }
    for (int64_t j = j8; j < columns; j++) {
        float c = scaled_offset(offset[j], multiplier[j]);
        for (int64_t i = 0; i < rows; i++)
            out[i * ldo + j] = requantize_one(acc[i * lda + j], c, multiplier[j], zeroPoint, low, high);
    }
}

int ck_requantize_u8_with(int vectorized, const int32_t *acc, int64_t rows, int64_t columns, int64_t lda,
                          const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                          uint8_t *out, int64_t ldo) {
    if (vectorized == CK_VECTOR_AVX512) {
        if (!ck_has(CK_AVX512BW)) return 0;
        requantize_avx512(acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
    } else if (vectorized == CK_VECTOR_AVX2) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        requantize_avx2(acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
    } else {
        requantize_scalar(acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
    }
    return 1;
}

void ck_requantize_u8(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                      const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                      int64_t ldo) {
    ck_requantize_u8_with(ck_vector_path(), acc, rows, columns, lda, offset, multiplier, zeroPoint, low, high, out, ldo);
}

/* ------------------------------------------------------------------ the integer add */

/* out[i] = clamp(rint(Σ_j multiplier[j] · (input_j[i] − zero[j])) + zy, low, high): the sum in double, term by term
 * from 0 in input order, rounded half to even. Both paths do exactly these operations (no fused multiply-add). */
static void add_portable(const uint8_t *const *inputs, int64_t count, int64_t length, const double *multiplier,
                         const double *zero, double zy, double low, double high, uint8_t *out) {
    for (int64_t i = 0; i < length; i++) {
        double total = 0.0;
        for (int64_t j = 0; j < count; j++) total += multiplier[j] * ((double)inputs[j][i] - zero[j]);
        double r = round_even(total) + zy;
        r = r < low ? low : (r > high ? high : r);
        out[i] = (uint8_t)(int32_t)r;
    }
}

__attribute__((target("avx2")))
static void add_avx2(const uint8_t *const *inputs, int64_t count, int64_t length, const double *multiplier,
                     const double *zero, double zy, double low, double high, uint8_t *out) {
    const __m256d vzy = _mm256_set1_pd(zy), vlo = _mm256_set1_pd(low), vhi = _mm256_set1_pd(high);
    int64_t i = 0;
    for (; i + 4 <= length; i += 4) {
        __m256d total = _mm256_setzero_pd();
        for (int64_t j = 0; j < count; j++) {
            int32_t bytes;
            memcpy(&bytes, inputs[j] + i, 4);
            __m256d x = _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes)));
            total = _mm256_add_pd(total, _mm256_mul_pd(_mm256_set1_pd(multiplier[j]),
                                                       _mm256_sub_pd(x, _mm256_set1_pd(zero[j]))));
        }
        __m256d r = _mm256_add_pd(_mm256_round_pd(total, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vzy);
        r = _mm256_min_pd(_mm256_max_pd(r, vlo), vhi);
        __m128i q = _mm256_cvtpd_epi32(r);
        q = _mm_packus_epi16(_mm_packs_epi32(q, q), q);
        int32_t packed = _mm_cvtsi128_si32(q);
        memcpy(out + i, &packed, 4);
    }
    if (i < length) {
        const uint8_t *rest[count > 0 ? count : 1];
        for (int64_t j = 0; j < count; j++) rest[j] = inputs[j] + i;
        add_portable(rest, count, length - i, multiplier, zero, zy, low, high, out + i);
    }
}

int ck_add_u8_with(int vectorized, const uint8_t *const *inputs, int64_t count, int64_t length,
                   const double *multiplier, const double *zero, double zy, double low, double high, uint8_t *out) {
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        add_avx2(inputs, count, length, multiplier, zero, zy, low, high, out);
    } else {
        add_portable(inputs, count, length, multiplier, zero, zy, low, high, out);
    }
    return 1;
}

void ck_add_u8(const uint8_t *const *inputs, int64_t count, int64_t length, const double *multiplier,
               const double *zero, double zy, double low, double high, uint8_t *out) {
    ck_add_u8_with(ck_has(CK_FEATURE_AVX2), inputs, count, length, multiplier, zero, zy, low, high, out);
}

/* ------------------------------------------------------------------ the integer product and table lookups */

/* out = clamp(rint(multiplier · (a − za)(b − zb)) + zy, low, high); the product of centred codes is exact in int32
 * (|255 · 255| < 2^31), then scaled in double and rounded half to even, as the portable loop does. b is read at
 * r · rowStrideB + j · columnStrideB, so one routine serves same-shape products and (C, 1, 1) gates in either
 * layout. */
static inline uint8_t product_one(uint8_t a, uint8_t b, int32_t za, int32_t zb, double multiplier, double zy,
                                  double low, double high) {
    double r = round_even(multiplier * (double)(((int32_t)a - za) * ((int32_t)b - zb))) + zy;
    r = r < low ? low : (r > high ? high : r);
    return (uint8_t)(int32_t)r;
}

static void multiply_portable(const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns,
                              int64_t rowStrideB, int64_t columnStrideB, int32_t za, int32_t zb, double multiplier,
                              double zy, double low, double high, uint8_t *out) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < columns; j++)
            out[r * columns + j] = product_one(a[r * columns + j], b[r * rowStrideB + j * columnStrideB], za, zb,
                                               multiplier, zy, low, high);
}

__attribute__((target("avx2")))
static void multiply_avx2(const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns, int64_t rowStrideB,
                          int64_t columnStrideB, int32_t za, int32_t zb, double multiplier, double zy, double low,
                          double high, uint8_t *out) {
    const __m256d vm = _mm256_set1_pd(multiplier), vzy = _mm256_set1_pd(zy), vlo = _mm256_set1_pd(low),
                  vhi = _mm256_set1_pd(high);
    const __m128i vza = _mm_set1_epi32(za), vzb = _mm_set1_epi32(zb);
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *ra = a + r * columns, *rb = b + r * rowStrideB;
        uint8_t *ro = out + r * columns;
        int64_t j = 0;
        for (; j + 4 <= columns; j += 4) {
            int32_t bytesA, bytesB;
            memcpy(&bytesA, ra + j, 4);
            __m128i va = _mm_sub_epi32(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytesA)), vza), vb;
            if (columnStrideB == 1) {
                memcpy(&bytesB, rb + j, 4);
                vb = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytesB));
            } else if (columnStrideB == 0) {
                vb = _mm_set1_epi32(rb[0]);
            } else {
                vb = _mm_setr_epi32(rb[j * columnStrideB], rb[(j + 1) * columnStrideB], rb[(j + 2) * columnStrideB],
                                    rb[(j + 3) * columnStrideB]);
            }
            __m128i p = _mm_mullo_epi32(va, _mm_sub_epi32(vb, vzb));
            __m256d s = _mm256_mul_pd(vm, _mm256_cvtepi32_pd(p));
            s = _mm256_add_pd(_mm256_round_pd(s, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vzy);
            s = _mm256_min_pd(_mm256_max_pd(s, vlo), vhi);
            __m128i q = _mm256_cvtpd_epi32(s);
            q = _mm_packus_epi16(_mm_packs_epi32(q, q), q);
            int32_t packed = _mm_cvtsi128_si32(q);
            memcpy(ro + j, &packed, 4);
        }
        for (; j < columns; j++)
            ro[j] = product_one(ra[j], rb[j * columnStrideB], za, zb, multiplier, zy, low, high);
    }
}

int ck_multiply_u8_with(int vectorized, const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns,
                        int64_t rowStrideB, int64_t columnStrideB, int32_t za, int32_t zb, double multiplier,
                        double zy, double low, double high, uint8_t *out) {
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        multiply_avx2(a, b, rows, columns, rowStrideB, columnStrideB, za, zb, multiplier, zy, low, high, out);
    } else {
        multiply_portable(a, b, rows, columns, rowStrideB, columnStrideB, za, zb, multiplier, zy, low, high, out);
    }
    return 1;
}

void ck_multiply_u8(const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns, int64_t rowStrideB,
                    int64_t columnStrideB, int32_t za, int32_t zb, double multiplier, double zy, double low,
                    double high, uint8_t *out) {
    ck_multiply_u8_with(ck_has(CK_FEATURE_AVX2), a, b, rows, columns, rowStrideB, columnStrideB, za, zb, multiplier,
                        zy, low, high, out);
}

void ck_lookup_u8(const uint8_t *x, int64_t count, const uint8_t *table, uint8_t *out) {
    for (int64_t i = 0; i < count; i++) out[i] = table[x[i]];
}
