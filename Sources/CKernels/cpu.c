// Run-time CPU feature detection shared by every kernel (`__builtin_cpu_supports`, no compiler flags).
#include "CKernels.h"

static uint32_t detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    uint32_t f = 0;
    if (__builtin_cpu_supports("avx2")) f |= CK_FEATURE_AVX2;
    if (__builtin_cpu_supports("fma")) f |= CK_FEATURE_FMA;
    if (__builtin_cpu_supports("avx512f")) f |= CK_FEATURE_AVX512F;
    if (__builtin_cpu_supports("avx512bw")) f |= CK_FEATURE_AVX512BW;
    if (__builtin_cpu_supports("avx512vnni")) f |= CK_FEATURE_AVX512VNNI;
    if (__builtin_cpu_supports("avx512vpopcntdq")) f |= CK_FEATURE_AVX512VPOPCNTDQ;
    return f;
#else
    return 0;
#endif
}

/* Detected once: every kernel call asks, and the answer never changes. Racing first calls store the same value. */
uint32_t ck_cpu_features(void) {
    static _Atomic uint32_t known = 0;  /* the features with bit 31 set once detected */
    uint32_t f = known;
    if (f) return f & ~(1u << 31);
    f = detect();
    known = f | (1u << 31);
    return f;
}
