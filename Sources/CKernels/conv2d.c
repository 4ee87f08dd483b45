// Float convolution for inference as an implicit GEMM: y (M × Ho·Wo) = W (M × C·k²) · columns, where the columns
// are never written out as an im2col matrix. The weights are packed once into row panels of MR (per block of KC
// columns); for each block of NC output pixels and KC rows of the unfolded input, the B panel (KC × NR pixels) is
// gathered straight from the image into a buffer that stays in cache, and a MR × NR register tile accumulates
// W · B over the block. The first block starts the tile from the bias, later blocks from the partial sums in y.
//
// The AVX2 path uses FMA (target "avx2,fma"); the AVX-512 path the same FMAs in wider tiles (6 rows × up to 4
// panels), its gather planned once per tap, and reads a 1×1 conv's input in place; the portable path the same
// loops in plain C (mul, then add). AVX-512 and AVX2 give the same bits; portable C differs in rounding (within the
// tolerance of the tests against a sum in double). Each is deterministic: every output's sum runs over the same
// rows in the same order whatever the pixel range a call is given, so splitting pixels across threads does not
// change a bit. The channel tiles further down (ck_conv2d_forward_channels) compute the same sums with output
// channels on the AVX-512 lanes, for small planes and for k×k convs read straight from a padded copy of the input.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* The fused activation of a finished tile, in registers: the same operations as ck_activate (ck_features.h) on
 * every lane — max_ps(a, b) and min_ps(a, b) return b where a is NaN, as `a > b ? a : b` and `a < b ? a : b` do. */
__attribute__((target("avx512f"), always_inline))
static inline __m512 activate_avx512(__m512 v, const ck_fused_activation *act) {
    if (act->kind == CK_ACTIVATION_HARDSWISH) {
        __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0f)), _mm512_setzero_ps()),
                                 _mm512_set1_ps(6.0f));
        return _mm512_div_ps(_mm512_mul_ps(v, t), _mm512_set1_ps(6.0f));
    }
    return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(act->cap));
}

__attribute__((target("avx2"), always_inline))
static inline __m256 activate_avx2(__m256 v, const ck_fused_activation *act) {
    if (act->kind == CK_ACTIVATION_HARDSWISH) {
        __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, _mm256_set1_ps(3.0f)), _mm256_setzero_ps()),
                                 _mm256_set1_ps(6.0f));
        return _mm256_div_ps(_mm256_mul_ps(v, t), _mm256_set1_ps(6.0f));
    }
    return _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(act->cap));
}

#define MR 6
#define NR 16
#define KC 256
#define MC 120
#define NC 128

int64_t ck_conv2d_packed_size(int64_t m, int64_t depth) { return (m + MR - 1) / MR * MR * depth; }

/* Block k0 (KC rows of the unfolded input, fewer in the last) holds every row panel: panel r0 / MR at
 * k0 · Mp + r0 · kcb, as kcb rows of MR weights (0 past row m). */
void ck_conv2d_pack_weights(const float *w, int64_t m, int64_t depth, float *packed) {
    float *dst = packed;
    for (int64_t k0 = 0; k0 < depth; k0 += KC) {
        int64_t kcb = depth - k0 < KC ? depth - k0 : KC;
        for (int64_t r0 = 0; r0 < m; r0 += MR)
            for (int64_t kk = 0; kk < kcb; kk++)
                for (int64_t i = 0; i < MR; i++) *dst++ = r0 + i < m ? w[(r0 + i) * depth + k0 + kk] : 0.0f;
    }
}

typedef struct {
    int64_t channels, height, width, kernel, stride, pad, outWidth;
} Shape;

/* The block's pixels as runs along output rows: panel q holds runs[q][0 ..< count[q]], each `length` pixels from
 * panel position `at`, output row `row`, columns from `column`. Within a run the input columns step by the stride,
 * so one row of the unfolded input is, per run, a strided copy from one input row, clipped to the image. Panel
 * positions past the block are one run on no row (read as 0). */
typedef struct {
    int32_t at, length;
    int64_t row, column;
} Run;

typedef struct {
    Run runs[NC / NR][NR + 1];
    int count[NC / NR];
} Pixels;

/* Each thread's block scratch (the runs and the gathered panels), allocated on its first call and kept for the
 * thread's life, as the GEMM's packing buffers are. */
static _Thread_local Pixels *pixelScratch = NULL;
static _Thread_local float *panelScratch = NULL;

static Pixels *scratch_pixels(void) {
    if (!pixelScratch) pixelScratch = malloc(sizeof(Pixels));
    return pixelScratch;
}

static void locate(Shape s, int64_t first, int64_t count, Pixels *p) {
    int64_t oy = first / s.outWidth, ox = first % s.outWidth, done = 0;
    for (int64_t q = 0; q < NC / NR; q++) {
        int n = 0;
        for (int32_t j = 0; j < NR;) {
            if (done == count) {  /* past the block */
                p->runs[q][n++] = (Run){j, NR - j, -1, 0};
                break;
            }
            int64_t length = s.outWidth - ox;
            if (length > NR - j) length = NR - j;
            if (length > count - done) length = count - done;
            p->runs[q][n++] = (Run){j, (int32_t)length, oy, ox};
            j += (int32_t)length;
            done += length;
            ox += length;
            if (ox == s.outWidth) { ox = 0; oy++; }
        }
        p->count[q] = n;
    }
}

/* Panel q of a block of kcb rows starts at q · PANEL(kcb): kcb rows of NR pixels, then NR floats of slack. */
#define PANEL(kcb) ((kcb) * NR + NR)

static float *scratch_panel(void) {
    if (!panelScratch) panelScratch = malloc((size_t)(NC / NR * PANEL(KC)) * sizeof(float));
    return panelScratch;
}

/* The walk both gathers share over rows k0 ..< k0 + kcb of the unfolded input (tap (c, ky, kx) of each) and the
 * block's panels, out[q][kk][j]: for each run, `d` is its place in the panel, `line` the input row it reads (NULL
 * when that row lies in the padding or the run past the block) and `xx` the input column of its first pixel.
 * The macro's argument, the copy, fills d[0 ..< run.length]. */
