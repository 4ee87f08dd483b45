// u8 × s8 → s32 GEMM: the integer engine's matrix product, C[i][j] = Σ_p A[i][p] · B[j][p], with A uint8
// activations (m × k, row-major) and B int8 weights stored [out][in] (n × k, row-major), C int32 (m × n).
// Three paths compute exactly the same integers: AVX-512 VNNI (vpdpbusd on packed 4-byte groups, a 14 × 32 tile),
// AVX2 (widen to 16 bits, vpmaddwd: exact, unlike the saturating vpmaddubsw; a 6 × 16 tile over packed pairs, dot
// products for a few rows), and portable C. The CPU picks at run time; tests can force each path. Zero-point
// corrections and requantization are the caller's (ck_requantize_u8, fused tile by tile in
// ck_gemm_u8s8_requantize); threads too (callers split m).
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* The requantization in registers repeats ck_requantize_u8's separate multiply and add. */
#pragma clang fp contract(off)

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

/* The AVX2 panel product. Codes are widened to 16 bits once, at packing, and multiplied in pairs by vpmaddwd
 * (a·b + a'·b' exactly in int32), so no product saturates as vpmaddubsw's 16-bit pair sums would. A 6 × 16 tile
 * of int32 (12 registers) accumulates over k; B panels hold 16 columns × ⌈k/2⌉ pairs of int16, A rows are widened to
 * int16 (each pair then one int32, broadcast to every lane). */
#define MR2 6
#define NR2 16

static int64_t pairs_of(int64_t k) { return (k + 1) / 2; }

/* A rows [i0, i0+rows) widened: row r of the block is 2·pairs int16 at rows + r·2·pairs (a zero past k). */
__attribute__((target("avx2")))
static void widen_rows(const uint8_t *a, int64_t lda, int64_t i0, int64_t rows, int64_t k, int16_t *out) {
    int64_t width = 2 * pairs_of(k), k16 = k / 16 * 16;
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = a + (i0 + r) * lda;
        int16_t *dst = out + r * width;
        for (int64_t p = 0; p < k16; p += 16)
            _mm256_storeu_si256((__m256i *)(dst + p), _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(src + p))));
        for (int64_t p = k16; p < k; p++) dst[p] = src[p];
        if (k % 2) dst[k] = 0;
    }
}

/* B columns [j0, j0+cols) as pairs: panel[(q·NR2 + j)·2 + h] = B[j][2q + h] as int16 (zero padded). */
static void pack_b_pairs(const int8_t *b, int64_t ldb, int64_t j0, int64_t cols, int64_t k, int16_t *panel) {
    int64_t pairs = pairs_of(k);
    memset(panel, 0, (size_t)(pairs * NR2 * 2) * sizeof(int16_t));
    for (int64_t j = 0; j < cols; j++) {
        const int8_t *src = b + (j0 + j) * ldb;
        for (int64_t p = 0; p < k; p++) panel[((p / 2) * NR2 + j) * 2 + p % 2] = src[p];
    }
}

