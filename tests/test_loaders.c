/* Data set loaders: small fixtures written to a temporary directory are read
 * back byte for byte, and every malformed variant fails with BS_ERR_USER and
 * a message naming the offending file. */
#include <check.h>
#include <png.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <ftw.h>

#include "data/cifar.h"
#include "data/idx.h"
#include "data/imagefolder.h"
#include "suites.h"
#include "test_util.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define P 1024 /* fixture path buffers */

/* The fixture root, made by the unchecked (parent-process) setup so that it
 * is removed even when a forked test fails. */
static char g_root[64];

static void make_root(void)
{
    snprintf(g_root, sizeof g_root, "/tmp/bnshift-loaders-XXXXXX");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        abort();
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_root(void)
{
    nftw(g_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* g_root/<formatted>, with every directory on the way created. */
static const char *fixture_path(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *fixture_path(char *buf, const char *fmt, ...)
{
    char rel[P / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(buf, P, "%s/%s", g_root, rel);
    return buf;
}

static void mkdirs(const char *dir)
{
    char tmp[P];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(tmp, 0755);
            *s = '/';
        }
    mkdir(tmp, 0755);
}

/* Creates the parent directories of path. */
static void mkparents(const char *path)
{
    char dir[P];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    ck_assert_ptr_nonnull(slash);
    *slash = 0;
    mkdirs(dir);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    mkparents(path);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void truncate_to(const char *path, off_t size)
{
    ck_assert_int_eq(truncate(path, size), 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* A pixel pattern that differs between samples, channels and positions, so
 * a swapped plane or an off-by-one shows. */
static uint8_t pix(int sample, int i)
{
    return (uint8_t)(sample * 37 + i * 11 + (i >> 8) * 5 + 3);
}

/* A failure must be a user error naming `path`, and leave d empty. */
static void expect_user_error(int rc, const BsError *err, const Dataset *d, const char *path)
{
    ck_assert_int_eq(rc, BS_ERR_USER);
    ck_assert_int_eq(err->code, BS_ERR_USER);
    ck_assert_msg(strstr(err->msg, path) != NULL, "message \"%s\" does not name %s", err->msg,
                  path);
    ck_assert_ptr_null(d->pixels);
    ck_assert_ptr_null(d->labels);
    ck_assert_int_eq(d->n, 0);
}

/* ---- CIFAR ---- */

#define CIFAR_PIX 3072

/* Label of sample s: fine labels use all of 0..99, coarse = fine / 5. */
static int cifar_label(int s, int cifar100)
{
    return cifar100 ? (s * 7 + 3) % 100 : (s * 3 + 1) % 10;
}

/* Writes samples [first, first + n) as CIFAR records; label_override >= 0
 * replaces the (fine) label of the last record. */
static void write_cifar(const char *path, int first, int n, int cifar100, int label_override)
{
    const int lb = cifar100 ? 2 : 1;
    size_t rec = (size_t)lb + CIFAR_PIX;
    uint8_t *buf = malloc(rec * (size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < n; i++) {
        uint8_t *r = buf + rec * (size_t)i;
        int label = cifar_label(first + i, cifar100);
        if (i == n - 1 && label_override >= 0)
            label = label_override;
        if (cifar100)
            r[0] = (uint8_t)(label / 5);
        r[lb - 1] = (uint8_t)label;
        for (int j = 0; j < CIFAR_PIX; j++)
            r[lb + j] = pix(first + i, j);
    }
    write_bytes(path, buf, rec * (size_t)n);
    free(buf);
}

static const int batch_sizes[5] = {2, 3, 1, 2, 4};

/* data_batch_1..5.bin (12 records) and test_batch.bin (3) in g_root/name. */
static void make_cifar10(char *dir, const char *name)
{
    char path[P];
    fixture_path(dir, "%s", name);
    for (int b = 0, first = 0; b < 5; first += batch_sizes[b], b++)
        write_cifar(fixture_path(path, "%s/data_batch_%d.bin", name, b + 1), first,
                    batch_sizes[b], 0, -1);
    write_cifar(fixture_path(path, "%s/test_batch.bin", name), 100, 3, 0, -1);
}

static void check_cifar(const Dataset *d, int first, int n, int cifar100)
{
    ck_assert_int_eq(d->n, n);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 32);
    ck_assert_int_eq(d->w, 32);
    ck_assert_int_eq(d->num_classes, cifar100 ? 100 : 10);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(d->labels[i], cifar_label(first + i, cifar100));
        /* Record byte j = plane j / 1024 (R, G, B), row (j % 1024) / 32. */
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) {
                    size_t at = (((size_t)i * 3 + ch) * 32 + y) * 32 + x;
                    ck_assert_uint_eq(d->pixels[at], pix(first + i, ch * 1024 + y * 32 + x));
                }
    }
}

START_TEST(cifar10_reads_back)
{
    char dir[P];
    make_cifar10(dir, "c10");
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(cifar_load(&d, dir, 0, 1, &err), BS_OK);
    check_cifar(&d, 0, 12, 0); /* batches in order 1..5 */
    dataset_free(&d);
    ck_assert_int_eq(cifar_load(&d, dir, 0, 0, &err), BS_OK);
    check_cifar(&d, 100, 3, 0);
    dataset_free(&d);
}
END_TEST

START_TEST(cifar100_keeps_fine_label)
{
    char dir[P], path[P];
    fixture_path(dir, "c100");
    write_cifar(fixture_path(path, "c100/train.bin"), 0, 25, 1, -1);
    write_cifar(fixture_path(path, "c100/test.bin"), 50, 4, 1, -1);
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(cifar_load(&d, dir, 1, 1, &err), BS_OK);
    check_cifar(&d, 0, 25, 1);
    dataset_free(&d);
    ck_assert_int_eq(cifar_load(&d, dir, 1, 0, &err), BS_OK);
    check_cifar(&d, 50, 4, 1);
    dataset_free(&d);
}
END_TEST

START_TEST(cifar10_missing_truncated_empty)
{
    char dir[P], path[P];
    Dataset d;

    make_cifar10(dir, "c10m");
    BsError err = {0};
    fixture_path(path, "c10m/data_batch_3.bin");
    ck_assert_int_eq(unlink(path), 0);
    expect_user_error(cifar_load(&d, dir, 0, 1, &err), &err, &d, path);

    make_cifar10(dir, "c10t");
    err = (BsError){0};
    fixture_path(path, "c10t/data_batch_2.bin");
    truncate_to(path, file_size(path) - 100);
    expect_user_error(cifar_load(&d, dir, 0, 1, &err), &err, &d, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "multiple"));

    make_cifar10(dir, "c10e");
    err = (BsError){0};
    fixture_path(path, "c10e/test_batch.bin");
    truncate_to(path, 0);
    expect_user_error(cifar_load(&d, dir, 0, 0, &err), &err, &d, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));

    err = (BsError){0};
    fixture_path(path, "no-such-dir/data_batch_1.bin");
    expect_user_error(cifar_load(&d, fixture_path(dir, "no-such-dir"), 0, 1, &err), &err, &d,
                      path);

    /* A directory where a batch file should be. */
    make_cifar10(dir, "c10d");
    err = (BsError){0};
    fixture_path(path, "c10d/test_batch.bin");
    ck_assert_int_eq(unlink(path), 0);
    mkdirs(path);
    expect_user_error(cifar_load(&d, dir, 0, 0, &err), &err, &d, path);
}
END_TEST

START_TEST(cifar_label_out_of_range)
{
    char dir[P], path[P];
    Dataset d;
    BsError err = {0};
    make_cifar10(dir, "c10l");
    write_cifar(fixture_path(path, "c10l/data_batch_4.bin"), 6, 2, 0, 10);
    expect_user_error(cifar_load(&d, dir, 0, 1, &err), &err, &d, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "label 10"));

    err = (BsError){0};
    write_cifar(fixture_path(path, "c100l/train.bin"), 0, 3, 1, 100);
    expect_user_error(cifar_load(&d, fixture_path(dir, "c100l"), 1, 1, &err), &err, &d, path);
    ck_assert_ptr_nonnull(strstr(err.msg, "fine label 100"));

    /* A CIFAR-10 file read as CIFAR-100: 3 * 3073 bytes are no whole number
     * of 3074-byte records. */
    err = (BsError){0};
    write_cifar(fixture_path(path, "c100x/test.bin"), 0, 3, 0, -1);
    expect_user_error(cifar_load(&d, fixture_path(dir, "c100x"), 1, 0, &err), &err, &d, path);
}
END_TEST

/* ---- IDX ---- */

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* Writes header + body, gzip'd when the name ends in .gz. */
static void write_maybe_gz(const char *path, const uint8_t *hdr, size_t hlen, const uint8_t *body,
                           size_t blen)
{
    size_t len = strlen(path);
    if (len < 3 || strcmp(path + len - 3, ".gz") != 0) {
        uint8_t *all = malloc(hlen + blen + 1);
        ck_assert_ptr_nonnull(all);
        memcpy(all, hdr, hlen);
        if (blen)
            memcpy(all + hlen, body, blen);
        write_bytes(path, all, hlen + blen);
        free(all);
        return;
    }
    mkparents(path);
    gzFile f = gzopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(gzwrite(f, hdr, (unsigned)hlen), (int)hlen);
    if (blen)
        ck_assert_int_eq(gzwrite(f, body, (unsigned)blen), (int)blen);
    ck_assert_int_eq(gzclose(f), Z_OK);
}

/* What an IDX pair holds; the writer may be told to spoil it. */
typedef struct {
    int n, rows, cols;
    uint32_t img_magic, lbl_magic;
    int label_count;  /* labels in the header (normally n) */
    int img_short;    /* pixel bytes left off the end */
    int lbl_short;    /* label bytes left off the end */
    int extra;        /* bytes of junk appended to the images */
    int bad_label;    /* written as the last label when >= 0 */
} IdxSpec;

static IdxSpec idx_spec(int n, int rows, int cols)
{
    IdxSpec s = {n, rows, cols, 0x803, 0x801, n, 0, 0, 0, -1};
    return s;
}

static int idx_label(int i) { return (i * 7 + 2) % 10; }

/* Writes dir/prefix-{images,labels}-idx?-ubyte[suffix]. */
static void write_idx(const char *dir, const char *prefix, const char *suffix, const IdxSpec *s)
{
    char path[2 * P];
    uint8_t hdr[16];
    size_t plane = (size_t)s->rows * s->cols, bytes = plane * (size_t)s->n + (size_t)s->extra;
    uint8_t *px = malloc(bytes + 1), *lb = malloc((size_t)s->n + 1);
    ck_assert(px && lb);
    for (int i = 0; i < s->n; i++) {
        for (size_t j = 0; j < plane; j++)
            px[i * plane + j] = pix(i, (int)j);
        lb[i] = (uint8_t)idx_label(i);
    }
    memset(px + plane * (size_t)s->n, 0x5a, (size_t)s->extra);
    if (s->bad_label >= 0)
        lb[s->n - 1] = (uint8_t)s->bad_label;
    put_be32(hdr, s->img_magic);
    put_be32(hdr + 4, (uint32_t)s->n);
    put_be32(hdr + 8, (uint32_t)s->rows);
    put_be32(hdr + 12, (uint32_t)s->cols);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, prefix, suffix);
    write_maybe_gz(path, hdr, 16, px, bytes - (size_t)s->img_short);
    put_be32(hdr, s->lbl_magic);
    put_be32(hdr + 4, (uint32_t)s->label_count);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, prefix, suffix);
    write_maybe_gz(path, hdr, 8, lb, (size_t)s->n - (size_t)s->lbl_short);
    free(px);
    free(lb);
}