#define GATHER_ROWS(...)                                                                                           \
    int64_t taps = s.kernel * s.kernel, plane = s.height * s.width;                                               \
    int64_t c = k0 / taps, ky = k0 % taps / s.kernel, kx = k0 % s.kernel;                                         \
    for (int64_t kk = 0; kk < kcb; kk++) {                                                                        \
        for (int64_t q = 0; q < panels; q++) {                                                                    \
            float *dst = out + q * PANEL(kcb) + kk * NR;                                                          \
            for (int r = 0; r < p->count[q]; r++) {                                                               \
                Run run = p->runs[q][r];                                                                          \
                float *d = dst + run.at;                                                                          \
                int64_t yy = run.row * s.stride - s.pad + ky;                                                     \
                const float *line = run.row < 0 || yy < 0 || yy >= s.height ? NULL : x + c * plane + yy * s.width; \
                int64_t xx = run.column * s.stride - s.pad + kx;                                                  \
                __VA_ARGS__                                                                                       \
            }                                                                                                     \
        }                                                                                                         \
        if (++kx == s.kernel) {                                                                                   \
            kx = 0;                                                                                               \
            if (++ky == s.kernel) { ky = 0; c++; }                                                                \
        }                                                                                                         \
    }

/* Portable: a clipped copy per run (stride 1) or a checked one per pixel. */
static void gather(const float *x, Shape s, const Pixels *p, int64_t panels, int64_t k0, int64_t kcb, float *out) {
    GATHER_ROWS(
        if (!line) {
            for (int32_t t = 0; t < run.length; t++) d[t] = 0.0f;
        } else if (s.stride == 1) {
            int64_t lo = xx < 0 ? -xx : 0, hi = s.width - xx < run.length ? s.width - xx : run.length;
            if (hi < lo) hi = lo;
            for (int64_t t = 0; t < lo; t++) d[t] = 0.0f;
            for (int64_t t = lo; t < hi; t++) d[t] = line[xx + t];
            for (int64_t t = hi; t < run.length; t++) d[t] = 0.0f;
        } else {
            for (int32_t t = 0; t < run.length; t++, xx += s.stride) d[t] = xx >= 0 && xx < s.width ? line[xx] : 0.0f;
        })
}

/* AVX2: each run is one or two masked 8-lane loads (lanes outside the image read as 0 without touching memory; a
 * gather for strides above 1), stored as whole vectors. A store may run past its run into the next run or the
 * panel's next row, both written later, or into the NR floats of slack after the panel. Row by row across the
 * panels, so the reads of one row of taps move along a few input rows together. */
__attribute__((target("avx2")))
static void gather_avx2(const float *x, Shape s, const Pixels *p, int64_t panels, int64_t k0, int64_t kcb,
                        float *out) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i steps = _mm256_mullo_epi32(lanes, _mm256_set1_epi32((int32_t)s.stride));
    GATHER_ROWS(
        for (int32_t t = 0; t < run.length; t += 8) {
            if (!line) {
                _mm256_storeu_ps(d + t, _mm256_setzero_ps());
                continue;
            }
            /* lanes u with 0 <= xx + (t + u)·stride < width and t + u < length */
            __m256i column = _mm256_add_epi32(_mm256_set1_epi32((int32_t)(xx + t * s.stride)), steps);
            __m256i valid = _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), column),
                                                _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)s.width), column));
            valid = _mm256_and_si256(valid, _mm256_cmpgt_epi32(_mm256_set1_epi32(run.length - t), lanes));
            __m256 v;
            if (s.stride == 1) {
                /* lane u reads line[xx + t + u]: masked lanes are not read, so the base may lie outside */
                v = _mm256_maskload_ps(line + xx + t, valid);
            } else {
                v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), line, column, _mm256_castsi256_ps(valid), 4);
            }
            _mm256_storeu_ps(d + t, v);
        })
}

/* AVX-512: the block's copies are worked out once per tap (ky, kx) — where each run (or, for a conv that keeps the
 * plane's size, each panel) lands in the panels, where it reads in a channel's plane, and which of its lanes fall
 * inside the image — since they are the same for every channel; the gather is then, per row of the unfolded input and run, one masked 16-lane load (stride 1; lanes in
 * the padding read as 0 without touching memory), two loads and a permute picking the even lanes (stride 2) or a
 * gather (larger strides), and a masked store. */
typedef struct {
    int32_t panel, at;   /* destination: panel and position in it */
    int64_t source;      /* offset in the channel's plane of the run's first input pixel */
    uint32_t load;       /* lanes (stride 2: the 32 elements of the two loads) inside the image */
    uint16_t keep;       /* the run's lanes */
} Copy;

/* Grows a thread's scratch to `count` elements of `size` bytes (its contents are not kept). */
static void *grown(void *scratch, int64_t *capacity, int64_t count, size_t size) {
    if (count <= *capacity) return scratch;
    free(scratch);
    *capacity = count;
    void *fresh = malloc((size_t)count * size);
    if (!fresh) abort();  /* out of memory for one block of scratch: nothing sensible is left to do */
    return fresh;
}

static _Thread_local Copy *copyScratch = NULL;
static _Thread_local int64_t copyCapacity = 0;

