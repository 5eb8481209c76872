/* The estimation-shift pass: exact set statistics, the ESM formulas, and the
 * recalibration property that proves the pass measures what REFERENCE.md §1 says. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/synthetic.h"
#include "models/arch.h"
#include "shift/esm.h"
#include "shift/stats.h"
#include "suites.h"
#include "test_util.h"
#include "train/evaluate.h"
#include "train/optimizer.h"

static ModelSpec small_resnet(int width)
{
    ModelSpec s = {.arch = ARCH_RESNET, .depth = 8, .width = width, .norm = VARIANT_BN,
                   .stem_norm = STEM_AUTO, .groups = 2, .in_c = 3, .in_h = 8, .in_w = 8,
                   .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f};
    return s;
}

typedef struct {
    Dataset d;
    Model m;
    int *idx;
    float *x;
    int *y;
    float mean[3], std[3];
    SampleSet set;
} Fixture;

static void fixture_make_width(Fixture *f, int n, int batch, int width)
{
    BsError err = {0};
    ck_assert_int_eq(synthetic_make(&f->d, n, 3, 8, 8, 10, 0.6f, 21, &err), BS_OK);
    ModelSpec s = small_resnet(width);
    Rng r;
    rng_seed(&r, 2);
    ck_assert_int_eq(model_build(&f->m, &s, batch, &r, &err), BS_OK);
    f->idx = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++)
        f->idx[i] = i;
    f->x = malloc(sizeof(float) * 3 * 64 * batch);
    f->y = malloc(sizeof(int) * batch);
    dataset_channel_stats(&f->d, f->mean, f->std);
    f->set = (SampleSet){&f->d, f->idx, n, f->mean, f->std, 0, NULL};
}

static void fixture_make(Fixture *f, int n, int batch) { fixture_make_width(f, n, batch, 4); }

static void fixture_free(Fixture *f)
{
    free(f->idx);
    free(f->x);
    free(f->y);
    model_free(&f->m);
    dataset_free(&f->d);
}

/* A few SGD steps so running statistics are neither init values nor exact. */
static void train_a_little(Fixture *f, int steps)
{
    BsError err = {0};
    Optimizer o;
    ck_assert_int_eq(optimizer_init(&o, &f->m, (SgdConfig){.momentum = 0.9f}, 1e-4f, 1, &err), BS_OK);
    int B = f->m.max_batch;
    for (int s = 0; s < steps; s++) {
        int start = (s * B) % (f->d.n - B);
        dataset_gather(&f->d, f->idx + start, B, f->mean, f->std, f->x, f->y);
        train_step(&f->m, &o, f->x, f->y, B, 0.05f, NULL);
    }
    optimizer_free(&o);
}

START_TEST(stats_match_naive_two_pass)
{
    Fixture f;
    fixture_make(&f, 37, 8); /* 8 does not divide 37 */
    train_a_little(&f, 3);
    ShiftStats st;
    BsError err = {0};
    ck_assert_int_eq(shift_stats_init(&st, &f.m, &err), BS_OK);
    ck_assert_int_eq(st.n_layers, 9); /* ResNet-8: stem + 2*3 + 2 shortcuts */
    EvalResult res;
    evaluate(&f.m, &f.set, f.x, f.y, &st, &res);
    for (int l = 0; l < st.n_layers; l++) {
        const Op *op = &f.m.ops[st.op_index[l]];
        int C = op->u.bn.C, S = op->u.bn.spatial;
        /* Naive: copy the layer's input for all 37 samples, then two passes. */
        float *all = malloc(sizeof(float) * 37 * C * S);
        for (int s = 0; s < 37; s += 8) {
            int nb = 37 - s < 8 ? 37 - s : 8;
            dataset_gather(&f.d, f.idx + s, nb, f.mean, f.std, f.x, f.y);
            model_forward(&f.m, f.x, nb, 0);
            tensor_copy_plain(&f.m.tensors[op->in], nb, all + (size_t)s * C * S);
        }
        for (int c = 0; c < C; c++) {
            double sum = 0, ss = 0;
            for (int n = 0; n < 37; n++)
                for (int i = 0; i < S; i++)
                    sum += all[((size_t)n * C + c) * S + i];
            double mu = sum / (37.0 * S);
            for (int n = 0; n < 37; n++)
                for (int i = 0; i < S; i++) {
                    double d = all[((size_t)n * C + c) * S + i] - mu;
                    ss += d * d;
                }
            double var = ss / (37.0 * S);
            ck_assert_double_eq_tol(shift_stats_mean(&st, l, c), mu, 1e-12 * (1 + fabs(mu)));
            ck_assert_double_eq_tol(shift_stats_var(&st, l, c), var, 1e-12 * (1 + var));
        }
        free(all);
    }
    shift_stats_free(&st);
    fixture_free(&f);
}
END_TEST