static void check_idx(const Dataset *d, int n, int rows, int cols)
{
    ck_assert_int_eq(d->n, n);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, rows);
    ck_assert_int_eq(d->w, cols);
    ck_assert_int_eq(d->num_classes, 10);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(d->labels[i], idx_label(i));
        for (int j = 0; j < rows * cols; j++)
            ck_assert_uint_eq(d->pixels[(size_t)i * rows * cols + j], pix(i, j));
    }
}

START_TEST(idx_plain_and_gz_read_back)
{
    char dir[P];
    fixture_path(dir, "idx");
    IdxSpec train = idx_spec(7, 4, 3), test = idx_spec(5, 5, 6);
    write_idx(dir, "train", "", &train);
    write_idx(dir, "t10k", ".gz", &test);
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(idx_load(&d, dir, "train", &err), BS_OK);
    check_idx(&d, 7, 4, 3);
    dataset_free(&d);
    ck_assert_int_eq(idx_load(&d, dir, "t10k", &err), BS_OK);
    check_idx(&d, 5, 5, 6);
    dataset_free(&d);
}
END_TEST

/* Writes one spoiled train set in g_root/name and expects an error naming
 * the images file (which_bad 'i') or the labels file ('l'). */
static void expect_idx_error(const char *name, const char *suffix, const IdxSpec *s,
                             char which_bad, const char *msg_part)
{
    char dir[P], path[2 * P];
    fixture_path(dir, "%s", name);
    write_idx(dir, "train", suffix, s);
    snprintf(path, sizeof path, "%s/train-%s%s", dir,
             which_bad == 'i' ? "images-idx3-ubyte" : "labels-idx1-ubyte", suffix);
    Dataset d;
    BsError err = {0};
    expect_user_error(idx_load(&d, dir, "train", &err), &err, &d, path);
    ck_assert_msg(strstr(err.msg, msg_part) != NULL, "%s: message \"%s\" lacks \"%s\"", name,
                  err.msg, msg_part);
}

