/* The nChw16c ("blocked") activation layout of the oneDNN backend: every
 * layer that runs on it (BN, average pool, conv bias, oneDNN convolutions)
 * against its NCHW version, the model's layout plan, the reference-conv
 * fallback, and a whole blocked network against finite differences and
 * against the im2col backend. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "layers/batchnorm.h"
#include "layers/blocked.h"
#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/pool.h"
#include "models/arch.h"
#include "models/model.h"
#include "suites.h"
#include "test_util.h"

/* got (blocked) against want (NCHW), relative to max|want|. */
static void assert_blocked_close(const float *got, const float *want, int N, int C, int S,
                                 double rtol, const char *what)
{
    const size_t n = (size_t)N * C * S;
    float *plain = falloc(n);
    blocked_to_plain(got, plain, N, C, S);
    assert_close(plain, want, n, rtol, what);
    free(plain);
}

START_TEST(conversions_round_trip_and_index)
{
    enum { N = 2, C = 32, S = 3 };
    float plain[N * C * S], blocked[N * C * S], back[N * C * S];
    for (int i = 0; i < N * C * S; i++)
        plain[i] = (float)i;
    blocked_from_plain(plain, blocked, N, C, S);
    /* (n=1, c=17, s=2): block 1, lane 1 of sample 1. */
    ck_assert_float_eq(blocked[((1 * 2 + 1) * S + 2) * 16 + 1], plain[(1 * C + 17) * S + 2]);
    ck_assert_uint_eq(blocked_index(C, S, 1, 17, 2), ((1 * 2 + 1) * S + 2) * 16 + 1);
    blocked_to_plain(blocked, back, N, C, S);
    ck_assert_int_eq(memcmp(plain, back, sizeof plain), 0);
    ck_assert(blocked_fits(16) && blocked_fits(64) && !blocked_fits(8) && !blocked_fits(0));
}
END_TEST

/* ---- BatchNorm ---- */

/* The layer's inputs in NCHW: random, with a channel-dependent offset as
 * real activations have. */
typedef struct {
    int N, C, S;
    float *in, *dout, *gamma, *beta;
} BnInputs;

static BnInputs bn_inputs(int N, int C, int S, uint64_t seed)
{
    const size_t n = (size_t)N * C * S;
    BnInputs a = {N, C, S, falloc(n), falloc(n), falloc(C), falloc(C)};
    Rng rng;
    rng_seed(&rng, seed);
    fill_normal(&rng, a.in, n, 2.0f);
    for (size_t i = 0; i < n; i++)
        a.in[i] += (float)((i / S) % C) * 0.5f;
    fill_normal(&rng, a.dout, n, 1.0f);
    fill_uniform(&rng, a.gamma, C, 0.5f, 1.5f);
    fill_uniform(&rng, a.beta, C, -0.5f, 0.5f);
    return a;
}

static void bn_inputs_free(BnInputs *a)
{
    free(a->in);
    free(a->dout);
    free(a->gamma);
    free(a->beta);
}

/* What one layout computed: train results in the first halves of out, din,
 * dgamma, dbeta; eval results in the second. */
typedef struct {
    float *out, *din, *dgamma, *dbeta, *rm, *rv, *sm, *si;
} BnRun;

/* Train forward + backward, then eval forward + backward, in one layout. */
static BnRun bn_run(const BnInputs *a, int blocked, int relu_after)
{
    const int N = a->N, C = a->C, S = a->S;
    const size_t n = (size_t)N * C * S;
    BnRun r = {falloc(2 * n), falloc(2 * n), falloc(2 * (size_t)C), falloc(2 * (size_t)C),
               falloc(C), falloc(C), falloc(C), falloc(C)};
    BatchNorm b;
    batchnorm_init(&b, C, S, 1e-5f, 0.1f);
    b.relu_after = relu_after;
    b.blocked = blocked;
    double *partial = calloc(batchnorm_partial_size(C, N), sizeof(double));
    b.partial = partial;
    float *x = falloc(n), *g = falloc(n);
    if (blocked) {
        blocked_from_plain(a->in, x, N, C, S);
        blocked_from_plain(a->dout, g, N, C, S);
    } else {
        memcpy(x, a->in, n * sizeof(float));
        memcpy(g, a->dout, n * sizeof(float));
    }
    for (int c = 0; c < C; c++) {
        r.rm[c] = 0.1f * (float)c;
        r.rv[c] = 1.0f + 0.05f * (float)c;
    }
    batchnorm_forward_train(&b, a->gamma, a->beta, r.rm, r.rv, x, r.out, r.sm, r.si, N);
    batchnorm_backward_train(&b, a->gamma, x, r.sm, r.si, g, r.din, r.dgamma, r.dbeta, N);
    batchnorm_forward_eval(&b, a->gamma, a->beta, r.rm, r.rv, x, r.out + n, N);
    batchnorm_backward_eval(&b, a->gamma, r.rm, r.rv, x, g, r.din + n, r.dgamma + C, r.dbeta + C, N);
    free(x);
    free(g);
    free(partial);
    return r;
}

