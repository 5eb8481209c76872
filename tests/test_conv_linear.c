/* Conv2d and Linear against naive direct loops (double accumulation), finite
 * differences, accumulate/overwrite contracts and run-to-run determinism. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/linear.h"
#include "test_util.h"

/* Relative (to max|ref|) tolerance of the sgemm paths vs double loops. */
#define REF_TOL 1e-5
#define GRAD_H 1e-2f
#define GRAD_TOL 1e-2

static void fill_value(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static void double_to_float(const double *src, float *dst, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(scale * src[i]);
}

/* ---------------------------------------------------------------- conv -- */

/* k and pad are the kernel height and its padding; kw and pad_w the
 * width's when kw > 0 (rectangular kernels), else the same as k and pad. */
typedef struct {
    int in_c, out_c, k, stride, pad, in_h, in_w, kw, pad_w;
} ConvCase;

static const ConvCase conv_cases[] = {
    {3, 4, 3, 1, 1, 6, 6, 0, 0}, /* 3×3 "same" */
    {2, 5, 3, 2, 1, 8, 8, 0, 0}, /* 3×3 stride 2; (8+2-3)/2 leaves a remainder */
    {4, 3, 1, 1, 0, 5, 5, 0, 0}, /* pointwise fast path (no im2col) */
    {3, 2, 1, 2, 0, 6, 6, 0, 0}, /* 1×1 stride 2 goes through im2col */
    {2, 3, 3, 1, 0, 6, 6, 0, 0}, /* 3×3 "valid" */
    {3, 4, 3, 1, 1, 7, 5, 0, 0}, /* non-square */
    {1, 2, 3, 2, 1, 7, 5, 0, 0}, /* non-square, stride 2, single input channel */
    {2, 2, 5, 1, 2, 5, 7, 0, 0}, /* 5×5, pad 2 */
    {5, 6, 1, 1, 0, 3, 4, 0, 0}, /* pointwise, non-square */
    {3, 4, 1, 1, 0, 6, 5, 3, 1}, /* 1×3, padding (0, 1): Inception-v3's factorized pair */
    {3, 4, 3, 1, 1, 6, 5, 1, 0}, /* 3×1, padding (1, 0) */
    {2, 3, 1, 2, 0, 7, 8, 5, 2}, /* 1×5 stride 2 */
};
#define N_CONV_CASES ((int)(sizeof conv_cases / sizeof conv_cases[0]))

/* One layer with inputs, parameters, an upstream gradient and outputs. */
/* Every conv test runs on both backends: loop index i covers case
 * i % N_CONV_CASES on backend i / N_CONV_CASES (0 reference, 1 oneDNN). */
#define N_CONV_RUNS (2 * N_CONV_CASES)
#define CONV_CASE(i) (&conv_cases[(i) % N_CONV_CASES])
#define CONV_BACKEND(i) ((i) / N_CONV_CASES)

typedef struct {
    Conv2d c;
    int N;
    size_t n_in, n_out, n_w;
    float *w, *b, *in, *dout, *out, *din, *dw, *db, *ws;
    OneDnnEngine *engine; /* backend 1 */
    OneDnnConv *dnnl;
} ConvRig;

static void rig_forward(ConvRig *r, const float *b, float *out)
{
    if (r->dnnl)
        ck_assert_msg(onednn_conv_forward(r->engine, r->dnnl, r->w, b, r->in, out, r->N) == 0,
                      "oneDNN forward failed");
    else
        conv2d_forward(&r->c, r->w, b, r->in, out, r->N, r->ws);
}

static void rig_backward(ConvRig *r, float *din, float *dw, float *db)
{
    if (r->dnnl)
        ck_assert_msg(onednn_conv_backward(r->engine, r->dnnl, r->w, r->in, r->dout, din, dw, db, r->N) == 0,
                      "oneDNN backward failed");
    else
        conv2d_backward(&r->c, r->w, r->in, r->dout, din, dw, db, r->N, r->ws);
}

/* Returns 0 (and the test should stop) when backend 1 is not built in. */
static int conv_rig_init(ConvRig *r, const ConvCase *cc, int N, uint64_t seed, int backend)
{
    memset(r, 0, sizeof *r);
    if (backend == 1 && !onednn_available())
        return 0;
    conv2d_init_rect(&r->c, cc->in_c, cc->out_c, cc->k, cc->kw ? cc->kw : cc->k, cc->stride, cc->pad,
                     cc->kw ? cc->pad_w : cc->pad, cc->in_h, cc->in_w, 1);
    if (backend == 1) {
        r->engine = onednn_engine_create();
        r->dnnl = onednn_conv_create(&r->c);
        ck_assert(r->engine && r->dnnl);
    }
    r->N = N;
    r->n_in = (size_t)N * cc->in_c * cc->in_h * cc->in_w;
    r->n_out = (size_t)N * cc->out_c * r->c.out_h * r->c.out_w;
    r->n_w = conv2d_num_weights(&r->c);
    r->w = falloc(r->n_w);
    r->b = falloc((size_t)cc->out_c);
    r->in = falloc(r->n_in);
    r->dout = falloc(r->n_out);
    r->out = falloc(r->n_out);
    r->din = falloc(r->n_in);
    r->dw = falloc(r->n_w);
    r->db = falloc((size_t)cc->out_c);
    r->ws = falloc(conv2d_workspace(&r->c));
    Rng rng;
    rng_seed(&rng, seed);
    fill_uniform(&rng, r->w, r->n_w, -1.0f, 1.0f);
    fill_uniform(&rng, r->b, (size_t)cc->out_c, -1.0f, 1.0f);
    fill_uniform(&rng, r->in, r->n_in, -1.0f, 1.0f);
    fill_uniform(&rng, r->dout, r->n_out, -1.0f, 1.0f);
    return 1;
}

static void conv_rig_free(ConvRig *r)
{
    float *bufs[] = {r->w, r->b, r->in, r->dout, r->out, r->din, r->dw, r->db, r->ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    onednn_conv_destroy(r->dnnl);
    onednn_engine_destroy(r->engine);
}

static size_t w_index(const Conv2d *c, int oc, int ic, int ky, int kx)
{
    return (((size_t)oc * c->in_c + ic) * c->kh + ky) * c->kw + kx;
}

static size_t in_index(const Conv2d *c, int n, int ic, int iy, int ix)
{
    return (((size_t)n * c->in_c + ic) * c->in_h + iy) * c->in_w + ix;
}

static size_t out_index(const Conv2d *c, int n, int oc, int oy, int ox)
{
    return (((size_t)n * c->out_c + oc) * c->out_h + oy) * c->out_w + ox;
}

/* Input coordinates of tap (ky, kx) at output (oy, ox); 0 if in the padding. */
static int tap(const Conv2d *c, int oy, int ox, int ky, int kx, int *iy, int *ix)
{
    *iy = oy * c->stride - c->pad_h + ky;
    *ix = ox * c->stride - c->pad_w + kx;
    return *iy >= 0 && *iy < c->in_h && *ix >= 0 && *ix < c->in_w;
}

/* Direct 7-loop convolution in double. */
static void naive_conv_forward(const Conv2d *c, const float *w, const float *b,
                               const float *in, float *out, int N)
{
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < c->out_c; oc++)
            for (int oy = 0; oy < c->out_h; oy++)
                for (int ox = 0; ox < c->out_w; ox++) {
                    double s = b ? b[oc] : 0.0;
                    for (int ic = 0; ic < c->in_c; ic++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int iy, ix;
                                if (tap(c, oy, ox, ky, kx, &iy, &ix))
                                    s += (double)w[w_index(c, oc, ic, ky, kx)] *
                                         in[in_index(c, n, ic, iy, ix)];
                            }
                    out[out_index(c, n, oc, oy, ox)] = (float)s;
                }
}

typedef struct {
    double *din, *dw, *db;
} NaiveGrads;

/* Direct backward in double: every forward product, differentiated. */
static void naive_conv_backward(const Conv2d *c, const float *w, const float *in,
                                const float *dout, int N, NaiveGrads *g)
{
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < c->out_c; oc++)
            for (int oy = 0; oy < c->out_h; oy++)
                for (int ox = 0; ox < c->out_w; ox++) {
                    double d = dout[out_index(c, n, oc, oy, ox)];
                    g->db[oc] += d;
                    for (int ic = 0; ic < c->in_c; ic++)
                        for (int ky = 0; ky < c->kh; ky++)
                            for (int kx = 0; kx < c->kw; kx++) {
                                int iy, ix;
                                if (!tap(c, oy, ox, ky, kx, &iy, &ix))
                                    continue;
                                size_t wi = w_index(c, oc, ic, ky, kx);
                                size_t ii = in_index(c, n, ic, iy, ix);
                                g->din[ii] += w[wi] * d;
                                g->dw[wi] += in[ii] * d;
                            }
                }
}