START_TEST(idx_malformed)
{
    IdxSpec s = idx_spec(6, 4, 4);
    s.img_magic = 0x802; /* signed bytes */
    expect_idx_error("idx-magic-i", "", &s, 'i', "magic");
    s = idx_spec(6, 4, 4);
    s.lbl_magic = 0x803;
    expect_idx_error("idx-magic-l", ".gz", &s, 'l', "magic");
    s = idx_spec(6, 4, 4);
    s.img_short = 1;
    expect_idx_error("idx-trunc-i", "", &s, 'i', "truncated");
    s.img_short = 0;
    s.lbl_short = 1;
    expect_idx_error("idx-trunc-l", ".gz", &s, 'l', "truncated");
    s = idx_spec(6, 4, 4);
    s.bad_label = 10;
    expect_idx_error("idx-label", "", &s, 'l', "label 10");
    expect_idx_error("idx-label-gz", ".gz", &s, 'l', "label 10");
    s = idx_spec(6, 4, 4);
    s.label_count = 5;
    expect_idx_error("idx-count", "", &s, 'i', "labels");
    s = idx_spec(6, 4, 4);
    s.extra = 3;
    expect_idx_error("idx-extra", "", &s, 'i', "trailing");
    s = idx_spec(0, 4, 4);
    expect_idx_error("idx-empty", ".gz", &s, 'i', "no images");
}
END_TEST

