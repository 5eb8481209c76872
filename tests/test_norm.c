/* BatchNorm and GroupNorm: forward against hand arithmetic, a naive double
 * reference and a few PyTorch values; backward against finite differences;
 * accumulation, aliasing and thread-count determinism. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "layers/activation.h"
#include "layers/add.h"
#include "layers/batchnorm.h"
#include "layers/groupnorm.h"
#include "layers/lrn.h"
#include "layers/relu6.h"
#include "suites.h"
#include "test_util.h"

#define EPS 1e-5f
#define MOM 0.1f

static void assert_close_to(const float *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol, "[%zu]: got %.9g want %.9g", i,
                      (double)got[i], want[i]);
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what)
{
    ck_assert_msg(memcmp(a, b, n * sizeof(float)) == 0, "%s differs", what);
}

/* ------------------------------------------------------------ hand cases */

/* C=2, N=2, spatial=2, laid out [n][c][s]:
 *   channel 0 = {1, 3, 5, 7}:   mean 4, deviations -3 -1 1 3,
 *                               biased var 20/4 = 5, unbiased 20/3
 *   channel 1 = {-2, 2, -2, 2}: mean 0, biased var 16/4 = 4, unbiased 16/3 */
static const float hand_in[8] = {1, 3, -2, 2, 5, 7, -2, 2};
static const float hand_gamma[2] = {2, 0.5f}, hand_beta[2] = {1, -1};

/* y = γ(x - mean)/sqrt(var + eps) + β, spelled out per element. */
static void hand_expect(const double mean[2], const double var[2], double want[8])
{
    for (int i = 0; i < 8; i++) {
        const int c = (i / 2) % 2;
        want[i] = hand_gamma[c] * (hand_in[i] - mean[c]) / sqrt(var[c] + 1e-5) + hand_beta[c];
    }
}

START_TEST(bn2d_hand_step)
{
    BatchNorm b;
    batchnorm_init(&b, 2, 2, EPS, MOM);
    float rm[2] = {0, 0}, rv[2] = {1, 1}, out[8], sm[2], si[2];
    batchnorm_forward_train(&b, hand_gamma, hand_beta, rm, rv, hand_in, out, sm, si, 2);

    const double mean[2] = {4, 0}, var[2] = {5, 4};
    double want[8];
    hand_expect(mean, var, want);
    /* e.g. out[0] = 2·(1-4)/sqrt(5.00001) + 1 = -1.683277... */
    assert_close_to(out, want, 8, 1e-6);
    ck_assert_float_eq_tol(sm[0], 4, 1e-7);
    ck_assert_float_eq_tol(sm[1], 0, 1e-7);
    ck_assert_float_eq_tol(si[0], 1 / sqrt(5.00001), 1e-7);
    ck_assert_float_eq_tol(si[1], 1 / sqrt(4.00001), 1e-7);
    /* running_mean = 0.9·0 + 0.1·mean:        {0.4, 0}
     * running_var  = 0.9·1 + 0.1·unbiased var: {0.9 + 2/3, 0.9 + 1.6/3}
     *                                         = {1.5666667, 1.4333333} */
    ck_assert_float_eq_tol(rm[0], 0.4, 1e-7);
    ck_assert_float_eq_tol(rm[1], 0, 1e-7);
    ck_assert_float_eq_tol(rv[0], 0.9 + 2.0 / 3, 1e-6);
    ck_assert_float_eq_tol(rv[1], 0.9 + 1.6 / 3, 1e-6);

    /* Eval with those running stats: y = γ(x - rm)/sqrt(rv + eps) + β. */
    const double rmean[2] = {0.4, 0}, rvar[2] = {0.9 + 2.0 / 3, 0.9 + 1.6 / 3};
    hand_expect(rmean, rvar, want);
    batchnorm_forward_eval(&b, hand_gamma, hand_beta, rm, rv, hand_in, out, 2);
    assert_close_to(out, want, 8, 1e-6);
}
END_TEST

START_TEST(bn2d_two_steps_cumulative)
{
    BatchNorm b;
    batchnorm_init(&b, 2, 2, EPS, MOM);
    float rm[2] = {0, 0}, rv[2] = {1, 1}, out[8], sm[2], si[2];
    batchnorm_forward_train(&b, hand_gamma, hand_beta, rm, rv, hand_in, out, sm, si, 2);
    batchnorm_forward_train(&b, hand_gamma, hand_beta, rm, rv, hand_in, out, sm, si, 2);
    /* Same batch twice: r2 = 0.81·r0 + (0.9·0.1 + 0.1)·stat = 0.81·r0 + 0.19·stat.
     *   mean: 0.19·4 = 0.76, 0.19·0 = 0
     *   var:  0.81 + 0.19·20/3 = 2.0766667, 0.81 + 0.19·16/3 = 1.8233333 */
    ck_assert_float_eq_tol(rm[0], 0.76, 1e-6);
    ck_assert_float_eq_tol(rm[1], 0, 1e-7);
    ck_assert_float_eq_tol(rv[0], 0.81 + 0.19 * 20 / 3, 1e-6);
    ck_assert_float_eq_tol(rv[1], 0.81 + 0.19 * 16 / 3, 1e-6);
}
END_TEST

