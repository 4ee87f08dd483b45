// Separable resampling of float planes with a triangle filter whose support grows with the reduction (an area-aware
// bilinear, as PIL's BILINEAR resize), and the conversion of decoded 8-bit pixels to planes. Portable C: this runs once
// per decoded image, far from the cost of a training step.
#include "image_codecs.h"

#include <math.h>
#include <stdlib.h>

void ci_planes_from_pixels(const uint8_t *pixels, int height, int width, int channels, float *planes) {
    size_t plane = (size_t)height * (size_t)width;
    for (int c = 0; c < channels; c++) {
        float *out = planes + (size_t)c * plane;
        const uint8_t *in = pixels + c;
        for (size_t i = 0; i < plane; i++) out[i] = (float)in[i * (size_t)channels] / 255.0f;
    }
}

// For each output position: the first source tap, the tap count, and `taps` weights (normalised, zero-padded).
typedef struct {
    int taps;
    int *first;
    int *count;
    float *weights;
} ci_axis;

static void ci_axis_free(ci_axis *axis) {
    free(axis->first);
    free(axis->count);
    free(axis->weights);
}

static float ci_triangle(float x) {
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

static int ci_axis_make(ci_axis *axis, int in_size, float lo, float hi, int out_size) {
    float scale = (hi - lo) / (float)out_size;
    float filter_scale = scale > 1.0f ? scale : 1.0f;
    float support = filter_scale;
    axis->taps = (int)ceilf(support) * 2 + 2;
    axis->first = malloc(sizeof(int) * (size_t)out_size);
    axis->count = malloc(sizeof(int) * (size_t)out_size);
    axis->weights = malloc(sizeof(float) * (size_t)out_size * (size_t)axis->taps);
    if (!axis->first || !axis->count || !axis->weights) {
        ci_axis_free(axis);
        return -1;
    }
    for (int i = 0; i < out_size; i++) {
        float centre = lo + ((float)i + 0.5f) * scale;
        int start = (int)floorf(centre - support);
        int stop = (int)ceilf(centre + support);
        if (start < 0) start = 0;
        if (stop > in_size) stop = in_size;
        if (stop - start > axis->taps) stop = start + axis->taps;
        float *w = axis->weights + (size_t)i * (size_t)axis->taps;
        float total = 0;
        int n = 0;
        for (int j = start; j < stop; j++, n++) {
            w[n] = ci_triangle(((float)j + 0.5f - centre) / filter_scale);
            total += w[n];
        }
        if (total <= 0) {
            // The box lies outside the image (or between taps): take the nearest pixel.
            int nearest = (int)floorf(centre);
            if (nearest < 0) nearest = 0;
            if (nearest >= in_size) nearest = in_size - 1;
            start = nearest;
            n = 1;
            w[0] = 1;
            total = 1;
        }
        for (int k = 0; k < n; k++) w[k] /= total;
        axis->first[i] = start;
        axis->count[i] = n;
    }
    return 0;
}

int ci_resample_planes(const float *planes, int channels, int height, int width, float x0, float y0, float x1, float y1,
                       float *out, int out_height, int out_width) {
    ci_axis across = {0}, down = {0};
    if (ci_axis_make(&across, width, x0, x1, out_width) != 0) return -1;
    if (ci_axis_make(&down, height, y0, y1, out_height) != 0) {
        ci_axis_free(&across);
        return -1;
    }
    // Only the source rows some output row reads are filtered across.
    int row_lo = down.first[0], row_hi = 0;
    for (int i = 0; i < out_height; i++) {
        if (down.first[i] < row_lo) row_lo = down.first[i];
        if (down.first[i] + down.count[i] > row_hi) row_hi = down.first[i] + down.count[i];
    }
    int rows = row_hi - row_lo;
    float *middle = malloc(sizeof(float) * (size_t)rows * (size_t)out_width);
    if (!middle) {
        ci_axis_free(&across);
        ci_axis_free(&down);
        return -1;
    }
    for (int c = 0; c < channels; c++) {
        const float *plane = planes + (size_t)c * (size_t)height * (size_t)width;
        for (int r = 0; r < rows; r++) {
            const float *source = plane + (size_t)(row_lo + r) * (size_t)width;
            float *target = middle + (size_t)r * (size_t)out_width;
            for (int i = 0; i < out_width; i++) {
                const float *w = across.weights + (size_t)i * (size_t)across.taps;
                const float *s = source + across.first[i];
                float sum = 0;
                for (int k = 0; k < across.count[i]; k++) sum += w[k] * s[k];
                target[i] = sum;
            }
        }
        float *result = out + (size_t)c * (size_t)out_height * (size_t)out_width;
        for (int i = 0; i < out_height; i++) {
            const float *w = down.weights + (size_t)i * (size_t)down.taps;
            float *target = result + (size_t)i * (size_t)out_width;
            const float *first = middle + (size_t)(down.first[i] - row_lo) * (size_t)out_width;
            for (int x = 0; x < out_width; x++) target[x] = 0;
            for (int k = 0; k < down.count[i]; k++) {
                const float *s = first + (size_t)k * (size_t)out_width;
                float weight = w[k];
                for (int x = 0; x < out_width; x++) target[x] += weight * s[x];
            }
        }
    }
    free(middle);
    ci_axis_free(&across);
    ci_axis_free(&down);
    return 0;
}