START_TEST(test_conv_forward_vs_naive)
{
    ConvRig r;
    if (!conv_rig_init(&r, CONV_CASE(_i), 2 + _i % 2, 100 + (uint64_t)_i, CONV_BACKEND(_i)))
        return;
    float *ref = falloc(r.n_out);
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        const float *b = with_bias ? r.b : NULL;
        fill_value(r.out, r.n_out, NAN); /* the output must be overwritten */
        rig_forward(&r, b, r.out);
        naive_conv_forward(&r.c, r.w, b, r.in, ref, r.N);
        assert_close(r.out, ref, r.n_out, REF_TOL, with_bias ? "out (bias)" : "out");
    }
    free(ref);
    conv_rig_free(&r);
}
END_TEST

/* Backward twice from zeroed dw/db: din must equal one pass (overwritten,
 * despite NaN garbage), dw and db two passes (accumulated). */
START_TEST(test_conv_backward_vs_naive)
{
    ConvRig r;
    if (!conv_rig_init(&r, CONV_CASE(_i), 2 + _i % 2, 200 + (uint64_t)_i, CONV_BACKEND(_i)))
        return;
    const Conv2d *c = &r.c;
    NaiveGrads g = {calloc(r.n_in, sizeof(double)), calloc(r.n_w, sizeof(double)),
                    calloc((size_t)c->out_c, sizeof(double))};
    ck_assert(g.din && g.dw && g.db);
    naive_conv_backward(c, r.w, r.in, r.dout, r.N, &g);
    float *ref_din = falloc(r.n_in), *ref_dw = falloc(r.n_w),
          *ref_db = falloc((size_t)c->out_c);
    double_to_float(g.din, ref_din, r.n_in, 1.0);
    double_to_float(g.dw, ref_dw, r.n_w, 2.0);
    double_to_float(g.db, ref_db, (size_t)c->out_c, 2.0);

    for (int pass = 0; pass < 2; pass++) {
        fill_value(r.din, r.n_in, NAN);
        fill_value(r.ws, conv2d_workspace(c), NAN); /* scratch carries nothing */
        rig_backward(&r, r.din, r.dw, r.db);
    }
    assert_close(r.din, ref_din, r.n_in, REF_TOL, "din");
    assert_close(r.dw, ref_dw, r.n_w, REF_TOL, "dw (2 passes)");
    assert_close(r.db, ref_db, (size_t)c->out_c, REF_TOL, "db (2 passes)");

    free(ref_din), free(ref_dw), free(ref_db);
    free(g.din), free(g.dw), free(g.db);
    conv_rig_free(&r);
}
END_TEST

