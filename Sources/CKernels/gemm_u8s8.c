// u8 × s8 → s32 GEMM: the integer engine's matrix product, C[i][j] = Σ_p A[i][p] · B[j][p], with A uint8
// activations (m × k, row-major) and B int8 weights stored [out][in] (n × k, row-major), C int32 (m × n).
// Three paths compute exactly the same integers: AVX-512 VNNI (vpdpbusd on packed 4-byte groups, a 14 × 32 tile),
// AVX2 (widen to 16 bits, vpmaddwd: exact, unlike the saturating vpmaddubsw), and portable C. The CPU picks at run
// time; tests can force each path. Deliberately left out: zero-point corrections and requantization (the caller
// does them on the int32 result), threads (callers split m).
#include "CKernels.h"
#include "features.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define MR 14
#define NR 32

static int has_vnni(void) { return ck_has(CK_AVX512VNNI); }
static int has_avx2(void) { return ck_has(CK_FEATURE_AVX2); }

/* ------------------------------------------------------------------ portable */

static void gemm_scalar(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                        int64_t ldb, int32_t *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int32_t sum = 0;
            for (int64_t p = 0; p < k; p++) sum += (int32_t)a[i * lda + p] * (int32_t)b[j * ldb + p];
            c[i * ldc + j] = sum;
        }
}

/* ------------------------------------------------------------------ AVX2 */

__attribute__((target("avx2")))
static void gemm_avx2(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                      int32_t *c, int64_t ldc) {
    int64_t k16 = k / 16 * 16;
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *ra = a + i * lda;
        for (int64_t j = 0; j < n; j++) {
            const int8_t *rb = b + j * ldb;
            __m256i acc = _mm256_setzero_si256();
            for (int64_t p = 0; p < k16; p += 16) {
                __m256i wa = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(ra + p)));
                __m256i wb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(rb + p)));
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(wa, wb));  /* exact: |pair sum| ≤ 2·255·128 */
            }
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
            s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
            int32_t sum = _mm_cvtsi128_si32(s);
            for (int64_t p = k16; p < k; p++) sum += (int32_t)ra[p] * (int32_t)rb[p];
            c[i * ldc + j] = sum;
        }
    }
}

/* ------------------------------------------------------------------ AVX-512 VNNI */

/* Packs rows [i0, i0+rows) of A into groups of 4 bytes: panel[q][r] holds A[i0+r][4q … 4q+3] (zero padded). */
static void pack_a_quads(const uint8_t *a, int64_t lda, int64_t i0, int64_t rows, int64_t k, int64_t quads,
                         uint8_t *panel) {
    if (rows < MR || k % 4) memset(panel, 0, (size_t)(quads * MR * 4));
    int64_t whole = k / 4;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = a + (i0 + r) * lda;
        for (int64_t q = 0; q < whole; q++) memcpy(panel + (q * MR + r) * 4, src + 4 * q, 4);
        for (int64_t p = whole * 4; p < k; p++) panel[(whole * MR + r) * 4 + (p % 4)] = src[p];
    }
}

/* Packs rows [j0, j0+cols) of B likewise: panel[q][j] holds B[j0+j][4q … 4q+3] (zero padded). */
static void pack_b_quads(const int8_t *b, int64_t ldb, int64_t j0, int64_t cols, int64_t k, int64_t quads,
                         int8_t *panel) {
    if (cols < NR || k % 4) memset(panel, 0, (size_t)(quads * NR * 4));
    int64_t whole = k / 4;
    for (int64_t j = 0; j < cols; j++) {
        const int8_t *src = b + (j0 + j) * ldb;
        for (int64_t q = 0; q < whole; q++) memcpy(panel + (q * NR + j) * 4, src + 4 * q, 4);
        for (int64_t p = whole * 4; p < k; p++) panel[(whole * NR + j) * 4 + (p % 4)] = src[p];
    }
}

#define VNNI_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)

