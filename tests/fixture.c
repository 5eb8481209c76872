#include "fixture.h"

#include <check.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE_VERSION 1u
#define FIXTURE_MAX_COUNT 4096u
#define FIXTURE_MAX_FILE (64u << 20)

const char *fixture_dir(void)
{
    const char *d = getenv("BN_FIXTURES");
    return d && *d ? d : "tests/fixtures";
}

/* Bounds-checked little-endian cursor over the file contents. */
typedef struct {
    const unsigned char *p;
    size_t len, pos;
} Cursor;

static int take(Cursor *c, size_t n, const unsigned char **out)
{
    if (c->len - c->pos < n)
        return 0;
    *out = c->p + c->pos;
    c->pos += n;
    return 1;
}

static int take_u32(Cursor *c, uint32_t *v)
{
    const unsigned char *b;
    if (!take(c, 4, &b))
        return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static unsigned char *read_all(const char *path, size_t *len, BsError *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        bs_fail(err, BS_ERR_USER,
                "cannot open fixture %s: %s (run from the repo root, set BN_FIXTURES, "
                "or regenerate with `make fixtures`)",
                path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0)
        size = ftell(fp);
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        bs_fail(err, BS_ERR_USER, "fixture %s: cannot determine its size", path);
        fclose(fp);
        return NULL;
    }
    if ((unsigned long)size > FIXTURE_MAX_FILE) {
        bs_fail(err, BS_ERR_USER, "fixture %s: larger than %u bytes", path, FIXTURE_MAX_FILE);
        fclose(fp);
        return NULL;
    }
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        bs_fail(err, BS_ERR_RUNTIME, "fixture %s: out of memory", path);
        fclose(fp);
        return NULL;
    }
    size_t got = fread(buf, 1, (size_t)size, fp);
    fclose(fp);
    if (got != (size_t)size) {
        bs_fail(err, BS_ERR_USER, "fixture %s: read %zu of %ld bytes", path, got, size);
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

static int parse(Fixture *f, const unsigned char *buf, size_t len, BsError *err)
{
    Cursor c = {buf, len, 0};
    const unsigned char *b;
    uint32_t version, count;
    if (!take(&c, 4, &b) || memcmp(b, "BNFX", 4) != 0)
        return bs_fail(err, BS_ERR_USER, "fixture %s: not a BNFX file (bad magic)", f->path);
    if (!take_u32(&c, &version) || !take_u32(&c, &count))
        return bs_fail(err, BS_ERR_USER, "fixture %s: truncated header", f->path);
    if (version != FIXTURE_VERSION)
        return bs_fail(err, BS_ERR_USER, "fixture %s: version %u, this reader knows %u",
                       f->path, version, FIXTURE_VERSION);
    if (count > FIXTURE_MAX_COUNT)
        return bs_fail(err, BS_ERR_USER, "fixture %s: implausible tensor count %u", f->path,
                       count);
    f->t = calloc(count ? count : 1, sizeof *f->t);
    if (!f->t)
        return bs_fail(err, BS_ERR_RUNTIME, "fixture %s: out of memory", f->path);
    for (uint32_t i = 0; i < count; i++) {
        FixtureTensor *t = &f->t[i];
        uint32_t name_len, ndim;
        if (!take_u32(&c, &name_len) || name_len == 0 || name_len >= sizeof t->name ||
            !take(&c, name_len, &b))
            return bs_fail(err, BS_ERR_USER, "fixture %s: bad or truncated name of tensor %u",
                           f->path, i);
        memcpy(t->name, b, name_len);
        t->name[name_len] = '\0';
        if (strlen(t->name) != name_len)
            return bs_fail(err, BS_ERR_USER, "fixture %s: NUL in name of tensor %u", f->path, i);
        if (!take_u32(&c, &ndim) || ndim > FIXTURE_MAX_DIMS)
            return bs_fail(err, BS_ERR_USER, "fixture %s: tensor '%s': bad or truncated ndim",
                           f->path, t->name);
        t->ndim = (int)ndim;
        size_t n = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t u;
            if (!take_u32(&c, &u))
                return bs_fail(err, BS_ERR_USER, "fixture %s: tensor '%s': truncated dims",
                               f->path, t->name);
            if (u > INT32_MAX)
                return bs_fail(err, BS_ERR_USER, "fixture %s: tensor '%s': negative dim",
                               f->path, t->name);
            if (u != 0 && n > (len / 4) / u)
                return bs_fail(err, BS_ERR_USER, "fixture %s: tensor '%s': larger than the file",
                               f->path, t->name);
            t->dims[d] = (int)u;
            n *= u;
        }
        t->n = n;
        if (!take(&c, n * 4, &b))
            return bs_fail(err, BS_ERR_USER,
                           "fixture %s: tensor '%s': truncated data (%zu floats expected)",
                           f->path, t->name, n);
        t->data = malloc(n ? n * sizeof(float) : 1);
        if (!t->data)
            return bs_fail(err, BS_ERR_RUNTIME, "fixture %s: out of memory", f->path);
        f->count = (int)i + 1;
        for (size_t k = 0; k < n; k++) {
            const unsigned char *q = b + 4 * k;
            uint32_t u = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                         (uint32_t)q[3] << 24;
            memcpy(&t->data[k], &u, sizeof u);
        }
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(f->t[j].name, t->name) == 0)
                return bs_fail(err, BS_ERR_USER, "fixture %s: duplicate tensor '%s'", f->path,
                               t->name);
    }
    if (c.pos != len)
        return bs_fail(err, BS_ERR_USER, "fixture %s: %zu trailing bytes", f->path,
                       len - c.pos);
    return BS_OK;
}

