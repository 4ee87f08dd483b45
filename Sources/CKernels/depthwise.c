// Direct depthwise convolution (groups = input channels, a channel multiplier m: output channel o reads input
// channel o / m), forward and backward, for the float engine: im2col + a 1 × k² GEMM per channel spends its time
// copying, and the planes of mobile networks are small (7 × 7 to 56 × 56), so a loop per output row is all overhead.
//
// Each input plane is copied once, zero-padded, into s² phase planes (for stride s, phase (a, b) holds the padded
// pixels (s·i + a, s·j + b)), all of one width Wq = ⌈(W + 2p) / s⌉. Output pixel (r, c) then reads tap (kh, kw) at
// phase (kh mod s, kw mod s), position (r + kh / s, c + kw / s): in flat indices, i + offset(kh, kw) with
// i = r·Wq + c. So every tap reads a contiguous run: forward sums a run of 16 flat outputs over all taps in
// registers and stores it once (the columns past Wo are computed and dropped); backward's input gradient is one axpy a tap over the plane in width Wq (the columns
// past Wo are computed and dropped) and its weight gradient one dot product. Contraction into FMA is off and the
// dot products keep eight fixed partial sums, so the AVX-512, AVX2 and portable builds of the same body add the
// same products in the same order and give the same bits. On AVX-512 a 3×3 forward at stride 2 reads its input
// rows in place instead (forward_direct_avx512, below), with the same sums.
#include "CKernels.h"
#include "ck_features.h"
#include "transpose16.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#pragma clang fp contract(off)

typedef struct {
    int64_t phaseWidth, phaseHeight, phaseSize, flat;  /* flat = Ho · Wq, the output plane in width Wq */
} Phases;

static Phases phases_of(int64_t height, int64_t width, int64_t ks, int64_t stride, int64_t pad, int64_t outHeight) {
    Phases p;
    p.phaseWidth = (width + 2 * pad + stride - 1) / stride;
    /* Rows a tap may reach: r + kh / s for r < Ho, plus one row of slack for the columns read past Wo. */
    p.phaseHeight = outHeight + (ks - 1) / stride + 1;
    p.phaseSize = p.phaseWidth * p.phaseHeight;
    p.flat = outHeight * p.phaseWidth;
    return p;
}

/* The zero-padded plane split into its s² phases (`out` holds s² · phaseSize floats and LANES of slack, all
 * zeroed). Stride 1 is one padded plane, a row copy per input row; otherwise column phase a takes the input columns
 * x ≡ a − pad (mod s), one every s, with the first column of each phase worked out once and the row's phase
 * carried along (no division per row). */
#define LANES 16
static void fill_phases(const float *plane, int64_t height, int64_t width, int64_t stride, int64_t pad, Phases p,
                        float *out) {
    if (stride == 1) {  /* only the border is zeroed: the top rows, each row's two margins, the rest after the image */
        int64_t wq = p.phaseWidth, right = wq - pad - width;
        memset(out, 0, (size_t)(pad * wq + pad) * sizeof(float));
        for (int64_t y = 0; y < height; y++) {
            float *row = out + (y + pad) * wq + pad;
            memcpy(row, plane + y * width, (size_t)width * sizeof(float));
            /* this row's right margin and the next row's left one */
            memset(row + width, 0, (size_t)(right + pad) * sizeof(float));
        }
        int64_t filled = (height + pad) * wq + pad;
        memset(out + filled, 0, (size_t)(p.phaseSize + LANES - filled) * sizeof(float));
        return;
    }
    memset(out, 0, (size_t)(stride * stride * p.phaseSize + LANES) * sizeof(float));
    int64_t firstColumn[stride], firstSlot[stride];
    for (int64_t a = 0; a < stride; a++) {
        firstColumn[a] = ((a - pad) % stride + stride) % stride;
        firstSlot[a] = (firstColumn[a] + pad) / stride;
    }
    int64_t rowPhase = pad % stride, rowSlot = pad / stride;  /* (y + pad) = rowSlot · s + rowPhase */
    for (int64_t y = 0; y < height; y++) {
        const float *line = plane + y * width;
        for (int64_t a = 0; a < stride; a++) {
            float *dst = out + (rowPhase * stride + a) * p.phaseSize + rowSlot * p.phaseWidth;
            for (int64_t x = firstColumn[a], q = firstSlot[a]; x < width; x += stride, q++) dst[q] = line[x];
        }
        if (++rowPhase == stride) { rowPhase = 0; rowSlot++; }
    }
}