/* tile (MR × NR int32, row stride ldt) = Σ_q A · B-panel[q] over `quads` groups of 4 codes, where row r's q-th
 * group is the 4 bytes at row[r] + q·step: step 4 for rows read in place, MR·4 for a packed A panel. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void micro_vnni(int64_t quads, const uint8_t *const row[MR], int64_t step, const int8_t *pb, int32_t *tile,
                       int64_t ldt) {
#define DECLARE(r) __m512i c##r##a = _mm512_setzero_si512(), c##r##b = _mm512_setzero_si512();
    VNNI_ROWS(DECLARE)
#undef DECLARE
    for (int64_t q = 0, offset = 0; q < quads; q++, offset += step) {
        __m512i b0 = _mm512_loadu_si512(pb), b1 = _mm512_loadu_si512(pb + 64), av;
#define STEP(r)                                                           \
        av = _mm512_set1_epi32(*(const int32_t *)(row[r] + offset));      \
        c##r##a = _mm512_dpbusd_epi32(c##r##a, av, b0);                  \
        c##r##b = _mm512_dpbusd_epi32(c##r##b, av, b1);
        VNNI_ROWS(STEP)
#undef STEP
        pb += NR * 4;
    }
#define STORE(r)                                                       \
    _mm512_storeu_si512(tile + (r) * ldt, c##r##a);                   \
    _mm512_storeu_si512(tile + (r) * ldt + 16, c##r##b);
    VNNI_ROWS(STORE)
#undef STORE
}

/* The rows of a packed A panel (`pack_a_quads`), for `micro_vnni` with step MR·4. */
static void panel_rows(const uint8_t *pa, const uint8_t *row[MR]) {
    for (int64_t r = 0; r < MR; r++) row[r] = pa + 4 * r;
}

/* `rows` rows of A read in place from a, for `micro_vnni` with step 4; missing rows repeat the last one (their
 * results are discarded). Every row must hold 4·quads readable bytes (bytes past k meet zero weights). */
static void matrix_rows(const uint8_t *a, int64_t lda, int64_t rows, const uint8_t *row[MR]) {
    for (int64_t r = 0; r < MR; r++) row[r] = a + (r < rows ? r : rows - 1) * lda;
}

/* Few rows of A (batch-1 shapes): packing would cost more than the product, and A and B are both K-contiguous, so
 * each C entry is one dot product of 64-byte chunks (the tail loaded under a byte mask, zeros elsewhere). Four B rows
 * at a time share each A chunk. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void gemm_vnni_dot(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                          int64_t ldb, int32_t *c, int64_t ldc) {
    int64_t full = k / 64 * 64;
    __mmask64 tail = k - full == 0 ? 0 : (~(__mmask64)0) >> (64 - (k - full));
    for (int64_t i = 0; i < m; i++) {
        const uint8_t *ra = a + i * lda;
        int64_t j = 0;
        for (; j + 4 <= n; j += 4) {
            const int8_t *r0 = b + j * ldb, *r1 = r0 + ldb, *r2 = r1 + ldb, *r3 = r2 + ldb;
            __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t p = 0; p < full; p += 64) {
                __m512i av = _mm512_loadu_si512(ra + p);
                s0 = _mm512_dpbusd_epi32(s0, av, _mm512_loadu_si512(r0 + p));
                s1 = _mm512_dpbusd_epi32(s1, av, _mm512_loadu_si512(r1 + p));
                s2 = _mm512_dpbusd_epi32(s2, av, _mm512_loadu_si512(r2 + p));
                s3 = _mm512_dpbusd_epi32(s3, av, _mm512_loadu_si512(r3 + p));
            }
            if (tail) {
                __m512i av = _mm512_maskz_loadu_epi8(tail, ra + full);
                s0 = _mm512_dpbusd_epi32(s0, av, _mm512_maskz_loadu_epi8(tail, r0 + full));
                s1 = _mm512_dpbusd_epi32(s1, av, _mm512_maskz_loadu_epi8(tail, r1 + full));
                s2 = _mm512_dpbusd_epi32(s2, av, _mm512_maskz_loadu_epi8(tail, r2 + full));
                s3 = _mm512_dpbusd_epi32(s3, av, _mm512_maskz_loadu_epi8(tail, r3 + full));
            }
            c[i * ldc + j] = _mm512_reduce_add_epi32(s0);
            c[i * ldc + j + 1] = _mm512_reduce_add_epi32(s1);
            c[i * ldc + j + 2] = _mm512_reduce_add_epi32(s2);
            c[i * ldc + j + 3] = _mm512_reduce_add_epi32(s3);
        }
        for (; j < n; j++) {
            const int8_t *rb = b + j * ldb;
            __m512i sum = _mm512_setzero_si512();
            for (int64_t p = 0; p < full; p += 64)
                sum = _mm512_dpbusd_epi32(sum, _mm512_loadu_si512(ra + p), _mm512_loadu_si512(rb + p));
            if (tail)
                sum = _mm512_dpbusd_epi32(sum, _mm512_maskz_loadu_epi8(tail, ra + full), _mm512_maskz_loadu_epi8(tail, rb + full));
            c[i * ldc + j] = _mm512_reduce_add_epi32(sum);
        }
    }
}

/* Where finished tiles go: int32 into C, or requantized to uint8 codes while still in L1 (`out` set). */
struct tile_sink {
    int32_t *c;
    int64_t ldc;
    const double *offset;
    const float *multiplier;
    int32_t zeroPoint, low, high;
    uint8_t *out;
    int64_t ldo;
};

