/* The block families of issue 13 (bottleneck ResNet, ResNeXt, MobileNetV2,
 * ShuffleNetV2): norm counts, kinds, names and depths in every variant
 * (counted from the block definitions, not from the builder), where
 * XBNBlock puts its GroupNorm, both input shapes, bad specs, and whole-net
 * finite differences in every variant. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers/activation.h"
#include "models/arch.h"
#include "suites.h"
#include "test_util.h"

typedef enum { FAM_BOTTLENECK, FAM_RESNEXT, FAM_MOBILENETV2, FAM_SHUFFLENETV2, N_FAMILIES } Family;

static const char *const FAMILY_NAMES[N_FAMILIES] = {"bottleneck", "resnext", "mobilenetv2", "shufflenetv2"};

/* A small instance of each family (depth 11: one block per stage). */
static ModelSpec family_spec(Family f, NormVariant v, int in_c, int size)
{
    ModelSpec s = {.depth = 11, .width = 4, .norm = v, .stem_norm = STEM_AUTO, .groups = 2, .in_c = in_c,
                   .in_h = size, .in_w = size, .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f,
                   .cardinality = 2, .group_width = 2, .width_mult = 1.0};
    switch (f) {
    case FAM_BOTTLENECK:
        s.arch = ARCH_RESNET;
        s.block = BLOCK_BOTTLENECK;
        break;
    case FAM_RESNEXT:
        s.arch = ARCH_RESNEXT;
        break;
    case FAM_MOBILENETV2:
        s.arch = ARCH_MOBILENETV2;
        s.width_mult = 0.25;
        s.groups = 8; /* 16 does not divide its 24-channel stage */
        break;
    case FAM_SHUFFLENETV2:
    default:
        s.arch = ARCH_SHUFFLENETV2;
        s.width_mult = 0.5;
        s.groups = 8;
        break;
    }
    return s;
}

/* Norm positions and XBNBlock's GN count, from the definitions: a
 * bottleneck net of n blocks per stage has the stem, 3 per block and 3
 * projection shortcuts (stage 1 widens w -> 4w, stages 2-3 stride);
 * MobileNetV2 the stem, 2 in its t = 1 block, 3 in each of the other 16,
 * the head; ShuffleNetV2 the stem, 5 in each of the 3 stride-2 blocks
 * (proj 2, main 3), 3 in each of the 13 others, the head. One GN per
 * block (ResNet), per depthwise conv (the others). */
static void expected_norms(Family f, int *positions, int *xbn_gn)
{
    const int n = 1;
    switch (f) {
    case FAM_BOTTLENECK:
    case FAM_RESNEXT:
        *positions = 1 + 9 * n + 3;
        *xbn_gn = 3 * n;
        break;
    case FAM_MOBILENETV2:
        *positions = 1 + 2 + 16 * 3 + 1;
        *xbn_gn = 17;
        break;
    case FAM_SHUFFLENETV2:
    default:
        *positions = 1 + 3 * 5 + 13 * 3 + 1;
        *xbn_gn = 3 * 2 + 13;
        break;
    }
}

static int build(Model *m, const ModelSpec *s, int max_batch, BsError *err)
{
    Rng r;
    rng_seed(&r, 3);
    return model_build(m, s, max_batch, &r, err);
}

static int count_kind(const Model *m, OpKind k)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++)
        n += m->ops[i].kind == k;
    return n;
}

/* The op whose output is tensor t (NULL for the input). */
static const Op *producer(const Model *m, int t)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].out == t)
            return &m->ops[i];
    return NULL;
}

static int is_depthwise(const Op *op)
{
    return op && op->kind == OP_CONV && op->u.conv.groups > 1 && op->u.conv.groups == op->u.conv.in_c &&
           op->u.conv.in_c == op->u.conv.out_c;
}

