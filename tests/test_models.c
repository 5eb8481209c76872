/* Architectures and norm placement (REFERENCE.md §3). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers/activation.h"
#include "models/arch.h"
#include "suites.h"
#include "test_util.h"

static ModelSpec resnet20(NormVariant v)
{
    ModelSpec s = {.arch = ARCH_RESNET, .depth = 20, .width = 16, .norm = v,
                   .stem_norm = STEM_AUTO, .groups = 16, .in_c = 3, .in_h = 32, .in_w = 32,
                   .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f};
    return s;
}

static int build(Model *m, const ModelSpec *s, BsError *err)
{
    Rng r;
    rng_seed(&r, 1);
    return model_build(m, s, 2, &r, err);
}

/* The norm types in forward order as a string like "bn,gn,...". */
static void norm_types(const Model *m, char *out, size_t cap)
{
    out[0] = 0;
    for (int i = 0; i < model_norm_count(m); i++) {
        const Op *op = model_norm_op(m, i);
        const char *t = op_kind_name(op->kind);
        strncat(out, i ? "," : "", cap - strlen(out) - 1);
        strncat(out, t, cap - strlen(out) - 1);
    }
}

static int count_kind(const Model *m, OpKind k)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++)
        n += m->ops[i].kind == k;
    return n;
}

/* Expected type at each of the 21 positions of ResNet-20 with projection
 * shortcuts: stem; stage1 3 blocks x (bn1, bn2); stage2 block1 (bn1, bn2,
 * shortcut), 2 blocks; stage3 likewise. */
static const char *const positions[21] = {
    "stem.bn", "s1b1.1", "s1b1.2", "s1b2.1", "s1b2.2", "s1b3.1", "s1b3.2",
    "s2b1.1", "s2b1.2", "s2b1.sc", "s2b2.1", "s2b2.2", "s2b3.1", "s2b3.2",
    "s3b1.1", "s3b1.2", "s3b1.sc", "s3b2.1", "s3b2.2", "s3b3.1", "s3b3.2"};

START_TEST(resnet20_bn_counts_names_and_size)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_BN);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_count(&m), 21);
    ck_assert_int_eq(count_kind(&m, OP_BN), 21);
    ck_assert_str_eq(model_norm_op(&m, 0)->name, "stem.bn");
    ck_assert_str_eq(model_norm_op(&m, 1)->name, "stage1.block1.bn1");
    ck_assert_str_eq(model_norm_op(&m, 2)->name, "stage1.block1.bn2");
    ck_assert_str_eq(model_norm_op(&m, 9)->name, "stage2.block1.shortcut.bn");
    ck_assert_str_eq(model_norm_op(&m, 20)->name, "stage3.block3.bn2");
    for (int i = 0; i < 21; i++)
        ck_assert_int_eq(model_norm_op(&m, i)->norm_depth, i + 1);
    /* ~0.27 M parameters, ~41 M MACs per 32x32x3 image. */
    ck_assert_uint_gt(m.n_params, 265000);
    ck_assert_uint_lt(m.n_params, 280000);
    long macs = 0;
    for (int i = 0; i < m.n_ops; i++)
        if (m.ops[i].kind == OP_CONV)
            macs += conv2d_macs(&m.ops[i].u.conv);
    ck_assert_int_gt(macs, 40000000);
    ck_assert_int_lt(macs, 42500000);
    model_free(&m);
}
END_TEST

START_TEST(resnet20_gnbn_odd_positions_are_gn)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_GNBN);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    char types[256];
    norm_types(&m, types, sizeof types);
    ck_assert_str_eq(types, "gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn,bn,gn");
    ck_assert_int_eq(count_kind(&m, OP_BN), 10);
    ck_assert_int_eq(count_kind(&m, OP_GN), 11);
    /* The shortcut norms sit at positions 10 and 17: BN, then GN. */
    ck_assert_str_eq(model_norm_op(&m, 9)->name, "stage2.block1.shortcut.bn");
    ck_assert_str_eq(model_norm_op(&m, 16)->name, "stage3.block1.shortcut.gn");
    ck_assert_str_eq(model_norm_op(&m, 0)->name, "stem.gn");
    ck_assert_str_eq(model_norm_op(&m, 2)->name, "stage1.block1.gn2");
    model_free(&m);
}
END_TEST

