// Pooling kernels: the inner loops the float engine runs per (sample, channel) plane. Windows that lie wholly
// inside the plane (always, without padding) skip the bounds checks; 2×2 stride-2 windows have their own loop (on
// AVX-512, inference a plane at a time, 16 outputs a step), and on AVX-512 inference at stride 1 or 2 takes the
// columns whose windows lie inside the width 16 at a time. Inference
// keeps the values training's argmax loop keeps.
#include "CKernels.h"
#include "ck_features.h"
#include <float.h>
#include <immintrin.h>

/* The inference loop of 2×2 stride-2 windows, one body compiled for AVX2 and portable C: the selects of the argmax
 * loop below (a cell replaces the maximum only where strictly greater), so the same values, NaNs and signed zeros
 * included. */
#define MAXPOOL_2X2_BODY                                                                                \
    for (int32_t ox = 0; ox < outputWidth; ox++) {                                                      \
        float a = row0[2 * ox + 1] > row0[2 * ox] ? row0[2 * ox + 1] : row0[2 * ox];                    \
        float b = row1[2 * ox + 1] > row1[2 * ox] ? row1[2 * ox + 1] : row1[2 * ox];                    \
        out[ox] = b > a ? b : a;                                                                        \
    }

__attribute__((target("avx2")))
static void maxpool_2x2_row_avx2(const float *restrict row0, const float *restrict row1, float *restrict out,
                                 int32_t outputWidth) { MAXPOOL_2X2_BODY }
static void maxpool_2x2_row_portable(const float *restrict row0, const float *restrict row1, float *restrict out,
                                     int32_t outputWidth) { MAXPOOL_2X2_BODY }

/* The same selects on AVX-512, a plane at a time: 16 outputs from two 32-float reads of each input row (masked at
 * the row's end), the odd and even cells picked apart by permutes. */
__attribute__((target("avx512f")))
static void maxpool_2x2_plane_avx512(const float *input, int32_t width, float *output, int32_t outputHeight,
                                     int32_t outputWidth) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int32_t oy = 0; oy < outputHeight; oy++) {
        const float *row0 = input + (2 * oy) * width, *row1 = row0 + width;
        float *out = output + oy * outputWidth;
        for (int32_t ox = 0; ox < outputWidth; ox += 16) {
            int32_t left = outputWidth - ox < 16 ? outputWidth - ox : 16;
            uint32_t cells = left == 16 ? 0xFFFFFFFFu : (1u << (2 * left)) - 1;
            __mmask16 lo = (__mmask16)cells, hi = (__mmask16)(cells >> 16);
            __m512 a0 = _mm512_maskz_loadu_ps(lo, row0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(hi, row0 + 2 * ox + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(lo, row1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, row1 + 2 * ox + 16);
            __m512 ae = _mm512_permutex2var_ps(a0, evens, a1), ao = _mm512_permutex2var_ps(a0, odds, a1);
            __m512 be = _mm512_permutex2var_ps(b0, evens, b1), bo = _mm512_permutex2var_ps(b0, odds, b1);
            /* a = odd > even ? odd : even (ordered: a NaN odd cell loses, a NaN even one is kept), per row */
            __m512 a = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ao, ae, _CMP_GT_OQ), ae, ao);
            __m512 b = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(bo, be, _CMP_GT_OQ), be, bo);
            __m512 best = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), a, b);
            _mm512_mask_storeu_ps(out + ox, (__mmask16)((1u << left) - 1), best);
        }
    }
}

static void maxpool_2x2_stride2(const float *input, int32_t width, float *output, int32_t outputHeight,
                                int32_t outputWidth, int32_t *argmax) {
    if (!argmax && ck_has(CK_FEATURE_AVX512F)) {
        maxpool_2x2_plane_avx512(input, width, output, outputHeight, outputWidth);
        return;
    }
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

/* Inference windows at stride 1 or 2 on AVX-512: the output columns whose windows lie wholly inside the plane's
 * width ([first, last)), 16 at a time, each lane doing the scalar loop's selects in its order (the window's first
 * cell, then every cell replacing the maximum only where strictly greater: an ordered compare, so a NaN is kept
 * or skipped exactly as there). At stride 2 a lane's cells are every other float, read as two masked loads and
 * the even ones kept. */
__attribute__((target("avx512f")))
static void maxpool_columns_avx512(const float *input, int32_t width, int32_t kernel, int32_t stride, int32_t padding,
                                   int32_t y0, int32_t ky0, int32_t ky1, float *out, int32_t first, int32_t last) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int32_t ox = first; ox < last; ox += 16) {
        int32_t lanes = last - ox < 16 ? last - ox : 16;
        uint64_t span = ck_span_mask(0, (int64_t)stride * (lanes - 1) + 1);
        __m512 best = _mm512_setzero_ps();
        for (int32_t ky = ky0; ky < ky1; ky++) {
            const float *row = input + (int64_t)(y0 + ky) * width + ox * stride - padding;
            for (int32_t kx = 0; kx < kernel; kx++) {
                __m512 v;
                if (stride == 1) {
                    v = _mm512_maskz_loadu_ps((__mmask16)span, row + kx);
                } else {
                    __m512 lo = _mm512_maskz_loadu_ps((__mmask16)span, row + kx);
                    __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(span >> 16), row + kx + 16);
                    v = _mm512_permutex2var_ps(lo, evens, hi);
                }
                if (ky == ky0 && kx == 0) { best = v; continue; }
                best = _mm512_mask_mov_ps(best, _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ), v);
            }
        }
        _mm512_mask_storeu_ps(out + ox, (__mmask16)ck_span_mask(0, lanes), best);
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
        /* Columns [inFirst, inLast) have windows inside the width: vectorized on AVX-512 at stride 1 or 2. */
        int32_t inFirst = (padding + stride - 1) / stride;
        int32_t inLast = width + padding - kernel < 0 ? 0 : (width + padding - kernel) / stride + 1;
        if (inLast > outputWidth) inLast = outputWidth;
        int vector = (stride == 1 || stride == 2) && inFirst < inLast && ck_has(CK_FEATURE_AVX512F);
        for (int32_t oy = 0; oy < outputHeight; oy++) {
            int32_t y0 = oy * stride - padding;
            int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + kernel > height ? height - y0 : kernel;
            if (vector)
                maxpool_columns_avx512(input, width, kernel, stride, padding, y0, ky0, ky1, output + oy * outputWidth,
                                       inFirst, inLast);
            for (int32_t ox = 0; ox < outputWidth; ox++) {
                if (vector && ox == inFirst) { ox = inLast - 1; continue; }
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
