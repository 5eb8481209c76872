/* The network families of lib/models/arch.c against PyTorch twins
 * (scripts/reference/families.py): one SGD step of a small instance of each
 * family and norm variant (family_*.bnfx) on both convolution backends, and
 * the parameter counts of standard instances (family_param_counts.bnfx).
 * The C model gets PyTorch's initial weights copied in op by op, so logits,
 * loss, every parameter after the step, the BN running statistics and the
 * eval-mode logits after the step must agree up to float rounding.
 * BN_FX_VERBOSE=1 prints the relative error of every compared tensor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "models/arch.h"
#include "suites.h"
#include "test_util.h"
#include "train/optimizer.h"

/* A whole network reassociates far more sums than one layer (TOL_LAYER
 * 1e-5 in test_torch_fixtures.c): the SGD fixtures' tolerance. */
#define TOL_NET 1e-4

/* cfg of a family fixture: the spec (SPEC_LEN values) and the step. */
enum { CFG_N = 16, CFG_LR, CFG_MOMENTUM, CFG_NESTEROV, CFG_WD, CFG_WD_NORM, CFG_LEN };
#define SPEC_LEN 16
/* Columns of the "ops" table: kind, n_w, n_b, out channels, k, stride, groups. */
#define OPS_COLS 7

static const char *const family_cases[] = {
    "family_bottleneck_bn",   "family_bottleneck_xbnblock", "family_resnext_bn",
    "family_resnext_xbnblock", "family_mobilenetv2_bn",     "family_mobilenetv2_xbnblock",
    "family_shufflenetv2_bn", "family_shufflenetv2_xbnblock", "family_bottleneck_ibn",
    "family_alexnet_bn",      "family_alexnet_lrn",         "family_inception_v2_bn",
    "family_inception_v3_bn", "family_inception_v2_xbnblock",
};
#define N_FAMILY_FIXTURES ((int)(sizeof family_cases / sizeof family_cases[0]))



/* v as a count in [0, max] (integers are stored exactly as floats). */
static int count_of(const Fixture *f, const char *what, float v, int max, BsError *err)
{
    if (!(v >= 0 && v <= (float)max) || v != floorf(v)) {
        bs_fail(err, BS_ERR_USER, "fixture %s: %s = %g is not a count <= %d", f->path, what, (double)v, max);
        return 0;
    }
    return (int)v;
}

/* The ModelSpec of v[0, SPEC_LEN) (families.py's Spec.cfg_values; the arch
 * and variant codes are the fixture's own, mapped here). Column 1 is the
 * resnet block, the inception version (0 v2, 1 v3) or alexnet's norm_all;
 * LRN takes AlexNet's constants, the twins' defaults. */
static void spec_from_cfg(const Fixture *f, const float *v, ModelSpec *s, BsError *err)
{
    static const Arch archs[] = {ARCH_RESNET,       ARCH_RESNEXT, ARCH_MOBILENETV2,
                                 ARCH_SHUFFLENETV2, ARCH_ALEXNET, ARCH_INCEPTION};
    static const NormVariant variants[] = {VARIANT_BN, VARIANT_XBNBLOCK, VARIANT_IBN, VARIANT_LRN};
    memset(s, 0, sizeof *s);
    s->arch = archs[count_of(f, "arch", v[0], 5, err)];
    const int column1 = count_of(f, "block", v[1], 1, err);
    s->block = column1 ? BLOCK_BOTTLENECK : BLOCK_BASIC;
    s->inception = column1 ? INCEPTION_V3 : INCEPTION_V2;
    s->norm_all = column1;
    s->depth = count_of(f, "depth", v[2], 1000, err);
    s->width = count_of(f, "width", v[3], 4096, err);
    s->cardinality = count_of(f, "cardinality", v[4], 4096, err);
    s->group_width = count_of(f, "group_width", v[5], 4096, err);
    s->width_mult = v[6]; /* the generator uses values exact in float */
    s->norm = variants[count_of(f, "variant", v[7], 3, err)];
    s->groups = count_of(f, "groups", v[8], 4096, err);
    s->xbn_position = count_of(f, "xbn_position", v[9], 3, err);
    s->in_c = count_of(f, "in_c", v[10], 64, err);
    s->in_h = count_of(f, "in_h", v[11], 1024, err);
    s->in_w = count_of(f, "in_w", v[12], 1024, err);
    s->num_classes = count_of(f, "classes", v[13], 100000, err);
    s->bn_eps = v[14];
    s->bn_momentum = v[15];
    s->stem_norm = STEM_AUTO;
    s->shortcut = SHORTCUT_PROJECTION;
    s->lrn.mode = LRN_ACROSS;
    s->lrn.size = 5;
    s->lrn.alpha = 1e-4;
    s->lrn.beta = 0.75;
    s->lrn.k = 2.0;
}

