/* The model graph end to end: whole-network gradients against finite
 * differences (residual fork included), learning a synthetic task, and
 * bit-identical reruns. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "data/synthetic.h"
#include "models/model.h"
#include "suites.h"
#include "test_util.h"
#include "train/optimizer.h"
#include "train/schedule.h"

/* conv-BN-ReLU, a residual block (conv-BN-ReLU-conv-GN + identity), then
 * 1x1 projection conv, max-pool, global pool, linear. Without kinks the
 * ReLUs and the max-pool are left out, so the loss is smooth. */
static void build_net(Model *m, int batch, uint64_t seed, int kinks)
{
    BsError err = {0};
    Rng r;
    rng_seed(&r, seed);
    model_init(m);
    int x = model_input(m, 2, 6, 6);
    x = model_bn(m, "stem.bn", model_conv(m, "stem.conv", x, 4, 3, 1, 1, 0), 1e-5f, 0.1f);
    x = kinks ? model_relu(m, x) : x;
    int h = model_bn(m, "b.bn1", model_conv(m, "b.conv1", x, 4, 3, 1, 1, 0), 1e-5f, 0.1f);
    h = kinks ? model_relu(m, h) : h;
    h = model_gn(m, "b.gn2", model_conv(m, "b.conv2", h, 4, 3, 1, 1, 0), 2, 1e-5f);
    x = model_add(m, h, x);
    x = kinks ? model_relu(m, x) : x;
    x = model_conv(m, "proj", x, 6, 1, 2, 0, 1);
    x = kinks ? model_maxpool(m, x, 2, 1) : x;
    x = model_avgpool(m, x);
    int out = model_linear(m, "fc", x, 3, 1);
    ck_assert_int_eq(model_finish(m, out, batch, &r, &err), BS_OK);
}

static void check_model_grads(int train, int kinks)
{
    Model m;
    build_net(&m, 4, 3, kinks);
    Rng r;
    rng_seed(&r, 17);
    float x[4 * 2 * 36];
    int y[4] = {0, 2, 1, 2};
    fill_normal(&r, x, sizeof x / sizeof x[0], 1.0f);
    ModelLossCtx c = {&m, x, y, 4, train};
    float *g = model_analytic_grads(&c);
    /* Every parameter (a few hundred): the fork, the norms and the classifier
     * all have to route gradients right. A smooth net must match everywhere;
     * with ReLU/max-pool a perturbation may cross a kink, which only a few
     * entries may do, while a routing error would spoil whole layers. */
    if (kinks) {
        size_t bad = gradcheck_count_bad(model_loss_at, &c, m.params, g, m.n_params, 3e-4f, 2e-3);
        ck_assert_msg(bad * 50 <= m.n_params, "model gradcheck (train=%d, kinks): %zu of %zu off",
                      train, bad, m.n_params);
    } else {
        double e = gradcheck(model_loss_at, &c, m.params, g, m.n_params, 1e-3f, 100000);
        ck_assert_msg(e < 1e-3, "model gradcheck (train=%d): error %g", train, e);
    }
    free(g);
    model_free(&m);
}

START_TEST(model_gradients_training_mode) { check_model_grads(1, 0); }
END_TEST

START_TEST(model_gradients_inference_mode) { check_model_grads(0, 0); }
END_TEST

START_TEST(model_gradients_with_kinks_training_mode) { check_model_grads(1, 1); }
END_TEST

START_TEST(model_gradients_with_kinks_inference_mode) { check_model_grads(0, 1); }
END_TEST

START_TEST(param_layout_puts_weights_first)
{
    Model m;
    build_net(&m, 2, 1, 1);
    size_t weights = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        if (op->kind == OP_CONV || op->kind == OP_LINEAR) {
            weights += op->n_w;
            ck_assert_uint_lt(op->w_off, m.n_decay);
        }
        if (op->n_b)
            ck_assert_uint_ge(op->b_off, m.n_decay);
        if (op->kind == OP_BN || op->kind == OP_GN)
            ck_assert_uint_ge(op->w_off, m.n_decay);
    }
    ck_assert_uint_eq(weights, m.n_decay);
    /* 2*4*9 + 4*4*9*2 + 4*6 convs, 6*3 fc; biases 6 + 3; 3 norms of 4 (x2) */
    ck_assert_uint_eq(m.n_decay, 72 + 288 + 24 + 18);
    ck_assert_uint_eq(m.n_params, m.n_decay + 9 + 24);
    model_free(&m);
}
END_TEST