/* Where tap (kh, kw) starts in the phase buffer. */
static inline int64_t tap_offset(int64_t kh, int64_t kw, int64_t stride, Phases p) {
    return ((kh % stride) * stride + kw % stride) * p.phaseSize + (kh / stride) * p.phaseWidth + kw / stride;
}

/* The output plane in width Wq (flat index i = r·Wq + c), in runs of LANES values: the bias, then every tap added
 * in (kh, kw) order, in registers, stored once (the same bits as a pass per tap). RUNS runs at a time while whole
 * groups fit, so that their chains of adds overlap (one run alone waits on each add's latency), then one at a
 * time; the last run reaches past the plane into the slack of the phase buffer and of `acc` (values computed and
 * dropped). Then the Wo real columns of each row are copied out — or, on AVX-512, each run's real columns are
 * stored straight into the output (STORE_OUTPUT): they are contiguous there, so one compress and one masked store
 * a run, with the run's lanes and its place in the output planned once per call (`lanes`). */
#define RUNS 4
#ifndef CK_DEPTHWISE_CHANNEL_PLANE
#define CK_DEPTHWISE_CHANNEL_PLANE 196  /* output pixels: 14 × 14 */
#endif
#define FORWARD_BODY                                                                                              \
    int64_t taps = ks * ks;                                                                                       \
    for (int64_t t = 0; t < taps; t++) offsets[t] = tap_offset(t / ks, t % ks, stride, p);                        \
    for (int64_t o = 0; o < outChannels; o++) {                                                                   \
        if (o % multiplier == 0) fill_phases(x + (o / multiplier) * height * width, height, width, stride, pad, p, \
                                             buffer);                                                             \
        const float *kernel = k + o * taps;                                                                       \
        const float b = bias ? bias[o] : 0.0f;                                                                    \
        float *out = y + o * outHeight * outWidth;                                                                \
        int64_t i = 0;                                                                                            \
        for (; i + RUNS * LANES <= p.flat; i += RUNS * LANES) {                                                   \
            float v[RUNS][LANES];                                                                                 \
            for (int u = 0; u < RUNS; u++)                                                                        \
                for (int j = 0; j < LANES; j++) v[u][j] = b;                                                      \
            for (int64_t t = 0; t < taps; t++) {                                                                  \
                const float kv = kernel[t];                                                                       \
                const float *restrict source = buffer + offsets[t] + i;                                           \
                for (int u = 0; u < RUNS; u++)                                                                    \
                    for (int j = 0; j < LANES; j++) v[u][j] = v[u][j] + kv * source[u * LANES + j];               \
            }                                                                                                     \
            for (int u = 0; u < RUNS; u++) STORE(i + u * LANES, v[u]);                                            \
        }                                                                                                         \
        for (; i < p.flat; i += LANES) {                                                                          \
            float v[LANES];                                                                                       \
            for (int j = 0; j < LANES; j++) v[j] = b;                                                             \
            for (int64_t t = 0; t < taps; t++) {                                                                  \
                const float kv = kernel[t];                                                                       \
                const float *restrict source = buffer + offsets[t] + i;                                           \
                for (int j = 0; j < LANES; j++) v[j] = v[j] + kv * source[j];                                     \
            }                                                                                                     \
            STORE(i, v);                                                                                          \
        }                                                                                                         \
        if (!STORES_OUTPUT)                                                                                       \
            for (int64_t r = 0; r < outHeight; r++)                                                               \
                memcpy(out + r * outWidth, acc + r * p.phaseWidth, (size_t)outWidth * sizeof(float));             \
    }