START_TEST(idx_missing_empty_and_cut_gzip)
{
    char dir[P], path[P];
    Dataset d;
    BsError err = {0};
    IdxSpec s = idx_spec(50, 8, 8);

    fixture_path(dir, "idx-missing");
    write_idx(dir, "train", "", &s);
    ck_assert_int_eq(unlink(fixture_path(path, "idx-missing/train-labels-idx1-ubyte")), 0);
    expect_user_error(idx_load(&d, dir, "train", &err), &err, &d, path);

    err = (BsError){0};
    fixture_path(dir, "idx-zero");
    write_idx(dir, "train", "", &s);
    truncate_to(fixture_path(path, "idx-zero/train-images-idx3-ubyte"), 0);
    expect_user_error(idx_load(&d, dir, "train", &err), &err, &d, path);

    /* A download cut short: the gzip stream ends early. */
    err = (BsError){0};
    fixture_path(dir, "idx-cut");
    write_idx(dir, "train", ".gz", &s);
    fixture_path(path, "idx-cut/train-images-idx3-ubyte.gz");
    truncate_to(path, file_size(path) / 2);
    expect_user_error(idx_load(&d, dir, "train", &err), &err, &d, path);

    /* The gzip trailer (CRC, length) is checked too. */
    err = (BsError){0};
    fixture_path(dir, "idx-crc");
    write_idx(dir, "train", ".gz", &s);
    fixture_path(path, "idx-crc/train-images-idx3-ubyte.gz");
    truncate_to(path, file_size(path) - 4);
    expect_user_error(idx_load(&d, dir, "train", &err), &err, &d, path);
}
END_TEST

