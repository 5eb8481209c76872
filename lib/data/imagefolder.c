#include "imagefolder.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/mem.h"

#define IF_PATH 4096
/* Per image; keeps a bogus header from asking for gigabytes per sample. */
#define IF_MAX_PIXELS ((size_t)8192 * 8192)

/* A growable list of owned strings. */
typedef struct {
    char **v;
    int n, cap;
} Names;

static void names_free(Names *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int names_push(Names *l, const char *s, BsError *err)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = l->cap < INT_MAX / 2 ? realloc(l->v, sizeof *v * (size_t)cap) : NULL;
        if (!v)
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory listing image files");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory listing image files");
    l->n++;
    return BS_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int join(char *buf, const char *dir, const char *name, BsError *err)
{
    int len = snprintf(buf, IF_PATH, "%s/%s", dir, name);
    if (len < 0 || len >= IF_PATH)
        return bs_fail(err, BS_ERR_USER, "%s/%s: path is too long", dir, name);
    return BS_OK;
}

static int is_png_name(const char *name)
{
    size_t len = strlen(name);
    return len > 4 && strcasecmp(name + len - 4, ".png") == 0;
}

/* The sorted names of the subdirectories (want_dirs) or the regular *.png
 * files of dir. stat, not d_type: some file systems report DT_UNKNOWN, and
 * symlinked class folders should count. */
static int list_dir(const char *dir, int want_dirs, Names *out, BsError *err)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return bs_fail(err, BS_ERR_USER, "%s: cannot open image folder: %s", dir, strerror(errno));
    char path[IF_PATH];
    for (;;) {
        errno = 0;
        const struct dirent *e = readdir(dp);
        if (!e) {
            if (errno)
                bs_fail(err, BS_ERR_USER, "%s: cannot list image folder: %s", dir, strerror(errno));
            break;
        }
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (join(path, dir, e->d_name, err) != BS_OK)
            break;
        if (stat(path, &st) != 0)
            continue; /* a dangling link is not an image */
        int keep = want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && is_png_name(e->d_name);
        if (keep && names_push(out, e->d_name, err) != BS_OK)
            break;
    }
    closedir(dp);
    if (out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_names);
    return err->code;
}

/* The image shape every file must have, and where it came from. */
typedef struct {
    int c, h, w;
    char from[IF_PATH];
} Shape;

