// The logistic function, SiLU (x·σ(x)) and hard-swish of the float engine's inference, vectorized: libm's scalar `expf` costs
// EfficientNet-style networks a third of their inference time. exp is evaluated as 2^n · p(r) with n = round(x / ln 2),
// r = x − n·ln 2 in two parts (Cody–Waite) and p the degree-7 polynomial of Cephes' expf (within 2 ulp of exp);
// n is rounded by adding and subtracting 1.5 · 2^23, so no rounding instruction is needed. Arguments are clamped to
// [−87.3, 88.3], where 2^n stays a normal float (NaN stays NaN): σ(−∞) is then 4.5e−39 instead of 0. The reduction
// and the polynomial are written as fused multiply-adds (fmaf, one rounding each: the vector paths' FMA instructions,
// and libm's fmaf on the portable path), every other operation explicit with contraction off, and each body is one
// scalar loop the compiler vectorizes — so the AVX-512, AVX2 + FMA and portable builds give the same bits.
#include "CKernels.h"
#include "ck_features.h"
#include <math.h>
#include <string.h>

#pragma clang fp contract(off)

static inline __attribute__((always_inline)) float exp_body(float input) {
    /* Written so that NaN becomes a bound here (the conversion to int below stays defined) and NaN at the end. */
    float x = input > -87.3f ? input : -87.3f;
    x = x < 88.3f ? x : 88.3f;
    const float shifter = 12582912.0f; /* 1.5 · 2^23: adding it rounds to an integer */
    float n = fmaf(x, 1.44269504088896341f, shifter) - shifter;
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return input != input ? input : p * scale;
}

#define SIGMOID_BODY _Pragma("clang loop interleave_count(4)") for (int64_t i = 0; i < count; i++) y[i] = 1.0f / (1.0f + exp_body(-x[i]));
#define SILU_BODY _Pragma("clang loop interleave_count(4)") for (int64_t i = 0; i < count; i++) y[i] = x[i] / (1.0f + exp_body(-x[i]));
#define FORWARD(name, BODY)                                                                              \
    __attribute__((target("avx512f"))) static void name##_avx512(const float *restrict x, float *restrict y, \
                                                                 int64_t count) { BODY }                    \
    __attribute__((target("avx2,fma"))) static void name##_avx2(const float *restrict x, float *restrict y, \
                                                            int64_t count) { BODY }                         \
    static void name##_portable(const float *restrict x, float *restrict y, int64_t count) { BODY }

/* Hard-swish, ck_activate's formula (ck_features.h), which the conv kernels repeat in registers. */
#define HARDSWISH_BODY                                                                                   \
    for (int64_t i = 0; i < count; i++) {                                                                \
        float t = x[i] + 3.0f;                                                                           \
        t = t > 0.0f ? t : 0.0f;                                                                         \
        t = t < 6.0f ? t : 6.0f;                                                                         \
        y[i] = x[i] * t / 6.0f;                                                                          \
    }

FORWARD(sigmoid, SIGMOID_BODY)
FORWARD(silu, SILU_BODY)
FORWARD(hardswish, HARDSWISH_BODY)

int ck_activation_with(int path, int function, const float *x, float *y, int64_t count) {
    int available = path == CK_VECTOR_AVX512 ? ck_has(CK_AVX512BW)
                  : path == CK_VECTOR_AVX2   ? ck_has(CK_FEATURE_AVX2 | CK_FEATURE_FMA)
                                             : path == CK_VECTOR_PORTABLE;
    if (!available || function < 0 || function > 2) return 0;
#define PICK(name, ...) (path == CK_VECTOR_AVX512 ? name##_avx512(__VA_ARGS__)                         \
                         : path == CK_VECTOR_AVX2 ? name##_avx2(__VA_ARGS__) : name##_portable(__VA_ARGS__))
    if (function == 0) PICK(sigmoid, x, y, count);
    else if (function == 1) PICK(silu, x, y, count);
    else PICK(hardswish, x, y, count);
#undef PICK
    return 1;
}

/* The widest path this CPU has (AVX2 only with FMA). */
static int best_path(void) {
    int path = ck_vector_path();
    return path == CK_VECTOR_AVX2 && !ck_has(CK_FEATURE_FMA) ? CK_VECTOR_PORTABLE : path;
}

void ck_sigmoid(const float *x, float *y, int64_t count) { ck_activation_with(best_path(), 0, x, y, count); }
void ck_silu(const float *x, float *y, int64_t count) { ck_activation_with(best_path(), 1, x, y, count); }
void ck_hardswish(const float *x, float *y, int64_t count) { ck_activation_with(best_path(), 2, x, y, count); }

/* The scalar exp of the kernels above, for tests and for callers that need the same bits one value at a time. */
float ck_expf(float x) { return exp_body(x); }
