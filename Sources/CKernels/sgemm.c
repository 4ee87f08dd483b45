// ck_sgemm: a packed single-precision GEMM in the manner of BLIS/GotoBLAS, for CPUs whose AVX-512 units OpenBLAS
// does not use (OpenBLAS 0.3.21 pinned to its Haswell kernels by OPENBLAS_CORETYPE). C is cut into KC-deep,
// MC × NC blocks; A is packed into MR-row panels and B into NR-column panels, zero-padded at the edges, so the
// micro-kernel always runs full MR × NR tiles and edge tiles go through a small buffer.
// Deliberately left out: threads (callers split C), complex types, column-major storage.
#include "CKernels.h"
#include "transpose16.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

int ck_sgemm_uses_avx512(void);

#define MR 14
#define NR 32
#define KC 384
#define MC 112  /* 8 panels of MR */
#define NC 2048

/* Element (i, p) of op(A) and (p, j) of op(B) as stored. */
#define A_AT(i, p) (transA ? a[(p) * lda + (i)] : a[(i) * lda + (p)])
#define B_AT(p, j) (transB ? b[(j) * ldb + (p)] : b[(p) * ldb + (j)])

/* pack_a for A stored (m × k) with all MR rows present: 16 p at a time through transpose16 (rows MR … 15 read as
 * copies of the last row and masked off on store). Returns how many p it packed (a multiple of 16). */
__attribute__((target("avx512f")))
static int64_t pack_a_rows_avx512(const float *src, int64_t lda, int64_t kc, float *dst) {
    __m512 columns[16];
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        float rows[16 * 16];
        for (int r = 0; r < 16; r++) _mm512_storeu_ps(rows + r * 16, _mm512_loadu_ps(src + (r < MR ? r : MR - 1) * lda + p));
        transpose16(rows, 16, columns);
        for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(dst + (p + q) * MR, (__mmask16)((1 << MR) - 1), columns[q]);
    }
    return p;
}

/* pack_b for B stored transposed (n × k) with all NR columns present: two 16-row halves through transpose16. */
__attribute__((target("avx512f")))
static int64_t pack_b_transposed_avx512(const float *src, int64_t ldb, int64_t kc, float *dst) {
    __m512 columns[16];
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        for (int half = 0; half < 2; half++) {
            transpose16(src + half * 16 * ldb + p, ldb, columns);
            for (int q = 0; q < 16; q++) _mm512_storeu_ps(dst + (p + q) * NR + half * 16, columns[q]);
        }
    }
    return p;
}

/* Packs op(A)[i0 ..< i0+mc, p0 ..< p0+kc] into MR-row panels: panel r holds, for each p, MR consecutive values. */
static void pack_a(int transA, const float *a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                   float *packed) {
    for (int64_t ir = 0; ir < mc; ir += MR) {
        int64_t rows = mc - ir < MR ? mc - ir : MR;
        float *dst = packed + ir * kc;
        if (!transA) {
            const float *src = a + (i0 + ir) * lda + p0;
            int64_t done = rows == MR && ck_sgemm_uses_avx512() ? pack_a_rows_avx512(src, lda, kc, dst) : 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t p = done; p < kc; p++) dst[p * MR + r] = src[r * lda + p];
        } else {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = a + (p0 + p) * lda + i0 + ir;
                for (int64_t r = 0; r < rows; r++) dst[p * MR + r] = src[r];
            }
        }
        if (rows < MR) {
            for (int64_t p = 0; p < kc; p++)
                for (int64_t r = rows; r < MR; r++) dst[p * MR + r] = 0;
        }
    }
}

