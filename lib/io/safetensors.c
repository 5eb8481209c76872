#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "io/fsutil.h"

/* A header larger than this is not a weights file (safetensors' own limit
 * is 100 MB). */
#define ST_HEADER_MAX ((uint64_t)100 << 20)

size_t st_dtype_size(const char *d)
{
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
                 {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!strcmp(d, sizes[i].name))
            return sizes[i].size;
    return 0;
}

int64_t st_numel(const StEntry *e)
{
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++)
        n *= e->shape[i];
    return n;
}

void st_shape_text(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap)
        snprintf(buf + k, cap - k, "]");
}

void st_free(StFile *f)
{
    free(f->bytes);
    free(f->entries);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
}

const StEntry *st_find(const StFile *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name))
            return &f->entries[i];
    return NULL;
}

const char *st_meta(const StFile *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_values[i];
    return NULL;
}

/* A weights file is read whole; larger than this it is not one bnshift's
 * models could use. */
#define ST_FILE_MAX ((size_t)1 << 36)

static int read_all(const char *path, StFile *f, BsError *err)
{
    char *bytes;
    if (fs_read_all(path, ST_FILE_MAX, &bytes, &f->size) != 0)
        return bs_fail(err, errno == ENOMEM ? BS_ERR_RUNTIME : BS_ERR_USER, "%s: cannot open: %s", path,
                       strerror(errno));
    f->bytes = (unsigned char *)bytes;
    return BS_OK;
}

static int parse_meta(const char *path, const cJSON *meta, StFile *f, BsError *err)
{
    if (!cJSON_IsObject(meta))
        return bs_fail(err, BS_ERR_USER, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(meta);
    f->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    f->meta_values = calloc((size_t)n + 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return bs_fail(err, BS_ERR_USER, "%s: __metadata__ value of '%s' is not a string", path, kv->string);
        f->meta_keys[f->n_meta] = strdup(kv->string);
        f->meta_values[f->n_meta] = strdup(kv->valuestring);
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta])
            return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
        f->n_meta++;
    }
    return BS_OK;
}

/* A non-negative integer JSON number that fits int64 exactly. */
static int whole(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (int64_t)v->valuedouble;
    return 1;
}

static int parse_entry(const char *path, const cJSON *j, const StFile *f, StEntry *e, BsError *err)
{
    if (strlen(j->string) >= ST_NAME_MAX)
        return bs_fail(err, BS_ERR_USER, "%s: a tensor name of %zu characters (at most %d)", path,
                       strlen(j->string), ST_NAME_MAX - 1);
    snprintf(e->name, sizeof e->name, "%s", j->string);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(j, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(j, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
    if (!cJSON_IsObject(j) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s': expected {\"dtype\", \"shape\", \"data_offsets\": "
                       "[begin, end]}", path, e->name);
    if (!st_dtype_size(dtype->valuestring) || strlen(dtype->valuestring) >= sizeof e->dtype)
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s': unknown dtype '%s'", path, e->name, dtype->valuestring);
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype->valuestring);
    e->ndim = cJSON_GetArraySize(shape);
    if (e->ndim > ST_MAX_DIMS)
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' has %d dimensions (at most %d)", path, e->name, e->ndim,
                       ST_MAX_DIMS);
    double numel = 1;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        if (!whole(d, &e->shape[i]))
            return bs_fail(err, BS_ERR_USER, "%s: tensor '%s': shape holds a value that is not a whole number >= 0",
                           path, e->name);
        numel *= (double)e->shape[i];
    }
    int64_t b, en;
    if (!whole(cJSON_GetArrayItem(offs, 0), &b) || !whole(cJSON_GetArrayItem(offs, 1), &en) || en < b ||
        (uint64_t)en > f->data_size)
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s': data_offsets outside the %zu data bytes (truncated file?)",
                       path, e->name, f->data_size);
    if ((double)(en - b) != numel * (double)st_dtype_size(e->dtype))
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s': %lld bytes for %.0f %s values", path, e->name,
                       (long long)(en - b), numel, e->dtype);
    e->begin = (size_t)b;
    e->end = (size_t)en;
    return BS_OK;
}