static int has_params(const Op *op)
{
    return op->kind == OP_CONV || op->kind == OP_BN || op->kind == OP_GN || op->kind == OP_LINEAR;
}

/* The fixture's row of an op: what PyTorch's module j is. */
static void expected_row(const Model *m, const Op *op, long row[OPS_COLS])
{
    static const OpKind codes[] = {OP_CONV, OP_BN, OP_GN, OP_LINEAR}; /* the fixture's kind codes */
    memset(row, 0, sizeof(long) * OPS_COLS);
    for (int k = 0; k < 4; k++)
        if (codes[k] == op->kind)
            row[0] = k;
    row[1] = (long)op->n_w;
    row[2] = (long)op->n_b;
    row[3] = m->tensors[op->out].c;
    if (op->kind == OP_CONV) {
        row[4] = op->u.conv.k;
        row[5] = op->u.conv.stride;
        row[6] = op->u.conv.groups;
    } else if (op->kind == OP_GN) {
        row[6] = op->u.gn.G;
    }
}

/* Checks op by op that the C model's parameter ops are the fixture's
 * modules (kind, sizes, conv shape, GN groups); returns their count. */
static int match_ops(const Fixture *f, const Model *m, BsError *err)
{
    static const char *const cols[OPS_COLS] = {"kind (0 conv, 1 bn, 2 gn, 3 linear)", "n_w", "n_b",
                                               "channels", "k", "stride", "groups"};
    const FixtureTensor *t = fixture_find(f, "ops");
    if (!t || t->ndim != 2 || t->dims[1] != OPS_COLS) {
        bs_fail(err, BS_ERR_USER, "fixture %s: no [n, %d] tensor 'ops'", f->path, OPS_COLS);
        return 0;
    }
    int j = 0;
    for (int i = 0; i < m->n_ops && err->code == BS_OK; i++) {
        const Op *op = &m->ops[i];
        if (!has_params(op))
            continue;
        if (j >= t->dims[0]) {
            bs_fail(err, BS_ERR_USER, "%s: the C model has more parameter ops than torch's %d (op %d, %s)",
                    f->path, t->dims[0], i, op->name);
            return 0;
        }
        long row[OPS_COLS];
        expected_row(m, op, row);
        for (int c = 0; c < OPS_COLS; c++)
            if ((float)row[c] != t->data[(size_t)j * OPS_COLS + c]) {
                bs_fail(err, BS_ERR_USER, "%s: parameter op %d (C op %d, %s): %s is %ld in C, %g in torch",
                        f->path, j, i, op->name, cols[c], row[c], (double)t->data[(size_t)j * OPS_COLS + c]);
                return 0;
            }
        j++;
    }
    if (err->code == BS_OK && j != t->dims[0])
        bs_fail(err, BS_ERR_USER, "%s: the C model has %d parameter ops, torch %d", f->path, j, t->dims[0]);
    return j;
}

/* The tensor prefix.j.w (or .b) of parameter op j, with n values. */
static const float *param_tensor(const Fixture *f, const char *prefix, int j, char wb, size_t n, BsError *err)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%d.%c", prefix, j, wb);
    return fixture_get(f, name, n, err);
}

/* Copies torch's initial weights into the model; running statistics 0 / 1
 * as PyTorch's fresh BatchNorm2d. */
static void load_params(const Fixture *f, Model *m, BsError *err)
{
    int j = 0;
    for (int i = 0; i < m->n_ops && err->code == BS_OK; i++) {
        const Op *op = &m->ops[i];
        if (!has_params(op))
            continue;
        const float *w = param_tensor(f, "init", j, 'w', op->n_w, err);
        const float *b = op->n_b ? param_tensor(f, "init", j, 'b', op->n_b, err) : NULL;
        if (w)
            memcpy(m->params + op->w_off, w, sizeof(float) * op->n_w);
        if (b)
            memcpy(m->params + op->b_off, b, sizeof(float) * op->n_b);
        if (op->kind == OP_BN)
            for (size_t c = 0; c < op->n_w; c++) {
                m->stats[op->stat_off + c] = 0.0f;
                m->stats[op->stat_off + op->n_w + c] = 1.0f;
            }
        j++;
    }
}

/* Worst relative error per kind of result, for the verbose summary. */
typedef struct {
    double logits, loss, params, update, stats, eval;
} Worst;

