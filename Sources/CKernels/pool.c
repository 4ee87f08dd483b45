// Pooling kernels: the inner loops the float engine runs per (sample, channel) plane. Windows that lie wholly
// inside the plane (always, without padding) skip the bounds checks; 2×2 stride-2 windows have their own loop.
#include "CKernels.h"
#include "ck_features.h"
#include <float.h>

/* The inference loop of 2×2 stride-2 windows, one body compiled for AVX2 and portable C (the same selects, so the
 * same values). */
#define MAXPOOL_2X2_BODY                                                                                \
    for (int32_t ox = 0; ox < outputWidth; ox++) {                                                      \
        float a = row0[2 * ox] > row0[2 * ox + 1] ? row0[2 * ox] : row0[2 * ox + 1];                    \
        float b = row1[2 * ox] > row1[2 * ox + 1] ? row1[2 * ox] : row1[2 * ox + 1];                    \
        out[ox] = a >= b ? a : b;                                                                       \
    }

__attribute__((target("avx2")))
static void maxpool_2x2_row_avx2(const float *restrict row0, const float *restrict row1, float *restrict out,
                                 int32_t outputWidth) { MAXPOOL_2X2_BODY }
static void maxpool_2x2_row_portable(const float *restrict row0, const float *restrict row1, float *restrict out,
                                     int32_t outputWidth) { MAXPOOL_2X2_BODY }

static void maxpool_2x2_stride2(const float *input, int32_t width, float *output, int32_t outputHeight,
                                int32_t outputWidth, int32_t *argmax) {
    for (int32_t oy = 0; oy < outputHeight; oy++) {
        const float *row0 = input + (2 * oy) * width, *row1 = row0 + width;
        float *out = output + oy * outputWidth;
        if (!argmax) {
            if (ck_has(CK_FEATURE_AVX2)) maxpool_2x2_row_avx2(row0, row1, out, outputWidth);
            else maxpool_2x2_row_portable(row0, row1, out, outputWidth);
            continue;
        }
        /* Selects instead of branches: on real activations the comparisons are unpredictable. */
        for (int32_t ox = 0; ox < outputWidth; ox++) {
            int32_t base = (2 * oy) * width + 2 * ox;
            float a = row0[2 * ox], b = row0[2 * ox + 1], c = row1[2 * ox], d = row1[2 * ox + 1];
            int32_t top = b > a ? base + 1 : base, bottom = d > c ? base + width + 1 : base + width;
            float topValue = b > a ? b : a, bottomValue = d > c ? d : c;
            int32_t best = bottomValue > topValue ? bottom : top;
            out[ox] = bottomValue > topValue ? bottomValue : topValue;
            argmax[oy * outputWidth + ox] = best;
        }
    }
}

void ck_maxpool2d_plane(const float *input, int32_t height, int32_t width, int32_t kernel, int32_t stride,
                        int32_t padding, float *output, int32_t outputHeight, int32_t outputWidth,
                        int32_t *argmax) {
    if (kernel == 2 && stride == 2 && padding == 0 && 2 * outputHeight <= height && 2 * outputWidth <= width) {
        maxpool_2x2_stride2(input, width, output, outputHeight, outputWidth, argmax);
        return;
    }
    if (!argmax) {
        /* Inference: the window clipped to the plane once, then a branch-free maximum (the same value the loop below
         * keeps: the first cell, then any strictly greater one). */
        for (int32_t oy = 0; oy < outputHeight; oy++) {
            int32_t y0 = oy * stride - padding;
            int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + kernel > height ? height - y0 : kernel;
            for (int32_t ox = 0; ox < outputWidth; ox++) {
                int32_t x0 = ox * stride - padding;
                int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + kernel > width ? width - x0 : kernel;
                float best = input[(y0 + ky0) * width + x0 + kx0];
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const float *row = input + (y0 + ky) * width + x0;
                    for (int32_t kx = kx0; kx < kx1; kx++) best = row[kx] > best ? row[kx] : best;
                }
                output[oy * outputWidth + ox] = best;
            }
        }
        return;
    }
    for (int32_t oy = 0; oy < outputHeight; oy++) {
        for (int32_t ox = 0; ox < outputWidth; ox++) {
            float best = -FLT_MAX;
            int32_t bestIndex = -1;
            int32_t y0 = oy * stride - padding, x0 = ox * stride - padding;
            for (int32_t ky = 0; ky < kernel; ky++) {
                int32_t y = y0 + ky;
                if (y < 0 || y >= height) continue;
                for (int32_t kx = 0; kx < kernel; kx++) {
                    int32_t x = x0 + kx;
                    if (x < 0 || x >= width) continue;
                    float v = input[y * width + x];
                    if (bestIndex < 0 || v > best) { best = v; bestIndex = y * width + x; }
                }
            }
            output[oy * outputWidth + ox] = best;
            if (argmax) argmax[oy * outputWidth + ox] = bestIndex;
        }
    }
}