START_TEST(bn1d_hand_step)
{
    /* N=4, C=2, spatial=1, laid out [n][c]:
     *   channel 0 = {1, 2, 3, 6}: mean 3, deviations -2 -1 0 3, biased var
     *                             14/4 = 3.5, unbiased 14/3
     *   channel 1 = {0, 0, 4, 4}: mean 2, biased var 4, unbiased 16/3 */
    const float in[8] = {1, 0, 2, 0, 3, 4, 6, 4};
    const float gamma[2] = {1, -2}, beta[2] = {0, 0.5f};
    BatchNorm b;
    batchnorm_init(&b, 2, 1, EPS, MOM);
    float rm[2] = {0, 0}, rv[2] = {1, 1}, out[8], sm[2], si[2];
    batchnorm_forward_train(&b, gamma, beta, rm, rv, in, out, sm, si, 4);
    const double mean[2] = {3, 2}, var[2] = {3.5, 4};
    double want[8];
    for (int i = 0; i < 8; i++) {
        const int c = i % 2;
        want[i] = gamma[c] * (in[i] - mean[c]) / sqrt(var[c] + 1e-5) + beta[c];
    }
    assert_close_to(out, want, 8, 1e-6);
    ck_assert_float_eq_tol(sm[0], 3, 1e-7);
    ck_assert_float_eq_tol(sm[1], 2, 1e-7);
    /* running: mean {0.3, 0.2}; var {0.9 + 1.4/3, 0.9 + 1.6/3} */
    ck_assert_float_eq_tol(rm[0], 0.3, 1e-7);
    ck_assert_float_eq_tol(rm[1], 0.2, 1e-7);
    ck_assert_float_eq_tol(rv[0], 0.9 + 1.4 / 3, 1e-6);
    ck_assert_float_eq_tol(rv[1], 0.9 + 1.6 / 3, 1e-6);
}
END_TEST

START_TEST(gn_hand_case)
{
    /* N=1, C=4, G=2, spatial=1:
     *   group 0 = {1, 3}: mean 2, biased var 1
     *   group 1 = {2, 6}: mean 4, biased var 4
     * y = γ_c(x - mean)/sqrt(var + eps) + β_c per channel. */
    const float in[4] = {1, 3, 2, 6};
    const float gamma[4] = {1, 2, 3, 4}, beta[4] = {0, 1, 0, -1};
    GroupNorm g;
    groupnorm_init(&g, 4, 2, 1, EPS);
    float out[4], sm[2], si[2];
    groupnorm_forward(&g, gamma, beta, in, out, sm, si, 1);
    const double i0 = 1 / sqrt(1.00001), i1 = 1 / sqrt(4.00001);
    const double want[4] = {-1 * i0, 2 * i0 + 1, -6 * i1, 8 * i1 - 1};
    assert_close_to(out, want, 4, 1e-6);
    ck_assert_float_eq_tol(sm[0], 2, 1e-7);
    ck_assert_float_eq_tol(sm[1], 4, 1e-7);
    ck_assert_float_eq_tol(si[0], i0, 1e-7);
    ck_assert_float_eq_tol(si[1], i1, 1e-7);
}
END_TEST

/* Textbook GroupNorm in double, one (sample, group) at a time. */
static void gn_naive(int N, int C, int G, int S, const float *gamma, const float *beta,
                     const float *in, double *out, double *mean, double *invstd)
{
    const int Cg = C / G, M = Cg * S;
    for (int n = 0; n < N; n++)
        for (int gi = 0; gi < G; gi++) {
            const float *x = in + ((size_t)n * C + (size_t)gi * Cg) * S;
            double sum = 0, sq = 0;
            for (int i = 0; i < M; i++)
                sum += x[i];
            const double m = sum / M;
            for (int i = 0; i < M; i++)
                sq += (x[i] - m) * (x[i] - m);
            const double is = 1 / sqrt(sq / M + 1e-5);
            mean[n * G + gi] = m;
            invstd[n * G + gi] = is;
            for (int i = 0; i < M; i++) {
                const int c = gi * Cg + i / S;
                out[x - in + i] = gamma[c] * (x[i] - m) * is + beta[c];
            }
        }
}

START_TEST(gn_matches_naive_reference)
{
    enum { N = 2, C = 6, G = 3, S = 3, NE = N * C * S };
    Rng r;
    rng_seed(&r, 11);
    float in[NE], out[NE], gamma[C], beta[C], sm[N * G], si[N * G];
    fill_normal(&r, in, NE, 2);
    for (int i = 0; i < NE; i++)
        in[i] += (float)(i / (C * S)) * 5 - 1; /* samples differ in mean */
    fill_uniform(&r, gamma, C, -1.5f, 1.5f);
    fill_uniform(&r, beta, C, -1, 1);
    GroupNorm g;
    groupnorm_init(&g, C, G, S, EPS);
    groupnorm_forward(&g, gamma, beta, in, out, sm, si, N);
    double want[NE], wm[N * G], wi[N * G];
    gn_naive(N, C, G, S, gamma, beta, in, want, wm, wi);
    assert_close_to(out, want, NE, 2e-6);
    assert_close_to(sm, wm, N * G, 1e-6);
    for (int i = 0; i < N * G; i++)
        ck_assert_float_eq_tol(si[i], wi[i], 1e-6 * wi[i]);
}
END_TEST

/* -------------------------------------------------------- PyTorch anchors */