/* NULL din (first layer) or NULL dw/db: the rest is still right and the
 * skipped buffers are left alone. */
START_TEST(test_conv_backward_null_grads)
{
    ConvRig r;
    if (!conv_rig_init(&r, CONV_CASE(_i), 2, 300 + (uint64_t)_i, CONV_BACKEND(_i)))
        return;
    const Conv2d *c = &r.c;
    float *din = falloc(r.n_in), *dw = falloc(r.n_w), *db = falloc((size_t)c->out_c);
    rig_backward(&r, din, dw, db);

    rig_backward(&r, NULL, r.dw, r.db);
    ck_assert_mem_eq(r.dw, dw, r.n_w * sizeof(float));
    ck_assert_mem_eq(r.db, db, (size_t)c->out_c * sizeof(float));

    fill_value(r.dw, r.n_w, 7.0f);
    rig_backward(&r, r.din, NULL, NULL);
    ck_assert_mem_eq(r.din, din, r.n_in * sizeof(float));
    ck_assert_float_eq(r.dw[0], 7.0f);

    free(din), free(dw), free(db);
    conv_rig_free(&r);
}
END_TEST

/* The scalar that gradcheck differentiates: sum(out * R), R = rig.dout. */
static double conv_loss(void *ctx)
{
    ConvRig *r = ctx;
    rig_forward(r, r->b, r->out);
    return dot_double(r->out, r->dout, r->n_out);
}