static Copy *copies_for(Shape s, const Pixels *p, int64_t panels, int64_t *perTap) {
    /* A stride-1 conv that keeps the plane's size (2·pad = k − 1, so Wo = W): output pixel i = oy·W + ox reads tap
     * (ky, kx) at input i + (ky − pad)·W + (kx − pad), so a whole panel is one masked load from contiguous input, its
     * lanes in the padding (past a row's end or the plane's top and bottom) masked off: one copy a panel instead of
     * one a run along an output row (a 7-pixel row is three runs a panel). Reading those loads straight from the
     * tiles instead, with no gather, was slower: each row panel then re-reads the input from L2 (ResNet-18 2.6×). */
    int byPanel = s.stride == 1 && 2 * s.pad == s.kernel - 1 && s.outWidth == s.width;
    int64_t runs = 0, length[NC / NR];  /* by panel: the panel's pixels in the block */
    for (int64_t q = 0; q < panels; q++) {
        runs += p->count[q];
        length[q] = 0;
        for (int r = 0; r < p->count[q]; r++)
            if (p->runs[q][r].row >= 0) length[q] += p->runs[q][r].length;
    }
    int64_t each = byPanel ? panels : runs, taps = s.kernel * s.kernel;
    copyScratch = grown(copyScratch, &copyCapacity, each * taps, sizeof(Copy));
    Copy *e = copyScratch;
    for (int64_t ky = 0; ky < s.kernel; ky++) {
        for (int64_t kx = 0; kx < s.kernel; kx++) {
            for (int64_t q = 0; q < panels; q++) {
                if (byPanel) {
                    Run first = p->runs[q][0];
                    uint32_t load = 0;
                    int64_t oy = first.row, ox = first.column;
                    for (int64_t j = 0; j < length[q]; j++) {
                        int64_t yy = oy + ky - s.pad, xx = ox + kx - s.pad;
                        if (yy >= 0 && yy < s.height && xx >= 0 && xx < s.width) load |= 1u << j;
                        if (++ox == s.outWidth) { ox = 0; oy++; }
                    }
                    int64_t source = length[q] ? (first.row + ky - s.pad) * s.width + first.column + kx - s.pad : 0;
                    /* all NR lanes stored: those past the block (and in the padding) as 0, as their runs were */
                    *e++ = (Copy){(int32_t)q, 0, source, load, (uint16_t)ck_span_mask(0, length[q] ? NR : 0)};
                    continue;
                }
                for (int r = 0; r < p->count[q]; r++) {
                    Run run = p->runs[q][r];
                    int64_t yy = run.row * s.stride - s.pad + ky, xx = run.column * s.stride - s.pad + kx;
                    int inside = run.row >= 0 && yy >= 0 && yy < s.height;
                    uint64_t load = 0;
                    if (inside && s.stride == 2) load = ck_span_mask(0, 2 * run.length) & ck_span_mask(-xx, s.width - xx);
                    else if (inside && s.stride == 1) load = ck_span_mask(0, run.length) & ck_span_mask(-xx, s.width - xx);
                    else if (inside) {
                        for (int32_t t = 0; t < run.length; t++) {
                            int64_t column = xx + t * s.stride;
                            if (column >= 0 && column < s.width) load |= 1ull << t;
                        }
                    }
                    *e++ = (Copy){(int32_t)q, run.at, inside ? yy * s.width + xx : 0, (uint32_t)load,
                                  (uint16_t)ck_span_mask(0, run.length)};
                }
            }
        }
    }
    *perTap = each;
    return copyScratch;
}

__attribute__((target("avx512f")))
static void gather_avx512(const float *x, Shape s, const Pixels *p, int64_t panels, int64_t k0, int64_t kcb,
                          float *out) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i steps = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int32_t)s.stride));
    int64_t runs;
    const Copy *table = copies_for(s, p, panels, &runs);
    int64_t taps = s.kernel * s.kernel, plane = s.height * s.width, panelStride = PANEL(kcb);
    int64_t c = k0 / taps, tap = k0 % taps;
    for (int64_t kk = 0; kk < kcb; kk++) {
        const float *channel = x + c * plane;
        const Copy *e = table + tap * runs;
        float *row = out + kk * NR;
        for (int64_t r = 0; r < runs; r++) {
            __m512 v;
            if (s.stride == 1) {
                v = _mm512_maskz_loadu_ps((__mmask16)e[r].load, channel + e[r].source);
            } else if (s.stride == 2) {
                __m512 lo = _mm512_maskz_loadu_ps((__mmask16)e[r].load, channel + e[r].source);
                __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(e[r].load >> 16), channel + e[r].source + 16);
                v = _mm512_permutex2var_ps(lo, evens, hi);
            } else {
                __m512i columns = _mm512_add_epi32(_mm512_set1_epi32((int32_t)e[r].source), steps);
                v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), (__mmask16)e[r].load, columns, channel, 4);
            }
            _mm512_mask_storeu_ps(row + e[r].panel * panelStride + e[r].at, e[r].keep, v);
        }
        if (++tap == taps) { tap = 0; c++; }
    }
}

/* One MR × NR tile: start from the bias (first block) or from y, add a · b over kcb, store the rows < rows and
 * columns < cols. */
__attribute__((target("avx2,fma")))
static void tile_avx2(int64_t kcb, const float *a, const float *b, float *y, int64_t ldy, int64_t rows, int64_t cols,
                      int first, const float *bias, const ck_fused_activation *act) {
    __m256 acc[MR][2];
    float edge[MR][NR];
    int full = rows == MR && cols == NR;
    for (int i = 0; i < MR; i++) {
        if (first) {
            __m256 v = _mm256_set1_ps(bias && i < rows ? bias[i] : 0.0f);
            acc[i][0] = v;
            acc[i][1] = v;
        } else if (full) {
            acc[i][0] = _mm256_loadu_ps(y + i * ldy);
            acc[i][1] = _mm256_loadu_ps(y + i * ldy + 8);
        } else {
            for (int j = 0; j < NR; j++) edge[i][j] = i < rows && j < cols ? y[i * ldy + j] : 0.0f;
            acc[i][0] = _mm256_loadu_ps(edge[i]);
            acc[i][1] = _mm256_loadu_ps(edge[i] + 8);
        }
    }
    for (int64_t kk = 0; kk < kcb; kk++) {
        __m256 b0 = _mm256_loadu_ps(b + kk * NR), b1 = _mm256_loadu_ps(b + kk * NR + 8);
        for (int i = 0; i < MR; i++) {
            __m256 av = _mm256_broadcast_ss(a + kk * MR + i);
            acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
        }
    }
    if (act)
        for (int i = 0; i < MR; i++) {
            acc[i][0] = activate_avx2(acc[i][0], act);
            acc[i][1] = activate_avx2(acc[i][1], act);
        }
    if (full) {
        for (int i = 0; i < MR; i++) {
            _mm256_storeu_ps(y + i * ldy, acc[i][0]);
            _mm256_storeu_ps(y + i * ldy + 8, acc[i][1]);
        }
    } else {
        for (int i = 0; i < MR; i++) {
            _mm256_storeu_ps(edge[i], acc[i][0]);
            _mm256_storeu_ps(edge[i] + 8, acc[i][1]);
        }
        for (int64_t i = 0; i < rows; i++) memcpy(y + i * ldy, edge[i], (size_t)cols * sizeof(float));
    }
}

