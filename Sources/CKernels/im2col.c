// im2col / col2im for one (C, H, W) image: the unfolding that turns a convolution into one GEMM. Rows of the output
// image are short (7–28 floats here), so the copies are inline loops rather than memcpy calls, compiled for AVX-512
// or AVX2 where the CPU has it.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <string.h>

int ck_sgemm_uses_avx512(void);

/* With stride 1, the input column x = ox − padding + kx lies inside the row for ox in [start, end) ⊆ [0, wo). */
static inline void inside_columns(int64_t padding, int64_t kx, int64_t width, int64_t wo, int64_t *start,
                                  int64_t *end) {
    int64_t s = padding - kx > 0 ? padding - kx : 0, e = width + padding - kx;
    if (s > wo) s = wo;
    if (e > wo) e = wo;
    if (e < s) e = s;
    *start = s;
    *end = e;
}

#define IM2COL_BODY                                                                                              \
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1; \
    float *out = columns;                                                                                        \
    for (int64_t c = 0; c < channels; c++) {                                                                     \
        const float *plane = input + c * height * width;                                                         \
        for (int64_t ky = 0; ky < kernel; ky++) {                                                                \
            for (int64_t kx = 0; kx < kernel; kx++) {                                                            \
                int64_t start, end;                                                                              \
                inside_columns(padding, kx, width, wo, &start, &end);                                            \
                for (int64_t oy = 0; oy < ho; oy++, out += wo) {                                                 \
                    int64_t y = oy * stride - padding + ky;                                                      \
                    if (y < 0 || y >= height) {                                                                  \
                        for (int64_t ox = 0; ox < wo; ox++) out[ox] = 0;                                         \
                        continue;                                                                                \
                    }                                                                                            \
                    const float *src = plane + y * width;                                                        \
                    if (stride == 1) {                                                                           \
                        const float *shifted = src + (kx - padding);                                             \
                        for (int64_t ox = 0; ox < start; ox++) out[ox] = 0;                                      \
                        for (int64_t ox = start; ox < end; ox++) out[ox] = shifted[ox];                          \
                        for (int64_t ox = end; ox < wo; ox++) out[ox] = 0;                                       \
                    } else {                                                                                     \
                        for (int64_t ox = 0; ox < wo; ox++) {                                                    \
                            int64_t x = ox * stride - padding + kx;                                              \
                            out[ox] = (x >= 0 && x < width) ? src[x] : 0;                                        \
                        }                                                                                        \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }

#define COL2IM_BODY                                                                                              \
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1; \
    const float *col = columns;                                                                                  \
    for (int64_t c = 0; c < channels; c++) {                                                                     \
        float *plane = input + c * height * width;                                                               \
        for (int64_t ky = 0; ky < kernel; ky++) {                                                                \
            for (int64_t kx = 0; kx < kernel; kx++) {                                                            \
                int64_t start, end;                                                                              \
                inside_columns(padding, kx, width, wo, &start, &end);                                            \
                for (int64_t oy = 0; oy < ho; oy++, col += wo) {                                                 \
                    int64_t y = oy * stride - padding + ky;                                                      \
                    if (y < 0 || y >= height) continue;                                                          \
                    float *dst = plane + y * width;                                                              \
                    if (stride == 1) {                                                                           \
                        float *shifted = dst + (kx - padding);                                                   \
                        for (int64_t ox = start; ox < end; ox++) shifted[ox] += col[ox];                         \
                    } else {                                                                                     \
                        for (int64_t ox = 0; ox < wo; ox++) {                                                    \
                            int64_t x = ox * stride - padding + kx;                                              \
                            if (x >= 0 && x < width) dst[x] += col[ox];                                          \
                        }                                                                                        \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }

#define IM2COL_PARAMETERS const float *restrict input, int64_t channels, int64_t height, int64_t width, \
    int64_t kernel, int64_t stride, int64_t padding, float *restrict columns
#define COL2IM_PARAMETERS const float *restrict columns, int64_t channels, int64_t height, int64_t width, \
    int64_t kernel, int64_t stride, int64_t padding, float *restrict input

__attribute__((target("avx512f"))) static void im2col_strided_avx512(IM2COL_PARAMETERS) { IM2COL_BODY }

/* One kernel tap's rows of the columns, stride 1: output row oy is input row oy − padding + ky shifted by
 * kx − padding, `vectors` vectors of 16 a row, read under `read` (lanes left or right of the input row read as zero;
 * masked-off lanes never touch memory) and stored whole, each running into the next row, which is stored after it,
 * except past `last`, the end of the columns. Kept small so that its pointers stay in registers. */
__attribute__((target("avx512f"), always_inline))
static inline void tap_rows(const float *plane, int64_t height, int64_t width, int64_t ho, int64_t wo, int64_t vectors,
                            int64_t shift_y, int64_t shift_x, const __mmask16 *read, const __mmask16 *lanes,
                            float *out, const float *last) {
    int64_t first = shift_y < 0 ? -shift_y : 0, past = height - shift_y < ho ? height - shift_y : ho;
    if (past < first) past = first;
    for (int64_t oy = 0; oy < first; oy++, out += wo)
        for (int64_t v = 0; v < vectors; v++) _mm512_mask_storeu_ps(out + 16 * v, lanes[v], _mm512_setzero_ps());
    const float *src = plane + (first + shift_y) * width + shift_x;
    if (vectors == 1) {
        const __mmask16 r = read[0], l = lanes[0];
        for (int64_t oy = first; oy < past; oy++, out += wo, src += width) {
            __m512 row = _mm512_maskz_loadu_ps(r, src);
            if (out + 16 <= last) _mm512_storeu_ps(out, row);
            else _mm512_mask_storeu_ps(out, l, row);
        }
    } else {
        for (int64_t oy = first; oy < past; oy++, out += wo, src += width)
            for (int64_t v = 0; v < vectors; v++) {
                __m512 row = _mm512_maskz_loadu_ps(read[v], src + 16 * v);
                if (out + 16 * (v + 1) <= last) _mm512_storeu_ps(out + 16 * v, row);
                else _mm512_mask_storeu_ps(out + 16 * v, lanes[v], row);
            }
    }
    for (int64_t oy = past; oy < ho; oy++, out += wo)
        for (int64_t v = 0; v < vectors; v++) _mm512_mask_storeu_ps(out + 16 * v, lanes[v], _mm512_setzero_ps());
}

/* AVX-512 with stride 1 and rows up to 64 wide: tap_rows for each (channel, kernel row, kernel column), its masks
 * worked out once per kernel column. */
__attribute__((target("avx512f"))) static void im2col_avx512(IM2COL_PARAMETERS) {
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1;
    if (stride != 1 || wo > 64) {
        im2col_strided_avx512(input, channels, height, width, kernel, stride, padding, columns);
        return;
    }
    int64_t vectors = (wo + 15) / 16;
    const float *last = columns + channels * kernel * kernel * ho * wo;
    float *out = columns;
    for (int64_t c = 0; c < channels; c++) {
        const float *plane = input + c * height * width;
        for (int64_t ky = 0; ky < kernel; ky++) {
            for (int64_t kx = 0; kx < kernel; kx++, out += ho * wo) {
                int64_t start, end;
                inside_columns(padding, kx, width, wo, &start, &end);
                __mmask16 read[4], lanes[4];
                for (int64_t v = 0; v < vectors; v++) {
                    read[v] = (__mmask16)ck_span_mask(start - 16 * v, end - 16 * v);
                    lanes[v] = (__mmask16)ck_span_mask(-16 * v, wo - 16 * v);
                }
                tap_rows(plane, height, width, ho, wo, vectors, ky - padding, kx - padding, read, lanes, out, last);
            }
        }
    }
}

__attribute__((target("avx2"))) static void im2col_avx2(IM2COL_PARAMETERS) { IM2COL_BODY }
static void im2col_portable(IM2COL_PARAMETERS) { IM2COL_BODY }
__attribute__((target("avx512f"))) static void col2im_strided_avx512(COL2IM_PARAMETERS) { COL2IM_BODY }

/* AVX-512 with stride 1: each input row is loaded once per kernel row and gets the kernel's k columns added in
 * registers, 16 pixels a vector, then stored: the additions each pixel receives come in the portable loop's order
 * (kernel row, then kernel column; a lane outside a column's reach is left as it is), without the portable loop's
 * stores and reloads of overlapping, shifted rows. */
__attribute__((target("avx512f"))) static void col2im_avx512(COL2IM_PARAMETERS) {
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1;
    if (stride != 1) {
        col2im_strided_avx512(columns, channels, height, width, kernel, stride, padding, input);
        return;
    }
    int64_t plane_columns = ho * wo;
    for (int64_t c = 0; c < channels; c++) {
        float *plane = input + c * height * width;
        for (int64_t ky = 0; ky < kernel; ky++) {
            const float *rows = columns + (c * kernel + ky) * kernel * plane_columns;
            for (int64_t oy = 0; oy < ho; oy++) {
                int64_t y = oy - padding + ky;
                if (y < 0 || y >= height) continue;
                float *dst = plane + y * width;
                for (int64_t x = 0; x < width; x += 16) {
                    __mmask16 lanes = (__mmask16)ck_span_mask(-x, width - x);
                    __m512 sum = _mm512_maskz_loadu_ps(lanes, dst + x);
                    for (int64_t kx = 0; kx < kernel; kx++) {
                        /* dst[x'] += col[kx][oy][x' + padding − kx] for ox = x' + padding − kx in [0, wo). */
                        int64_t shift = padding - kx;
                        __mmask16 reach = (__mmask16)(lanes & ck_span_mask(-shift - x, wo - shift - x));
                        const float *src = rows + kx * plane_columns + oy * wo + shift;
                        sum = _mm512_mask_add_ps(sum, reach, sum, _mm512_maskz_loadu_ps(reach, src + x));
                    }
                    _mm512_mask_storeu_ps(dst + x, lanes, sum);
                }
            }
        }
    }
}

__attribute__((target("avx2"))) static void col2im_avx2(COL2IM_PARAMETERS) { COL2IM_BODY }
static void col2im_portable(COL2IM_PARAMETERS) { COL2IM_BODY }

int ck_im2col_with(int vectorized, const float *input, int64_t channels, int64_t height, int64_t width,
                   int64_t kernel, int64_t stride, int64_t padding, float *columns) {
    if (vectorized == CK_VECTOR_AVX512) {
        if (!ck_sgemm_uses_avx512()) return 0;
        im2col_avx512(input, channels, height, width, kernel, stride, padding, columns);
    } else if (vectorized == CK_VECTOR_AVX2) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        im2col_avx2(input, channels, height, width, kernel, stride, padding, columns);
    } else {
        im2col_portable(input, channels, height, width, kernel, stride, padding, columns);
    }
    return 1;
}

int ck_col2im_with(int vectorized, const float *columns, int64_t channels, int64_t height, int64_t width,
                   int64_t kernel, int64_t stride, int64_t padding, float *input) {
    if (vectorized == CK_VECTOR_AVX512) {
        if (!ck_sgemm_uses_avx512()) return 0;
        col2im_avx512(columns, channels, height, width, kernel, stride, padding, input);
    } else if (vectorized == CK_VECTOR_AVX2) {
        if (!ck_has(CK_FEATURE_AVX2)) return 0;
        col2im_avx2(columns, channels, height, width, kernel, stride, padding, input);
    } else {
        col2im_portable(columns, channels, height, width, kernel, stride, padding, input);
    }
    return 1;
}

/* The widest path this CPU takes: AVX-512 where the builtin sgemm runs it, else AVX2, else portable C. */
static int best_path(void) {
    return ck_sgemm_uses_avx512() ? CK_VECTOR_AVX512 : ck_has(CK_FEATURE_AVX2) ? CK_VECTOR_AVX2 : CK_VECTOR_PORTABLE;
}

void ck_im2col(const float *input, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *columns) {
    ck_im2col_with(best_path(), input, channels, height, width, kernel, stride, padding, columns);
}

void ck_col2im(const float *columns, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *input) {
    ck_col2im_with(best_path(), columns, channels, height, width, kernel, stride, padding, input);
}