START_TEST(test_conv_gradcheck)
{
    ConvRig r;
    if (!conv_rig_init(&r, CONV_CASE(_i), 2, 400 + (uint64_t)_i, CONV_BACKEND(_i)))
        return;
    rig_backward(&r, r.din, r.dw, r.db);
    ck_gradcheck(conv_loss, &r, r.in, r.din, r.n_in, GRAD_H, GRAD_TOL, "conv input");
    ck_gradcheck(conv_loss, &r, r.w, r.dw, r.n_w, GRAD_H, GRAD_TOL, "conv weight");
    ck_gradcheck(conv_loss, &r, r.b, r.db, (size_t)r.c.out_c, GRAD_H, GRAD_TOL,
                 "conv bias");
    conv_rig_free(&r);
}
END_TEST

/* Guards the checker itself: a wrong gradient must be caught at GRAD_TOL. */
START_TEST(test_gradcheck_catches_wrong_gradient)
{
    ConvRig r;
    conv_rig_init(&r, &conv_cases[0], 2, 500, 0);
    rig_backward(&r, r.din, r.dw, r.db);
    r.dw[0] += 0.5f; /* gradcheck always samples entry 0 */
    double err = gradcheck(conv_loss, &r, r.w, r.dw, r.n_w, GRAD_H, 200);
    ck_assert_msg(err > GRAD_TOL, "perturbed dw passed: error %g", err);
    memset(r.din, 0, r.n_in * sizeof(float));
    err = gradcheck(conv_loss, &r, r.in, r.din, r.n_in, GRAD_H, 200);
    ck_assert_msg(err > GRAD_TOL, "zero din passed: error %g", err);
    conv_rig_free(&r);
}
END_TEST

START_TEST(test_conv_shapes)
{
    Conv2d c;
    conv2d_init(&c, 3, 8, 3, 2, 1, 7, 5, 1);
    ck_assert_int_eq(c.out_h, 4);
    ck_assert_int_eq(c.out_w, 3);
    ck_assert_uint_eq(conv2d_num_weights(&c), 8 * 3 * 3 * 3);
    ck_assert_uint_eq(conv2d_num_params(&c), 8 * 3 * 3 * 3 + 8);
    ck_assert_uint_eq(conv2d_workspace(&c), 3 * 3 * 3 * 4 * 3);
    ck_assert_int_eq(conv2d_macs(&c), 8L * 4 * 3 * 3 * 3 * 3);
    conv2d_init(&c, 16, 32, 1, 1, 0, 8, 8, 0);
    ck_assert_int_eq(c.out_h, 8);
    ck_assert_uint_eq(conv2d_num_params(&c), 16 * 32);
    ck_assert_int_eq(conv2d_macs(&c), 32L * 64 * 16);
}
END_TEST

/* Big enough that every OpenMP loop and sgemm split work between threads. */
static void conv_run_once(const ConvCase *cc, int backend, float *out, float *din, float *dw, float *db)
{
    ConvRig r;
    conv_rig_init(&r, cc, 3, 600, backend);
    rig_forward(&r, r.b, out);
    rig_backward(&r, din, dw, db);
    rig_backward(&r, din, dw, db);
    conv_rig_free(&r);
}

