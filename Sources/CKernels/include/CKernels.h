// CKernels: C kernels for the work the BLAS has no routine for (integer and binary GEMMs arrive with the
// quantization issues). Every kernel picks its instruction set at run time; no compiler flags are needed.
#pragma once
#include <stdint.h>

/// Bit flags of the CPU features the kernels dispatch on.
enum {
    CK_FEATURE_AVX2 = 1 << 0,
    CK_FEATURE_FMA = 1 << 1,
    CK_FEATURE_AVX512F = 1 << 2,
    CK_FEATURE_AVX512BW = 1 << 3,
    CK_FEATURE_AVX512VNNI = 1 << 4,
    CK_FEATURE_AVX512VPOPCNTDQ = 1 << 5,
};

/// The CPU features present on this machine, as a combination of `CK_FEATURE_*` flags.
uint32_t ck_cpu_features(void);

/// A task of a `ck_pool_run` job: `task` is 0 ..< the job's task count.
typedef void (*ck_task_fn)(void *context, int64_t task);
/// Runs tasks 0 ..< `tasks` of `function` on the calling thread and up to `threads` − 1 pooled workers (started on
/// first use; they spin briefly between jobs, then sleep) and returns 1 when all have finished. Returns 0 without
/// running anything when the pool is in use (by another thread, or from inside a task), `threads` < 2 or `tasks` is
/// outside 1 ... 65535: the caller then runs the work its own way.
int ck_pool_run(int64_t tasks, int threads, ck_task_fn function, void *context);
/// How long an idle worker spins for the next job before sleeping, in microseconds (0 … 1,000,000; default 200).
void ck_pool_set_spin(int64_t microseconds);

/// Max pooling of one (H, W) plane with a square window; writes the pooled (Ho, Wo) plane and, when `argmax` is
/// not NULL, the flat input index of each maximum (first maximum wins). Padding cells are never chosen.
void ck_maxpool2d_plane(const float *input, int32_t height, int32_t width, int32_t kernel, int32_t stride,
                        int32_t padding, float *output, int32_t outputHeight, int32_t outputWidth,
                        int32_t *argmax);