/* ---- PNG image folders ---- */

static void write_png(const char *path, int w, int h, png_uint_32 format, const void *buf,
                      const void *colormap, int entries)
{
    mkparents(path);
    write_png_file(path, w, h, format, buf, colormap, entries);
}

/* The value of image `id` at (ch, y, x); alpha (ch 3) is never 255 so that
 * compositing instead of dropping would show. */
static uint8_t img_val(int id, int ch, int y, int x)
{
    return (uint8_t)(id * 50 + ch * 70 + y * 9 + x * 3 + 1);
}

/* An interleaved image of `comps` components per pixel (1 gray, 2 gray +
 * alpha, 3 RGB, 4 RGBA); components >= the color count are alpha (ch 3). */
static void write_test_png(const char *path, int id, int w, int h, int comps)
{
    static const png_uint_32 formats[5] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                           PNG_FORMAT_RGBA};
    uint8_t *buf = malloc((size_t)w * h * comps);
    ck_assert_ptr_nonnull(buf);
    int colors = comps >= 3 ? 3 : 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < comps; k++)
                buf[((size_t)y * w + x) * comps + k] = img_val(id, k < colors ? k : 3, y, x);
    write_png(path, w, h, formats[comps], buf, NULL, 0);
    free(buf);
}

/* A palette image whose colors are img_val(id, ...) of a 2x2 tile. */
static void write_palette_png(const char *path, int id, int w, int h)
{
    uint8_t cmap[4 * 3], *idx = malloc((size_t)w * h);
    ck_assert_ptr_nonnull(idx);
    for (int t = 0; t < 4; t++)
        for (int ch = 0; ch < 3; ch++)
            cmap[t * 3 + ch] = img_val(id, ch, t / 2, t % 2);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            idx[(size_t)y * w + x] = (uint8_t)((y % 2) * 2 + x % 2);
    write_png(path, w, h, PNG_FORMAT_RGB_COLORMAP, idx, cmap, 4);
    free(idx);
}

static void check_image(const Dataset *d, int i, int id, int palette)
{
    for (int ch = 0; ch < d->c; ch++)
        for (int y = 0; y < d->h; y++)
            for (int x = 0; x < d->w; x++) {
                uint8_t want = palette ? img_val(id, ch, y % 2, x % 2) : img_val(id, ch, y, x);
                uint8_t got = d->pixels[(((size_t)i * d->c + ch) * d->h + y) * d->w + x];
                ck_assert_msg(got == want, "sample %d ch %d (%d,%d): %d != %d", i, ch, y, x, got,
                              want);
            }
}