static void bn_run_free(BnRun *r)
{
    float *bufs[] = {r->out, r->din, r->dgamma, r->dbeta, r->rm, r->rv, r->sm, r->si};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

START_TEST(bn_blocked_matches_plain)
{
    enum { N = 5, C = 32, S = 7 };
    const size_t n = (size_t)N * C * S;
    BnInputs a = bn_inputs(N, C, S, 11);
    for (int relu = 0; relu < 2; relu++) {
        BnRun p = bn_run(&a, 0, relu), q = bn_run(&a, 1, relu);
        assert_blocked_close(q.out, p.out, N, C, S, 1e-6, "train forward");
        assert_blocked_close(q.out + n, p.out + n, N, C, S, 1e-6, "eval forward");
        assert_blocked_close(q.din, p.din, N, C, S, 1e-5, "train din");
        assert_blocked_close(q.din + n, p.din + n, N, C, S, 1e-6, "eval din");
        assert_close(q.sm, p.sm, C, 1e-6, "saved mean");
        assert_close(q.si, p.si, C, 1e-6, "saved invstd");
        assert_close(q.rm, p.rm, C, 1e-6, "running mean");
        assert_close(q.rv, p.rv, C, 1e-6, "running var");
        assert_close(q.dgamma, p.dgamma, 2 * C, 1e-5, "dgamma");
        assert_close(q.dbeta, p.dbeta, 2 * C, 1e-5, "dbeta");
        bn_run_free(&p);
        bn_run_free(&q);
    }
    bn_inputs_free(&a);
}
END_TEST

START_TEST(bn_blocked_thread_count_bit_identical)
{
    enum { N = 6, C = 48, S = 9 };
    const size_t n = (size_t)N * C * S;
    BnInputs a = bn_inputs(N, C, S, 12);
    const int saved = bs_get_threads();
    BnRun r[2];
    for (int t = 0; t < 2; t++) {
        bs_set_threads(t + 1);
        r[t] = bn_run(&a, 1, 0);
    }
    bs_set_threads(saved);
    ck_assert_int_eq(memcmp(r[0].out, r[1].out, 2 * n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(r[0].din, r[1].din, 2 * n * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(r[0].dgamma, r[1].dgamma, 2 * C * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(r[0].rv, r[1].rv, C * sizeof(float)), 0);
    bn_run_free(&r[0]);
    bn_run_free(&r[1]);
    bn_inputs_free(&a);
}
END_TEST

/* ---- average pool and conv bias ---- */

START_TEST(avgpool_and_bias_blocked_match_plain)
{
    enum { N = 3, C = 32, S = 10 };
    const size_t n = (size_t)N * C * S;
    Rng rng;
    rng_seed(&rng, 13);
    float *x = falloc(n), *xb = falloc(n), *d = falloc(n), *db = falloc(n);
    float out[N * C], outb[N * C], g[N * C], bias[C], gb1[C] = {0}, gb2[C] = {0};
    fill_normal(&rng, x, n, 1.0f);
    fill_normal(&rng, g, N * C, 1.0f);
    fill_normal(&rng, bias, C, 1.0f);
    blocked_from_plain(x, xb, N, C, S);
    avgpool_forward(x, out, N, C, S);
    avgpool_forward_blocked(xb, outb, N, C, S);
    ck_assert_int_eq(memcmp(out, outb, sizeof out), 0); /* same order of the same sums */
    avgpool_backward(g, d, N, C, S);
    avgpool_backward_blocked(g, db, N, C, S);
    assert_blocked_close(db, d, N, C, S, 0, "avgpool backward");

    Conv2d c;
    conv2d_init(&c, 4, C, 1, 1, 0, 2, 5, 1); /* out positions 2 x 5 = S */
    conv2d_add_bias(&c, bias, x, N);
    blocked_add_bias(bias, xb, N, C, S);
    assert_blocked_close(xb, x, N, C, S, 0, "bias add");
    conv2d_bias_grad(&c, x, gb1, N);
    blocked_bias_grad(xb, gb2, N, C, S);
    assert_close(gb2, gb1, C, 1e-6, "bias grad");
    free(x);
    free(xb);
    free(d);
    free(db);
}
END_TEST

/* ---- oneDNN convolutions on blocked tensors ---- */

static void check_conv_layouts(int in_c, int out_c, int k, int stride, int pad, int src_b, int dst_b)
{
    enum { N = 3, H = 9, W = 7 };
    Conv2d c;
    conv2d_init(&c, in_c, out_c, k, stride, pad, H, W, 1);
    const int Si = H * W, So = c.out_h * c.out_w;
    const size_t ni = (size_t)N * in_c * Si, no = (size_t)N * out_c * So, nw = conv2d_num_weights(&c);
    Rng rng;
    rng_seed(&rng, 14);
    float *x = falloc(ni), *w = falloc(nw), *b = falloc(out_c), *g = falloc(no);
    fill_normal(&rng, x, ni, 1.0f);
    fill_normal(&rng, w, nw, 0.3f);
    fill_normal(&rng, b, out_c, 1.0f);
    fill_normal(&rng, g, no, 1.0f);
    /* reference, NCHW */
    float *ws = falloc(conv2d_workspace(&c)), *y = falloc(no), *dx = falloc(ni);
    float *dw = falloc(nw), *dbias = falloc(out_c);
    conv2d_forward(&c, w, b, x, y, N, ws);
    conv2d_backward(&c, w, x, g, dx, dw, dbias, N, ws);
    /* oneDNN with the layouts asked for */
    float *xl = falloc(ni), *gl = falloc(no), *yl = falloc(no), *dxl = falloc(ni);
    float *dwl = falloc(nw), *dbl = falloc(out_c);
    if (src_b)
        blocked_from_plain(x, xl, N, in_c, Si);
    else
        memcpy(xl, x, ni * sizeof(float));
    if (dst_b)
        blocked_from_plain(g, gl, N, out_c, So);
    else
        memcpy(gl, g, no * sizeof(float));
    OneDnnEngine *e = onednn_engine_create();
    OneDnnConv *oc = onednn_conv_create(&c);
    ck_assert_ptr_nonnull(e);
    onednn_conv_set_layouts(oc, src_b, dst_b);
    ck_assert(onednn_conv_forward(e, oc, w, b, xl, yl, N) == 0);
    ck_assert(onednn_conv_backward(e, oc, w, xl, gl, dxl, dwl, dbl, N) == 0);
    if (dst_b)
        assert_blocked_close(yl, y, N, out_c, So, 1e-5, "forward");
    else
        assert_close(yl, y, no, 1e-5, "forward");
    if (src_b)
        assert_blocked_close(dxl, dx, N, in_c, Si, 1e-5, "din");
    else
        assert_close(dxl, dx, ni, 1e-5, "din");
    assert_close(dwl, dw, nw, 1e-5, "dw");
    assert_close(dbl, dbias, out_c, 1e-5, "db");
    onednn_conv_destroy(oc);
    onednn_engine_destroy(e);
    float *bufs[] = {x, w, b, g, ws, y, dx, dw, dbias, xl, gl, yl, dxl, dwl, dbl};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

START_TEST(onednn_conv_on_blocked_tensors_matches_reference)
{
    if (!onednn_available())
        return;
    check_conv_layouts(16, 32, 3, 2, 1, 1, 1); /* a downsampling conv, both blocked */
    check_conv_layouts(32, 32, 3, 1, 1, 1, 1);
    check_conv_layouts(16, 32, 1, 2, 0, 1, 1); /* a 1x1 projection */
    check_conv_layouts(3, 16, 3, 1, 1, 0, 1);  /* the stem: image in NCHW */
    check_conv_layouts(32, 10, 3, 1, 1, 1, 0); /* out of the blocked world */
}
END_TEST

/* ---- the model ---- */

enum { IMG = 4 }; /* 4x4 images: 4, 2, 1 positions per stage (fast finite differences) */

static ModelSpec resnet(int depth, int width, NormVariant v, int identity)
{
    ModelSpec s = {.arch = ARCH_RESNET, .depth = depth, .width = width, .norm = v,
                   .stem_norm = STEM_AUTO, .groups = 4, .in_c = 3, .in_h = IMG, .in_w = IMG,
                   .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f,
                   .identity_shortcut = identity};
    return s;
}

static void build(Model *m, ModelSpec s, int batch, ConvBackend backend)
{
    BsError err = {0};
    Rng r;
    rng_seed(&r, 5);
    ck_assert_int_eq(model_build(m, &s, batch, &r, &err), BS_OK);
    ck_assert_int_eq(model_set_conv_backend(m, backend, &err), BS_OK);
}

static int count_blocked(const Model *m)
{
    int n = 0;
    for (int t = 0; t < m->n_tensors; t++)
        n += m->tensors[t].blocked;
    return n;
}

START_TEST(layout_plan_blocks_what_it_can)
{
    Model m;
    build(&m, resnet(20, 16, VARIANT_BN, 0), 2, CONV_IM2COL);
    ck_assert_int_eq(count_blocked(&m), 0); /* the reference backend: NCHW only */
    model_free(&m);
    if (!onednn_available())
        return;
    /* BN ResNet-20: everything but the images, the pooled features and the logits. */
    build(&m, resnet(20, 16, VARIANT_BN, 0), 2, CONV_ONEDNN);
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        const int want = op->kind != OP_AVGPOOL && op->kind != OP_LINEAR;
        ck_assert_msg(m.tensors[op->out].blocked == want, "op %d (%s) output", i, op_kind_name(op->kind));
        if (op->kind == OP_BN)
            ck_assert(op->u.bn.blocked);
    }
    ck_assert(!m.tensors[0].blocked);
    /* Switching back plans NCHW again. */
    BsError err = {0};
    ck_assert_int_eq(model_set_conv_backend(&m, CONV_IM2COL, &err), BS_OK);
    ck_assert_int_eq(count_blocked(&m), 0);
    model_free(&m);
    /* GroupNorm runs on NCHW only: its inputs and outputs stay plain. */
    build(&m, resnet(20, 16, VARIANT_XBNBLOCK, 0), 2, CONV_ONEDNN);
    int gn = 0;
    for (int i = 0; i < m.n_ops; i++)
        if (m.ops[i].kind == OP_GN) {
            ck_assert(!m.tensors[m.ops[i].in].blocked && !m.tensors[m.ops[i].out].blocked);
            gn++;
        }
    ck_assert_int_gt(gn, 0);
    ck_assert_int_gt(count_blocked(&m), 0);
    model_free(&m);
    /* Width 8: stage 1 (8 channels) does not fit a block, stages 2 and 3 do. */
    build(&m, resnet(8, 8, VARIANT_BN, 0), 2, CONV_ONEDNN);
    for (int t = 0; t < m.n_tensors; t++)
        ck_assert(!m.tensors[t].blocked || blocked_fits(m.tensors[t].c));
    ck_assert_int_gt(count_blocked(&m), 0);
    model_free(&m);
    build(&m, resnet(8, 6, VARIANT_BN, 0), 2, CONV_ONEDNN); /* 6, 12, 24 channels */
    ck_assert_int_eq(count_blocked(&m), 0);
    model_free(&m);
    /* The option-A shortcut (parameter-free) is NCHW only: its tensors stay plain. */
    build(&m, resnet(8, 16, VARIANT_BN, 1), 2, CONV_ONEDNN);
    for (int i = 0; i < m.n_ops; i++)
        if (m.ops[i].kind == OP_SHORTCUT)
            ck_assert(!m.tensors[m.ops[i].in].blocked && !m.tensors[m.ops[i].out].blocked);
    model_free(&m);
}
END_TEST

/* Gradients of a blocked ResNet-8 (width 16) against finite differences,
 * in training and inference mode (ReLUs make a few entries cross kinks). */
START_TEST(blocked_net_gradients_match_finite_differences)
{
    if (!onednn_available())
        return;
    for (int train = 1; train >= 0; train--) {
        Model m;
        build(&m, resnet(8, 16, VARIANT_BN, 0), 4, CONV_ONEDNN);
        ck_assert_int_gt(count_blocked(&m), 10);
        Rng r;
        rng_seed(&r, 15);
        float x[4 * 3 * IMG * IMG];
        int y[4] = {3, 1, 4, 1};
        fill_normal(&r, x, sizeof x / sizeof *x, 1.0f);
        ModelLossCtx c = {&m, x, y, 4, train};
        float *g = model_analytic_grads(&c);
        /* Every 7th parameter (all layers, ~11k entries) keeps this fast. */
        size_t bad = 0, checked = 0;
        for (size_t i = 0; i < m.n_params; i += 7, checked++)
            bad += gradcheck_count_bad(model_loss_at, &c, m.params + i, g + i, 1, 3e-3f, 5e-3);
        ck_assert_msg(bad * 50 <= checked, "train=%d: %zu of %zu gradients off", train, bad, checked);
        free(g);
        model_free(&m);
    }
}
END_TEST

/* One training step's logits, gradients and running statistics. */
static void step(Model *m, float *logits, float *grads, float *stats)
{
    Rng r;
    rng_seed(&r, 16);
    float x[6 * 3 * IMG * IMG];
    int y[6] = {0, 1, 2, 3, 4, 5};
    fill_normal(&r, x, sizeof x / sizeof *x, 1.0f);
    model_forward(m, x, 6, 1);
    model_loss(m, y, 6, NULL, 1);
    model_zero_grad(m);
    model_backward(m, 6, 1);
    memcpy(logits, m->tensors[m->output].data, sizeof(float) * 6 * 10);
    memcpy(grads, m->grads, sizeof(float) * m->n_params);
    memcpy(stats, m->stats, sizeof(float) * m->n_stats);
}

/* The blocked net, the same net on im2col, and the blocked net with its
 * convolutions forced onto the reference fallback (what happens when
 * oneDNN refuses a call) agree to float rounding. */
START_TEST(blocked_net_agrees_with_im2col_and_fallback)
{
    if (!onednn_available())
        return;
    Model a, b, f;
    build(&a, resnet(8, 16, VARIANT_BN, 0), 6, CONV_IM2COL);
    build(&b, resnet(8, 16, VARIANT_BN, 0), 6, CONV_ONEDNN);
    build(&f, resnet(8, 16, VARIANT_BN, 0), 6, CONV_ONEDNN);
    for (int i = 0; i < f.n_ops; i++) /* keeps the blocked plan, drops oneDNN */
        if (f.ops[i].kind == OP_CONV) {
            onednn_conv_destroy(f.ops[i].dnnl);
            f.ops[i].dnnl = NULL;
        }
    ck_assert_int_gt(count_blocked(&f), 10);
    const size_t np = a.n_params, ns = a.n_stats;
    float la[60], lb[60], lf[60];
    float *ga = falloc(np), *gb = falloc(np), *gf = falloc(np);
    float *sa = falloc(ns), *sb = falloc(ns), *sf = falloc(ns);
    step(&a, la, ga, sa);
    step(&b, lb, gb, sb);
    step(&f, lf, gf, sf);
    assert_close(lb, la, 60, 1e-5, "logits (oneDNN, blocked)");
    assert_close(gb, ga, np, 1e-4, "gradients (oneDNN, blocked)");
    assert_close(sb, sa, ns, 1e-5, "running statistics (oneDNN, blocked)");
    assert_close(lf, la, 60, 1e-5, "logits (fallback)");
    assert_close(gf, ga, np, 1e-4, "gradients (fallback)");
    assert_close(sf, sa, ns, 1e-5, "running statistics (fallback)");
    float *bufs[] = {ga, gb, gf, sa, sb, sf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    model_free(&a);
    model_free(&b);
    model_free(&f);
}
END_TEST

Suite *blocked_suite(void)
{
    Suite *s = suite_create("blocked");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conversions_round_trip_and_index);
    tcase_add_test(tc, bn_blocked_matches_plain);
    tcase_add_test(tc, bn_blocked_thread_count_bit_identical);
    tcase_add_test(tc, avgpool_and_bias_blocked_match_plain);
    tcase_add_test(tc, onednn_conv_on_blocked_tensors_matches_reference);
    tcase_add_test(tc, layout_plan_blocks_what_it_can);
    tcase_add_test(tc, blocked_net_agrees_with_im2col_and_fallback);
    suite_add_tcase(s, tc);
    TCase *grad = tcase_create("grad");
    tcase_set_timeout(grad, 300);
    tcase_add_test(grad, blocked_net_gradients_match_finite_differences);
    suite_add_tcase(s, grad);
    return s;
}