/* AVX-512: a tile of MR rows × P panels (P · NR pixels, P ≤ 4, up to 24 zmm accumulators). Row kk of panel q is
 * b + q · panelStride + kk · ldb: a gathered panel (ldb NR) or, for a 1×1 conv with stride 1 and no padding, the
 * input itself (ldb the plane, panelStride NR). Masked loads and stores cover the pixels < cols (so reading the
 * input in place never touches memory past a row's pixels) and the rows < rows. Each output's sum is the AVX2
 * tile's chain of FMAs in the same order from the same start, so the two paths give the same bits. Always inlined
 * with a constant P, so the accumulators stay in registers. */
__attribute__((target("avx512f,fma"), always_inline))
static inline void tile_avx512(const int P, int64_t kcb, const float *a, const float *b, int64_t panelStride,
                               int64_t ldb, float *y, int64_t ldy, int64_t rows, int64_t cols, int first,
                               const float *bias, const ck_fused_activation *act) {
    __m512 acc[MR][4];
    __mmask16 mask[4];
    for (int q = 0; q < P; q++) {
        int64_t left = cols - q * NR;
        mask[q] = left >= NR ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
    }
    for (int i = 0; i < MR; i++) {
        for (int q = 0; q < P; q++) {
            if (i >= rows) acc[i][q] = _mm512_setzero_ps();
            else if (first) acc[i][q] = _mm512_set1_ps(bias ? bias[i] : 0.0f);
            else acc[i][q] = _mm512_maskz_loadu_ps(mask[q], y + i * ldy + q * NR);
        }
    }
    for (int64_t kk = 0; kk < kcb; kk++) {
        __m512 bv[4];
        for (int q = 0; q < P; q++) bv[q] = _mm512_maskz_loadu_ps(mask[q], b + q * panelStride + kk * ldb);
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[kk * MR + i]);
            for (int q = 0; q < P; q++) acc[i][q] = _mm512_fmadd_ps(av, bv[q], acc[i][q]);
        }
    }
    if (act)
        for (int i = 0; i < MR; i++)
            for (int q = 0; q < P; q++) acc[i][q] = activate_avx512(acc[i][q], act);
    for (int i = 0; i < MR; i++) {
        if (i >= rows) break;
        for (int q = 0; q < P; q++) _mm512_mask_storeu_ps(y + i * ldy + q * NR, mask[q], acc[i][q]);
    }
}

/* The row panels of one block of rows against panels q ..< q + P of the block's pixels (np of them). */
__attribute__((target("avx512f,fma")))
static void tiles_avx512(int P, const float *packed, int64_t m, int64_t r0, int64_t rEnd, int64_t k0, int64_t mp,
                         int64_t kcb, const float *b, int64_t panelStride, int64_t ldb, float *y, int64_t pixels,
                         int64_t cols, const float *bias, const ck_fused_activation *act) {
    for (int64_t r = r0; r < rEnd; r += MR) {
        const float *a = packed + k0 * mp + r * kcb;
        float *out = y + r * pixels;
        int64_t rows = m - r < MR ? m - r : MR;
        const float *rb = bias ? bias + r : NULL;
        int first = k0 == 0;
        switch (P) {
        case 4: tile_avx512(4, kcb, a, b, panelStride, ldb, out, pixels, rows, cols, first, rb, act); break;
        case 3: tile_avx512(3, kcb, a, b, panelStride, ldb, out, pixels, rows, cols, first, rb, act); break;
        case 2: tile_avx512(2, kcb, a, b, panelStride, ldb, out, pixels, rows, cols, first, rb, act); break;
        default: tile_avx512(1, kcb, a, b, panelStride, ldb, out, pixels, rows, cols, first, rb, act); break;
        }
    }
}

/* The AVX-512 path's product for outputs rowStart ..< rowEnd over one block of pixels [pb, pb + np) and rows
 * k0 ..< k0 + kcb of the unfolded input, its B panels at b (see tile_avx512), tiles of up to 4 panels. */
__attribute__((target("avx512f,fma")))
static void block_avx512(const float *packed, int64_t rowStart, int64_t rowEnd, int64_t mp, int64_t k0, int64_t kcb,
                         const float *b, int64_t panelStride, int64_t ldb, const float *bias, float *y,
                         int64_t pixels, int64_t pb, int64_t np, const ck_fused_activation *act) {
    int64_t panels = (np + NR - 1) / NR;
    for (int64_t r0 = rowStart; r0 < rowEnd; r0 += MC) {
        int64_t rEnd = r0 + MC < rowEnd ? r0 + MC : rowEnd;
        for (int64_t q = 0; q < panels; q += 4) {
            int P = panels - q < 4 ? (int)(panels - q) : 4;
            int64_t cols = np - q * NR < P * NR ? np - q * NR : P * NR;
            tiles_avx512(P, packed, rowEnd, r0, rEnd, k0, mp, kcb, b + q * panelStride, panelStride, ldb,
                         y + pb + q * NR, pixels, cols, bias, act);
        }
    }
}

/* Channel tiles (AVX-512): the same product with output channels on the lanes instead of pixels, for planes whose
 * pixels fill panels of 16 badly (a 7×7 plane is 49 of 64 lanes; its channels, a multiple of 16, fill every lane)
 * and for k×k convs, whose taps the direct path reads from a padded copy of the input with no gather. The weights are packed by panels of 16 channels (depth rows of 16, CKernels.h); a tile of P panels (P ≤ 3) × R
 * pixels (R ≤ 8) holds P · R accumulators, each row kk of the unfolded input adding P weight vectors times R
 * broadcast pixels. Rows come in blocks of CKC; a block's partial sums wait in a scratch [pixel][channel], and the
 * last block's tile is activated and transposed into y's rows. Each output's sum is the pixel tiles' chain of
 * FMAs in the same order from the bias, so the two give the same bits. */
#define CR 8
#define CKC 256

int64_t ck_conv2d_channel_packed_size(int64_t m, int64_t depth) { return (m + NR - 1) / NR * NR * depth; }