START_TEST(imagefolder_rgb_sorted)
{
    char root[P], path[P];
    fixture_path(root, "if-rgb");
    /* Written out of order: classes and files must come back sorted. */
    write_test_png(fixture_path(path, "if-rgb/train/dog/c.png"), 3, 5, 4, 3);
    write_test_png(fixture_path(path, "if-rgb/train/ant/b.png"), 1, 5, 4, 3);
    write_test_png(fixture_path(path, "if-rgb/train/ant/a.png"), 0, 5, 4, 4);
    write_palette_png(fixture_path(path, "if-rgb/train/cat/x.PNG"), 2, 5, 4);
    write_bytes(fixture_path(path, "if-rgb/train/ant/notes.txt"), "hi", 2);
    write_bytes(fixture_path(path, "if-rgb/train/README"), "hi", 2);
    write_test_png(fixture_path(path, "if-rgb/train/.hidden/z.png"), 9, 2, 2, 3);
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(imagefolder_load(&d, root, "train", &err), BS_OK);
    ck_assert_int_eq(d.n, 4);
    ck_assert_int_eq(d.c, 3);
    ck_assert_int_eq(d.h, 4);
    ck_assert_int_eq(d.w, 5);
    ck_assert_int_eq(d.num_classes, 3);
    static const int labels[4] = {0, 0, 1, 2}, ids[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(d.labels[i], labels[i]);
        check_image(&d, i, ids[i], i == 2);
    }
    dataset_free(&d);
}
END_TEST

START_TEST(imagefolder_gray)
{
    char root[P], path[P];
    fixture_path(root, "if-gray");
    write_test_png(fixture_path(path, "if-gray/train/0/a.png"), 0, 3, 6, 1);
    write_test_png(fixture_path(path, "if-gray/train/1/a.png"), 1, 3, 6, 2);
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(imagefolder_load(&d, root, "train", &err), BS_OK);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.c, 1);
    ck_assert_int_eq(d.h, 6);
    ck_assert_int_eq(d.w, 3);
    ck_assert_int_eq(d.num_classes, 2);
    ck_assert_int_eq(d.labels[1], 1);
    check_image(&d, 0, 0, 0);
    check_image(&d, 1, 1, 0);
    dataset_free(&d);
}
END_TEST

/* root/{train,test}/{a,b}/ with 2 + 1 images per split. */
static void make_pair(char *root, const char *name)
{
    char path[P];
    fixture_path(root, "%s", name);
    write_test_png(fixture_path(path, "%s/train/a/1.png", name), 0, 4, 4, 3);
    write_test_png(fixture_path(path, "%s/train/a/2.png", name), 1, 4, 4, 3);
    write_test_png(fixture_path(path, "%s/train/b/1.png", name), 2, 4, 4, 3);
    write_test_png(fixture_path(path, "%s/test/a/x.png", name), 3, 4, 4, 3);
    write_test_png(fixture_path(path, "%s/test/b/y.png", name), 4, 4, 4, 4);
}

START_TEST(imagefolder_pair)
{
    char root[P];
    make_pair(root, "if-pair");
    Dataset train, test;
    BsError err = {0};
    ck_assert_int_eq(imagefolder_load_pair(&train, &test, root, &err), BS_OK);
    ck_assert_int_eq(train.n, 3);
    ck_assert_int_eq(test.n, 2);
    ck_assert_int_eq(test.num_classes, 2);
    ck_assert_int_eq(test.labels[0], 0);
    ck_assert_int_eq(test.labels[1], 1);
    check_image(&train, 2, 2, 0);
    check_image(&test, 0, 3, 0);
    check_image(&test, 1, 4, 0);
    dataset_free(&train);
    dataset_free(&test);
}
END_TEST

/* Expects load_pair on root to fail naming `path`, with both sets empty. */
static void expect_pair_error(const char *root, const char *path)
{
    Dataset train, test;
    BsError err = {0};
    expect_user_error(imagefolder_load_pair(&train, &test, root, &err), &err, &test, path);
    ck_assert_ptr_null(train.pixels);
}