START_TEST(test_conv_deterministic)
{
    static const ConvCase big[] = {{8, 12, 3, 1, 1, 14, 10, 0, 0}, {6, 8, 3, 2, 1, 15, 13, 0, 0},
                                   {16, 8, 1, 1, 0, 9, 9, 0, 0}};
    const ConvCase *cc = &big[_i % 3];
    const int backend = _i / 3;
    if (backend == 1 && !onednn_available())
        return;
    Conv2d c;
    conv2d_init(&c, cc->in_c, cc->out_c, cc->k, cc->stride, cc->pad, cc->in_h, cc->in_w, 1);
    const size_t n_in = 3 * (size_t)cc->in_c * cc->in_h * cc->in_w;
    const size_t n_out = 3 * (size_t)cc->out_c * c.out_h * c.out_w;
    const size_t n_w = conv2d_num_weights(&c), n_b = (size_t)cc->out_c;
    float *a[4] = {falloc(n_out), falloc(n_in), falloc(n_w), falloc(n_b)};
    float *b[4] = {falloc(n_out), falloc(n_in), falloc(n_w), falloc(n_b)};
    conv_run_once(cc, backend, a[0], a[1], a[2], a[3]);
    conv_run_once(cc, backend, b[0], b[1], b[2], b[3]);
    ck_assert_mem_eq(a[0], b[0], n_out * sizeof(float));
    ck_assert_mem_eq(a[1], b[1], n_in * sizeof(float));
    ck_assert_mem_eq(a[2], b[2], n_w * sizeof(float));
    ck_assert_mem_eq(a[3], b[3], n_b * sizeof(float));
    for (int i = 0; i < 4; i++)
        free(a[i]), free(b[i]);
}
END_TEST

/* During a frozen pass (onednn_engine_freeze_weights) a layer converts
 * its weights once and reuses them: a call with other weights (another
 * pointer) must still use those, and a new pass must see weights changed
 * in place between passes. */
START_TEST(test_conv_frozen_weights)
{
    static const ConvCase cc = {16, 16, 3, 1, 1, 8, 8, 0, 0}; /* weights reordered to a blocked layout */
    ConvRig r;
    if (!conv_rig_init(&r, &cc, 2, 700, 1))
        return;
    float *w2 = falloc(r.n_w), *ref = falloc(r.n_out);
    for (size_t i = 0; i < r.n_w; i++)
        w2[i] = -0.5f * r.w[i] + 0.25f;
    float *const w1 = r.w;
    /* pass 1: w1, then w2 (another pointer), then w1 again; pass 2: w1
     * changed in place between the passes; then unfrozen, changed again */
    for (int step = 0; step < 5; step++) {
        if (step == 0)
            onednn_engine_freeze_weights(r.engine, 1);
        if (step == 3 || step == 4) {
            onednn_engine_freeze_weights(r.engine, 0);
            for (size_t i = 0; i < r.n_w; i++)
                w1[i] = 2.0f * w1[i] - 0.125f;
            onednn_engine_freeze_weights(r.engine, step == 3);
        }
        r.w = step == 1 ? w2 : w1;
        fill_value(r.out, r.n_out, NAN);
        rig_forward(&r, NULL, r.out);
        naive_conv_forward(&r.c, r.w, NULL, r.in, ref, r.N);
        char what[32];
        snprintf(what, sizeof what, "frozen step %d", step);
        assert_close(r.out, ref, r.n_out, REF_TOL, what);
    }
    onednn_engine_freeze_weights(r.engine, 0);
    r.w = w1;
    free(w2);
    free(ref);
    conv_rig_free(&r);
}
END_TEST

/* -------------------------------------------------------------- linear -- */

typedef struct {
    int in_f, out_f, N;
} LinearCase;

static const LinearCase linear_cases[] = {{5, 3, 4}, {1, 7, 2}, {16, 10, 3}, {9, 1, 1}};
#define N_LINEAR_CASES ((int)(sizeof linear_cases / sizeof linear_cases[0]))

typedef struct {
    Linear l;
    int N;
    size_t n_in, n_out, n_w;
    float *w, *b, *in, *dout, *out, *din, *dw, *db;
} LinearRig;

static void linear_rig_init(LinearRig *r, const LinearCase *lc, uint64_t seed)
{
    linear_init(&r->l, lc->in_f, lc->out_f, 1);
    r->N = lc->N;
    r->n_in = (size_t)lc->N * lc->in_f;
    r->n_out = (size_t)lc->N * lc->out_f;
    r->n_w = (size_t)lc->out_f * lc->in_f;
    r->w = falloc(r->n_w);
    r->b = falloc((size_t)lc->out_f);
    r->in = falloc(r->n_in);
    r->dout = falloc(r->n_out);
    r->out = falloc(r->n_out);
    r->din = falloc(r->n_in);
    r->dw = falloc(r->n_w);
    r->db = falloc((size_t)lc->out_f);
    Rng rng;
    rng_seed(&rng, seed);
    fill_uniform(&rng, r->w, r->n_w, -1.0f, 1.0f);
    fill_uniform(&rng, r->b, (size_t)lc->out_f, -1.0f, 1.0f);
    fill_uniform(&rng, r->in, r->n_in, -1.0f, 1.0f);
    fill_uniform(&rng, r->dout, r->n_out, -1.0f, 1.0f);
}

