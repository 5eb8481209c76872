#include "setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "run/checkpoint.h"
#include "data/cifar.h"
#include "data/corrupt.h"
#include "data/idx.h"
#include "data/imagefolder.h"
#include "data/synthetic.h"

/* Distinct streams from one seed: init, data selection, training, and one
 * per evaluation set. */
#define SELECT_STREAM 0x5e1ec7ULL
#define EVAL_STREAM 0xe7a15e7ULL

/* The stream that draws the evaluation subset of the set called name: seeded
 * by the seed and the name alone, so runs that differ only in train_subset
 * or train_from are scored on the very same images. */
static void eval_stream(Rng *r, int seed, const char *name)
{
    rng_seed(r, ((uint64_t)seed ^ EVAL_STREAM) + rng_hash_string(name));
}

static int load_sources(const Config *c, ExperimentData *x, BsError *err)
{
    const char *root = config_data_root(c);
    switch (c->data.dataset) {
    case DS_CIFAR10:
    case DS_CIFAR100: {
        int c100 = c->data.dataset == DS_CIFAR100;
        if (cifar_load(&x->train_src, root, c100, 1, err) == BS_OK)
            cifar_load(&x->test_src, root, c100, 0, err);
        break;
    }
    case DS_FASHION_MNIST:
    case DS_MNIST:
        if (idx_load(&x->train_src, root, "train", err) == BS_OK)
            idx_load(&x->test_src, root, "t10k", err);
        break;
    case DS_IMAGEFOLDER:
        imagefolder_load_pair(&x->train_src, &x->test_src, root, err);
        break;
    case DS_SYNTHETIC: {
        /* One generated set split in two, so both halves share the classes. */
        Dataset all;
        const int nt = c->data.synthetic.train, ne = c->data.synthetic.test;
        if (synthetic_make(&all, nt + ne, c->data.synthetic.channels, c->data.synthetic.size,
                           c->data.synthetic.size, c->data.synthetic.classes,
                           (float)c->data.synthetic.noise, (uint64_t)c->seed, err) == BS_OK) {
            if (dataset_slice(&all, 0, nt, &x->train_src, err) == BS_OK)
                dataset_slice(&all, nt, ne, &x->test_src, err);
            dataset_free(&all);
        }
        break;
    }
    }
    return err->code;
}

/* data.corruption: corrupts the sets apply_to names. Each split is
 * corrupted with a stream of its own name, so an image gets the same
 * corruption whichever role it plays; a split that S and S' share while
 * only one of them is to be corrupted is copied first (the copy serves that
 * role). Runs after the selection of S: indices stay valid. */
int setup_corrupts(const Config *c, int role)
{
    const CorruptApply a = c->data.corruption.apply_to;
    return c->data.corruption.type != CORRUPT_NONE && (role ? a != CORRUPT_TRAIN : a != CORRUPT_TEST);
}

static int apply_corruption(const Config *c, ExperimentData *x, BsError *err)
{
    const CorruptionType t = c->data.corruption.type;
    if (t == CORRUPT_NONE)
        return BS_OK;
    const int want[2] = {setup_corrupts(c, 0), setup_corrupts(c, 1)}; /* S, S' */
    const int shared = x->src[0] == x->src[1];
    int done = 0; /* a shared split corrupted once serves both */
    for (int role = 0; role < 2 && !done; role++) {
        if (!want[role])
            continue;
        Dataset *d = (Dataset *)x->src[role];
        const char *split = d == &x->test_src ? "test" : "train";
        if (shared && !want[1 - role]) { /* the other role keeps the clean split */
            if (dataset_slice(d, 0, d->n, &x->corrupted[role], err) != BS_OK)
                return err->code;
            d = &x->corrupted[role];
            x->src[role] = d;
        }
        done = shared && want[1 - role];
        if (corrupt_dataset(d, t, c->data.corruption.severity, (uint64_t)c->seed + rng_hash_string(split), err))
            return err->code;
    }
    return BS_OK;
}

