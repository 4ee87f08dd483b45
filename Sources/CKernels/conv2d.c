// Float convolution for inference as an implicit GEMM: y (M × Ho·Wo) = W (M × C·k²) · columns, where the columns
// are never written out as an im2col matrix. The weights are packed once into row panels of MR (per block of KC
// columns); for each block of NC output pixels and KC rows of the unfolded input, the B panel (KC × NR pixels) is
// gathered straight from the image into a buffer that stays in cache, and a MR × NR register tile accumulates
// W · B over the block. The first block starts the tile from the bias, later blocks from the partial sums in y.
//
// The AVX2 path uses FMA (target "avx2,fma"); the portable path the same loops in plain C (mul, then add). The two
// differ in rounding (within the tolerance of the tests against a sum in double), but each is deterministic: every
// output's sum runs over the same blocks in the same order whatever the pixel range a call is given, so splitting
// pixels across threads does not change a bit.
#include "CKernels.h"
#include "ck_features.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

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

/* One MR × NR tile: start from the bias (first block) or from y, add a · b over kcb, store the rows < rows and
 * columns < cols. */
__attribute__((target("avx2,fma")))
static void tile_avx2(int64_t kcb, const float *a, const float *b, float *y, int64_t ldy, int64_t rows, int64_t cols,
                      int first, const float *bias) {
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

#pragma clang fp contract(off)
static void tile_portable(int64_t kcb, const float *a, const float *b, float *y, int64_t ldy, int64_t rows,
                          int64_t cols, int first, const float *bias) {
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            acc[i][j] = first ? (bias && i < rows ? bias[i] : 0.0f) : (i < rows && j < cols ? y[i * ldy + j] : 0.0f);
    for (int64_t kk = 0; kk < kcb; kk++)
        for (int i = 0; i < MR; i++) {
            float av = a[kk * MR + i];
            for (int j = 0; j < NR; j++) acc[i][j] = acc[i][j] + av * b[kk * NR + j];
        }
    for (int64_t i = 0; i < rows; i++) memcpy(y + i * ldy, acc[i], (size_t)cols * sizeof(float));
}

int ck_conv2d_forward_with(int path, const float *packed, int64_t m, const float *x, int64_t channels,
                           int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                           const float *bias, float *y, int64_t outHeight, int64_t outWidth, int64_t pixelStart,
                           int64_t pixelEnd) {
    if (path == 1 ? !(ck_has(CK_FEATURE_AVX2) && ck_has(CK_FEATURE_FMA)) : path != 0) return 0;
    Shape s = {channels, height, width, kernel, stride, pad, outWidth};
    int64_t depth = channels * kernel * kernel, mp = (m + MR - 1) / MR * MR, pixels = outHeight * outWidth;
    Pixels *p = malloc(sizeof(Pixels));
    float *panel = malloc((size_t)(NC / NR * PANEL(KC)) * sizeof(float));
    if (!p || !panel) abort();  /* out of memory for one block of scratch: nothing sensible is left to do */
    for (int64_t pb = pixelStart; pb < pixelEnd; pb += NC) {
        int64_t np = pixelEnd - pb < NC ? pixelEnd - pb : NC, panels = (np + NR - 1) / NR;
        locate(s, pb, np, p);
        for (int64_t k0 = 0; k0 < depth; k0 += KC) {
            int64_t kcb = depth - k0 < KC ? depth - k0 : KC;
            if (path == 1) gather_avx2(x, s, p, panels, k0, kcb, panel);
            else gather(x, s, p, panels, k0, kcb, panel);
            for (int64_t r0 = 0; r0 < m; r0 += MC) {
                int64_t rEnd = r0 + MC < m ? r0 + MC : m;
                for (int64_t q = 0; q < panels; q++) {
                    int64_t cols = np - q * NR < NR ? np - q * NR : NR;
                    const float *b = panel + q * PANEL(kcb);
                    for (int64_t r = r0; r < rEnd; r += MR) {
                        const float *a = packed + k0 * mp + r * kcb;
                        float *out = y + r * pixels + pb + q * NR;
                        int64_t rows = m - r < MR ? m - r : MR;
                        const float *rowBias = bias ? bias + r : NULL;
                        if (path == 1) tile_avx2(kcb, a, b, out, pixels, rows, cols, k0 == 0, rowBias);
                        else tile_portable(kcb, a, b, out, pixels, rows, cols, k0 == 0, rowBias);
                    }
                }
            }
        }
    }
    free(panel);
    free(p);
    return 1;
}

int ck_conv2d_has_fast_path(void) { return ck_has(CK_FEATURE_AVX2) && ck_has(CK_FEATURE_FMA); }

void ck_conv2d_forward(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                       int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                       int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd) {
    ck_conv2d_forward_with(ck_conv2d_has_fast_path() ? 1 : 0, packed, m, x, channels, height, width, kernel, stride,
                           pad, bias, y, outHeight, outWidth, pixelStart, pixelEnd);
}
