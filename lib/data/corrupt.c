#include "corrupt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"

#define CORRUPT_STREAM 0xc0aa0917ULL

/* One image as floats in [0, 1]: C planes of H x W. */
typedef struct {
    int c, h, w;
    float *x;
} Image;

const char *const corruption_names[CORRUPT_N + 1] = {
    [CORRUPT_NONE] = "none",
    [CORRUPT_GAUSSIAN_NOISE] = "gaussian_noise",
    [CORRUPT_SHOT_NOISE] = "shot_noise",
    [CORRUPT_IMPULSE_NOISE] = "impulse_noise",
    [CORRUPT_SPECKLE_NOISE] = "speckle_noise",
    [CORRUPT_GAUSSIAN_BLUR] = "gaussian_blur",
    [CORRUPT_DEFOCUS_BLUR] = "defocus_blur",
    [CORRUPT_CONTRAST] = "contrast",
    [CORRUPT_BRIGHTNESS] = "brightness",
    [CORRUPT_SATURATE] = "saturate",
    [CORRUPT_PIXELATE] = "pixelate",
    [CORRUPT_N] = NULL,
};

static const char *const DOCS[CORRUPT_N] = {
    [CORRUPT_NONE] = "no corruption",
    [CORRUPT_GAUSSIAN_NOISE] = "x + N(0, c^2), c = 0.04, 0.06, 0.08, 0.09, 0.10",
    [CORRUPT_SHOT_NOISE] = "Poisson(c x) / c, c = 500, 250, 100, 75, 50 (normal approximation above a mean of 30)",
    [CORRUPT_IMPULSE_NOISE] = "salt and pepper: each value becomes 0 or 1 (even odds) with probability c = 0.01, 0.02, 0.03, 0.05, 0.07",
    [CORRUPT_SPECKLE_NOISE] = "x + x N(0, c^2), c = 0.06, 0.10, 0.12, 0.16, 0.20",
    [CORRUPT_GAUSSIAN_BLUR] = "Gaussian blur, sigma = c s, c = 0.4, 0.6, 0.7, 0.8, 1.0 (s = size / 32; mirrored edges, radius 4 sigma)",
    [CORRUPT_DEFOCUS_BLUR] = "anti-aliased disk of radius r s then a 3x3 Gaussian of sigma a s, (r, a) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)",
    [CORRUPT_CONTRAST] = "(x - m) c + m, m the channel's mean over the image, c = 0.75, 0.5, 0.4, 0.3, 0.15",
    [CORRUPT_BRIGHTNESS] = "HSV value V + c (1 channel: x + c), c = 0.05, 0.1, 0.15, 0.2, 0.3",
    [CORRUPT_SATURATE] = "HSV saturation S a + b, (a, b) = (1.5, 0), (2, 0.05), (2.5, 0.1), (3, 0.15), (4, 0.2); 3-channel images only",
    [CORRUPT_PIXELATE] = "box-resampled down to round(c size) pixels a side and back up, c = 0.95, 0.9, 0.85, 0.75, 0.65",
};

const char *corruption_name(CorruptionType t) { return t >= 0 && t < CORRUPT_N ? corruption_names[t] : "?"; }
const char *corruption_doc(CorruptionType t) { return t >= 0 && t < CORRUPT_N ? DOCS[t] : "?"; }

static float clip01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* ---- noise ---------------------------------------------------------------- */

/* Poisson(lambda): Knuth's product of uniforms below 30, the rounded normal
 * approximation above (a corruption, not a statistics library). */
static float poisson(Rng *r, float lambda)
{
    if (lambda <= 0.0f)
        return 0.0f;
    if (lambda >= 30.0f) {
        const float v = floorf(lambda + sqrtf(lambda) * rng_normal(r) + 0.5f);
        return v < 0.0f ? 0.0f : v;
    }
    const float limit = expf(-lambda);
    float p = rng_uniform(r);
    int k = 0;
    while (p > limit) {
        k++;
        p *= rng_uniform(r);
    }
    return (float)k;
}

