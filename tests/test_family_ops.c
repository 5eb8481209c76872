/* The ops the block families added (issue 13): grouped and depthwise
 * convolution (reference and oneDNN, NCHW and blocked), ReLU6, channel
 * concat and the ShuffleNetV2 split: hand-computed cases, a direct-loop
 * reference and finite differences. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers/blocked.h"
#include "layers/channel_split.h"
#include "layers/concat.h"
#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/relu6.h"
#include "suites.h"
#include "test_util.h"

/* ---- grouped convolution -------------------------------------------------- */

typedef struct {
    int N, in_c, out_c, k, stride, pad, h, w, groups;
} GroupCase;

static const GroupCase GROUP_CASES[] = {
    {2, 4, 6, 3, 1, 1, 5, 5, 2},   /* two groups */
    {2, 8, 8, 3, 2, 1, 7, 6, 4},   /* four groups, stride 2, odd sizes */
    {3, 6, 6, 3, 1, 1, 6, 6, 6},   /* depthwise */
    {2, 5, 5, 3, 2, 1, 7, 7, 5},   /* depthwise, stride 2 */
    {2, 4, 8, 1, 1, 0, 4, 4, 2},   /* grouped pointwise (the no-im2col path) */
    {2, 16, 32, 3, 1, 1, 4, 4, 16}, /* channel multiplier 2 */
    {2, 58, 58, 3, 1, 1, 4, 4, 58}, /* ShuffleNetV2 x1.0's depthwise: padded blocks */
    {2, 24, 24, 3, 2, 1, 6, 6, 24}, /* MobileNetV2's 24 channels, stride 2 */
    {2, 32, 32, 3, 1, 1, 4, 4, 8},  /* ResNeXt's 8 groups of 4 */
    {2, 32, 32, 3, 2, 1, 6, 6, 32}, /* depthwise on whole blocks (NHWC too), stride 2 */
};
#define N_GROUP_CASES ((int)(sizeof GROUP_CASES / sizeof GROUP_CASES[0]))

static void make_conv(Conv2d *c, const GroupCase *g)
{
    conv2d_init(c, g->in_c, g->out_c, g->k, g->stride, g->pad, g->h, g->w, 1);
    ck_assert_int_eq(conv2d_set_groups(c, g->groups), 0);
}

/* The definition, one output element at a time. */
static void naive_grouped(const Conv2d *c, const float *w, const float *b, const float *in, float *out, int N)
{
    const int ig = c->in_c / c->groups, og = c->out_c / c->groups;
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < c->out_c; oc++)
            for (int oy = 0; oy < c->out_h; oy++)
                for (int ox = 0; ox < c->out_w; ox++) {
                    double s = b ? b[oc] : 0;
                    const int g = oc / og;
                    for (int j = 0; j < ig; j++)
                        for (int ky = 0; ky < c->k; ky++)
                            for (int kx = 0; kx < c->k; kx++) {
                                int iy = oy * c->stride - c->pad + ky, ix = ox * c->stride - c->pad + kx;
                                if (iy < 0 || iy >= c->in_h || ix < 0 || ix >= c->in_w)
                                    continue;
                                const int ic = g * ig + j;
                                s += (double)w[((oc * ig + j) * c->k + ky) * c->k + kx] *
                                     in[((n * c->in_c + ic) * c->in_h + iy) * c->in_w + ix];
                            }
                    out[((n * c->out_c + oc) * c->out_h + oy) * c->out_w + ox] = (float)s;
                }
}

START_TEST(grouped_conv_shapes_and_counts)
{
    Conv2d c;
    conv2d_init(&c, 8, 12, 3, 1, 1, 5, 5, 0);
    ck_assert_int_eq(conv2d_set_groups(&c, 4), 0);
    ck_assert_uint_eq(conv2d_num_weights(&c), 12 * 2 * 9);
    ck_assert_int_eq(conv2d_macs(&c), 12L * 25 * 2 * 9);
    ck_assert_int_eq(conv2d_set_groups(&c, 3), -1); /* 3 does not divide 8 */
    ck_assert_int_eq(c.groups, 4);
    ck_assert_int_eq(conv2d_set_groups(&c, 0), -1);
}
END_TEST

/* A hand case: depthwise 1x1 scales each channel by its own weight. */
START_TEST(depthwise_pointwise_scales_each_channel)
{
    Conv2d c;
    conv2d_init(&c, 3, 3, 1, 1, 0, 1, 2, 0);
    conv2d_set_groups(&c, 3);
    const float w[3] = {2, -1, 0.5f}, x[6] = {1, 2, 3, 4, 5, 6};
    float y[6], ws[8];
    conv2d_forward(&c, w, NULL, x, y, 1, ws);
    const float want[6] = {2, 4, -3, -4, 2.5f, 3};
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y[i], want[i]);
}
END_TEST

