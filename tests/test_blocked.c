/* The nChw16c ("blocked") activation layout of the oneDNN backend: every
 * layer that runs on it (BN, average pool, conv bias, oneDNN convolutions)
 * against its NCHW version, the model's layout plan, the reference-conv
 * fallback, and a whole blocked network against finite differences and
 * against the im2col backend. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "layers/activation.h"
#include "layers/add.h"
#include "layers/batchnorm.h"
#include "layers/channel_split.h"
#include "layers/concat.h"
#include "layers/blocked.h"
#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/groupnorm.h"
#include "layers/onednn_unary.h"
#include "layers/pool.h"
#include "layers/relu6.h"
#include "models/arch.h"
#include "models/model.h"
#include "suites.h"
#include "test_util.h"

/* Floats of N samples of a C x S tensor in the blocked layout. */
static size_t bsize(int N, int C, int S) { return (size_t)N * blocked_sample(C, S); }

/* The blocked layout the tests keep a C-channel tensor in: NHWC where C
 * allows (whole blocks), else nChw16c; force_16c makes it nChw16c always,
 * so the kernels' checks run in both layouts on the same channel counts. */
static int force_16c;
static int lay(int C) { return !force_16c && blocked_nhwc_fits(C) ? BLOCKED_NHWC : BLOCKED_16C; }

/* The padding lanes of blocked x (C not a multiple of 16) hold zeros. */
static void assert_padding_zero(const float *x, int N, int C, int S, const char *what)
{
    for (int n = 0; n < N; n++)
        for (int c = C; c < blocked_channels(C); c++)
            for (int s = 0; s < S; s++)
                ck_assert_msg(x[blocked_index(C, S, lay(C), n, c, s)] == 0.0f, "%s: padding lane %d of sample %d is %g",
                              what, c, n, (double)x[blocked_index(C, S, lay(C), n, c, s)]);
}

/* got (blocked) against want (NCHW), relative to max|want|; the padding
 * lanes must be zero. */
static void assert_blocked_close(const float *got, const float *want, int N, int C, int S,
                                 double rtol, const char *what)
{
    const size_t n = (size_t)N * C * S;
    float *plain = falloc(n);
    blocked_to_plain(got, plain, N, C, S, lay(C));
    assert_close(plain, want, n, rtol, what);
    assert_padding_zero(got, N, C, S, what);
    free(plain);
}

/* A blocked buffer whose padding lanes hold garbage, as a reused scratch
 * buffer may: the kernels must write those lanes, not trust them. */
static float *falloc_dirty(size_t n)
{
    float *x = falloc(n);
    for (size_t i = 0; i < n; i++)
        x[i] = 12345.0f;
    return x;
}

