// im2row for uint8 activations: one row of C·k·k codes per output pixel, the layout the u8 × s8 GEMM wants (K
// contiguous). Cells in the padding get `padding_code`, the input's zero point, because the code that means the real
// value 0 is Z, not 0.
#include "CKernels.h"
#include <string.h>

void ck_im2row_u8(const uint8_t *input, int64_t channels, int64_t height, int64_t width, int64_t kernel,
                  int64_t stride, int64_t padding, uint8_t paddingCode, uint8_t *rows) {
    int64_t ho = (height + 2 * padding - kernel) / stride + 1, wo = (width + 2 * padding - kernel) / stride + 1;
    int64_t k = channels * kernel * kernel;
    for (int64_t oy = 0; oy < ho; oy++) {
        for (int64_t ox = 0; ox < wo; ox++) {
            uint8_t *row = rows + (oy * wo + ox) * k;
            for (int64_t c = 0; c < channels; c++) {
                const uint8_t *plane = input + c * height * width;
                for (int64_t ky = 0; ky < kernel; ky++) {
                    int64_t y = oy * stride - padding + ky;
                    uint8_t *dst = row + (c * kernel + ky) * kernel;
                    if (y < 0 || y >= height) {
                        memset(dst, paddingCode, (size_t)kernel);
                        continue;
                    }
                    for (int64_t kx = 0; kx < kernel; kx++) {
                        int64_t x = ox * stride - padding + kx;
                        dst[kx] = (x >= 0 && x < width) ? plane[y * width + x] : paddingCode;
                    }
                }
            }
        }
    }
}