START_TEST(grouped_conv_forward_matches_definition)
{
    const GroupCase *g = &GROUP_CASES[_i];
    Conv2d c;
    make_conv(&c, g);
    Rng r;
    rng_seed(&r, 40 + (uint64_t)_i);
    size_t nx = (size_t)g->N * g->in_c * g->h * g->w, ny = (size_t)g->N * g->out_c * c.out_h * c.out_w;
    float *x = falloc(nx), *w = falloc(conv2d_num_weights(&c)), *b = falloc((size_t)g->out_c);
    float *y = falloc(ny), *ref = falloc(ny), *ws = falloc(conv2d_workspace(&c));
    fill_normal(&r, x, nx, 1);
    fill_normal(&r, w, conv2d_num_weights(&c), 0.5f);
    fill_normal(&r, b, (size_t)g->out_c, 0.5f);
    conv2d_forward(&c, w, b, x, y, g->N, ws);
    naive_grouped(&c, w, b, x, ref, g->N);
    assert_close(y, ref, ny, 1e-5, "grouped conv forward");
    free(x), free(w), free(b), free(y), free(ref), free(ws);
}
END_TEST

typedef struct {
    const Conv2d *c;
    float *x, *w, *b, *y, *ws;
    const float *dy;
    int N;
} ConvLoss;

static double conv_loss(void *vctx)
{
    ConvLoss *l = vctx;
    conv2d_forward(l->c, l->w, l->b, l->x, l->y, l->N, l->ws);
    return dot_double(l->y, l->dy, (size_t)l->N * l->c->out_c * l->c->out_h * l->c->out_w);
}

START_TEST(grouped_conv_backward_matches_finite_differences)
{
    const GroupCase *g = &GROUP_CASES[_i];
    Conv2d c;
    make_conv(&c, g);
    Rng r;
    rng_seed(&r, 60 + (uint64_t)_i);
    const size_t nx = (size_t)g->N * g->in_c * g->h * g->w, nw = conv2d_num_weights(&c);
    const size_t ny = (size_t)g->N * g->out_c * c.out_h * c.out_w;
    ConvLoss l = {&c, falloc(nx), falloc(nw), falloc((size_t)g->out_c), falloc(ny),
                  falloc(conv2d_workspace(&c)), NULL, g->N};
    float *dy = falloc(ny), *dx = falloc(nx), *dw = falloc(nw), *db = falloc((size_t)g->out_c);
    fill_normal(&r, l.x, nx, 1);
    fill_normal(&r, l.w, nw, 0.5f);
    fill_normal(&r, l.b, (size_t)g->out_c, 0.5f);
    fill_normal(&r, dy, ny, 1);
    l.dy = dy;
    conv2d_backward(&c, l.w, l.x, dy, dx, dw, db, g->N, l.ws);
    ck_gradcheck(conv_loss, &l, l.x, dx, nx, 1e-2f, 2e-3, "grouped conv dx");
    ck_gradcheck(conv_loss, &l, l.w, dw, nw, 1e-2f, 2e-3, "grouped conv dw");
    ck_gradcheck(conv_loss, &l, l.b, db, (size_t)g->out_c, 1e-2f, 2e-3, "grouped conv db");
    free(l.x), free(l.w), free(l.b), free(l.y), free(l.ws), free(dy), free(dx), free(dw), free(db);
}
END_TEST

/* oneDNN against the reference for every case, on NCHW tensors and on
 * blocked ones (padded when a channel count is not a multiple of 16; the
 * padding lanes of the results must be zero). */
