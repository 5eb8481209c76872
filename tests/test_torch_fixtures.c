/* The C layers against golden PyTorch results (the .bnfx files in tests/fixtures, made by
 * scripts/reference/gen_fixtures.py). Needs no torch: only the files.
 * Each tensor must satisfy max|ours - torch| <= tol * max|torch|, tol = 1e-5
 * for single layer calls and 1e-4 for the 3-step SGD runs.
 * BN_FX_VERBOSE=1 prints the relative error of every compared tensor. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/groupnorm.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/softmax_xent.h"
#include "suites.h"
#include "train/trainer.h"
#include "test_util.h"
#include "train/sgd.h"

#define TOL_LAYER 1e-5
#define TOL_SGD 1e-4

/* ------------------------------------------------------------ helpers */


/* Reads cfg[i] as a non-negative integer (stored exactly as float). */
static int cfg_int(const Fixture *f, const float *cfg, int i, BsError *err)
{
    float v = cfg[i];
    if (!(v >= 0 && v <= 1e6f) || v != floorf(v)) {
        bs_fail(err, BS_ERR_USER, "fixture %s: cfg[%d] = %g is not a count", f->path, i,
                (double)v);
        return 0;
    }
    return (int)v;
}

static float *alloc_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_msg(p != NULL, "out of memory (%zu floats)", n);
    return p;
}

static float *poisoned(size_t n)
{
    float *p = alloc_floats(n);
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
    return p;
}

static float *copy_of(const float *src, size_t n)
{
    float *p = alloc_floats(n);
    memcpy(p, src, n * sizeof *p);
    return p;
}


/* -------------------------------------------------------------- conv2d */

static const char *const conv_cases[] = {
    "conv2d_k3s1p1_bias", "conv2d_k3s2p1_nobias", "conv2d_k1s2p0",
    "conv2d_k1s1p0_bias", "conv2d_k5s1p0_rect",   "conv2d_k3s2p1_rect",
    "conv2d_g2_k3s1p1",   "conv2d_g4_k1s1p0",     "conv2d_g4_k3s2p1_bias",
    "conv2d_dw_k3s1p1",   "conv2d_dw_k3s2p1_bias", "conv2d_k1x3_p0x1",
    "conv2d_k3x1_p1x0_bias", "conv2d_k1x5_s2_p0x2",
};
#define N_CONV_FIXTURES ((int)(sizeof conv_cases / sizeof conv_cases[0]))

/* The layer on one backend: im2col + OpenBLAS (dnnl NULL) or oneDNN. */
typedef struct {
    const Conv2d *c;
    float *ws;
    OneDnnEngine *engine;
    OneDnnConv *dnnl;
} ConvUnderTest;

static void cut_forward(const ConvUnderTest *u, const float *w, const float *b, const float *x,
                        float *o, int N)
{
    if (u->dnnl)
        ck_assert(onednn_conv_forward(u->engine, u->dnnl, w, b, x, o, N) == 0);
    else
        conv2d_forward(u->c, w, b, x, o, N, u->ws);
}

static void cut_backward(const ConvUnderTest *u, const float *w, const float *x, const float *dout,
                         float *dx, float *dw, float *db, int N)
{
    if (u->dnnl)
        ck_assert(onednn_conv_backward(u->engine, u->dnnl, w, x, dout, dx, dw, db, N) == 0);
    else
        conv2d_backward(u->c, w, x, dout, dx, dw, db, N, u->ws);
}