START_TEST(resnet20_xbnblock_gn_at_each_block_first_norm)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_XBNBLOCK);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(count_kind(&m, OP_BN), 12);
    ck_assert_int_eq(count_kind(&m, OP_GN), 9);
    for (int i = 0; i < 21; i++) {
        const Op *op = model_norm_op(&m, i);
        int block_first = strstr(positions[i], ".1") != NULL;
        ck_assert_msg((op->kind == OP_GN) == block_first, "position %d (%s) is %s", i + 1,
                      op->name, op->kind == OP_GN ? "gn" : "bn");
    }
    model_free(&m);
}
END_TEST

START_TEST(batch_free_variants_and_stem_override)
{
    const NormVariant bfn[3] = {VARIANT_GN, VARIANT_LN, VARIANT_IN};
    for (int v = 0; v < 3; v++) {
        Model m;
        BsError err = {0};
        ModelSpec s = resnet20(bfn[v]);
        ck_assert_int_eq(build(&m, &s, &err), BS_OK);
        ck_assert_int_eq(count_kind(&m, OP_BN), 0);
        ck_assert_int_eq(count_kind(&m, OP_GN), 21);
        const Op *stem = model_norm_op(&m, 0);
        int want_g = v == 0 ? 16 : v == 1 ? 1 : 16; /* gn: min(16,16); ln 1; in C=16 */
        ck_assert_int_eq(stem->u.gn.G, want_g);
        if (v == 2)
            ck_assert_int_eq(model_norm_op(&m, 20)->u.gn.G, 64);
        model_free(&m);
    }
    /* stem_norm gn on xbnblock (the reference ImageNet code), none on bn. */
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_XBNBLOCK);
    s.stem_norm = STEM_GN;
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_op(&m, 0)->kind, OP_GN);
    ck_assert_int_eq(count_kind(&m, OP_BN), 11);
    model_free(&m);
    s = resnet20(VARIANT_GNBN);
    s.stem_norm = STEM_NONE; /* positions still count the stem: position 2 stays BN */
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_count(&m), 20);
    ck_assert_int_eq(model_norm_op(&m, 0)->kind, OP_BN);
    ck_assert_int_eq(model_norm_op(&m, 0)->norm_depth, 2);
    model_free(&m);
}
END_TEST

/* model.bfn: what the mixed variants (and stem_norm gn) put in their
 * batch-free positions; names follow the type. */
START_TEST(bfn_picks_the_batch_free_norm)
{
    const BfnKind kinds[] = {BFN_GN, BFN_LN, BFN_IN, BFN_LRN};
    const char *const names[] = {"gn1", "ln1", "in1", "lrn1"};
    for (int k = 0; k < 4; k++) {
        for (int gnbn = 0; gnbn < 2; gnbn++) {
            Model m;
            BsError err = {0};
            ModelSpec s = resnet20(gnbn ? VARIANT_GNBN : VARIANT_XBNBLOCK);
            s.bfn = kinds[k];
            s.lrn.mode = LRN_ACROSS, s.lrn.size = 5, s.lrn.alpha = 1e-4, s.lrn.beta = 0.75, s.lrn.k = 2;
            ck_assert_int_eq(build(&m, &s, &err), BS_OK);
            ck_assert_int_eq(model_norm_count(&m), 21);
            ck_assert_int_eq(count_kind(&m, OP_BN), gnbn ? 10 : 12);
            for (int i = 0; i < 21; i++) {
                const Op *op = model_norm_op(&m, i);
                const int bfn_here = gnbn ? i % 2 == 0 : strstr(positions[i], ".1") != NULL;
                ck_assert_msg((op->kind != OP_BN) == bfn_here, "position %d: %s", i + 1, op->name);
                ck_assert_int_eq(op->norm_depth, i + 1);
                if (!bfn_here)
                    continue;
                ck_assert_int_eq(op->kind, kinds[k] == BFN_LRN ? OP_LRN : OP_GN);
                if (op->kind == OP_GN) /* gn: min(16, C); ln: 1; in: C */
                    ck_assert_int_eq(op->u.gn.G, kinds[k] == BFN_LN ? 1 : kinds[k] == BFN_IN ? op->u.gn.C : 16);
            }
            if (!gnbn) /* stage1.block1's first norm carries the type's name */
                ck_assert_ptr_nonnull(strstr(model_norm_op(&m, 1)->name, names[k]));
            model_free(&m);
        }
    }
    /* stem_norm gn puts the chosen batch-free norm in the stem. */
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_BN);
    s.stem_norm = STEM_GN;
    s.bfn = BFN_LRN;
    s.lrn.size = 3, s.lrn.alpha = 1e-4, s.lrn.beta = 0.75, s.lrn.k = 2;
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_op(&m, 0)->kind, OP_LRN);
    ck_assert_str_eq(model_norm_op(&m, 0)->name, "stem.lrn");
    ck_assert_int_eq(count_kind(&m, OP_BN), 20);
    model_free(&m);
}
END_TEST