START_TEST(conversions_round_trip_and_index)
{
    enum { N = 2, C = 32, S = 3 };
    float plain[N * C * S], blocked[N * C * S], back[N * C * S];
    for (int i = 0; i < N * C * S; i++)
        plain[i] = (float)i;
    /* 32 channels in NHWC: (n=1, c=17, s=1) is in row 1 of sample 1. */
    ck_assert(blocked_nhwc_fits(C) && blocked_step(C, BLOCKED_NHWC) == C);
    blocked_from_plain(plain, blocked, N, C, S, BLOCKED_NHWC);
    ck_assert_float_eq(blocked[(1 * S + 1) * C + 17], plain[(1 * C + 17) * S + 1]);
    ck_assert_uint_eq(blocked_index(C, S, BLOCKED_NHWC, 1, 17, 1), (1 * S + 1) * C + 17);
    blocked_to_plain(blocked, back, N, C, S, BLOCKED_NHWC);
    ck_assert_int_eq(memcmp(plain, back, sizeof plain), 0);
    /* In nChw16c: block 1, lane 1 of sample 1. */
    blocked_from_plain(plain, blocked, N, C, S, BLOCKED_16C);
    ck_assert_float_eq(blocked[((1 * 2 + 1) * S + 1) * 16 + 1], plain[(1 * C + 17) * S + 1]);
    ck_assert_uint_eq(blocked_index(C, S, BLOCKED_16C, 1, 17, 1), ((1 * 2 + 1) * S + 1) * 16 + 1);
    blocked_to_plain(blocked, back, N, C, S, BLOCKED_16C);
    ck_assert_int_eq(memcmp(plain, back, sizeof plain), 0);
    /* Padded blocks: 24 channels take two blocks, the second half padding;
     * at most half the real channels may be padding. */
    ck_assert(blocked_fits(16) && blocked_fits(64) && !blocked_fits(8) && !blocked_fits(0));
    ck_assert(blocked_fits(24) && blocked_fits(58) && blocked_fits(12) && !blocked_fits(10));
    ck_assert_int_eq(blocked_channels(58), 64);
    ck_assert_int_eq(blocked_count(58), 4);
    ck_assert_uint_eq(blocked_sample(24, S), 32 * S);
    /* 24 channels: nChw16c only, (n=1, c=17, s=2) is block 1, lane 1 of sample 1. */
    ck_assert(!blocked_nhwc_fits(24) && lay(24) == BLOCKED_16C && blocked_step(24, BLOCKED_16C) == 16);
    ck_assert_uint_eq(blocked_index(24, S, BLOCKED_16C, 1, 17, 2), (size_t)32 * S + (1 * S + 2) * 16 + 1);
    /* How the BN kernels walk them: 16-channel blocks in nChw16c, runs of
     * 64, 32 or 16 channels of each row in NHWC. */
    BlockedWalk k = blocked_walk(24, S, BLOCKED_16C);
    ck_assert(k.tiles == 2 && k.w == 16 && k.step == 16 && k.tile_stride == 16 * S);
    k = blocked_walk(128, S, BLOCKED_16C);
    ck_assert(k.tiles == 8 && k.w == 16 && k.step == 16 && k.tile_stride == 16 * S);
    k = blocked_walk(128, S, BLOCKED_NHWC);
    ck_assert(k.tiles == 2 && k.w == 64 && k.step == 128 && k.tile_stride == 64);
    k = blocked_walk(96, S, BLOCKED_NHWC);
    ck_assert(k.tiles == 3 && k.w == 32 && k.step == 96);
    k = blocked_walk(48, S, BLOCKED_NHWC);
    ck_assert(k.tiles == 3 && k.w == 16 && k.step == 48);
    enum { P = 24 };
    float pp[N * P * S], pb[N * 32 * S], pback[N * P * S];
    for (int i = 0; i < N * P * S; i++)
        pp[i] = (float)i + 1;
    for (int i = 0; i < N * 32 * S; i++)
        pb[i] = 7; /* garbage the conversion must overwrite */
    blocked_from_plain(pp, pb, N, P, S, lay(P));
    assert_padding_zero(pb, N, P, S, "from_plain");
    blocked_to_plain(pb, pback, N, P, S, lay(P));
    ck_assert_int_eq(memcmp(pp, pback, sizeof pp), 0);
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
static BnRun bn_run(const BnInputs *a, int blocked, int act_after)
{
    const int N = a->N, C = a->C, S = a->S;
    const size_t n = bsize(N, C, S), plain_n = (size_t)N * C * S; /* halves sized for the blocked layout */
    BnRun r = {falloc_dirty(2 * n), falloc_dirty(2 * n), falloc(2 * (size_t)C), falloc(2 * (size_t)C),
               falloc(C), falloc(C), falloc(C), falloc(C)};
    BatchNorm b;
    batchnorm_init(&b, C, S, 1e-5f, 0.1f);
    b.act_after = act_after;
    b.blocked = blocked ? lay(C) : 0;
    double *partial = calloc(batchnorm_partial_size(C, N), sizeof(double));
    b.partial = partial;
    float *x = falloc(n), *g = falloc(n);
    if (blocked) {
        blocked_from_plain(a->in, x, N, C, S, lay(C));
        blocked_from_plain(a->dout, g, N, C, S, lay(C));
    } else {
        memcpy(x, a->in, plain_n * sizeof(float));
        memcpy(g, a->dout, plain_n * sizeof(float));
    }
    for (int c = 0; c < C; c++) {
        r.rm[c] = 0.1f * (float)c;
        r.rv[c] = 1.0f + 0.05f * (float)c;
    }
    batchnorm_forward_train(&b, a->gamma, a->beta, r.rm, r.rv, x, r.out, r.sm, r.si, N);
    batchnorm_backward_train(&b, a->gamma, a->beta, x, r.sm, r.si, g, r.din, r.dgamma, r.dbeta, N);
    batchnorm_forward_eval(&b, a->gamma, a->beta, r.rm, r.rv, x, r.out + n, N);
    batchnorm_backward_eval(&b, a->gamma, a->beta, r.rm, r.rv, x, g, r.din + n, r.dgamma + C, r.dbeta + C, N);
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

/* Whole blocks (32) and padded ones (24: one half-empty block; 40). */
static void check_bn_blocked(int N, int C, int S)
{
    const size_t n = bsize(N, C, S);
    BnInputs a = bn_inputs(N, C, S, 11);
    for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
        BnRun p = bn_run(&a, 0, act), q = bn_run(&a, 1, act);
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

START_TEST(bn_blocked_matches_plain)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        check_bn_blocked(5, 32, 7);  /* NHWC, one 32-lane tile */
        check_bn_blocked(5, 24, 7);  /* nChw16c, padded */
        check_bn_blocked(3, 40, 5);
        check_bn_blocked(3, 48, 5);  /* NHWC, three 16-lane tiles */
        check_bn_blocked(2, 128, 3); /* NHWC, two 64-lane tiles */
    }
}
END_TEST

/* The add's backward fused into the norm's (residual_grad, output): the
 * residual's gradient (dy through the add's activation at the output, out)
 * and the layer's gradients are the bits of add_backward_act followed by
 * the layer's backward on its result. */
typedef struct {
    float *g, *rg, *d0, *d1, *p; /* p: dγ, dβ of each */
} ResidualGrads;

static ResidualGrads residual_grads(size_t n, int C)
{
    ResidualGrads r = {falloc_dirty(n), falloc_dirty(n), falloc_dirty(n), falloc_dirty(n), falloc(4 * (size_t)C)};
    return r;
}

static void residual_grads_agree(ResidualGrads *r, size_t n, int N, int C, int S, int act, const char *what)
{
    ck_assert_msg(!memcmp(r->rg, r->g, sizeof(float) * n), "%s C %d act %d: residual gradient", what, C, act);
    ck_assert_msg(!memcmp(r->d1, r->d0, sizeof(float) * n), "%s C %d act %d: input gradient", what, C, act);
    ck_assert_msg(!memcmp(r->p, r->p + 2 * C, sizeof(float) * 2 * (size_t)C), "%s C %d act %d: dgamma, dbeta",
                  what, C, act);
    assert_padding_zero(r->rg, N, C, S, what);
    free(r->g), free(r->rg), free(r->d0), free(r->d1), free(r->p);
}

static void check_bn_residual_grad(const BnInputs *a, const BatchNorm *layer, const float *x, const float *out,
                                   const float *dy, const float *sm, const float *si, size_t n)
{
    const int N = a->N, C = a->C;
    ResidualGrads r = residual_grads(n, C);
    BatchNorm b = *layer;
    b.residual = NULL;
    add_backward_act(out, dy, r.g, NULL, n, b.residual_act);
    batchnorm_backward_train(&b, a->gamma, a->beta, x, sm, si, r.g, r.d0, r.p, r.p + C, N);
    b.residual_grad = r.rg;
    b.output = out;
    batchnorm_backward_train(&b, a->gamma, a->beta, x, sm, si, dy, r.d1, r.p + 2 * C, r.p + 3 * C, N);
    residual_grads_agree(&r, n, N, C, a->S, b.residual_act, "BN");
}

/* The residual add after a blocked BN layer, fused (BatchNorm.residual):
 * the training forward, the inference forward and the inference forward
 * that also sums the input's statistics (stats_out) give the bits of the
 * layer and then add_forward_act over the whole blocked tensor, padding
 * lanes included, and the same statistics; the training backward with the
 * add's backward fused those of the add's and then the layer's. */
static void check_bn_residual(int N, int C, int S)
{
    const size_t n = bsize(N, C, S);
    BnInputs a = bn_inputs(N, C, S, 13);
    float *x = falloc(n), *res = falloc(n), *want = falloc(n), *got = falloc(n);
    blocked_from_plain(a.in, x, N, C, S, lay(C));
    blocked_from_plain(a.dout, res, N, C, S, lay(C));
    double *partial = calloc(batchnorm_partial_size(C, N), sizeof(double));
    double *k0 = calloc(3 * (size_t)C + 1, sizeof(double)), *k1 = calloc(3 * (size_t)C + 1, sizeof(double));
    float *rm = falloc(2 * (size_t)C), *rv = falloc(2 * (size_t)C), *sm = falloc(C), *si = falloc(C);
    for (int act = ACT_NONE; act <= ACT_RELU6; act++)
        for (int mode = 0; mode < 3; mode++) { /* train, eval, eval with statistics */
            float *out[2] = {want, got};
            for (int k = 0; k < 2; k++) {
                BatchNorm b;
                batchnorm_init(&b, C, S, 1e-5f, 0.1f);
                b.blocked = lay(C);
                b.partial = partial;
                b.residual = k ? res : NULL;
                b.residual_act = act;
                b.stats_out = mode == 2 ? (k ? k1 : k0) : NULL;
                for (int c = 0; c < C; c++) {
                    rm[k * C + c] = 0.1f * (float)c;
                    rv[k * C + c] = 1.0f + 0.05f * (float)c;
                }
                if (mode == 0)
                    batchnorm_forward_train(&b, a.gamma, a.beta, rm + k * C, rv + k * C, x, out[k], sm, si, N);
                else
                    batchnorm_forward_eval(&b, a.gamma, a.beta, rm + k * C, rv + k * C, x, out[k], N);
                if (mode == 0 && k == 1) /* dy: the input, for values unlike the residual's */
                    check_bn_residual_grad(&a, &b, x, got, x, sm, si, n);
            }
            add_forward_act(want, res, want, n, act);
            ck_assert_msg(!memcmp(got, want, sizeof(float) * n), "C %d act %d mode %d: output", C, act, mode);
            ck_assert_msg(!memcmp(rm, rm + C, sizeof(float) * C) && !memcmp(rv, rv + C, sizeof(float) * C),
                          "C %d mode %d: running statistics", C, mode);
            ck_assert_msg(mode < 2 || !memcmp(k0, k1, sizeof(double) * (3 * (size_t)C + 1)),
                          "C %d act %d: input statistics", C, act);
            assert_padding_zero(got, N, C, S, "fused output");
        }
    free(x), free(res), free(want), free(got), free(partial), free(k0), free(k1);
    free(rm), free(rv), free(sm), free(si);
    bn_inputs_free(&a);
}

START_TEST(blocked_bn_adds_the_residual_like_the_add)
{
    for (force_16c = 0; force_16c < 2; force_16c++) {
        check_bn_residual(5, 32, 7);
        check_bn_residual(5, 24, 7); /* nChw16c, padded */
        check_bn_residual(3, 48, 5);
    }
}
END_TEST

static void check_gn_residual_grad(const BnInputs *a, const GroupNorm *layer, const float *x, const float *out,
                                   const float *dy, const float *sm, const float *si, size_t n)
{
    const int N = a->N, C = a->C;
    ResidualGrads r = residual_grads(n, C);
    GroupNorm g = *layer;
    g.residual = NULL;
    add_backward_act(out, dy, r.g, NULL, n, g.residual_act);
    groupnorm_backward(&g, a->gamma, a->beta, x, sm, si, r.g, r.d0, r.p, r.p + C, N);
    g.residual_grad = r.rg;
    g.output = out;
    groupnorm_backward(&g, a->gamma, a->beta, x, sm, si, dy, r.d1, r.p + 2 * C, r.p + 3 * C, N);
    residual_grads_agree(&r, n, N, C, a->S, g.residual_act, "GN");
}

/* The same for the blocked GroupNorm. */
static void check_gn_residual(int N, int C, int G, int S)
{
    const size_t n = bsize(N, C, S);
    BnInputs a = bn_inputs(N, C, S, 14);
    float *x = falloc(n), *res = falloc(n), *want = falloc(n), *got = falloc(n);
    float *sm = falloc((size_t)N * G), *si = falloc((size_t)N * G);
    blocked_from_plain(a.in, x, N, C, S, lay(C));
    blocked_from_plain(a.dout, res, N, C, S, lay(C));
    double *partial = calloc(groupnorm_partial_size(C, G, N), sizeof(double));
    for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
        float *out[2] = {want, got};
        for (int k = 0; k < 2; k++) {
            GroupNorm g;
            groupnorm_init(&g, C, G, S, 1e-5f);
            g.blocked = lay(C);
            g.partial = partial;
            g.residual = k ? res : NULL;
            g.residual_act = act;
            groupnorm_forward(&g, a.gamma, a.beta, x, out[k], sm, si, N);
            if (k == 1)
                check_gn_residual_grad(&a, &g, x, got, x, sm, si, n);
        }
        add_forward_act(want, res, want, n, act);
        ck_assert_msg(!memcmp(got, want, sizeof(float) * n), "GN C %d act %d: output", C, act);
        assert_padding_zero(got, N, C, S, "fused GN output");
    }
    free(x), free(res), free(want), free(got), free(sm), free(si), free(partial);
    bn_inputs_free(&a);
}

