/* The seed material's other networks (issue 14): the CIFAR-sized AlexNet
 * and BN-Inception v2/v3 of REFERENCE.md §3. Norm counts, kinds, names and
 * places in every variant (counted from the definitions, not from the
 * builder), v3's factorized kernels, the map sizes on both input shapes,
 * bad specs, whole-net finite differences and `bnshift run`'s BN rows. The
 * PyTorch twins (test_family_fixtures.c) check one SGD step of each. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/arch.h"
#include "suites.h"
#include "test_util.h"

static ModelSpec seed_spec(Arch a, NormVariant v, int in_c, int size)
{
    ModelSpec s = {.arch = a, .width = 4, .norm = v, .stem_norm = STEM_AUTO, .groups = 2, .in_c = in_c,
                   .in_h = size, .in_w = size, .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f,
                   .width_mult = 1.0, .lrn = {LRN_ACROSS, 5, 1e-4, 0.75, 2.0}};
    return s;
}

static int build(Model *m, const ModelSpec *s, int max_batch, BsError *err)
{
    Rng r;
    rng_seed(&r, 5);
    return model_build(m, s, max_batch, &r, err);
}

static const Op *producer(const Model *m, int t)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].out == t)
            return &m->ops[i];
    return NULL;
}

static const Op *op_named(const Model *m, const char *name)
{
    for (int i = 0; i < m->n_ops; i++)
        if (!strcmp(m->ops[i].name, name))
            return &m->ops[i];
    return NULL;
}

/* The norm kind a variant puts at a position whose role is XBN or not
 * (REFERENCE.md §3), as the op kind and name a test expects. */
static NormKind want_kind(NormVariant v, int position, int xbn)
{
    switch (v) {
    case VARIANT_BN:
        return NORM_BN;
    case VARIANT_GNBN:
        return position % 2 ? NORM_GN : NORM_BN;
    case VARIANT_XBNBLOCK:
        return xbn ? NORM_GN : NORM_BN;
    case VARIANT_GN:
        return NORM_GN;
    case VARIANT_LN:
        return NORM_LN;
    case VARIANT_IN:
        return NORM_IN;
    case VARIANT_LRN:
        return NORM_LRN;
    default:
        return NORM_NONE;
    }
}

static OpKind op_kind_of(NormKind k)
{
    return k == NORM_BN ? OP_BN : k == NORM_LRN ? OP_LRN : OP_GN;
}

/* ---- AlexNet ------------------------------------------------------------ */

static const NormVariant ALEXNET_VARIANTS[] = {VARIANT_BN, VARIANT_GNBN, VARIANT_GN, VARIANT_LN,
                                               VARIANT_IN, VARIANT_NONE, VARIANT_LRN};
#define N_ALEXNET_VARIANTS ((int)(sizeof ALEXNET_VARIANTS / sizeof ALEXNET_VARIANTS[0]))

/* Loop index: variant _i / 2, norm_all _i % 2. The norms are layer1 and
 * layer2's (and layers 3-5's with norm_all), each right after the ReLU of
 * its layer's conv; every conv has a bias; maps 32 -> 16 -> 8 -> 4. */
START_TEST(alexnet_norms_sit_after_the_relu)
{
    const NormVariant v = ALEXNET_VARIANTS[_i / 2];
    ModelSpec s = seed_spec(ARCH_ALEXNET, v, 3, 32);
    s.norm_all = _i % 2;
    Model m;
    BsError err = {0};
    ck_assert_msg(build(&m, &s, 2, &err) == BS_OK, "%s: %s", norm_variant_name(v), err.msg);
    const int positions = v == VARIANT_NONE ? 0 : s.norm_all ? 5 : 2;
    ck_assert_int_eq(model_norm_count(&m), positions);
    for (int i = 0; i < positions; i++) {
        const Op *op = model_norm_op(&m, i);
        const NormKind k = want_kind(v, i + 1, 0);
        char name[32];
        snprintf(name, sizeof name, "layer%d.%s", i + 1, norm_kind_name(k));
        ck_assert_str_eq(op->name, name);
        ck_assert_int_eq(op->kind, op_kind_of(k));
        ck_assert_int_eq(op->norm_depth, i + 1);
        const Op *relu = producer(&m, op->in);
        ck_assert_int_eq(relu->kind, OP_RELU);
        snprintf(name, sizeof name, "layer%d.conv", i + 1);
        ck_assert_str_eq(producer(&m, relu->in)->name, name);
    }
    int convs = 0, pools = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        convs += op->kind == OP_CONV;
        pools += op->kind == OP_MAXPOOL;
        if (op->kind == OP_CONV)
            ck_assert_uint_eq(op->n_b, (size_t)op->u.conv.out_c);
    }
    ck_assert_int_eq(convs, 5);
    ck_assert_int_eq(pools, 3);
    const Op *fc6 = op_named(&m, "fc6");
    ck_assert_int_eq(fc6->u.lin.in_f, 4 * s.width * 4 * 4);
    ck_assert_int_eq(fc6->u.lin.out_f, 16 * s.width);
    model_free(&m);
}
END_TEST