START_TEST(grouped_conv_onednn_matches_reference)
{
    if (!onednn_available())
        return;
    const GroupCase *g = &GROUP_CASES[_i];
    Conv2d c;
    make_conv(&c, g);
    Rng r;
    rng_seed(&r, 80 + (uint64_t)_i);
    const size_t nx = (size_t)g->N * g->in_c * g->h * g->w, nw = conv2d_num_weights(&c);
    const size_t ny = (size_t)g->N * g->out_c * c.out_h * c.out_w, nb = (size_t)g->out_c;
    float *x = falloc(nx), *w = falloc(nw), *b = falloc(nb), *dy = falloc(ny), *ws = falloc(conv2d_workspace(&c));
    fill_normal(&r, x, nx, 1);
    fill_normal(&r, w, nw, 0.5f);
    fill_normal(&r, b, nb, 0.5f);
    fill_normal(&r, dy, ny, 1);
    float *y = falloc(ny), *dx = falloc(nx), *dw = falloc(nw), *db = falloc(nb);
    conv2d_forward(&c, w, b, x, y, g->N, ws);
    conv2d_backward(&c, w, x, dy, dx, dw, db, g->N, ws);
    OneDnnEngine *e = onednn_engine_create();
    OneDnnConv *oc = onednn_conv_create(&c);
    ck_assert(e && oc);
    const int Si = g->h * g->w, So = c.out_h * c.out_w;
    const size_t bx = (size_t)g->N * blocked_sample(g->in_c, Si), by = (size_t)g->N * blocked_sample(g->out_c, So);
    for (int blk = 0; blk <= BLOCKED_NHWC; blk++) { /* NCHW, nChw16c, NHWC (whole blocks) */
        if (blk == BLOCKED_NHWC && !(blocked_nhwc_fits(g->in_c) && blocked_nhwc_fits(g->out_c)))
            continue;
        onednn_conv_set_layouts(oc, blk, blk);
        float *xi = falloc(bx), *dyi = falloc(by), *y2 = falloc(by), *dx2 = falloc(bx);
        float *dw2 = falloc(nw), *db2 = falloc(nb), *plain = falloc(nx > ny ? nx : ny);
        if (blk) {
            blocked_from_plain(x, xi, g->N, g->in_c, Si, blk);
            blocked_from_plain(dy, dyi, g->N, g->out_c, So, blk);
        } else {
            memcpy(xi, x, sizeof(float) * nx);
            memcpy(dyi, dy, sizeof(float) * ny);
        }
        ck_assert_int_eq(onednn_conv_forward(e, oc, w, b, xi, y2, g->N), 0);
        ck_assert_int_eq(onednn_conv_backward(e, oc, w, xi, dyi, dx2, dw2, db2, g->N), 0);
        if (blk) {
            for (int n = 0; n < g->N; n++) /* padding lanes stay zero */
                for (int ch = g->out_c; ch < blocked_channels(g->out_c); ch++)
                    for (int s = 0; s < So; s++)
                        ck_assert(y2[blocked_index(g->out_c, So, blk, n, ch, s)] == 0.0f);
            blocked_to_plain(y2, plain, g->N, g->out_c, So, blk);
            memcpy(y2, plain, sizeof(float) * ny);
            blocked_to_plain(dx2, plain, g->N, g->in_c, Si, blk);
            memcpy(dx2, plain, sizeof(float) * nx);
        }
        assert_close(y2, y, ny, 1e-5, "onednn grouped forward");
        assert_close(dx2, dx, nx, 1e-5, "onednn grouped dx");
        assert_close(dw2, dw, nw, 1e-5, "onednn grouped dw");
        assert_close(db2, db, nb, 1e-5, "onednn grouped db");
        free(xi), free(dyi), free(y2), free(dx2), free(dw2), free(db2), free(plain);
    }
    onednn_conv_destroy(oc);
    onednn_engine_destroy(e);
    free(x), free(w), free(b), free(dy), free(ws), free(y), free(dx), free(dw), free(db);
}
END_TEST

/* ---- ReLU6, concat, split --------------------------------------------------- */

