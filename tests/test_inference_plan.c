/* The memory plans. The gradient slots (memory_plan.c): gradients that
 * share a buffer never live at the same time, padded tensors keep their
 * own, and a training step through the shared buffers gives the gradients
 * of one buffer per tensor bit for bit.
 * The inference plan (lib/models/inference_plan.c): while a tensor may
 * still be read, no other tensor's buffer overlaps it; pinned tensors keep
 * their training buffers; the plan needs less memory than the training
 * plan; a forward through it, in inference or training mode (the
 * batch-statistics pass), gives the training plan's logits bit for bit;
 * end restores the training buffers. Over the families with their mixes of
 * blocked and NCHW tensors, in-place ops, concatenations and splits, under
 * both convolution backends. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/arch.h"
#include "models/memory_plan.h"
#include "suites.h"
#include "test_util.h"

static ModelSpec spec_of(int k)
{
    ModelSpec s = {.arch = ARCH_RESNET, .depth = 11, .width = 12, .norm = VARIANT_BN, .stem_norm = STEM_AUTO,
                   .groups = 2, .in_c = 3, .in_h = 16, .in_w = 16, .num_classes = 10, .bn_eps = 1e-5f,
                   .bn_momentum = 0.1f, .cardinality = 2, .group_width = 2, .width_mult = 1.0};
    switch (k) {
    case 0: /* basic blocks, padded blocked tensors (12, 24, 48 channels) */
        s.depth = 8;
        break;
    case 1: /* width 4: NCHW BN inputs (pinned) beside blocked ones */
        s.depth = 8;
        s.width = 4;
        s.norm = VARIANT_XBNBLOCK;
        break;
    case 2:
        s.block = BLOCK_BOTTLENECK;
        s.width = 4;
        break;
    case 3:
        s.arch = ARCH_SHUFFLENETV2; /* concatenations and channel splits */
        s.width_mult = 0.5;
        s.groups = 8;
        s.norm = VARIANT_GNBN;
        break;
    case 4:
        s.arch = ARCH_MOBILENETV2;
        s.width_mult = 0.25;
        s.groups = 8;
        break;
    default: /* whole blocks (16, 32, 64 channels), GroupNorm */
        s.depth = 8;
        s.width = 16;
        s.norm = VARIANT_GN;
        break;
    }
    return s;
}
enum { N_SPECS = 6 };

static size_t bytes_of(const Model *m, int t)
{
    return sizeof(float) * tensor_capacity(&m->tensors[t]) * (size_t)m->max_batch;
}

static int overlap(const Model *m, int a, int b)
{
    const char *pa = (const char *)m->tensors[a].data, *pb = (const char *)m->tensors[b].data;
    return pa < pb + bytes_of(m, b) && pb < pa + bytes_of(m, a);
}

/* Ops that read tensor t (as in or in2), the last of them, or -1. */
static int last_reader(const Model *m, int t)
{
    int last = -1;
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].in == t || m->ops[i].in2 == t)
            last = i;
    return last;
}

static int producer(const Model *m, int t)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].out == t)
            return i;
    return -1;
}

/* Op i writes tensor out: no tensor that is still to be read at op i (made
 * before it, read at or after it) may share bytes with out, unless it
 * shared them in the training plan too (an in-place op's input). */
static void check_liveness(const Model *m, float **train)
{
    for (int i = 0; i < m->n_ops; i++) {
        const int out = m->ops[i].out;
        for (int t = 0; t < m->n_tensors; t++) {
            if (t == out || train[t] == train[out] || producer(m, t) >= i)
                continue;
            if (last_reader(m, t) >= i || t == 0)
                ck_assert_msg(!overlap(m, t, out), "op %d (%s) writes over tensor %d, still to be read", i,
                              m->ops[i].name, t);
        }
    }
}