/* Produced once with Debian's PyTorch 1.13 (/usr/bin/python3):
 *   x = torch.tensor([0.5, -1.25, 2.0, 3.5, 0.0, 1.0,
 *                     1.5, 2.25, -0.75, 4.0, -2.0, 0.25]).reshape(2, 2, 1, 3)
 *   bn = torch.nn.BatchNorm2d(2, eps=1e-5, momentum=0.1)
 *   bn.weight = [1.5, -0.5]; bn.bias = [0.25, 2.0]; bn.train(); y = bn(x)
 *   print(y.flatten().tolist(), bn.running_mean.tolist(), bn.running_var.tolist()) */
START_TEST(torch_anchor_batchnorm2d)
{
    const float in[12] = {0.5f, -1.25f, 2.0f, 3.5f, 0.0f, 1.0f,
                          1.5f, 2.25f, -0.75f, 4.0f, -2.0f, 0.25f};
    const float gamma[2] = {1.5f, -0.5f}, beta[2] = {0.25f, 2.0f};
    const double want[12] = {0.015740036964416504, -1.952043890953064, 1.7024118900299072,
                             1.4264334440231323,   2.2716894149780273, 2.0301876068115234,
                             1.1401879787445068,   1.983523964881897,  -1.389819860458374,
                             1.30568265914917,     2.754692792892456,  2.2113139629364014};
    const double want_rm[2] = {0.07083333283662796, 0.11250000447034836};
    const double want_rv[2] = {1.113541603088379, 1.4143749475479126};
    BatchNorm b;
    batchnorm_init(&b, 2, 3, EPS, MOM);
    float rm[2] = {0, 0}, rv[2] = {1, 1}, out[12], sm[2], si[2];
    batchnorm_forward_train(&b, gamma, beta, rm, rv, in, out, sm, si, 2);
    assert_close_to(out, want, 12, 2e-6);
    assert_close_to(rm, want_rm, 2, 1e-7);
    assert_close_to(rv, want_rv, 2, 1e-6);
}
END_TEST

/* Produced once with Debian's PyTorch 1.13 (/usr/bin/python3):
 *   x = torch.tensor([1.0, 2.0, -1.0, 0.5, 3.0, 0.0,
 *                     -2.0, 1.0, 0.5, 0.5, 4.0, -3.0]).reshape(1, 4, 3)
 *   gn = torch.nn.GroupNorm(2, 4, eps=1e-5)
 *   gn.weight = [1.0, 2.0, -0.5, 0.75]; gn.bias = [0.0, 0.5, -1.0, 0.25]
 *   print(gn(x).flatten().tolist()) */
START_TEST(torch_anchor_groupnorm)
{
    const float in[12] = {1.0f, 2.0f, -1.0f, 0.5f, 3.0f, 0.0f,
                          -2.0f, 1.0f, 0.5f, 0.5f, 4.0f, -3.0f};
    const float gamma[4] = {1.0f, 2.0f, -0.5f, 0.75f}, beta[4] = {0.0f, 0.5f, -1.0f, 0.25f};
    const double want[12] = {0.06388747692108154,  0.8305370807647705,  -1.4694117307662964,
                             -0.13887465000152588, 3.694373369216919,   -0.9055242538452148,
                             -0.5181884169578552,  -1.1853121519088745, -1.0741249322891235,
                             0.36118727922439575,  1.5286539793014526,  -0.8062793612480164};
    GroupNorm g;
    groupnorm_init(&g, 4, 2, 3, EPS);
    float out[12], sm[2], si[2];
    groupnorm_forward(&g, gamma, beta, in, out, sm, si, 1);
    assert_close_to(out, want, 12, 2e-6);
}
END_TEST

/* --------------------------------------------------------- gradient checks */

typedef struct {
    BatchNorm b;
    int N, train;
    size_t n;
    float *gamma, *beta, *rm, *rv, *in, *out, *sm, *si, *r;
    float *din, *dgamma, *dbeta;
} BnCase;

/* Inputs with a per-channel offset and spread, so mean and scale matter. */
static void fill_shifted(Rng *r, float *x, int N, int C, int S)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float *p = x + ((size_t)n * C + c) * S;
            fill_normal(r, p, (size_t)S, 0.5f + 0.5f * (float)c);
            for (int s = 0; s < S; s++)
                p[s] += 3.0f - 2.0f * (float)c;
        }
}

static void bn_case_init(BnCase *k, int C, int S, int N, int train, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    batchnorm_init(&k->b, C, S, EPS, MOM);
    k->N = N;
    k->train = train;
    k->n = (size_t)N * C * S;
    k->gamma = falloc(C);
    k->beta = falloc(C);
    k->rm = falloc(C);
    k->rv = falloc(C);
    k->sm = falloc(C);
    k->si = falloc(C);
    k->dgamma = falloc(C);
    k->dbeta = falloc(C);
    k->in = falloc(k->n);
    k->out = falloc(k->n);
    k->r = falloc(k->n);
    k->din = falloc(k->n);
    fill_uniform(&r, k->gamma, C, 0.5f, 1.5f);
    fill_uniform(&r, k->beta, C, -1, 1);
    fill_uniform(&r, k->rm, C, 0, 2);
    fill_uniform(&r, k->rv, C, 0.5f, 3);
    fill_shifted(&r, k->in, N, C, S);
    fill_uniform(&r, k->r, k->n, -1, 1);
}