/// Single-precision GEMM, row-major: C = alpha · op(A) · op(B) + beta · C, op(A) (m × k), op(B) (k × n), C (m × n).
/// `transA`/`transB` non-zero mean the operand is stored transposed; `lda`, `ldb`, `ldc` are row strides as stored.
/// Packs panels and runs a 14 × 32 AVX-512 micro-kernel where the CPU has AVX-512F, a portable C micro-kernel
/// otherwise; the summation order over k is the same for every m, n split, so results do not depend on how callers
/// partition C across threads. beta = 0 never reads C.
void ck_sgemm(int transA, int transB, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
              const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/// Floats `ck_sgemm_pack_b` writes for an op(B) of k × n.
int64_t ck_sgemm_packed_b_size(int64_t n, int64_t k);

/// Packs op(B) (k × n; B stored n × k when `transB`) once, as `ck_sgemm` packs it on every call, for
/// `ck_sgemm_packed` (a layer's weights, which do not change between calls).
void ck_sgemm_pack_b(int transB, int64_t n, int64_t k, const float *b, int64_t ldb, float *packed);

/// C[:, columnStart ..< columnEnd] = op(A) · B + beta · C over those columns, B packed by `ck_sgemm_pack_b`: the
/// same bits as `ck_sgemm` with alpha 1. `columnStart` must be a multiple of 32 (the kernel's panel), so that threads
/// can split the columns; returns 0 (writing nothing) for a range that is not.
int ck_sgemm_packed(int transA, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *packed,
                    float beta, float *c, int64_t ldc, int64_t columnStart, int64_t columnEnd);

/// Whether `ck_sgemm` runs its AVX-512 micro-kernel on this CPU.
int ck_sgemm_uses_avx512(void);

/// Makes glibc keep large freed blocks in the heap (mmap and trim thresholds of 1 GiB) so that per-step training
/// buffers are reused instead of coming back from the kernel as fresh, zero-filled pages. A no-op elsewhere.
/// Executables call it once at start; the library never does.
void ck_keep_freed_memory(void);

/// Quantizes `count` floats to uint8 codes, `out[i] = clamp(rint(x[i] / scale) + zeroPoint, lowest, highest)`
/// (rint rounds half to even; `lowest` and `highest` within 0 … 255). Returns −1, or the index of the first NaN
/// (writing nothing), which has no code.
int64_t ck_quantize_u8(const float *x, int64_t count, float scale, float zeroPoint, float lowest, float highest,
                       uint8_t *out);

/// `ck_quantize_u8` on one `CK_VECTOR_*` path, for tests; returns −2 when the CPU lacks it.
int64_t ck_quantize_u8_with(int path, const float *x, int64_t count, float scale, float zeroPoint, float lowest,
                            float highest, uint8_t *out);

/// y = min(max(x, 0), cap) elementwise (cap = +∞ is ReLU). `x` and `y` may be the same buffer.
void ck_clamp(const float *x, float *y, int64_t count, float cap);

/// The gradient of `ck_clamp`: dx = dy where 0 < x < cap, else 0.
void ck_clamp_gradient(const float *x, const float *dy, float *dx, int64_t count, float cap);

/// y = σ(x) = 1 / (1 + e^−x) elementwise, with a vectorized exp (`ck_expf`); `x` and `y` may be the same buffer.
void ck_sigmoid(const float *x, float *y, int64_t count);

/// y = x · σ(x) (SiLU, swish) elementwise, computed as x / (1 + e^−x); `x` and `y` may be the same buffer.
void ck_silu(const float *x, float *y, int64_t count);

/// y = x · min(max(x + 3, 0), 6) / 6 (hard-swish) elementwise; `x` and `y` may be the same buffer.
void ck_hardswish(const float *x, float *y, int64_t count);

/// The kernels above on one `CK_VECTOR_*` path, for tests: `function` 0 sigmoid, 1 SiLU, 2 hard-swish. Returns 0 when
/// the CPU lacks the path or `function` is unknown.
int ck_activation_with(int path, int function, const float *x, float *y, int64_t count);

/// e^x as the kernels above compute it: within 2 ulp of e^x for x in [−87.3, 88.3], clamped to that range outside it
/// (NaN stays NaN). The same bits on every instruction set.
float ck_expf(float x);

/// Floats `ck_conv2d_pack_weights` writes for an m × depth weight matrix (rows padded to panels of 6).
int64_t ck_conv2d_packed_size(int64_t m, int64_t depth);

/// Packs a convolution's weights, m × depth row-major (depth = C·k², one group's OIHW block), for
/// `ck_conv2d_forward`.
void ck_conv2d_pack_weights(const float *w, int64_t m, int64_t depth, float *packed);

/// Inference convolution of one image (C, H, W) with m output channels by implicit GEMM (the unfolded input is
/// gathered into cache-sized panels, never written out whole): for output pixels [pixelStart, pixelEnd) of
/// y (m, Ho·Wo), y[o, p] = bias[o] + Σ W[o, c, ky, kx] · x[c, oy·s − pad + ky, ox·s − pad + kx] (0 in the padding);
/// `bias` may be NULL. Each output's sum runs in the same order whatever the pixel range, so ranges may be split
/// across threads. Uses FMA on the AVX2 path.
void ck_conv2d_forward(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                       int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                       int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd);

/// The activations a kernel applies to its outputs in registers, before it stores them.
enum { CK_ACTIVATION_CLAMP = 1, CK_ACTIVATION_HARDSWISH = 2 };

/// A fused activation: `kind` CK_ACTIVATION_CLAMP is y = min(max(y, 0), cap) (ReLU with cap +∞, ReLU6 with 6), the
/// bits of `ck_clamp`; CK_ACTIVATION_HARDSWISH is y = y · min(max(y + 3, 0), 6) / 6 (`cap` unused), the bits of
/// `ck_hardswish`.
typedef struct {
    int32_t kind;
    float cap;
} ck_fused_activation;

/// `ck_conv2d_forward` for the outputs [rowStart, rowEnd) only (rowStart a multiple of 6, rowEnd ≤ m), so that one
/// image's product can be split by output channels as well as by pixels; each output gets the bits of the whole
/// call. With `activation` not NULL each output is then activated in registers, with the bits of the activation's
/// kernel after the call. Returns 0 (and writes nothing) when the rows are out of range.
int ck_conv2d_forward_rows(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                           int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                           int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd,
                           int64_t rowStart, int64_t rowEnd, const ck_fused_activation *activation);

/// `ck_conv2d_forward_rows` on one path (0 portable, 1 AVX2 + FMA, 2 AVX-512 tiles over the same gather), for
/// tests; returns 0 when the CPU lacks it or the rows are out of range.
int ck_conv2d_forward_with(int path, const float *packed, int64_t m, const float *x, int64_t channels,
                           int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                           const float *bias, float *y, int64_t outHeight, int64_t outWidth, int64_t pixelStart,
                           int64_t pixelEnd, int64_t rowStart, int64_t rowEnd,
                           const ck_fused_activation *activation);

/// Whether `ck_conv2d_forward` has its AVX2 + FMA path on this CPU.
int ck_conv2d_has_fast_path(void);

/// The path `ck_conv2d_forward` takes on this CPU: 0 portable, 1 AVX2 + FMA, 2 AVX-512 (its tiles of 6 rows × up to
/// 64 pixels, the gather worked out once per tap, a 1×1 conv with stride 1 and no padding read in place).
int ck_conv2d_path(void);

/// Whether `ck_conv2d_forward_channels` (output channels on the vector lanes) beats the pixel tiles of
/// `ck_conv2d_forward_rows` for m output channels (of a group) over planes of `pixels` output pixels on this CPU,
/// with AVX-512: a k×k conv with stride 1 or 2 whose channels fill 16-lane vectors (the direct path, no gather), a
/// 1×1 conv when its channels fill the lanes clearly better than its pixels do (a 7×7 plane fills 49 of 64).
int ck_conv2d_channel_tiles(int64_t m, int64_t pixels, int64_t kernel, int64_t stride);

/// Floats `ck_conv2d_pack_channel_weights` writes for an m × depth weight matrix (channels padded to panels of 16).
int64_t ck_conv2d_channel_packed_size(int64_t m, int64_t depth);

/// Packs a convolution's weights, m × depth row-major, for `ck_conv2d_forward_channels`: panels of 16 output
/// channels, each depth rows of 16.
void ck_conv2d_pack_channel_weights(const float *w, int64_t m, int64_t depth, float *packed);

/// `ck_conv2d_forward_rows` with output channels on the lanes (AVX-512 tiles of up to 48 channels × 8 pixels, the
/// tile transposed into y's rows when done) and the same bits; rowStart a multiple of 16. A 1×1 conv with stride 1
/// and no padding reads its input in place; a k×k conv with stride 1 or 2 reads its taps straight from a
/// zero-padded copy of the input rows; other convs from gathered panels. Returns 0 (and writes nothing) without
/// AVX-512 or when the rows or pixels are out of range.
int ck_conv2d_forward_channels(const float *packed, int64_t m, const float *x, int64_t channels, int64_t height,
                               int64_t width, int64_t kernel, int64_t stride, int64_t pad, const float *bias, float *y,
                               int64_t outHeight, int64_t outWidth, int64_t pixelStart, int64_t pixelEnd,
                               int64_t rowStart, int64_t rowEnd, const ck_fused_activation *activation);

/// `ck_conv2d_forward_channels` reading the taps one way, for tests: `direct` 0 from gathered panels (or a 1×1
/// conv's input in place), 1 straight from a zero-padded copy of the input rows (strides 1 and 2 only; returns 0 for
/// others). Both give the same bits.
int ck_conv2d_forward_channels_with(int direct, const float *packed, int64_t m, const float *x, int64_t channels,
                                    int64_t height, int64_t width, int64_t kernel, int64_t stride, int64_t pad,
                                    const float *bias, float *y, int64_t outHeight, int64_t outWidth,
                                    int64_t pixelStart, int64_t pixelEnd, int64_t rowStart, int64_t rowEnd,
                                    const ck_fused_activation *activation);

/// Unfolds one image (C, H, W) into columns (C·k·k, Ho·Wo): row (c, ky, kx) holds x[c, oy·s − p + ky, ox·s − p + kx]
/// for every output (oy, ox), 0 where that falls in the padding.
void ck_im2col(const float *input, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *columns);

/// The adjoint of `ck_im2col`: adds every column entry into the image cell it came from (padding dropped), in the
/// order of the rows (c, ky, kx), so every path gives the same sums.
void ck_col2im(const float *columns, int64_t channels, int64_t height, int64_t width, int64_t kernel, int64_t stride,
               int64_t padding, float *input);

/// `ck_im2col` and `ck_col2im` on one `CK_VECTOR_*` path, for tests (return 0, writing nothing, when the CPU
/// lacks it).
int ck_im2col_with(int vectorized, const float *input, int64_t channels, int64_t height, int64_t width,
                   int64_t kernel, int64_t stride, int64_t padding, float *columns);
int ck_col2im_with(int vectorized, const float *columns, int64_t channels, int64_t height, int64_t width,
                   int64_t kernel, int64_t stride, int64_t padding, float *input);

/// The implementations of `ck_gemm_u8s8`.
enum { CK_GEMM_U8S8_SCALAR = 0, CK_GEMM_U8S8_AVX2 = 1, CK_GEMM_U8S8_VNNI = 2 };

/// u8 × s8 → s32 GEMM: C[i][j] = Σ_p A[i][p] · B[j][p], A uint8 (m × k, row stride lda), B int8 stored [out][in]
/// (n × k, row stride ldb), C int32 (m × n, row stride ldc), overwritten. Exact integer arithmetic on every path.
/// All m·lda bytes of A must be readable: when lda ≥ 4·⌈k/4⌉ the VNNI path reads A in place, including the up to
/// 3 bytes past k of each row (they meet zero weights).
void ck_gemm_u8s8(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                  int32_t *c, int64_t ldc);

/// The path `ck_gemm_u8s8` takes on this CPU (a `CK_GEMM_U8S8_*` value).
int ck_gemm_u8s8_path(void);

/// `ck_gemm_u8s8` on a chosen path; returns 0 (and writes nothing) when the CPU lacks it, 1 otherwise.
int ck_gemm_u8s8_with(int path, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                      int64_t ldb, int32_t *c, int64_t ldc);

/// Packs int8 weights B (n × k, row stride ldb) into `packed` for `ck_gemm_u8s8_packed`; returns 0 (writing nothing)
/// when this CPU takes no packed path, else 1. `packed` must hold `ck_gemm_u8s8_packed_size(n, k)` bytes.
int ck_gemm_u8s8_pack(int64_t n, int64_t k, const int8_t *b, int64_t ldb, int8_t *packed);

/// The bytes `ck_gemm_u8s8_pack` writes for an n × k matrix.
int64_t ck_gemm_u8s8_packed_size(int64_t n, int64_t k);

/// `ck_gemm_u8s8` with weights packed once beforehand (`packed`, or NULL when packing returned 0); `b` is still
/// needed for the shapes where packing does not pay (few rows). Same integers as every other path.
void ck_gemm_u8s8_packed(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                         int64_t ldb, const int8_t *packed, int32_t *c, int64_t ldc);

/// `ck_gemm_u8s8_packed` followed by `ck_requantize_u8` of the result into `out` (row stride `ldo`), with each
/// tile requantized while it is in cache on the packed VNNI path. The same bytes as the two calls. All m·lda bytes
/// of A must be readable; when lda ≥ 4·⌈k/4⌉ the VNNI path reads A in place (the bytes past k of a row are ignored)
/// instead of packing it.
void ck_gemm_u8s8_requantize(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                             int64_t ldb, const int8_t *packed, const double *offset, const float *multiplier,
                             int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out, int64_t ldo);

/// out[i·ldo + j] = clamp(rint(multiplier[j] · (acc[i·lda + j] + offset[j])) + zeroPoint, low, high) as uint8, for
/// a (rows × columns) int32 matrix whose columns are output channels. Computed in float as
/// (float)acc · multiplier[j] + (float)(offset[j] · multiplier[j]) (the product in double, rounded once), clamped,
/// rounded half to even; `low`/`high` (within 0…255) carry a fused ReLU (low = zeroPoint) or ReLU6. AVX-512 or AVX2
/// when the CPU has it; the same bytes on every path.
void ck_requantize_u8(const int32_t *acc, int64_t rows, int64_t columns, int64_t lda, const double *offset,
                      const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high, uint8_t *out,
                      int64_t ldo);

/// The vector paths of kernels built at AVX-512BW, AVX2 and portable C (the `vectorized` argument of `*_with`).
enum { CK_VECTOR_PORTABLE = 0, CK_VECTOR_AVX512 = 1, CK_VECTOR_AVX2 = 2 };

/// `ck_requantize_u8` on a chosen `CK_VECTOR_*` path (returns 0, writing nothing, when the CPU lacks it).
int ck_requantize_u8_with(int vectorized, const int32_t *acc, int64_t rows, int64_t columns, int64_t lda,
                          const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                          uint8_t *out, int64_t ldo);

/// The integer engine's add of `count` code arrays of `length` codes each:
/// `out[i] = clamp(rint(Σ_j multiplier[j] · (inputs[j][i] − zero[j])) + zy, low, high)`, the sum taken in double
/// term by term in input order and rounded half to even. AVX2 when the CPU has it; the same bytes either way.
void ck_add_u8(const uint8_t *const *inputs, int64_t count, int64_t length, const double *multiplier,
               const double *zero, double zy, double low, double high, uint8_t *out);

/// `ck_add_u8` on the AVX2 path (`vectorized` = 1; returns 0 when the CPU lacks it) or the portable one.
int ck_add_u8_with(int vectorized, const uint8_t *const *inputs, int64_t count, int64_t length,
                   const double *multiplier, const double *zero, double zy, double low, double high, uint8_t *out);

/// The integer engine's product of two code arrays: `out[r·columns + j] = clamp(rint(multiplier · (a[r·columns + j] −
/// za) · (b[r·rowStrideB + j·columnStrideB] − zb)) + zy, low, high)`, the centred product exact in int32, scaled in
/// double and rounded half to even. Strides (0, 1) gate every row of a channels-last map by one value a channel,
/// (1, 0) every plane of a channels-first one. AVX2 when the CPU has it; the same bytes either way.
void ck_multiply_u8(const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns, int64_t rowStrideB,
                    int64_t columnStrideB, int32_t za, int32_t zb, double multiplier, double zy, double low,
                    double high, uint8_t *out);

/// `ck_multiply_u8` on the AVX2 path (`vectorized` = 1; returns 0 when the CPU lacks it) or the portable one.
int ck_multiply_u8_with(int vectorized, const uint8_t *a, const uint8_t *b, int64_t rows, int64_t columns,
                        int64_t rowStrideB, int64_t columnStrideB, int32_t za, int32_t zb, double multiplier,
                        double zy, double low, double high, uint8_t *out);

/// `out[i] = table[x[i]]` for a 256-entry table (the integer engine's pointwise functions).
void ck_lookup_u8(const uint8_t *x, int64_t count, const uint8_t *table, uint8_t *out);

/// im2row for channels-last uint8 codes (H, W, C): rows (Ho·Wo) × (k·k·G) with row stride `ldr` (≥ k·k·G; bytes
/// past k·k·G are left alone), row (oy, ox) holding x[oy·s − p + ky, ox·s − p + kx, firstChannel + c] in (ky, kx, c)
/// order for the G = `groupChannels` channels of one group; cells in the padding get `paddingCode` (the input's zero
/// point).
void ck_im2row_u8_nhwc(const uint8_t *input, int64_t height, int64_t width, int64_t channels, int64_t firstChannel,
                       int64_t groupChannels, int64_t kernel, int64_t stride, int64_t padding, uint8_t paddingCode,
                       uint8_t *rows, int64_t ldr);

/// `ck_im2row_u8_nhwc` on the AVX-512 path (`vectorized` = 1; returns 0 when the CPU lacks it) or the portable one.
int ck_im2row_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                           int64_t firstChannel, int64_t groupChannels, int64_t kernel, int64_t stride,
                           int64_t padding, uint8_t paddingCode, uint8_t *rows, int64_t ldr);

