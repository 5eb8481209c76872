/* ReLU, pooling, residual add and softmax cross-entropy: forward against
 * hand values or naive loops, backward against finite differences. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers/activation.h"
#include "layers/add.h"
#include "layers/pool.h"
#include "layers/shortcut.h"
#include "layers/softmax_xent.h"
#include "suites.h"
#include "test_util.h"

START_TEST(relu_forward_backward)
{
    float in[6] = {-2, -0.5f, 0, 0.5f, 3, -1};
    float out[6], dout[6] = {1, 2, 3, 4, 5, 6}, din[6];
    relu_forward(in, out, 6);
    const float want[6] = {0, 0, 0, 0.5f, 3, 0};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(out[i], want[i]);
    relu_backward(out, dout, din, 6);
    const float wantg[6] = {0, 0, 0, 4, 5, 0};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(din[i], wantg[i]);
}
END_TEST

START_TEST(maxpool_hand_case)
{
    /* One 4x4 plane, 2x2 windows stride 2. */
    float in[16] = {1, 2, 5, 6, 3, 4, 7, 8, 9, 10, 13, 14, 11, 12, 15, 16};
    MaxPool2d p;
    maxpool_init(&p, 1, 4, 4, 2, 2);
    ck_assert_int_eq(p.out_h, 2);
    float out[4], dout[4] = {1, 2, 3, 4}, din[16];
    maxpool_forward(&p, in, out, 1);
    ck_assert_float_eq(out[0], 4);
    ck_assert_float_eq(out[1], 8);
    ck_assert_float_eq(out[2], 12);
    ck_assert_float_eq(out[3], 16);
    maxpool_backward(&p, in, dout, din, 1);
    float sum = 0;
    for (int i = 0; i < 16; i++)
        sum += din[i];
    ck_assert_float_eq(sum, 10);
    ck_assert_float_eq(din[5], 1);
    ck_assert_float_eq(din[7], 2);
    ck_assert_float_eq(din[13], 3);
    ck_assert_float_eq(din[15], 4);
}
END_TEST

/* 3x3 windows, stride 1, padding 1 (Inception's pool branch): every output
 * is the maximum of the real positions its window covers; the padding
 * never wins, even over negative values. */