#define BACKWARD_BODY                                                                                             \
    for (int64_t o = 0; o < outChannels; o++) {                                                                   \
        if (o % multiplier == 0) {                                                                                \
            fill_phases(x + (o / multiplier) * height * width, height, width, stride, pad, p, buffer);            \
            if (dx) memset(dbuffer, 0, (size_t)(stride * stride * p.phaseSize) * sizeof(float));                  \
        }                                                                                                         \
        const float *kernel = k + o * ks * ks;                                                                    \
        float *dkernel = dk + o * ks * ks;                                                                        \
        const float *gradient = dy + o * outHeight * outWidth;                                                    \
        memset(g, 0, (size_t)p.flat * sizeof(float));                                                             \
        for (int64_t r = 0; r < outHeight; r++)                                                                   \
            memcpy(g + r * p.phaseWidth, gradient + r * outWidth, (size_t)outWidth * sizeof(float));              \
        for (int64_t kh = 0; kh < ks; kh++)                                                                       \
            for (int64_t kw = 0; kw < ks; kw++) {                                                                 \
                const int64_t offset = tap_offset(kh, kw, stride, p);                                             \
                const float *restrict source = buffer + offset;                                                   \
                float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                        \
                int64_t i = 0;                                                                                    \
                for (; i + 8 <= p.flat; i += 8)                                                                   \
                    for (int j = 0; j < 8; j++) lanes[j] = lanes[j] + g[i + j] * source[i + j];                   \
                for (; i < p.flat; i++) lanes[i & 7] = lanes[i & 7] + g[i] * source[i];                           \
                float sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +                                     \
                            ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));                                      \
                dkernel[kh * ks + kw] = dkernel[kh * ks + kw] + sum;                                              \
                if (!dx) continue;                                                                                \
                const float kv = kernel[kh * ks + kw];                                                            \
                float *restrict target = dbuffer + offset;                                                        \
                for (int64_t t = 0; t < p.flat; t++) target[t] = target[t] + kv * g[t];                           \
            }                                                                                                     \
        if (dx && (o + 1) % multiplier == 0) {                                                                    \
            float *dplane = dx + (o / multiplier) * height * width;                                               \
            for (int64_t yy = 0; yy < height; yy++) {                                                             \
                int64_t py = yy + pad;                                                                            \
                for (int64_t xx = 0; xx < width; xx++) {                                                          \
                    int64_t px = xx + pad;                                                                        \
                    dplane[yy * width + xx] = dplane[yy * width + xx] +                                           \
                        dbuffer[((py % stride) * stride + px % stride) * p.phaseSize + (py / stride) * p.phaseWidth + \
                                px / stride];                                                                     \
                }                                                                                                 \
            }                                                                                                     \
        }                                                                                                         \
    }

#define FORWARD_ARGS                                                                                              \
    const float *x, int64_t outChannels, int64_t multiplier, int64_t height, int64_t width, const float *k,       \
        int64_t ks, int64_t stride, int64_t pad, const float *bias, float *y, int64_t outHeight, int64_t outWidth, \
        Phases p, float *buffer, float *acc, int64_t *offsets, const uint16_t *lanes, const int64_t *place
#define BACKWARD_ARGS                                                                                             \
    const float *x, const float *dy, int64_t outChannels, int64_t multiplier, int64_t height, int64_t width,      \
        const float *k, int64_t ks, int64_t stride, int64_t pad, float *dk, float *dx, int64_t outHeight,         \
        int64_t outWidth, Phases p, float *buffer, float *dbuffer, float *g
#define FORWARD_CALL x, outChannels, multiplier, height, width, k, ks, stride, pad, bias, y, outHeight, outWidth, p, buffer, acc, offsets, lanes, place
#define BACKWARD_CALL x, dy, outChannels, multiplier, height, width, k, ks, stride, pad, dk, dx, outHeight, outWidth, p, buffer, dbuffer, g

#define STORE_ACC(at, v)                                                                                          \
    do {                                                                                                          \
        for (int j = 0; j < LANES; j++) acc[(at) + j] = (v)[j];                                                   \
    } while (0)
/* A run of LANES flat outputs at `at`: its real columns (lanes mask `lanes[at / LANES]`) compressed to the front and
 * stored at their place in the output plane, `place[at / LANES]`. */
#define STORE_OUTPUT(at, v)                                                                                       \
    do {                                                                                                          \
        __mmask16 keep = lanes[(at) / LANES];                                                                     \
        __m512 packed = _mm512_maskz_compress_ps(keep, _mm512_loadu_ps(v));                                        \
        _mm512_mask_storeu_ps(out + place[(at) / LANES], (__mmask16)ck_span_mask(0, __builtin_popcount(keep)),    \
                              packed);                                                                            \
    } while (0)