static void bn_case_free(BnCase *k)
{
    float *all[] = {k->gamma, k->beta, k->rm, k->rv, k->sm, k->si, k->dgamma,
                    k->dbeta, k->in,    k->out,  k->r,  k->din};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void bn_case_forward(BnCase *k)
{
    if (k->train)
        batchnorm_forward_train(&k->b, k->gamma, k->beta, k->rm, k->rv, k->in, k->out,
                                k->sm, k->si, k->N);
    else
        batchnorm_forward_eval(&k->b, k->gamma, k->beta, k->rm, k->rv, k->in, k->out, k->N);
}

static void bn_case_backward(BnCase *k, const float *dout)
{
    if (k->train)
        batchnorm_backward_train(&k->b, k->gamma, k->beta, k->in, k->sm, k->si, dout, k->din,
                                 k->dgamma, k->dbeta, k->N);
    else
        batchnorm_backward_eval(&k->b, k->gamma, k->beta, k->rm, k->rv, k->in, dout, k->din,
                                k->dgamma, k->dbeta, k->N);
}

/* Running stats drift while the checker calls this in training mode; the
 * training-mode output does not depend on them. */
static double bn_loss(void *ctx)
{
    BnCase *k = ctx;
    bn_case_forward(k);
    return dot_double(k->out, k->r, k->n);
}

#define GRAD_H 1e-2f
#define GRAD_TOL 2e-3

static void bn_gradcheck(int C, int S, int N, int train, uint64_t seed)
{
    BnCase k;
    bn_case_init(&k, C, S, N, train, seed);
    bn_case_forward(&k);
    bn_case_backward(&k, k.r);
    ck_gradcheck(bn_loss, &k, k.in, k.din, k.n, GRAD_H, GRAD_TOL, "batchnorm input");
    ck_gradcheck(bn_loss, &k, k.gamma, k.dgamma, (size_t)C, GRAD_H, GRAD_TOL,
                 "batchnorm gamma");
    ck_gradcheck(bn_loss, &k, k.beta, k.dbeta, (size_t)C, GRAD_H, GRAD_TOL, "batchnorm beta");
    bn_case_free(&k);
}

START_TEST(bn_train_gradcheck)
{
    bn_gradcheck(3, 5, 4, 1, 21); /* BatchNorm2d */
    bn_gradcheck(4, 1, 6, 1, 22); /* BatchNorm1d */
}
END_TEST

START_TEST(bn_eval_gradcheck)
{
    bn_gradcheck(3, 5, 4, 0, 23);
    bn_gradcheck(4, 1, 6, 0, 24);
}
END_TEST

typedef struct {
    GroupNorm g;
    int N;
    size_t n;
    float *gamma, *beta, *in, *out, *sm, *si, *r;
    float *din, *dgamma, *dbeta;
} GnCase;

static void gn_case_init(GnCase *k, int C, int G, int S, int N, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    groupnorm_init(&k->g, C, G, S, EPS);
    k->N = N;
    k->n = (size_t)N * C * S;
    k->gamma = falloc(C);
    k->beta = falloc(C);
    k->dgamma = falloc(C);
    k->dbeta = falloc(C);
    k->sm = falloc((size_t)N * G);
    k->si = falloc((size_t)N * G);
    k->in = falloc(k->n);
    k->out = falloc(k->n);
    k->r = falloc(k->n);
    k->din = falloc(k->n);
    fill_uniform(&r, k->gamma, C, -1.5f, 1.5f);
    fill_uniform(&r, k->beta, C, -1, 1);
    fill_shifted(&r, k->in, N, C, S);
    fill_uniform(&r, k->r, k->n, -1, 1);
}

static void gn_case_free(GnCase *k)
{
    float *all[] = {k->gamma, k->beta, k->dgamma, k->dbeta, k->sm,
                    k->si,    k->in,   k->out,    k->r,     k->din};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

static void gn_case_forward(GnCase *k)
{
    groupnorm_forward(&k->g, k->gamma, k->beta, k->in, k->out, k->sm, k->si, k->N);
}

static void gn_case_backward(GnCase *k, const float *dout)
{
    groupnorm_backward(&k->g, k->gamma, k->beta, k->in, k->sm, k->si, dout, k->din, k->dgamma,
                       k->dbeta, k->N);
}

static double gn_loss(void *ctx)
{
    GnCase *k = ctx;
    gn_case_forward(k);
    return dot_double(k->out, k->r, k->n);
}

static void gn_gradcheck(int C, int G, int S, int N, uint64_t seed)
{
    GnCase k;
    gn_case_init(&k, C, G, S, N, seed);
    gn_case_forward(&k);
    gn_case_backward(&k, k.r);
    ck_gradcheck(gn_loss, &k, k.in, k.din, k.n, GRAD_H, GRAD_TOL, "groupnorm input");
    ck_gradcheck(gn_loss, &k, k.gamma, k.dgamma, (size_t)C, GRAD_H, GRAD_TOL,
                 "groupnorm gamma");
    ck_gradcheck(gn_loss, &k, k.beta, k.dbeta, (size_t)C, GRAD_H, GRAD_TOL, "groupnorm beta");
    gn_case_free(&k);
}

START_TEST(gn_gradcheck_groups)
{
    gn_gradcheck(4, 1, 5, 3, 31); /* LayerNorm-like */
    gn_gradcheck(4, 4, 5, 2, 32); /* InstanceNorm-like */
    gn_gradcheck(6, 3, 4, 2, 33); /* 2 channels per group */
    gn_gradcheck(6, 2, 1, 3, 34); /* spatial 1, 3 channels per group */
}
END_TEST

/* --------------------------------------- accumulation, overwrite, aliasing */

#define GARBAGE 1234.5f

static void fill_const(float *x, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static void assert_doubled(const float *twice, const float *once, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq_tol(twice[i], 2 * once[i], 1e-6 * (1 + fabsf(once[i])));
}

static void bn_accumulate_check(int train)
{
    BnCase k;
    bn_case_init(&k, 3, 4, 3, train, 41);
    const size_t C = 3;
    bn_case_forward(&k);
    fill_const(k.din, k.n, GARBAGE);
    bn_case_backward(&k, k.r);
    float *din1 = falloc(k.n), g1[3], b1[3];
    memcpy(din1, k.din, k.n * sizeof(float));
    memcpy(g1, k.dgamma, sizeof g1);
    memcpy(b1, k.dbeta, sizeof b1);
    fill_const(k.din, k.n, -GARBAGE);
    bn_case_backward(&k, k.r);
    assert_same_bits(k.din, din1, k.n, "batchnorm din (not overwritten)");
    assert_doubled(k.dgamma, g1, C);
    assert_doubled(k.dbeta, b1, C);
    free(din1);
    bn_case_free(&k);
}

START_TEST(bn_grads_accumulate_din_overwritten)
{
    bn_accumulate_check(1);
    bn_accumulate_check(0);
}
END_TEST

START_TEST(gn_grads_accumulate_din_overwritten)
{
    GnCase k;
    gn_case_init(&k, 6, 3, 4, 2, 42);
    gn_case_forward(&k);
    fill_const(k.din, k.n, GARBAGE);
    gn_case_backward(&k, k.r);
    float *din1 = falloc(k.n), g1[6], b1[6];
    memcpy(din1, k.din, k.n * sizeof(float));
    memcpy(g1, k.dgamma, sizeof g1);
    memcpy(b1, k.dbeta, sizeof b1);
    fill_const(k.din, k.n, -GARBAGE);
    gn_case_backward(&k, k.r);
    assert_same_bits(k.din, din1, k.n, "groupnorm din (not overwritten)");
    assert_doubled(k.dgamma, g1, 6);
    assert_doubled(k.dbeta, b1, 6);
    free(din1);
    gn_case_free(&k);
}
END_TEST

START_TEST(bn_inplace_matches)
{
    for (int train = 0; train <= 1; train++) {
        BnCase k;
        bn_case_init(&k, 3, 4, 3, train, 43);
        float rm0[3], rv0[3], sm0[3], si0[3];
        memcpy(rm0, k.rm, sizeof rm0);
        memcpy(rv0, k.rv, sizeof rv0);
        bn_case_forward(&k); /* out of place: k.out */
        memcpy(sm0, k.sm, sizeof sm0);
        memcpy(si0, k.si, sizeof si0);
        float *rm1 = k.rm, *rv1 = k.rv, rm2[3], rv2[3];
        memcpy(rm2, rm0, sizeof rm2);
        memcpy(rv2, rv0, sizeof rv2);
        if (train)
            batchnorm_forward_train(&k.b, k.gamma, k.beta, rm2, rv2, k.in, k.in, k.sm, k.si,
                                    k.N);
        else
            batchnorm_forward_eval(&k.b, k.gamma, k.beta, rm2, rv2, k.in, k.in, k.N);
        assert_same_bits(k.in, k.out, k.n, "batchnorm in-place output");
        assert_same_bits(rm2, rm1, 3, "running mean");
        assert_same_bits(rv2, rv1, 3, "running var");
        if (train) {
            assert_same_bits(k.sm, sm0, 3, "save_mean");
            assert_same_bits(k.si, si0, 3, "save_invstd");
        }
        bn_case_free(&k);
    }
}
END_TEST

START_TEST(gn_inplace_matches)
{
    GnCase k;
    gn_case_init(&k, 6, 2, 3, 2, 44);
    gn_case_forward(&k);
    float sm0[4], si0[4];
    memcpy(sm0, k.sm, sizeof sm0);
    memcpy(si0, k.si, sizeof si0);
    groupnorm_forward(&k.g, k.gamma, k.beta, k.in, k.in, k.sm, k.si, k.N);
    assert_same_bits(k.in, k.out, k.n, "groupnorm in-place output");
    assert_same_bits(k.sm, sm0, 4, "save_mean");
    assert_same_bits(k.si, si0, 4, "save_invstd");
    gn_case_free(&k);
}
END_TEST

/* A following ReLU or ReLU6 applied by the forward (the model's fusion)
 * gives what the norm and then relu_forward / relu6_forward give. */
START_TEST(norms_apply_act_after_like_the_activation)
{
    void (*const act_forward[])(const float *, float *, size_t) = {NULL, relu_forward, relu6_forward};
    for (int act = ACT_RELU; act <= ACT_RELU6; act++) {
        GnCase k;
        gn_case_init(&k, 6, 3, 4, 2, 45);
        for (int c = 0; c < 6; c++)
            k.gamma[c] *= 8.0f; /* outputs beyond 6 too, where ReLU6 clips */
        gn_case_forward(&k);
        float *want = falloc(k.n);
        act_forward[act](k.out, want, k.n);
        k.g.act_after = act;
        gn_case_forward(&k);
        assert_same_bits(k.out, want, k.n, "groupnorm + activation");
        int zeros = 0;
        int sixes = 0;
        for (size_t i = 0; i < k.n; i++) {
            zeros += want[i] == 0.0f;
            sixes += want[i] == 6.0f;
        }
        ck_assert_int_gt(zeros, 0); /* the activation did something */
        ck_assert(act != ACT_RELU6 || sixes > 0);
        free(want);
        gn_case_free(&k);

        BnCase b;
        bn_case_init(&b, 4, 5, 3, 1, 46);
        bn_case_forward(&b);
        want = falloc(b.n);
        act_forward[act](b.out, want, b.n);
        bn_case_free(&b);
        bn_case_init(&b, 4, 5, 3, 1, 46); /* fresh running statistics */
        b.b.act_after = act;
        bn_case_forward(&b);
        assert_same_bits(b.out, want, b.n, "batchnorm + activation");
        free(want);
        bn_case_free(&b);
    }
    ck_assert_float_eq(act_apply(7.5f, ACT_RELU6), 6.0f);
    ck_assert_float_eq(act_apply(7.5f, ACT_RELU), 7.5f);
    ck_assert_float_eq(act_apply(-1.0f, ACT_RELU6), 0.0f);
    ck_assert(isnan(act_apply(NAN, ACT_RELU6)) && isnan(act_apply(NAN, ACT_RELU)));
}
END_TEST

/* The residual add after a BN layer, fused (BatchNorm.residual, plain
 * NCHW path): training and inference forwards give the bits of the layer
 * and then add_forward_act, for every activation; the running statistics
 * are those of the layer alone. */
START_TEST(batchnorm_adds_the_residual_like_the_add)
{
    for (int train = 0; train <= 1; train++)
        for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
            BnCase k;
            bn_case_init(&k, 4, 5, 3, train, 47);
            for (int c = 0; c < 4; c++)
                k.gamma[c] *= 8.0f; /* sums beyond 6 too, where ReLU6 clips */
            bn_case_forward(&k);
            float *want = falloc(k.n), *rm = falloc(4), *rv = falloc(4);
            add_forward_act(k.out, k.r, want, k.n, act);
            memcpy(rm, k.rm, sizeof(float) * 4);
            memcpy(rv, k.rv, sizeof(float) * 4);
            bn_case_free(&k);
            bn_case_init(&k, 4, 5, 3, train, 47); /* fresh running statistics */
            for (int c = 0; c < 4; c++)
                k.gamma[c] *= 8.0f;
            k.b.residual = k.r;
            k.b.residual_act = act;
            bn_case_forward(&k);
            assert_same_bits(k.out, want, k.n, "batchnorm + residual add");
            assert_same_bits(k.rm, rm, 4, "running mean");
            assert_same_bits(k.rv, rv, 4, "running var");
            int zeros = 0, sixes = 0;
            for (size_t i = 0; i < k.n; i++) {
                zeros += want[i] == 0.0f;
                sixes += want[i] == 6.0f;
            }
            ck_assert(act == ACT_NONE || zeros > 0); /* the activation did something */
            ck_assert(act != ACT_RELU6 || sixes > 0);
            free(want);
            free(rm);
            free(rv);
            bn_case_free(&k);
        }
}
END_TEST

/* The same for GroupNorm (GroupNorm.residual, plain NCHW path). */
START_TEST(groupnorm_adds_the_residual_like_the_add)
{
    for (int act = ACT_NONE; act <= ACT_RELU6; act++) {
        GnCase k;
        gn_case_init(&k, 6, 3, 4, 2, 48);
        for (int c = 0; c < 6; c++)
            k.gamma[c] *= 8.0f;
        gn_case_forward(&k);
        float *want = falloc(k.n);
        add_forward_act(k.out, k.r, want, k.n, act);
        k.g.residual = k.r;
        k.g.residual_act = act;
        gn_case_forward(&k);
        assert_same_bits(k.out, want, k.n, "groupnorm + residual add");
        int zeros = 0;
        for (size_t i = 0; i < k.n; i++)
            zeros += want[i] == 0.0f;
        ck_assert(act == ACT_NONE || zeros > 0);
        free(want);
        gn_case_free(&k);
    }
}
END_TEST

/* With an activation fused (act_after) the backward takes its dout as the
 * gradient of the activation's output: the same bits as the activation's
 * own backward (masking dout by the output) followed by the norm's
 * backward without it, for BN in training and inference mode and GN. */
typedef void (*ActBackward)(const float *out, const float *dout, float *din, size_t n);

static void check_fused_backward(const char *what, float *out, const float *r, float *din, float *dgamma,
                                 float *dbeta, size_t n, int C, int act, void (*forward)(void *),
                                 void (*backward)(void *, const float *), void *k, int *act_after)
{
    const ActBackward act_backward[] = {NULL, relu_backward, relu6_backward};
    float *masked = falloc(n), *want_din = falloc(n), want_dg[C], want_db[C];
    *act_after = ACT_NONE;
    forward(k);
    for (size_t i = 0; i < n; i++)
        out[i] = act_apply(out[i], act);
    act_backward[act](out, r, masked, n);
    memset(dgamma, 0, sizeof(float) * (size_t)C);
    memset(dbeta, 0, sizeof(float) * (size_t)C);
    backward(k, masked);
    memcpy(want_din, din, sizeof(float) * n);
    memcpy(want_dg, dgamma, sizeof want_dg);
    memcpy(want_db, dbeta, sizeof want_db);
    size_t stopped = 0;
    for (size_t i = 0; i < n; i++)
        stopped += masked[i] == 0.0f && r[i] != 0.0f;
    ck_assert_msg(stopped > 0 && stopped < n, "%s: the activation stops some gradient", what);
    *act_after = act;
    forward(k);
    memset(dgamma, 0, sizeof(float) * (size_t)C);
    memset(dbeta, 0, sizeof(float) * (size_t)C);
    backward(k, r);
    assert_same_bits(din, want_din, n, what);
    assert_same_bits(dgamma, want_dg, (size_t)C, what);
    assert_same_bits(dbeta, want_db, (size_t)C, what);
    free(masked);
    free(want_din);
}

static void bn_forward_cb(void *k) { bn_case_forward(k); }
static void bn_backward_cb(void *k, const float *dout) { bn_case_backward(k, dout); }
static void gn_forward_cb(void *k) { gn_case_forward(k); }
static void gn_backward_cb(void *k, const float *dout) { gn_case_backward(k, dout); }

START_TEST(norms_take_the_gradient_back_through_act_after)
{
    for (int act = ACT_RELU; act <= ACT_RELU6; act++) {
        for (int train = 0; train < 2; train++) {
            BnCase b;
            bn_case_init(&b, 4, 5, 3, train, 47);
            for (int c = 0; c < 4; c++)
                b.gamma[c] *= 8.0f; /* outputs beyond 6 too, where ReLU6 clips */
            check_fused_backward(train ? "batchnorm train" : "batchnorm eval", b.out, b.r, b.din, b.dgamma,
                                 b.dbeta, b.n, 4, act, bn_forward_cb, bn_backward_cb, &b, &b.b.act_after);
            bn_case_free(&b);
        }
        GnCase g;
        gn_case_init(&g, 6, 3, 4, 2, 48);
        for (int c = 0; c < 6; c++)
            g.gamma[c] *= 8.0f;
        check_fused_backward("groupnorm", g.out, g.r, g.din, g.dgamma, g.dbeta, g.n, 6, act, gn_forward_cb,
                             gn_backward_cb, &g, &g.g.act_after);
        gn_case_free(&g);
    }
    /* The mask is the same taken at the output as at the pre-activation. */
    ck_assert_float_eq(act_grad(2.0f, 6.0f, ACT_RELU6), 0.0f);
    ck_assert_float_eq(act_grad(2.0f, 5.9f, ACT_RELU6), 2.0f);
    ck_assert_float_eq(act_grad(2.0f, 0.0f, ACT_RELU), 0.0f);
    ck_assert_float_eq(act_grad(2.0f, NAN, ACT_RELU), 0.0f);
    ck_assert_float_eq(act_grad(2.0f, -1.0f, ACT_NONE), 2.0f);
}
END_TEST

/* ------------------------------------------------------------------ LRN */

/* The hand case: all-ones input, (k, α, β, n) = (0, 1, 1, 2): the
 * across window of the first channel holds channels 0 and 1, so 1/2; an
 * inner channel 0..2, so 1/3. Within a 3x3 plane: corner 2x2 = 4 ones,
 * edge 2x3, centre 3x3. */
START_TEST(lrn_hand_case)
{
    enum { C = 4, H = 3, W = 3, S = H * W };
    float x[C * S], y[C * S], den[C * S];
    for (int i = 0; i < C * S; i++)
        x[i] = 1.0f;
    Lrn l;
    lrn_init(&l, LRN_ACROSS, 2, 1.0f, 1.0f, 0.0f, C, H, W);
    lrn_forward(&l, x, y, den, 1);
    ck_assert_float_eq_tol(y[0], 0.5f, 1e-7f);
    ck_assert_float_eq_tol(y[1 * S + 4], 1.0f / 3, 1e-7f);
    ck_assert_float_eq_tol(y[3 * S + 8], 0.5f, 1e-7f);
    lrn_init(&l, LRN_WITHIN, 2, 1.0f, 1.0f, 0.0f, C, H, W);
    lrn_forward(&l, x, y, den, 1);
    ck_assert_float_eq_tol(y[0], 0.25f, 1e-7f);     /* corner */
    ck_assert_float_eq_tol(y[1], 1.0f / 6, 1e-7f);  /* edge */
    ck_assert_float_eq_tol(y[4], 1.0f / 9, 1e-7f);  /* centre */
    ck_assert_float_eq_tol(y[2 * S + 8], 0.25f, 1e-7f);
    /* AlexNet's constants on a value: 3 / (2 + 1e-4·(3 channels of 9))^0.75. */
    float v[3] = {3, 3, 3}, w[3], dv[3];
    lrn_init(&l, LRN_ACROSS, 5, 1e-4f, 0.75f, 2.0f, 3, 1, 1);
    lrn_forward(&l, v, w, dv, 1);
    ck_assert_float_eq_tol(w[1], (float)(3.0 / pow(2.0 + 1e-4 * 27.0, 0.75)), 1e-6f);
}
END_TEST

typedef struct {
    Lrn l;
    float *x, *y, *den;
    const float *r;
    int N;
} LrnCase;

static double lrn_loss(void *vctx)
{
    LrnCase *c = vctx;
    lrn_forward(&c->l, c->x, c->y, c->den, c->N);
    return dot_double(c->y, c->r, (size_t)c->N * c->l.C * c->l.H * c->l.W);
}

/* Both modes, odd and even windows, against finite differences. */
START_TEST(lrn_gradcheck)
{
    static const int CASES[][3] = {{LRN_ACROSS, 5, 0}, {LRN_ACROSS, 2, 0}, {LRN_WITHIN, 3, 0}, {LRN_WITHIN, 2, 1}};
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
        enum { N = 1, C = 5, H = 3, W = 4 };
        const size_t n = (size_t)N * C * H * W;
        LrnCase c = {.N = N};
        lrn_init(&c.l, (LrnMode)CASES[i][0], CASES[i][1], 0.3f, 0.75f, CASES[i][2] ? 0.5f : 2.0f, C, H, W);
        Rng r;
        rng_seed(&r, 60 + i);
        c.x = falloc(n), c.y = falloc(n), c.den = falloc(n);
        float *rr = falloc(n), *dx = falloc(n), *t = falloc(n);
        fill_normal(&r, c.x, n, 1.5f);
        fill_normal(&r, rr, n, 1.0f);
        c.r = rr;
        lrn_forward(&c.l, c.x, c.y, c.den, N);
        lrn_backward(&c.l, c.x, c.den, rr, dx, t, N);
        ck_gradcheck(lrn_loss, &c, c.x, dx, n, 1e-2f, 1e-3, "lrn input");
        free(c.x), free(c.y), free(c.den), free(rr), free(dx), free(t);
    }
}
END_TEST

/* ------------------------------------------------------ thread determinism */

/* Everything one forward+backward pass of each layer produces, concatenated. */
static float *run_all_layers(int threads, size_t *len)
{
    bs_set_threads(threads);
    BnCase bt, be;
    GnCase gn;
    bn_case_init(&bt, 8, 49, 4, 1, 51);
    bn_case_init(&be, 8, 49, 4, 0, 51);
    gn_case_init(&gn, 8, 4, 49, 4, 52);
    bn_case_forward(&bt);
    bn_case_backward(&bt, bt.r);
    bn_case_forward(&be);
    bn_case_backward(&be, be.r);
    gn_case_forward(&gn);
    gn_case_backward(&gn, gn.r);
    const struct {
        const float *p;
        size_t n;
    } parts[] = {{bt.out, bt.n}, {bt.din, bt.n}, {bt.dgamma, 8}, {bt.dbeta, 8},
                 {bt.rm, 8},     {bt.rv, 8},     {bt.sm, 8},     {bt.si, 8},
                 {be.out, be.n}, {be.din, be.n}, {be.dgamma, 8}, {be.dbeta, 8},
                 {gn.out, gn.n}, {gn.din, gn.n}, {gn.dgamma, 8}, {gn.dbeta, 8},
                 {gn.sm, 16},    {gn.si, 16}};
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        total += parts[i].n;
    float *all = falloc(total), *dst = all;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        memcpy(dst, parts[i].p, parts[i].n * sizeof(float));
        dst += parts[i].n;
    }
    bn_case_free(&bt);
    bn_case_free(&be);
    gn_case_free(&gn);
    *len = total;
    return all;
}