START_TEST(maxpool_padded_hand_case)
{
    const float in[9] = {-5, -1, -7, -3, -9, -2, -8, -4, -6};
    MaxPool2d p;
    maxpool_init_padded(&p, 1, 3, 3, 3, 1, 1);
    ck_assert_int_eq(p.out_h, 3);
    ck_assert_int_eq(p.out_w, 3);
    float out[9], din[9];
    const float dout[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    maxpool_forward(&p, in, out, 1);
    /* Windows clipped to the plane: corner (0,0) sees {-5, -1, -3, -9}. */
    const float want[9] = {-1, -1, -1, -1, -1, -1, -3, -2, -2};
    for (int i = 0; i < 9; i++)
        ck_assert_float_eq(out[i], want[i]);
    maxpool_backward(&p, in, dout, din, 1);
    /* -1 (index 1) wins outputs 0-5, -3 (index 3) output 6, -2 (index 5) outputs 7, 8. */
    ck_assert_float_eq(din[1], 1 + 2 + 3 + 4 + 5 + 6);
    ck_assert_float_eq(din[3], 7);
    ck_assert_float_eq(din[5], 8 + 9);
    ck_assert_float_eq(din[0] + din[2] + din[4] + din[6] + din[7] + din[8], 0);
    /* Stride 2 with padding 1 on 5x5: 3x3 outputs. */
    maxpool_init_padded(&p, 1, 5, 5, 3, 2, 1);
    ck_assert_int_eq(p.out_h, 3);
}
END_TEST

START_TEST(maxpool_ties_go_to_first)
{
    float in[4] = {7, 7, 7, 7}, out[1], dout[1] = {1}, din[4];
    MaxPool2d p;
    maxpool_init(&p, 1, 2, 2, 2, 2);
    maxpool_forward(&p, in, out, 1);
    maxpool_backward(&p, in, dout, din, 1);
    ck_assert_float_eq(din[0], 1);
    ck_assert_float_eq(din[1] + din[2] + din[3], 0);
}
END_TEST

typedef struct {
    MaxPool2d p;
    float *in, *out, *r;
    int N;
} PoolCtx;

static double pool_loss(void *vctx)
{
    PoolCtx *c = vctx;
    maxpool_forward(&c->p, c->in, c->out, c->N);
    return dot_double(c->out, c->r, (size_t)c->N * c->p.C * c->p.out_h * c->p.out_w);
}

START_TEST(maxpool_gradcheck)
{
    static const int CASES[][3] = {{2, 2, 0}, {3, 1, 1}, {3, 2, 1}}; /* k, stride, pad */
    for (int k = 0; k < 3; k++) {
        Rng r;
        rng_seed(&r, 5);
        PoolCtx c = {.N = 2};
        maxpool_init_padded(&c.p, 3, 6, 6, CASES[k][0], CASES[k][1], CASES[k][2]);
        const size_t nin = 2 * 3 * 36, nout = (size_t)2 * 3 * c.p.out_h * c.p.out_w;
        c.in = malloc(sizeof(float) * nin);
        c.out = malloc(sizeof(float) * nout);
        c.r = malloc(sizeof(float) * nout);
        float *din = malloc(sizeof(float) * nin);
        /* Distinct values spaced by >> h so no window's argmax flips. */
        for (size_t i = 0; i < nin; i++)
            c.in[i] = (float)((i * 37) % nin) * 0.1f;
        fill_uniform(&r, c.r, nout, -1, 1);
        maxpool_forward(&c.p, c.in, c.out, c.N);
        maxpool_backward(&c.p, c.in, c.r, din, c.N);
        ck_gradcheck(pool_loss, &c, c.in, din, nin, 1e-2f, 1e-3, "maxpool input");
        free(c.in);
        free(c.out);
        free(c.r);
        free(din);
    }
}
END_TEST

START_TEST(avgpool_forward_backward)
{
    float in[8] = {1, 2, 3, 4, 10, 20, 30, 40}, out[2], dout[2] = {4, 8}, din[8];
    avgpool_forward(in, out, 1, 2, 4);
    ck_assert_float_eq(out[0], 2.5f);
    ck_assert_float_eq(out[1], 25);
    avgpool_backward(dout, din, 1, 2, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(din[i], 1);
        ck_assert_float_eq(din[4 + i], 2);
    }
}
END_TEST

START_TEST(add_and_accumulate)
{
    float a[3] = {1, 2, 3}, b[3] = {10, 20, 30}, out[3];
    add_forward(a, b, out, 3);
    ck_assert_float_eq(out[2], 33);
    add_inplace(a, b, 3);
    ck_assert_float_eq(a[1], 22);
}
END_TEST

START_TEST(softmax_xent_hand_case)
{
    /* logits (0, ln 3): p = (1/4, 3/4). label 1 -> loss -ln(3/4). */
    float z[4] = {0, logf(3), 2, 0}; /* second sample: label 0, p0 = e^2/(e^2+1) */
    int y[2] = {1, 0}, correct;
    float d[4];
    double loss = softmax_xent(z, y, 2, 2, 0.0f, d, &correct);
    double want = (-log(0.75) + log1p(exp(-2.0))) / 2;
    ck_assert_double_eq_tol(loss, want, 1e-6);
    ck_assert_int_eq(correct, 2);
    ck_assert_float_eq_tol(d[0], 0.25f / 2, 1e-6f);
    ck_assert_float_eq_tol(d[1], (0.75f - 1) / 2, 1e-6f);
}
END_TEST

START_TEST(softmax_xent_large_logits_stay_finite)
{
    float z[3] = {1000, -1000, 999};
    int y[1] = {2};
    float d[3];
    double loss = softmax_xent(z, y, 1, 3, 0.0f, d, NULL);
    ck_assert(isfinite(loss));
    ck_assert_double_eq_tol(loss, log1p(exp(-1.0)) + 1.0, 1e-5);
}
END_TEST

/* Label smoothing by hand: two classes, logits (0, ln 3), label 1, ε = 0.2:
 * target (0.1, 0.9), loss 0.9·(−ln 3/4) + 0.1·(−ln 1/4), gradient p − target. */
START_TEST(softmax_xent_label_smoothing_hand_case)
{
    float z[2] = {0, logf(3)}, d[2];
    int y[1] = {1};
    double loss = softmax_xent(z, y, 1, 2, 0.2f, d, NULL);
    ck_assert_double_eq_tol(loss, -0.9 * log(0.75) - 0.1 * log(0.25), 1e-6);
    ck_assert_float_eq_tol(d[0], 0.25f - 0.1f, 1e-6f);
    ck_assert_float_eq_tol(d[1], 0.75f - 0.9f, 1e-6f);
    /* Equal logits, K = 3, ε = 0.5: p = 1/3, target 1/2 + 1/6 for the label
     * and 1/6 for the others; loss −(2/3 + 1/6 + 1/6)·ln(1/3) = ln 3. */
    float u[3] = {0.5f, 0.5f, 0.5f}, du[3];
    int yu[1] = {2};
    ck_assert_double_eq_tol(softmax_xent(u, yu, 1, 3, 0.5f, du, NULL), log(3.0), 1e-6);
    ck_assert_float_eq_tol(du[0], 1.0f / 6, 1e-6f);
    ck_assert_float_eq_tol(du[1], 1.0f / 6, 1e-6f);
    ck_assert_float_eq_tol(du[2], -1.0f / 3, 1e-6f);
}
END_TEST

typedef struct {
    float *z;
    int *y;
    int N, K;
    float smoothing;
} XentCtx;

static double xent_loss(void *vctx)
{
    XentCtx *c = vctx;
    return softmax_xent(c->z, c->y, c->N, c->K, c->smoothing, NULL, NULL);
}

START_TEST(softmax_xent_gradcheck)
{
    const float smoothing[] = {0.0f, 0.1f, 0.5f};
    for (int i = 0; i < 3; i++) {
        Rng r;
        rng_seed(&r, 11);
        float z[5 * 7], d[5 * 7];
        int y[5] = {0, 6, 3, 3, 1};
        fill_uniform(&r, z, 35, -3, 3);
        XentCtx c = {z, y, 5, 7, smoothing[i]};
        softmax_xent(z, y, 5, 7, smoothing[i], d, NULL);
        ck_gradcheck(xent_loss, &c, z, d, 35, 1e-2f, 1e-4, "softmax_xent logits");
    }
}
END_TEST

/* ReLU, global average pool and the option-A shortcut are piecewise linear:
 * finite differences must reproduce their backward exactly away from kinks. */
typedef struct {
    int which; /* 0 relu, 1 avgpool, 2 shortcut */
    PadShortcut sc;
    float *in, *out, *r;
    size_t n_out;
} PiecewiseCtx;

static void piecewise_forward(PiecewiseCtx *c)
{
    if (c->which == 0)
        relu_forward(c->in, c->out, c->n_out);
    else if (c->which == 1)
        avgpool_forward(c->in, c->out, 2, 3, 16);
    else
        shortcut_forward(&c->sc, c->in, c->out, 2);
}

static double piecewise_loss(void *vctx)
{
    PiecewiseCtx *c = vctx;
    piecewise_forward(c);
    return dot_double(c->out, c->r, c->n_out);
}

START_TEST(piecewise_layers_gradcheck)
{
    Rng r;
    rng_seed(&r, 21);
    const size_t n_in = 2 * 3 * 16; /* N=2, C=3, 4x4 */
    for (int which = 0; which < 3; which++) {
        PiecewiseCtx c = {.which = which};
        shortcut_init(&c.sc, 3, 6, 4, 4, 2); /* 3 -> 6 channels, 4x4 -> 2x2 */
        c.n_out = which == 0 ? n_in : which == 1 ? 2 * 3 : 2 * 6 * 4;
        c.in = malloc(sizeof(float) * n_in);
        c.out = malloc(sizeof(float) * c.n_out);
        c.r = malloc(sizeof(float) * c.n_out);
        float *din = malloc(sizeof(float) * n_in);
        /* |x| >= 0.1, so a 1e-2 step never crosses ReLU's kink. */
        for (size_t i = 0; i < n_in; i++)
            c.in[i] = (rng_uniform(&r) < 0.5f ? -1.0f : 1.0f) * (0.1f + rng_uniform(&r));
        fill_uniform(&r, c.r, c.n_out, -1, 1);
        piecewise_forward(&c);
        if (which == 0)
            relu_backward(c.out, c.r, din, n_in);
        else if (which == 1)
            avgpool_backward(c.r, din, 2, 3, 16);
        else
            shortcut_backward(&c.sc, c.r, din, 2);
        const char *names[3] = {"relu input", "avgpool input", "shortcut input"};
        ck_gradcheck(piecewise_loss, &c, c.in, din, n_in, 1e-2f, 1e-4, names[which]);
        free(c.in);
        free(c.out);
        free(c.r);
        free(din);
    }
}
END_TEST

START_TEST(shortcut_subsamples_and_pads_channels)
{
    /* 1 sample, 2 channels of 2x2 -> 4 channels of 1x1: pad one zero channel
     * on each side, keep the top-left pixel. */
    float in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[4];
    PadShortcut sc;
    shortcut_init(&sc, 2, 4, 2, 2, 2);
    shortcut_forward(&sc, in, out, 1);
    ck_assert_float_eq(out[0], 0);
    ck_assert_float_eq(out[1], 1);
    ck_assert_float_eq(out[2], 5);
    ck_assert_float_eq(out[3], 0);
}
END_TEST

Suite *layers_misc_suite(void)
{
    Suite *s = suite_create("layers_misc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, relu_forward_backward);
    tcase_add_test(tc, maxpool_hand_case);
    tcase_add_test(tc, maxpool_ties_go_to_first);
    tcase_add_test(tc, maxpool_padded_hand_case);
    tcase_add_test(tc, maxpool_gradcheck);
    tcase_add_test(tc, avgpool_forward_backward);
    tcase_add_test(tc, add_and_accumulate);
    tcase_add_test(tc, softmax_xent_hand_case);
    tcase_add_test(tc, softmax_xent_large_logits_stay_finite);
    tcase_add_test(tc, softmax_xent_label_smoothing_hand_case);
    tcase_add_test(tc, softmax_xent_gradcheck);
    tcase_add_test(tc, piecewise_layers_gradcheck);
    tcase_add_test(tc, shortcut_subsamples_and_pads_channels);
    suite_add_tcase(s, tc);
    return s;
}