START_TEST(blocked_gn_adds_the_residual_like_the_add)
{
    for (force_16c = 0; force_16c < 2; force_16c++) {
        check_gn_residual(3, 32, 4, 7);
        check_gn_residual(3, 24, 2, 7); /* nChw16c, padded */
    }
}
END_TEST

START_TEST(bn_blocked_thread_count_bit_identical)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        for (int C = 40; C <= 48; C += 8) { /* padded, whole */
            enum { N = 6, S = 9 };
            const size_t n = bsize(N, C, S);
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
    }
}
END_TEST

/* ---- GroupNorm ---- */

/* Forward and backward of one GroupNorm in one layout, on the inputs of a
 * (NCHW); results in NCHW order. The blocked run starts from buffers
 * whose padding lanes hold garbage, which it must overwrite. */
typedef struct {
    float *out, *din, *dgamma, *dbeta, *sm, *si;
} GnRun;

static GnRun gn_run(const BnInputs *a, int G, int blocked, int act_after)
{
    const int N = a->N, C = a->C, S = a->S;
    const size_t n = bsize(N, C, S), plain_n = (size_t)N * C * S;
    GnRun r = {falloc(plain_n), falloc(plain_n), falloc(C), falloc(C), falloc((size_t)N * G), falloc((size_t)N * G)};
    GroupNorm g;
    groupnorm_init(&g, C, G, S, 1e-5f);
    g.act_after = act_after;
    g.blocked = blocked ? lay(C) : 0;
    double *partial = calloc(groupnorm_partial_size(C, G, N), sizeof(double));
    g.partial = partial;
    float *x = falloc(n), *dy = falloc(n), *y = falloc_dirty(n), *dx = falloc_dirty(n);
    if (blocked) {
        blocked_from_plain(a->in, x, N, C, S, lay(C));
        blocked_from_plain(a->dout, dy, N, C, S, lay(C));
    } else {
        memcpy(x, a->in, plain_n * sizeof(float));
        memcpy(dy, a->dout, plain_n * sizeof(float));
    }
    groupnorm_forward(&g, a->gamma, a->beta, x, y, r.sm, r.si, N);
    groupnorm_backward(&g, a->gamma, a->beta, x, r.sm, r.si, dy, dx, r.dgamma, r.dbeta, N);
    if (blocked) {
        assert_padding_zero(y, N, C, S, "gn forward");
        assert_padding_zero(dx, N, C, S, "gn din");
        blocked_to_plain(y, r.out, N, C, S, lay(C));
        blocked_to_plain(dx, r.din, N, C, S, lay(C));
    } else {
        memcpy(r.out, y, plain_n * sizeof(float));
        memcpy(r.din, dx, plain_n * sizeof(float));
    }
    float *bufs[] = {x, dy, y, dx};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    free(partial);
    return r;
}

