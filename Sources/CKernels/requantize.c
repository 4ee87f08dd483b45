// Requantization: the step after the integer GEMM, int32 accumulators → uint8 activations, with the bias and the
// input zero-point correction folded into a per-channel offset and a fused ReLU/ReLU6 as the clamp bounds.
// The multiply is done in double and rounded half to even, so every GEMM path that produced the same int32
// accumulators gives the same bytes.
#include "CKernels.h"

/* Round half to even without a libm call: adding and subtracting 1.5 · 2^52 leaves the nearest integer under the
 * default rounding mode (exact for |x| < 2^51, far beyond any accumulator times a multiplier here). */
static inline double round_even(double x) {
    const double magic = 6755399441055744.0;
    volatile double shifted = x + magic;  /* volatile: the sum must be rounded to double before the subtraction */
    return shifted - magic;
}

static inline uint8_t requantize_one(int32_t acc, int32_t offset, float multiplier, int32_t zeroPoint, int32_t low,
                                     int32_t high) {
    double scaled = (double)multiplier * (double)((int64_t)acc + offset);
    int64_t q = (int64_t)round_even(scaled) + zeroPoint;
    return (uint8_t)(q < low ? low : (q > high ? high : q));
}

void ck_requantize_u8(const int32_t *acc, int64_t rows, int64_t columns, const int32_t *offset,
                      const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < columns; j++)
            out[i * columns + j] = requantize_one(acc[i * columns + j], offset[j], multiplier[j], zeroPoint, low, high);
}

void ck_requantize_u8_transposed(const int32_t *acc, int64_t rows, int64_t columns, const int32_t *offset,
                                 const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                                 uint8_t *out) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < columns; j++)
            out[j * rows + i] = requantize_one(acc[i * columns + j], offset[j], multiplier[j], zeroPoint, low, high);
}