/// Depthwise convolution (one input channel a group, multiplier 1) of one channels-last uint8 image (H, W, C) with
/// int8 weights stored tap-major, `weights[(ky·k + kx)·C + c]`, computed directly: output rows
/// [firstRow, firstRow + rowCount) of (Ho, Wo, C) are written to `out` (that many rows of Wo·C codes) as
/// `ck_requantize_u8` of `Σ_taps x·w` (cells in the padding read `paddingCode`) with per-channel `offset` and
/// `multiplier`. AVX2 when the CPU has it; the same bytes either way.
void ck_depthwise_u8_nhwc(const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                          const int8_t *weights, int64_t kernel, int64_t stride, int64_t padding, uint8_t paddingCode,
                          const double *offset, const float *multiplier, int32_t zeroPoint, int32_t low, int32_t high,
                          uint8_t *out, int64_t firstRow, int64_t rowCount);

/// `ck_depthwise_u8_nhwc` on the AVX-512BW path (`vectorized` = 2), the AVX2 one (1) or the portable one (0); returns
/// 0 when the CPU lacks AVX2 (with 2 and no AVX-512BW the AVX2 path runs).
int ck_depthwise_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t height, int64_t width, int64_t channels,
                              const int8_t *weights, int64_t kernel, int64_t stride, int64_t padding,
                              uint8_t paddingCode, const double *offset, const float *multiplier, int32_t zeroPoint,
                              int32_t low, int32_t high, uint8_t *out, int64_t firstRow, int64_t rowCount);