static void gn_run_free(GnRun *r)
{
    float *bufs[] = {r->out, r->din, r->dgamma, r->dbeta, r->sm, r->si};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

/* Blocked against NCHW for groups within a block, across blocks, LN (one
 * group) and IN (one channel each), whole and padded blocks. */
START_TEST(gn_blocked_matches_plain)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        static const int CASES[][4] = {/* N, C, G, S */
                                       {3, 32, 4, 9}, {3, 32, 1, 9}, {2, 48, 2, 5}, {3, 24, 8, 7},
                                       {2, 58, 29, 4}, {2, 40, 40, 6}, {2, 24, 1, 6}, {1, 96, 16, 4}};
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
            const int N = CASES[i][0], C = CASES[i][1], G = CASES[i][2], S = CASES[i][3];
            BnInputs a = bn_inputs(N, C, S, 30 + i);
            for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
                GnRun p = gn_run(&a, G, 0, act), q = gn_run(&a, G, 1, act);
                const size_t n = (size_t)N * C * S;
                assert_close(q.out, p.out, n, 1e-6, "gn forward");
                assert_close(q.sm, p.sm, (size_t)N * G, 1e-6, "gn saved mean");
                assert_close(q.si, p.si, (size_t)N * G, 1e-6, "gn saved invstd");
                assert_close(q.din, p.din, n, 1e-5, "gn din");
                assert_close(q.dgamma, p.dgamma, C, 1e-5, "gn dgamma");
                assert_close(q.dbeta, p.dbeta, C, 1e-5, "gn dbeta");
                gn_run_free(&p);
                gn_run_free(&q);
            }
            bn_inputs_free(&a);
        }
    }
}
END_TEST

/* a with dout taken back through act at y (NCHW), as the activation's own
 * backward would; the other buffers are a's. */
static BnInputs through_act(const BnInputs *a, const float *y, int act)
{
    BnInputs m = *a;
    const size_t n = (size_t)a->N * a->C * a->S;
    m.dout = falloc(n);
    (act == ACT_RELU6 ? relu6_backward : relu_backward)(y, a->dout, m.dout, n);
    return m;
}

/* The blocked norms with a fused activation take dout back through it in
 * their own passes (pre-activation recomputed): the same bits as masking
 * dout first and running them without the activation. */
START_TEST(blocked_norms_take_the_gradient_back_through_act_after)
{
    for (force_16c = 0; force_16c < 2; force_16c++)
        for (int act = ACT_RELU; act <= ACT_RELU6; act++) {
            enum { N = 3, C = 40, G = 4, S = 7 };
            const size_t n = bsize(N, C, S), plain_n = (size_t)N * C * S;
            BnInputs a = bn_inputs(N, C, S, 50 + act);
            for (int c = 0; c < C; c++)
                a.gamma[c] *= 6.0f; /* outputs beyond 6 too, where ReLU6 clips */
            BnRun q = bn_run(&a, 1, act);
            float *y = falloc(plain_n);
            for (int half = 0; half < 2; half++) { /* training mode, then inference mode */
                blocked_to_plain(q.out + half * n, y, N, C, S, lay(C));
                BnInputs m = through_act(&a, y, act);
                BnRun p = bn_run(&m, 1, ACT_NONE);
                ck_assert_int_eq(memcmp(q.din + half * n, p.din + half * n, n * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(q.dgamma + half * C, p.dgamma + half * C, C * sizeof(float)), 0);
                ck_assert_int_eq(memcmp(q.dbeta + half * C, p.dbeta + half * C, C * sizeof(float)), 0);
                ck_assert_int_ne(memcmp(m.dout, a.dout, plain_n * sizeof(float)), 0); /* it masked some */
                bn_run_free(&p);
                free(m.dout);
            }
            GnRun gq = gn_run(&a, G, 1, act);
            BnInputs m = through_act(&a, gq.out, act);
            GnRun gp = gn_run(&m, G, 1, ACT_NONE);
            ck_assert_int_eq(memcmp(gq.din, gp.din, plain_n * sizeof(float)), 0);
            ck_assert_int_eq(memcmp(gq.dgamma, gp.dgamma, C * sizeof(float)), 0);
            ck_assert_int_eq(memcmp(gq.dbeta, gp.dbeta, C * sizeof(float)), 0);
            free(m.dout);
            free(y);
            gn_run_free(&gq);
            gn_run_free(&gp);
            bn_run_free(&q);
            bn_inputs_free(&a);
        }
}
END_TEST

START_TEST(gn_blocked_thread_count_bit_identical)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        enum { N = 5, C = 40, G = 4, S = 9 };
        BnInputs a = bn_inputs(N, C, S, 40);
        const int saved = bs_get_threads();
        GnRun r[2];
        for (int t = 0; t < 2; t++) {
            bs_set_threads(t + 1);
            r[t] = gn_run(&a, G, 1, 1);
        }
        bs_set_threads(saved);
        const size_t n = (size_t)N * C * S;
        ck_assert_int_eq(memcmp(r[0].out, r[1].out, n * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(r[0].din, r[1].din, n * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(r[0].dgamma, r[1].dgamma, C * sizeof(float)), 0);
        ck_assert_int_eq(memcmp(r[0].dbeta, r[1].dbeta, C * sizeof(float)), 0);
        gn_run_free(&r[0]);
        gn_run_free(&r[1]);
        bn_inputs_free(&a);
    }
}
END_TEST

/* ---- average pool and conv bias ---- */

static void check_avgpool_and_bias(int N, int C, int S)
{
    const size_t n = (size_t)N * C * S, nb = bsize(N, C, S);
    Rng rng;
    rng_seed(&rng, 13);
    float *x = falloc(n), *xb = falloc(nb), *d = falloc(n), *db = falloc_dirty(nb);
    float *out = falloc((size_t)N * C), *outb = falloc((size_t)N * C), *g = falloc((size_t)N * C);
    float *bias = falloc(C), *gb1 = falloc(C), *gb2 = falloc(C);
    fill_normal(&rng, x, n, 1.0f);
    fill_normal(&rng, g, (size_t)N * C, 1.0f);
    fill_normal(&rng, bias, C, 1.0f);
    blocked_from_plain(x, xb, N, C, S, lay(C));
    avgpool_forward(x, out, N, C, S);
    avgpool_forward_blocked(xb, outb, N, C, S, lay(C));
    ck_assert_int_eq(memcmp(out, outb, sizeof(float) * (size_t)N * C), 0); /* same order of the same sums */
    avgpool_backward(g, d, N, C, S);
    avgpool_backward_blocked(g, db, N, C, S, lay(C));
    assert_blocked_close(db, d, N, C, S, 0, "avgpool backward");

    Conv2d c;
    conv2d_init(&c, 4, C, 1, 1, 0, 2, S / 2, 1); /* out positions 2 x S/2 = S */
    conv2d_add_bias(&c, bias, x, N);
    blocked_add_bias(bias, xb, N, C, S, lay(C));
    assert_blocked_close(xb, x, N, C, S, 0, "bias add");
    conv2d_bias_grad(&c, x, gb1, N);
    blocked_bias_grad(xb, gb2, N, C, S, lay(C));
    assert_close(gb2, gb1, C, 1e-6, "bias grad");
    float *bufs[] = {x, xb, d, db, out, outb, g, bias, gb1, gb2};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

START_TEST(avgpool_and_bias_blocked_match_plain)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        check_avgpool_and_bias(3, 32, 10);
        check_avgpool_and_bias(3, 24, 10);
        check_avgpool_and_bias(2, 48, 6); /* NHWC, three blocks */
        check_avgpool_and_bias(2, 58, 6);
    }
}
END_TEST