static void noise(Image *im, CorruptionType t, int s, Rng *r)
{
    static const float gauss[5] = {0.04f, 0.06f, 0.08f, 0.09f, 0.10f}, shot[5] = {500, 250, 100, 75, 50},
                       impulse[5] = {0.01f, 0.02f, 0.03f, 0.05f, 0.07f},
                       speckle[5] = {0.06f, 0.10f, 0.12f, 0.16f, 0.20f};
    const size_t n = (size_t)im->c * im->h * im->w;
    for (size_t i = 0; i < n; i++) {
        float *v = &im->x[i];
        switch (t) {
        case CORRUPT_GAUSSIAN_NOISE:
            *v += gauss[s] * rng_normal(r);
            break;
        case CORRUPT_SHOT_NOISE:
            *v = poisson(r, *v * shot[s]) / shot[s];
            break;
        case CORRUPT_IMPULSE_NOISE:
            if (rng_uniform(r) < impulse[s])
                *v = rng_uniform(r) < 0.5f ? 0.0f : 1.0f;
            break;
        default: /* speckle */
            *v += *v * speckle[s] * rng_normal(r);
            break;
        }
    }
}

/* ---- blurs ---------------------------------------------------------------- */

/* Index i mirrored into [0, n) (half-sample symmetric: d c b a | a b c d). */
static int mirror(int i, int n)
{
    while (i < 0 || i >= n)
        i = i < 0 ? -i - 1 : 2 * n - i - 1;
    return i;
}

/* Convolves every plane with the (2R+1)^2 kernel k (row-major), mirrored
 * edges; tmp holds one plane. */
static void convolve(Image *im, const float *k, int R, float *tmp)
{
    const int D = 2 * R + 1;
    for (int ch = 0; ch < im->c; ch++) {
        float *p = im->x + (size_t)ch * im->h * im->w;
        for (int y = 0; y < im->h; y++)
            for (int x = 0; x < im->w; x++) {
                double acc = 0.0;
                for (int dy = -R; dy <= R; dy++)
                    for (int dx = -R; dx <= R; dx++)
                        acc += k[(dy + R) * D + dx + R] * p[mirror(y + dy, im->h) * im->w + mirror(x + dx, im->w)];
                tmp[y * im->w + x] = (float)acc;
            }
        memcpy(p, tmp, sizeof(float) * (size_t)im->h * im->w);
    }
}

/* A normalized (2R+1)^2 Gaussian of sigma. */
static void gaussian_kernel(float *k, int R, double sigma)
{
    const int D = 2 * R + 1;
    double sum = 0.0;
    for (int i = 0; i < D * D; i++) {
        const int dy = i / D - R, dx = i % D - R;
        k[i] = (float)exp(-(dx * dx + dy * dy) / (2.0 * sigma * sigma));
        sum += k[i];
    }
    for (int i = 0; i < D * D; i++)
        k[i] = (float)(k[i] / sum);
}

/* A normalized, anti-aliased disk of radius rad: weight clip(rad + 1/2 -
 * distance, 0, 1), about the share of the pixel inside the disk, so that a
 * radius scaled below one pixel still blurs (CIFAR-10-C's disk is binary). */
static void disk_kernel(float *k, int R, double rad)
{
    const int D = 2 * R + 1;
    double sum = 0.0;
    for (int i = 0; i < D * D; i++) {
        const int dy = i / D - R, dx = i % D - R;
        const double w = rad + 0.5 - sqrt((double)(dx * dx + dy * dy));
        k[i] = (float)(w < 0.0 ? 0.0 : w > 1.0 ? 1.0 : w);
        sum += k[i];
    }
    for (int i = 0; i < D * D; i++)
        k[i] = (float)(k[i] / sum);
}