static int *identity(int n, BsError *err)
{
    int *idx = bs_alloc(sizeof(int) * (size_t)(n ? n : 1), err);
    for (int i = 0; idx && i < n; i++)
        idx[i] = i;
    return idx;
}

int setup_data(const Config *c, ExperimentData *x, BsError *err)
{
    memset(x, 0, sizeof *x);
    if (load_sources(c, x, err))
        return err->code;
    x->src[0] = c->data.train_from == FROM_TEST ? &x->test_src : &x->train_src;
    const Dataset *s = x->src[0];
    if (s->c > 64)
        return bs_fail(err, BS_ERR_USER, "%s: images have %d channels, at most 64 supported",
                       config_data_root(c), s->c);
    int k = c->data.train_subset;
    if (k > s->n)
        return bs_fail(err, BS_ERR_USER, "data.train_subset: %d is larger than the %d samples of the %s set",
                       k, s->n, c->data.train_from == FROM_TEST ? "test" : "train");
    Rng r;
    rng_seed(&r, (uint64_t)c->seed ^ SELECT_STREAM);
    x->train_idx = identity(s->n, err);
    if (!x->train_idx)
        return err->code;
    if (k > 0) /* k samples drawn without replacement: the first k of a seeded shuffle */
        rng_shuffle(&r, x->train_idx, s->n);
    x->n_train = k > 0 ? k : s->n;
    if (x->n_train < c->train.batch_size)
        return bs_fail(err, BS_ERR_USER, "train.batch_size: %d is larger than the %d training samples",
                       c->train.batch_size, x->n_train);
    /* "train" evaluates S itself; "test" is S' (S again when test_from is train). */
    x->src[1] = c->data.test_from == FROM_TRAIN ? x->src[0] : &x->test_src;
    for (int which = 0; which < 2; which++) {
        int same_as_s = which == 0 || c->data.test_from == FROM_TRAIN;
        int n = same_as_s ? x->n_train : x->test_src.n;
        int *idx = bs_alloc(sizeof(int) * (size_t)(n ? n : 1), err);
        if (!idx)
            return err->code;
        if (which == 1 && same_as_s) { /* S' = S: the very samples "train" evaluates */
            memcpy(idx, x->eval_idx[0], sizeof(int) * (size_t)x->n_eval[0]);
            x->eval_idx[1] = idx;
            x->n_eval[1] = x->n_eval[0];
            continue;
        }
        if (same_as_s)
            memcpy(idx, x->train_idx, sizeof(int) * (size_t)n);
        else
            for (int i = 0; i < n; i++)
                idx[i] = i;
        if (c->data.eval_subset > 0 && c->data.eval_subset < n) {
            Rng er;
            eval_stream(&er, c->seed, which == 0 ? "train" : "test");
            rng_shuffle(&er, idx, n); /* a seeded sample, not the first k */
            n = c->data.eval_subset;
        }
        x->eval_idx[which] = idx;
        x->n_eval[which] = n;
    }
    if (x->test_src.c != s->c || x->test_src.h != s->h || x->test_src.w != s->w)
        return bs_fail(err, BS_ERR_USER, "%s: train and test images differ in shape", config_data_root(c));
    if (apply_corruption(c, x, err))
        return err->code;
    s = x->src[0];
    x->normalize = c->data.normalize;
    if (x->normalize)
        dataset_channel_stats_of(s, x->train_idx, x->n_train, x->mean, x->std);
    return BS_OK;
}

void setup_data_free(ExperimentData *x)
{
    dataset_free(&x->train_src);
    dataset_free(&x->test_src);
    dataset_free(&x->corrupted[0]);
    dataset_free(&x->corrupted[1]);
    bs_free(x->train_idx);
    bs_free(x->eval_idx[0]);
    bs_free(x->eval_idx[1]);
    memset(x, 0, sizeof *x);
}