START_TEST(wd_norm_off_exempts_norm_and_bias)
{
    Model m;
    build_net(&m, 2, 1, 1);
    Optimizer o;
    BsError err = {0};
    SgdConfig sgd = {.momentum = 0.9f};
    ck_assert_int_eq(optimizer_init(&o, &m, sgd, 0.5f, 0, &err), BS_OK);
    float *before = malloc(sizeof(float) * m.n_params);
    memcpy(before, m.params, sizeof(float) * m.n_params);
    model_zero_grad(&m);
    optimizer_step(&o, &m, 0.1f);
    for (size_t i = 0; i < m.n_params; i++) {
        float want = i < m.n_decay ? before[i] * (1 - 0.05f) : before[i];
        ck_assert_float_eq_tol(m.params[i], want, 1e-6f * fabsf(want) + 1e-9f);
    }
    free(before);
    optimizer_free(&o);
    model_free(&m);
}
END_TEST

/* The acceptance network: conv-BN-ReLU-pool-linear. */
static void build_tiny_net(Model *m, int batch, uint64_t seed)
{
    BsError err = {0};
    Rng r;
    rng_seed(&r, seed);
    model_init(m);
    int x = model_input(m, 3, 12, 12);
    x = model_conv(m, "conv", x, 16, 3, 1, 1, 0);
    x = model_relu(m, model_bn(m, "bn", x, 1e-5f, 0.1f));
    x = model_maxpool(m, x, 2, 2);
    int out = model_linear(m, "fc", x, 10, 1);
    ck_assert_int_eq(model_finish(m, out, batch, &r, &err), BS_OK);
}

/* Trains for `epochs` with seeded shuffling; returns inference-mode accuracy
 * on the training set. */
static double train_tiny(Model *m, const Dataset *d, int epochs, int batch)
{
    BsError err = {0};
    Optimizer o;
    SgdConfig sgd = {.momentum = 0.9f, .nesterov = 0};
    ck_assert_int_eq(optimizer_init(&o, m, sgd, 5e-4f, 1, &err), BS_OK);
    Schedule sched = {.type = SCHED_COSINE, .base_lr = 0.05f, .total_epochs = epochs};
    float mean[3], std[3];
    dataset_channel_stats(d, mean, std);
    size_t sample = (size_t)d->c * d->h * d->w;
    float *x = malloc(sizeof(float) * sample * d->n);
    int *y = malloc(sizeof(int) * d->n), *idx = malloc(sizeof(int) * d->n);
    Rng r;
    rng_seed(&r, 99);
    int steps = d->n / batch;
    for (int e = 0; e < epochs; e++) {
        for (int i = 0; i < d->n; i++)
            idx[i] = i;
        rng_shuffle(&r, idx, d->n);
        for (int s = 0; s < steps; s++) {
            dataset_gather(d, idx + s * batch, batch, mean, std, x, y);
            double loss = train_step(m, &o, x, y, batch, schedule_lr(&sched, e, s, steps), NULL);
            ck_assert(isfinite(loss));
        }
    }
    int hits = 0;
    for (int i = 0; i < d->n; i++)
        idx[i] = i;
    for (int s = 0; s < d->n; s += batch) {
        int nb = d->n - s < batch ? d->n - s : batch;
        int c;
        dataset_gather(d, idx + s, nb, mean, std, x, y);
        model_forward(m, x, nb, 0);
        model_loss(m, y, nb, &c, 0);
        hits += c;
    }
    free(x);
    free(y);
    free(idx);
    optimizer_free(&o);
    return (double)hits / d->n;
}

START_TEST(tiny_net_learns_synthetic_task)
{
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(synthetic_make(&d, 2000, 3, 12, 12, 10, 0.6f, 5, &err), BS_OK);
    Model m;
    build_tiny_net(&m, 50, 1);
    double acc = train_tiny(&m, &d, 8, 50);
    ck_assert_msg(acc >= 0.95, "train accuracy %.3f < 0.95", acc);
    model_free(&m);
    dataset_free(&d);
}
END_TEST

START_TEST(same_seed_same_threads_bit_identical)
{
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(synthetic_make(&d, 300, 3, 12, 12, 10, 0.6f, 8, &err), BS_OK);
    Model a, b;
    build_tiny_net(&a, 30, 4);
    build_tiny_net(&b, 30, 4);
    train_tiny(&a, &d, 2, 30);
    train_tiny(&b, &d, 2, 30);
    ck_assert_uint_eq(a.n_params, b.n_params);
    ck_assert_int_eq(memcmp(a.params, b.params, sizeof(float) * a.n_params), 0);
    ck_assert_int_eq(memcmp(a.stats, b.stats, sizeof(float) * a.n_stats), 0);
    /* A different init seed must give different weights (the check can fail). */
    Model c;
    build_tiny_net(&c, 30, 5);
    ck_assert_int_ne(memcmp(a.params, c.params, sizeof(float) * a.n_params), 0);
    model_free(&a);
    model_free(&b);
    model_free(&c);
    dataset_free(&d);
}
END_TEST