/* Loop index: fixture i % N_CONV_FIXTURES on backend i / N_CONV_FIXTURES. */
START_TEST(test_conv2d)
{
    const char *name = conv_cases[_i % N_CONV_FIXTURES];
    const int backend = _i / N_CONV_FIXTURES;
    if (backend == 1 && !onednn_available())
        return;
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    /* cfg has 9 entries, 10 with groups (9: groups 1, older files), 12
     * with a rectangular kernel (then k, p are the height's; kw, pw last). */
    const FixtureTensor *ct = fixture_find(f, "cfg");
    const size_t ncfg = ct && (ct->n == 10 || ct->n == 12) ? ct->n : 9;
    const float *cfg = fixture_get(f, "cfg", ncfg, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), ic = cfg_int(f, cfg, 1, &err),
        oc = cfg_int(f, cfg, 2, &err), k = cfg_int(f, cfg, 3, &err),
        s = cfg_int(f, cfg, 4, &err), p = cfg_int(f, cfg, 5, &err),
        h = cfg_int(f, cfg, 6, &err), w = cfg_int(f, cfg, 7, &err),
        bias = cfg_int(f, cfg, 8, &err), groups = ncfg >= 10 ? cfg_int(f, cfg, 9, &err) : 1,
        kw = ncfg == 12 ? cfg_int(f, cfg, 10, &err) : k, pw = ncfg == 12 ? cfg_int(f, cfg, 11, &err) : p;
    fixture_check(f, &err);

    Conv2d c;
    conv2d_init_rect(&c, ic, oc, k, kw, s, p, pw, h, w, bias);
    if (conv2d_set_groups(&c, groups) != 0)
        bs_fail(&err, BS_ERR_USER, "%s: %d groups do not divide %d -> %d channels", name, groups, ic, oc);
    const FixtureTensor *ot = fixture_find(f, "out");
    if (ot && (ot->ndim != 4 || ot->dims[2] != c.out_h || ot->dims[3] != c.out_w))
        bs_fail(&err, BS_ERR_USER, "%s: conv2d_init gives out %dx%d, torch %dx%d", name,
                c.out_h, c.out_w, ot->ndim == 4 ? ot->dims[2] : -1,
                ot->ndim == 4 ? ot->dims[3] : -1);
    size_t nx = (size_t)N * ic * h * w, nw = conv2d_num_weights(&c),
           no = (size_t)N * oc * c.out_h * c.out_w;
    const float *x = fixture_get(f, "x", nx, &err), *wt = fixture_get(f, "w", nw, &err),
                *b = bias ? fixture_get(f, "b", (size_t)oc, &err) : NULL,
                *dout = fixture_get(f, "dout", no, &err), *out = fixture_get(f, "out", no, &err),
                *dx = fixture_get(f, "dx", nx, &err), *dw = fixture_get(f, "dw", nw, &err),
                *db = bias ? fixture_get(f, "db", (size_t)oc, &err) : NULL;
    fixture_check(f, &err);
    if (conv2d_num_params(&c) != nw + (bias ? (size_t)oc : 0))
        bs_fail(&err, BS_ERR_USER, "%s: conv2d_num_params %zu, expected %zu", name,
                conv2d_num_params(&c), nw + (bias ? (size_t)oc : 0));
    fixture_check(f, &err);

    FxCmp cm;
    fxcmp_init(&cm, name);
    float *ws = alloc_floats(conv2d_workspace(&c));
    ConvUnderTest u = {&c, ws, NULL, NULL};
    if (backend == 1) {
        u.engine = onednn_engine_create();
        u.dnnl = onednn_conv_create(&c);
        ck_assert(u.engine && u.dnnl);
    }
    float *o = poisoned(no), *gx = poisoned(nx), *gw = alloc_floats(nw),
          *gb = alloc_floats((size_t)oc);
    cut_forward(&u, wt, b, x, o, N);
    fxcmp_tensor(&cm, "out", o, out, no, TOL_LAYER);
    cut_backward(&u, wt, x, dout, gx, gw, bias ? gb : NULL, N);
    fxcmp_tensor(&cm, "dx", gx, dx, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "dw", gw, dw, nw, TOL_LAYER);
    if (bias)
        fxcmp_tensor(&cm, "db", gb, db, (size_t)oc, TOL_LAYER);

    /* Second backward with din = NULL: dw/db accumulate to twice torch's. */
    float *dw2 = alloc_floats(nw), *db2 = alloc_floats((size_t)oc);
    for (size_t i = 0; i < nw; i++)
        dw2[i] = 2 * dw[i];
    for (int i = 0; bias && i < oc; i++)
        db2[i] = 2 * db[i];
    cut_backward(&u, wt, x, dout, NULL, gw, bias ? gb : NULL, N);
    fxcmp_tensor(&cm, "dw (2 calls)", gw, dw2, nw, TOL_LAYER);
    if (bias)
        fxcmp_tensor(&cm, "db (2 calls)", gb, db2, (size_t)oc, TOL_LAYER);

    onednn_conv_destroy(u.dnnl);
    onednn_engine_destroy(u.engine);
    free(ws);
    free(o);
    free(gx);
    free(gw);
    free(gb);
    free(dw2);
    free(db2);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* -------------------------------------------------------------- linear */

static const char *const linear_cases[] = {"linear_bias", "linear_nobias"};

START_TEST(test_linear)
{
    const char *name = linear_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 4, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), fi = cfg_int(f, cfg, 1, &err),
        fo = cfg_int(f, cfg, 2, &err), bias = cfg_int(f, cfg, 3, &err);
    fixture_check(f, &err);

    Linear l;
    linear_init(&l, fi, fo, bias);
    size_t nx = (size_t)N * fi, nw = (size_t)fo * fi, no = (size_t)N * fo;
    const float *x = fixture_get(f, "x", nx, &err), *wt = fixture_get(f, "w", nw, &err),
                *b = bias ? fixture_get(f, "b", (size_t)fo, &err) : NULL,
                *dout = fixture_get(f, "dout", no, &err), *out = fixture_get(f, "out", no, &err),
                *dx = fixture_get(f, "dx", nx, &err), *dw = fixture_get(f, "dw", nw, &err),
                *db = bias ? fixture_get(f, "db", (size_t)fo, &err) : NULL;
    if (linear_num_params(&l) != nw + (bias ? (size_t)fo : 0))
        bs_fail(&err, BS_ERR_USER, "%s: linear_num_params %zu, expected %zu", name,
                linear_num_params(&l), nw + (bias ? (size_t)fo : 0));
    fixture_check(f, &err);

    FxCmp cm;
    fxcmp_init(&cm, name);
    float *o = poisoned(no), *gx = poisoned(nx), *gw = alloc_floats(nw),
          *gb = alloc_floats((size_t)fo);
    linear_forward(&l, wt, b, x, o, N);
    fxcmp_tensor(&cm, "out", o, out, no, TOL_LAYER);
    linear_backward(&l, wt, x, dout, gx, gw, bias ? gb : NULL, N);
    fxcmp_tensor(&cm, "dx", gx, dx, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "dw", gw, dw, nw, TOL_LAYER);
    if (bias)
        fxcmp_tensor(&cm, "db", gb, db, (size_t)fo, TOL_LAYER);

    float *dw2 = alloc_floats(nw), *db2 = alloc_floats((size_t)fo);
    for (size_t i = 0; i < nw; i++)
        dw2[i] = 2 * dw[i];
    for (int i = 0; bias && i < fo; i++)
        db2[i] = 2 * db[i];
    linear_backward(&l, wt, x, dout, NULL, gw, bias ? gb : NULL, N);
    fxcmp_tensor(&cm, "dw (2 calls)", gw, dw2, nw, TOL_LAYER);
    if (bias)
        fxcmp_tensor(&cm, "db (2 calls)", gb, db2, (size_t)fo, TOL_LAYER);

    free(o);
    free(gx);
    free(gw);
    free(gb);
    free(dw2);
    free(db2);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ----------------------------------------------------------- batchnorm */

static const char *const bn_cases[] = {"batchnorm2d", "batchnorm1d"};

START_TEST(test_batchnorm)
{
    const char *name = bn_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 5, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), C = cfg_int(f, cfg, 1, &err),
        sp = cfg_int(f, cfg, 2, &err);
    float eps = cfg[3], momentum = cfg[4];
    fixture_check(f, &err);

    BatchNorm bn;
    batchnorm_init(&bn, C, sp, eps, momentum);
    size_t nc = (size_t)C, nx = (size_t)N * C * sp;
    const float *gamma = fixture_get(f, "gamma", nc, &err),
                *beta = fixture_get(f, "beta", nc, &err),
                *rm0 = fixture_get(f, "run_mean0", nc, &err),
                *rv0 = fixture_get(f, "run_var0", nc, &err), *x = fixture_get(f, "x", nx, &err),
                *dout = fixture_get(f, "dout", nx, &err), *out = fixture_get(f, "out", nx, &err),
                *smean = fixture_get(f, "save_mean", nc, &err),
                *sinv = fixture_get(f, "save_invstd", nc, &err),
                *dx = fixture_get(f, "dx", nx, &err), *dg = fixture_get(f, "dgamma", nc, &err),
                *dbt = fixture_get(f, "dbeta", nc, &err),
                *rm = fixture_get(f, "run_mean", nc, &err),
                *rv = fixture_get(f, "run_var", nc, &err),
                *xe = fixture_get(f, "x_eval", nx, &err),
                *oute = fixture_get(f, "out_eval", nx, &err),
                *doute = fixture_get(f, "dout_eval", nx, &err),
                *dxe = fixture_get(f, "dx_eval", nx, &err),
                *dge = fixture_get(f, "dgamma_eval", nc, &err),
                *dbe = fixture_get(f, "dbeta_eval", nc, &err);
    fixture_check(f, &err);

    FxCmp cm;
    fxcmp_init(&cm, name);
    float *run_m = copy_of(rm0, nc), *run_v = copy_of(rv0, nc), *o = poisoned(nx),
          *sm = poisoned(nc), *si = poisoned(nc), *gx = poisoned(nx), *gg = alloc_floats(nc),
          *gb = alloc_floats(nc);

    /* Training step. */
    batchnorm_forward_train(&bn, gamma, beta, run_m, run_v, x, o, sm, si, N);
    fxcmp_tensor(&cm, "out", o, out, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "save_mean", sm, smean, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "save_invstd", si, sinv, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "run_mean", run_m, rm, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "run_var", run_v, rv, nc, TOL_LAYER);
    batchnorm_backward_train(&bn, gamma, beta, x, sm, si, dout, gx, gg, gb, N);
    fxcmp_tensor(&cm, "dx", gx, dx, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "dgamma", gg, dg, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "dbeta", gb, dbt, nc, TOL_LAYER);

    /* The same step in place (out == in) from the initial running stats. */
    memcpy(run_m, rm0, nc * sizeof *run_m);
    memcpy(run_v, rv0, nc * sizeof *run_v);
    memcpy(o, x, nx * sizeof *o);
    batchnorm_forward_train(&bn, gamma, beta, run_m, run_v, o, o, sm, si, N);
    fxcmp_tensor(&cm, "out (in place)", o, out, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "run_var (in place)", run_v, rv, nc, TOL_LAYER);

    /* Inference with torch's updated running statistics. */
    for (size_t i = 0; i < nx; i++)
        o[i] = NAN;
    batchnorm_forward_eval(&bn, gamma, beta, rm, rv, xe, o, N);
    fxcmp_tensor(&cm, "out_eval", o, oute, nx, TOL_LAYER);
    memcpy(o, xe, nx * sizeof *o);
    batchnorm_forward_eval(&bn, gamma, beta, rm, rv, o, o, N);
    fxcmp_tensor(&cm, "out_eval (in place)", o, oute, nx, TOL_LAYER);
    for (size_t i = 0; i < nx; i++)
        gx[i] = NAN;
    memset(gg, 0, nc * sizeof *gg);
    memset(gb, 0, nc * sizeof *gb);
    batchnorm_backward_eval(&bn, gamma, beta, rm, rv, xe, doute, gx, gg, gb, N);
    fxcmp_tensor(&cm, "dx_eval", gx, dxe, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "dgamma_eval", gg, dge, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "dbeta_eval", gb, dbe, nc, TOL_LAYER);

    free(run_m);
    free(run_v);
    free(o);
    free(sm);
    free(si);
    free(gx);
    free(gg);
    free(gb);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ----------------------------------------------------------- groupnorm */

static const char *const gn_cases[] = {"groupnorm_g1", "groupnorm_g3", "groupnorm_g6",
                                       "groupnorm_g2_rect"};

START_TEST(test_groupnorm)
{
    const char *name = gn_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 5, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), C = cfg_int(f, cfg, 1, &err),
        G = cfg_int(f, cfg, 2, &err), sp = cfg_int(f, cfg, 3, &err);
    float eps = cfg[4];
    fixture_check(f, &err);

    GroupNorm gn;
    groupnorm_init(&gn, C, G, sp, eps);
    size_t nc = (size_t)C, ng = (size_t)N * G, nx = (size_t)N * C * sp;
    const float *gamma = fixture_get(f, "gamma", nc, &err),
                *beta = fixture_get(f, "beta", nc, &err), *x = fixture_get(f, "x", nx, &err),
                *dout = fixture_get(f, "dout", nx, &err), *out = fixture_get(f, "out", nx, &err),
                *smean = fixture_get(f, "save_mean", ng, &err),
                *sinv = fixture_get(f, "save_invstd", ng, &err),
                *dx = fixture_get(f, "dx", nx, &err), *dg = fixture_get(f, "dgamma", nc, &err),
                *dbt = fixture_get(f, "dbeta", nc, &err);
    fixture_check(f, &err);

    FxCmp cm;
    fxcmp_init(&cm, name);
    float *o = poisoned(nx), *sm = poisoned(ng), *si = poisoned(ng), *gx = poisoned(nx),
          *gg = alloc_floats(nc), *gb = alloc_floats(nc);
    groupnorm_forward(&gn, gamma, beta, x, o, sm, si, N);
    fxcmp_tensor(&cm, "out", o, out, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "save_mean", sm, smean, ng, TOL_LAYER);
    fxcmp_tensor(&cm, "save_invstd", si, sinv, ng, TOL_LAYER);
    groupnorm_backward(&gn, gamma, beta, x, sm, si, dout, gx, gg, gb, N);
    fxcmp_tensor(&cm, "dx", gx, dx, nx, TOL_LAYER);
    fxcmp_tensor(&cm, "dgamma", gg, dg, nc, TOL_LAYER);
    fxcmp_tensor(&cm, "dbeta", gb, dbt, nc, TOL_LAYER);

    memcpy(o, x, nx * sizeof *o);
    groupnorm_forward(&gn, gamma, beta, o, o, sm, si, N);
    fxcmp_tensor(&cm, "out (in place)", o, out, nx, TOL_LAYER);

    free(o);
    free(sm);
    free(si);
    free(gx);
    free(gg);
    free(gb);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ----------------------------------------------------------------- lrn */

/* torch.nn.LocalResponseNorm with alpha·size (its α/n scaling), odd sizes:
 * bnshift's across-channel LRN. */
static const char *const lrn_cases[] = {"lrn_across_n5", "lrn_across_n3"};

START_TEST(test_lrn)
{
    const char *name = lrn_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 8, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), C = cfg_int(f, cfg, 1, &err), H = cfg_int(f, cfg, 2, &err),
        W = cfg_int(f, cfg, 3, &err), size = cfg_int(f, cfg, 4, &err);
    fixture_check(f, &err);
    Lrn l;
    lrn_init(&l, LRN_ACROSS, size, cfg[5], cfg[6], cfg[7], C, H, W);
    const size_t nx = (size_t)N * C * H * W;
    const float *x = fixture_get(f, "x", nx, &err), *dout = fixture_get(f, "dout", nx, &err),
                *out = fixture_get(f, "out", nx, &err), *dx = fixture_get(f, "dx", nx, &err);
    fixture_check(f, &err);
    FxCmp cm;
    fxcmp_init(&cm, name);
    float *o = poisoned(nx), *den = poisoned(nx), *t = poisoned(nx), *gx = poisoned(nx);
    lrn_forward(&l, x, o, den, N);
    fxcmp_tensor(&cm, "out", o, out, nx, TOL_LAYER);
    lrn_backward(&l, x, den, dout, gx, t, N);
    fxcmp_tensor(&cm, "dx", gx, dx, nx, TOL_LAYER);
    free(o);
    free(den);
    free(t);
    free(gx);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ----------------------------------------------------- label smoothing */

static const char *const xent_cases[] = {"xent_smooth_0.1", "xent_smooth_0.4"};

START_TEST(test_label_smoothing)
{
    const char *name = xent_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 3, &err);
    fixture_check(f, &err);
    int N = cfg_int(f, cfg, 0, &err), K = cfg_int(f, cfg, 1, &err);
    fixture_check(f, &err);
    const float *z = fixture_get(f, "logits", (size_t)N * K, &err), *yf = fixture_get(f, "labels", N, &err),
                *loss = fixture_get(f, "loss", 1, &err), *dz = fixture_get(f, "dlogits", (size_t)N * K, &err);
    fixture_check(f, &err);
    int *y = malloc(sizeof(int) * (size_t)N);
    for (int n = 0; n < N; n++)
        y[n] = (int)yf[n];
    FxCmp cm;
    fxcmp_init(&cm, name);
    float *d = poisoned((size_t)N * K);
    float got = (float)softmax_xent(z, y, N, K, cfg[2], d, NULL);
    fxcmp_tensor(&cm, "loss", &got, loss, 1, TOL_LAYER);
    fxcmp_tensor(&cm, "dlogits", d, dz, (size_t)N * K, TOL_LAYER);
    free(d);
    free(y);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ----------------------------------------------------------------- sgd */

static const char *const sgd_cases[] = {"sgd_nesterov", "sgd_momentum",
                                        "sgd_nesterov_nowd_bias"};

#define SGD_MAX_TENSORS 8

START_TEST(test_sgd)
{
    const char *name = sgd_cases[_i];
    Fixture *f = fixture_case_load(name);
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 5, &err);
    fixture_check(f, &err);
    float lr = cfg[0];
    SgdConfig sc = {.momentum = cfg[1], .nesterov = cfg_int(f, cfg, 2, &err)};
    int steps = cfg_int(f, cfg, 3, &err), nt = cfg_int(f, cfg, 4, &err);
    if (nt > SGD_MAX_TENSORS)
        bs_fail(&err, BS_ERR_USER, "%s: %d tensors, at most %d", name, nt, SGD_MAX_TENSORS);
    fixture_check(f, &err);
    const float *wd = fixture_get(f, "wd", (size_t)nt, &err);
    fixture_check(f, &err);

    float *w[SGD_MAX_TENSORS] = {0}, *v[SGD_MAX_TENSORS] = {0};
    size_t n[SGD_MAX_TENSORS] = {0};
    char tn[64];
    for (int i = 0; i < nt; i++) {
        snprintf(tn, sizeof tn, "init.%d", i);
        const FixtureTensor *t = fixture_find(f, tn);
        if (!t) {
            bs_fail(&err, BS_ERR_USER, "fixture %s: no tensor '%s'", f->path, tn);
            break;
        }
        n[i] = t->n;
        w[i] = copy_of(t->data, t->n);
        v[i] = poisoned(t->n); /* first_step must not read it */
    }

    FxCmp cm;
    fxcmp_init(&cm, name);
    for (int s = 1; s <= steps && err.code == BS_OK; s++) {
        for (int i = 0; i < nt; i++) {
            snprintf(tn, sizeof tn, "grad.%d.%d", s, i);
            const float *g = fixture_get(f, tn, n[i], &err);
            if (!g)
                break;
            sgd_update(&sc, lr, wd[i], w[i], g, v[i], n[i], s == 1);
        }
        for (int i = 0; i < nt && err.code == BS_OK; i++) {
            snprintf(tn, sizeof tn, "after.%d.%d", s, i);
            const float *ref = fixture_get(f, tn, n[i], &err);
            if (ref)
                fxcmp_tensor(&cm, tn, w[i], ref, n[i], TOL_SGD);
        }
    }
    for (int i = 0; i < nt; i++) {
        free(w[i]);
        free(v[i]);
    }
    fixture_check(f, &err);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

/* ------------------------------------------------------ reader itself */

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

START_TEST(test_reader)
{
    BsError err = {0};
    ck_assert_ptr_null(fixture_load("no_such_case.bnfx", &err));
    ck_assert_int_eq(err.code, BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, "no_such_case.bnfx") != NULL, "message: %s", err.msg);

    /* Well-formed reference file, then damaged copies of it, in a temp dir. */
    char dir[] = "/tmp/bnfx_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    static const unsigned char good[] = {
        'B', 'N', 'F', 'X', 1, 0, 0, 0, 1, 0, 0, 0,       /* magic, version, count */
        1, 0, 0, 0, 'a', 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, /* "a", dims [1,2] */
        0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0,                  /* 1.0f, -2.0f */
    };
    char path[128];
    snprintf(path, sizeof path, "%s/good.bnfx", dir);
    write_bytes(path, good, sizeof good);
    snprintf(path, sizeof path, "%s/trunc.bnfx", dir);
    write_bytes(path, good, sizeof good - 1);
    unsigned char bad[sizeof good];
    memcpy(bad, good, sizeof good);
    bad[0] = 'X';
    snprintf(path, sizeof path, "%s/magic.bnfx", dir);
    write_bytes(path, bad, sizeof bad);

    memset(&err, 0, sizeof err);
    snprintf(path, sizeof path, "%s/good.bnfx", dir);
    Fixture *f = fixture_load_path(path, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    const float *a = fixture_get(f, "a", 2, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert(a[0] == 1.0f && a[1] == -2.0f);
    ck_assert_int_eq(fixture_find(f, "a")->ndim, 2);
    ck_assert_ptr_null(fixture_get(f, "a", 3, &err));
    ck_assert_msg(strstr(err.msg, "expected 3") != NULL, "message: %s", err.msg);
    memset(&err, 0, sizeof err);
    ck_assert_ptr_null(fixture_get(f, "b", 0, &err));
    ck_assert_msg(strstr(err.msg, "no tensor 'b'") != NULL, "message: %s", err.msg);
    fixture_free(f);

    memset(&err, 0, sizeof err);
    snprintf(path, sizeof path, "%s/trunc.bnfx", dir);
    ck_assert_ptr_null(fixture_load_path(path, &err));
    ck_assert_msg(strstr(err.msg, "truncated") != NULL, "message: %s", err.msg);
    memset(&err, 0, sizeof err);
    snprintf(path, sizeof path, "%s/magic.bnfx", dir);
    ck_assert_ptr_null(fixture_load_path(path, &err));
    ck_assert_msg(strstr(err.msg, "magic") != NULL, "message: %s", err.msg);

    static const char *const files[] = {"good.bnfx", "trunc.bnfx", "magic.bnfx"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    remove(dir);
}
END_TEST

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* train.bn_estimator cumulative: BN's running statistics after each of K
 * batches with the 1/t weights of bn_estimator_factor, restarted where the
 * fixture resets them, equal PyTorch's momentum=None. */
START_TEST(test_bn_cumulative)
{
    Fixture *f = fixture_case_load("bn_cumulative");
    BsError err = {0};
    const float *cfg = fixture_get(f, "cfg", 6, &err);
    fixture_check(f, &err);
    const int N = cfg_int(f, cfg, 0, &err), C = cfg_int(f, cfg, 1, &err), S = cfg_int(f, cfg, 2, &err) * cfg_int(f, cfg, 3, &err),
              K = cfg_int(f, cfg, 4, &err), reset_at = cfg_int(f, cfg, 5, &err);
    fixture_check(f, &err);
    BatchNorm bn;
    batchnorm_init(&bn, C, S, 1e-5f, 0.1f);
    const size_t nc = (size_t)C, nx = (size_t)N * C * S;
    float *gamma = alloc_floats(nc), *beta = alloc_floats(nc), *run_m = alloc_floats(nc), *run_v = alloc_floats(nc),
          *o = alloc_floats(nx), *sm = alloc_floats(nc), *si = alloc_floats(nc);
    FxCmp cm;
    fxcmp_init(&cm, "bn_cumulative");
    long t = 0;
    for (int k = 1; k <= K; k++) {
        if (k == 1 || k == reset_at) { /* a fresh BatchNorm2d, or reset_running_stats() */
            for (size_t c = 0; c < nc; c++)
                gamma[c] = 1.0f, beta[c] = 0.0f, run_m[c] = 0.0f, run_v[c] = 1.0f;
            t = 0;
        }
        char name[32];
        snprintf(name, sizeof name, "x.%d", k);
        const float *x = fixture_get(f, name, nx, &err);
        snprintf(name, sizeof name, "run_mean.%d", k);
        const float *rm = fixture_get(f, name, nc, &err);
        snprintf(name, sizeof name, "run_var.%d", k);
        const float *rv = fixture_get(f, name, nc, &err);
        fixture_check(f, &err);
        bn.momentum = (float)bn_estimator_factor(BN_EST_CUMULATIVE, 0.1, ++t);
        batchnorm_forward_train(&bn, gamma, beta, run_m, run_v, x, o, sm, si, N);
        snprintf(name, sizeof name, "run_mean after %d", k);
        fxcmp_tensor(&cm, name, run_m, rm, nc, TOL_LAYER);
        snprintf(name, sizeof name, "run_var after %d", k);
        fxcmp_tensor(&cm, name, run_v, rv, nc, TOL_LAYER);
    }
    float *bufs[] = {gamma, beta, run_m, run_v, o, sm, si};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    fixture_free(f);
    fxcmp_finish(&cm);
}
END_TEST

Suite *torch_fixture_suite(void)
{
    Suite *s = suite_create("torch_fixtures");
    TCase *tc = tcase_create("layers");
    tcase_add_loop_test(tc, test_conv2d, 0, 2 * N_CONV_FIXTURES);
    tcase_add_loop_test(tc, test_linear, 0, NCASES(linear_cases));
    tcase_add_loop_test(tc, test_batchnorm, 0, NCASES(bn_cases));
    tcase_add_test(tc, test_bn_cumulative);
    tcase_add_loop_test(tc, test_groupnorm, 0, NCASES(gn_cases));
    tcase_add_loop_test(tc, test_sgd, 0, NCASES(sgd_cases));
    tcase_add_loop_test(tc, test_lrn, 0, NCASES(lrn_cases));
    tcase_add_loop_test(tc, test_label_smoothing, 0, NCASES(xent_cases));
    tcase_add_test(tc, test_reader);
    suite_add_tcase(s, tc);
    return s;
}