/* Packs op(B)[p0 ..< p0+kc, j0 ..< j0+nc] into NR-column panels: panel c holds, for each p, NR consecutive values. */
static void pack_b(int transB, const float *b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                   float *packed) {
    for (int64_t jr = 0; jr < nc; jr += NR) {
        int64_t cols = nc - jr < NR ? nc - jr : NR;
        float *dst = packed + jr * kc;
        if (!transB) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = b + (p0 + p) * ldb + j0 + jr;
                float *d = dst + p * NR;
                memcpy(d, src, (size_t)cols * sizeof(float));
                for (int64_t j = cols; j < NR; j++) d[j] = 0;
            }
        } else {
            const float *src = b + (j0 + jr) * ldb + p0;
            int64_t done = cols == NR && ck_sgemm_uses_avx512() ? pack_b_transposed_avx512(src, ldb, kc, dst) : 0;
            for (int64_t j = 0; j < cols; j++)
                for (int64_t p = done; p < kc; p++) dst[p * NR + j] = src[j * ldb + p];
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = cols; j < NR; j++) dst[p * NR + j] = 0;
        }
    }
}

/* tile (MR × NR, row stride ldt) = Σ_p a[p, :]ᵀ · b[p, :] over kc packed steps; `accumulate` adds to the tile.
 * The 28 accumulators are named one by one so that they stay in zmm registers (an array of them is spilled). */
__attribute__((target("avx512f,fma")))
static void micro_avx512(int64_t kc, const float *restrict a, const float *restrict b, float *restrict tile,
                         int64_t ldt, int accumulate) {
    __m512 c0a = _mm512_setzero_ps(), c0b = _mm512_setzero_ps(), c1a = _mm512_setzero_ps(), c1b = _mm512_setzero_ps(), c2a = _mm512_setzero_ps(), c2b = _mm512_setzero_ps(), c3a = _mm512_setzero_ps(), c3b = _mm512_setzero_ps(), c4a = _mm512_setzero_ps(), c4b = _mm512_setzero_ps(), c5a = _mm512_setzero_ps(), c5b = _mm512_setzero_ps(), c6a = _mm512_setzero_ps(), c6b = _mm512_setzero_ps(), c7a = _mm512_setzero_ps(), c7b = _mm512_setzero_ps(), c8a = _mm512_setzero_ps(), c8b = _mm512_setzero_ps(), c9a = _mm512_setzero_ps(), c9b = _mm512_setzero_ps(), c10a = _mm512_setzero_ps(), c10b = _mm512_setzero_ps(), c11a = _mm512_setzero_ps(), c11b = _mm512_setzero_ps(), c12a = _mm512_setzero_ps(), c12b = _mm512_setzero_ps(), c13a = _mm512_setzero_ps(), c13b = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), ai;
        ai = _mm512_set1_ps(a[0]); c0a = _mm512_fmadd_ps(ai, b0, c0a); c0b = _mm512_fmadd_ps(ai, b1, c0b);
        ai = _mm512_set1_ps(a[1]); c1a = _mm512_fmadd_ps(ai, b0, c1a); c1b = _mm512_fmadd_ps(ai, b1, c1b);
        ai = _mm512_set1_ps(a[2]); c2a = _mm512_fmadd_ps(ai, b0, c2a); c2b = _mm512_fmadd_ps(ai, b1, c2b);
        ai = _mm512_set1_ps(a[3]); c3a = _mm512_fmadd_ps(ai, b0, c3a); c3b = _mm512_fmadd_ps(ai, b1, c3b);
        ai = _mm512_set1_ps(a[4]); c4a = _mm512_fmadd_ps(ai, b0, c4a); c4b = _mm512_fmadd_ps(ai, b1, c4b);
        ai = _mm512_set1_ps(a[5]); c5a = _mm512_fmadd_ps(ai, b0, c5a); c5b = _mm512_fmadd_ps(ai, b1, c5b);
        ai = _mm512_set1_ps(a[6]); c6a = _mm512_fmadd_ps(ai, b0, c6a); c6b = _mm512_fmadd_ps(ai, b1, c6b);
        ai = _mm512_set1_ps(a[7]); c7a = _mm512_fmadd_ps(ai, b0, c7a); c7b = _mm512_fmadd_ps(ai, b1, c7b);
        ai = _mm512_set1_ps(a[8]); c8a = _mm512_fmadd_ps(ai, b0, c8a); c8b = _mm512_fmadd_ps(ai, b1, c8b);
        ai = _mm512_set1_ps(a[9]); c9a = _mm512_fmadd_ps(ai, b0, c9a); c9b = _mm512_fmadd_ps(ai, b1, c9b);
        ai = _mm512_set1_ps(a[10]); c10a = _mm512_fmadd_ps(ai, b0, c10a); c10b = _mm512_fmadd_ps(ai, b1, c10b);
        ai = _mm512_set1_ps(a[11]); c11a = _mm512_fmadd_ps(ai, b0, c11a); c11b = _mm512_fmadd_ps(ai, b1, c11b);
        ai = _mm512_set1_ps(a[12]); c12a = _mm512_fmadd_ps(ai, b0, c12a); c12b = _mm512_fmadd_ps(ai, b1, c12b);
        ai = _mm512_set1_ps(a[13]); c13a = _mm512_fmadd_ps(ai, b0, c13a); c13b = _mm512_fmadd_ps(ai, b1, c13b);
        a += MR;
        b += NR;
    }