START_TEST(imagefolder_pair_mismatch)
{
    char root[P], path[P];
    char other[P];
    make_pair(root, "if-pc"); /* test classes a, c; train a, b */
    ck_assert_int_eq(rename(fixture_path(path, "if-pc/test/b"),
                            fixture_path(other, "if-pc/test/c")), 0);
    expect_pair_error(root, fixture_path(path, "if-pc/test"));

    make_pair(root, "if-pm"); /* test classes a, b, c */
    write_test_png(fixture_path(path, "if-pm/test/c/z.png"), 0, 4, 4, 3);
    expect_pair_error(root, fixture_path(path, "if-pm/test"));

    make_pair(root, "if-pn");
    write_test_png(fixture_path(path, "if-pn/train/c/z.png"), 0, 4, 4, 3);
    expect_pair_error(root, fixture_path(path, "if-pn/test"));

    make_pair(root, "if-ps");
    write_test_png(fixture_path(path, "if-ps/test/b/z.png"), 0, 4, 5, 3);
    expect_pair_error(root, path);

    make_pair(root, "if-pg");
    write_test_png(fixture_path(path, "if-pg/test/a/x.png"), 0, 4, 4, 1);
    expect_pair_error(root, path);

    /* Train errors surface through the pair loader as well. */
    fixture_path(root, "if-pt");
    write_test_png(fixture_path(path, "if-pt/test/a/x.png"), 0, 4, 4, 1);
    expect_pair_error(root, fixture_path(path, "if-pt/train"));
}
END_TEST

static void expect_folder_error(const char *root, const char *path, const char *msg_part)
{
    Dataset d;
    BsError err = {0};
    expect_user_error(imagefolder_load(&d, root, "train", &err), &err, &d, path);
    ck_assert_msg(strstr(err.msg, msg_part) != NULL, "message \"%s\" lacks \"%s\"", err.msg,
                  msg_part);
}

START_TEST(imagefolder_structure_errors)
{
    char root[P], path[P];
    mkdirs(fixture_path(root, "if-nosplit"));
    expect_folder_error(root, fixture_path(path, "if-nosplit/train"), "cannot open");

    mkdirs(fixture_path(path, "if-noclass/train"));
    write_bytes(fixture_path(path, "if-noclass/train/file.png"), "x", 1);
    expect_folder_error(fixture_path(root, "if-noclass"), fixture_path(path, "if-noclass/train"),
                        "no class folders");

    write_test_png(fixture_path(path, "if-emptyclass/train/a/1.png"), 0, 4, 4, 3);
    write_bytes(fixture_path(path, "if-emptyclass/train/b/1.txt"), "x", 1);
    expect_folder_error(fixture_path(root, "if-emptyclass"),
                        fixture_path(path, "if-emptyclass/train/b"), "no .png");
}
END_TEST

START_TEST(imagefolder_bad_images)
{
    char root[P], path[P];
    fixture_path(root, "if-size");
    write_test_png(fixture_path(path, "if-size/train/a/1.png"), 0, 5, 4, 3);
    write_test_png(fixture_path(path, "if-size/train/b/1.png"), 1, 6, 4, 3);
    expect_folder_error(root, path, "expected 5x4");

    fixture_path(root, "if-chan");
    write_test_png(fixture_path(path, "if-chan/train/a/1.png"), 0, 5, 4, 3);
    write_test_png(fixture_path(path, "if-chan/train/a/2.png"), 1, 5, 4, 1);
    expect_folder_error(root, path, "channel");

    fixture_path(root, "if-garbage");
    write_test_png(fixture_path(path, "if-garbage/train/a/1.png"), 0, 5, 4, 3);
    write_bytes(fixture_path(path, "if-garbage/train/a/2.png"), "this is not a PNG file", 22);
    expect_folder_error(root, path, "PNG");

    /* The header is intact, the image data is cut off. */
    fixture_path(root, "if-cut");
    write_test_png(fixture_path(path, "if-cut/train/a/1.png"), 0, 40, 40, 3);
    write_test_png(fixture_path(path, "if-cut/train/a/2.png"), 1, 40, 40, 3);
    truncate_to(path, file_size(path) / 2);
    expect_folder_error(root, path, "PNG");

    /* An iTXt chunk after IHDR whose length field claims 2 GB (fuzz finding
     * 6: libpng allocated the claim before reading the chunk). */
    fixture_path(root, "if-claim");
    write_test_png(fixture_path(path, "if-claim/train/a/1.png"), 0, 5, 4, 3);
    write_test_png(fixture_path(path, "if-claim/train/a/2.png"), 1, 5, 4, 3);
    long size = file_size(path);
    uint8_t *png = malloc((size_t)size + 20);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(png);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq((long)fread(png, 1, (size_t)size, f), size);
    fclose(f);
    static const uint8_t claim[20] = {0x78, 0x9c, 0x00, 0x10, 'i', 'T', 'X', 't', 'a', 'b',
                                      'c',  0,    0,    0,    0,   0,   0,   0,   0,   0};
    memmove(png + 33 + 20, png + 33, (size_t)size - 33); /* after the signature and IHDR */
    memcpy(png + 33, claim, 20);
    write_bytes(path, png, (size_t)size + 20);
    free(png);
    expect_folder_error(root, path, "runs past the end of the file");
}
END_TEST