/* ---- Inception ---------------------------------------------------------- */

/* Convs per branch from the definitions: module branches 1x1; 1x1 -> 3x3;
 * 1x1 -> 3x3 -> 3x3; pool -> 1x1; reduction 1x1 -> 3x3/2; 1x1 -> 3x3 ->
 * 3x3/2. v3 makes each stride-1 3x3 after a branch's first conv two. */
static int branch_convs(int reduction, int branch, int v3)
{
    static const int convs[2][2][4] = {{{1, 2, 3, 1}, {2, 3, 0, 0}},  /* v2: module, reduction */
                                       {{1, 3, 5, 1}, {2, 4, 0, 0}}}; /* v3 */
    return convs[v3 != 0][reduction != 0][branch - 1];
}

/* Norm positions: the stem, 5 modules and 2 reductions, a norm per conv. */
static int inception_positions(int v3)
{
    int n = 1;
    for (int b = 1; b <= 4; b++)
        n += 5 * branch_convs(0, b, v3);
    for (int b = 1; b <= 2; b++)
        n += 2 * branch_convs(1, b, v3);
    return n;
}

static const NormVariant INCEPTION_VARIANTS[] = {VARIANT_BN, VARIANT_GNBN, VARIANT_XBNBLOCK, VARIANT_GN,
                                                 VARIANT_NONE, VARIANT_LRN};
#define N_INCEPTION_VARIANTS ((int)(sizeof INCEPTION_VARIANTS / sizeof INCEPTION_VARIANTS[0]))

/* Whether norm name "inceptionM.branchB.<kind>J..." is the first of a
 * branch of two or more convs (xbnblock's batch-free position). */
static int first_of_long_branch(const char *name, int v3)
{
    const char *mod = strstr(name, "inception"), *br = strstr(name, ".branch");
    if (!mod || !br)
        return 0; /* the stem */
    const int reduction = mod[10] == 'c', branch = br[7] - '0';
    const char *last = strrchr(name, '.') + 1;
    while (*last >= 'a' && *last <= 'z')
        last++;
    return !strcmp(last, "1") && branch_convs(reduction, branch, v3) >= 2;
}

/* Loop index: variant _i / 2, version _i % 2. */
START_TEST(inception_norms_per_variant)
{
    const NormVariant v = INCEPTION_VARIANTS[_i / 2];
    const int v3 = _i % 2;
    ModelSpec s = seed_spec(ARCH_INCEPTION, v, 3, 16);
    s.inception = v3 ? INCEPTION_V3 : INCEPTION_V2;
    Model m;
    BsError err = {0};
    ck_assert_msg(build(&m, &s, 2, &err) == BS_OK, "%s: %s", norm_variant_name(v), err.msg);
    const int positions = v == VARIANT_NONE ? 0 : inception_positions(v3);
    ck_assert_int_eq(positions == 0 ? 0 : v3 ? 63 : 46, positions);
    ck_assert_int_eq(model_norm_count(&m), positions);
    int bfn = 0;
    for (int i = 0; i < positions; i++) {
        const Op *op = model_norm_op(&m, i);
        const int xbn = first_of_long_branch(op->name, v3);
        const NormKind k = want_kind(v, i + 1, xbn);
        bfn += k != NORM_BN;
        ck_assert_msg(op->kind == op_kind_of(k), "%s/%s: %s is a %s", norm_variant_name(v), v3 ? "v3" : "v2",
                      op->name, op_kind_name(op->kind));
        ck_assert_int_eq(op->norm_depth, i + 1);
        /* A norm right after a conv of the same name; a ReLU after it. */
        const Op *conv = producer(&m, op->in);
        ck_assert_int_eq(conv->kind, OP_CONV);
        const char *dot = strrchr(op->name, '.');
        char conv_name[64];
        snprintf(conv_name, sizeof conv_name, "%.*s.conv%s", (int)(dot - op->name), op->name,
                 dot + 1 + strlen(norm_kind_name(k)));
        ck_assert_str_eq(conv->name, conv_name);
        ck_assert_uint_eq(conv->n_b, 0);
    }
    if (v == VARIANT_XBNBLOCK)
        ck_assert_int_eq(bfn, 14); /* 2 per module and per reduction */
    if (v == VARIANT_NONE)
        for (int i = 0; i < m.n_ops; i++)
            if (m.ops[i].kind == OP_CONV)
                ck_assert_uint_gt(m.ops[i].n_b, 0);
    model_free(&m);
}
END_TEST