static int blur(Image *im, CorruptionType t, int s, BsError *err)
{
    static const double sigma[5] = {0.4, 0.6, 0.7, 0.8, 1.0};
    static const double disk[5][2] = {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1.0, 0.2}, {1.5, 0.1}};
    const double scale = (im->h > im->w ? im->h : im->w) / 32.0;
    const double first = t == CORRUPT_GAUSSIAN_BLUR ? sigma[s] * scale : disk[s][0] * scale;
    const int R = (int)ceil(t == CORRUPT_GAUSSIAN_BLUR ? 4.0 * first : first + 0.5);
    float *k = bs_alloc(sizeof(float) * (size_t)(2 * R + 1) * (2 * R + 1), err);
    float *tmp = bs_alloc(sizeof(float) * (size_t)im->h * im->w, err);
    if (k && tmp) {
        if (t == CORRUPT_GAUSSIAN_BLUR) {
            gaussian_kernel(k, R, first);
            convolve(im, k, R, tmp);
        } else {
            float k3[9];
            disk_kernel(k, R, first);
            convolve(im, k, R, tmp);
            gaussian_kernel(k3, 1, disk[s][1] * scale); /* the aliasing blur */
            convolve(im, k3, 1, tmp);
        }
    }
    bs_free(k);
    bs_free(tmp);
    return err->code;
}

/* ---- colour and resolution ---------------------------------------------------- */

static void contrast(Image *im, int s)
{
    static const float c[5] = {0.75f, 0.5f, 0.4f, 0.3f, 0.15f};
    const size_t plane = (size_t)im->h * im->w;
    for (int ch = 0; ch < im->c; ch++) {
        float *p = im->x + ch * plane;
        double m = 0.0;
        for (size_t i = 0; i < plane; i++)
            m += p[i];
        m /= (double)plane;
        for (size_t i = 0; i < plane; i++)
            p[i] = (float)((p[i] - m) * c[s] + m);
    }
}

/* HSV with hue and saturation kept: RGB scales with V (a black pixel, S = 0,
 * turns grey); one channel: x + c. */
static void brightness(Image *im, int s)
{
    static const float c[5] = {0.05f, 0.1f, 0.15f, 0.2f, 0.3f};
    const size_t plane = (size_t)im->h * im->w;
    if (im->c != 3) {
        for (size_t i = 0; i < plane * im->c; i++)
            im->x[i] += c[s];
        return;
    }
    float *r = im->x, *g = r + plane, *b = g + plane;
    for (size_t i = 0; i < plane; i++) {
        const float v = fmaxf(r[i], fmaxf(g[i], b[i])), v2 = fminf(v + c[s], 1.0f);
        if (v > 0.0f) {
            r[i] *= v2 / v, g[i] *= v2 / v, b[i] *= v2 / v;
        } else {
            r[i] = g[i] = b[i] = v2;
        }
    }
}

/* HSV with hue and value kept: each channel moves away from V in proportion
 * to the new saturation (a grey pixel has hue 0, red, as skimage's HSV). */
static void saturate(Image *im, int s)
{
    static const float a[5] = {1.5f, 2.0f, 2.5f, 3.0f, 4.0f}, b0[5] = {0.0f, 0.05f, 0.1f, 0.15f, 0.2f};
    const size_t plane = (size_t)im->h * im->w;
    float *ch[3] = {im->x, im->x + plane, im->x + 2 * plane};
    for (size_t i = 0; i < plane; i++) {
        const float v = fmaxf(ch[0][i], fmaxf(ch[1][i], ch[2][i]));
        const float mn = fminf(ch[0][i], fminf(ch[1][i], ch[2][i]));
        if (v <= 0.0f)
            continue; /* black stays black (V = 0) */
        const float sat = (v - mn) / v, sat2 = clip01(sat * a[s] + b0[s]);
        for (int k = 0; k < 3; k++)
            ch[k][i] = sat > 0.0f ? v - (v - ch[k][i]) * sat2 / sat : k == 0 ? v : v * (1.0f - sat2);
    }
}

/* One axis of a box resampling (PIL's BOX filter) from n to m pixels:
 * output pixel j averages the input over [j n/m, (j+1) n/m), each input
 * pixel weighted by its overlap with that interval. */
static void box_axis(const float *src, int n, int stride_in, float *dst, int m, int stride_out)
{
    const double step = (double)n / m;
    for (int j = 0; j < m; j++) {
        const double lo = j * step, hi = (j + 1) * step;
        double acc = 0.0;
        for (int i = (int)lo; i < n && i < hi; i++) {
            const double a = i > lo ? i : lo, b = i + 1 < hi ? i + 1 : hi;
            acc += (b - a) * src[(size_t)i * stride_in];
        }
        dst[(size_t)j * stride_out] = (float)(acc / step);
    }
}