#define AVX2_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* A pair of int16 as the one int32 vpmaddwd reads it (memcpy: no type punning through a pointer). */
static inline int32_t pair_at(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* tile (MR2 × NR2 int32, row stride ldt) = Σ_q A · B-panel[q]; row r's q-th pair is row[r][2q], row[r][2q + 1]. */
__attribute__((target("avx2")))
static void micro_avx2(int64_t pairs, const int16_t *const row[MR2], const int16_t *pb, int32_t *tile, int64_t ldt) {
#define DECLARE(r) __m256i c##r##a = _mm256_setzero_si256(), c##r##b = _mm256_setzero_si256(); \
    const int16_t *a##r = row[r];
    AVX2_ROWS(DECLARE)
#undef DECLARE
    for (int64_t q = 0; q < pairs; q++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)pb), b1 = _mm256_loadu_si256((const __m256i *)(pb + 16)), av;
#define STEP(r)                                                           \
        av = _mm256_set1_epi32(pair_at(a##r + 2 * q));                    \
        c##r##a = _mm256_add_epi32(c##r##a, _mm256_madd_epi16(av, b0));   \
        c##r##b = _mm256_add_epi32(c##r##b, _mm256_madd_epi16(av, b1));
        AVX2_ROWS(STEP)
#undef STEP
        pb += NR2 * 2;
    }
#define STORE(r)                                                                \
    _mm256_storeu_si256((__m256i *)(tile + (r) * ldt), c##r##a);                \
    _mm256_storeu_si256((__m256i *)(tile + (r) * ldt + 8), c##r##b);
    AVX2_ROWS(STORE)
#undef STORE
}

struct tile_sink;
static void sink_tile(const struct tile_sink *sink, const int32_t *tile, int64_t ldt, int64_t i, int64_t j,
                      int64_t rows, int64_t cols);

/* The AVX2 product over packed weights: blocks of rows whose widened copies fit in L2 beside one B panel; each B
 * panel meets every row panel of the block while it is in L1. */
static void gemm_avx2_panels(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int16_t *pb,
                             const struct tile_sink *sink) {
    int64_t pairs = pairs_of(k), bPanels = (n + NR2 - 1) / NR2;
    int64_t block = (128 * 1024) / (pairs * 4 * MR2);
    block = block < 1 ? 1 : block > 16 ? 16 : block;  /* row panels a block */
    int16_t *wide = malloc((size_t)(block * MR2 * 2 * pairs) * sizeof(int16_t));
    if (!wide) abort();  /* out of memory for one block of widened rows: nothing sensible is left to do */
    int32_t tile[MR2 * NR2];
    for (int64_t i0 = 0; i0 < m; i0 += block * MR2) {
        int64_t blockRows = m - i0 < block * MR2 ? m - i0 : block * MR2, panels = (blockRows + MR2 - 1) / MR2;
        widen_rows(a, lda, i0, blockRows, k, wide);
        for (int64_t jp = 0; jp < bPanels; jp++) {
            int64_t cols = n - jp * NR2 < NR2 ? n - jp * NR2 : NR2;
            for (int64_t ip = 0; ip < panels; ip++) {
                int64_t rows = blockRows - ip * MR2 < MR2 ? blockRows - ip * MR2 : MR2;
                /* Missing rows of the last panel repeat its last row (their results are discarded). */
                const int16_t *row[MR2];
                for (int64_t r = 0; r < MR2; r++) row[r] = wide + (ip * MR2 + (r < rows ? r : rows - 1)) * 2 * pairs;
                micro_avx2(pairs, row, pb + jp * pairs * NR2 * 2, tile, NR2);
                sink_tile(sink, tile, NR2, i0 + ip * MR2, jp * NR2, rows, cols);
            }
        }
    }
    free(wide);
}

static int64_t avx2_packed_size(int64_t n, int64_t k) { return ((n + NR2 - 1) / NR2) * pairs_of(k) * NR2 * 2 * 2; }

static void pack_weights_avx2(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int16_t *packed) {
    int64_t bPanels = (n + NR2 - 1) / NR2;
    for (int64_t jp = 0; jp < bPanels; jp++) {
        int64_t cols = n - jp * NR2 < NR2 ? n - jp * NR2 : NR2;
        pack_b_pairs(b, ldb, jp * NR2, cols, k, packed + jp * pairs_of(k) * NR2 * 2);
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

/* The 28 accumulators of a 14 × 32 tile (named one by one so that they stay in zmm registers) = Σ_q A · B-panel[q]
 * over `quads` groups of 4 codes, where row r's q-th group is the 4 bytes at row[r] + q·step: step 4 for rows read in
 * place, MR·4 for a packed A panel. */
#define VNNI_PRODUCT                                                                  \
    VNNI_ROWS(VNNI_DECLARE)                                                           \
    for (int64_t q = 0, offset = 0; q < quads; q++, offset += step) {                 \
        __m512i b0 = _mm512_loadu_si512(pb), b1 = _mm512_loadu_si512(pb + 64), av;    \
        VNNI_ROWS(VNNI_STEP)                                                          \
        pb += NR * 4;                                                                 \
    }
#define VNNI_DECLARE(r) __m512i c##r##a = _mm512_setzero_si512(), c##r##b = _mm512_setzero_si512();
#define VNNI_STEP(r)                                                  \
    av = _mm512_set1_epi32(*(const int32_t *)(row[r] + offset));      \
    c##r##a = _mm512_dpbusd_epi32(c##r##a, av, b0);                  \
    c##r##b = _mm512_dpbusd_epi32(c##r##b, av, b1);

/* tile (MR × NR int32, row stride ldt) = the product. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void micro_vnni(int64_t quads, const uint8_t *const row[MR], int64_t step, const int8_t *pb, int32_t *tile,
                       int64_t ldt) {
    VNNI_PRODUCT
#define STORE(r)                                                       \
    _mm512_storeu_si512(tile + (r) * ldt, c##r##a);                   \
    _mm512_storeu_si512(tile + (r) * ldt + 16, c##r##b);
    VNNI_ROWS(STORE)
#undef STORE
}

/* What requantizes a tile's 32 columns in registers: the multipliers and scaled offsets of the columns (zero past
 * the last), the clamp bounds less the zero point, and the byte mask of the columns kept. */
struct vnni_requantizer {
    __m512 m0, m1, c0, c1, lo, hi;
    __m512i zp;
    __mmask64 keep;
    int whole;
};

/* The product's rows 0 ..< rows requantized straight from the accumulators into `out` (row stride ldo): the
 * operations of ck_requantize_u8's AVX-512 path, value for value (s = acc · m + c with no fused multiply-add,
 * clamped, rounded half to even, plus the zero point), so the same bytes as the tile stored and requantized after,
 * without the tile's round trip through memory. */
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void micro_vnni_requantize(int64_t quads, const uint8_t *const row[MR], int64_t step, const int8_t *pb,
                                  int64_t rows, const struct vnni_requantizer *rq, uint8_t *out, int64_t ldo) {
    VNNI_PRODUCT
    const __m512 m0 = rq->m0, m1 = rq->m1, c0 = rq->c0, c1 = rq->c1, lo = rq->lo, hi = rq->hi;
    const __m512i zp = rq->zp;
#define REQUANTIZE(r)                                                                                            \
    if ((r) < rows) {                                                                                             \
        __m512 s0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(c##r##a), m0), c0);                            \
        __m512 s1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(c##r##b), m1), c1);                            \
        s0 = _mm512_min_ps(_mm512_max_ps(s0, lo), hi);                                                            \
        s1 = _mm512_min_ps(_mm512_max_ps(s1, lo), hi);                                                            \
        __m128i q0 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(s0), zp));                         \
        __m128i q1 = _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(s1), zp));                         \
        __m512i bytes = _mm512_inserti32x4(_mm512_castsi128_si512(q0), q1, 1);                                   \
        if (rq->whole) _mm256_storeu_si256((__m256i *)(out + (r) * ldo), _mm512_castsi512_si256(bytes));         \
        else _mm512_mask_storeu_epi8(out + (r) * ldo, rq->keep, bytes);                                           \
    }
    VNNI_ROWS(REQUANTIZE)
#undef REQUANTIZE
}

/* The requantizer of columns j ..< j + cols (cols ≤ NR), from the per-call scaled offsets `scaled`. */
__attribute__((target("avx512f,avx512bw")))
static void vnni_requantizer_for(const float *multiplier, const float *scaled, int64_t j, int64_t cols,
                                 int32_t zeroPoint, int32_t low, int32_t high, struct vnni_requantizer *rq) {
    __mmask16 k0 = (__mmask16)ck_span_mask(0, cols), k1 = (__mmask16)ck_span_mask(0, cols - 16);
    rq->m0 = _mm512_maskz_loadu_ps(k0, multiplier + j);
    rq->m1 = _mm512_maskz_loadu_ps(k1, multiplier + j + 16);
    rq->c0 = _mm512_maskz_loadu_ps(k0, scaled + j);
    rq->c1 = _mm512_maskz_loadu_ps(k1, scaled + j + 16);
    rq->lo = _mm512_set1_ps((float)(low - zeroPoint));
    rq->hi = _mm512_set1_ps((float)(high - zeroPoint));
    rq->zp = _mm512_set1_epi32(zeroPoint);
    rq->keep = (__mmask64)ck_span_mask(0, cols);
    rq->whole = cols == NR;
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

/* A finished tile (rows × cols of `tile`, row stride ldt) at C's (i, j): requantized into `out`, or copied to C. */
static void sink_tile(const struct tile_sink *sink, const int32_t *tile, int64_t ldt, int64_t i, int64_t j,
                      int64_t rows, int64_t cols) {
    if (sink->out) {
        ck_requantize_u8(tile, rows, cols, ldt, sink->offset + j, sink->multiplier + j, sink->zeroPoint, sink->low,
                         sink->high, sink->out + i * sink->ldo + j, sink->ldo);
    } else {
        for (int64_t r = 0; r < rows; r++)
            memcpy(sink->c + (i + r) * sink->ldc + j, tile + r * ldt, (size_t)cols * sizeof(int32_t));
    }
}

/* The VNNI product over packed weights, A panel outer: each panel of MR rows is read in place when its rows hold
 * whole groups of 4 (lda ≥ 4·quads), else packed once into a small buffer, and meets every B panel while it is in
 * L1; the packed weights stream from L2. */
static void gemm_vnni_panels(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *pb,
                             const struct tile_sink *sink) {
    int64_t quads = (k + 3) / 4, aPanels = (m + MR - 1) / MR, bPanels = (n + NR - 1) / NR;
    int direct = 4 * quads <= lda;
    uint8_t *pa = direct ? NULL : aligned_alloc(64, (size_t)((quads * MR * 4 + 63) / 64 * 64));
    if (!direct && !pa) abort();  /* out of memory for one packed panel: nothing sensible is left to do */
    /* Requantizing: each column's offset scaled as ck_requantize_u8 scales it, and each B panel's requantizer,
     * once a call. */
    struct vnni_requantizer *requantizers = NULL;
    if (sink->out) {
        float *scaled = malloc((size_t)n * sizeof(float));
        requantizers = aligned_alloc(64, (size_t)bPanels * sizeof(struct vnni_requantizer));
        if (!scaled || !requantizers) abort();  /* out of memory for a few KB: nothing sensible is left to do */
        for (int64_t j = 0; j < n; j++) scaled[j] = (float)(sink->offset[j] * (double)sink->multiplier[j]);
        for (int64_t jp = 0; jp < bPanels; jp++)
            vnni_requantizer_for(sink->multiplier, scaled, jp * NR, n - jp * NR < NR ? n - jp * NR : NR,
                                 sink->zeroPoint, sink->low, sink->high, requantizers + jp);
        free(scaled);
    }
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
            if (requantizers) {  /* requantized in registers */
                micro_vnni_requantize(quads, row, step, panel, rows, requantizers + jp,
                                      sink->out + ip * MR * sink->ldo + jp * NR, sink->ldo);
                continue;
            }
            if (rows == MR && cols == NR) {  /* a whole tile of C: written in place */
                micro_vnni(quads, row, step, panel, sink->c + ip * MR * sink->ldc + jp * NR, sink->ldc);
                continue;
            }
            micro_vnni(quads, row, step, panel, tile, NR);
            sink_tile(sink, tile, NR, ip * MR, jp * NR, rows, cols);
        }
    }
    free(requantizers);
    free(pa);
}

/* Weights packed once (they do not change between calls): every B panel in the layout `micro_vnni` reads. */
/* Weights packed once (they do not change between calls): every B panel in the layout this CPU's panel kernel reads
 * (VNNI quads of bytes, or AVX2 pairs of int16). */
static int64_t vnni_packed_size(int64_t n, int64_t k) { return ((n + NR - 1) / NR) * ((k + 3) / 4) * NR * 4; }

int64_t ck_gemm_u8s8_packed_size(int64_t n, int64_t k) {
    if (has_vnni()) return vnni_packed_size(n, k);
    if (has_avx2()) return avx2_packed_size(n, k);
    return 0;
}

static void pack_weights(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int8_t *packed) {
    int64_t quads = (k + 3) / 4, bPanels = (n + NR - 1) / NR;
    for (int64_t jp = 0; jp < bPanels; jp++) {
        int64_t cols = n - jp * NR < NR ? n - jp * NR : NR;
        pack_b_quads(b, ldb, jp * NR, cols, k, quads, packed + jp * quads * NR * 4);
    }
}

int ck_gemm_u8s8_pack(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int8_t *packed) {
    if (n <= 0 || k <= 0) return 0;
    if (has_vnni()) pack_weights(n, k, b, ldb, packed);
    else if (has_avx2()) pack_weights_avx2(n, k, b, ldb, (int16_t *)packed);
    else return 0;
    return 1;
}

/* Weights given unpacked: packed for this call, then the same product. */
static void gemm_vnni(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                      int32_t *c, int64_t ldc) {
    int8_t *pb = aligned_alloc(64, (size_t)((vnni_packed_size(n, k) + 63) / 64 * 64));
    if (!pb) abort();  /* out of memory for the packed weights: nothing sensible is left to do */
    pack_weights(n, k, b, ldb, pb);
    struct tile_sink sink = {.c = c, .ldc = ldc};
    gemm_vnni_panels(m, n, k, a, lda, pb, &sink);
    free(pb);
}

static void gemm_avx2_packing(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                              int64_t ldb, int32_t *c, int64_t ldc) {
    int16_t *pb = malloc((size_t)avx2_packed_size(n, k));
    if (!pb) abort();  /* out of memory for the packed weights: nothing sensible is left to do */
    pack_weights_avx2(n, k, b, ldb, pb);
    struct tile_sink sink = {.c = c, .ldc = ldc};
    gemm_avx2_panels(m, n, k, a, lda, pb, &sink);
    free(pb);
}

/* Whether packed weights are this CPU's panel layout and the product is big enough for the panel kernel (a few rows
 * of A take the dot-product loop: packing them would cost more than the product). */
static int panel_path(const int8_t *packed, int64_t m, int64_t n, int64_t k) {
    if (!packed || m < 4 || n <= 0 || k <= 0) return 0;
    return has_vnni() ? CK_GEMM_U8S8_VNNI : has_avx2() ? CK_GEMM_U8S8_AVX2 : 0;
}

void ck_gemm_u8s8_requantize(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                             int64_t ldb, const int8_t *packed, const double *offset, const float *multiplier,
                             int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out, int64_t ldo) {
    if (m <= 0 || n <= 0) return;
    struct tile_sink sink = {.offset = offset, .multiplier = multiplier, .zeroPoint = zeroPoint, .low = low,
                             .high = high, .out = out, .ldo = ldo};
    switch (panel_path(packed, m, n, k)) {
    case CK_GEMM_U8S8_VNNI: gemm_vnni_panels(m, n, k, a, lda, packed, &sink); return;
    case CK_GEMM_U8S8_AVX2: gemm_avx2_panels(m, n, k, a, lda, (const int16_t *)packed, &sink); return;
    default: break;
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
    switch (panel_path(packed, m, n, k)) {
    case CK_GEMM_U8S8_VNNI: gemm_vnni_panels(m, n, k, a, lda, packed, &sink); break;
    case CK_GEMM_U8S8_AVX2: gemm_avx2_panels(m, n, k, a, lda, (const int16_t *)packed, &sink); break;
    default: ck_gemm_u8s8(m, n, k, a, lda, b, ldb, c, ldc);
    }
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
        if (m < 4) gemm_avx2(m, n, k, a, lda, b, ldb, c, ldc);
        else gemm_avx2_packing(m, n, k, a, lda, b, ldb, c, ldc);
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
