// Requantization: the step after the integer GEMM, int32 accumulators → uint8 activations, with the bias and the
// input zero-point correction folded into a per-channel offset and a fused ReLU/ReLU6 as the clamp bounds.
// The multiply is done in double and rounded half to even, so every GEMM path that produced the same int32
// accumulators gives the same bytes.
#include "CKernels.h"
#include <math.h>

void ck_requantize_u8(const int32_t *acc, int64_t rows, int64_t columns, const int32_t *offset,
                      const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out) {
    for (int64_t i = 0; i < rows; i++) {
        const int32_t *row = acc + i * columns;
        uint8_t *dst = out + i * columns;
        for (int64_t j = 0; j < columns; j++) {
            double scaled = (double)multiplier[j] * (double)((int64_t)row[j] + offset[j]);
            int64_t q = (int64_t)nearbyint(scaled) + zeroPoint;
            dst[j] = (uint8_t)(q < low ? low : (q > high ? high : q));
        }
    }
}