/* ---- concat and the channel split ---- */

/* Both on blocked tensors against their NCHW versions, for channel counts
 * with and without padding (a first input of whole blocks takes the
 * sample-copy path, any other the per-channel one). */
static void check_concat_split(int N, int Ca, int Cb, int S)
{
    const int C = Ca + Cb;
    const size_t na = (size_t)N * Ca * S, nbb = (size_t)N * Cb * S, n = na + nbb;
    Rng rng;
    rng_seed(&rng, 21);
    float *a = falloc(na), *b = falloc(nbb), *out = falloc(n), *g = falloc(n), *da = falloc(na), *db = falloc(nbb);
    fill_normal(&rng, a, na, 1.0f);
    fill_normal(&rng, b, nbb, 1.0f);
    fill_normal(&rng, g, n, 1.0f);
    concat_forward(a, (size_t)Ca * S, b, (size_t)Cb * S, out, N);
    concat_backward(g, da, (size_t)Ca * S, db, (size_t)Cb * S, N);
    float *ab = falloc(bsize(N, Ca, S)), *bb = falloc(bsize(N, Cb, S)), *gb = falloc(bsize(N, C, S));
    float *outb = falloc_dirty(bsize(N, C, S)), *dab = falloc_dirty(bsize(N, Ca, S));
    float *dbb = falloc_dirty(bsize(N, Cb, S));
    blocked_from_plain(a, ab, N, Ca, S, lay(Ca));
    blocked_from_plain(b, bb, N, Cb, S, lay(Cb));
    blocked_from_plain(g, gb, N, C, S, lay(C));
    concat_forward_blocked(ab, Ca, lay(Ca), bb, Cb, lay(Cb), outb, lay(C), N, S);
    assert_blocked_close(outb, out, N, C, S, 0, "concat");
    concat_backward_blocked(gb, lay(C), dab, Ca, lay(Ca), NULL, Cb, lay(Cb), N, S);
    concat_backward_blocked(gb, lay(C), NULL, Ca, lay(Ca), dbb, Cb, lay(Cb), N, S);
    assert_blocked_close(dab, da, N, Ca, S, 0, "concat backward a");
    assert_blocked_close(dbb, db, N, Cb, S, 0, "concat backward b");
    if (C % 2 == 0)
        for (int parity = 0; parity < 2; parity++) {
            const int half = C / 2;
            float *half_p = falloc((size_t)N * half * S), *din_p = falloc(n);
            float *half_b = falloc_dirty(bsize(N, half, S)), *din_b = falloc_dirty(bsize(N, C, S));
            float *dh = falloc((size_t)N * half * S), *dhb = falloc(bsize(N, half, S));
            fill_normal(&rng, dh, (size_t)N * half * S, 1.0f);
            blocked_from_plain(dh, dhb, N, half, S, lay(half));
            channel_split_forward(out, half_p, N, C, S, parity);
            channel_split_forward_blocked(outb, half_b, N, C, S, lay(C), lay(half), parity);
            assert_blocked_close(half_b, half_p, N, half, S, 0, "split");
            channel_split_backward(dh, din_p, N, C, S, parity);
            channel_split_backward_blocked(dhb, din_b, N, C, S, lay(C), lay(half), parity);
            assert_blocked_close(din_b, din_p, N, C, S, 0, "split backward");
            float *bufs[] = {half_p, din_p, half_b, din_b, dh, dhb};
            for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
                free(bufs[i]);
        }
    /* IBN's slices: the first Ca channels and the other Cb of out. */
    for (int k = 0; k < 2; k++) {
        const int first = k ? Ca : 0, count = k ? Cb : Ca;
        const size_t ns = (size_t)N * count * S;
        float *sp = falloc(ns), *sb = falloc_dirty(bsize(N, count, S)), *dsp = falloc(n);
        float *dsb = falloc_dirty(bsize(N, C, S)), *gs = falloc(ns), *gsb = falloc(bsize(N, count, S));
        fill_normal(&rng, gs, ns, 1.0f);
        blocked_from_plain(gs, gsb, N, count, S, lay(count));
        channel_slice_forward(out, sp, N, C, S, first, count);
        channel_slice_forward_blocked(outb, sb, N, C, S, lay(C), lay(count), first, count);
        assert_blocked_close(sb, sp, N, count, S, 0, "slice");
        channel_slice_backward(gs, dsp, N, C, S, first, count);
        channel_slice_backward_blocked(gsb, dsb, N, C, S, lay(C), lay(count), first, count);
        assert_blocked_close(dsb, dsp, N, C, S, 0, "slice backward");
        float *sbufs[] = {sp, sb, dsp, dsb, gs, gsb};
        for (size_t i = 0; i < sizeof sbufs / sizeof *sbufs; i++)
            free(sbufs[i]);
    }
    float *bufs[] = {a, b, out, g, da, db, ab, bb, gb, outb, dab, dbb};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

START_TEST(concat_and_split_blocked_match_plain)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        check_concat_split(3, 32, 16, 5); /* NHWC all: row by row */
        check_concat_split(3, 16, 24, 5); /* one nChw16c block, then padded: sample by sample */
        check_concat_split(3, 32, 24, 5); /* NHWC first input, padded second and output */
        check_concat_split(2, 24, 24, 3); /* padded inputs, NHWC output */
        check_concat_split(2, 58, 58, 4); /* ShuffleNetV2 x1.0's halves */
        check_concat_split(2, 24, 40, 3);
        check_concat_split(2, 12, 20, 3);
    }
}
END_TEST

/* ---- oneDNN convolutions on blocked tensors ---- */

/* onednn_conv_backward_data_add: din += the input's gradient dx (what
 * onednn_conv_backward wrote into dxl), the same bits as adding dx to din
 * afterwards (op_grad_end), padding lanes included; din untouched when it
 * cannot run. */