#define STORE_ROW(i, lo, hi)                                                        \
    do {                                                                             \
        float *row = tile + (i) * ldt;                                               \
        if (accumulate) {                                                            \
            lo = _mm512_add_ps(lo, _mm512_loadu_ps(row));                            \
            hi = _mm512_add_ps(hi, _mm512_loadu_ps(row + 16));                       \
        }                                                                            \
        _mm512_storeu_ps(row, lo);                                                   \
        _mm512_storeu_ps(row + 16, hi);                                              \
    } while (0)
    STORE_ROW(0, c0a, c0b);
    STORE_ROW(1, c1a, c1b);
    STORE_ROW(2, c2a, c2b);
    STORE_ROW(3, c3a, c3b);
    STORE_ROW(4, c4a, c4b);
    STORE_ROW(5, c5a, c5b);
    STORE_ROW(6, c6a, c6b);
    STORE_ROW(7, c7a, c7b);
    STORE_ROW(8, c8a, c8b);
    STORE_ROW(9, c9a, c9b);
    STORE_ROW(10, c10a, c10b);
    STORE_ROW(11, c11a, c11b);
    STORE_ROW(12, c12a, c12b);
    STORE_ROW(13, c13a, c13b);
#undef STORE_ROW
}

/* The same arithmetic in portable C (same order over p, so the same sums up to FMA contraction). */
static void micro_portable(int64_t kc, const float *restrict a, const float *restrict b, float *restrict tile,
                           int64_t ldt, int accumulate) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < kc; p++) {
        for (int i = 0; i < MR; i++) {
            float ai = a[i];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
        a += MR;
        b += NR;
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) tile[i * ldt + j] = accumulate ? tile[i * ldt + j] + acc[i][j] : acc[i][j];
}

int ck_sgemm_uses_avx512(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return cached;
#else
    return 0;
#endif
}

/* Packing buffers, one pair per thread, grown on demand and kept for the thread's life. */
static _Thread_local float *packedA = NULL, *packedB = NULL;

static float *aligned_buffer(float **slot, size_t floats) {
    if (!*slot) *slot = aligned_alloc(64, floats * sizeof(float));
    return *slot;
}

/* The product of one KC-deep slice of op(A) (all m rows) with a packed block of op(B) (columns j0 + jStart ..<
 * j0 + jEnd of C, jStart a multiple of NR), added to C, or stored over it when `overwrite` (the first slice of a
 * product with beta 0: no pass clearing C first, no reading it back). */