/// Max pooling of `batch` channels-last uint8 images (H, W, C) → (Ho, Wo, C) with a square window; padding cells
/// never win. Codes keep their quantization parameters, since the maximum commutes with R = S·(Q − Z).
void ck_maxpool2d_u8_nhwc(const uint8_t *input, int64_t batch, int64_t height, int64_t width, int64_t channels,
                          int64_t kernel, int64_t stride, int64_t padding, uint8_t *output, int64_t outputHeight,
                          int64_t outputWidth);

/// `ck_maxpool2d_u8_nhwc` on a chosen `CK_VECTOR_*` path (returns 0, writing nothing, when the CPU lacks it).
int ck_maxpool2d_u8_nhwc_with(int vectorized, const uint8_t *input, int64_t batch, int64_t height, int64_t width,
                              int64_t channels, int64_t kernel, int64_t stride, int64_t padding, uint8_t *output,
                              int64_t outputHeight, int64_t outputWidth);

/// Layout conversions of `batch` uint8 images between (C, H·W) and (H·W, C).
void ck_nchw_to_nhwc_u8(const uint8_t *input, int64_t batch, int64_t channels, int64_t pixels, uint8_t *output);
void ck_nhwc_to_nchw_u8(const uint8_t *input, int64_t batch, int64_t channels, int64_t pixels, uint8_t *output);

