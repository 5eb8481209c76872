/* libFuzzer harness for the IDX loader (idx_load, lib/data/idx.c).
 *
 * Input: one flags byte, a 16-bit little-endian length L, then L bytes of
 * train-images-idx3-ubyte and the rest as train-labels-idx1-ubyte (L is cut
 * to what is there). Flag bits 0-1 say how the images file is written, bits
 * 2-3 the labels file: 0 plain name, raw bytes; 1 ".gz" name, raw bytes (a
 * gzip stream, or not); 2 ".gz" name, gzip-compressed by the harness; 3
 * plain name, gzip-compressed (zlib reads both names either way).
 *
 * A set that loads must be exactly what the bytes say whenever the harness
 * knows the content zlib reads (it compressed them, or they are not a gzip
 * stream, which zlib passes through as they are): 16 + n*h*w image bytes
 * and 8 + n label bytes, nothing more, pixels and labels as stored. */
#include "fuzz_util.h"

#include "data/idx.h"

static const char *const KINDS[2] = {"images-idx3-ubyte", "labels-idx1-ubyte"};
static char g_plain[2][FUZZ_PATH], g_gz[2][FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    for (int k = 0; k < 2; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "train-%s", KINDS[k]);
        fuzz_path(g_plain[k], rel);
        snprintf(rel, sizeof rel, "train-%s.gz", KINDS[k]);
        fuzz_path(g_gz[k], rel);
    }
    return 0;
}

static void write_part(int k, int mode, const uint8_t *p, size_t n)
{
    switch (mode) {
    case 0:
        fuzz_write(g_plain[k], p, n);
        break;
    case 1:
        fuzz_write(g_gz[k], p, n);
        break;
    case 2:
        fuzz_write_gz(g_gz[k], p, n);
        break;
    default:
        fuzz_write_gz(g_plain[k], p, n);
        break;
    }
}

/* Whether zlib reads the bytes written in this mode as they are. */
static int content_known(int mode, const uint8_t *p, size_t n)
{
    return mode >= 2 || !(n >= 2 && p[0] == 0x1f && p[1] == 0x8b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    const int mode[2] = {data[0] & 3, (data[0] >> 2) & 3};
    size_t len[2];
    len[0] = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (len[0] > size)
        len[0] = size;
    len[1] = size - len[0];
    const uint8_t *part[2] = {data, data + len[0]};
    for (int k = 0; k < 2; k++)
        write_part(k, mode[k], part[k], len[k]);

    Dataset d;
    BsError err = {0};
    int rc = idx_load(&d, g_fuzz_dir, "train", &err);
    fuzz_report("idx_load", rc, err.msg);
    FUZZ_CHECK(rc == err.code);
    if (rc == BS_OK) {
        const size_t px = (size_t)d.n * d.h * d.w;
        FUZZ_CHECK(d.n > 0 && d.c == 1 && d.h > 0 && d.w > 0 && d.num_classes == 10);
        for (int i = 0; i < d.n; i++)
            FUZZ_CHECK(d.labels[i] >= 0 && d.labels[i] < 10);
        if (content_known(mode[0], part[0], len[0]))
            FUZZ_CHECK(len[0] == 16 + px && memcmp(d.pixels, part[0] + 16, px) == 0);
        if (content_known(mode[1], part[1], len[1])) {
            FUZZ_CHECK(len[1] == 8 + (size_t)d.n);
            for (int i = 0; i < d.n; i++)
                FUZZ_CHECK(d.labels[i] == part[1][8 + i]);
        }
        dataset_free(&d);
    } else {
        FUZZ_CHECK(rc == BS_ERR_USER && d.pixels == NULL && d.labels == NULL && d.n == 0);
    }
    for (int k = 0; k < 2; k++) {
        fuzz_unlink(g_plain[k]);
        fuzz_unlink(g_gz[k]);
    }
    return 0;
}