START_TEST(relu6_clips_and_passes_gradient_inside)
{
    const float x[6] = {-1.0f, 0.0f, 0.5f, 5.9f, 6.0f, 7.5f};
    const float want[6] = {0, 0, 0.5f, 5.9f, 6, 6};
    const float dy[6] = {1, 2, 3, 4, 5, 6}, want_dx[6] = {0, 0, 3, 4, 0, 0};
    float y[6], dx[6];
    relu6_forward(x, y, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(y[i], want[i]);
    relu6_backward(y, dy, dx, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(dx[i], want_dx[i]);
    float z[2] = {NAN, 8.0f};
    relu6_forward(z, z, 2); /* in place; NaN passes as in PyTorch */
    ck_assert(isnan(z[0]));
    ck_assert_float_eq(z[1], 6.0f);
}
END_TEST

typedef struct {
    float *x, *y;
    const float *dy;
    size_t n;
} EltLoss;

static double relu6_loss(void *vctx)
{
    EltLoss *l = vctx;
    relu6_forward(l->x, l->y, l->n);
    return dot_double(l->y, l->dy, l->n);
}

START_TEST(relu6_backward_matches_finite_differences)
{
    enum { N = 300 };
    Rng r;
    rng_seed(&r, 5);
    float *x = falloc(N), *y = falloc(N), *dy = falloc(N), *dx = falloc(N);
    fill_uniform(&r, x, N, -3, 9);
    for (int i = 0; i < N; i++) /* keep clear of the kinks at 0 and 6 */
        if (fabsf(x[i]) < 0.05f || fabsf(x[i] - 6) < 0.05f)
            x[i] += 0.2f;
    fill_normal(&r, dy, N, 1);
    EltLoss l = {x, y, dy, N};
    relu6_forward(x, y, N);
    relu6_backward(y, dy, dx, N);
    ck_gradcheck(relu6_loss, &l, x, dx, N, 1e-2f, 1e-3, "relu6");
    free(x), free(y), free(dy), free(dx);
}
END_TEST

START_TEST(concat_joins_per_sample_and_splits_back)
{
    /* N = 2; a: 1 channel x 2 positions, b: 2 channels x 2 positions. */
    const float a[4] = {1, 2, 3, 4}, b[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    float out[12], da[4], db[8];
    concat_forward(a, 2, b, 4, out, 2);
    const float want[12] = {1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12};
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(out[i], want[i]);
    concat_backward(out, da, 2, db, 4, 2);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(da[i], a[i]);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(db[i], b[i]);
}
END_TEST

START_TEST(channel_split_takes_even_and_odd_channels)
{
    /* N = 1, C = 4 channels of 2 positions: channel c holds 10c, 10c+1. */
    const float x[8] = {0, 1, 10, 11, 20, 21, 30, 31};
    float even[4], odd[4];
    channel_split_forward(x, even, 1, 4, 2, 0);
    channel_split_forward(x, odd, 1, 4, 2, 1);
    const float we[4] = {0, 1, 20, 21}, wo[4] = {10, 11, 30, 31};
    for (int i = 0; i < 4; i++) {
        ck_assert_float_eq(even[i], we[i]);
        ck_assert_float_eq(odd[i], wo[i]);
    }
    /* Backward: the picked channels get dout, the others zero. */
    float dx[8];
    for (int i = 0; i < 8; i++)
        dx[i] = 99;
    channel_split_backward(wo, dx, 1, 4, 2, 1);
    const float wdx[8] = {0, 0, 10, 11, 0, 0, 30, 31};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(dx[i], wdx[i]);
}
END_TEST

/* split(even), split(odd), a conv on the odd half, concat: the whole
 * ShuffleNetV2 stride-1 wiring through the model's gradient fork, against
 * finite differences (no kinks: every gradient must match). */
START_TEST(split_concat_network_gradients)
{
    Model m;
    model_init(&m);
    BsError err = {0};
    Rng r;
    rng_seed(&r, 9);
    int x = model_input(&m, 2, 4, 4);
    x = model_conv(&m, "c0", x, 4, 3, 1, 1, 1);
    int keep = model_channel_split(&m, x, 0), odd = model_channel_split(&m, x, 1);
    int h = model_conv_grouped(&m, "dw", odd, 2, 3, 1, 1, 2, 1);
    h = model_relu6(&m, model_gn(&m, "gn", h, 1, 1e-5f));
    int y = model_concat(&m, keep, h);
    ck_assert_int_eq(m.tensors[y].c, 4);
    y = model_linear(&m, "fc", model_avgpool(&m, y), 3, 1);
    ck_assert_int_eq(model_finish(&m, y, 3, &r, &err), BS_OK);
    float in[3 * 2 * 16];
    int labels[3] = {0, 2, 1};
    fill_normal(&r, in, sizeof in / sizeof *in, 1.0f);
    ModelLossCtx c = {&m, in, labels, 3, 1};
    float *g = model_analytic_grads(&c);
    size_t bad = gradcheck_count_bad(model_loss_at, &c, m.params, g, m.n_params, 3e-3f, 5e-3);
    ck_assert_msg(bad * 50 <= m.n_params, "%zu of %zu gradients off", bad, m.n_params);
    free(g);
    model_free(&m);
}
END_TEST

Suite *family_ops_suite(void)
{
    Suite *s = suite_create("family_ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grouped_conv_shapes_and_counts);
    tcase_add_test(tc, depthwise_pointwise_scales_each_channel);
    tcase_add_loop_test(tc, grouped_conv_forward_matches_definition, 0, N_GROUP_CASES);
    tcase_add_loop_test(tc, grouped_conv_backward_matches_finite_differences, 0, N_GROUP_CASES);
    tcase_add_loop_test(tc, grouped_conv_onednn_matches_reference, 0, N_GROUP_CASES);
    tcase_add_test(tc, relu6_clips_and_passes_gradient_inside);
    tcase_add_test(tc, relu6_backward_matches_finite_differences);
    tcase_add_test(tc, concat_joins_per_sample_and_splits_back);
    tcase_add_test(tc, channel_split_takes_even_and_odd_channels);
    tcase_add_test(tc, split_concat_network_gradients);
    suite_add_tcase(s, tc);
    return s;
}