static void check_spec(int k, ConvBackend backend)
{
    ModelSpec s = spec_of(k);
    const int B = 5;
    Model m;
    Rng r;
    rng_seed(&r, 3);
    BsError err = {0};
    ck_assert_int_eq(model_build(&m, &s, B, &r, &err), BS_OK);
    ck_assert_int_eq(model_set_conv_backend(&m, backend, &err), BS_OK);
    const size_t in_n = tensor_numel(&m.tensors[0]) * B, out_n = tensor_numel(&m.tensors[m.output]) * B;
    float *x = falloc(in_n), *ref = falloc(out_n), *ref_train = falloc(out_n);
    fill_normal(&r, x, in_n, 1.0f);
    model_forward(&m, x, B, 1); /* running statistics that are not the initial ones */
    memcpy(ref_train, m.tensors[m.output].data, sizeof(float) * out_n);
    model_forward(&m, x, B, 0);
    memcpy(ref, m.tensors[m.output].data, sizeof(float) * out_n);
    float **train = malloc(sizeof(float *) * (size_t)m.n_tensors);
    size_t train_bytes = 0;
    for (int t = 0; t < m.n_tensors; t++) {
        train[t] = m.tensors[t].data;
        int first = 1;
        for (int u = 0; u < t; u++)
            first &= train[u] != train[t];
        train_bytes += first ? bytes_of(&m, t) : 0;
    }

    ck_assert_int_eq(memory_plan_inference_begin(&m), 1);
    check_liveness(&m, train);
    ck_assert_ptr_eq(m.tensors[0].data, train[0]);
    ck_assert_ptr_eq(m.tensors[m.output].data, train[m.output]);
    size_t plan_bytes = 0, moved = 0;
    for (int t = 0; t < m.n_tensors; t++) {
        if (m.tensors[t].data == train[t])
            continue;
        moved++;
        int first = 1;
        for (int u = 0; u < t; u++)
            first &= m.tensors[u].data != m.tensors[t].data;
        plan_bytes += first ? bytes_of(&m, t) : 0; /* a lower bound on the slots' bytes, enough here */
    }
    for (int i = 0; i < m.n_ops; i++) /* NCHW BN inputs are summed after the pass: kept */
        if (m.ops[i].kind == OP_BN && !m.ops[i].u.bn.blocked)
            ck_assert_ptr_eq(m.tensors[m.ops[i].in].data, train[m.ops[i].in]);
    ck_assert_uint_gt(moved, 0);
    ck_assert_msg(plan_bytes * 2 < train_bytes, "spec %d: the plan holds %zu of %zu bytes", k, plan_bytes,
                  train_bytes);
    model_forward(&m, x, B, 0);
    ck_assert_int_eq(memcmp(m.tensors[m.output].data, ref, sizeof(float) * out_n), 0);
    memory_plan_inference_begin(&m); /* twice: the same plan */
    check_liveness(&m, train);
    memory_plan_inference_end(&m);
    for (int t = 0; t < m.n_tensors; t++)
        ck_assert_ptr_eq(m.tensors[t].data, train[t]);
    model_forward(&m, x, B, 0);
    ck_assert_int_eq(memcmp(m.tensors[m.output].data, ref, sizeof(float) * out_n), 0);
    memory_plan_inference_begin(&m); /* the batch-statistics pass: training mode, no backward */
    model_forward(&m, x, B, 1);
    ck_assert_int_eq(memcmp(m.tensors[m.output].data, ref_train, sizeof(float) * out_n), 0);
    memory_plan_inference_end(&m);
    free(train);
    free(x);
    free(ref);
    free(ref_train);
    model_free(&m);
}

/* The ops' indices over which tensor t's gradient is live: from the
 * producer of its buffer's first tensor (in-place outputs share it) to the
 * last reader of any of them (after the last op for the logits). */
static void gradient_life(const Model *m, int t, int *from, int *to)
{
    *from = m->n_ops;
    *to = -1;
    for (int u = 0; u < m->n_tensors; u++) {
        if (m->tensors[u].data != m->tensors[t].data)
            continue;
        const int p = producer(m, u), r = u == m->output ? m->n_ops : last_reader(m, u);
        if (p >= 0 && p < *from)
            *from = p;
        if (r > *to)
            *to = r;
    }
}

/* Tensors with their own data but one gradient buffer: same size, no
 * padding lanes, lives apart. Returns how many such pairs there are. */
static int check_gradient_slots(const Model *m)
{
    int shared = 0;
    for (int a = 1; a < m->n_tensors; a++)
        for (int b = a + 1; b < m->n_tensors; b++) {
            const Tensor *ta = &m->tensors[a], *tb = &m->tensors[b];
            if (ta->grad != tb->grad || ta->data == tb->data)
                continue;
            shared++;
            ck_assert_uint_eq(tensor_numel(ta), tensor_numel(tb));
            ck_assert_msg(tensor_capacity(ta) == tensor_numel(ta), "padded tensor %d shares its gradient", a);
            int fa, la, fb, lb;
            gradient_life(m, a, &fa, &la);
            gradient_life(m, b, &fb, &lb);
            ck_assert_msg(la < fb || lb < fa, "gradients of tensors %d (ops %d-%d) and %d (ops %d-%d) overlap", a,
                          fa, la, b, fb, lb);
        }
    return shared;
}

