// im2col / col2im for one (C, H, W) image: the unfolding that turns a convolution into one GEMM. Rows of the output
// image are short (7–28 floats here), so the copies are inline loops rather than memcpy calls, compiled for AVX-512
// or AVX2 where the CPU has it.
#include "CKernels.h"
#include "ck_features.h"
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

__attribute__((target("avx512f"))) static void im2col_avx512(IM2COL_PARAMETERS) { IM2COL_BODY }
__attribute__((target("avx2"))) static void im2col_avx2(IM2COL_PARAMETERS) { IM2COL_BODY }
static void im2col_portable(IM2COL_PARAMETERS) { IM2COL_BODY }
__attribute__((target("avx512f"))) static void col2im_avx512(COL2IM_PARAMETERS) { COL2IM_BODY }
__attribute__((target("avx2"))) static void col2im_avx2(COL2IM_PARAMETERS) { COL2IM_BODY }
static void col2im_portable(COL2IM_PARAMETERS) { COL2IM_BODY }

void ck_im2col(const float *input, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *columns) {
    if (ck_sgemm_uses_avx512()) im2col_avx512(input, channels, height, width, kernel, stride, padding, columns);
    else if (ck_has(CK_FEATURE_AVX2)) im2col_avx2(input, channels, height, width, kernel, stride, padding, columns);
    else im2col_portable(input, channels, height, width, kernel, stride, padding, columns);
}

void ck_col2im(const float *columns, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *input) {
    if (ck_sgemm_uses_avx512()) col2im_avx512(columns, channels, height, width, kernel, stride, padding, input);
    else if (ck_has(CK_FEATURE_AVX2)) col2im_avx2(columns, channels, height, width, kernel, stride, padding, input);
    else col2im_portable(columns, channels, height, width, kernel, stride, padding, input);
}