/* A 4-sample batch of s's input through the network built from s, its
 * parameter gradients against finite differences: at most 1 in 50 entries
 * may be off (ReLU kinks; the count falls with h: 12 of 5073 at 1e-3, 2-4
 * at 4e-4 for the LRN net, so curvature, not a wrong gradient). */
static void assert_net_gradients(const ModelSpec *s, int train, float label_smoothing, const char *what)
{
    Model m;
    BsError err = {0};
    Rng r;
    rng_seed(&r, 3);
    ck_assert_int_eq(model_build(&m, s, 4, &r, &err), BS_OK);
    m.label_smoothing = label_smoothing;
    float x[4 * 3 * 64];
    const size_t nx = (size_t)4 * s->in_c * s->in_h * s->in_w;
    ck_assert_uint_le(nx, sizeof x / sizeof *x);
    int y[4] = {0, 4, 2, 1};
    fill_normal(&r, x, nx, 1.0f);
    ModelLossCtx c = {&m, x, y, 4, train};
    float *g = model_analytic_grads(&c);
    size_t bad = gradcheck_count_bad(model_loss_at, &c, m.params, g, m.n_params, 4e-4f, 5e-3);
    ck_assert_msg(bad * 50 <= m.n_params, "%s (train %d): %zu of %zu gradients off", what, train, bad, m.n_params);
    free(g);
    model_free(&m);
}

/* Gradients through LRN (both modes) inside a network, with a
 * label-smoothed loss. */
START_TEST(lrn_network_gradients_match_finite_differences)
{
    for (int mode = LRN_ACROSS; mode <= LRN_WITHIN; mode++) {
        ModelSpec s = {.arch = ARCH_RESNET, .depth = 8, .width = 4, .norm = VARIANT_XBNBLOCK, .bfn = BFN_LRN,
                       .stem_norm = STEM_AUTO, .groups = 2, .in_c = 3, .in_h = 4, .in_w = 4, .num_classes = 5,
                       .bn_eps = 1e-5f, .bn_momentum = 0.1f};
        s.lrn.mode = (LrnMode)mode, s.lrn.size = 3, s.lrn.alpha = 0.2, s.lrn.beta = 0.75, s.lrn.k = 1;
        assert_net_gradients(&s, 1, 0.1f, mode == LRN_ACROSS ? "lrn across" : "lrn within");
    }
}
END_TEST

/* IBN-Net-a on ResNet-20: the first norm of each block of stages 1 and 2
 * is IN on the first half of the channels and BN on the rest (a BN layer of
 * C/2 channels for the ESM), sharing one position; everything else BN. */