/// y (n × rows, row stride ldy) += x (n × cols, row stride ldx) · Wᵀ for W (rows × cols) in CSR form (`rowStart`
/// has rows + 1 entries; `columnIndex` and `values` hold the nonzeros row by row). AVX-512 where the CPU has it.
/// Both paths sum alike, so they give the same bits: for 4 or more samples the row's j-th nonzero goes into partial
/// sum j mod 4 by fmaf and (s0 + s1) + (s2 + s3) is added to y; for fewer, into lane j mod 16, and the lanes are
/// summed by halving (i += i + h for h = 8, 4, 2, 1).
void ck_spmm_csr(int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex, const float *values,
                 int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy);

/// `ck_spmm_csr` on the AVX-512 path (`vectorized` = 1; returns 0 when the CPU lacks it) or the portable one.
int ck_spmm_csr_with(int vectorized, int64_t rows, int64_t cols, const int32_t *rowStart, const int32_t *columnIndex,
                     const float *values, int64_t n, const float *x, int64_t ldx, float *y, int64_t ldy);

/// Packs the signs of `rows` rows of `columns` floats (row stride ldx) into ⌈columns/64⌉ words per row: bit b of
/// word w is 1 where x[w·64 + b] ≥ 0 (the value +1) and 0 where it is negative (−1); padding bits are 0.
void ck_pack_signs(const float *x, int64_t rows, int64_t columns, int64_t ldx, uint64_t *packed);