static int data_add_runs, data_add_expected;
static void check_data_add(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *gl, const float *dxl,
                           size_t n, int N, int C, int S, int blocked)
{
    Rng rng;
    rng_seed(&rng, 17);
    const size_t plain_n = (size_t)N * C * S;
    float *plain = falloc(plain_n), *r = falloc(n), *got = falloc(n);
    fill_normal(&rng, plain, plain_n, 1.0f);
    if (blocked)
        blocked_from_plain(plain, r, N, C, S, lay(C));
    else
        memcpy(r, plain, plain_n * sizeof(float));
    memcpy(got, r, n * sizeof(float));
    if (onednn_conv_backward_data_add(e, oc, w, gl, got, N) == 0) {
        data_add_runs++;
        for (size_t i = 0; i < n; i++)
            r[i] += dxl[i];
        ck_assert_msg(!memcmp(got, r, n * sizeof(float)), "data add (C %d): not din + dx bit for bit", C);
    } else {
        ck_assert_msg(!memcmp(got, r, n * sizeof(float)), "data add (C %d) failed but changed din", C);
    }
    free(plain), free(r), free(got);
}

/* kw, pw: a rectangular kernel's width and padding (0: square). */
static void check_conv_layouts_rect(int in_c, int out_c, int k, int stride, int pad, int kw, int pw, int src_b,
                                    int dst_b)
{
    enum { N = 3, H = 9, W = 7 };
    Conv2d c;
    conv2d_init_rect(&c, in_c, out_c, k, kw ? kw : k, stride, pad, kw ? pw : pad, H, W, 1);
    const int Si = H * W, So = c.out_h * c.out_w;
    const size_t ni = (size_t)N * in_c * Si, no = (size_t)N * out_c * So, nw = conv2d_num_weights(&c);
    const size_t bi = bsize(N, in_c, Si), bo = bsize(N, out_c, So);
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
    float *xl = falloc(bi), *gl = falloc(bo), *yl = falloc_dirty(bo), *dxl = falloc_dirty(bi);
    float *dwl = falloc(nw), *dbl = falloc(out_c);
    if (src_b)
        blocked_from_plain(x, xl, N, in_c, Si, lay(in_c));
    else
        memcpy(xl, x, ni * sizeof(float));
    if (dst_b)
        blocked_from_plain(g, gl, N, out_c, So, lay(out_c));
    else
        memcpy(gl, g, no * sizeof(float));
    OneDnnEngine *e = onednn_engine_create();
    OneDnnConv *oc = onednn_conv_create(&c);
    ck_assert_ptr_nonnull(e);
    onednn_conv_set_layouts(oc, src_b ? lay(in_c) : 0, dst_b ? lay(out_c) : 0);
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
    check_data_add(e, oc, w, gl, dxl, src_b ? bi : ni, N, in_c, Si, src_b);
    if (stride == 1 && src_b && dst_b && lay(in_c) == BLOCKED_NHWC && lay(out_c) == BLOCKED_NHWC &&
        !strncmp(onednn_conv_impl(oc), "brg", 3))
        data_add_expected++;
    onednn_conv_destroy(oc);
    onednn_engine_destroy(e);
    float *bufs[] = {x, w, b, g, ws, y, dx, dw, dbias, xl, gl, yl, dxl, dwl, dbl};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

static void check_conv_layouts(int in_c, int out_c, int k, int stride, int pad, int src_b, int dst_b)
{
    check_conv_layouts_rect(in_c, out_c, k, stride, pad, 0, 0, src_b, dst_b);
}

START_TEST(onednn_conv_on_blocked_tensors_matches_reference)
{
    data_add_runs = data_add_expected = 0;
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        if (!onednn_available())
            return;
        check_conv_layouts(16, 32, 3, 2, 1, 1, 1); /* a downsampling conv, both blocked */
        check_conv_layouts(32, 32, 3, 1, 1, 1, 1);
        check_conv_layouts(16, 16, 3, 1, 1, 1, 1); /* 16 -> 16 on NHWC descriptors (runs_nhwc) */
        check_conv_layouts(16, 16, 1, 2, 0, 1, 1);
        check_conv_layouts(16, 32, 1, 2, 0, 1, 1); /* a 1x1 projection */
        check_conv_layouts(3, 16, 3, 1, 1, 0, 1);  /* the stem: image in NCHW */
        check_conv_layouts(32, 10, 3, 1, 1, 1, 0); /* out of the blocked world */
        check_conv_layouts(24, 40, 3, 2, 1, 1, 1); /* padded blocks in and out */
        check_conv_layouts(58, 58, 1, 1, 0, 1, 1);
        check_conv_layouts(3, 24, 3, 1, 1, 0, 1);
        check_conv_layouts(3, 32, 3, 1, 1, 0, 1);  /* the stem into NHWC (image reordered) */
        check_conv_layouts(24, 48, 1, 1, 0, 1, 1); /* nChw16c -> NHWC: a mixed pair */
        check_conv_layouts(48, 24, 3, 2, 1, 1, 1); /* NHWC -> nChw16c */
        check_conv_layouts(64, 16, 1, 1, 0, 1, 1); /* NHWC -> 16 channels, described as NHWC */
        check_conv_layouts_rect(24, 32, 1, 1, 0, 3, 1, 1, 1); /* Inception-v3's 1x3 and 3x1 */
        check_conv_layouts_rect(32, 24, 3, 1, 1, 1, 0, 1, 1);
    }
    /* Where the brgemm kernels run NHWC layers (stride 1), the in-place
     * add ran at least once. */
    ck_assert(data_add_expected == 0 || data_add_runs > 0);
}
END_TEST

/* oneDNN's LRN or max-pool u in layout `blocked` against the reference's
 * results y = f(x) and dx (from dout g), N samples of C channels, Si
 * positions in and So out. */
static void check_unary_layout(OneDnnUnary *u, int blocked, const float *x, const float *g, const float *y,
                               const float *dx, int N, int C, int Si, int So, const char *what)
{
    const size_t ni = (size_t)N * C * Si, no = (size_t)N * C * So;
    const size_t bi = blocked ? bsize(N, C, Si) : ni, bo = blocked ? bsize(N, C, So) : no;
    float *xl = falloc(bi), *gl = falloc(bo), *yl = falloc_dirty(bo), *dxl = falloc_dirty(bi);
    if (blocked) {
        blocked_from_plain(x, xl, N, C, Si, lay(C));
        blocked_from_plain(g, gl, N, C, So, lay(C));
    } else {
        memcpy(xl, x, ni * sizeof(float));
        memcpy(gl, g, no * sizeof(float));
    }
    OneDnnEngine *e = onednn_engine_create();
    ck_assert_ptr_nonnull(u);
    onednn_unary_set_layout(u, blocked ? lay(C) : 0);
    ck_assert(onednn_unary_forward(e, u, xl, yl, N) == 0);
    ck_assert(onednn_unary_backward(e, u, xl, gl, dxl, N) == 0);
    char tag[96];
    snprintf(tag, sizeof tag, "%s blocked=%d", what, blocked);
    if (blocked) {
        assert_blocked_close(yl, y, N, C, So, 1e-5, tag);
        assert_blocked_close(dxl, dx, N, C, Si, 1e-4, tag);
    } else {
        assert_close(yl, y, no, 1e-5, tag);
        assert_close(dxl, dx, ni, 1e-4, tag);
    }
    onednn_engine_destroy(e);
    free(xl);
    free(gl);
    free(yl);
    free(dxl);
}