#define STORE STORE_ACC
#define STORES_OUTPUT 0
__attribute__((target("avx2"))) static void forward_avx2(FORWARD_ARGS) { FORWARD_BODY }
static void forward_portable(FORWARD_ARGS) { FORWARD_BODY }
#undef STORE
#undef STORES_OUTPUT
#define STORE STORE_OUTPUT
#define STORES_OUTPUT 1
__attribute__((target("avx512f"))) static void forward_avx512(FORWARD_ARGS) { FORWARD_BODY }
#undef STORE
#undef STORES_OUTPUT
__attribute__((target("avx512f"))) static void backward_avx512(BACKWARD_ARGS) { BACKWARD_BODY }
__attribute__((target("avx2"))) static void backward_avx2(BACKWARD_ARGS) { BACKWARD_BODY }
static void backward_portable(BACKWARD_ARGS) { BACKWARD_BODY }

/* AVX-512, a 3×3 kernel at stride 2: each output row read straight from the input plane, no phase planes (whose
 * fill at stride 2 is a strided scalar copy) and no copy out. An output vector is 16 pixels of one row (the last of
 * a row masked), read as 32 inputs in two masked loads of which the even ones are kept; lanes whose input falls in
 * the padding load 0 without touching memory, and a row in the padding is all 0, so every output still adds b and
 * then every tap's product in (kh, kw) order — the same sums as the phase planes, the same bits. Four vectors are
 * summed together so that their adds overlap. Measured one layer at a time on an AVX-512 machine (a C driver, best
 * of 7 runs of 0.2 s, against the phase planes): 3×3 at stride 2 1.3–1.7× as fast (96 channels at 112×112: 0.42
 * against 0.64 ms; 144 at 56×56: 0.14 against 0.23); 5×5 at stride 2 even at 56×56 and slower at 14×14 (0.21
 * against 0.11 ms), and stride 1 slower (144 at 56×56: 0.44 against 0.27 ms), so those keep the phase planes. */
#define VECTORS 4

/* One output plane, with the stride S and kernel size K constants (inlined: the taps unroll, and no branch is left
 * between the loads and the adds); written for strides 1 and 2. */
__attribute__((target("avx512f"), always_inline))
static inline void direct_plane(const int S, const int K, const float *plane, const float *kernel, float bias,
                                const uint32_t *masks, int64_t height, int64_t width, int64_t pad, float *out,
                                int64_t outHeight, int64_t outWidth, int64_t chunks) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512 b = _mm512_set1_ps(bias);
    int64_t vectors = outHeight * chunks;
    for (int64_t v0 = 0; v0 < vectors; v0 += VECTORS) {
        int64_t row[VECTORS], column[VECTORS];
        const uint32_t *mask[VECTORS];
        __m512 acc[VECTORS];
        for (int u = 0; u < VECTORS; u++) {
            int64_t v = v0 + u < vectors ? v0 + u : vectors - 1;  /* past the end: recompute the last, not stored */
            row[u] = v / chunks;
            column[u] = (v % chunks) * 16;
            mask[u] = masks + (v % chunks) * K;
            acc[u] = b;
        }
        for (int kh = 0; kh < K; kh++) {
            const float *line[VECTORS];
            uint32_t keep[VECTORS];
            for (int u = 0; u < VECTORS; u++) {
                int64_t iy = row[u] * S + kh - pad;
                int inside = iy >= 0 && iy < height;
                keep[u] = inside ? 0xFFFFFFFFu : 0;
                line[u] = plane + (inside ? iy : 0) * width + column[u] * S - pad;
            }
            for (int kw = 0; kw < K; kw++) {
                const __m512 kv = _mm512_set1_ps(kernel[kh * K + kw]);
                for (int u = 0; u < VECTORS; u++) {
                    uint32_t m = mask[u][kw] & keep[u];
                    __m512 in;
                    if (S == 1) {
                        in = _mm512_maskz_loadu_ps((__mmask16)m, line[u] + kw);
                    } else {
                        __m512 lo = _mm512_maskz_loadu_ps((__mmask16)m, line[u] + kw);
                        __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(m >> 16), line[u] + kw + 16);
                        in = _mm512_permutex2var_ps(lo, evens, hi);
                    }
                    acc[u] = _mm512_add_ps(acc[u], _mm512_mul_ps(kv, in));
                }
            }
        }
        for (int u = 0; u < VECTORS; u++) {
            if (v0 + u >= vectors) break;
            int64_t lanes = outWidth - column[u] < 16 ? outWidth - column[u] : 16;
            _mm512_mask_storeu_ps(out + row[u] * outWidth + column[u], (__mmask16)ck_span_mask(0, lanes), acc[u]);
        }
    }
}