static void linear_rig_free(LinearRig *r)
{
    float *bufs[] = {r->w, r->b, r->in, r->dout, r->out, r->din, r->dw, r->db};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

static void naive_linear_forward(const LinearRig *r, const float *b, float *out)
{
    const int I = r->l.in_f, O = r->l.out_f;
    for (int n = 0; n < r->N; n++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < I; i++)
                s += (double)r->in[n * I + i] * r->w[o * I + i];
            out[n * O + o] = (float)s;
        }
}

/* din, and dw/db scaled by `times` (the number of backward passes). */
static void naive_linear_backward(const LinearRig *r, float *din, float *dw, float *db,
                                  double times)
{
    const int I = r->l.in_f, O = r->l.out_f;
    for (int i = 0; i < I; i++) {
        for (int n = 0; n < r->N; n++) {
            double s = 0.0;
            for (int o = 0; o < O; o++)
                s += (double)r->dout[n * O + o] * r->w[o * I + i];
            din[n * I + i] = (float)s;
        }
        for (int o = 0; o < O; o++) {
            double s = 0.0;
            for (int n = 0; n < r->N; n++)
                s += (double)r->dout[n * O + o] * r->in[n * I + i];
            dw[o * I + i] = (float)(times * s);
        }
    }
    for (int o = 0; o < O; o++) {
        double s = 0.0;
        for (int n = 0; n < r->N; n++)
            s += r->dout[n * O + o];
        db[o] = (float)(times * s);
    }
}

START_TEST(test_linear_forward_vs_naive)
{
    LinearRig r;
    linear_rig_init(&r, &linear_cases[_i], 700 + (uint64_t)_i);
    float *ref = falloc(r.n_out);
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        const float *b = with_bias ? r.b : NULL;
        fill_value(r.out, r.n_out, NAN);
        linear_forward(&r.l, r.w, b, r.in, r.out, r.N);
        naive_linear_forward(&r, b, ref);
        assert_close(r.out, ref, r.n_out, REF_TOL, with_bias ? "out (bias)" : "out");
    }
    free(ref);
    linear_rig_free(&r);
}
END_TEST

START_TEST(test_linear_backward_vs_naive)
{
    LinearRig r;
    linear_rig_init(&r, &linear_cases[_i], 800 + (uint64_t)_i);
    float *ref_din = falloc(r.n_in), *ref_dw = falloc(r.n_w),
          *ref_db = falloc((size_t)r.l.out_f);
    naive_linear_backward(&r, ref_din, ref_dw, ref_db, 2.0);
    for (int pass = 0; pass < 2; pass++) {
        fill_value(r.din, r.n_in, NAN);
        linear_backward(&r.l, r.w, r.in, r.dout, r.din, r.dw, r.db, r.N);
    }
    assert_close(r.din, ref_din, r.n_in, REF_TOL, "din");
    assert_close(r.dw, ref_dw, r.n_w, REF_TOL, "dw (2 passes)");
    assert_close(r.db, ref_db, (size_t)r.l.out_f, REF_TOL, "db (2 passes)");

    /* NULL din / dw / db are skipped and leave the others intact. */
    linear_backward(&r.l, r.w, r.in, r.dout, NULL, NULL, NULL, r.N);
    linear_backward(&r.l, r.w, r.in, r.dout, r.din, NULL, NULL, r.N);
    assert_close(r.din, ref_din, r.n_in, REF_TOL, "din (no dw/db)");
    assert_close(r.dw, ref_dw, r.n_w, REF_TOL, "dw untouched");
    free(ref_din), free(ref_dw), free(ref_db);
    linear_rig_free(&r);
}
END_TEST