/* oneDNN's max pooling against the reference in NCHW and blocked (C = 24:
 * padded nChw16c, 32: NHWC): the Inception pool branch (3x3 stride 1 pad
 * 1), its reductions' (stride 2 pad 1), VGG's 2x2. A constant channel
 * makes every window a tie: the gradient must go to the first maximum in
 * both. */
static void check_maxpool_layouts(int C, int k, int stride, int pad)
{
    enum { N = 2, H = 7, W = 6 };
    MaxPool2d p;
    maxpool_init_padded(&p, C, H, W, k, stride, pad);
    const int Si = H * W, So = p.out_h * p.out_w;
    const size_t ni = (size_t)N * C * Si, no = (size_t)N * C * So;
    Rng rng;
    rng_seed(&rng, 18);
    float *x = falloc(ni), *g = falloc(no), *y = falloc(no), *dx = falloc(ni);
    fill_normal(&rng, x, ni, 1.0f);
    for (int s = 0; s < Si; s++)
        x[((size_t)1 * C + 5) * Si + s] = 0.5f;
    fill_normal(&rng, g, no, 1.0f);
    maxpool_forward(&p, x, y, N);
    maxpool_backward(&p, x, g, dx, N);
    for (int blocked = 0; blocked < 2; blocked++) {
        OneDnnUnary *u = onednn_maxpool_create(&p);
        check_unary_layout(u, blocked, x, g, y, dx, N, C, Si, So, "maxpool");
        onednn_unary_destroy(u);
    }
    free(x);
    free(g);
    free(y);
    free(dx);
}

START_TEST(onednn_maxpool_matches_reference)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        if (!onednn_available())
            return;
        check_maxpool_layouts(24, 3, 1, 1);
        check_maxpool_layouts(24, 3, 2, 1);
        check_maxpool_layouts(24, 2, 2, 0);
        check_maxpool_layouts(32, 3, 2, 1); /* NHWC */
    }
}
END_TEST

/* oneDNN's LRN (odd sizes, both modes, NCHW, padded nChw16c and NHWC) against
 * the reference; even sizes get no oneDNN path. */
static void check_lrn_layouts(LrnMode mode, int size, int C)
{
    enum { N = 3, H = 5, W = 4, S = H * W };
    Lrn l;
    lrn_init(&l, mode, size, 0.3f, 0.75f, 1.5f, C, H, W);
    const size_t n = (size_t)N * C * S;
    Rng rng;
    rng_seed(&rng, 17);
    float *x = falloc(n), *g = falloc(n), *y = falloc(n), *den = falloc(n), *dx = falloc(n), *t = falloc(n);
    fill_normal(&rng, x, n, 1.0f);
    fill_normal(&rng, g, n, 1.0f);
    lrn_forward(&l, x, y, den, N);
    lrn_backward(&l, x, den, g, dx, t, N);
    char what[64];
    snprintf(what, sizeof what, "lrn %s n=%d", mode == LRN_ACROSS ? "across" : "within", size);
    for (int blocked = 0; blocked < 2; blocked++) {
        OneDnnUnary *u = onednn_lrn_create(&l);
        check_unary_layout(u, blocked, x, g, y, dx, N, C, S, S, what);
        onednn_unary_destroy(u);
    }
    float *bufs[] = {x, g, y, den, dx, t};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
}

START_TEST(onednn_lrn_matches_reference)
{
    for (force_16c = 0; force_16c < 2; force_16c++) { /* NHWC where it fits, then nChw16c */
        if (!onednn_available())
            return;
        for (int mode = LRN_ACROSS; mode <= LRN_WITHIN; mode++)
            for (int size = 3; size <= 5; size += 2)
                for (int C = 24; C <= 32; C += 8) /* nChw16c, NHWC */
                    check_lrn_layouts((LrnMode)mode, size, C);
        Lrn even;
        lrn_init(&even, LRN_ACROSS, 4, 1e-4f, 0.75f, 2.0f, 16, 2, 2);
        ck_assert_ptr_null(onednn_lrn_create(&even));
    }
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
    /* BN ResNet-20: everything but the images, the pooled features and the
     * logits, in NHWC (3x3 convolutions, whole blocks: prefers_nhwc). */
    build(&m, resnet(20, 16, VARIANT_BN, 0), 2, CONV_ONEDNN);
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        const int want = op->kind != OP_AVGPOOL && op->kind != OP_LINEAR ? BLOCKED_NHWC : 0;
        ck_assert_msg(m.tensors[op->out].blocked == want, "op %d (%s) output", i, op_kind_name(op->kind));
        if (op->kind == OP_BN)
            ck_assert_int_eq(op->u.bn.blocked, BLOCKED_NHWC);
    }
    ck_assert(!m.tensors[0].blocked);
    /* Switching back plans NCHW again. */
    BsError err = {0};
    ck_assert_int_eq(model_set_conv_backend(&m, CONV_IM2COL, &err), BS_OK);
    ck_assert_int_eq(count_blocked(&m), 0);
    model_free(&m);
    /* GroupNorm has a blocked version too: an XBNBlock ResNet-20 is
     * blocked everywhere a BN one is. */
    build(&m, resnet(20, 16, VARIANT_XBNBLOCK, 0), 2, CONV_ONEDNN);
    int gn = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        const int want = op->kind != OP_AVGPOOL && op->kind != OP_LINEAR ? BLOCKED_NHWC : 0;
        ck_assert_msg(m.tensors[op->out].blocked == want, "op %d (%s) output", i, op_kind_name(op->kind));
        if (op->kind == OP_GN) {
            ck_assert(op->u.gn.blocked == BLOCKED_NHWC && m.tensors[op->in].blocked == BLOCKED_NHWC);
            gn++;
        }
    }
    ck_assert_int_gt(gn, 0);
    model_free(&m);
    /* Bottleneck blocks (1x1 convolutions hold most MACs): nChw16c. */
    ModelSpec bs = resnet(11, 16, VARIANT_BN, 0);
    bs.block = BLOCK_BOTTLENECK;
    build(&m, bs, 2, CONV_ONEDNN);
    for (int t = 0; t < m.n_tensors; t++)
        ck_assert(m.tensors[t].blocked != BLOCKED_NHWC);
    ck_assert_int_gt(count_blocked(&m), 0);
    model_free(&m);
    /* Width 8: stage 1 (8 channels) does not fit a block, stages 2 and 3 do. */
    build(&m, resnet(8, 8, VARIANT_BN, 0), 2, CONV_ONEDNN);
    for (int t = 0; t < m.n_tensors; t++)
        ck_assert(!m.tensors[t].blocked || blocked_fits(m.tensors[t].c));
    ck_assert_int_gt(count_blocked(&m), 0);
    model_free(&m);
    /* 6, 12, 24 channels: 6 would be mostly padding and stays NCHW; 12 and
     * 24 are kept in padded blocks (16 and 32 lanes). */
    build(&m, resnet(8, 6, VARIANT_BN, 0), 2, CONV_ONEDNN);
    int padded = 0;
    for (int t = 0; t < m.n_tensors; t++) {
        ck_assert(!m.tensors[t].blocked || m.tensors[t].c != 6);
        padded += m.tensors[t].blocked && m.tensors[t].c % 16 != 0;
    }
    ck_assert_int_gt(padded, 0);
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
 * oneDNN refuses a call) agree to float rounding; width 16 (whole blocks)
 * and width 12 (12, 24, 48 channels: padded blocks in the first two
 * stages); XBNBlock (blocked GroupNorm) and IBN at width 24 (its slices
 * of 12 and 24 channels, padded). */