START_TEST(ibn_mixes_the_first_norm_of_early_blocks)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_IBN);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_count(&m), 21 + 6); /* 6 IBN positions have two ops */
    ck_assert_int_eq(count_kind(&m, OP_BN), 21);
    ck_assert_int_eq(count_kind(&m, OP_GN), 6);
    ck_assert_int_eq(count_kind(&m, OP_CHSLICE), 12);
    int ibn = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        if (op->kind != OP_GN)
            continue;
        const Op *bn = &m.ops[i + 2]; /* slice, IN, slice, BN, concat */
        ck_assert_int_eq(bn->kind, OP_BN);
        ck_assert_int_eq(op->norm_depth, bn->norm_depth);
        ck_assert_int_eq(op->u.gn.G, op->u.gn.C); /* InstanceNorm */
        ck_assert_int_eq(op->u.gn.C, bn->u.bn.C);
        ck_assert_ptr_nonnull(strstr(op->name, ".ibn1.in"));
        ck_assert_ptr_nonnull(strstr(bn->name, ".ibn1.bn"));
        ck_assert_ptr_null(strstr(op->name, "stage3"));
        ck_assert_int_eq(m.ops[i + 3].kind, OP_CONCAT);
        ibn++;
    }
    ck_assert_int_eq(ibn, 6); /* 3 blocks in each of stages 1 and 2 */
    ck_assert_str_eq(model_norm_op(&m, 1)->name, "stage1.block1.ibn1.in");
    ck_assert_int_eq(model_norm_op(&m, 1)->norm_depth, 2);
    model_free(&m);
    s = resnet20(VARIANT_IBN);
    s.arch = ARCH_MOBILENETV2;
    s.width_mult = 1.0;
    ck_assert_int_eq(build(&m, &s, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, "ibn"));
}
END_TEST

/* Gradients through IBN (slices, IN, BN, concat) against finite differences. */
START_TEST(ibn_network_gradients_match_finite_differences)
{
    ModelSpec s = {.arch = ARCH_RESNET, .depth = 8, .width = 4, .norm = VARIANT_IBN, .stem_norm = STEM_AUTO,
                   .groups = 2, .in_c = 3, .in_h = 8, .in_w = 8, .num_classes = 5, .bn_eps = 1e-5f,
                   .bn_momentum = 0.1f};
    assert_net_gradients(&s, 1, 0.0f, "ibn");
    assert_net_gradients(&s, 0, 0.0f, "ibn");
}
END_TEST

START_TEST(none_variant_has_biases_and_no_norms)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_NONE);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_count(&m), 0);
    for (int i = 0; i < m.n_ops; i++)
        if (m.ops[i].kind == OP_CONV)
            ck_assert(m.ops[i].u.conv.has_bias);
    model_free(&m);
}
END_TEST

START_TEST(identity_shortcut_has_no_params_or_norm)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_BN);
    s.identity_shortcut = 1;
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(model_norm_count(&m), 19);
    ck_assert_int_eq(count_kind(&m, OP_SHORTCUT), 2);
    model_free(&m);
}
END_TEST

START_TEST(vgg_and_mlp_place_a_norm_after_every_layer)
{
    Model m;
    BsError err = {0};
    ModelSpec s = {.arch = ARCH_VGG, .norm = VARIANT_GNBN, .stem_norm = STEM_AUTO, .groups = 4,
                   .channels = {8, 8, ARCH_MAXPOOL, 16, ARCH_MAXPOOL}, .n_channels = 5,
                   .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 10, .bn_eps = 1e-5f,
                   .bn_momentum = 0.1f};
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    char types[64];
    norm_types(&m, types, sizeof types);
    ck_assert_str_eq(types, "gn,bn,gn");
    ck_assert_int_eq(count_kind(&m, OP_MAXPOOL), 2);
    model_free(&m);
    s = (ModelSpec){.arch = ARCH_MLP, .norm = VARIANT_BN, .hidden = {32, 16, 16}, .n_hidden = 3,
                    .in_c = 1, .in_h = 8, .in_w = 8, .num_classes = 10, .bn_eps = 1e-5f,
                    .bn_momentum = 0.1f};
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    ck_assert_int_eq(count_kind(&m, OP_BN), 3);
    ck_assert_int_eq(model_norm_op(&m, 0)->u.bn.spatial, 1);
    ck_assert_str_eq(model_norm_op(&m, 2)->name, "fc3.bn");
    model_free(&m);
}
END_TEST

