// image_codecs: JPEG and PNG decoding through the system libraries (libjpeg-turbo, libpng), and the resampling that
// turns a decoded image (or a box of it) into a model's input size. Errors come back as a status and a message, never
// as an exit or a longjmp past the caller.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What a decoding call ended with.
typedef enum {
    CI_OK = 0,
    /// Neither a JPEG nor a PNG (judged by the first bytes).
    CI_UNKNOWN_FORMAT = 1,
    /// The library reported an error or a warning (truncated data, bad markers, CRC errors).
    CI_CORRUPT = 2,
    /// A valid file Shrink does not decode (CMYK JPEG, for instance).
    CI_UNSUPPORTED = 3,
    /// Wider or taller than `CI_MAX_SIDE`, or more than `CI_MAX_PIXELS` pixels.
    CI_TOO_LARGE = 4,
    /// malloc failed.
    CI_NO_MEMORY = 5,
} ci_status;

/// The largest side accepted, in pixels.
#define CI_MAX_SIDE 32768
/// The most pixels accepted (a bound on the allocation a file can ask for).
#define CI_MAX_PIXELS (64 * 1024 * 1024)

/// The kind of file `data` starts with: 1 JPEG, 2 PNG, 0 neither.
int ci_image_kind(const uint8_t *data, size_t size);

/// Reads the width, height and colour channels (1 for grey, 3 for colour) of a JPEG or PNG held in memory, without
/// decoding its pixels. On failure `message` (of `message_size` bytes) says why.
ci_status ci_image_info(const uint8_t *data, size_t size, int *width, int *height, int *channels, char *message,
                        size_t message_size);

/// Decodes a JPEG or PNG into 8-bit pixels, rows top to bottom, `channels` (1 grey or 3 RGB) interleaved per pixel,
/// in a buffer from malloc that the caller frees. A JPEG is decoded at 1/`reduce` of its size (`reduce` 1, 2, 4 or 8,
/// libjpeg's DCT scaling); a PNG always at full size. Alpha is dropped (composited on black); 16-bit PNGs are
/// reduced to 8 bits; grey images become RGB when `channels` is 3 and colour ones grey (ITU-R 601 luma) when it is 1.
/// Any library warning (a truncated file, for instance) counts as corruption.
ci_status ci_image_decode(const uint8_t *data, size_t size, int channels, int reduce, uint8_t **pixels, int *width,
                          int *height, char *message, size_t message_size);

/// `pixels` (height × width × channels bytes, interleaved) as planes of floats, `value / 255`, channel-major.
void ci_planes_from_pixels(const uint8_t *pixels, int height, int width, int channels, float *planes);

/// Resamples the box [x0, x1) × [y0, y1) (in source pixels, fractional allowed) of `channels` planes of
/// `height` × `width` floats to `out_height` × `out_width`, separably with a triangle (bilinear) filter whose support
/// widens with the reduction, so shrinking averages instead of skipping pixels (the filter PIL's BILINEAR uses).
/// Source taps outside the image are left out and the weights renormalised. Returns 0, or -1 when memory runs out.
int ci_resample_planes(const float *planes, int channels, int height, int width, float x0, float y0, float x1, float y1,
                       float *out, int out_height, int out_width);

#ifdef __cplusplus
}
#endif