/* Names in forward order, branch by branch, and v3's factorized kernels:
 * every ...Ja conv 1x3 pad 0x1, every ...Jb 3x1 pad 1x0, the only square
 * 3x3s the stem and the reductions' stride-2 convs. */
START_TEST(inception_names_and_v3_kernels)
{
    ModelSpec s = seed_spec(ARCH_INCEPTION, VARIANT_BN, 3, 16);
    s.inception = INCEPTION_V3;
    Model m;
    BsError err = {0};
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    const char *want[] = {"stem.bn",
                          "inception3a.branch1.bn1",
                          "inception3a.branch2.bn1",
                          "inception3a.branch2.bn2a",
                          "inception3a.branch2.bn2b",
                          "inception3a.branch3.bn1",
                          "inception3a.branch3.bn2a",
                          "inception3a.branch3.bn2b",
                          "inception3a.branch3.bn3a",
                          "inception3a.branch3.bn3b",
                          "inception3a.branch4.bn1",
                          "inception3b.branch1.bn1"};
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++)
        ck_assert_str_eq(model_norm_op(&m, i)->name, want[i]);
    ck_assert_str_eq(model_norm_op(&m, 21)->name, "inception3c.branch1.bn1");
    ck_assert_str_eq(model_norm_op(&m, 22)->name, "inception3c.branch1.bn2");
    ck_assert_str_eq(model_norm_op(&m, 26)->name, "inception3c.branch2.bn3");
    ck_assert_str_eq(model_norm_op(&m, 62)->name, "inception5a.branch4.bn1");
    int rect = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        if (op->kind != OP_CONV)
            continue;
        const Conv2d *c = &op->u.conv;
        const char last = op->name[strlen(op->name) - 1];
        if (last == 'a') {
            ck_assert(c->kh == 1 && c->kw == 3 && c->pad_h == 0 && c->pad_w == 1 && c->stride == 1);
            rect++;
        } else if (last == 'b') {
            ck_assert(c->kh == 3 && c->kw == 1 && c->pad_h == 1 && c->pad_w == 0 && c->stride == 1);
            rect++;
        } else if (c->kh == 3) {
            ck_assert_msg(!strcmp(op->name, "stem.conv") || c->stride == 2, "%s: a square 3x3 in v3", op->name);
        } else {
            ck_assert(c->kh == 1 && c->kw == 1);
        }
    }
    ck_assert_int_eq(rect, 2 * (5 * 3 + 2 * 1)); /* 3 factorized 3x3 per module, 1 per reduction */
    model_free(&m);
}
END_TEST

/* Widths at the default width 16 (the table of REFERENCE.md §3) and map
 * sizes on 32x32x3 and 28x28x1: module outputs 64, 80, 144, 144, 144, 224,
 * 224 at 32/16/8 (28/14/7). A module's output is the last concat built
 * while its layers were (ops are in build order). */
START_TEST(inception_widths_and_maps)
{
    static const int out_c[7] = {64, 80, 144, 144, 144, 224, 224};
    for (int shape = 0; shape < 2; shape++) {
        const int c = shape ? 3 : 1, hw = shape ? 32 : 28;
        ModelSpec s = seed_spec(ARCH_INCEPTION, VARIANT_BN, c, hw);
        s.width = 16;
        Model m;
        BsError err = {0};
        ck_assert_int_eq(build(&m, &s, 1, &err), BS_OK);
        const Op *out[7] = {0};
        int k = -1;
        const char *module = "";
        for (int i = 0; i < m.n_ops; i++) {
            const Op *op = &m.ops[i];
            if (!strncmp(op->name, "inception", 9) && strncmp(op->name, module, 11)) {
                module = op->name;
                k++;
            }
            if (op->kind == OP_CONCAT && k >= 0 && k < 7)
                out[k] = op;
        }
        ck_assert_int_eq(k, 6);
        const int maps[7] = {hw, hw, (hw + 1) / 2, (hw + 1) / 2, (hw + 1) / 2, (hw + 3) / 4, (hw + 3) / 4};
        for (k = 0; k < 7; k++) {
            const Tensor *t = &m.tensors[out[k]->out];
            ck_assert_msg(t->c == out_c[k] && t->h == maps[k] && t->w == maps[k], "module %d: %dx%dx%d", k, t->c,
                          t->h, t->w);
        }
        ck_assert_int_eq(m.tensors[op_named(&m, "stem.conv")->out].c, 32);
        ck_assert_int_eq(op_named(&m, "fc")->u.lin.in_f, 224);
        model_free(&m);
    }
}
END_TEST