void ck_conv2d_pack_channel_weights(const float *w, int64_t m, int64_t depth, float *packed) {
    for (int64_t c0 = 0; c0 < m; c0 += NR)
        for (int64_t kk = 0; kk < depth; kk++)
            for (int64_t i = 0; i < NR; i++) *packed++ = c0 + i < m ? w[(c0 + i) * depth + kk] : 0.0f;
}

static _Thread_local float *partialScratch = NULL;
static _Thread_local int64_t partialCapacity = 0;

/* Eight pixels' vectors of 16 channels (a[r], lane i = channel i) into the rows of y: channel i's pixels 0 ..< R
 * at y + i · ldy (only channels < channels). Three rounds of shuffles turn the 8 × 16 block into vectors that each
 * hold two channels' 8 pixels. */
__attribute__((target("avx512f"), always_inline))
static inline void store_transposed(const __m512 a[CR], float *y, int64_t ldy, int R, int64_t channels) {
    __m512 t[8], u[8];
    for (int r = 0; r < 8; r += 2) {
        t[r] = _mm512_unpacklo_ps(a[r], a[r + 1]);
        t[r + 1] = _mm512_unpackhi_ps(a[r], a[r + 1]);
    }
    /* u[k] lane L: channel 4L + k, pixels 0..3; u[4 + k]: the same channel, pixels 4..7 */
    for (int h = 0; h < 2; h++) {
        __m512d lo0 = _mm512_castps_pd(t[4 * h]), hi0 = _mm512_castps_pd(t[4 * h + 1]);
        __m512d lo1 = _mm512_castps_pd(t[4 * h + 2]), hi1 = _mm512_castps_pd(t[4 * h + 3]);
        u[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo0, lo1));
        u[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo0, lo1));
        u[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(hi0, hi1));
        u[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(hi0, hi1));
    }
    const __m512i low = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i high = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    __mmask16 keep = (__mmask16)((1u << R) - 1);
    for (int k = 0; k < 4; k++) {
        /* v[0]: channels k (low half) and 4 + k; v[1]: channels 8 + k and 12 + k */
        __m512 v[2] = {_mm512_permutex2var_ps(u[k], low, u[4 + k]), _mm512_permutex2var_ps(u[k], high, u[4 + k])};
        for (int h = 0; h < 2; h++) {
            int64_t c = 8 * h + k;
            if (c < channels) _mm512_mask_storeu_ps(y + c * ldy, keep, v[h]);
            if (c + 4 < channels) _mm512_mask_storeu_ps(y + (c + 4) * ldy, keep, _mm512_shuffle_f32x4(v[h], v[h], 0xEE));
        }
    }
}

/* One tile: P panels of channels from c0 (weights w, panel stride wstride) × R pixels over rows k0 ..< k0 + kcb.
 * Row kk of pixel r is row[r · S] with row = b + offs[kk] when D (the direct path: a padded copy of the input, the
 * offsets of the taps in it) and b + kk · ldb otherwise (the input in place or a gathered panel). `partial` is the
 * tile's first pixel's row of the scratch. */
__attribute__((target("avx512f,fma"), always_inline))
static inline void channel_tile(const int P, const int R, const int S, const int D, int64_t kcb, const float *w,
                                int64_t wstride, const float *b, int64_t ldb, const int64_t *offs, int first, int last,
                                const float *bias, int64_t channels, float *partial, int64_t ldp, float *y, int64_t ldy,
                                const ck_fused_activation *act, const float *ahead) {
    __m512 acc[CR][3];
    for (int q = 0; q < P; q++) {
        int64_t left = channels - q * NR;
        __mmask16 valid = (__mmask16)ck_span_mask(0, left);
        __m512 start = bias ? _mm512_maskz_loadu_ps(valid, bias + q * NR) : _mm512_setzero_ps();
        for (int r = 0; r < CR; r++)
            acc[r][q] = r >= R ? _mm512_setzero_ps() : first ? start : _mm512_loadu_ps(partial + r * ldp + q * NR);
    }
    for (int64_t kk = 0; kk < kcb; kk++) {
        __m512 wv[3];
        for (int q = 0; q < P; q++) wv[q] = _mm512_loadu_ps(w + q * wstride + kk * NR);
        _mm_prefetch((const char *)(ahead + kk * NR), _MM_HINT_T1);
        const float *row = D ? b + offs[kk] : b + kk * ldb;
        for (int r = 0; r < R; r++) {
            __m512 bv = _mm512_set1_ps(row[r * S]);
            for (int q = 0; q < P; q++) acc[r][q] = _mm512_fmadd_ps(wv[q], bv, acc[r][q]);
        }
    }
    if (!last) {
        for (int r = 0; r < R; r++)
            for (int q = 0; q < P; q++) _mm512_storeu_ps(partial + r * ldp + q * NR, acc[r][q]);
        return;
    }
    for (int q = 0; q < P; q++) {
        __m512 column[CR];
        for (int r = 0; r < CR; r++) column[r] = act ? activate_avx512(acc[r][q], act) : acc[r][q];
        store_transposed(column, y + q * NR * ldy, ldy, R, channels - q * NR);
    }
}

#define CHANNEL_TILE_R(P, R, S, D)                                                                                 \
    channel_tile(P, R, S, D, kcb, w, wstride, b, ldb, offs, first, last, tileBias, channels, partial, ldp, out,    \
                 ldy, act, ahead)
#define CHANNEL_TILES(P, S, D)                                                                                     \
    switch (R) {                                                                                                   \
    case 8: CHANNEL_TILE_R(P, 8, S, D); break;                                                                     \
    case 7: CHANNEL_TILE_R(P, 7, S, D); break;                                                                     \
    case 6: CHANNEL_TILE_R(P, 6, S, D); break;                                                                     \
    case 5: CHANNEL_TILE_R(P, 5, S, D); break;                                                                     \
    case 4: CHANNEL_TILE_R(P, 4, S, D); break;                                                                     \
    case 3: CHANNEL_TILE_R(P, 3, S, D); break;                                                                     \
    case 2: CHANNEL_TILE_R(P, 2, S, D); break;                                                                     \
    default: CHANNEL_TILE_R(P, 1, S, D); break;                                                                    \
    }
#define CHANNEL_TILE_P(S, D)                                                                                       \
    if (P == 3) { CHANNEL_TILES(3, S, D) } else if (P == 2) { CHANNEL_TILES(2, S, D) } else { CHANNEL_TILES(1, S, D) }