static int channels_of(png_uint_32 format)
{
    return (format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
}

/* libpng allocates what an ancillary chunk's length field claims before it
 * reads the chunk (a 60-byte file asking for 2 GB for an iTXt), so every
 * chunk up to IEND must first be seen to fit in the file. Files that are
 * not PNG at all are left to libpng to name. */
static int chunks_fit(const char *path, BsError *err)
{
    static const unsigned char SIG[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    FILE *f = fopen(path, "rb");
    struct stat st;
    unsigned char h[8];
    if (!f)
        return BS_OK; /* libpng says why */
    if (fstat(fileno(f), &st) == 0 && fread(h, 1, 8, f) == 8 && memcmp(h, SIG, 8) == 0) {
        for (off_t pos = 8; fseeko(f, pos, SEEK_SET) == 0 && fread(h, 1, 8, f) == 8;) {
            off_t len = (off_t)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
            if (len > st.st_size - pos - 12) {
                bs_fail(err, BS_ERR_USER,
                        "%s: corrupt or truncated PNG (a chunk of %lld bytes at offset %lld runs "
                        "past the end of the file)",
                        path, (long long)len, (long long)pos);
                break;
            }
            if (memcmp(h + 4, "IEND", 4) == 0)
                break;
            pos += 12 + len;
        }
    }
    fclose(f);
    return err->code;
}

static int open_png(png_image *img, const char *path, BsError *err)
{
    memset(img, 0, sizeof *img);
    img->version = PNG_IMAGE_VERSION;
    if (chunks_fit(path, err) != BS_OK)
        return err->code;
    if (png_image_begin_read_from_file(img, path))
        return BS_OK;
    bs_fail(err, BS_ERR_USER, "%s: not a readable PNG file (libpng: %s)", path, img->message);
    png_image_free(img);
    return err->code;
}

/* The first image of the split sets the shape when no expectation is given. */
static int probe_shape(const char *path, Shape *shape, BsError *err)
{
    png_image img;
    if (open_png(&img, path, err) != BS_OK)
        return err->code;
    if ((size_t)img.width * img.height > IF_MAX_PIXELS)
        bs_fail(err, BS_ERR_USER, "%s: image of %ux%u is too large", path, img.width, img.height);
    shape->c = channels_of(img.format);
    shape->h = (int)img.height;
    shape->w = (int)img.width;
    snprintf(shape->from, sizeof shape->from, "%s", path);
    png_image_free(&img);
    return err->code;
}

/* Decodes one PNG as RGBA or gray+alpha (so that alpha is kept, never
 * composited) into tmp, then drops alpha while splitting into planes. */
static int read_png(const char *path, const Shape *shape, uint8_t *tmp, uint8_t *dst,
                    BsError *err)
{
    png_image img;
    if (open_png(&img, path, err) != BS_OK)
        return err->code;
    int c = channels_of(img.format);
    if ((int)img.width != shape->w || (int)img.height != shape->h || c != shape->c) {
        bs_fail(err, BS_ERR_USER,
                "%s: image is %ux%u with %d channel(s), expected %dx%d with %d channel(s) like %s",
                path, img.width, img.height, c, shape->w, shape->h, shape->c, shape->from);
        png_image_free(&img);
        return err->code;
    }
    img.format = c == 3 ? PNG_FORMAT_RGBA : PNG_FORMAT_GA;
    if (!png_image_finish_read(&img, NULL, tmp, 0, NULL)) {
        bs_fail(err, BS_ERR_USER, "%s: corrupt or truncated PNG (libpng: %s)", path, img.message);
        png_image_free(&img);
        return err->code;
    }
    const size_t plane = (size_t)shape->h * shape->w;
    const int stride = c + 1;
    for (int ch = 0; ch < c; ch++)
        for (size_t i = 0; i < plane; i++)
            dst[ch * plane + i] = tmp[i * stride + ch];
    return BS_OK;
}

/* Lists the PNGs of each class folder of dir: their full paths, class by
 * class, and the number of files per class. */
static int list_split(const char *dir, const Names *classes, Names *files, int *per_class,
                      BsError *err)
{
    char cdir[IF_PATH], path[IF_PATH];
    for (int k = 0; k < classes->n; k++) {
        Names pngs = {0};
        if (join(cdir, dir, classes->v[k], err) == BS_OK &&
            list_dir(cdir, 0, &pngs, err) == BS_OK && pngs.n == 0)
            bs_fail(err, BS_ERR_USER, "%s: class folder has no .png files (empty set)", cdir);
        for (int i = 0; i < pngs.n && err->code == BS_OK; i++)
            if (join(path, cdir, pngs.v[i], err) == BS_OK)
                names_push(files, path, err);
        per_class[k] = pngs.n;
        names_free(&pngs);
        if (err->code != BS_OK)
            return err->code;
    }
    return BS_OK;
}

static int same_classes(const char *dir, const Names *got, const Names *want,
                        const char *want_dir, BsError *err)
{
    for (int k = 0; k < got->n && k < want->n; k++)
        if (strcmp(got->v[k], want->v[k]) != 0)
            return bs_fail(err, BS_ERR_USER,
                           "%s: class folder %d is \"%s\" but in %s it is \"%s\" (class folders "
                           "must be the same)",
                           dir, k, got->v[k], want_dir, want->v[k]);
    if (got->n != want->n)
        return bs_fail(err, BS_ERR_USER, "%s: %d class folders, but %s has %d", dir, got->n,
                       want_dir, want->n);
    return BS_OK;
}

/* Decodes all files into d (already allocated for them). */
static int fill(Dataset *d, const Names *files, const int *per_class, const Shape *shape,
                BsError *err)
{
    uint8_t *tmp = bs_alloc((size_t)shape->h * shape->w * (shape->c + 1), err);
    if (!tmp)
        return err->code;
    const size_t sample = (size_t)d->c * d->h * d->w;
    for (int k = 0, i = 0; k < d->num_classes && err->code == BS_OK; k++)
        for (int j = 0; j < per_class[k] && err->code == BS_OK; j++, i++) {
            read_png(files->v[i], shape, tmp, d->pixels + (size_t)i * sample, err);
            d->labels[i] = k;
        }
    bs_free(tmp);
    return err->code;
}

/* One split. classes receives the class names. When want_classes is given
 * the class list must equal it, and when want_shape is, images must have it. */
static int load_split(Dataset *d, const char *root, const char *split, Names *classes,
                      const Names *want_classes, const char *want_dir, const Shape *want_shape,
                      BsError *err)
{
    char dir[IF_PATH];
    Names files = {0};
    int *per_class = NULL;
    Shape shape;
    memset(d, 0, sizeof *d);
    if (join(dir, root, split, err) != BS_OK || list_dir(dir, 1, classes, err) != BS_OK)
        return err->code;
    if (classes->n == 0)
        bs_fail(err, BS_ERR_USER, "%s: no class folders (expected %s/CLASS/*.png)", dir, dir);
    else if (want_classes)
        same_classes(dir, classes, want_classes, want_dir, err);
    if (err->code == BS_OK && (per_class = calloc((size_t)classes->n, sizeof *per_class)) == NULL)
        bs_fail(err, BS_ERR_RUNTIME, "out of memory listing image files");
    if (err->code == BS_OK && list_split(dir, classes, &files, per_class, err) == BS_OK) {
        if (want_shape)
            shape = *want_shape;
        if (want_shape || probe_shape(files.v[0], &shape, err) == BS_OK)
            if (dataset_alloc(d, files.n, shape.c, shape.h, shape.w, classes->n, err) == BS_OK)
                fill(d, &files, per_class, &shape, err);
    }
    free(per_class);
    names_free(&files);
    if (err->code != BS_OK)
        dataset_free(d);
    return err->code;
}

int imagefolder_load(Dataset *d, const char *root, const char *split, BsError *err)
{
    Names classes = {0};
    load_split(d, root, split, &classes, NULL, NULL, NULL, err);
    names_free(&classes);
    return err->code;
}

int imagefolder_load_pair(Dataset *train, Dataset *test, const char *root, BsError *err)
{
    Names train_classes = {0}, test_classes = {0};
    Shape shape;
    memset(test, 0, sizeof *test);
    if (load_split(train, root, "train", &train_classes, NULL, NULL, NULL, err) == BS_OK) {
        shape.c = train->c;
        shape.h = train->h;
        shape.w = train->w;
        snprintf(shape.from, sizeof shape.from, "the images of %s/train", root);
        char train_dir[IF_PATH];
        snprintf(train_dir, sizeof train_dir, "%s/train", root);
        load_split(test, root, "test", &test_classes, &train_classes, train_dir, &shape, err);
    }
    names_free(&train_classes);
    names_free(&test_classes);
    if (err->code != BS_OK) {
        dataset_free(train);
        dataset_free(test);
    }
    return err->code;
}