/* A step moves a weight by lr * (g + wd * w), ~1e-3 of it, so "after"
 * compared against max|after| would pass a gradient that is percents off.
 * The update itself (after - init, exact in float for both) is compared
 * against max|torch's update|, floored at STEP_FLOOR * max|after|: a tensor
 * whose gradient is zero but for rounding (the beta of a norm the next BN
 * cancels) moves by weight decay alone, a few ulps of w. */
#define STEP_FLOOR (1.0 / 256)

static double compare_update(FxCmp *cm, const char *tensor, const float *ours, const float *init,
                             const float *ref, size_t n)
{
    float *d_ours = falloc(n), *d_ref = falloc(n);
    for (size_t i = 0; i < n; i++) {
        d_ours[i] = ours[i] - init[i];
        d_ref[i] = ref[i] - init[i];
    }
    double scale = fmax(max_abs(d_ref, n), STEP_FLOOR * max_abs(ref, n));
    double rel = fxcmp_tensor_scaled(cm, tensor, d_ours, d_ref, n, scale, TOL_NET);
    free(d_ours);
    free(d_ref);
    return rel;
}

/* One parameter tensor (weight or bias of op j) after the step: the values
 * and the update. */
static void compare_param(const Fixture *f, FxCmp *cm, Worst *wr, const Op *op, int j, char wb,
                          const float *ours, size_t n, BsError *err)
{
    const float *init = param_tensor(f, "init", j, wb, n, err), *ref = param_tensor(f, "after", j, wb, n, err);
    if (!init || !ref)
        return;
    char tn[96];
    snprintf(tn, sizeof tn, "%s.%c", op->name, wb);
    wr->params = fmax(wr->params, fxcmp_tensor(cm, tn, ours, ref, n, TOL_NET));
    snprintf(tn, sizeof tn, "%s.%c update", op->name, wb);
    wr->update = fmax(wr->update, compare_update(cm, tn, ours, init, ref, n));
}

/* Compares every parameter after the step and every BN's running stats. */
static void compare_state(const Fixture *f, const Model *m, FxCmp *cm, Worst *wr, BsError *err)
{
    char tn[96];
    int j = 0;
    for (int i = 0; i < m->n_ops && err->code == BS_OK; i++) {
        const Op *op = &m->ops[i];
        if (!has_params(op))
            continue;
        compare_param(f, cm, wr, op, j, 'w', m->params + op->w_off, op->n_w, err);
        if (op->n_b)
            compare_param(f, cm, wr, op, j, 'b', m->params + op->b_off, op->n_b, err);
        if (op->kind == OP_BN) {
            snprintf(tn, sizeof tn, "run_mean.%d", j);
            const float *rm = fixture_get(f, tn, op->n_w, err);
            snprintf(tn, sizeof tn, "run_var.%d", j);
            const float *rv = fixture_get(f, tn, op->n_w, err);
            const float *stats = m->stats + op->stat_off;
            snprintf(tn, sizeof tn, "%s.run_mean", op->name);
            if (rm)
                wr->stats = fmax(wr->stats, fxcmp_tensor(cm, tn, stats, rm, op->n_w, TOL_NET));
            snprintf(tn, sizeof tn, "%s.run_var", op->name);
            if (rv)
                wr->stats = fmax(wr->stats, fxcmp_tensor(cm, tn, stats + op->n_w, rv, op->n_w, TOL_NET));
        }
        j++;
    }
}

/* The fixture's N labels as ints (caller frees). */
static int *labels_of(const Fixture *f, int N, int classes, BsError *err)
{
    const float *yf = fixture_get(f, "y", (size_t)N, err);
    if (!yf)
        return NULL;
    int *y = calloc((size_t)N, sizeof *y);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < N; i++)
        y[i] = count_of(f, "a label", yf[i], classes - 1, err);
    return y;
}

/* Loop index: fixture i % N_FAMILY_FIXTURES on backend i / N_FAMILY_FIXTURES
 * (0 im2col, the reference; 1 oneDNN when built in). */