/* One training-mode forward/backward of build_net on the given backend;
 * copies the logits and the parameter gradients out. */
static void net_step(ConvBackend backend, float *logits, float *grads, size_t n_params)
{
    Model m;
    build_net(&m, 4, 3, 1);
    BsError err = {0};
    ck_assert_int_eq(model_set_conv_backend(&m, backend, &err), BS_OK);
    ck_assert_int_eq(m.conv_backend, backend);
    Rng r;
    rng_seed(&r, 23);
    float x[4 * 2 * 36];
    int y[4] = {1, 0, 2, 2};
    fill_normal(&r, x, sizeof x / sizeof x[0], 1.0f);
    model_forward(&m, x, 4, 1);
    model_loss(&m, y, 4, NULL, 1);
    model_zero_grad(&m);
    model_backward(&m, 4, 1);
    ck_assert_uint_eq(m.n_params, n_params);
    memcpy(logits, m.tensors[m.output].data, sizeof(float) * 4 * 3);
    memcpy(grads, m.grads, sizeof(float) * n_params);
    model_free(&m);
}

/* The whole net (convs of three shapes, in-place ReLU and add, BN fused
 * with ReLU) gives the same logits and gradients on both backends, up to
 * float rounding. */
START_TEST(backends_agree_on_a_whole_net)
{
    if (!onednn_available())
        return;
    Model m;
    build_net(&m, 4, 3, 1);
    const size_t n = m.n_params;
    model_free(&m);
    float la[12], lb[12], *ga = malloc(sizeof(float) * n), *gb = malloc(sizeof(float) * n);
    net_step(CONV_IM2COL, la, ga, n);
    net_step(CONV_ONEDNN, lb, gb, n);
    ck_assert_msg(max_abs_diff(la, lb, 12) <= 1e-5 * fmax(1.0, max_abs(la, 12)), "logits differ");
    ck_assert_msg(max_abs_diff(ga, gb, n) <= 1e-4 * fmax(1.0, max_abs(ga, n)), "gradients differ by %g",
                  max_abs_diff(ga, gb, n));
    free(ga);
    free(gb);
}
END_TEST

/* The memory plan: ReLU and the residual add write over their input when
 * nothing else reads it (and BN or the add then applies the ReLU itself);
 * a ReLU on a tensor two ops read gets its own buffers. */
START_TEST(in_place_ops_share_their_input_buffers)
{
    Model m;
    build_net(&m, 4, 3, 1);
    int shared = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        const Tensor *ti = &m.tensors[op->in], *to = &m.tensors[op->out];
        if (op->kind != OP_RELU && op->kind != OP_ADD)
            continue;
        if (ti->consumers == 1) {
            ck_assert_ptr_eq(to->data, ti->data);
            ck_assert_ptr_eq(to->grad, ti->grad);
            shared++;
        } else {
            ck_assert_ptr_ne(to->data, ti->data);
        }
        if (op->kind == OP_RELU && op->fused)
            ck_assert((m.ops[i - 1].kind == OP_BN && m.ops[i - 1].u.bn.act_after) ||
                      (m.ops[i - 1].kind == OP_ADD && m.ops[i - 1].u.add_act));
    }
    ck_assert_int_eq(shared, 4); /* stem ReLU, block ReLU, the add, the ReLU after it */
    model_free(&m);
}
END_TEST

Suite *train_suite(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_test(tc, model_gradients_training_mode);
    tcase_add_test(tc, model_gradients_inference_mode);
    tcase_add_test(tc, model_gradients_with_kinks_training_mode);
    tcase_add_test(tc, model_gradients_with_kinks_inference_mode);
    tcase_add_test(tc, param_layout_puts_weights_first);
    tcase_add_test(tc, wd_norm_off_exempts_norm_and_bias);
    tcase_add_test(tc, tiny_net_learns_synthetic_task);
    tcase_add_test(tc, same_seed_same_threads_bit_identical);
    tcase_add_test(tc, backends_agree_on_a_whole_net);
    tcase_add_test(tc, in_place_ops_share_their_input_buffers);
    suite_add_tcase(s, tc);
    return s;
}