static void expect_error(const ModelSpec *s, const char *needle)
{
    Model m;
    BsError err = {0};
    ck_assert_int_eq(build(&m, s, &err), BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

START_TEST(bad_model_specs_are_user_errors)
{
    ModelSpec s = resnet20(VARIANT_BN);
    s.depth = 21;
    expect_error(&s, "model.depth");
    s = resnet20(VARIANT_GN);
    s.groups = 3; /* 3 does not divide 16 */
    expect_error(&s, "model.groups");
    s = (ModelSpec){.arch = ARCH_MLP, .norm = VARIANT_IN, .hidden = {8}, .n_hidden = 1, .in_c = 1,
                    .in_h = 4, .in_w = 4, .num_classes = 2, .bn_eps = 1e-5f};
    expect_error(&s, "model.norm");
    s.norm = VARIANT_XBNBLOCK;
    expect_error(&s, "xbnblock");
    s = (ModelSpec){.arch = ARCH_VGG, .norm = VARIANT_BN, .channels = {4, ARCH_MAXPOOL, ARCH_MAXPOOL},
                    .n_channels = 3, .in_c = 1, .in_h = 2, .in_w = 2, .num_classes = 2,
                    .bn_eps = 1e-5f, .bn_momentum = 0.1f};
    expect_error(&s, "model.channels");
}
END_TEST

/* Every norm (and residual add) whose output only a ReLU reads applies
 * that ReLU itself (the ReLU runs in place and its forward is skipped): in
 * XBNBlock, the GroupNorm and BN layers followed by a ReLU, and every add. */
START_TEST(norms_apply_the_relu_that_follows)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_XBNBLOCK);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    int fused_gn = 0, fused_bn = 0, fused_add = 0;
    for (int i = 1; i < m.n_ops; i++) {
        const Op *op = &m.ops[i], *prev = &m.ops[i - 1];
        if (op->kind != OP_RELU || prev->out != op->in)
            continue;
        if (prev->kind == OP_GN) {
            ck_assert(op->fused && prev->u.gn.act_after);
            fused_gn++;
        } else if (prev->kind == OP_BN) {
            ck_assert(op->fused && prev->u.bn.act_after);
            fused_bn++;
        } else if (prev->kind == OP_ADD) {
            ck_assert(op->fused && prev->u.add_act == ACT_RELU);
            fused_add++;
        }
    }
    ck_assert_int_eq(fused_gn, 9);  /* the first norm of each of the 9 blocks */
    ck_assert_int_eq(fused_bn, 1);  /* the stem */
    ck_assert_int_eq(fused_add, 9); /* the ReLU after each block's residual add */
    model_free(&m);
}
END_TEST

/* A residual add in place on a norm's output (BN or GN) is done by that
 * norm when the add's other input exists before it: the norm adds exactly
 * that tensor and applies the add's ReLU; the add does nothing forward. In
 * ResNet-20 that is the add of all 9 blocks: the block's second norm in the
 * 7 identity blocks; in the first blocks of stages 2 and 3, which make
 * their projection shortcut (conv + norm) after the second norm, the
 * shortcut's norm (arch.c residual_add puts the add in place there). */
START_TEST(norms_do_the_residual_add_after_them)
{
    for (int v = 0; v < 2; v++) {
        Model m;
        BsError err = {0};
        ModelSpec s = resnet20(v ? VARIANT_GN : VARIANT_BN);
        ck_assert_int_eq(build(&m, &s, &err), BS_OK);
        int fused = 0, by_shortcut = 0;
        for (int i = 0; i < m.n_ops; i++) {
            const Op *op = &m.ops[i];
            if (op->kind != OP_ADD)
                continue;
            ck_assert_msg(op->fused, "%s: add not fused", op->name);
            const Op *norm = &m.ops[i - 1];
            by_shortcut += strstr(norm->name, ".shortcut.") != NULL;
            ck_assert_int_eq(norm->kind, v ? OP_GN : OP_BN);
            ck_assert_int_eq(norm->out, op->in);
            ck_assert_int_eq(norm->residual, op->in2);
            ck_assert_int_eq(v ? norm->u.gn.residual_act : norm->u.bn.residual_act, op->u.add_act);
            ck_assert_int_eq(v ? norm->u.gn.act_after : norm->u.bn.act_after, ACT_NONE);
            ck_assert_ptr_eq(m.tensors[op->out].data, m.tensors[op->in].data); /* in place */
            /* Right after the norm and the shortcut's last reader: the
             * norm takes the add's backward too. */
            ck_assert_int_eq(op->residual_dy, 1);
            ck_assert_int_eq(norm->residual_dy, 1);
            for (int j = i + 1; j < m.n_ops; j++)
                ck_assert(m.ops[j].in != op->in2 && m.ops[j].in2 != op->in2);
            fused++;
        }
        ck_assert_int_eq(fused, 9);
        ck_assert_int_eq(by_shortcut, 2);
        model_free(&m);
    }
}
END_TEST

