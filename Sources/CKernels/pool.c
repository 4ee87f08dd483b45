// Pooling kernels: the inner loops the float engine runs per (sample, channel) plane.
#include "CKernels.h"
#include <float.h>

void ck_maxpool2d_plane(const float *input, int32_t height, int32_t width, int32_t kernel, int32_t stride,
                        int32_t padding, float *output, int32_t outputHeight, int32_t outputWidth,
                        int32_t *argmax) {
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
