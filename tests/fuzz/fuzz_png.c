/* libFuzzer harness for the PNG image-folder loader (lib/data/imagefolder.c).
 *
 * Input: one flags byte, then a PNG file, written as ROOT/train/a/x.png.
 * Flag bit 0 adds a valid 4x4 RGB image as ROOT/train/b/y.png (a second
 * class whose shape the fuzzed image must match); bit 1 writes the same
 * files under ROOT/test too and loads the pair (imagefolder_load_pair),
 * else the train split alone (imagefolder_load). Unless bit 2 is set, the
 * harness rewrites the CRC of every complete chunk first, so that mutations
 * reach the chunk contents instead of stopping at libpng's CRC check (libpng
 * itself is not instrumented, so the fuzzer cannot learn those CRCs).
 *
 * A split that loads must have one sample per file, labels by class folder,
 * and the valid image's pixels as written. */
#include "fuzz_util.h"

#include <png.h>

#include "data/imagefolder.h"

#define SIDE 4
static uint8_t g_rgb[SIDE * SIDE * 3]; /* the valid image, interleaved */
static void *g_valid_png;
static size_t g_valid_len;
static char g_root[FUZZ_PATH];

static void free_valid(void) { free(g_valid_png); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    fuzz_path(g_root, "img");
    static const char *const dirs[] = {"img", "img/train", "img/train/a", "img/test", "img/test/a"};
    char path[FUZZ_PATH];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        fuzz_mkdir(fuzz_path(path, dirs[i]));
    for (size_t i = 0; i < sizeof g_rgb; i++)
        g_rgb[i] = (uint8_t)(i * 37 + 11);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = img.height = SIDE;
    img.format = PNG_FORMAT_RGB;
    png_alloc_size_t len = 0;
    if (!png_image_write_to_memory(&img, NULL, &len, 0, g_rgb, 0, NULL) ||
        !(g_valid_png = malloc(len)) ||
        !png_image_write_to_memory(&img, g_valid_png, &len, 0, g_rgb, 0, NULL)) {
        fprintf(stderr, "cannot encode the valid PNG: %s\n", img.message);
        abort();
    }
    g_valid_len = len;
    atexit(free_valid);
    return 0;
}

/* ROOT/split/cls/name into buf. */
static const char *img_path(char *buf, const char *split, const char *cls, const char *name)
{
    snprintf(buf, FUZZ_PATH, "%s/%s/%s/%s", g_root, split, cls, name);
    return buf;
}

/* The valid image's planes must be sample i of d. */
static void check_valid_sample(const Dataset *d, int i)
{
    FUZZ_CHECK(d->c == 3 && d->h == SIDE && d->w == SIDE);
    const uint8_t *px = d->pixels + (size_t)i * 3 * SIDE * SIDE;
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < SIDE * SIDE; p++)
            FUZZ_CHECK(px[ch * SIDE * SIDE + p] == g_rgb[p * 3 + ch]);
}

static void check_split(const Dataset *d, int second)
{
    FUZZ_CHECK(d->n == 1 + second && d->num_classes == 1 + second);
    FUZZ_CHECK(d->c == 1 || d->c == 3);
    FUZZ_CHECK(d->h > 0 && d->w > 0);
    FUZZ_CHECK(d->labels[0] == 0);
    if (second) {
        FUZZ_CHECK(d->labels[1] == 1);
        check_valid_sample(d, 1);
    }
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the CRC of each complete chunk after the 8-byte signature. */
static void fix_crcs(uint8_t *png, size_t n)
{
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = be32(png + pos);
        if (len > n - pos - 12)
            break;
        uint32_t crc = (uint32_t)crc32(0L, png + pos + 4, (uInt)len + 4);
        uint8_t *at = png + pos + 8 + len;
        at[0] = (uint8_t)(crc >> 24), at[1] = (uint8_t)(crc >> 16);
        at[2] = (uint8_t)(crc >> 8), at[3] = (uint8_t)crc;
        pos += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int second = data[0] & 1, pair = (data[0] >> 1) & 1, raw_crcs = (data[0] >> 2) & 1;
    uint8_t *png = malloc(size); /* size - 1 could be 0 */
    FUZZ_CHECK(png != NULL);
    memcpy(png, data + 1, size - 1);
    if (!raw_crcs)
        fix_crcs(png, size - 1);
    static const char *const splits[2] = {"train", "test"};
    char path[FUZZ_PATH];
    for (int s = 0; s < 1 + pair; s++) {
        fuzz_write(img_path(path, splits[s], "a", "x.png"), png, size - 1);
        if (second) {
            fuzz_mkdir(img_path(path, splits[s], "b", ""));
            fuzz_write(img_path(path, splits[s], "b", "y.png"), g_valid_png, g_valid_len);
        }
    }

    Dataset train, test;
    BsError err = {0};
    int rc;
    if (pair) {
        rc = imagefolder_load_pair(&train, &test, g_root, &err);
        fuzz_report("imagefolder_load_pair", rc, err.msg);
    } else {
        rc = imagefolder_load(&train, g_root, "train", &err);
        memset(&test, 0, sizeof test);
        fuzz_report("imagefolder_load", rc, err.msg);
    }
    FUZZ_CHECK(rc == err.code);
    if (rc == BS_OK) {
        check_split(&train, second);
        if (pair) {
            check_split(&test, second);
            FUZZ_CHECK(test.c == train.c && test.h == train.h && test.w == train.w);
            FUZZ_CHECK(memcmp(test.pixels, train.pixels, (size_t)train.n * train.c * train.h * train.w) == 0);
        }
    } else {
        FUZZ_CHECK(rc == BS_ERR_USER && train.pixels == NULL && test.pixels == NULL);
    }
    dataset_free(&train);
    dataset_free(&test);
    free(png);
    for (int s = 0; s < 2; s++) {
        fuzz_unlink(img_path(path, splits[s], "a", "x.png"));
        fuzz_unlink(img_path(path, splits[s], "b", "y.png"));
        fuzz_rmdir(img_path(path, splits[s], "b", ""));
    }
    return 0;
}