/* Under oneDNN, blocked BN layers sum their own input during the inference
 * forward (shift_stats_attach); the statistics must be bit for bit those
 * of the separate pass over the same tensors. Width 12: every BN input is
 * blocked, with padded blocks (12, 24, 48 channels). */
START_TEST(fused_bn_input_sums_equal_the_separate_pass)
{
    if (!onednn_available())
        return;
    Fixture f;
    fixture_make_width(&f, 37, 8, 12);
    train_a_little(&f, 3);
    BsError err = {0};
    ShiftStats fused, separate;
    ck_assert_int_eq(shift_stats_init(&fused, &f.m, &err), BS_OK);
    ck_assert_int_eq(shift_stats_init(&separate, &f.m, &err), BS_OK);
    EvalResult res;
    evaluate(&f.m, &f.set, f.x, f.y, &fused, &res);
    shift_stats_reset(&separate);
    for (int s = 0; s < 37; s += 8) {
        const int nb = 37 - s < 8 ? 37 - s : 8;
        dataset_gather(&f.d, f.idx + s, nb, f.mean, f.std, f.x, f.y);
        model_forward(&f.m, f.x, nb, 0);
        shift_stats_accumulate(&separate, &f.m, nb);
    }
    const size_t total = separate.offset[separate.n_layers - 1] + (size_t)separate.channels[separate.n_layers - 1];
    ck_assert_int_eq(memcmp(fused.mean, separate.mean, sizeof(double) * total), 0);
    ck_assert_int_eq(memcmp(fused.m2, separate.m2, sizeof(double) * total), 0);
    ck_assert_int_eq(memcmp(fused.count, separate.count, sizeof(double) * (size_t)separate.n_layers), 0);
    /* And the fused sums were really used: every blocked BN left them. */
    shift_stats_attach(&fused, &f.m);
    model_forward(&f.m, f.x, 5, 0);
    int blocked = 0;
    for (int l = 0; l < fused.n_layers; l++) {
        const BatchNorm *b = &f.m.ops[fused.op_index[l]].u.bn;
        ck_assert(b->blocked);
        ck_assert_double_eq(b->stats_out[3 * (size_t)b->C], 5.0 * b->spatial);
        blocked++;
    }
    shift_stats_detach(&fused, &f.m);
    ck_assert_int_eq(blocked, 9);
    for (int l = 0; l < fused.n_layers; l++)
        ck_assert_ptr_null(f.m.ops[fused.op_index[l]].u.bn.stats_out);
    shift_stats_free(&fused);
    shift_stats_free(&separate);
    fixture_free(&f);
}
END_TEST

/* ESM of every BN layer on the set, from the current running statistics;
 * mu_norm gets each layer's ||mu||. */
static void esm_all(Fixture *f, ShiftStats *st, Esm *out, double *mu_norm)
{
    EvalResult res;
    evaluate(&f->m, &f->set, f->x, f->y, st, &res);
    for (int l = 0; l < st->n_layers; l++) {
        double mu[64], var[64], nrm = 0;
        shift_stats_esm(st, &f->m, l, mu, var, &out[l]);
        for (int c = 0; c < st->channels[l]; c++)
            nrm += mu[c] * mu[c];
        mu_norm[l] = sqrt(nrm);
    }
}

