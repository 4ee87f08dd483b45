// Run-time CPU feature detection shared by every kernel (`__builtin_cpu_supports`, no compiler flags).
#include "CKernels.h"

uint32_t ck_cpu_features(void) {
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