/* Panels of 16 channels in the next tile, of `channels` left: 3, but 2 and 2 for the last 4 — a tile of one panel
 * does 8 FMAs a row for 10 loads, and is slower than its share. */
static inline int tile_panels(int64_t channels) {
    int64_t panels = (channels + NR - 1) / NR;
    return panels == 4 ? 2 : panels >= 3 ? 3 : (int)panels;
}

/* The next tile's weights, one panel for each of the current tile's first pixel groups, on their way to L2 while
 * this tile works. */
static inline const float *ahead_of(const float *packed, int64_t c0, int P, int64_t group, int64_t rowEnd,
                                    int64_t wstride, int64_t k0) {
    int64_t next = c0 / NR + P + group;
    /* with no next panel, the tile's own first panel: already in cache, and no test in the tile's loop */
    return next * NR < rowEnd && group < 3 ? packed + next * wstride + k0 * NR : packed + c0 / NR * wstride + k0 * NR;
}

/* Channels rowStart ..< rowEnd (rowStart a multiple of 16) against the np pixels of one block over rows
 * k0 ..< k0 + kcb; pixel j's row kk at b(j) + kk · ldb, where b(j) is `inPlace`'s x + j or the gathered panel's
 * lane. Channel tiles outside, so each tile's weights stay in L1 across the block's pixels. */
__attribute__((target("avx512f,fma")))
static void channel_block(const float *packed, int64_t depth, int64_t rowStart, int64_t rowEnd, int64_t k0,
                          int64_t kcb, const float *bx, int inPlace, int64_t ldx, const float *bias, float *scratch,
                          int64_t ldp, float *y, int64_t ldy, int64_t np, const ck_fused_activation *lastAct) {
    int first = k0 == 0, last = k0 + kcb == depth;
    const ck_fused_activation *act = last ? lastAct : NULL;
    int64_t wstride = depth * NR;
    const int64_t *offs = NULL;
    for (int64_t c0 = rowStart, P; c0 < rowEnd; c0 += P * NR) {
        int64_t channels = rowEnd - c0;
        P = tile_panels(channels);
        const float *w = packed + c0 / NR * wstride + k0 * NR;
        const float *tileBias = bias ? bias + c0 : NULL;
        for (int64_t g0 = 0; g0 < np; g0 += CR) {
            int R = np - g0 < CR ? (int)(np - g0) : CR;
            const float *b = inPlace ? bx + g0 : bx + g0 / NR * PANEL(kcb) + g0 % NR;
            int64_t ldb = inPlace ? ldx : NR;
            float *partial = scratch ? scratch + g0 * ldp + c0 : NULL, *out = y + c0 * ldy + g0;
            const float *ahead = ahead_of(packed, c0, P, g0 / CR, rowEnd, wstride, k0);
            CHANNEL_TILE_P(1, 0)
        }
    }
}

/* The direct path's block: pixels pb ..< pb + np of y's plane in runs of up to CR along an output row, each read
 * from the padded copy of the input (rows from output row `firstRow`'s first tap row, `paddedWidth` wide) at the
 * tap offsets offs[k0 ..< k0 + kcb]. */
__attribute__((target("avx512f,fma")))
static void channel_block_direct(const float *packed, int64_t depth, int64_t rowStart, int64_t rowEnd, int64_t k0,
                                 int64_t kcb, const float *padded, const int64_t *tapOffsets, int64_t paddedWidth,
                                 int64_t firstRow, int64_t stride, int64_t outWidth, const float *bias, float *scratch,
                                 int64_t ldp, float *y, int64_t ldy, int64_t pb, int64_t np,
                                 const ck_fused_activation *lastAct) {
    int first = k0 == 0, last = k0 + kcb == depth;
    const ck_fused_activation *act = last ? lastAct : NULL;
    int64_t wstride = depth * NR, ldb = 0;
    const int64_t *offs = tapOffsets + k0;
    for (int64_t c0 = rowStart, P; c0 < rowEnd; c0 += P * NR) {
        int64_t channels = rowEnd - c0;
        P = tile_panels(channels);
        const float *w = packed + c0 / NR * wstride + k0 * NR;
        const float *tileBias = bias ? bias + c0 : NULL;
        int64_t group = 0;
        for (int64_t p = pb; p < pb + np; group++) {
            int64_t oy = p / outWidth, ox = p % outWidth, run = outWidth - ox;
            if (run > pb + np - p) run = pb + np - p;
            int R = run < CR ? (int)run : CR;
            const float *b = padded + (oy - firstRow) * stride * paddedWidth + ox * stride;
            float *partial = scratch ? scratch + (p - pb) * ldp + c0 : NULL, *out = y + c0 * ldy + p;
            const float *ahead = ahead_of(packed, c0, P, group, rowEnd, wstride, k0);
            if (stride == 1) { CHANNEL_TILE_P(1, 1) } else { CHANNEL_TILE_P(2, 1) }
            p += R;
        }
    }
}

int ck_conv2d_channel_tiles(int64_t m, int64_t pixels, int64_t kernel, int64_t stride) {
    if (ck_conv2d_path() != 2 || m < NR) return 0;
    double channelLanes = (double)m / (double)((m + NR - 1) / NR * NR);
    /* k×k, stride 1 or 2: the direct path reads its taps with no gather, 1.05–2× the pixel tiles (more for fewer
     * channels a group) when the channels fill the lanes; 24 or 40 channels fill too few */
    if (kernel > 1 && stride <= 2) return channelLanes >= 0.85;
    /* 1×1: the share of lanes the pixel tiles would use against the channel tiles' */
    double pixelLanes = (double)pixels / (double)((pixels + NR - 1) / NR * NR);
    return channelLanes > pixelLanes * 1.1;
}

static _Thread_local float *paddedScratch = NULL;
static _Thread_local int64_t paddedCapacity = 0;
static _Thread_local int64_t *offsetScratch = NULL;
static _Thread_local int64_t offsetCapacity = 0;

/* Floats of padded input one band of output rows copies (1 MiB): more rows make a band only when they fit. */
#define PADDED_BUDGET (1 << 18)