SampleSet setup_eval_set(const ExperimentData *x, int which)
{
    return (SampleSet){x->src[which], x->eval_idx[which], x->n_eval[which],
                       x->normalize ? x->mean : NULL, x->normalize ? x->std : NULL, 0, NULL};
}

ModelSpec setup_model_spec(const Config *c, int in_c, int in_h, int in_w, int num_classes)
{
    ModelSpec s = c->model;
    s.in_c = in_c;
    s.in_h = in_h;
    s.in_w = in_w;
    s.num_classes = c->model.num_classes ? c->model.num_classes : num_classes;
    s.bn_eps = (float)c->train.bn_eps;
    s.bn_momentum = (float)c->train.bn_momentum;
    return s;
}

int setup_model(const Config *c, const ExperimentData *x, int max_batch, Model *m, BsError *err)
{
    const Dataset *d = x->src[0];
    if (c->model.num_classes && c->model.num_classes < d->num_classes)
        return bs_fail(err, BS_ERR_USER, "model.num_classes: %d, but the data has %d classes",
                       c->model.num_classes, d->num_classes);
    ModelSpec s = setup_model_spec(c, d->c, d->h, d->w, d->num_classes);
    Rng r;
    rng_seed(&r, (uint64_t)c->seed);
    int rc = model_build(m, &s, max_batch > c->train.batch_size ? max_batch : c->train.batch_size, &r, err);
    m->label_smoothing = (float)c->train.label_smoothing;
    return rc;
}

void setup_out_dir(const Config *c, const char *override, char *out, size_t cap)
{
    if (override) {
        snprintf(out, cap, "%s", override);
        return;
    }
    const char *at = strstr(c->log.out, "NAME");
    if (at)
        snprintf(out, cap, "%.*s%s%s", (int)(at - c->log.out), c->log.out, c->name, at + 4);
    else
        snprintf(out, cap, "%s", c->log.out);
}

int experiment_open(Experiment *e, const char *config_path, char *const *sets, int n_sets, int max_batch,
                    BsError *err)
{
    memset(e, 0, sizeof *e);
    if (config_load(&e->cfg, config_path, sets, n_sets, err) || setup_data(&e->cfg, &e->data, err) ||
        setup_model(&e->cfg, &e->data, max_batch, &e->model, err))
        return err->code;
    const Config *c = &e->cfg;
    SgdConfig sgd = {.momentum = (float)c->train.momentum, .nesterov = c->train.nesterov};
    if (optimizer_init(&e->opt, &e->model, sgd, (float)c->train.weight_decay, c->train.wd_norm, err))
        return err->code;
    size_t sample = tensor_numel(&e->model.tensors[0]);
    e->x = bs_alloc(sizeof(float) * sample * (size_t)e->model.max_batch, err);
    e->y = bs_alloc(sizeof(int) * (size_t)e->model.max_batch, err);
    return e->x && e->y ? BS_OK : err->code;
}

void experiment_close(Experiment *e)
{
    bs_free(e->x);
    bs_free(e->y);
    optimizer_free(&e->opt);
    model_free(&e->model);
    setup_data_free(&e->data);
}

/* The checkpoint must be the one of the run's own config (as for --resume):
 * compared before --set overrides, which may change what eval measures. */
int setup_checkpoint_belongs(const char *dir, BsError *err)
{
    char cfg_path[4200], ck_path[4200];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.resolved.json", dir);
    snprintf(ck_path, sizeof ck_path, "%s/checkpoint.bin", dir);
    uint64_t hash;
    CheckpointMeta meta;
    if (config_file_hash(cfg_path, &hash, err) || checkpoint_peek(ck_path, &meta, err))
        return err->code;
    if (meta.config_hash != hash)
        return bs_fail(err, BS_ERR_USER,
                       "%s: written by a run with another config than %s (beyond train.epochs and log.*)", ck_path,
                       cfg_path);
    return BS_OK;
}
