// JPEG and PNG decoding for image folders: libjpeg (with an error manager that turns its fatal errors and its warnings
// into a status, by setjmp/longjmp inside this file only) and libpng's simplified API. Every size is checked against
// CI_MAX_SIDE and CI_MAX_PIXELS before anything is allocated.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>

static void ci_set_message(char *message, size_t message_size, const char *text) {
    if (message && message_size > 0) snprintf(message, message_size, "%s", text);
}

int ci_image_kind(const uint8_t *data, size_t size) {
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return 1;
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (size >= 8 && memcmp(data, png_magic, 8) == 0) return 2;
    return 0;
}

static ci_status ci_check_size(int width, int height, char *message, size_t message_size) {
    if (width <= 0 || height <= 0) {
        ci_set_message(message, message_size, "the image has no pixels");
        return CI_CORRUPT;
    }
    if (width > CI_MAX_SIDE || height > CI_MAX_SIDE || (int64_t)width * height > CI_MAX_PIXELS) {
        char text[160];
        snprintf(text, sizeof text, "the image is %d x %d pixels; at most %d per side and %d pixels in all are accepted",
                 width, height, CI_MAX_SIDE, CI_MAX_PIXELS);
        ci_set_message(message, message_size, text);
        return CI_TOO_LARGE;
    }
    return CI_OK;
}

// MARK: - JPEG

struct ci_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void ci_jpeg_fail(j_common_ptr info) {
    struct ci_jpeg_error *error = (struct ci_jpeg_error *)info->err;
    (*info->err->format_message)(info, error->message);
    longjmp(error->jump, 1);
}

// A warning (level -1) means corrupt data, such as a file cut short; libjpeg would otherwise fill the rest with grey.
static void ci_jpeg_emit(j_common_ptr info, int level) {
    if (level < 0) ci_jpeg_fail(info);
}

static int ci_jpeg_channels(J_COLOR_SPACE space, int components) {
    if (components == 1) return 1;
    if (components == 3 && (space == JCS_YCbCr || space == JCS_RGB)) return 3;
    return 0;
}