/* Rows iy0 ..< iy0 + rows of every channel of x into the padded copy (channel c's rows at c · rowsCap · pw, pw =
 * width + 2 · pad): zeros, then the row's pixels over them, 16 at a time — a layer's rows are a few dozen pixels, too
 * short for calls to memset and memcpy to pay. */
__attribute__((target("avx512f")))
static void pad_rows(const float *x, Shape s, int64_t iy0, int64_t rows, int64_t rowsCap,
                     float *padded) {
    int64_t pw = s.width + 2 * s.pad;
    for (int64_t c = 0; c < s.channels; c++) {
        for (int64_t rr = 0; rr < rows; rr++) {
            int64_t iy = iy0 + rr;
            float *dst = padded + (c * rowsCap + rr) * pw;
            for (int64_t t = 0; t < pw; t += 16)
                _mm512_mask_storeu_ps(dst + t, (__mmask16)ck_span_mask(0, pw - t), _mm512_setzero_ps());
            if (iy < 0 || iy >= s.height) continue;
            const float *src = x + (c * s.height + iy) * s.width;
            for (int64_t t = 0; t < s.width; t += 16) {
                __mmask16 keep = (__mmask16)ck_span_mask(0, s.width - t);
                _mm512_mask_storeu_ps(dst + s.pad + t, keep, _mm512_maskz_loadu_ps(keep, src + t));
            }
        }
    }
}

/* The direct path: bands of output rows, each copying the input rows its taps read into a zero-padded buffer
 * (channel c's rows at c · rowsCap · pw), so that every tap of a run of pixels along an output row is a fixed offset
 * from the run's first pixel, read straight from the copy: no gather. */
static void channels_direct(const float *packed, const float *x, Shape s, const float *bias,
                            float *y, int64_t pixels, int64_t pixelStart, int64_t pixelEnd, int64_t rowStart,
                            int64_t rowEnd, int64_t ldp, const ck_fused_activation *act) {
    int64_t k = s.kernel, depth = s.channels * k * k, pw = s.width + 2 * s.pad;
    int64_t firstOut = pixelStart / s.outWidth, lastOut = (pixelEnd - 1) / s.outWidth;
    int64_t bandRows = (PADDED_BUDGET / (s.channels * pw) - k) / s.stride + 1;
    if (bandRows < 1) bandRows = 1;
    if (bandRows > lastOut - firstOut + 1) bandRows = lastOut - firstOut + 1;
    int64_t rowsCap = (bandRows - 1) * s.stride + k;
    paddedScratch = grown(paddedScratch, &paddedCapacity, s.channels * rowsCap * pw, sizeof(float));
    offsetScratch = grown(offsetScratch, &offsetCapacity, depth, sizeof(int64_t));
    for (int64_t c = 0, kk = 0; c < s.channels; c++)
        for (int64_t ky = 0; ky < k; ky++)
            for (int64_t kx = 0; kx < k; kx++) offsetScratch[kk++] = c * rowsCap * pw + ky * pw + kx;
    for (int64_t oyA = firstOut; oyA <= lastOut; oyA += bandRows) {
        int64_t oyB = oyA + bandRows - 1 < lastOut ? oyA + bandRows - 1 : lastOut;
        int64_t rows = (oyB - oyA) * s.stride + k;
        pad_rows(x, s, oyA * s.stride - s.pad, rows, rowsCap, paddedScratch);
        int64_t bs = oyA * s.outWidth > pixelStart ? oyA * s.outWidth : pixelStart;
        int64_t be = (oyB + 1) * s.outWidth < pixelEnd ? (oyB + 1) * s.outWidth : pixelEnd;
        for (int64_t pb = bs; pb < be; pb += NC) {
            int64_t np = be - pb < NC ? be - pb : NC;
            for (int64_t k0 = 0; k0 < depth; k0 += CKC) {
                int64_t kcb = depth - k0 < CKC ? depth - k0 : CKC;
                channel_block_direct(packed, depth, rowStart, rowEnd, k0, kcb, paddedScratch, offsetScratch, pw, oyA,
                                     s.stride, s.outWidth, bias, partialScratch, ldp, y, pixels, pb, np, act);
            }
        }
    }
}

int ck_conv2d_forward_channels_with(int direct, const float *packed, int64_t m, const float *x, int64_t channels,
                                    int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                                    const float *bias, float *y, int64_t outHeight, int64_t outWidth,
                                    int64_t pixelStart, int64_t pixelEnd, int64_t rowStart, int64_t rowEnd,
                                    const ck_fused_activation *act) {
    if (rowStart < 0 || rowEnd > m || rowStart % NR != 0 || pixelStart < 0 || pixelEnd > outHeight * outWidth) return 0;
    if (!(ck_has(CK_FEATURE_AVX512F) && ck_has(CK_FEATURE_FMA))) return 0;
    if (direct && stride > 2) return 0;
    if (pixelStart >= pixelEnd || rowStart >= rowEnd) return 1;
    Shape s = {channels, height, width, kernel, stride, pad, outWidth};
    int64_t depth = channels * kernel * kernel, pixels = outHeight * outWidth, ldp = (m + NR - 1) / NR * NR;
    if (depth > CKC) partialScratch = grown(partialScratch, &partialCapacity, NC * ldp, sizeof(float));
    if (direct) {
        channels_direct(packed, x, s, bias, y, pixels, pixelStart, pixelEnd, rowStart, rowEnd, ldp, act);
        return 1;
    }
    Pixels *p = scratch_pixels();
    float *panel = scratch_panel();
    if (!p || !panel) abort();  /* out of memory for one block of scratch */
    int inPlace = kernel == 1 && stride == 1 && pad == 0;
    for (int64_t pb = pixelStart; pb < pixelEnd; pb += NC) {
        int64_t np = pixelEnd - pb < NC ? pixelEnd - pb : NC;
        if (!inPlace) locate(s, pb, np, p);
        for (int64_t k0 = 0; k0 < depth; k0 += CKC) {
            int64_t kcb = depth - k0 < CKC ? depth - k0 : CKC;
            if (!inPlace) gather_avx512(x, s, p, (np + NR - 1) / NR, k0, kcb, panel);
            channel_block(packed, depth, rowStart, rowEnd, k0, kcb, inPlace ? x + k0 * pixels + pb : panel, inPlace,
                          pixels, bias, partialScratch, ldp, y + pb, pixels, np, act);
        }
    }
    return 1;
}

