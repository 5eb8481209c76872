#include "state_dict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add(StateEntry *e, int *n, const char *op, const char *what, float *data, int ndim, const int64_t *shape)
{
    StateEntry *s = &e[(*n)++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s.%s", op, what);
    s->data = data;
    s->ndim = ndim;
    memcpy(s->shape, shape, sizeof(int64_t) * (size_t)ndim);
    s->optional = data == NULL;
}

/* The shape of an op's weights in PyTorch's layout. */
static int weight_shape(const Op *op, int64_t *shape)
{
    if (op->kind == OP_CONV) {
        const Conv2d *c = &op->u.conv;
        shape[0] = c->out_c, shape[1] = c->in_c / c->groups, shape[2] = c->kh, shape[3] = c->kw;
        return 4;
    }
    if (op->kind == OP_LINEAR) {
        shape[0] = op->u.lin.out_f, shape[1] = op->u.lin.in_f;
        return 2;
    }
    shape[0] = (int64_t)op->n_w; /* norms: one per channel */
    return 1;
}

int state_dict_entries(const Model *m, StateEntry **out, int *n, BsError *err)
{
    StateEntry *e = calloc((size_t)m->n_ops * 5 + 1, sizeof *e);
    if (!e)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    int k = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const Op *op = &m->ops[i];
        int64_t shape[ST_MAX_DIMS];
        if (op->n_w) {
            for (int j = 0; j < i; j++)
                if (m->ops[j].n_w + m->ops[j].n_b && !strcmp(m->ops[j].name, op->name)) {
                    free(e);
                    return bs_fail(err, BS_ERR_USER, "two layers are called '%s': their tensors would share names",
                                   op->name);
                }
            add(e, &k, op->name, "weight", m->params + op->w_off, weight_shape(op, shape), shape);
        }
        if (op->n_b) {
            shape[0] = (int64_t)op->n_b;
            add(e, &k, op->name, "bias", m->params + op->b_off, 1, shape);
        }
        if (op->kind == OP_BN) {
            shape[0] = op->u.bn.C;
            add(e, &k, op->name, "running_mean", m->stats + op->stat_off, 1, shape);
            add(e, &k, op->name, "running_var", m->stats + op->stat_off + op->u.bn.C, 1, shape);
            add(e, &k, op->name, "num_batches_tracked", NULL, 0, shape);
        }
    }
    *out = e;
    *n = k;
    return BS_OK;
}

int state_dict_save(const char *path, const Model *m, int64_t num_batches, const char *const *meta_keys,
                    const char *const *meta_values, int n_meta, BsError *err)
{
    StateEntry *e;
    int n;
    if (state_dict_entries(m, &e, &n, err))
        return err->code;
    StTensor *t = calloc((size_t)n + 1, sizeof *t);
    if (!t) {
        free(e);
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        t[i] = (StTensor){.name = e[i].name, .dtype = e[i].data ? "F32" : "I64", .ndim = e[i].ndim,
                          .data = e[i].data ? (const void *)e[i].data : (const void *)&num_batches};
        memcpy(t[i].shape, e[i].shape, sizeof t[i].shape);
    }
    st_write(path, t, n, meta_keys, meta_values, n_meta, err);
    free(t);
    free(e);
    return err->code;
}

/* Whether entry f of the file fits model entry s (else err names why). */
static int check_entry(const char *path, const StateEntry *s, const StEntry *f, const StFile *file, BsError *err)
{
    const char *want = s->data ? "F32" : "I64";
    if (strcmp(f->dtype, want))
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' is %s, expected %s", path, s->name, f->dtype, want);
    int same = f->ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++)
        same = f->shape[d] == s->shape[d];
    if (!same) {
        char got[96], need[96];
        st_shape_text(f->shape, f->ndim, got, sizeof got);
        st_shape_text(s->shape, s->ndim, need, sizeof need);
        return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' has shape %s, this model's is %s", path, s->name, got, need);
    }
    if (s->data) {
        const unsigned char *p = file->data + f->begin;
        const size_t len = strlen(s->name), tail = strlen(".running_var");
        const int variance = len > tail && !strcmp(s->name + len - tail, ".running_var");
        for (int64_t i = 0; i < st_numel(f); i++) {
            float v;
            memcpy(&v, p + 4 * i, 4);
            if (!isfinite(v))
                return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' holds NaN or infinite values", path, s->name);
            if (variance && v < 0)
                return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' holds a negative variance (%g)", path, s->name, v);
        }
    }
    return BS_OK;
}

static int match_all(const char *path, const StFile *f, const StateEntry *e, int n, BsError *err)
{
    for (int i = 0; i < n; i++) {
        const StEntry *fe = st_find(f, e[i].name);
        if (!fe && !e[i].optional)
            return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' missing (the names: bnshift info CONFIG, REFERENCE.md "
                           "export)", path, e[i].name);
        if (fe && check_entry(path, &e[i], fe, f, err))
            return err->code;
    }
    for (int j = 0; j < f->n; j++) {
        int known = 0;
        for (int i = 0; i < n && !known; i++)
            known = !strcmp(e[i].name, f->entries[j].name);
        if (!known)
            return bs_fail(err, BS_ERR_USER, "%s: tensor '%s' is not a tensor of this model", path, f->entries[j].name);
    }
    return BS_OK;
}

int state_dict_load(const char *path, Model *m, BsError *err)
{
    int epoch;
    return state_dict_load_epoch(path, m, &epoch, err);
}

int state_dict_load_epoch(const char *path, Model *m, int *epoch, BsError *err)
{
    StFile f;
    if (st_read(path, &f, err))
        return err->code;
    const char *meta = st_meta(&f, "epoch");
    char *end = NULL;
    long v = meta ? strtol(meta, &end, 10) : -1;
    *epoch = meta && end != meta && !*end && v >= 0 && v < 1000000000 ? (int)v : -1;
    StateEntry *e;
    int n;
    if (state_dict_entries(m, &e, &n, err) == BS_OK) {
        if (match_all(path, &f, e, n, err) == BS_OK)
            for (int i = 0; i < n; i++) {
                const StEntry *fe = st_find(&f, e[i].name);
                if (e[i].data)
                    memcpy(e[i].data, f.data + fe->begin, fe->end - fe->begin);
            }
        free(e);
    }
    st_free(&f);
    return err->code;
}