START_TEST(test_family_step)
{
    const char *name = family_cases[_i % N_FAMILY_FIXTURES];
    const ConvBackend backend = _i / N_FAMILY_FIXTURES ? CONV_ONEDNN : CONV_IM2COL;
    if (backend == CONV_ONEDNN && !onednn_available())
        return;
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", CFG_LEN, &err);
    fixture_check(f, &err);
    ModelSpec spec;
    spec_from_cfg(f, cfg, &spec, &err);
    const int N = count_of(f, "N", cfg[CFG_N], 4096, &err);
    const float lr = cfg[CFG_LR], wd = cfg[CFG_WD];
    const SgdConfig sgd = {.momentum = cfg[CFG_MOMENTUM], .nesterov = count_of(f, "nesterov", cfg[CFG_NESTEROV], 1, &err)};
    const int wd_norm = count_of(f, "wd_norm", cfg[CFG_WD_NORM], 1, &err);
    fixture_check(f, &err);

    Model m;
    Rng rng;
    rng_seed(&rng, 1); /* overwritten by torch's weights */
    ck_assert_msg(model_build(&m, &spec, N, &rng, &err) == BS_OK, "%s: model_build: %s", name, err.msg);
    ck_assert_msg(model_set_conv_backend(&m, backend, &err) == BS_OK, "%s: %s", name, err.msg);
    match_ops(f, &m, &err);
    load_params(f, &m, &err);
    const size_t nx = (size_t)N * spec.in_c * spec.in_h * spec.in_w, nl = (size_t)N * spec.num_classes;
    const float *x = fixture_get(f, "x", nx, &err), *logits = fixture_get(f, "logits", nl, &err),
                *loss = fixture_get(f, "loss", 1, &err), *logits_eval = fixture_get(f, "logits_eval", nl, &err);
    int *y = labels_of(f, N, spec.num_classes, &err);
    if (err.code != BS_OK)
        model_free(&m);
    fixture_check(f, &err);

    char what[96];
    snprintf(what, sizeof what, "%s [%s]", name, conv_backend_name(backend));
    FxCmp cm;
    fxcmp_init(&cm, what);
    Worst wr = {0};
    Optimizer o;
    ck_assert_int_eq(optimizer_init(&o, &m, sgd, wd, wd_norm, &err), BS_OK);
    /* The step `bnshift run` takes; backward leaves the logits' data alone. */
    int correct;
    float got_loss = (float)train_step(&m, &o, x, y, N, lr, &correct);
    float *out = falloc(nl);
    tensor_copy_plain(&m.tensors[m.output], N, out);
    wr.logits = fxcmp_tensor(&cm, "logits", out, logits, nl, TOL_NET);
    wr.loss = fxcmp_tensor(&cm, "loss", &got_loss, loss, 1, TOL_NET);
    compare_state(f, &m, &cm, &wr, &err);
    model_forward(&m, x, N, 0);
    tensor_copy_plain(&m.tensors[m.output], N, out);
    wr.eval = fxcmp_tensor(&cm, "logits_eval", out, logits_eval, nl, TOL_NET);
    if (fx_verbose())
        fprintf(stderr, "family_fixtures: %-44s worst rel err: logits %.2g loss %.2g params %.2g "
                        "updates %.2g run stats %.2g eval logits %.2g\n",
                what, wr.logits, wr.loss, wr.params, wr.update, wr.stats, wr.eval);

    free(out);
    free(y);
    optimizer_free(&o);
    model_free(&m);
    fixture_check(f, &err);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* The parameter count of each standard instance equals PyTorch's (loop
 * index: the issue-13 families, then AlexNet and Inception). */
START_TEST(test_param_counts)
{
    static const char *const files[] = {"family_param_counts", "family_param_counts_seed"};
    Fixture *f = fixture_case_load(files[_i]);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 2, &err);
    fixture_check(f, &err);
    const int n = count_of(f, "cases", cfg[0], 100, &err);
    if (err.code == BS_OK && cfg[1] != SPEC_LEN)
        bs_fail(&err, BS_ERR_USER, "%s: %g spec columns, expected %d", f->path, (double)cfg[1], SPEC_LEN);
    const float *specs = fixture_get(f, "specs", (size_t)n * SPEC_LEN, &err),
                *hi = fixture_get(f, "count_hi", (size_t)n, &err), *lo = fixture_get(f, "count_lo", (size_t)n, &err);
    fixture_check(f, &err);
    for (int i = 0; i < n; i++) {
        ModelSpec spec;
        spec_from_cfg(f, specs + (size_t)i * SPEC_LEN, &spec, &err);
        fixture_check(f, &err);
        const size_t want = (size_t)hi[i] * 1000000u + (size_t)lo[i];
        Model m;
        Rng rng;
        rng_seed(&rng, 1);
        ck_assert_msg(model_build(&m, &spec, 1, &rng, &err) == BS_OK, "case %d: %s", i, err.msg);
        const size_t got = m.n_params;
        model_free(&m);
        ck_assert_msg(got == want, "%s case %d (arch code %g, width_mult %g, depth %d): %zu parameters, torch %zu",
                      f->path, i, (double)specs[(size_t)i * SPEC_LEN], spec.width_mult, spec.depth, got, want);
    }
    fixture_free(f);
}
END_TEST

Suite *family_fixtures_suite(void)
{
    Suite *s = suite_create("family_fixtures");
    TCase *tc = tcase_create("families");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_family_step, 0, 2 * N_FAMILY_FIXTURES);
    tcase_add_loop_test(tc, test_param_counts, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