/* Both families on 28x28x1 and 32x32x3: finite logits in both modes. */
START_TEST(seed_families_run_on_both_input_shapes)
{
    const ModelSpec specs[3] = {seed_spec(ARCH_ALEXNET, VARIANT_LRN, 0, 0),
                                seed_spec(ARCH_INCEPTION, VARIANT_XBNBLOCK, 0, 0),
                                seed_spec(ARCH_INCEPTION, VARIANT_GNBN, 0, 0)};
    for (int k = 0; k < 3; k++)
        for (int shape = 0; shape < 2; shape++) {
            ModelSpec s = specs[k];
            s.inception = k == 2 ? INCEPTION_V3 : INCEPTION_V2;
            s.in_c = shape ? 3 : 1;
            s.in_h = s.in_w = shape ? 32 : 28;
            assert_forward_finite(&s, k ? "inception" : "alexnet");
        }
}
END_TEST

START_TEST(bad_seed_family_specs_are_user_errors)
{
    ModelSpec s = seed_spec(ARCH_ALEXNET, VARIANT_XBNBLOCK, 3, 32);
    assert_build_error(&s, "xbnblock");
    s = seed_spec(ARCH_INCEPTION, VARIANT_IBN, 3, 32);
    assert_build_error(&s, "ibn");
    s = seed_spec(ARCH_INCEPTION, VARIANT_GN, 3, 32);
    s.groups = 3; /* 8 channels in the stem at width 4 */
    assert_build_error(&s, "model.groups");
}
END_TEST

/* Whole-net finite differences (assert_sampled_net_gradients). Loop index: AlexNet
 * bn, lrn and gnbn (norm_all) in training mode and bn in inference mode;
 * Inception v2 and v3 in bn and xbnblock (training) and bn (inference). */
START_TEST(seed_family_gradients_match_finite_differences)
{
    static const struct {
        Arch arch;
        NormVariant v;
        int v3, train;
    } cases[] = {{ARCH_ALEXNET, VARIANT_BN, 0, 1},     {ARCH_ALEXNET, VARIANT_LRN, 0, 1},
                 {ARCH_ALEXNET, VARIANT_GNBN, 0, 1},   {ARCH_ALEXNET, VARIANT_BN, 0, 0},
                 {ARCH_INCEPTION, VARIANT_BN, 0, 1},   {ARCH_INCEPTION, VARIANT_XBNBLOCK, 0, 1},
                 {ARCH_INCEPTION, VARIANT_BN, 1, 1},   {ARCH_INCEPTION, VARIANT_XBNBLOCK, 1, 1},
                 {ARCH_INCEPTION, VARIANT_BN, 1, 0}};
    const int k = _i;
    ModelSpec s = seed_spec(cases[k].arch, cases[k].v, 3, cases[k].arch == ARCH_ALEXNET ? 16 : 8);
    s.inception = cases[k].v3 ? INCEPTION_V3 : INCEPTION_V2;
    s.norm_all = cases[k].arch == ARCH_ALEXNET;
    const int N = 8, nx = N * 3 * s.in_h * s.in_w;
    Model m;
    BsError err = {0};
    ck_assert_int_eq(build(&m, &s, N, &err), BS_OK);
    float *x = falloc((size_t)nx);
    int y[8] = {1, 7, 3, 0, 2, 9, 5, 4};
    Rng r;
    rng_seed(&r, 41 + (uint64_t)k);
    fill_normal(&r, x, (size_t)nx, 1.0f);
    ModelLossCtx c = {&m, x, y, N, cases[k].train};
    char what[64];
    snprintf(what, sizeof what, "%s%s/%s train=%d", cases[k].arch == ARCH_ALEXNET ? "alexnet" : "inception",
             cases[k].arch == ARCH_ALEXNET ? "" : cases[k].v3 ? "-v3" : "-v2", norm_variant_name(cases[k].v),
             cases[k].train);
    assert_sampled_net_gradients(&c, what);
    free(x);
    model_free(&m);
}
END_TEST