/* ---- the real Fashion-MNIST, when Debian's package is installed ---- */

static void check_fashion(const char *prefix, int n)
{
    Dataset d;
    BsError err = {0};
    ck_assert_msg(idx_load(&d, FASHION_DIR, prefix, &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(d.n, n);
    ck_assert_int_eq(d.c, 1);
    ck_assert_int_eq(d.h, 28);
    ck_assert_int_eq(d.w, 28);
    ck_assert_int_eq(d.num_classes, 10);
    int count[10] = {0};
    for (int i = 0; i < d.n; i++) {
        ck_assert(d.labels[i] >= 0 && d.labels[i] < 10);
        count[d.labels[i]]++;
    }
    for (int k = 0; k < 10; k++) /* the set is balanced */
        ck_assert_int_eq(count[k], n / 10);
    dataset_free(&d);
}

START_TEST(fashion_mnist_real)
{
    struct stat st;
    if (stat(FASHION_DIR, &st) != 0) {
        printf("loaders: %s not found (Debian package dataset-fashion-mnist); skipped\n",
               FASHION_DIR);
        return;
    }
    check_fashion("train", 60000);
    check_fashion("t10k", 10000);
}
END_TEST

Suite *loaders_suite(void)
{
    Suite *s = suite_create("loaders");
    TCase *tc = tcase_create("cifar");
    tcase_add_unchecked_fixture(tc, make_root, remove_root);
    tcase_add_test(tc, cifar10_reads_back);
    tcase_add_test(tc, cifar100_keeps_fine_label);
    tcase_add_test(tc, cifar10_missing_truncated_empty);
    tcase_add_test(tc, cifar_label_out_of_range);
    suite_add_tcase(s, tc);

    tc = tcase_create("idx");
    tcase_add_unchecked_fixture(tc, make_root, remove_root);
    tcase_add_test(tc, idx_plain_and_gz_read_back);
    tcase_add_test(tc, idx_malformed);
    tcase_add_test(tc, idx_missing_empty_and_cut_gzip);
    suite_add_tcase(s, tc);

    tc = tcase_create("imagefolder");
    tcase_add_unchecked_fixture(tc, make_root, remove_root);
    tcase_add_test(tc, imagefolder_rgb_sorted);
    tcase_add_test(tc, imagefolder_gray);
    tcase_add_test(tc, imagefolder_pair);
    tcase_add_test(tc, imagefolder_pair_mismatch);
    tcase_add_test(tc, imagefolder_structure_errors);
    tcase_add_test(tc, imagefolder_bad_images);
    suite_add_tcase(s, tc);

    tc = tcase_create("fashion_mnist");
    tcase_set_timeout(tc, 120); /* 70k images, inflated; slow under sanitizers */
    tcase_add_test(tc, fashion_mnist_real);
    suite_add_tcase(s, tc);
    return s;
}