/* The VNNI product over packed weights, A panel outer: each panel of MR rows is read in place when its rows hold
 * whole groups of 4 (lda ≥ 4·quads), else packed once into a small buffer, and meets every B panel while it is in
 * L1; the packed weights stream from L2. */
static void gemm_vnni_panels(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *pb,
                             const struct tile_sink *sink) {
    int64_t quads = (k + 3) / 4, aPanels = (m + MR - 1) / MR, bPanels = (n + NR - 1) / NR;
    int direct = 4 * quads <= lda;
    uint8_t *pa = direct ? NULL : aligned_alloc(64, (size_t)((quads * MR * 4 + 63) / 64 * 64));
    if (!direct && !pa) abort();  /* out of memory for one packed panel: nothing sensible is left to do */
    int32_t tile[MR * NR];
    for (int64_t ip = 0; ip < aPanels; ip++) {
        int64_t rows = m - ip * MR < MR ? m - ip * MR : MR;
        const uint8_t *row[MR];
        if (direct) {
            matrix_rows(a + ip * MR * lda, lda, rows, row);
        } else {
            pack_a_quads(a, lda, ip * MR, rows, k, quads, pa);
            panel_rows(pa, row);
        }
        int64_t step = direct ? 4 : MR * 4;
        for (int64_t jp = 0; jp < bPanels; jp++) {
            int64_t cols = n - jp * NR < NR ? n - jp * NR : NR;
            const int8_t *panel = pb + jp * quads * NR * 4;
            if (sink->out) {
                micro_vnni(quads, row, step, panel, tile, NR);
                ck_requantize_u8(tile, rows, cols, NR, sink->offset + jp * NR, sink->multiplier + jp * NR,
                                 sink->zeroPoint, sink->low, sink->high, sink->out + ip * MR * sink->ldo + jp * NR,
                                 sink->ldo);
                continue;
            }
            int32_t *ct = sink->c + ip * MR * sink->ldc + jp * NR;
            if (rows == MR && cols == NR) {
                micro_vnni(quads, row, step, panel, ct, sink->ldc);
            } else {
                micro_vnni(quads, row, step, panel, tile, NR);
                for (int64_t i = 0; i < rows; i++) memcpy(ct + i * sink->ldc, tile + i * NR, (size_t)cols * sizeof(int32_t));
            }
        }
    }
    free(pa);
}

/* Weights packed once (they do not change between calls): every B panel in the layout `micro_vnni` reads. */
int64_t ck_gemm_u8s8_packed_size(int64_t n, int64_t k) {
    return ((n + NR - 1) / NR) * ((k + 3) / 4) * NR * 4;
}

