/* `bnshift corruptions`: the corruptions data.corruption offers, with their
 * formulas and severities; `--grid OUT.png CONFIG.json` draws one test image
 * of the config's data under every corruption and severity. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/mem.h"
#include "data/corrupt.h"
#include "setup.h"

enum { GAP = 2 }; /* pixels between cells */

static const char USAGE[] =
    "usage: bnshift corruptions [--grid OUT.png CONFIG.json [--image I] [--scale K] [--set key.path=value]...]\n"
    "Lists the corruptions of data.corruption.type with their five severities (applied\n"
    "to x = pixel/255, clipped to [0, 1]; lengths scale with the image size / 32).\n"
    "--grid draws test image I (default 0) of the config's data set, clean and at\n"
    "severities 1-5 (columns) under every corruption (rows), each pixel K x K\n"
    "(default 3), as a PNG.\n";

/* Copies image `img` of src into cell (row, col) of the canvas. */
static void put_cell(png_bytep canvas, int stride, const Dataset *src, int img, int row, int col, int scale)
{
    const int ch = src->c, cw = src->w * scale + GAP, cell_h = src->h * scale + GAP;
    const uint8_t *px = src->pixels + (size_t)img * ch * src->h * src->w;
    for (int y = 0; y < src->h * scale; y++)
        for (int x = 0; x < src->w * scale; x++)
            for (int k = 0; k < ch; k++)
                canvas[(size_t)(row * cell_h + y) * stride + (size_t)(col * cw + x) * ch + k] =
                    px[((size_t)k * src->h + y / scale) * src->w + x / scale];
}

static int draw_grid(const char *out, const Config *c, const ExperimentData *x, int img, int scale)
{
    const Dataset *test = &x->test_src;
    if (test->c != 1 && test->c != 3)
        return cli_error(BS_ERR_USER, "corruptions --grid: images with %d channels (1 or 3 can be drawn)", test->c);
    if (img < 0 || img >= test->n)
        return cli_error(BS_ERR_USER, "corruptions --grid: --image %d, but the test set has %d images", img, test->n);
    const int rows = CORRUPT_N - 1 - (test->c != 3), cols = 1 + CORRUPT_MAX_SEVERITY; /* saturate needs RGB */
    const int W = cols * (test->w * scale + GAP), H = rows * (test->h * scale + GAP), stride = W * test->c;
    BsError err = {0};
    png_bytep canvas = bs_alloc((size_t)stride * H, &err);
    Dataset one = {0};
    if (!canvas || dataset_slice(test, img, 1, &one, &err)) {
        bs_free(canvas);
        return cli_error(err.code, "%s", err.msg);
    }
    memset(canvas, 255, (size_t)stride * H);
    int row = 0;
    for (int t = 1; t < CORRUPT_N && err.code == BS_OK; t++) {
        if (t == CORRUPT_SATURATE && test->c != 3)
            continue;
        put_cell(canvas, stride, &one, 0, row, 0, scale);
        for (int s = 1; s <= CORRUPT_MAX_SEVERITY && err.code == BS_OK; s++) {
            Dataset d = {0};
            if (dataset_slice(&one, 0, 1, &d, &err) == BS_OK &&
                corrupt_dataset(&d, (CorruptionType)t, s, (uint64_t)c->seed, &err) == BS_OK)
                put_cell(canvas, stride, &d, 0, row, s, scale);
            dataset_free(&d);
        }
        row++;
    }
    dataset_free(&one);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)W;
    pi.height = (png_uint_32)H;
    pi.format = test->c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int ok = err.code == BS_OK && png_image_write_to_file(&pi, out, 0, canvas, stride, NULL);
    bs_free(canvas);
    if (err.code != BS_OK)
        return cli_error(err.code, "%s", err.msg);
    if (!ok)
        return cli_error(BS_ERR_RUNTIME, "%s: cannot write the PNG: %s", out, pi.message);
    printf("wrote %s: rows %s ... %s, columns clean and severities 1-5\n", out,
           corruption_name(CORRUPT_GAUSSIAN_NOISE), corruption_name(CORRUPT_PIXELATE));
    return 0;
}

int cmd_corruptions(int argc, char **argv)
{
    const char *out = NULL, *path = NULL;
    char *sets[64];
    int n_sets = 0, img = 0, scale = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--grid") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--image") && i + 1 < argc)
            img = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scale") && i + 1 < argc && (scale = atoi(argv[++i])) >= 1 && scale <= 16)
            continue;
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 64)
            sets[n_sets++] = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return cli_error(BS_ERR_USER, "corruptions: unexpected argument '%s' (see bnshift corruptions --help)",
                             argv[i]);
    }
    if (!out) {
        if (path)
            return cli_error(BS_ERR_USER, "corruptions: CONFIG.json goes with --grid OUT.png");
        for (int t = 1; t < CORRUPT_N; t++)
            printf("%-15s %s\n", corruption_name((CorruptionType)t), corruption_doc((CorruptionType)t));
        return 0;
    }
    if (!path)
        return cli_error(BS_ERR_USER, "corruptions --grid: missing CONFIG.json (whose test set to draw)");
    BsError err = {0};
    Config c;
    ExperimentData x;
    memset(&x, 0, sizeof x);
    if (config_load(&c, path, sets, n_sets, &err) == BS_OK)
        c.data.corruption.type = CORRUPT_NONE; /* the grid starts from clean images */
    if (err.code != BS_OK || setup_data(&c, &x, &err)) {
        setup_data_free(&x);
        return cli_error(err.code, "%s", err.msg);
    }
    int rc = draw_grid(out, &c, &x, img, scale);
    setup_data_free(&x);
    return rc;
}