__attribute__((target("avx512f")))
static void forward_direct_avx512(const float *x, int64_t outChannels, int64_t multiplier, int64_t height,
                                  int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad,
                                  const float *bias, float *y, int64_t outHeight, int64_t outWidth) {
    int64_t chunks = (outWidth + 15) / 16, taps = ks * ks;
    /* load masks per (chunk, kw): the inputs of the chunk's lanes inside [0, width) */
    uint32_t *masks = malloc((size_t)(chunks * ks) * sizeof(uint32_t));
    if (!masks) abort();  /* out of memory for a few words of scratch */
    for (int64_t ch = 0; ch < chunks; ch++) {
        int64_t lanes = outWidth - ch * 16 < 16 ? outWidth - ch * 16 : 16;
        for (int64_t kw = 0; kw < ks; kw++) {
            int64_t first = ch * 16 * stride + kw - pad;  /* input column of lane 0 */
            masks[ch * ks + kw] = (uint32_t)(ck_span_mask(0, stride * lanes - (stride - 1)) &
                                              ck_span_mask(-first, width - first));
        }
    }
    for (int64_t o = 0; o < outChannels; o++) {
        const float *plane = x + (o / multiplier) * height * width, *kernel = k + o * taps;
        float b = bias ? bias[o] : 0.0f, *out = y + o * outHeight * outWidth;
        direct_plane(2, 3, plane, kernel, b, masks, height, width, pad, out, outHeight, outWidth, chunks);
    }
    free(masks);
}

/* AVX-512, small planes (the 14×14 and 7×7 layers of mobile networks, whose rows fill a third to a half of a
 * 16-lane run) with one output per input channel: 16 channels on the lanes instead. A block of 16 channels is
 * transposed into a zero-padded plane of 16-channel pixels (16 × 16 shuffle transposes), each output pixel is the
 * bias then every tap's product added in (kh, kw) order — the padding's zeros included, as the phase planes add
 * them — eight pixels at a time so their chains of adds overlap, and the outputs are transposed back into the
 * channels' planes. The same operations per output as the phase planes, so the same bits. */
#define CHANNEL_PIXELS 8

/* 16 rows of up to 16 floats (row j at src + j·ld, `count` of them read) transposed into out[16]. */
__attribute__((target("avx512f")))
static inline void transpose_rows(const float *src, int64_t ld, int64_t count, __m512 out[16]) {
    if (count >= 16) {
        transpose16(src, ld, out);
        return;
    }
    float rows[16 * 16];
    __mmask16 keep = (__mmask16)ck_span_mask(0, count);
    for (int j = 0; j < 16; j++) _mm512_storeu_ps(rows + 16 * j, _mm512_maskz_loadu_ps(keep, src + j * ld));
    transpose16(rows, 16, out);
}