/* Plane p (h x w) resampled to h2 x w2 into out, tmp of h x w2 floats. */
static void box_resize(const float *p, int h, int w, float *out, int h2, int w2, float *tmp)
{
    for (int y = 0; y < h; y++)
        box_axis(p + (size_t)y * w, w, 1, tmp + (size_t)y * w2, w2, 1);
    for (int x = 0; x < w2; x++)
        box_axis(tmp + x, h, w2, out + x, h2, w2);
}

/* Box-resampled down to round(c * size) a side and back up (CIFAR-10-C's
 * two PIL BOX resizes; it floors the size, which at 28x28 puts severity 1
 * above 2: near-1 ratios alias most). */
static int pixelate(Image *im, int s, BsError *err)
{
    static const double c[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
    const int h2 = im->h * c[s] >= 1 ? (int)lround(im->h * c[s]) : 1, w2 = im->w * c[s] >= 1 ? (int)lround(im->w * c[s]) : 1;
    const int big = im->h > im->w ? im->h : im->w;
    float *small = bs_alloc(sizeof(float) * (size_t)h2 * w2, err);
    float *tmp = bs_alloc(sizeof(float) * (size_t)big * big, err);
    for (int ch = 0; small && tmp && ch < im->c; ch++) {
        float *p = im->x + (size_t)ch * im->h * im->w;
        box_resize(p, im->h, im->w, small, h2, w2, tmp);
        box_resize(small, h2, w2, p, im->h, im->w, tmp);
    }
    bs_free(small);
    bs_free(tmp);
    return err->code;
}

/* ---- the data set ------------------------------------------------------------- */

static int corrupt_image(Image *im, CorruptionType t, int s, Rng *r, BsError *err)
{
    switch (t) {
    case CORRUPT_GAUSSIAN_NOISE:
    case CORRUPT_SHOT_NOISE:
    case CORRUPT_IMPULSE_NOISE:
    case CORRUPT_SPECKLE_NOISE:
        noise(im, t, s, r);
        return BS_OK;
    case CORRUPT_GAUSSIAN_BLUR:
    case CORRUPT_DEFOCUS_BLUR:
        return blur(im, t, s, err);
    case CORRUPT_CONTRAST:
        contrast(im, s);
        return BS_OK;
    case CORRUPT_BRIGHTNESS:
        brightness(im, s);
        return BS_OK;
    case CORRUPT_SATURATE:
        saturate(im, s);
        return BS_OK;
    case CORRUPT_PIXELATE:
        return pixelate(im, s, err);
    default:
        return BS_OK;
    }
}

int corrupt_dataset(Dataset *d, CorruptionType t, int severity, uint64_t seed, BsError *err)
{
    if (t == CORRUPT_NONE)
        return BS_OK;
    if (t < 0 || t >= CORRUPT_N || severity < 1 || severity > CORRUPT_MAX_SEVERITY)
        return bs_fail(err, BS_ERR_USER, "data.corruption: type %d, severity %d: expected a type of "
                                         "`bnshift corruptions` and a severity in 1..5", (int)t, severity);
    if (t == CORRUPT_SATURATE && d->c != 3)
        return bs_fail(err, BS_ERR_USER, "data.corruption.type: saturate needs 3-channel (RGB) images, these "
                                         "have %d", d->c);
    const size_t n = (size_t)d->c * d->h * d->w;
    Image im = {d->c, d->h, d->w, bs_alloc(sizeof(float) * (n ? n : 1), err)};
    if (!im.x)
        return err->code;
    for (int i = 0; i < d->n && err->code == BS_OK; i++) {
        uint8_t *px = d->pixels + (size_t)i * n;
        Rng r; /* image i's own stream */
        rng_seed(&r, (seed ^ CORRUPT_STREAM) + (uint64_t)i * 0x9e3779b97f4a7c15ULL + (uint64_t)t);
        for (size_t j = 0; j < n; j++)
            im.x[j] = px[j] / 255.0f;
        if (corrupt_image(&im, t, severity - 1, &r, err) != BS_OK)
            break;
        for (size_t j = 0; j < n; j++)
            px[j] = (uint8_t)lrintf(clip01(im.x[j]) * 255.0f);
    }
    bs_free(im.x);
    return err->code;
}