START_TEST(thread_count_bit_identical)
{
    const int saved = bs_get_threads();
    size_t n1, n2;
    float *one = run_all_layers(1, &n1);
    float *two = run_all_layers(2, &n2);
    bs_set_threads(saved);
    ck_assert_uint_eq(n1, n2);
    assert_same_bits(one, two, n1, "1-thread vs 2-thread results");
    free(one);
    free(two);
}
END_TEST

Suite *norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *hand = tcase_create("hand");
    tcase_add_test(hand, bn2d_hand_step);
    tcase_add_test(hand, bn2d_two_steps_cumulative);
    tcase_add_test(hand, bn1d_hand_step);
    tcase_add_test(hand, gn_hand_case);
    tcase_add_test(hand, gn_matches_naive_reference);
    tcase_add_test(hand, torch_anchor_batchnorm2d);
    tcase_add_test(hand, torch_anchor_groupnorm);
    suite_add_tcase(s, hand);

    TCase *grad = tcase_create("grad");
    tcase_add_test(grad, bn_train_gradcheck);
    tcase_add_test(grad, bn_eval_gradcheck);
    tcase_add_test(grad, gn_gradcheck_groups);
    tcase_add_test(grad, bn_grads_accumulate_din_overwritten);
    tcase_add_test(grad, gn_grads_accumulate_din_overwritten);
    suite_add_tcase(s, grad);

    TCase *misc = tcase_create("aliasing_threads");
    tcase_add_test(misc, bn_inplace_matches);
    tcase_add_test(misc, gn_inplace_matches);
    tcase_add_test(misc, norms_apply_act_after_like_the_activation);
    tcase_add_test(misc, batchnorm_adds_the_residual_like_the_add);
    tcase_add_test(misc, groupnorm_adds_the_residual_like_the_add);
    tcase_add_test(misc, norms_take_the_gradient_back_through_act_after);
    tcase_add_test(misc, lrn_hand_case);
    tcase_add_test(misc, lrn_gradcheck);
    tcase_add_test(misc, thread_count_bit_identical);
    suite_add_tcase(s, misc);
    return s;
}