Fixture *fixture_load_path(const char *path, BsError *err)
{
    Fixture *f = calloc(1, sizeof *f);
    if (!f) {
        bs_fail(err, BS_ERR_RUNTIME, "fixture %s: out of memory", path);
        return NULL;
    }
    if (strlen(path) >= sizeof f->path) {
        bs_fail(err, BS_ERR_USER, "fixture path too long: %s", path);
        free(f);
        return NULL;
    }
    strcpy(f->path, path);
    size_t len = 0;
    unsigned char *buf = read_all(f->path, &len, err);
    if (!buf) {
        free(f);
        return NULL;
    }
    int rc = parse(f, buf, len, err);
    free(buf);
    if (rc != BS_OK) {
        fixture_free(f);
        return NULL;
    }
    return f;
}

Fixture *fixture_load(const char *file, BsError *err)
{
    char path[1024];
    int w = snprintf(path, sizeof path, "%s/%s", fixture_dir(), file);
    if (w < 0 || (size_t)w >= sizeof path) {
        bs_fail(err, BS_ERR_USER, "fixture path too long: %s/%s", fixture_dir(), file);
        return NULL;
    }
    return fixture_load_path(path, err);
}

const FixtureTensor *fixture_find(const Fixture *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

const float *fixture_get(const Fixture *f, const char *name, size_t expect_n, BsError *err)
{
    const FixtureTensor *t = fixture_find(f, name);
    if (!t) {
        bs_fail(err, BS_ERR_USER, "fixture %s: no tensor '%s'", f->path, name);
        return NULL;
    }
    if (expect_n != 0 && t->n != expect_n) {
        bs_fail(err, BS_ERR_USER, "fixture %s: tensor '%s' has %zu elements, expected %zu",
                f->path, name, t->n, expect_n);
        return NULL;
    }
    return t->data;
}

void fixture_free(Fixture *f)
{
    if (!f)
        return;
    if (f->t)
        for (int i = 0; i < f->count; i++)
            free(f->t[i].data);
    free(f->t);
    free(f);
}

Fixture *fixture_case_load(const char *name)
{
    char file[256];
    snprintf(file, sizeof file, "%s.bnfx", name);
    BsError err = {0};
    Fixture *f = fixture_load(file, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    return f;
}

void fixture_check(Fixture *f, const BsError *err)
{
    if (err->code != BS_OK) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        fixture_free(f);
        ck_abort_msg("%s", msg);
    }
}