static int by_begin(const void *a, const void *b)
{
    const StEntry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* No two tensors share a byte (checked on a sorted copy). */
static int check_overlaps(const char *path, const StFile *f, BsError *err)
{
    StEntry *s = malloc(sizeof(StEntry) * (size_t)(f->n ? f->n : 1));
    if (!s)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    memcpy(s, f->entries, sizeof(StEntry) * (size_t)f->n);
    qsort(s, (size_t)f->n, sizeof *s, by_begin);
    int reach = -1; /* the entry reaching furthest so far */
    for (int i = 0; i < f->n; i++) {
        if (s[i].end == s[i].begin)
            continue; /* an empty tensor takes no bytes */
        if (reach >= 0 && s[i].begin < s[reach].end) {
            bs_fail(err, BS_ERR_USER, "%s: tensors '%s' and '%s' overlap in the data", path, s[reach].name, s[i].name);
            break;
        }
        if (reach < 0 || s[i].end > s[reach].end)
            reach = i;
    }
    free(s);
    return err->code;
}

static int parse_header(const char *path, StFile *f, BsError *err)
{
    if (f->size < 8)
        return bs_fail(err, BS_ERR_USER, "%s: not a safetensors file (%zu bytes, no header length)", path, f->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | f->bytes[i];
    if (n < 2 || n > ST_HEADER_MAX || n > f->size - 8)
        return bs_fail(err, BS_ERR_USER, "%s: header length %llu does not fit the %zu-byte file (not safetensors, or "
                       "truncated)", path, (unsigned long long)n, f->size);
    f->data = f->bytes + 8 + n;
    f->data_size = f->size - 8 - n;
    cJSON *root = cJSON_ParseWithLength((const char *)f->bytes + 8, (size_t)n);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bs_fail(err, BS_ERR_USER, "%s: the header is not a JSON object", path);
    }
    f->entries = calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(StEntry));
    if (!f->entries) {
        cJSON_Delete(root);
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    }
    for (const cJSON *j = root->child; j && err->code == BS_OK; j = j->next) {
        if (!strcmp(j->string, "__metadata__"))
            parse_meta(path, j, f, err);
        else if (parse_entry(path, j, f, &f->entries[f->n], err) == BS_OK) {
            if (st_find(f, j->string))
                bs_fail(err, BS_ERR_USER, "%s: tensor '%s' appears twice", path, j->string);
            f->n++;
        }
    }
    cJSON_Delete(root);
    if (err->code || check_overlaps(path, f, err))
        return err->code;
    size_t end = 0; /* the data must end where the last tensor does, as safetensors itself requires */
    for (int i = 0; i < f->n; i++)
        end = f->entries[i].end > end ? f->entries[i].end : end;
    if (end != f->data_size)
        return bs_fail(err, BS_ERR_USER, "%s: %zu bytes after the last tensor (a damaged or concatenated file)", path,
                       f->data_size - end);
    return BS_OK;
}

int st_read(const char *path, StFile *f, BsError *err)
{
    memset(f, 0, sizeof *f);
    if (read_all(path, f, err) == BS_OK)
        parse_header(path, f, err);
    if (err->code)
        st_free(f);
    return err->code;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes. */
static char *header_text(const StTensor *t, int n, const char *const *mk, const char *const *mv, int n_meta,
                         size_t *len)
{
    cJSON *root = cJSON_CreateObject();
    if (n_meta) {
        cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; i < n_meta; i++)
            cJSON_AddStringToObject(meta, mk[i], mv[i]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", t[i].dtype);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
            numel *= (size_t)t[i].shape[d];
        }
        const size_t bytes = numel * st_dtype_size(t[i].dtype);
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return NULL;
    size_t k = strlen(json), padded = (k + 7) / 8 * 8;
    char *out = realloc(json, padded + 1);
    if (!out) {
        free(json);
        return NULL;
    }
    memset(out + k, ' ', padded - k);
    out[padded] = '\0';
    *len = padded;
    return out;
}

int st_write(const char *path, const StTensor *t, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta, BsError *err)
{
    size_t hlen = 0;
    char *header = header_text(t, n, meta_keys, meta_values, n_meta, &hlen);
    if (!header)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    AtomicFile af = {0};
    if (fs_atomic_open(&af, path, err)) {
        free(header);
        return err->code;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, af.f) == 8 && fwrite(header, 1, hlen, af.f) == hlen;
    for (int i = 0; i < n && ok; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++)
            numel *= (size_t)t[i].shape[d];
        const size_t bytes = numel * st_dtype_size(t[i].dtype);
        ok = fwrite(t[i].data, 1, bytes, af.f) == bytes;
    }
    free(header);
    if (!ok) {
        int e = errno;
        fs_atomic_abort(&af);
        return bs_fail(err, BS_ERR_RUNTIME, "%s: writing failed: %s", path, strerror(e));
    }
    return fs_atomic_commit(&af, err);
}