/* Loop index: family _i / 7, variant _i % 7. */
START_TEST(norm_counts_kinds_and_depths_per_variant)
{
    const Family f = (Family)(_i / 7);
    const NormVariant v = (NormVariant)(_i % 7);
    ModelSpec s = family_spec(f, v, 3, 16);
    Model m;
    BsError err = {0};
    ck_assert_msg(build(&m, &s, 2, &err) == BS_OK, "%s/%s: %s", FAMILY_NAMES[f], norm_variant_name(v), err.msg);
    int positions, xbn_gn;
    expected_norms(f, &positions, &xbn_gn);
    int want_bn = 0, want_gn = 0;
    switch (v) {
    case VARIANT_BN:
        want_bn = positions;
        break;
    case VARIANT_GNBN: /* GN at the odd positions 1, 3, ... */
        want_gn = (positions + 1) / 2;
        want_bn = positions / 2;
        break;
    case VARIANT_XBNBLOCK:
        want_gn = xbn_gn;
        want_bn = positions - xbn_gn;
        break;
    case VARIANT_GN:
    case VARIANT_LN:
    case VARIANT_IN:
        want_gn = positions;
        break;
    case VARIANT_NONE:
    default:
        break;
    }
    ck_assert_msg(count_kind(&m, OP_BN) == want_bn && count_kind(&m, OP_GN) == want_gn,
                  "%s/%s: %d BN, %d GN; expected %d, %d", FAMILY_NAMES[f], norm_variant_name(v),
                  count_kind(&m, OP_BN), count_kind(&m, OP_GN), want_bn, want_gn);
    for (int i = 0; i < model_norm_count(&m); i++) { /* depth = position: every position holds a norm */
        const Op *op = model_norm_op(&m, i);
        ck_assert_int_eq(op->norm_depth, i + 1);
        if (v == VARIANT_GNBN)
            ck_assert_int_eq(op->kind == OP_GN, op->norm_depth % 2 == 1);
        const char *kind = strrchr(op->name, '.') + 1;
        ck_assert_msg(!strncmp(kind, op->kind == OP_BN ? "bn" : v == VARIANT_LN ? "ln" : v == VARIANT_IN ? "in" : "gn", 2),
                      "%s is a %s", op->name, op_kind_name(op->kind));
    }
    /* Without norms every conv has a bias; with them none has. */
    for (int i = 0; i < m.n_ops; i++)
        if (m.ops[i].kind == OP_CONV)
            ck_assert_int_eq(m.ops[i].n_b > 0, v == VARIANT_NONE);
    model_free(&m);
}
END_TEST

START_TEST(xbnblock_replaces_the_depthwise_norms)
{
    for (Family f = FAM_MOBILENETV2; f <= FAM_SHUFFLENETV2; f++) {
        ModelSpec s = family_spec(f, VARIANT_XBNBLOCK, 3, 16);
        Model m;
        BsError err = {0};
        ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
        int dw = 0;
        for (int i = 0; i < m.n_ops; i++) {
            const Op *op = &m.ops[i];
            dw += is_depthwise(op);
            if (op->kind == OP_GN || op->kind == OP_BN)
                ck_assert_msg((op->kind == OP_GN) == is_depthwise(producer(&m, op->in)), "%s after %s", op->name,
                              producer(&m, op->in)->name);
            if (op->kind == OP_GN) { /* GroupNorm(min(groups, C)) */
                int C = m.tensors[op->in].c;
                ck_assert_int_eq(op->u.gn.G, C < s.groups ? C : s.groups);
            }
        }
        ck_assert_int_eq(count_kind(&m, OP_GN), dw);
        model_free(&m);
    }
}
END_TEST

/* MobileNetV2's ReLU6 after a norm runs in place and the norm applies it
 * (BsAct ACT_RELU6), in bn and xbnblock: every ReLU6 has a BN or GN
 * before it, so none is left to run its own forward. */
