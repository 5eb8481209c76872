/* The op table is the only place to touch for a new op kind (issue 12): this
 * test adds one — a learnable scale y = s·x with one parameter — through
 * op_type_register alone, builds a model with it between a convolution and
 * the pooling, and checks forward values, in-place running (it says so in
 * its entry), and every parameter gradient (the conv's and s) against
 * finite differences. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "models/ops.h"
#include "suites.h"
#include "test_util.h"

static void scale_forward(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const float s = m->params[op->w_off];
    const Tensor *ti = &m->tensors[op->in];
    float *y = m->tensors[op->out].data;
    const size_t n = tensor_numel(ti) * (size_t)N;
    for (size_t i = 0; i < n; i++)
        y[i] = s * ti->data[i]; /* may be in place: element by element */
}

static void scale_backward(Model *m, const Op *op, int N, int train)
{
    (void)train;
    const float s = m->params[op->w_off];
    const Tensor *to = &m->tensors[op->out];
    const size_t n = tensor_numel(to) * (size_t)N;
    /* ds = sum(x * dy) with x = y / s (the input may have been overwritten) */
    double ds = 0;
    for (size_t i = 0; i < n; i++)
        ds += (double)to->data[i] / s * to->grad[i];
    m->grads[op->w_off] += (float)ds;
    float *din = op_grad_begin(m, op->in);
    for (size_t i = 0; din && i < n; i++)
        din[i] = s * to->grad[i];
    op_grad_end(m, op->in, N);
}

static void scale_init(const Op *op, float *w, float *b, float *stats, Rng *rng)
{
    (void)op, (void)b, (void)stats, (void)rng;
    w[0] = 1.5f;
}

static const OpType SCALE = {.name = "scale", .params = OP_PARAMS_NORM, .in_place = 1, .keeps_layout = 1,
                             .forward = scale_forward, .backward = scale_backward, .init_params = scale_init};

START_TEST(a_new_op_kind_through_the_table_alone)
{
    static int kind = -1;
    if (kind < 0)
        kind = op_type_register(&SCALE);
    ck_assert_int_ge(kind, OP_N_BUILTIN);
    ck_assert_str_eq(op_kind_name((OpKind)kind), "scale");
    Model m;
    model_init(&m);
    const int N = 4;
    int x = model_input(&m, 3, 6, 6);
    int t = model_conv(&m, "conv", x, 4, 3, 1, 1, 1);
    const Tensor *ct = &m.tensors[t];
    int s = model_add_op(&m, kind, "scale", t, -1, ct->c, ct->h, ct->w, 1, 0);
    t = model_avgpool(&m, s);
    t = model_linear(&m, "fc", t, 3, 1);
    Rng r;
    rng_seed(&r, 7);
    BsError err = {0};
    ck_assert_int_eq(model_finish(&m, t, N, &r, &err), BS_OK);
    const Op *op = &m.ops[1];
    ck_assert_int_eq(op->kind, kind);
    ck_assert_float_eq(m.params[op->w_off], 1.5f); /* its init ran */
    ck_assert_ptr_eq(m.tensors[op->out].data, m.tensors[op->in].data); /* in place, as its entry allows */
    float *in = falloc((size_t)N * 3 * 36);
    fill_normal(&r, in, (size_t)N * 3 * 36, 1.0f);
    int y[4] = {0, 1, 2, 1};
    /* Forward: the pooled features are 1.5 x those with s = 1. */
    model_forward(&m, in, N, 0);
    float pooled[16];
    memcpy(pooled, m.tensors[m.ops[2].out].data, sizeof pooled);
    m.params[op->w_off] = 1.0f;
    model_forward(&m, in, N, 0);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq_tol(pooled[i], 1.5f * m.tensors[m.ops[2].out].data[i], 1e-5f);
    m.params[op->w_off] = 1.5f;
    /* Backward: every parameter, the new one included, by finite differences. */
    ModelLossCtx c = {&m, in, y, N, 1};
    float *g = model_analytic_grads(&c);
    ck_gradcheck(model_loss_at, &c, m.params, g, m.n_params, 1e-2f, 2e-2, "conv + scale + fc");
    ck_assert_msg(fabsf(g[op->w_off]) > 1e-6f, "no gradient reached the new op's parameter");
    free(g);
    free(in);
    model_free(&m);
}
END_TEST

Suite *op_table_suite(void)
{
    Suite *s = suite_create("op_table");
    TCase *tc = tcase_create("register");
    tcase_add_test(tc, a_new_op_kind_through_the_table_alone);
    suite_add_tcase(s, tc);
    return s;
}