static double linear_loss(void *ctx)
{
    LinearRig *r = ctx;
    linear_forward(&r->l, r->w, r->b, r->in, r->out, r->N);
    return dot_double(r->out, r->dout, r->n_out);
}

START_TEST(test_linear_gradcheck)
{
    LinearRig r;
    linear_rig_init(&r, &linear_cases[_i], 900 + (uint64_t)_i);
    linear_backward(&r.l, r.w, r.in, r.dout, r.din, r.dw, r.db, r.N);
    ck_gradcheck(linear_loss, &r, r.in, r.din, r.n_in, GRAD_H, GRAD_TOL, "linear input");
    ck_gradcheck(linear_loss, &r, r.w, r.dw, r.n_w, GRAD_H, GRAD_TOL, "linear weight");
    ck_gradcheck(linear_loss, &r, r.b, r.db, (size_t)r.l.out_f, GRAD_H, GRAD_TOL,
                 "linear bias");
    linear_rig_free(&r);
}
END_TEST

START_TEST(test_linear_params)
{
    Linear l;
    linear_init(&l, 12, 5, 1);
    ck_assert_uint_eq(linear_num_params(&l), 12 * 5 + 5);
    linear_init(&l, 12, 5, 0);
    ck_assert_uint_eq(linear_num_params(&l), 12 * 5);
}
END_TEST

static void linear_run_once(float *out, float *din, float *dw, float *db)
{
    static const LinearCase lc = {96, 40, 24};
    LinearRig r;
    linear_rig_init(&r, &lc, 1000);
    linear_forward(&r.l, r.w, r.b, r.in, out, r.N);
    linear_backward(&r.l, r.w, r.in, r.dout, din, dw, db, r.N);
    linear_backward(&r.l, r.w, r.in, r.dout, din, dw, db, r.N);
    linear_rig_free(&r);
}

START_TEST(test_linear_deterministic)
{
    const size_t n_out = 24 * 40, n_in = 24 * 96, n_w = 40 * 96, n_b = 40;
    float *a[4] = {falloc(n_out), falloc(n_in), falloc(n_w), falloc(n_b)};
    float *b[4] = {falloc(n_out), falloc(n_in), falloc(n_w), falloc(n_b)};
    linear_run_once(a[0], a[1], a[2], a[3]);
    linear_run_once(b[0], b[1], b[2], b[3]);
    ck_assert_mem_eq(a[0], b[0], n_out * sizeof(float));
    ck_assert_mem_eq(a[1], b[1], n_in * sizeof(float));
    ck_assert_mem_eq(a[2], b[2], n_w * sizeof(float));
    ck_assert_mem_eq(a[3], b[3], n_b * sizeof(float));
    for (int i = 0; i < 4; i++)
        free(a[i]), free(b[i]);
}
END_TEST

Suite *conv_linear_suite(void)
{
    Suite *s = suite_create("conv_linear");
    TCase *conv = tcase_create("conv2d");
    tcase_add_test(conv, test_conv_shapes);
    tcase_add_loop_test(conv, test_conv_forward_vs_naive, 0, N_CONV_RUNS);
    tcase_add_loop_test(conv, test_conv_backward_vs_naive, 0, N_CONV_RUNS);
    tcase_add_loop_test(conv, test_conv_backward_null_grads, 0, N_CONV_RUNS);
    tcase_add_loop_test(conv, test_conv_gradcheck, 0, N_CONV_RUNS);
    tcase_add_test(conv, test_gradcheck_catches_wrong_gradient);
    tcase_add_loop_test(conv, test_conv_deterministic, 0, 6);
    tcase_add_test(conv, test_conv_frozen_weights);
    suite_add_tcase(s, conv);

    TCase *lin = tcase_create("linear");
    tcase_add_test(lin, test_linear_params);
    tcase_add_loop_test(lin, test_linear_forward_vs_naive, 0, N_LINEAR_CASES);
    tcase_add_loop_test(lin, test_linear_backward_vs_naive, 0, N_LINEAR_CASES);
    tcase_add_loop_test(lin, test_linear_gradcheck, 0, N_LINEAR_CASES);
    tcase_add_test(lin, test_linear_deterministic);
    suite_add_tcase(s, lin);
    return s;
}