START_TEST(norms_apply_the_relu6_that_follows)
{
    const NormVariant variants[] = {VARIANT_BN, VARIANT_XBNBLOCK};
    for (int k = 0; k < 2; k++) {
        ModelSpec s = family_spec(FAM_MOBILENETV2, variants[k], 3, 16);
        Model m;
        BsError err = {0};
        ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
        int relu6 = 0;
        for (int i = 0; i < m.n_ops; i++) {
            const Op *op = &m.ops[i];
            if (op->kind != OP_RELU6)
                continue;
            const Op *p = producer(&m, op->in);
            ck_assert_msg(op->fused, "%s: relu6 not fused", p->name);
            ck_assert_int_eq(p->kind == OP_BN ? p->u.bn.act_after : p->u.gn.act_after, ACT_RELU6);
            relu6++;
        }
        ck_assert_int_gt(relu6, 3);
        model_free(&m);
    }
}
END_TEST

START_TEST(xbn_position_picks_the_block_norm)
{
    for (int p = 1; p <= 3; p++) {
        ModelSpec s = family_spec(FAM_BOTTLENECK, VARIANT_XBNBLOCK, 3, 8);
        s.xbn_position = p;
        Model m;
        BsError err = {0};
        ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
        char want[8];
        snprintf(want, sizeof want, ".gn%d", p);
        ck_assert_int_eq(count_kind(&m, OP_GN), 3);
        for (int i = 0; i < m.n_ops; i++)
            if (m.ops[i].kind == OP_GN)
                ck_assert_msg(strstr(m.ops[i].name, want) && strstr(m.ops[i].name, "stage"), "%s", m.ops[i].name);
        model_free(&m);
    }
    /* Default: 2 for a bottleneck (the paper's P2), 1 for a basic block. */
    ModelSpec s = family_spec(FAM_RESNEXT, VARIANT_XBNBLOCK, 3, 8);
    Model m;
    BsError err = {0};
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    ck_assert_str_eq(model_norm_op(&m, 2)->name, "stage1.block1.gn2");
    model_free(&m);
    s.arch = ARCH_RESNET;
    s.block = BLOCK_BASIC;
    s.depth = 8;
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    ck_assert_str_eq(model_norm_op(&m, 1)->name, "stage1.block1.gn1");
    model_free(&m);
    s.xbn_position = 2;
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    ck_assert_str_eq(model_norm_op(&m, 2)->name, "stage1.block1.gn2");
    model_free(&m);
}
END_TEST

