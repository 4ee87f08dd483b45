// The integer engine's depthwise convolution on channels-last uint8 codes, computed directly: for each output pixel,
// each tap of the k × k window adds x·w over a run of channels (contiguous in this layout, so one vector covers 16
// channels), in exact int32; then a row of accumulators is requantized per channel by ck_requantize_u8's step. The
// im2row + GEMM route it replaces multiplies a 1 × k² row by a k² × 1 column per channel and pixel. Cells in the
// padding read the input's zero point, as im2row's do, so the offsets of QuantizedWeights apply unchanged.
// Products of uint8 codes and int8 weights fit int16 exactly (|255 · −128| < 2^15), so the AVX2 path multiplies in
// 16 bits and widens before adding (the AVX-512BW path the same, 32 channels a vector); every path gives the same
// integers and so the same bytes.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <stdlib.h>

typedef void (*accumulate_fn)(const uint8_t *const *taps, int64_t count, const int8_t *weights, int64_t channels,
                              int32_t *acc);

static void accumulate_portable(const uint8_t *const *taps, int64_t count, const int8_t *weights, int64_t channels,
                                int32_t *acc) {
    for (int64_t c = 0; c < channels; c++) acc[c] = 0;
    for (int64_t t = 0; t < count; t++) {
        const uint8_t *x = taps[t];
        const int8_t *w = weights + t * channels;
        for (int64_t c = 0; c < channels; c++) acc[c] += (int32_t)x[c] * (int32_t)w[c];
    }
}

/* Channels from `c` on. */
__attribute__((target("avx2")))
static void accumulate_avx2_from(const uint8_t *const *taps, int64_t count, const int8_t *weights, int64_t channels,
                                 int32_t *acc, int64_t c) {
    for (; c + 16 <= channels; c += 16) {
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256();
        for (int64_t t = 0; t < count; t++) {
            __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(taps[t] + c)));
            __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(weights + t * channels + c)));
            __m256i p = _mm256_mullo_epi16(x, w);
            a0 = _mm256_add_epi32(a0, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(p)));
            a1 = _mm256_add_epi32(a1, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(p, 1)));
        }
        _mm256_storeu_si256((__m256i *)(acc + c), a0);
        _mm256_storeu_si256((__m256i *)(acc + c + 8), a1);
    }
    for (; c < channels; c++) {
        int32_t sum = 0;
        for (int64_t t = 0; t < count; t++) sum += (int32_t)taps[t][c] * (int32_t)weights[t * channels + c];
        acc[c] = sum;
    }
}

__attribute__((target("avx2")))
static void accumulate_avx2(const uint8_t *const *taps, int64_t count, const int8_t *weights, int64_t channels,
                            int32_t *acc) {
    accumulate_avx2_from(taps, count, weights, channels, acc, 0);
}

/* AVX-512BW: the AVX2 steps on 32 channels a vector (the same exact integers). */
__attribute__((target("avx512f,avx512bw")))
static void accumulate_avx512(const uint8_t *const *taps, int64_t count, const int8_t *weights, int64_t channels,
                              int32_t *acc) {
    int64_t c = 0;
    for (; c + 32 <= channels; c += 32) {
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
        for (int64_t t = 0; t < count; t++) {
            __m512i x = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(taps[t] + c)));
            __m512i w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(weights + t * channels + c)));
            __m512i p = _mm512_mullo_epi16(x, w);
            a0 = _mm512_add_epi32(a0, _mm512_cvtepi16_epi32(_mm512_castsi512_si256(p)));
            a1 = _mm512_add_epi32(a1, _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(p, 1)));
        }
        _mm512_storeu_si512(acc + c, a0);
        _mm512_storeu_si512(acc + c + 16, a1);
    }
    if (c < channels) accumulate_avx2_from(taps, count, weights, channels, acc, c);
}

static int depthwise(int vectorized, const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                     const int8_t *weights, int64_t kernel, int64_t stride, int64_t padding, uint8_t paddingCode,
                     const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                     uint8_t *out, int64_t firstRow, int64_t rowCount) {
    accumulate_fn accumulate = accumulate_portable;
    int requantizePath = CK_VECTOR_PORTABLE;
    if (vectorized) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        accumulate = vectorized == 2 && ck_has(CK_AVX512BW) ? accumulate_avx512 : accumulate_avx2;
        requantizePath = ck_vector_path();
    }
    int64_t wo = (width + 2 * padding - kernel) / stride + 1, taps = kernel * kernel;
    int32_t *acc = malloc((size_t)(wo * channels) * sizeof(int32_t));
    uint8_t *pad = malloc((size_t)channels);
    const uint8_t **tap = malloc((size_t)taps * sizeof(*tap));
    if (!acc || !pad || !tap) abort();  /* out of memory for one row of scratch: nothing sensible is left to do */
    for (int64_t c = 0; c < channels; c++) pad[c] = paddingCode;
    for (int64_t oy = firstRow; oy < firstRow + rowCount; oy++) {
        for (int64_t ox = 0; ox < wo; ox++) {
            for (int64_t ky = 0; ky < kernel; ky++) {
                int64_t y = oy * stride - padding + ky;
                for (int64_t kx = 0; kx < kernel; kx++) {
                    int64_t x = ox * stride - padding + kx;
                    int inside = y >= 0 && y < height && x >= 0 && x < width;
                    tap[ky * kernel + kx] = inside ? input + (y * width + x) * channels : pad;
                }
            }
            accumulate(tap, taps, weights, channels, acc + ox * channels);
        }
        ck_requantize_u8_with(requantizePath, acc, wo, channels, channels, offset, multiplier, zeroPoint, low, high,
                              out + (oy - firstRow) * wo * channels, channels);
    }
    free(tap);
    free(pad);
    free(acc);
    return 1;
}

int ck_depthwise_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                              const int8_t *weights, int64_t kernel, int64_t stride, int64_t padding,
                              uint8_t paddingCode, const double *offset, const float *multiplier, int32_t zeroPoint,
                              int32_t low, int32_t high, uint8_t *out, int64_t firstRow, int64_t rowCount) {
    return depthwise(vectorized, input, height, width, channels, weights, kernel, stride, padding, paddingCode,
                     offset, multiplier, zeroPoint, low, high, out, firstRow, rowCount);
}

void ck_depthwise_u8_nhwc(const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                          const int8_t *weights, int64_t kernel, int64_t stride, int64_t padding, uint8_t paddingCode,
                          const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                          uint8_t *out, int64_t firstRow, int64_t rowCount) {
    depthwise(ck_has(CK_AVX512BW) ? 2 : ck_has(CK_FEATURE_AVX2), input, height, width, channels, weights, kernel, stride, padding, paddingCode,
              offset, multiplier, zeroPoint, low, high, out, firstRow, rowCount);
}
