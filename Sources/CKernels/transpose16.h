// Private to CKernels: an in-register 16 × 16 Float32 transpose (AVX-512), shared by the sgemm packing and the
// sparse kernel's transposed input blocks.
#ifndef CKERNELS_TRANSPOSE16_H
#define CKERNELS_TRANSPOSE16_H
#include <immintrin.h>
#include <stdint.h>

/* Transposes 16 rows of 16 floats (row j at src + j·ld) into registers holding the 16 columns: out[p][j] =
 * src[j·ld + p]. Three rounds of shuffles: pairs (unpack), quads (shuffle_ps), then 128-bit lanes (shuffle_f32x4). */
__attribute__((target("avx512f")))
static inline void transpose16(const float *src, int64_t ld, __m512 out[16]) {
    __m512 r[16], t[16], u[16];
    for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + j * ld);
    for (int j = 0; j < 16; j += 2) {
        t[j] = _mm512_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm512_unpackhi_ps(r[j], r[j + 1]);
    }
    for (int j = 0; j < 16; j += 4) {
        u[j] = _mm512_shuffle_ps(t[j], t[j + 2], 0x44);
        u[j + 1] = _mm512_shuffle_ps(t[j], t[j + 2], 0xEE);
        u[j + 2] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        u[j + 3] = _mm512_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
    }
    /* u[4g + q] holds, in lane L, element 4L + q of rows 4g … 4g+3. */
    for (int q = 0; q < 4; q++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
        out[q] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        out[q + 8] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        out[q + 4] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        out[q + 12] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

#endif