static void multiply_block(int transA, int64_t m, const float *a, int64_t lda, float alpha, int64_t p0, int64_t kc,
                           const float *pb, int64_t j0, int64_t jStart, int64_t jEnd, float *c, int64_t ldc,
                           float *pa, int overwrite) {
    void (*micro)(int64_t, const float *, const float *, float *, int64_t, int) =
        ck_sgemm_uses_avx512() ? micro_avx512 : micro_portable;
    float edge[MR * NR];
    for (int64_t i0 = 0; i0 < m; i0 += MC) {
        int64_t mc = m - i0 < MC ? m - i0 : MC;
        pack_a(transA, a, lda, i0, mc, p0, kc, pa);
        if (alpha != 1) for (int64_t q = 0; q < ((mc + MR - 1) / MR) * MR * kc; q++) pa[q] *= alpha;
        for (int64_t jr = jStart; jr < jEnd; jr += NR) {
            int64_t cols = jEnd - jr < NR ? jEnd - jr : NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
                int64_t rows = mc - ir < MR ? mc - ir : MR;
                float *ct = c + (i0 + ir) * ldc + j0 + jr;
                if (rows == MR && cols == NR) {
                    micro(kc, pa + ir * kc, pb + jr * kc, ct, ldc, !overwrite);
                } else {
                    micro(kc, pa + ir * kc, pb + jr * kc, edge, NR, 0);
                    for (int64_t i = 0; i < rows; i++) {
                        if (overwrite) memcpy(ct + i * ldc, edge + i * NR, (size_t)cols * sizeof(float));
                        else for (int64_t j = 0; j < cols; j++) ct[i * ldc + j] += edge[i * NR + j];
                    }
                }
            }
        }
    }
}

static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    if (beta == 1) return;
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0) memset(row, 0, (size_t)n * sizeof(float));
        else for (int64_t j = 0; j < n; j++) row[j] *= beta;
    }
}

void ck_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    /* With beta 0 the first KC slice stores its sums over C (C = 0 + sum gives the same values, up to the sign of
     * a zero sum) instead of C being cleared first. */
    int overwrite = beta == 0 && k > 0 && alpha != 0;
    if (!overwrite) scale_c(m, n, beta, c, ldc);
    if (k <= 0 || alpha == 0) return;
    float *pa = aligned_buffer(&packedA, (size_t)MC * KC);
    float *pb = aligned_buffer(&packedB, (size_t)NC * KC);
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            pack_b(transB, b, ldb, p0, kc, j0, nc, pb);
            multiply_block(transA, m, a, lda, alpha, p0, kc, pb, j0, 0, nc, c, ldc, pa, overwrite && p0 == 0);
        }
    }
}

/* A packed op(B) holds, for each NC-wide block of columns and in it each KC-deep slice, what ck_sgemm's pack_b
 * writes for them (its columns padded to whole panels of NR), one after another in ck_sgemm's order. */
int64_t ck_sgemm_packed_b_size(int64_t n, int64_t k) {
    if (n <= 0 || k <= 0) return 0;
    return (n + NR - 1) / NR * NR * k;
}

void ck_sgemm_pack_b(int transB, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed) {
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC, width = (nc + NR - 1) / NR * NR;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            pack_b(transB, b, ldb, p0, kc, j0, nc, packed);
            packed += width * kc;
        }
    }
}

int ck_sgemm_packed(int transA, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                    float beta, float *c, int64_t ldc, int64_t columnStart, int64_t columnEnd) {
    if (columnStart < 0 || columnEnd > n || columnStart > columnEnd || columnStart % NR != 0) return 0;
    if (m <= 0 || columnStart == columnEnd) return 1;
    int overwrite = beta == 0 && k > 0;
    if (!overwrite) scale_c(m, columnEnd - columnStart, beta, c + columnStart, ldc);
    if (k <= 0) return 1;
    float *pa = aligned_buffer(&packedA, (size_t)MC * KC);
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = n - j0 < NC ? n - j0 : NC, width = (nc + NR - 1) / NR * NR;
        int64_t from = columnStart - j0 > 0 ? columnStart - j0 : 0, to = columnEnd - j0 < nc ? columnEnd - j0 : nc;
        for (int64_t p0 = 0; p0 < k; p0 += KC) {
            int64_t kc = k - p0 < KC ? k - p0 : KC;
            if (from < to) multiply_block(transA, m, a, lda, 1, p0, kc, packed, j0, from, to, c, ldc, pa,
                                          overwrite && p0 == 0);
            packed += width * kc;
        }
    }
    return 1;
}