/* Gives every tensor a gradient buffer of its own (in-place outputs still
 * share their input's), as the plan did before the slots; returns the
 * buffers to free. */
static float **own_gradients(Model *m)
{
    float **own = calloc((size_t)m->n_tensors, sizeof(float *));
    for (int t = 1; t < m->n_tensors; t++) {
        int first = 1;
        while (first < t && m->tensors[first].data != m->tensors[t].data)
            first++;
        if (first == t)
            own[t] = falloc(tensor_capacity(&m->tensors[t]) * (size_t)m->max_batch);
        m->tensors[t].grad = own[first];
    }
    return own;
}

/* Two training steps (the second after an update, so the shared buffers
 * hold the first step's values): logits and parameter gradients. */
static void two_steps(Model *m, const float *x, const int *y, int N, float *grads)
{
    for (int k = 0; k < 2; k++) {
        model_forward(m, x, N, 1);
        model_loss(m, y, N, NULL, 1);
        model_zero_grad(m);
        model_backward(m, N, 1);
        memcpy(grads + k * m->n_params, m->grads, sizeof(float) * m->n_params);
        for (size_t i = 0; i < m->n_params; i++)
            m->params[i] -= 0.1f * m->grads[i];
    }
}

/* Two models of spec k built alike (same seed) on `backend`, one batch for
 * them, and room for two steps' gradients of each. */
enum { TWIN_B = 5 };
typedef struct {
    ModelSpec s;
    Model a, b;
    float *x, *ga, *gb;
    int y[TWIN_B];
} Twins;

static void twins_build(Twins *t, int k, ConvBackend backend, uint64_t seed)
{
    t->s = spec_of(k);
    Rng r;
    BsError err = {0};
    rng_seed(&r, seed);
    ck_assert_int_eq(model_build(&t->a, &t->s, TWIN_B, &r, &err), BS_OK);
    rng_seed(&r, seed);
    ck_assert_int_eq(model_build(&t->b, &t->s, TWIN_B, &r, &err), BS_OK);
    ck_assert_int_eq(model_set_conv_backend(&t->a, backend, &err), BS_OK);
    ck_assert_int_eq(model_set_conv_backend(&t->b, backend, &err), BS_OK);
    const size_t in_n = tensor_numel(&t->a.tensors[0]) * TWIN_B;
    t->x = falloc(in_n);
    t->ga = falloc(2 * t->a.n_params);
    t->gb = falloc(2 * t->b.n_params);
    for (int i = 0; i < TWIN_B; i++)
        t->y[i] = (3 * i) % t->s.num_classes;
    fill_normal(&r, t->x, in_n, 1.0f);
}

/* Two training steps of each (a first): the same gradients, bit for bit. */
static void twins_steps_agree(Twins *t, int k)
{
    two_steps(&t->a, t->x, t->y, TWIN_B, t->ga);
    two_steps(&t->b, t->x, t->y, TWIN_B, t->gb);
    ck_assert_msg(!memcmp(t->ga, t->gb, sizeof(float) * 2 * t->a.n_params), "spec %d: gradients differ", k);
}

static void twins_free(Twins *t)
{
    free(t->x);
    free(t->ga);
    free(t->gb);
    model_free(&t->a);
    model_free(&t->b);
}

static void check_gradient_plan(int k, ConvBackend backend)
{
    Twins t;
    twins_build(&t, k, backend, 3);
    const int shared = check_gradient_slots(&t.a);
    if (k == N_SPECS - 1)
        ck_assert_int_gt(shared, 10);
    float **own = own_gradients(&t.b);
    twins_steps_agree(&t, k);
    for (int i = 0; i < t.b.n_tensors; i++)
        free(own[i]);
    free(own);
    twins_free(&t);
}

/* Undoes the residual adds' fusion (memory_plan.c fuse_residual_adds):
 * each add runs forward and backward again, its norm writes its own
 * output and reads its own output's gradient. Returns
 * how many adds were fused. */
static int unfuse_residual_adds(Model *m)
{
    int fused = 0;
    for (int i = 0; i < m->n_ops; i++) {
        Op *op = &m->ops[i];
        if (op->kind == OP_ADD && op->fused) {
            op->fused = 0;
            fused++;
        }
        op->residual = -1;
        op->residual_dy = 0;
    }
    return fused;
}

