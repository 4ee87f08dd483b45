// Elementwise kernels that Swift's compiler leaves scalar: the clamp of ReLU/ReLU6 and its gradient, and the
// quantization of a float tensor to uint8 codes (an integer model's input). Each body is compiled for AVX-512, AVX2
// and portable C, picked at run time.
#include "CKernels.h"
#include "ck_features.h"

int ck_sgemm_uses_avx512(void);

#define CLAMP_BODY for (int64_t i = 0; i < count; i++) { float v = x[i] > 0 ? x[i] : 0; y[i] = v < cap ? v : cap; }
#define GRADIENT_BODY                                                       \
    for (int64_t i = 0; i < count; i++) {                                   \
        float g = x[i] > 0 ? dy[i] : 0;                                     \
        dx[i] = x[i] < cap ? g : 0;                                         \
    }

__attribute__((target("avx512f")))
static void clamp_avx512(const float *restrict x, float *restrict y, int64_t count, float cap) { CLAMP_BODY }
__attribute__((target("avx2")))
static void clamp_avx2(const float *restrict x, float *restrict y, int64_t count, float cap) { CLAMP_BODY }
static void clamp_portable(const float *restrict x, float *restrict y, int64_t count, float cap) { CLAMP_BODY }

__attribute__((target("avx512f")))
static void gradient_avx512(const float *restrict x, const float *restrict dy, float *restrict dx, int64_t count,
                            float cap) { GRADIENT_BODY }
__attribute__((target("avx2")))
static void gradient_avx2(const float *restrict x, const float *restrict dy, float *restrict dx, int64_t count,
                          float cap) { GRADIENT_BODY }
static void gradient_portable(const float *restrict x, const float *restrict dy, float *restrict dx, int64_t count,
                              float cap) { GRADIENT_BODY }

void ck_clamp(const float *x, float *y, int64_t count, float cap) {
    if (ck_sgemm_uses_avx512()) clamp_avx512(x, y, count, cap);
    else if (ck_has(CK_FEATURE_AVX2)) clamp_avx2(x, y, count, cap);
    else clamp_portable(x, y, count, cap);
}

void ck_clamp_gradient(const float *x, const float *dy, float *dx, int64_t count, float cap) {
    if (ck_sgemm_uses_avx512()) gradient_avx512(x, dy, dx, count, cap);
    else if (ck_has(CK_FEATURE_AVX2)) gradient_avx2(x, dy, dx, count, cap);
    else gradient_portable(x, dy, dx, count, cap);
}

/* Q = clamp(rint(x / scale) + zeroPoint, lowest, highest): an IEEE division, rint in the default mode (half to
 * even), then exact float steps, so every path gives the codes of the scalar definition. */
#define QUANTIZE_BODY                                                                                       \
    for (int64_t i = 0; i < count; i++) {                                                                   \
        float q = __builtin_rintf(x[i] / scale) + zeroPoint;                                                \
        q = q < lowest ? lowest : q;                                                                        \
        q = q > highest ? highest : q;                                                                      \
        out[i] = (uint8_t)(int32_t)q;                                                                       \
    }
#define NAN_BODY                                                                                            \
    int found = 0;                                                                                          \
    for (int64_t i = 0; i < count; i++) found |= x[i] != x[i];                                              \
    return found;

__attribute__((target("avx512f")))
static void quantize_avx512(const float *restrict x, int64_t count, float scale, float zeroPoint, float lowest,
                            float highest, uint8_t *restrict out) { QUANTIZE_BODY }
__attribute__((target("avx2")))
static void quantize_avx2(const float *restrict x, int64_t count, float scale, float zeroPoint, float lowest,
                          float highest, uint8_t *restrict out) { QUANTIZE_BODY }
static void quantize_portable(const float *restrict x, int64_t count, float scale, float zeroPoint, float lowest,
                              float highest, uint8_t *restrict out) { QUANTIZE_BODY }
__attribute__((target("avx512f"))) static int has_nan_avx512(const float *restrict x, int64_t count) { NAN_BODY }
__attribute__((target("avx2"))) static int has_nan_avx2(const float *restrict x, int64_t count) { NAN_BODY }
static int has_nan_portable(const float *restrict x, int64_t count) { NAN_BODY }

int64_t ck_quantize_u8_with(int path, const float *x, int64_t count, float scale, float zeroPoint, float lowest,
                            float highest, uint8_t *out) {
    int available = path == CK_VECTOR_AVX512 ? ck_has(CK_FEATURE_AVX512F)
                  : path == CK_VECTOR_AVX2   ? ck_has(CK_FEATURE_AVX2)
                                             : path == CK_VECTOR_PORTABLE;
    if (!available) return -2;
    int nan = path == CK_VECTOR_AVX512 ? has_nan_avx512(x, count)
            : path == CK_VECTOR_AVX2   ? has_nan_avx2(x, count) : has_nan_portable(x, count);
    if (nan) {
        for (int64_t i = 0; i < count; i++)
            if (x[i] != x[i]) return i;
    }
    if (path == CK_VECTOR_AVX512) quantize_avx512(x, count, scale, zeroPoint, lowest, highest, out);
    else if (path == CK_VECTOR_AVX2) quantize_avx2(x, count, scale, zeroPoint, lowest, highest, out);
    else quantize_portable(x, count, scale, zeroPoint, lowest, highest, out);
    return -1;
}

int64_t ck_quantize_u8(const float *x, int64_t count, float scale, float zeroPoint, float lowest, float highest,
                       uint8_t *out) {
    return ck_quantize_u8_with(ck_has(CK_FEATURE_AVX512F) ? CK_VECTOR_AVX512
                               : ck_has(CK_FEATURE_AVX2) ? CK_VECTOR_AVX2 : CK_VECTOR_PORTABLE,
                               x, count, scale, zeroPoint, lowest, highest, out);
}