/* bnshift bench's norm floor, counted by hand for ResNet-20 at 32x32: per
 * stage 7 norms (stem or projection + 6) over tensors of 16384, 8192 and
 * 4096 floats per image, 3 of them with the residual add and its ReLU
 * fused (+3 passes each); BN 3 + 5 passes, GN 2 + 3; no norm, nothing. */
START_TEST(norm_floor_counts_the_passes_norms_cannot_avoid)
{
    const double floats = 16384 + 8192 + 4096, N = 2;
    const struct {
        NormVariant v;
        double passes;
    } cases[] = {{VARIANT_BN, 7 * 8 + 3 * 3}, {VARIANT_GN, 7 * 5 + 3 * 3}, {VARIANT_NONE, 0}};
    for (int i = 0; i < 3; i++) {
        Model m;
        BsError err = {0};
        ModelSpec s = resnet20(cases[i].v);
        ck_assert_int_eq(build(&m, &s, &err), BS_OK);
        ck_assert_double_eq(model_norm_floor_bytes(&m, (int)N), cases[i].passes * floats * 4 * N);
        model_free(&m);
    }
}
END_TEST

/* train.grad_clip: torch.nn.utils.clip_grad_norm_ over every gradient,
 * coefficient max_norm / (norm + 1e-6), nothing changed at or below. */
START_TEST(clip_grad_norm_scales_like_torch)
{
    Model m;
    BsError err = {0};
    ModelSpec s = resnet20(VARIANT_BN);
    ck_assert_int_eq(build(&m, &s, &err), BS_OK);
    double ss = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        m.grads[i] = (float)((int)(i % 7) - 3) * 0.01f;
        ss += (double)m.grads[i] * m.grads[i];
    }
    const double norm = sqrt(ss);
    ck_assert_double_eq_tol(model_clip_grad_norm(&m, norm * 2), norm, 1e-9 * norm);
    for (size_t i = 0; i < m.n_params; i++) /* below the limit: untouched */
        ck_assert(m.grads[i] == (float)((int)(i % 7) - 3) * 0.01f);
    ck_assert_double_eq_tol(model_clip_grad_norm(&m, norm / 4), norm, 1e-9 * norm);
    const float coef = (float)(norm / 4 / (norm + 1e-6));
    double after = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        ck_assert(m.grads[i] == (float)((int)(i % 7) - 3) * 0.01f * coef);
        after += (double)m.grads[i] * m.grads[i];
    }
    ck_assert_double_eq_tol(sqrt(after), norm / 4, 1e-5 * norm);
    model_free(&m);
}
END_TEST

Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, resnet20_bn_counts_names_and_size);
    tcase_add_test(tc, resnet20_gnbn_odd_positions_are_gn);
    tcase_add_test(tc, resnet20_xbnblock_gn_at_each_block_first_norm);
    tcase_add_test(tc, batch_free_variants_and_stem_override);
    tcase_add_test(tc, bfn_picks_the_batch_free_norm);
    tcase_add_test(tc, lrn_network_gradients_match_finite_differences);
    tcase_add_test(tc, ibn_mixes_the_first_norm_of_early_blocks);
    tcase_add_test(tc, ibn_network_gradients_match_finite_differences);
    tcase_add_test(tc, none_variant_has_biases_and_no_norms);
    tcase_add_test(tc, identity_shortcut_has_no_params_or_norm);
    tcase_add_test(tc, vgg_and_mlp_place_a_norm_after_every_layer);
    tcase_add_test(tc, bad_model_specs_are_user_errors);
    tcase_add_test(tc, clip_grad_norm_scales_like_torch);
    tcase_add_test(tc, norms_apply_the_relu_that_follows);
    tcase_add_test(tc, norms_do_the_residual_add_after_them);
    tcase_add_test(tc, norm_floor_counts_the_passes_norms_cannot_avoid);
    suite_add_tcase(s, tc);
    return s;
}