__attribute__((target("avx512f")))
static void forward_channels_avx512(const float *x, int64_t channels, int64_t height, int64_t width, const float *k,
                                    int64_t ks, int64_t stride, int64_t pad, const float *bias, float *y,
                                    int64_t outHeight, int64_t outWidth) {
    int64_t hp = height + 2 * pad, wp = width + 2 * pad, taps = ks * ks;
    int64_t inPlane = height * width, outPlane = outHeight * outWidth;
    float *padded = aligned_alloc(64, (size_t)(hp * wp * 16) * sizeof(float));
    float *outputs = aligned_alloc(64, (size_t)((outPlane + 15) / 16 * 16 * 16) * sizeof(float));
    float *weights = aligned_alloc(64, (size_t)(taps * 16) * sizeof(float));
    int64_t *offsets = malloc((size_t)taps * sizeof(int64_t));
    if (!padded || !outputs || !weights || !offsets) abort();  /* out of memory for a few KB of scratch */
    for (int64_t t = 0; t < taps; t++) offsets[t] = ((t / ks) * wp + t % ks) * 16;
    for (int64_t c0 = 0; c0 + 16 <= channels; c0 += 16) {
        memset(padded, 0, (size_t)(hp * wp * 16) * sizeof(float));
        for (int64_t q = 0; q < inPlane; q += 16) {
            __m512 pixels[16];
            int64_t count = inPlane - q < 16 ? inPlane - q : 16;
            transpose_rows(x + c0 * inPlane + q, inPlane, count, pixels);
            for (int64_t j = 0; j < count; j++) {
                int64_t iy = (q + j) / width, ix = (q + j) % width;
                _mm512_store_ps(padded + ((iy + pad) * wp + ix + pad) * 16, pixels[j]);
            }
        }
        for (int64_t t = 0; t < taps; t++)
            for (int l = 0; l < 16; l++) weights[t * 16 + l] = k[(c0 + l) * taps + t];
        const __m512 b = bias ? _mm512_loadu_ps(bias + c0) : _mm512_setzero_ps();
        for (int64_t p0 = 0; p0 < outPlane; p0 += CHANNEL_PIXELS) {
            const float *at[CHANNEL_PIXELS];
            __m512 acc[CHANNEL_PIXELS];
            for (int u = 0; u < CHANNEL_PIXELS; u++) {
                int64_t pixel = p0 + u < outPlane ? p0 + u : outPlane - 1;  /* past the end: recomputed, not kept */
                at[u] = padded + ((pixel / outWidth) * stride * wp + (pixel % outWidth) * stride) * 16;
                acc[u] = b;
            }
            for (int64_t t = 0; t < taps; t++) {
                const __m512 w = _mm512_load_ps(weights + t * 16);
                const int64_t offset = offsets[t];
                for (int u = 0; u < CHANNEL_PIXELS; u++)
                    acc[u] = _mm512_add_ps(acc[u], _mm512_mul_ps(w, _mm512_load_ps(at[u] + offset)));
            }
            for (int u = 0; u < CHANNEL_PIXELS && p0 + u < outPlane; u++)
                _mm512_store_ps(outputs + (p0 + u) * 16, acc[u]);
        }
        for (int64_t q = 0; q < outPlane; q += 16) {
            __m512 planes[16];
            int64_t count = outPlane - q < 16 ? outPlane - q : 16;
            transpose16(outputs + q * 16, 16, planes);  /* rows past the plane: scratch, their lanes not stored */
            __mmask16 keep = (__mmask16)ck_span_mask(0, count);
            for (int l = 0; l < 16; l++) _mm512_mask_storeu_ps(y + (c0 + l) * outPlane + q, keep, planes[l]);
        }
    }
    free(offsets);
    free(weights);
    free(outputs);
    free(padded);
}

/* Whether the channel-lane kernel takes a call: one output per input channel, at least one block of 16 channels,
 * and a plane small enough that its rows fill the phase planes' runs badly. */
static int takes_channel_lanes(int64_t outChannels, int64_t multiplier, int64_t height, int64_t width, int64_t pad,
                               int64_t outHeight, int64_t outWidth) {
    return multiplier == 1 && outChannels >= 16 && outHeight * outWidth <= CK_DEPTHWISE_CHANNEL_PLANE &&
           (height + 2 * pad) * (width + 2 * pad) <= 4 * CK_DEPTHWISE_CHANNEL_PLANE;
}

static int path_available(int path) {
    return path == 0 || (path == 1 && ck_has(CK_FEATURE_AVX2)) || (path == 2 && ck_has(CK_FEATURE_AVX512F));
}

