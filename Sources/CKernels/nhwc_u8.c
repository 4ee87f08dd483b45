// The integer engine's activation layout: uint8 codes channels-last (N, H, W, C), as int8 engines keep them. In this
// layout an im2row row is a run of whole pixels (C contiguous codes each), the GEMM's pixels × channels result is
// already the next layer's input, and max pooling is a vector maximum over channels. Conversions to and from the
// float engine's NCHW sit at the edges of the integer graph.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <string.h>

/* The im2row loop, written once over two ways of moving a run of bytes: COPY(dst, src, n) and FILL(dst, v, n). */
#define IM2ROW_BODY(COPY, FILL)                                                                                   \
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1;  \
    int64_t cg = groupChannels, run = kernel * cg;                                                                \
    int contiguous = cg == channels; /* a window row is then one run of kernel × C codes */                       \
    const uint8_t *base = input + firstChannel;                                                                   \
    for (int64_t oy = 0; oy < ho; oy++) {                                                                         \
        for (int64_t ox = 0; ox < wo; ox++) {                                                                     \
            uint8_t *row = rows + (oy * wo + ox) * ldr;                                                           \
            int64_t x0 = ox * stride - padding;                                                                   \
            int inside = x0 >= 0 && x0 + kernel <= width;                                                         \
            for (int64_t ky = 0; ky < kernel; ky++) {                                                             \
                int64_t y = oy * stride - padding + ky;                                                           \
                uint8_t *dst = row + ky * run;                                                                    \
                if (y < 0 || y >= height) {                                                                       \
                    FILL(dst, paddingCode, run);                                                                  \
                    continue;                                                                                     \
                }                                                                                                 \
                const uint8_t *line = base + y * width * channels;                                                \
                if (contiguous && inside) {                                                                       \
                    COPY(dst, line + x0 * channels, run);                                                         \
                } else {                                                                                          \
                    for (int64_t kx = 0; kx < kernel; kx++) {                                                     \
                        int64_t x = x0 + kx;                                                                      \
                        if (x >= 0 && x < width) COPY(dst + kx * cg, line + x * channels, cg);                    \
                        else FILL(dst + kx * cg, paddingCode, cg);                                                \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

static inline void copy_portable(uint8_t *dst, const uint8_t *src, int64_t n) {
    if (n >= 32) memcpy(dst, src, (size_t)n);
    else for (int64_t i = 0; i < n; i++) dst[i] = src[i];  /* a call costs more than a few bytes */
}

static inline void fill_portable(uint8_t *dst, uint8_t value, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = value;
}

static void im2row_portable(const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                            int64_t firstChannel, int64_t groupChannels, int64_t kernel, int64_t stride,
                            int64_t padding, uint8_t paddingCode, uint8_t *rows, int64_t ldr) {
    IM2ROW_BODY(copy_portable, fill_portable)
}

/* Runs of up to 64 bytes move as one masked load and store. */
__attribute__((target("avx512f,avx512bw")))
static inline void copy_avx512(uint8_t *dst, const uint8_t *src, int64_t n) {
    for (; n > 64; n -= 64, dst += 64, src += 64) _mm512_storeu_si512(dst, _mm512_loadu_si512(src));
    __mmask64 mask = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, mask, _mm512_maskz_loadu_epi8(mask, src));
}

__attribute__((target("avx512f,avx512bw")))
static inline void fill_avx512(uint8_t *dst, uint8_t value, int64_t n) {
    __m512i v = _mm512_set1_epi8((char)value);
    for (; n > 64; n -= 64, dst += 64) _mm512_storeu_si512(dst, v);
    __mmask64 mask = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(dst, mask, v);
}

__attribute__((target("avx512f,avx512bw")))
static void im2row_avx512(const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                          int64_t firstChannel, int64_t groupChannels, int64_t kernel, int64_t stride,
                          int64_t padding, uint8_t paddingCode, uint8_t *rows, int64_t ldr) {
    IM2ROW_BODY(copy_avx512, fill_avx512)
}

int ck_im2row_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                           int64_t firstChannel, int64_t groupChannels, int64_t kernel, int64_t stride,
                           int64_t padding, uint8_t paddingCode, uint8_t *rows, int64_t ldr) {
    if (vectorized) {
        if (!ck_has(CK_AVX512BW)) return 0;
        im2row_avx512(input, height, width, channels, firstChannel, groupChannels, kernel, stride, padding,
                      paddingCode, rows, ldr);
    } else {
        im2row_portable(input, height, width, channels, firstChannel, groupChannels, kernel, stride, padding,
                        paddingCode, rows, ldr);
    }
    return 1;
}

void ck_im2row_u8_nhwc(const uint8_t *input, int64_t height, int64_t width, int64_t channels, int64_t firstChannel,
                       int64_t groupChannels, int64_t kernel, int64_t stride, int64_t padding, uint8_t paddingCode,
                       uint8_t *rows, int64_t ldr) {
    ck_im2row_u8_nhwc_with(ck_has(CK_AVX512BW), input, height, width, channels, firstChannel, groupChannels, kernel,
                           stride, padding, paddingCode, rows, ldr);
}

/* The window maximum over a whole pixel of channels at a time; one body for AVX2 and portable C (the compiler
 * vectorizes the channel loop into byte maxima). Padding cells never win, so the window is clipped to the plane. */
#define MAXPOOL_BODY                                                                                              \
    for (int64_t s = 0; s < batch; s++) {                                                                         \
        const uint8_t *in = input + s * height * width * channels;                                                \
        uint8_t *out = output + s * ho * wo * channels;                                                           \
        for (int64_t oy = 0; oy < ho; oy++)                                                                       \
            for (int64_t ox = 0; ox < wo; ox++) {                                                                 \
                uint8_t *restrict o = out + (oy * wo + ox) * channels;                                            \
                int64_t y0 = oy * stride - padding, x0 = ox * stride - padding;                                   \
                int64_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + kernel > height ? height - y0 : kernel;                \
                int64_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + kernel > width ? width - x0 : kernel;                  \
                memset(o, 0, (size_t)channels);                                                                   \
                for (int64_t ky = ky0; ky < ky1; ky++)                                                            \
                    for (int64_t kx = kx0; kx < kx1; kx++) {                                                      \
                        const uint8_t *restrict p = in + ((y0 + ky) * width + x0 + kx) * channels;                \
                        for (int64_t c = 0; c < channels; c++) o[c] = p[c] > o[c] ? p[c] : o[c];                  \
                    }                                                                                             \
            }                                                                                                     \
    }

#define MAXPOOL_PARAMETERS const uint8_t *input, int64_t batch, int64_t height, int64_t width, int64_t channels,     \
    int64_t kernel, int64_t stride, int64_t padding, uint8_t *output, int64_t ho, int64_t wo

static void maxpool_scalar(MAXPOOL_PARAMETERS) { MAXPOOL_BODY }
__attribute__((target("avx2"))) static void maxpool_avx2(MAXPOOL_PARAMETERS) { MAXPOOL_BODY }

__attribute__((target("avx512f,avx512bw")))
static void maxpool_avx512(const uint8_t *input, int64_t batch, int64_t height, int64_t width, int64_t channels,
                           int64_t kernel, int64_t stride, int64_t padding, uint8_t *output, int64_t ho, int64_t wo) {
    for (int64_t s = 0; s < batch; s++) {
        const uint8_t *in = input + s * height * width * channels;
        uint8_t *out = output + s * ho * wo * channels;
        for (int64_t oy = 0; oy < ho; oy++)
            for (int64_t ox = 0; ox < wo; ox++) {
                uint8_t *o = out + (oy * wo + ox) * channels;
                for (int64_t c = 0; c < channels; c += 64) {
                    int64_t left = channels - c;
                    __mmask64 mask = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
                    __m512i best = _mm512_setzero_si512();
                    for (int64_t ky = 0; ky < kernel; ky++) {
                        int64_t y = oy * stride - padding + ky;
                        if (y < 0 || y >= height) continue;
                        for (int64_t kx = 0; kx < kernel; kx++) {
                            int64_t x = ox * stride - padding + kx;
                            if (x < 0 || x >= width) continue;
                            best = _mm512_max_epu8(best, _mm512_maskz_loadu_epi8(mask, in + (y * width + x) * channels + c));
                        }
                    }
                    _mm512_mask_storeu_epi8(o + c, mask, best);
                }
            }
    }
}

int ck_maxpool2d_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t batch, int64_t height, int64_t width,
                              int64_t channels, int64_t kernel, int64_t stride, int64_t padding, uint8_t *output,
                              int64_t outputHeight, int64_t outputWidth) {
    if (vectorized == CK_VECTOR_AVX512) {
        if (!ck_has(CK_AVX512BW)) return 0;
        maxpool_avx512(input, batch, height, width, channels, kernel, stride, padding, output, outputHeight,
                       outputWidth);
    } else if (vectorized == CK_VECTOR_AVX2) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        maxpool_avx2(input, batch, height, width, channels, kernel, stride, padding, output, outputHeight,
                     outputWidth);
    } else {
        maxpool_scalar(input, batch, height, width, channels, kernel, stride, padding, output, outputHeight,
                       outputWidth);
    }
    return 1;
}

void ck_maxpool2d_u8_nhwc(const uint8_t *input, int64_t batch, int64_t height, int64_t width, int64_t channels,
                          int64_t kernel, int64_t stride, int64_t padding, uint8_t *output, int64_t outputHeight,
                          int64_t outputWidth) {
    ck_maxpool2d_u8_nhwc_with(ck_vector_path(), input, batch, height, width, channels, kernel, stride, padding, output,
                              outputHeight, outputWidth);
}

void ck_nchw_to_nhwc_u8(const uint8_t *input, int64_t batch, int64_t channels, int64_t pixels, uint8_t *output) {
    for (int64_t s = 0; s < batch; s++) {
        const uint8_t *in = input + s * channels * pixels;
        uint8_t *out = output + s * channels * pixels;
        for (int64_t c = 0; c < channels; c++)
            for (int64_t p = 0; p < pixels; p++) out[p * channels + c] = in[c * pixels + p];
    }
}

void ck_nhwc_to_nchw_u8(const uint8_t *input, int64_t batch, int64_t channels, int64_t pixels, uint8_t *output) {
    for (int64_t s = 0; s < batch; s++) {
        const uint8_t *in = input + s * channels * pixels;
        uint8_t *out = output + s * channels * pixels;
        for (int64_t p = 0; p < pixels; p++)
            for (int64_t c = 0; c < channels; c++) out[c * pixels + p] = in[p * channels + c];
    }
}