/* `bnshift run` logs 2 shift rows (train and test) per BN layer, the BN
 * count from the definitions: AlexNet bn 2 (5 with norm_all), gnbn with
 * norm_all 2 (positions 2, 4), lrn 0; Inception bn 46 (v3 63), xbnblock 46
 * - 14 (63 - 14), gnbn 23 (31). */
START_TEST(seed_families_log_their_bn_rows)
{
    static const struct {
        const char *keys;
        int bn;
    } cases[] = {
        {"\"arch\": \"alexnet\", \"norm\": \"bn\"", 2},
        {"\"arch\": \"alexnet\", \"norm\": \"bn\", \"norm_all\": true", 5},
        {"\"arch\": \"alexnet\", \"norm\": \"gnbn\", \"norm_all\": true", 2},
        {"\"arch\": \"alexnet\", \"norm\": \"lrn\"", 0},
        {"\"arch\": \"inception\", \"norm\": \"bn\"", 46},
        {"\"arch\": \"inception\", \"norm\": \"xbnblock\", \"inception\": \"v2\"", 32},
        {"\"arch\": \"inception\", \"norm\": \"gnbn\", \"width\": 8, \"groups\": 4", 23},
        {"\"arch\": \"inception\", \"norm\": \"bn\", \"inception\": \"v3\", \"width\": 8, \"groups\": 4", 63},
        {"\"arch\": \"inception\", \"norm\": \"xbnblock\", \"inception\": \"v3\", \"width\": 8, \"groups\": 4", 49},
        {"\"arch\": \"inception\", \"norm\": \"gnbn\", \"inception\": \"v3\", \"width\": 8, \"groups\": 4", 31},
    };
    const int rows = shift_rows_of_run(cases[_i].keys);
    ck_assert_msg(rows == 2 * cases[_i].bn, "{%s}: %d shift rows, expected 2 x %d", cases[_i].keys, rows,
                  cases[_i].bn);
}
END_TEST

/* `bnshift info` lists the new families' norms in forward order with
 * their types and counts them. */
START_TEST(info_shows_the_norms_in_forward_order)
{
    char dir[64], path[128], cmd[1024];
    make_test_dir(dir, sizeof dir, "bnshift-seedinfo");
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_text_file(path, "{\"name\": \"i\", \"data\": {\"dataset\": \"fashion-mnist\"},\n"
                          " \"model\": {\"arch\": \"inception\", \"norm\": \"xbnblock\", \"inception\": \"v3\"}}\n");
    snprintf(cmd, sizeof cmd, "(%s info %s > %s/info.txt && %s info %s --set model.arch=alexnet "
             "--set model.norm=lrn >> %s/info.txt)", bnshift_bin(), path, dir, bnshift_bin(), path, dir);
    ck_assert_int_eq(run_in(dir, cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/info.txt", dir);
    char *info = slurp_file(path);
    ck_assert_ptr_nonnull(info);
    const char *order[] = {"stem.bn ", "inception3a.branch1.bn1 ", "inception3a.branch2.gn1 ",
                           "inception3a.branch2.bn2a ", "inception3a.branch2.bn2b ", "inception3a.branch3.gn1 ",
                           "inception5a.branch4.bn1 ", "norms: 49 BN, 14 batch-free", "layer1.lrn ", "layer2.lrn ",
                           "norms: 0 BN, 2 batch-free"};
    const char *at = info;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *hit = strstr(at, order[i]);
        ck_assert_msg(hit != NULL, "'%s' missing or out of order in %s", order[i], path);
        at = hit + 1;
    }
    free(info);
    remove_test_dir(dir);
}
END_TEST

Suite *seed_families_suite(void)
{
    Suite *s = suite_create("seed_families");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, alexnet_norms_sit_after_the_relu, 0, 2 * N_ALEXNET_VARIANTS);
    tcase_add_loop_test(tc, inception_norms_per_variant, 0, 2 * N_INCEPTION_VARIANTS);
    tcase_add_test(tc, inception_names_and_v3_kernels);
    tcase_add_test(tc, inception_widths_and_maps);
    tcase_add_test(tc, seed_families_run_on_both_input_shapes);
    tcase_add_test(tc, bad_seed_family_specs_are_user_errors);
    tcase_add_loop_test(tc, seed_family_gradients_match_finite_differences, 0, 9);
    suite_add_tcase(s, tc);
    TCase *runs = tcase_create("runs");
    tcase_set_timeout(runs, 300);
    tcase_add_loop_test(runs, seed_families_log_their_bn_rows, 0, 10);
    tcase_add_test(runs, info_shows_the_norms_in_forward_order);
    suite_add_tcase(s, runs);
    return s;
}