static ci_status ci_jpeg(const uint8_t *data, size_t size, int channels, int reduce, uint8_t **pixels, int *width,
                         int *height, int *native_channels, char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    struct ci_jpeg_error error;
    uint8_t *volatile buffer = NULL;
    volatile ci_status status = CI_CORRUPT;
    info.err = jpeg_std_error(&error.base);
    error.base.error_exit = ci_jpeg_fail;
    error.base.emit_message = ci_jpeg_emit;
    error.message[0] = 0;
    if (setjmp(error.jump)) {
        jpeg_destroy_decompress(&info);
        free(buffer);
        ci_set_message(message, message_size, error.message[0] ? error.message : "corrupt JPEG data");
        return status;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, (unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    int source_channels = ci_jpeg_channels(info.jpeg_color_space, info.num_components);
    if (source_channels == 0) {
        snprintf(error.message, sizeof error.message, "a JPEG with %d components in colour space %d (CMYK or YCCK?) "
                 "is not supported; convert it to RGB", info.num_components, (int)info.jpeg_color_space);
        jpeg_destroy_decompress(&info);
        ci_set_message(message, message_size, error.message);
        return CI_UNSUPPORTED;
    }
    ci_status sized = ci_check_size((int)info.image_width, (int)info.image_height, message, message_size);
    if (sized != CI_OK) {
        jpeg_destroy_decompress(&info);
        return sized;
    }
    if (native_channels) *native_channels = source_channels;
    if (!pixels) {
        *width = (int)info.image_width;
        *height = (int)info.image_height;
        jpeg_destroy_decompress(&info);
        return CI_OK;
    }
    // Grey sources decode grey and are widened here, which every libjpeg can do (not only libjpeg-turbo).
    int decoded_channels = source_channels == 1 ? 1 : channels;
    info.out_color_space = decoded_channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    info.scale_num = 1;
    info.scale_denom = (unsigned int)(reduce == 2 || reduce == 4 || reduce == 8 ? reduce : 1);
    jpeg_start_decompress(&info);
    int w = (int)info.output_width, h = (int)info.output_height;
    size_t row = (size_t)w * (size_t)channels;
    buffer = malloc(row * (size_t)h);
    if (!buffer) {
        status = CI_NO_MEMORY;
        snprintf(error.message, sizeof error.message, "out of memory for a %d x %d image", w, h);
        longjmp(error.jump, 1);
    }
    uint8_t *scanline = buffer;
    while (info.output_scanline < info.output_height) {
        JSAMPROW target = buffer + (size_t)info.output_scanline * row;
        scanline = target;
        jpeg_read_scanlines(&info, &target, 1);
        if (decoded_channels == 1 && channels == 3) {
            for (int x = w - 1; x >= 0; x--) {
                uint8_t value = scanline[x];
                scanline[3 * x] = scanline[3 * x + 1] = scanline[3 * x + 2] = value;
            }
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    *pixels = buffer;
    *width = w;
    *height = h;
    return CI_OK;
}

// MARK: - PNG

static ci_status ci_png(const uint8_t *data, size_t size, int channels, uint8_t **pixels, int *width, int *height,
                        int *native_channels, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        ci_set_message(message, message_size, image.message[0] ? image.message : "corrupt PNG data");
        png_image_free(&image);
        return CI_CORRUPT;
    }
    ci_status sized = ci_check_size((int)image.width, (int)image.height, message, message_size);
    if (sized != CI_OK) {
        png_image_free(&image);
        return sized;
    }
    if (native_channels) *native_channels = (image.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    if (!pixels) {
        *width = (int)image.width;
        *height = (int)image.height;
        png_image_free(&image);
        return CI_OK;
    }
    // libpng's simplified API takes 16-bit samples as linear light and would gamma-encode them on the way to 8 bits;
    // they are read as they are instead and scaled, v · 255 / 65535, as an 8-bit file of the same picture holds.
    int deep = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    image.format = deep ? (channels == 1 ? PNG_FORMAT_LINEAR_Y : PNG_FORMAT_LINEAR_RGB)
                        : (channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB);
    size_t bytes = PNG_IMAGE_SIZE(image);
    // Zeroed, so an alpha channel is composited on black.
    uint8_t *buffer = calloc(bytes, 1);
    if (!buffer) {
        png_image_free(&image);
        ci_set_message(message, message_size, "out of memory");
        return CI_NO_MEMORY;
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        ci_set_message(message, message_size, image.message[0] ? image.message : "corrupt PNG data");
        png_image_free(&image);
        free(buffer);
        return CI_CORRUPT;
    }
    if (deep) {
        size_t count = bytes / 2;
        const uint16_t *wide = (const uint16_t *)buffer;
        for (size_t i = 0; i < count; i++) buffer[i] = (uint8_t)(((uint32_t)wide[i] * 255u + 32767u) / 65535u);
    }
    *pixels = buffer;
    *width = (int)image.width;
    *height = (int)image.height;
    png_image_free(&image);
    return CI_OK;
}

// MARK: - Entry points

static ci_status ci_dispatch(const uint8_t *data, size_t size, int channels, int reduce, uint8_t **pixels, int *width,
                             int *height, int *native_channels, char *message, size_t message_size) {
    switch (ci_image_kind(data, size)) {
    case 1: return ci_jpeg(data, size, channels, reduce, pixels, width, height, native_channels, message, message_size);
    case 2: return ci_png(data, size, channels, pixels, width, height, native_channels, message, message_size);
    default:
        ci_set_message(message, message_size, "not a JPEG or PNG file (unrecognised first bytes)");
        return CI_UNKNOWN_FORMAT;
    }
}

ci_status ci_image_info(const uint8_t *data, size_t size, int *width, int *height, int *channels, char *message,
                        size_t message_size) {
    return ci_dispatch(data, size, 3, 1, NULL, width, height, channels, message, message_size);
}

ci_status ci_image_decode(const uint8_t *data, size_t size, int channels, int reduce, uint8_t **pixels, int *width,
                          int *height, char *message, size_t message_size) {
    if (channels != 1 && channels != 3) {
        ci_set_message(message, message_size, "channels must be 1 or 3");
        return CI_UNSUPPORTED;
    }
    *pixels = NULL;
    return ci_dispatch(data, size, channels, reduce, pixels, width, height, NULL, message, message_size);
}