int ck_conv2d_forward_channels(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                               int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                               int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd,
                               int64_t rowStart, int64_t rowEnd, const ck_fused_activation *act) {
    int direct = kernel > 1 && stride <= 2;  /* a strided 1×1 conv reads too few of the rows it would copy */
    return ck_conv2d_forward_channels_with(direct, packed, m, x, channels, height, width, kernel, stride, pad, bias, y,
                                           outHeight, outWidth, pixelStart, pixelEnd, rowStart, rowEnd, act);
}

#pragma clang fp contract(off)
static void tile_portable(int64_t kcb, const float *a, const float *b, float *y, int64_t ldy, int64_t rows,
                          int64_t cols, int first, const float *bias, const ck_fused_activation *act) {
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = first ? (bias && i < rows ? bias[i] : 0.0f) : (i < rows && j < cols ? y[i * ldy + j] : 0.0f);
    for (int64_t kk = 0; kk < kcb; kk++)
        for (int i = 0; i < MR; i++) {
            float av = a[kk * MR + i];
            for (int j = 0; j < NR; j++) acc[i][j] = acc[i][j] + av * b[kk * NR + j];
        }
    if (act)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] = ck_activate(acc[i][j], act);
    for (int64_t i = 0; i < rows; i++) memcpy(y + i * ldy, acc[i], (size_t)cols * sizeof(float));
}

int ck_conv2d_forward_with(int path, const float *packed, int64_t m, const float *x, int64_t channels,
                           int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                           const float *bias, float *y, int64_t outHeight, int64_t outWidth, int64_t pixelStart,
                           int64_t pixelEnd, int64_t rowStart, int64_t rowEnd, const ck_fused_activation *act) {
    if (rowStart < 0 || rowEnd > m || rowStart % MR != 0) return 0;
    if (path == 2 ? !(ck_has(CK_FEATURE_AVX512F) && ck_has(CK_FEATURE_AVX2) && ck_has(CK_FEATURE_FMA))
        : path == 1 ? !(ck_has(CK_FEATURE_AVX2) && ck_has(CK_FEATURE_FMA)) : path != 0) return 0;
    Shape s = {channels, height, width, kernel, stride, pad, outWidth};
    int64_t depth = channels * kernel * kernel, mp = (m + MR - 1) / MR * MR, pixels = outHeight * outWidth;
    Pixels *p = scratch_pixels();
    float *panel = scratch_panel();
    if (!p || !panel) abort();  /* out of memory for one block of scratch: nothing sensible is left to do */
    int inPlace = path == 2 && kernel == 1 && stride == 1 && pad == 0;
    for (int64_t pb = pixelStart; pb < pixelEnd; pb += NC) {
        int64_t np = pixelEnd - pb < NC ? pixelEnd - pb : NC, panels = (np + NR - 1) / NR;
        if (inPlace) {
            /* 1×1, stride 1, no padding: row c of the unfolded input is plane c of the input, read in place */
            for (int64_t k0 = 0; k0 < depth; k0 += KC) {
                int64_t kcb = depth - k0 < KC ? depth - k0 : KC;
                block_avx512(packed, rowStart, rowEnd, mp, k0, kcb, x + k0 * pixels + pb, NR, pixels, bias, y, pixels,
                             pb, np, k0 + kcb == depth ? act : NULL);
            }
            continue;
        }
        locate(s, pb, np, p);
        for (int64_t k0 = 0; k0 < depth; k0 += KC) {
            int64_t kcb = depth - k0 < KC ? depth - k0 : KC;
            if (path == 2) gather_avx512(x, s, p, panels, k0, kcb, panel);
            else if (path == 1) gather_avx2(x, s, p, panels, k0, kcb, panel);
            else gather(x, s, p, panels, k0, kcb, panel);
            if (path == 2) {
                block_avx512(packed, rowStart, rowEnd, mp, k0, kcb, panel, PANEL(kcb), NR, bias, y, pixels, pb, np,
                             k0 + kcb == depth ? act : NULL);
                continue;
            }
            for (int64_t r0 = rowStart; r0 < rowEnd; r0 += MC) {
                int64_t rEnd = r0 + MC < rowEnd ? r0 + MC : rowEnd;
                for (int64_t q = 0; q < panels; q++) {
                    int64_t cols = np - q * NR < NR ? np - q * NR : NR;
                    const float *b = panel + q * PANEL(kcb);
                    for (int64_t r = r0; r < rEnd; r += MR) {
                        const float *a = packed + k0 * mp + r * kcb;
                        float *out = y + r * pixels + pb + q * NR;
                        int64_t rows = rowEnd - r < MR ? rowEnd - r : MR;
                        const float *rowBias = bias ? bias + r : NULL;
                        const ck_fused_activation *last = k0 + kcb == depth ? act : NULL;
                        if (path == 1) tile_avx2(kcb, a, b, out, pixels, rows, cols, k0 == 0, rowBias, last);
                        else tile_portable(kcb, a, b, out, pixels, rows, cols, k0 == 0, rowBias, last);
                    }
                }
            }
        }
    }
    return 1;
}

int ck_conv2d_has_fast_path(void) { return ck_has(CK_FEATURE_AVX2) && ck_has(CK_FEATURE_FMA); }

int ck_conv2d_path(void) { return !ck_conv2d_has_fast_path() ? 0 : ck_has(CK_FEATURE_AVX512F) ? 2 : 1; }

void ck_conv2d_forward(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                       int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                       int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd) {
    ck_conv2d_forward_with(ck_conv2d_path(), packed, m, x, channels, height, width, kernel, stride,
                           pad, bias, y, outHeight, outWidth, pixelStart, pixelEnd, 0, m, NULL);
}

int ck_conv2d_forward_rows(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                           int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                           int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd,
                           int64_t rowStart, int64_t rowEnd, const ck_fused_activation *act) {
    return ck_conv2d_forward_with(ck_conv2d_path(), packed, m, x, channels, height, width, kernel, stride, pad, bias,
                                  y, outHeight, outWidth, pixelStart, pixelEnd, rowStart, rowEnd, act);
}