/* Names say where a norm is, in forward order (shufflenet: proj first). */
START_TEST(norm_names_in_forward_order)
{
    Model m;
    BsError err = {0};
    ModelSpec s = family_spec(FAM_SHUFFLENETV2, VARIANT_XBNBLOCK, 3, 16);
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    const char *want[] = {"stem.bn", "stage2.block1.proj.gn1", "stage2.block1.proj.bn2", "stage2.block1.main.bn1",
                          "stage2.block1.main.gn2", "stage2.block1.main.bn3", "stage2.block2.main.bn1"};
    for (int i = 0; i < 7; i++)
        ck_assert_str_eq(model_norm_op(&m, i)->name, want[i]);
    ck_assert_str_eq(model_norm_op(&m, model_norm_count(&m) - 1)->name, "last.bn");
    model_free(&m);
    s = family_spec(FAM_MOBILENETV2, VARIANT_BN, 3, 16);
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    const char *mb[] = {"stem.bn", "stage1.block1.bn2", "stage1.block1.bn3", "stage2.block1.bn1"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(model_norm_op(&m, i)->name, mb[i]);
    model_free(&m);
    s = family_spec(FAM_BOTTLENECK, VARIANT_BN, 3, 8);
    ck_assert_int_eq(build(&m, &s, 2, &err), BS_OK);
    const char *bt[] = {"stem.bn", "stage1.block1.bn1", "stage1.block1.bn2", "stage1.block1.bn3",
                        "stage1.block1.shortcut.bn", "stage2.block1.bn1"};
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(model_norm_op(&m, i)->name, bt[i]);
    model_free(&m);
}
END_TEST

/* Widths: MobileNetV2 x1.0 has torchvision's 2,236,682 parameters at 10
 * classes; ResNeXt's grouped 3x3 holds inner x inner/cardinality x 9. */
START_TEST(family_widths_and_parameter_counts)
{
    Model m;
    BsError err = {0};
    ModelSpec s = family_spec(FAM_MOBILENETV2, VARIANT_BN, 3, 32);
    s.width_mult = 1.0;
    ck_assert_int_eq(build(&m, &s, 1, &err), BS_OK);
    ck_assert_uint_eq(m.n_params, 2236682);
    model_free(&m);
    s = family_spec(FAM_RESNEXT, VARIANT_BN, 3, 32);
    s.width = 8;
    s.cardinality = 4;
    s.group_width = 3;
    ck_assert_int_eq(build(&m, &s, 1, &err), BS_OK);
    const Op *c2 = NULL;
    for (int i = 0; i < m.n_ops && !c2; i++)
        if (!strcmp(m.ops[i].name, "stage3.block1.conv2"))
            c2 = &m.ops[i];
    ck_assert_ptr_nonnull(c2);
    ck_assert_int_eq(c2->u.conv.groups, 4);
    ck_assert_int_eq(c2->u.conv.out_c, 4 * 3 * 4); /* cardinality x group_width x 2^2 */
    ck_assert_uint_eq(c2->n_w, 48 * 12 * 9);
    ck_assert_int_eq(m.tensors[m.ops[m.n_ops - 2].out].c, 4 * 8 * 4); /* head: 4 x width x 4 */
    model_free(&m);
    s = family_spec(FAM_SHUFFLENETV2, VARIANT_BN, 3, 32);
    for (int w = 0; w < 4; w++) {
        static const double wm[4] = {0.5, 1.0, 1.5, 2.0};
        static const int head[4] = {1024, 1024, 1024, 2048};
        s.width_mult = wm[w];
        s.groups = arch_default_groups(ARCH_SHUFFLENETV2, wm[w]);
        s.norm = VARIANT_XBNBLOCK; /* the default groups divide every branch */
        ck_assert_msg(build(&m, &s, 1, &err) == BS_OK, "%s", err.msg);
        const Op *fc = &m.ops[m.n_ops - 1];
        ck_assert_int_eq(fc->u.lin.in_f, head[w]);
        ck_assert_uint_eq(fc->n_b, 0); /* the reference classifier has no bias */
        model_free(&m);
    }
}
END_TEST

/* Every family on 28x28x1 (Fashion-MNIST) and 32x32x3 (CIFAR): finite logits. */
START_TEST(families_run_on_both_input_shapes)
{
    for (Family f = 0; f < N_FAMILIES; f++)
        for (int shape = 0; shape < 2; shape++) {
            ModelSpec s = family_spec(f, VARIANT_XBNBLOCK, shape ? 3 : 1, shape ? 32 : 28);
            assert_forward_finite(&s, FAMILY_NAMES[f]);
        }
}
END_TEST

START_TEST(bad_family_specs_are_user_errors)
{
    ModelSpec s = family_spec(FAM_BOTTLENECK, VARIANT_BN, 3, 8);
    s.depth = 20 + 6; /* 26: 6n+2 but not 9n+2 */
    assert_build_error(&s, "9n+2");
    s = family_spec(FAM_BOTTLENECK, VARIANT_XBNBLOCK, 3, 8);
    s.block = BLOCK_BASIC;
    s.depth = 8;
    s.xbn_position = 3;
    assert_build_error(&s, "model.xbn_position");
    s = family_spec(FAM_SHUFFLENETV2, VARIANT_BN, 3, 16);
    s.width_mult = 0.75;
    assert_build_error(&s, "model.width_mult");
    s = family_spec(FAM_SHUFFLENETV2, VARIANT_XBNBLOCK, 3, 16);
    s.groups = 7; /* 24 channels */
    assert_build_error(&s, "model.groups");
}
END_TEST

/* Whole-net finite differences for every family in every variant (training
 * mode; BN also in inference mode): a few weights and biases (or gamma and
 * beta) of every layer. Only smooth entries count (assert_sampled_net_gradients). */
START_TEST(family_gradients_match_finite_differences)
{
    const Family f = (Family)(_i / 8);
    const int k = _i % 8;
    const NormVariant v = k == 7 ? VARIANT_BN : (NormVariant)k;
    const int train = k != 7;
    /* InstanceNorm over the 2x2 maps these nets end in is all epsilon (the
     * loss is chaotic); gn routes gradients the same way and is checked. */
    if (v == VARIANT_IN && f >= FAM_MOBILENETV2)
        return;
    ModelSpec s = family_spec(f, v, 3, f >= FAM_MOBILENETV2 ? 16 : 8);
    Model m;
    BsError err = {0};
    /* The deep families need a bigger batch to keep train-mode BN tame. */
    const int N = f >= FAM_MOBILENETV2 && train ? 8 : 4, nx = N * 3 * s.in_h * s.in_w;
    ck_assert_int_eq(build(&m, &s, N, &err), BS_OK);
    float *x = falloc((size_t)nx);
    int y[8] = {1, 7, 3, 0, 2, 9, 5, 4};
    Rng r;
    rng_seed(&r, 21 + (uint64_t)_i);
    fill_normal(&r, x, (size_t)nx, 1.0f);
    ModelLossCtx c = {&m, x, y, N, train};
    char what[64];
    snprintf(what, sizeof what, "%s/%s train=%d", FAMILY_NAMES[f], norm_variant_name(v), train);
    assert_sampled_net_gradients(&c, what);
    free(x);
    model_free(&m);
}
END_TEST

/* `bnshift run` trains every family in every variant on Fashion-MNIST
 * (a few batches) and logs one shift.csv row per evaluated set and BN
 * layer: 2 x the BN count from the definitions (expected_norms). Loop
 * index: family _i / 7, variant _i % 7. */
START_TEST(every_family_and_variant_logs_its_bn_rows)
{
    static const char *const family_keys[N_FAMILIES] = {
        "\"arch\": \"resnet\", \"block\": \"bottleneck\", \"depth\": 11, \"width\": 8",
        "\"arch\": \"resnext\", \"depth\": 11, \"width\": 8, \"cardinality\": 4, \"group_width\": 2",
        "\"arch\": \"mobilenetv2\", \"width_mult\": 0.5",
        "\"arch\": \"shufflenetv2\", \"width_mult\": 0.5"};
    const Family f = (Family)(_i / 7);
    const NormVariant v = (NormVariant)(_i % 7);
    char keys[512];
    snprintf(keys, sizeof keys, "%s, \"norm\": \"%s\"", family_keys[f], norm_variant_name(v));
    int positions, xbn_gn;
    expected_norms(f, &positions, &xbn_gn);
    const int bn = v == VARIANT_BN ? positions : v == VARIANT_GNBN ? positions / 2
                 : v == VARIANT_XBNBLOCK ? positions - xbn_gn : 0;
    const int rows = shift_rows_of_run(keys);
    ck_assert_msg(rows == 2 * bn, "%s/%s: %d shift rows, expected 2 x %d", FAMILY_NAMES[f], norm_variant_name(v),
                  rows, bn);
}
END_TEST

/* model.bfn and train.label_smoothing through `bnshift run`: ResNet-8
 * xbnblock with LRN in the 3 block positions logs the 6 BN layers left,
 * and `bnshift info` names the LRN layers. */
START_TEST(bfn_lrn_with_label_smoothing_runs)
{
    char dir[64], cmd[4096], path[128];
    make_test_dir(dir, sizeof dir, "bnshift-bfn");
    run_small_fashion(dir,
                      "\"depth\": 8, \"width\": 8, \"norm\": \"xbnblock\", \"bfn\": \"lrn\", "
                      "\"lrn\": {\"mode\": \"within\", \"size\": 3}",
                      "\"label_smoothing\": 0.1");
    char *errtext = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/run/shift.csv", dir);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    ck_assert_int_eq(count_lines(csv), 1 + 2 * 6);
    ck_assert_ptr_null(strstr(csv, "lrn")); /* only BN layers have rows */
    free(csv);
    snprintf(path, sizeof path, "%s/run/config.resolved.json", dir);
    char *resolved = slurp_file(path);
    ck_assert_ptr_nonnull(strstr(resolved, "\"label_smoothing\":\t0.1"));
    free(resolved);
    snprintf(cmd, sizeof cmd, "%s info %s/c.json | tee %s/info.txt", bnshift_bin(), dir, dir);
    ck_assert_int_eq(run_in(dir, cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/info.txt", dir);
    char *info = slurp_file(path);
    ck_assert_ptr_nonnull(strstr(info, "stage1.block1.lrn1"));
    ck_assert_ptr_nonnull(strstr(info, "norms: 6 BN, 3 batch-free"));
    free(info);
    /* plot-data names the batch-free norm of a mixed variant. */
    snprintf(cmd, sizeof cmd, "%s plot-data %s/run --out %s/plots", bnshift_bin(), dir, dir);
    ck_assert_int_eq(run_in(dir, cmd, NULL), 0);
    snprintf(path, sizeof path, "%s/plots/summary.csv", dir);
    char *summary = slurp_file(path);
    ck_assert_ptr_nonnull(summary);
    ck_assert_ptr_nonnull(strstr(summary, ",xbnblock/lrn,"));
    free(summary);
    /* IBN: the BN halves are BN layers of C/2 channels with their own rows. */
    snprintf(cmd, sizeof cmd, "%s run %s/c.json --quiet --threads 2 --overwrite --set model.norm=ibn", bnshift_bin(),
             dir);
    rc = run_in(dir, cmd, &errtext);
    ck_assert_msg(rc == 0, "ibn: exit %d: %s", rc, errtext);
    free(errtext);
    snprintf(path, sizeof path, "%s/run/shift.csv", dir);
    csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    ck_assert_int_eq(count_lines(csv), 1 + 2 * 9);
    ck_assert_ptr_nonnull(strstr(csv, ",stage1.block1.ibn1.bn,2,4,"));
    ck_assert_ptr_nonnull(strstr(csv, ",stage2.block1.ibn1.bn,4,8,"));
    free(csv);
    remove_test_dir(dir);
}
END_TEST

Suite *families_suite(void)
{
    Suite *s = suite_create("families");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, norm_counts_kinds_and_depths_per_variant, 0, N_FAMILIES * 7);
    tcase_add_test(tc, xbnblock_replaces_the_depthwise_norms);
    tcase_add_test(tc, norms_apply_the_relu6_that_follows);
    tcase_add_test(tc, bfn_lrn_with_label_smoothing_runs);
    tcase_add_test(tc, xbn_position_picks_the_block_norm);
    tcase_add_test(tc, norm_names_in_forward_order);
    tcase_add_test(tc, family_widths_and_parameter_counts);
    tcase_add_test(tc, families_run_on_both_input_shapes);
    tcase_add_test(tc, bad_family_specs_are_user_errors);
    tcase_add_loop_test(tc, family_gradients_match_finite_differences, 0, N_FAMILIES * 8);
    suite_add_tcase(s, tc);
    TCase *runs = tcase_create("runs");
    tcase_set_timeout(runs, 300);
    tcase_add_loop_test(runs, every_family_and_variant_logs_its_bn_rows, 0, N_FAMILIES * 7);
    suite_add_tcase(s, runs);
    return s;
}