int ck_depthwise_forward_with(int path, const float *x, int64_t outChannels, int64_t multiplier, int64_t height,
                              int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad, const float *bias,
                              float *y, int64_t outHeight, int64_t outWidth) {
    if (!path_available(path)) return 0;
    if (path == 2 && takes_channel_lanes(outChannels, multiplier, height, width, pad, outHeight, outWidth)) {
        int64_t whole = outChannels / 16 * 16;
        forward_channels_avx512(x, whole, height, width, k, ks, stride, pad, bias, y, outHeight, outWidth);
        if (whole == outChannels) return 1;
        /* the last channels, fewer than 16: the phase planes */
        return ck_depthwise_forward_with(2, x + whole * height * width, outChannels - whole, 1, height, width,
                                         k + whole * ks * ks, ks, stride, pad, bias ? bias + whole : NULL,
                                         y + whole * outHeight * outWidth, outHeight, outWidth);
    }
    if (path == 2 && stride == 2 && ks == 3) {
        forward_direct_avx512(x, outChannels, multiplier, height, width, k, ks, stride, pad, bias, y, outHeight,
                              outWidth);
        return 1;
    }
    Phases p = phases_of(height, width, ks, stride, pad, outHeight);
    /* The phases with LANES of slack, then `acc`: the flat plane rounded up to whole runs. */
    int64_t runs = (p.flat + LANES - 1) / LANES * LANES;
    float *buffer = malloc((size_t)(stride * stride * p.phaseSize + LANES + runs) * sizeof(float));
    int64_t *offsets = malloc((size_t)(ks * ks) * sizeof(int64_t));
    if (!buffer || !offsets) abort();  /* out of memory for one plane of scratch: nothing sensible is left to do */
    float *acc = buffer + stride * stride * p.phaseSize + LANES;
    uint16_t *lanes = NULL;
    int64_t *place = NULL;
    if (path == 2) {
        /* Each run's real columns (c < Wo of flat index r·Wq + c, none past the plane) and where its first one goes:
         * r·Wo + min(c, Wo) for the run's first flat index. */
        int64_t count = runs / LANES;
        lanes = malloc((size_t)count * sizeof(uint16_t));
        place = malloc((size_t)count * sizeof(int64_t));
        if (!lanes || !place) abort();
        for (int64_t v = 0; v < count; v++) {
            int64_t first = v * LANES, r = first / p.phaseWidth, c = first % p.phaseWidth;
            place[v] = r * outWidth + (c < outWidth ? c : outWidth);
            uint16_t bits = 0;
            for (int j = 0; j < LANES; j++) {
                int64_t f = first + j;
                if (f < p.flat && f % p.phaseWidth < outWidth) bits |= (uint16_t)(1u << j);
            }
            lanes[v] = bits;
        }
        forward_avx512(FORWARD_CALL);
    } else if (path == 1) forward_avx2(FORWARD_CALL);
    else forward_portable(FORWARD_CALL);
    free(place);
    free(lanes);
    free(offsets);
    free(buffer);
    return 1;
}

int ck_depthwise_backward_with(int path, const float *x, const float *dy, int64_t outChannels, int64_t multiplier,
                               int64_t height, int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad,
                               float *dk, float *dx, int64_t outHeight, int64_t outWidth) {
    if (!path_available(path)) return 0;
    Phases p = phases_of(height, width, ks, stride, pad, outHeight);
    int64_t phaseFloats = stride * stride * p.phaseSize;
    float *buffer = malloc((size_t)(2 * phaseFloats + LANES + p.flat) * sizeof(float));
    if (!buffer) abort();
    float *dbuffer = buffer + phaseFloats + LANES, *g = dbuffer + phaseFloats;
    if (path == 2) backward_avx512(BACKWARD_CALL);
    else if (path == 1) backward_avx2(BACKWARD_CALL);
    else backward_portable(BACKWARD_CALL);
    free(buffer);
    return 1;
}

static int best_path(void) { return ck_has(CK_FEATURE_AVX512F) ? 2 : (ck_has(CK_FEATURE_AVX2) ? 1 : 0); }

void ck_depthwise_forward(const float *x, int64_t outChannels, int64_t multiplier, int64_t height, int64_t width,
                          const float *k, int64_t ks, int64_t stride, int64_t pad, const float *bias, float *y,
                          int64_t outHeight, int64_t outWidth) {
    ck_depthwise_forward_with(best_path(), x, outChannels, multiplier, height, width, k, ks, stride, pad, bias, y,
                              outHeight, outWidth);
}

void ck_depthwise_backward(const float *x, const float *dy, int64_t outChannels, int64_t multiplier, int64_t height,
                           int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad, float *dk,
                           float *dx, int64_t outHeight, int64_t outWidth) {
    ck_depthwise_backward_with(best_path(), x, dy, outChannels, multiplier, height, width, k, ks, stride, pad, dk, dx,
                               outHeight, outWidth);
}