static void check_blocked_spec(ModelSpec s)
{
    Model a, b, f;
    build(&a, s, 6, CONV_IM2COL);
    build(&b, s, 6, CONV_ONEDNN);
    build(&f, s, 6, CONV_ONEDNN);
    for (int i = 0; i < f.n_ops; i++) { /* keeps the blocked plan, drops oneDNN */
        onednn_conv_destroy(f.ops[i].dnnl);
        onednn_unary_destroy(f.ops[i].dnnl_unary);
        f.ops[i].dnnl = NULL;
        f.ops[i].dnnl_unary = NULL;
    }
    ck_assert_int_gt(count_blocked(&f), 10);
    const size_t np = a.n_params, ns = a.n_stats;
    float la[60], lb[60], lf[60];
    float *ga = falloc(np), *gb = falloc(np), *gf = falloc(np);
    float *sa = falloc(ns), *sb = falloc(ns), *sf = falloc(ns);
    step(&a, la, ga, sa);
    step(&b, lb, gb, sb);
    step(&f, lf, gf, sf);
    char what[160];
    const char *names[] = {"logits", "gradients", "running statistics"};
    const float *ours[2][3] = {{lb, gb, sb}, {lf, gf, sf}}, *ref[3] = {la, ga, sa};
    const size_t sizes[3] = {60, np, ns};
    /* Logits: 3e-5 of their largest (Inception-v3's ~30 layers on OpenBLAS's
     * AVX-512 kernels reach 1.05e-5 of it; a wrong op is off by O(1)). */
    const double rtol[3] = {3e-5, 1e-4, 1e-5};
    for (int side = 0; side < 2; side++)
        for (int k = 0; k < 3; k++) {
            snprintf(what, sizeof what, "%s (%s; arch %d, width %d, norm %d, bfn %d)", names[k],
                     side ? "fallback" : "oneDNN, blocked", (int)s.arch, s.width, (int)s.norm, (int)s.bfn);
            assert_close(ours[side][k], ref[k], sizes[k], rtol[k], what);
        }
    for (int t = 0; t < b.n_tensors; t++) /* padding lanes of data and gradients stay zero */
        if (b.tensors[t].blocked) {
            const Tensor *bt = &b.tensors[t];
            assert_padding_zero(bt->data, 6, bt->c, bt->h * bt->w, "net data");
            assert_padding_zero(bt->grad, 6, bt->c, bt->h * bt->w, "net gradient");
        }
    float *bufs[] = {ga, gb, gf, sa, sb, sf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]);
    model_free(&a);
    model_free(&b);
    model_free(&f);
}

static void check_blocked_net(int width, NormVariant v) { check_blocked_spec(resnet(8, width, v, 0)); }

START_TEST(blocked_net_agrees_with_im2col_and_fallback)
{
    if (!onednn_available())
        return;
    check_blocked_net(16, VARIANT_BN);
    check_blocked_net(12, VARIANT_BN);
    check_blocked_net(16, VARIANT_XBNBLOCK);
    check_blocked_net(24, VARIANT_IBN);
    /* oneDNN's LRN on blocked tensors (padded at width 12), both modes. */
    for (int mode = LRN_ACROSS; mode <= LRN_WITHIN; mode++) {
        ModelSpec s = resnet(8, 12, VARIANT_XBNBLOCK, 0);
        s.bfn = BFN_LRN;
        s.lrn.mode = (LrnMode)mode, s.lrn.size = 3, s.lrn.alpha = 0.2, s.lrn.beta = 0.75, s.lrn.k = 1;
        Model m;
        build(&m, s, 6, CONV_ONEDNN);
        int lrn_blocked = 0;
        for (int i = 0; i < m.n_ops; i++)
            lrn_blocked += m.ops[i].kind == OP_LRN && m.ops[i].dnnl_unary && m.tensors[m.ops[i].in].blocked;
        ck_assert_int_eq(lrn_blocked, 3);
        model_free(&m);
        check_blocked_spec(s);
    }
    /* Inception (blocked max-pools, concats of padded branches, 1x3/3x1)
     * and AlexNet (max-pools after BN) at widths giving padded blocks. */
    for (int v3 = 0; v3 < 2; v3++) {
        ModelSpec s = resnet(8, 12, v3 ? VARIANT_XBNBLOCK : VARIANT_BN, 0);
        s.arch = ARCH_INCEPTION;
        s.inception = v3 ? INCEPTION_V3 : INCEPTION_V2;
        s.groups = 2;
        check_blocked_spec(s);
    }
    ModelSpec s = resnet(8, 16, VARIANT_BN, 0);
    s.arch = ARCH_ALEXNET;
    s.norm_all = 1;
    check_blocked_spec(s);
}
END_TEST

Suite *blocked_suite(void)
{
    Suite *s = suite_create("blocked");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, conversions_round_trip_and_index);
    tcase_add_test(tc, bn_blocked_matches_plain);
    tcase_add_test(tc, blocked_bn_adds_the_residual_like_the_add);
    tcase_add_test(tc, blocked_gn_adds_the_residual_like_the_add);
    tcase_add_test(tc, bn_blocked_thread_count_bit_identical);
    tcase_add_test(tc, gn_blocked_matches_plain);
    tcase_add_test(tc, gn_blocked_thread_count_bit_identical);
    tcase_add_test(tc, blocked_norms_take_the_gradient_back_through_act_after);
    tcase_add_test(tc, avgpool_and_bias_blocked_match_plain);
    tcase_add_test(tc, concat_and_split_blocked_match_plain);
    tcase_add_test(tc, onednn_conv_on_blocked_tensors_matches_reference);
    tcase_add_test(tc, onednn_lrn_matches_reference);
    tcase_add_test(tc, onednn_maxpool_matches_reference);
    tcase_add_test(tc, layout_plan_blocks_what_it_can);
    tcase_add_test(tc, blocked_net_agrees_with_im2col_and_fallback);
    suite_add_tcase(s, tc);
    TCase *grad = tcase_create("grad");
    tcase_set_timeout(grad, 300);
    tcase_add_test(grad, blocked_net_gradients_match_finite_differences);
    suite_add_tcase(s, grad);
    return s;
}