static void pack_weights(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int8_t *packed) {
    int64_t quads = (k + 3) / 4, bPanels = (n + NR - 1) / NR;
    for (int64_t jp = 0; jp < bPanels; jp++) {
        int64_t cols = n - jp * NR < NR ? n - jp * NR : NR;
        pack_b_quads(b, ldb, jp * NR, cols, k, quads, packed + jp * quads * NR * 4);
    }
}

int ck_gemm_u8s8_pack(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int8_t *packed) {
    if (!has_vnni() || n <= 0 || k <= 0) return 0;
    pack_weights(n, k, b, ldb, packed);
    return 1;
}

/* Weights given unpacked: packed for this call, then the same product. */
static void gemm_vnni(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                      int32_t *c, int64_t ldc) {
    int8_t *pb = aligned_alloc(64, (size_t)((ck_gemm_u8s8_packed_size(n, k) + 63) / 64 * 64));
    if (!pb) abort();  /* out of memory for the packed weights: nothing sensible is left to do */
    pack_weights(n, k, b, ldb, pb);
    struct tile_sink sink = {.c = c, .ldc = ldc};
    gemm_vnni_panels(m, n, k, a, lda, pb, &sink);
    free(pb);
}

void ck_gemm_u8s8_requantize(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                             int64_t ldb, const int8_t *packed, const double *offset, const float *multiplier,
                             int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out, int64_t ldo) {
    if (m <= 0 || n <= 0) return;
    if (packed && m >= 4 && k > 0 && has_vnni()) {
        struct tile_sink sink = {.offset = offset, .multiplier = multiplier, .zeroPoint = zeroPoint, .low = low,
                                 .high = high, .out = out, .ldo = ldo};
        gemm_vnni_panels(m, n, k, a, lda, packed, &sink);
        return;
    }
    int32_t *acc = malloc((size_t)(m * n) * sizeof(int32_t));
    if (!acc) abort();  /* out of memory for the accumulators: nothing sensible is left to do */
    ck_gemm_u8s8(m, n, k, a, lda, b, ldb, acc, n);
    ck_requantize_u8(acc, m, n, n, offset, multiplier, zeroPoint, low, high, out, ldo);
    free(acc);
}

void ck_gemm_u8s8_packed(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                         int64_t ldb, const int8_t *packed, int32_t *c, int64_t ldc) {
    struct tile_sink sink = {.c = c, .ldc = ldc};
    if (packed && m >= 4 && n > 0 && k > 0 && has_vnni()) gemm_vnni_panels(m, n, k, a, lda, packed, &sink);
    else ck_gemm_u8s8(m, n, k, a, lda, b, ldb, c, ldc);
}

/* ------------------------------------------------------------------ dispatch */

int ck_gemm_u8s8_path(void) { return has_vnni() ? CK_GEMM_U8S8_VNNI : has_avx2() ? CK_GEMM_U8S8_AVX2 : CK_GEMM_U8S8_SCALAR; }

int ck_gemm_u8s8_with(int path, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                      int64_t ldb, int32_t *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return 1;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++) memset(c + i * ldc, 0, (size_t)n * sizeof(int32_t));
        return 1;
    }
    switch (path) {
    case CK_GEMM_U8S8_VNNI:
        if (!has_vnni()) return 0;
        if (m < 4) gemm_vnni_dot(m, n, k, a, lda, b, ldb, c, ldc);
        else gemm_vnni(m, n, k, a, lda, b, ldb, c, ldc);
        return 1;
    case CK_GEMM_U8S8_AVX2:
        if (!has_avx2()) return 0;
        gemm_avx2(m, n, k, a, lda, b, ldb, c, ldc);
        return 1;
    case CK_GEMM_U8S8_SCALAR:
        gemm_scalar(m, n, k, a, lda, b, ldb, c, ldc);
        return 1;
    default:
        return 0;
    }
}

void ck_gemm_u8s8(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                  int32_t *c, int64_t ldc) {
    ck_gemm_u8s8_with(ck_gemm_u8s8_path(), m, n, k, a, lda, b, ldb, c, ldc);
}