START_TEST(recalibration_zeroes_the_shift)
{
    Fixture f;
    fixture_make(&f, 50, 16);
    train_a_little(&f, 4);
    ShiftStats st;
    BsError err = {0};
    ck_assert_int_eq(shift_stats_init(&st, &f.m, &err), BS_OK);
    Esm before[16], after[16];
    double mu_norm[16];
    esm_all(&f, &st, before, mu_norm);
    double worst_before = 0;
    for (int l = 0; l < st.n_layers; l++)
        worst_before = fmax(worst_before, before[l].esm_mean + before[l].esm_std);
    ck_assert_msg(worst_before > 1e-2, "ordinary running estimates show no shift (%g)", worst_before);
    recalibrate_bn(&f.m, &f.set, f.x, f.y, &st);
    esm_all(&f, &st, after, mu_norm);
    for (int l = 0; l < st.n_layers; l++) {
        double tol = 1e-4 * (1 + mu_norm[l]);
        ck_assert_msg(after[l].esm_mean <= tol && after[l].esm_std <= tol,
                      "layer %d after recalibration: esm_mean %g esm_std %g > %g (before %g %g)", l,
                      after[l].esm_mean, after[l].esm_std, tol, before[l].esm_mean, before[l].esm_std);
    }
    shift_stats_free(&st);
    fixture_free(&f);
}
END_TEST

START_TEST(esm_hand_case)
{
    float rm[2] = {1, 2}, rv[2] = {4, 9};
    double mu[2] = {0, 2}, var[2] = {1, 9};
    Esm e;
    esm_compute(rm, rv, mu, var, 2, &e);
    ck_assert_double_eq_tol(e.esm_mean, 1.0, 1e-12);  /* |1-0|, |2-2| */
    ck_assert_double_eq_tol(e.esm_std, 1.0, 1e-12);   /* |2-1|, |3-3| */
    ck_assert_double_eq_tol(e.esm_var, 3.0, 1e-12);   /* |4-1|, |9-9| */
    ck_assert_double_eq_tol(e.rms_mean, 1 / sqrt(2.0), 1e-12);
    ck_assert_double_eq_tol(e.rms_std, 1 / sqrt(2.0), 1e-12);
    ck_assert_double_eq_tol(e.nesm_mean, 1 / sqrt(2.0), 1e-12); /* (1/1, 0/3) */
    ck_assert_double_eq_tol(e.nesm_std, 1 / sqrt(2.0), 1e-12);  /* (2/1-1, 3/3-1) */
    ck_assert_int_eq(e.skipped, 0);
}
END_TEST

START_TEST(esm_skips_dead_channels_in_scale_free_forms)
{
    float rm[2] = {0.5f, 3}, rv[2] = {0.25f, 4};
    double mu[2] = {0, 1}, var[2] = {0, 1}; /* channel 0 is constant on the set */
    Esm e;
    esm_compute(rm, rv, mu, var, 2, &e);
    ck_assert_int_eq(e.skipped, 1);
    ck_assert_double_eq_tol(e.esm_mean, sqrt(0.25 + 4), 1e-12);
    ck_assert_double_eq_tol(e.nesm_mean, 2.0, 1e-12); /* channel 1 only: (3-1)/1 */
    ck_assert_double_eq_tol(e.nesm_std, 1.0, 1e-12);  /* 2/1 - 1 */
}
END_TEST

Suite *shift_suite(void)
{
    Suite *s = suite_create("shift");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_test(tc, stats_match_naive_two_pass);
    tcase_add_test(tc, fused_bn_input_sums_equal_the_separate_pass);
    tcase_add_test(tc, recalibration_zeroes_the_shift);
    tcase_add_test(tc, esm_hand_case);
    tcase_add_test(tc, esm_skips_dead_channels_in_scale_free_forms);
    suite_add_tcase(s, tc);
    return s;
}
