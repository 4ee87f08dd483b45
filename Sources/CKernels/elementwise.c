// Elementwise kernels of the float engine that Swift's compiler leaves scalar: the clamp of ReLU/ReLU6 and its
// gradient. Each body is compiled for AVX-512, AVX2 and portable C, picked at run time.
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