/* A model whose norms do the residual adds gives, bit for bit, the logits
 * (training forward, and inference through the inference plan) and two
 * steps' parameter gradients of the same model with the adds on their own. */
static void check_residual_fusion(int k, ConvBackend backend)
{
    Twins t;
    twins_build(&t, k, backend, 4);
    const int fused = unfuse_residual_adds(&t.b);
    if (k == 0) /* every block's: the projecting blocks' by their shortcut's BN */
        ck_assert_int_eq(fused, 3);
    if (k == 2) /* bottleneck, one block a stage, every one projecting */
        ck_assert_int_eq(fused, 3);
    twins_steps_agree(&t, k);
    const size_t out_n = tensor_numel(&t.a.tensors[t.a.output]) * TWIN_B;
    Model *both[2] = {&t.a, &t.b};
    float *logits[2] = {falloc(out_n), falloc(out_n)};
    for (int j = 0; j < 2; j++) {
        ck_assert_int_eq(memory_plan_inference_begin(both[j]), 1);
        model_forward(both[j], t.x, TWIN_B, 0);
        memcpy(logits[j], both[j]->tensors[both[j]->output].data, sizeof(float) * out_n);
        memory_plan_inference_end(both[j]);
    }
    ck_assert_msg(!memcmp(logits[0], logits[1], sizeof(float) * out_n), "spec %d: inference logits differ", k);
    free(logits[0]);
    free(logits[1]);
    twins_free(&t);
}

START_TEST(residual_fusion_is_exact_reference_backend)
{
    check_residual_fusion(_i, CONV_IM2COL);
}
END_TEST

START_TEST(residual_fusion_is_exact_onednn_backend)
{
    if (!onednn_available())
        return;
    check_residual_fusion(_i, CONV_ONEDNN);
}
END_TEST

/* Two residual adds at the edges of the backward hand-off (residual_dy):
 * relu(bn(x) + x), where the norm's input is the add's other input (the
 * norm's input gradient then adds to what the hand-off wrote), and
 * relu(gn(conv(s)) + s) with s read again after the add (fused forward,
 * but the add keeps its backward: it is not s's first gradient writer). */
static void build_edge_blocks(Model *m, uint64_t seed, int *adds)
{
    Rng r;
    BsError err = {0};
    rng_seed(&r, seed);
    model_init(m);
    int x = model_conv(m, "c0", model_input(m, 3, 6, 6), 16, 3, 1, 1, 0);
    int s = model_relu(m, model_add(m, model_bn(m, "bn", x, 1e-5f, 0.1f), x));
    adds[0] = m->n_ops - 2;
    int h = model_gn(m, "gn", model_conv(m, "c1", s, 16, 3, 1, 1, 0), 4, 1e-5f);
    int z = model_relu(m, model_add(m, h, s));
    adds[1] = m->n_ops - 2;
    z = model_add(m, model_conv(m, "c2", z, 16, 3, 1, 1, 0), s);
    int out = model_linear(m, "fc", model_avgpool(m, z), 10, 1);
    ck_assert_int_eq(model_finish(m, out, TWIN_B, &r, &err), BS_OK);
}

static void check_edge_blocks(ConvBackend backend)
{
    Model m[2];
    int adds[2];
    BsError err = {0};
    for (int j = 0; j < 2; j++) {
        build_edge_blocks(&m[j], 7, adds);
        ck_assert_int_eq(model_set_conv_backend(&m[j], backend, &err), BS_OK);
    }
    const Op *a0 = &m[1].ops[adds[0]], *a1 = &m[1].ops[adds[1]];
    ck_assert(a0->kind == OP_ADD && a0->fused && a0->residual_dy && m[1].ops[adds[0] - 1].residual_dy);
    ck_assert(a1->kind == OP_ADD && a1->fused && !a1->residual_dy && !m[1].ops[adds[1] - 1].residual_dy);
    ck_assert_int_eq(unfuse_residual_adds(&m[0]), 2);
    Rng r;
    rng_seed(&r, 8);
    const size_t in_n = tensor_numel(&m[0].tensors[0]) * TWIN_B;
    float *x = falloc(in_n), *g[2];
    fill_normal(&r, x, in_n, 1.0f);
    int y[TWIN_B];
    for (int i = 0; i < TWIN_B; i++)
        y[i] = (3 * i) % 10;
    for (int j = 0; j < 2; j++) {
        g[j] = falloc(2 * m[j].n_params);
        two_steps(&m[j], x, y, TWIN_B, g[j]);
    }
    ck_assert_msg(!memcmp(g[0], g[1], sizeof(float) * 2 * m[0].n_params), "gradients differ");
    for (int j = 0; j < 2; j++) {
        free(g[j]);
        model_free(&m[j]);
    }
    free(x);
}

