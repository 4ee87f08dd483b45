// Private to CKernels: one test for "does this CPU have every feature in `wanted`" (CK_FEATURE_* bits), over
// ck_cpu_features(), so each kernel's run-time dispatch reads the same detection.
#ifndef CKERNELS_FEATURES_H
#define CKERNELS_FEATURES_H
#include "CKernels.h"

static inline int ck_has(uint32_t wanted) { return (ck_cpu_features() & wanted) == wanted; }

#define CK_AVX512BW (CK_FEATURE_AVX512F | CK_FEATURE_AVX512BW)
#define CK_AVX512VNNI (CK_FEATURE_AVX512F | CK_FEATURE_AVX512BW | CK_FEATURE_AVX512VNNI)

/* The widest vector path this CPU takes for kernels written at AVX-512BW and AVX2 (a CK_VECTOR_* value). */
static inline int ck_vector_path(void) {
    return ck_has(CK_AVX512BW) ? CK_VECTOR_AVX512 : ck_has(CK_FEATURE_AVX2) ? CK_VECTOR_AVX2 : CK_VECTOR_PORTABLE;
}

/* Bits lo ..< hi of a 64-bit mask, both clamped to [0, 64]: the lanes of a masked load or store (cast to the
 * mask's width). */
static inline uint64_t ck_span_mask(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo > 64 ? 64 : lo;
    hi = hi < 0 ? 0 : hi > 64 ? 64 : hi;
    if (hi <= lo) return 0;
    return (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
}

/* A fused activation on one value (CKernels.h, ck_fused_activation), in the operations every vector path repeats
 * lane by lane: so a kernel that applies it in registers gives the bits of the activation's own kernel after it. */
static inline float ck_activate(float v, const ck_fused_activation *act) {
    if (act->kind == CK_ACTIVATION_HARDSWISH) {
        float t = v + 3.0f;
        t = t > 0.0f ? t : 0.0f;
        t = t < 6.0f ? t : 6.0f;
        return v * t / 6.0f;
    }
    float c = v > 0.0f ? v : 0.0f;
    return c < act->cap ? c : act->cap;
}

#endif