/// Binary GEMM: C (m × n) = A · Bᵀ for ±1 matrices packed by `ck_pack_signs` (A m × k, B n × k, ⌈k/64⌉ words a row):
/// C[i][j] = k − 2 · popcount(A_i XOR B_j). AVX-512 VPOPCNTDQ where the CPU has it, portable popcount otherwise;
/// the same integers.
void ck_gemm_binary(int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b, int32_t *c);

/// `ck_gemm_binary` on the VPOPCNTDQ path (`vectorized` = 1; returns 0 when the CPU lacks it) or the portable one.
int ck_gemm_binary_with(int vectorized, int64_t m, int64_t n, int64_t k, const uint64_t *a, const uint64_t *b,
                        int32_t *c);

/// The signs of one (C, P) sample (NCHW with P = H·W positions) as channel bits per position: bit c % 64 of
/// `out[p · ⌈C/64⌉ + c / 64]` is 1 where x[c][p] ≥ 0 (+1), 0 where it is negative (−1).
void ck_pack_signs_channels(const float *x, int64_t channels, int64_t positions, uint64_t *out);

/// Bit-packed im2row for a binary k×k convolution of sign planes from `ck_pack_signs_channels`: one row of
/// ⌈k·k·C/64⌉ words per output position (row-major oy, ox), tap t = ky·k + kx at bits t·C … t·C + C − 1, tail bits
/// 0. A tap in the padding is written from `ones` (⌈C/64⌉ all-ones words): +1 bits whose contribution the caller
/// subtracts, because padding is 0 and ±1 cannot express it.
void ck_im2row_binary(const uint64_t *planes, int64_t channels, int64_t height, int64_t width, int64_t kernel,
                      int64_t stride, int64_t padding, int64_t out_height, int64_t out_width, const uint64_t *ones,
                      uint64_t *rows);