START_TEST(residual_backward_edges_are_exact)
{
    check_edge_blocks(CONV_IM2COL);
    if (onednn_available())
        check_edge_blocks(CONV_ONEDNN);
}
END_TEST

/* oneDNN adding a convolution's input gradient in place (where a second
 * consumer wrote it first; model b) gives, bit for bit, the parameter
 * gradients of two training steps that go through scratch and
 * op_grad_end's add (model a). */
START_TEST(conv_data_add_is_exact_onednn_backend)
{
    if (!onednn_available())
        return;
    Twins t;
    twins_build(&t, _i, CONV_ONEDNN, 6);
    onednn_conv_allow_data_add(0);
    two_steps(&t.a, t.x, t.y, TWIN_B, t.ga);
    onednn_conv_allow_data_add(1);
    two_steps(&t.b, t.x, t.y, TWIN_B, t.gb);
    ck_assert_msg(!memcmp(t.ga, t.gb, sizeof(float) * 2 * t.a.n_params), "spec %d: gradients differ", _i);
    twins_free(&t);
}
END_TEST

START_TEST(gradient_slots_are_safe_and_exact_reference_backend)
{
    check_gradient_plan(_i, CONV_IM2COL);
}
END_TEST

START_TEST(gradient_slots_are_safe_and_exact_onednn_backend)
{
    if (!onednn_available())
        return;
    check_gradient_plan(_i, CONV_ONEDNN);
}
END_TEST

START_TEST(plan_is_safe_and_exact_reference_backend)
{
    check_spec(_i, CONV_IM2COL);
}
END_TEST

START_TEST(plan_is_safe_and_exact_onednn_backend)
{
    if (!onednn_available())
        return;
    check_spec(_i, CONV_ONEDNN);
}
END_TEST

/* The plan follows the layouts: a backend change rebuilds it (NCHW BN
 * inputs are pinned under the reference backend, not under oneDNN). */
START_TEST(plan_is_rebuilt_when_layouts_change)
{
    if (!onednn_available())
        return;
    ModelSpec s = spec_of(0);
    Model m;
    Rng r;
    rng_seed(&r, 3);
    BsError err = {0};
    ck_assert_int_eq(model_build(&m, &s, 4, &r, &err), BS_OK);
    ck_assert_int_eq(model_set_conv_backend(&m, CONV_IM2COL, &err), BS_OK);
    ck_assert_int_eq(memory_plan_inference_begin(&m), 1);
    const int bn_in = m.ops[1].kind == OP_BN ? m.ops[1].in : -1;
    ck_assert_int_ge(bn_in, 0);
    ck_assert_ptr_eq(m.infer_data[bn_in], m.train_data[bn_in]);
    memory_plan_inference_end(&m);
    ck_assert_int_eq(model_set_conv_backend(&m, CONV_ONEDNN, &err), BS_OK);
    ck_assert_ptr_null(m.infer_data);
    ck_assert_int_eq(memory_plan_inference_begin(&m), 1);
    ck_assert_ptr_ne(m.infer_data[bn_in], m.train_data[bn_in]);
    memory_plan_inference_end(&m);
    model_free(&m);
}
END_TEST

Suite *inference_plan_suite(void)
{
    Suite *s = suite_create("inference_plan");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, plan_is_safe_and_exact_reference_backend, 0, N_SPECS);
    tcase_add_loop_test(tc, plan_is_safe_and_exact_onednn_backend, 0, N_SPECS);
    tcase_add_test(tc, plan_is_rebuilt_when_layouts_change);
    tcase_add_loop_test(tc, gradient_slots_are_safe_and_exact_reference_backend, 0, N_SPECS);
    tcase_add_loop_test(tc, gradient_slots_are_safe_and_exact_onednn_backend, 0, N_SPECS);
    tcase_add_loop_test(tc, residual_fusion_is_exact_reference_backend, 0, N_SPECS);
    tcase_add_loop_test(tc, residual_fusion_is_exact_onednn_backend, 0, N_SPECS);
    tcase_add_loop_test(tc, conv_data_add_is_exact_onednn_backend, 0, N_SPECS);
    tcase_add_test(tc, residual_backward_edges_are_exact);
    suite_add_tcase(s, tc);
    return s;
}