/// Direct depthwise convolution of one sample: x (C, H, W), k [O, 1, ks, ks] with O = C · multiplier (output o
/// reads input o / multiplier), optional bias [O], y (O, Ho, Wo) written. Square kernel, one stride and padding.
void ck_depthwise_forward(const float *x, int64_t outChannels, int64_t multiplier, int64_t height, int64_t width,
                          const float *k, int64_t ks, int64_t stride, int64_t pad, const float *bias, float *y,
                          int64_t outHeight, int64_t outWidth);

/// The gradients of `ck_depthwise_forward` for one sample: dk [O, 1, ks, ks] += and, when `dx` is not NULL,
/// dx (C, H, W) +=, from the output gradient dy (O, Ho, Wo).
void ck_depthwise_backward(const float *x, const float *dy, int64_t outChannels, int64_t multiplier, int64_t height,
                           int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad, float *dk,
                           float *dx, int64_t outHeight, int64_t outWidth);

/// The two on a chosen path (2 = AVX-512, 1 = AVX2, 0 = portable); return 0 (writing nothing) when the CPU lacks it.
int ck_depthwise_forward_with(int path, const float *x, int64_t outChannels, int64_t multiplier, int64_t height,
                              int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad, const float *bias,
                              float *y, int64_t outHeight, int64_t outWidth);
int ck_depthwise_backward_with(int path, const float *x, const float *dy, int64_t outChannels, int64_t multiplier,
                               int64_t height, int64_t width, const float *k, int64_t ks, int64_t stride, int64_t pad,
                               float *dk, float *dx, int64_t outHeight, int64_t outWidth);
