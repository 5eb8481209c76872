#include "arch.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    Model *m;
    const ModelSpec *s;
    int position; /* norm positions so far */
    BsError *err;
    int ibn_stage; /* the blocks being built are in a stage IBN-Net-a mixes */
} Builder;

/* Group count for a batch-free norm over C channels, or 0 after an error. */
static int bfn_groups(Builder *b, NormKind k, int C, const char *name)
{
    if (k == NORM_LN)
        return 1;
    if (k == NORM_IN)
        return C;
    int g = b->s->groups < C ? b->s->groups : C;
    if (g < 1 || C % g != 0) {
        bs_fail(b->err, BS_ERR_USER, "model.groups: %d groups do not divide the %d channels of %s",
                g, C, name);
        return 0;
    }
    return g;
}

/* IBN-Net's layer at norm position pos: InstanceNorm (affine) on the
 * first ⌊C/2⌋ channels, BN on the others, concatenated in that order (the
 * reference IBN module); `<name>.in` and `<name>.bn` carry the depth. */
static int add_ibn(Builder *b, int x, int pos, const char *name)
{
    Model *m = b->m;
    const int C = m->tensors[x].c, half = C / 2;
    char sub_name[80];
    snprintf(sub_name, sizeof sub_name, "%s.in", name);
    int a = model_gn(m, sub_name, model_channel_slice(m, x, 0, half), half, b->s->bn_eps);
    if (a >= 0)
        m->ops[m->n_ops - 1].norm_depth = pos;
    snprintf(sub_name, sizeof sub_name, "%s.bn", name);
    int c = model_bn(m, sub_name, model_channel_slice(m, x, half, C - half), b->s->bn_eps, b->s->bn_momentum);
    if (c >= 0)
        m->ops[m->n_ops - 1].norm_depth = pos;
    return model_concat(m, a, c);
}

/* The norm at the next position after tensor x (x itself when none).
 * `where` is the layer path ("stage1.block1"), `suffix` "1", "2" or "". */
static int add_norm(Builder *b, int x, NormRole role, const char *where, const char *suffix)
{
    int pos = ++b->position;
    NormKind k = norm_plan(b->s->norm, b->s->stem_norm, b->s->bfn, pos, role);
    if (k == NORM_NONE || x < 0)
        return x;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s%s", where, *where ? "." : "", norm_kind_name(k), suffix);
    if (k == NORM_IBN)
        return add_ibn(b, x, pos, name);
    int y;
    if (k == NORM_BN) {
        y = model_bn(b->m, name, x, b->s->bn_eps, b->s->bn_momentum);
    } else if (k == NORM_LRN) {
        const ModelSpec *s = b->s;
        y = model_lrn(b->m, name, x, s->lrn.mode, s->lrn.size, (float)s->lrn.alpha, (float)s->lrn.beta,
                      (float)s->lrn.k);
    } else {
        int g = bfn_groups(b, k, b->m->tensors[x].c, name);
        if (!g)
            return -1;
        y = model_gn(b->m, name, x, g, b->s->bn_eps);
    }
    if (y >= 0)
        b->m->ops[b->m->n_ops - 1].norm_depth = pos;
    return y;
}

/* Whether the next norm position holds a norm (decides a conv's bias). */
static int next_has_norm(const Builder *b, NormRole role)
{
    return norm_plan(b->s->norm, b->s->stem_norm, b->s->bfn, b->position + 1, role) != NORM_NONE;
}

/* conv (kh x kw, padding kh/2, kw/2, `groups` groups; a rectangular kernel
 * takes one group) -> norm, named `where`.conv<suffix> and
 * `where`.<norm><suffix>. */
static int conv_norm_rect(Builder *b, int x, int out_c, int kh, int kw, int stride, int groups, NormRole role,
                          const char *where, const char *suffix)
{
    if (x < 0)
        return -1;
    char name[64];
    snprintf(name, sizeof name, "%s%sconv%s", where, *where ? "." : "", suffix);
    const int in_c = b->m->tensors[x].c, bias = !next_has_norm(b, role);
    if (in_c % groups || out_c % groups) {
        bs_fail(b->err, BS_ERR_USER, "model.cardinality: %d groups do not divide the %d -> %d channels of %s",
                groups, in_c, out_c, name);
        return -1;
    }
    x = kh == kw ? model_conv_grouped(b->m, name, x, out_c, kh, stride, kh / 2, groups, bias)
                 : model_conv_rect(b->m, name, x, out_c, kh, kw, stride, kh / 2, kw / 2, bias);
    return add_norm(b, x, role, where, suffix);
}

static int conv_norm(Builder *b, int x, int out_c, int k, int stride, int groups, NormRole role,
                     const char *where, const char *suffix)
{
    return conv_norm_rect(b, x, out_c, k, k, stride, groups, role, where, suffix);
}

/* The role of a residual block's i-th norm (1-based) under xbnblock or
 * ibn. */
static NormRole block_role(const Builder *b, int i)
{
    if (b->s->norm == VARIANT_IBN)
        return i == 1 && b->ibn_stage ? ROLE_IBN : ROLE_BLOCK;
    int p = b->s->xbn_position ? b->s->xbn_position : arch_bottleneck(b->s) ? 2 : 1;
    return i == p ? ROLE_XBN : ROLE_BLOCK;
}

/* The block's shortcut where the shape changes: 1x1 conv + norm, or option A. */
static int shortcut(Builder *b, int x, int out_c, int stride, const char *where)
{
    if (stride == 1 && b->m->tensors[x].c == out_c)
        return x;
    char path[56];
    snprintf(path, sizeof path, "%s.shortcut", where);
    return b->s->identity_shortcut ? model_shortcut(b->m, x, out_c, stride)
                                   : conv_norm(b, x, out_c, 1, stride, 1, ROLE_SHORTCUT, path, "");
}

/* The block's output h + sc (before its ReLU). A projection shortcut's
 * norm runs after the branch's last one, so the add goes in place on the
 * shortcut's output: then that norm, the op right before the add, does the
 * add in its forward and the add's gradient in its backward
 * (memory_plan.h). h + sc and sc + h are the same floats. */
static int residual_add(Builder *b, int h, int sc, int x)
{
    const int projected = sc != x && !b->s->identity_shortcut;
    return projected ? model_add(b->m, sc, h) : model_add(b->m, h, sc);
}

static int basic_block(Builder *b, int x, int out_c, int stride, const char *where)
{
    int h = model_relu(b->m, conv_norm(b, x, out_c, 3, stride, 1, block_role(b, 1), where, "1"));
    h = conv_norm(b, h, out_c, 3, 1, 1, block_role(b, 2), where, "2");
    int sc = h < 0 ? -1 : shortcut(b, x, out_c, stride, where);
    return model_relu(b->m, residual_add(b, h, sc, x));
}

/* 1x1 -> 3x3 (stride, `groups`) -> 1x1 to out_c, a norm after each; the
 * shortcut's norm comes after the third, as the reference forward runs it. */
static int bottleneck_block(Builder *b, int x, int inner, int out_c, int stride, int groups, const char *where)
{
    int h = model_relu(b->m, conv_norm(b, x, inner, 1, 1, 1, block_role(b, 1), where, "1"));
    h = model_relu(b->m, conv_norm(b, h, inner, 3, stride, groups, block_role(b, 2), where, "2"));
    h = conv_norm(b, h, out_c, 1, 1, 1, block_role(b, 3), where, "3");
    int sc = h < 0 ? -1 : shortcut(b, x, out_c, stride, where);
    return model_relu(b->m, residual_add(b, h, sc, x));
}

/* Blocks per stage of a depth, or 0 after an error naming what fits. */
static int blocks_per_stage(Builder *b, int per_block)
{
    const int d = b->s->depth;
    if (d >= 2 + 3 * per_block && (d - 2) % (3 * per_block) == 0)
        return (d - 2) / (3 * per_block);
    const char *fam = b->s->arch == ARCH_RESNEXT ? "a resnext" : per_block == 3 ? "a bottleneck resnet" : "a resnet";
    bs_fail(b->err, BS_ERR_USER, "model.depth: %d is not %dn+2 with n >= 1 for %s (%s)", d, 3 * per_block, fam,
            per_block == 3 ? "11, 20, 29, 56, 110, 164" : "8, 14, 20, 32, 44, 56, 110");
    return 0;
}

/* CIFAR ResNet (basic or bottleneck blocks) and ResNeXt: stem conv to w,
 * three stages (stride 2 at the first block of stages 2 and 3). */
static int build_resnet(Builder *b, int x)
{
    const ModelSpec *s = b->s;
    const int bottleneck = arch_bottleneck(s);
    if (s->xbn_position > (bottleneck ? 3 : 2)) {
        bs_fail(b->err, BS_ERR_USER, "model.xbn_position: %d, but a %s block has %d norms", s->xbn_position,
                bottleneck ? "bottleneck" : "basic", bottleneck ? 3 : 2);
        return -1;
    }
    int blocks = blocks_per_stage(b, bottleneck ? 3 : 2);
    if (!blocks)
        return -1;
    x = model_relu(b->m, conv_norm(b, x, s->width, 3, 1, 1, ROLE_STEM, "stem", ""));
    for (int st = 0; st < 3 && x >= 0; st++)
        for (int bl = 0; bl < blocks && x >= 0; bl++) {
            b->ibn_stage = st < 2; /* IBN-Net-a: every stage but the last */
            char where[40];
            snprintf(where, sizeof where, "stage%d.block%d", st + 1, bl + 1);
            const int stride = st > 0 && bl == 0 ? 2 : 1, planes = s->width << st;
            if (s->arch == ARCH_RESNEXT)
                x = bottleneck_block(b, x, (s->cardinality * s->group_width) << st, 4 * planes, stride,
                                     s->cardinality, where);
            else if (bottleneck)
                x = bottleneck_block(b, x, planes, 4 * planes, stride, 1, where);
            else
                x = basic_block(b, x, planes, stride, where);
        }
    return model_avgpool(b->m, x);
}

/* The reference code's make_divisible: up to a multiple of 8. */
static int divisible8(double v) { return (int)(ceil(v * 1.0 / 8) * 8); }

/* MobileNetV2's inverted residual: [1x1 expand -> norm -> ReLU6] (absent
 * when t = 1) -> 3x3 depthwise -> norm -> ReLU6 -> 1x1 project -> norm,
 * plus x when the shape is kept. XBNBlock replaces the depthwise norm. */
static int inverted_residual(Builder *b, int x, int t, int out_c, int stride, const char *where)
{
    const int in_c = b->m->tensors[x].c, hidden = in_c * t;
    int h = x;
    if (t != 1)
        h = model_relu6(b->m, conv_norm(b, h, hidden, 1, 1, 1, ROLE_BLOCK, where, "1"));
    h = model_relu6(b->m, conv_norm(b, h, hidden, 3, stride, hidden, ROLE_XBN, where, "2"));
    h = conv_norm(b, h, out_c, 1, 1, 1, ROLE_BLOCK, where, "3");
    return stride == 1 && in_c == out_c ? model_add(b->m, h, x) : h;
}

/* MobileNetV2 for 32x32 inputs: stem stride 1 and the (6, 24, 2) row at
 * stride 1 (the CIFAR convention), so the map shrinks 8x in all. Widths
 * as the reference code: stem 32 and the t = 1 row unscaled, the others
 * make_divisible(c * width_mult), the head 1280 * max(1, width_mult). */
static int build_mobilenetv2(Builder *b, int x)
{
    static const int rows[7][4] = {/* t, c, n, s (CIFAR) */
                                   {1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2},  {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    const double wm = b->s->width_mult;
    x = model_relu6(b->m, conv_norm(b, x, 32, 3, 1, 1, ROLE_STEM, "stem", ""));
    for (int r = 0; r < 7 && x >= 0; r++) {
        const int t = rows[r][0], out_c = t > 1 ? divisible8(rows[r][1] * wm) : rows[r][1];
        for (int i = 0; i < rows[r][2] && x >= 0; i++) {
            char where[40];
            snprintf(where, sizeof where, "stage%d.block%d", r + 1, i + 1);
            x = inverted_residual(b, x, t, out_c, i == 0 ? rows[r][3] : 1, where);
        }
    }
    const int last = wm > 1.0 ? divisible8(1280 * wm) : 1280;
    x = model_relu6(b->m, conv_norm(b, x, last, 1, 1, 1, ROLE_PLAIN, "last", ""));
    return model_avgpool(b->m, x);
}

/* ShuffleNetV2's main branch: 1x1 -> norm -> ReLU -> 3x3 depthwise
 * (stride) -> norm -> 1x1 to out_c -> norm -> ReLU. */
static int shuffle_main(Builder *b, int x, int mid, int out_c, int stride, const char *where)
{
    char path[56];
    snprintf(path, sizeof path, "%s.main", where);
    int h = model_relu(b->m, conv_norm(b, x, mid, 1, 1, 1, ROLE_BLOCK, path, "1"));
    h = conv_norm(b, h, mid, 3, stride, mid, ROLE_XBN, path, "2");
    return model_relu(b->m, conv_norm(b, h, out_c, 1, 1, 1, ROLE_BLOCK, path, "3"));
}

/* A ShuffleNetV2 block with output out_c. Stride 1: the even channels pass
 * untouched, the odd ones go through the main branch; stride 2: the proj
 * branch (3x3 depthwise -> norm -> 1x1 -> norm -> ReLU) runs first, then
 * the main branch on the same input. Either way: concat(untouched or
 * proj, main). */
static int shuffle_block(Builder *b, int x, int out_c, int stride, const char *where)
{
    const int in_c = b->m->tensors[x].c, mid = out_c / 2;
    if (stride == 1) {
        int keep = model_channel_split(b->m, x, 0), odd = model_channel_split(b->m, x, 1);
        return model_concat(b->m, keep, shuffle_main(b, odd, mid, out_c - in_c / 2, 1, where));
    }
    char path[56];
    snprintf(path, sizeof path, "%s.proj", where);
    int p = conv_norm(b, x, in_c, 3, stride, in_c, ROLE_XBN, path, "1");
    p = model_relu(b->m, conv_norm(b, p, in_c, 1, 1, 1, ROLE_BLOCK, path, "2"));
    return model_concat(b->m, p, shuffle_main(b, x, mid, out_c - in_c, stride, where));
}

/* The stage widths (stages 2-4, head) of a ShuffleNetV2 width, or NULL. */
static const int *shuffle_widths(double wm)
{
    static const struct {
        double wm;
        int c[4];
    } table[] = {{0.5, {48, 96, 192, 1024}}, {1.0, {116, 232, 464, 1024}},
                 {1.5, {176, 352, 704, 1024}}, {2.0, {244, 488, 976, 2048}}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (wm == table[i].wm)
            return table[i].c;
    return NULL;
}

/* ShuffleNetV2 for 32x32 inputs: 3x3 stem (stride 1, no max-pool), stages
 * 2-4 of 4/8/4 blocks (the first of each at stride 2), 1x1 head conv ->
 * norm -> ReLU, global average pool, a linear classifier without bias (as
 * the reference). */
static int build_shufflenetv2(Builder *b, int x)
{
    static const int repeats[3] = {4, 8, 4};
    const int *widths = shuffle_widths(b->s->width_mult);
    if (!widths) {
        bs_fail(b->err, BS_ERR_USER, "model.width_mult: %g has no shufflenetv2 table (0.5, 1.0, 1.5 or 2.0)",
                b->s->width_mult);
        return -1;
    }
    x = model_relu(b->m, conv_norm(b, x, 24, 3, 1, 1, ROLE_STEM, "stem", ""));
    for (int st = 0; st < 3 && x >= 0; st++)
        for (int i = 0; i < repeats[st] && x >= 0; i++) {
            char where[40];
            snprintf(where, sizeof where, "stage%d.block%d", st + 2, i + 1);
            x = shuffle_block(b, x, widths[st], i == 0 ? 2 : 1, where);
        }
    x = model_relu(b->m, conv_norm(b, x, widths[3], 1, 1, 1, ROLE_PLAIN, "last", ""));
    return model_avgpool(b->m, x);
}

/* CIFAR-sized AlexNet (REFERENCE.md §3): five convs with biases, each
 * followed by ReLU; the norm positions come after the ReLU of conv1 and
 * conv2 (where AlexNet has its LRN), and of conv3-5 with model.norm_all;
 * 3x3 stride-2 max-pools after norm 1, norm 2 and conv5; fc6, fc7 (16w)
 * with ReLU. */
static int build_alexnet(Builder *b, int x)
{
    static const struct {
        int k, width_x, pool;
    } layers[5] = {{5, 1, 1}, {5, 3, 1}, {3, 6, 0}, {3, 4, 0}, {3, 4, 1}};
    const int w = b->s->width;
    for (int i = 0; i < 5 && x >= 0; i++) {
        char where[16], name[32];
        snprintf(where, sizeof where, "layer%d", i + 1);
        snprintf(name, sizeof name, "%s.conv", where);
        x = model_relu(b->m, model_conv(b->m, name, x, layers[i].width_x * w, layers[i].k, 1, layers[i].k / 2, 1));
        if (i < 2 || b->s->norm_all)
            x = add_norm(b, x, ROLE_PLAIN, where, "");
        if (layers[i].pool && x >= 0)
            x = model_maxpool_padded(b->m, x, 3, 2, 1);
    }
    x = model_relu(b->m, model_linear(b->m, "fc6", x, 16 * w, 1));
    return model_relu(b->m, model_linear(b->m, "fc7", x, 16 * w, 1));
}

/* The Inception modules at model.width 16 (REFERENCE.md §3): an Inception
 * module's (c1, c2r, c2, c3r, c3, cp), a reduction's (r1, c1, r2, c2). */
typedef struct {
    const char *name;
    int reduction;
    int c[6];
} InceptionModule;

static const InceptionModule INCEPTION_MODULES[] = {
    {"3a", 0, {16, 16, 16, 8, 16, 16}}, {"3b", 0, {16, 16, 24, 16, 24, 16}}, {"3c", 1, {32, 40, 16, 24}},
    {"4a", 0, {48, 24, 32, 16, 32, 32}}, {"4b", 0, {40, 32, 40, 24, 32, 32}}, {"4c", 1, {32, 48, 24, 32}},
    {"5a", 0, {64, 40, 64, 24, 48, 48}}};

/* A width of the table scaled by model.width / 16, rounded, at least 1. */
static int inception_width(const Builder *b, int c16)
{
    const int c = (c16 * b->s->width + 8) / 16;
    return c < 1 ? 1 : c;
}

/* One conv of a branch, the j-th (1-based): conv -> norm -> ReLU. v3
 * factorizes a stride-1 3x3 after the branch's first conv into 1x3 -> 3x1
 * (suffixes ja, jb), each with its norm and ReLU. */
static int branch_conv(Builder *b, int x, int out_c, int k, int stride, int j, NormRole role, const char *where)
{
    char suffix[12];
    if (k == 3 && stride == 1 && j > 1 && b->s->inception == INCEPTION_V3) {
        snprintf(suffix, sizeof suffix, "%da", j);
        x = model_relu(b->m, conv_norm_rect(b, x, out_c, 1, 3, 1, 1, role, where, suffix));
        snprintf(suffix, sizeof suffix, "%db", j);
        return model_relu(b->m, conv_norm_rect(b, x, out_c, 3, 1, 1, 1, role, where, suffix));
    }
    snprintf(suffix, sizeof suffix, "%d", j);
    return model_relu(b->m, conv_norm(b, x, out_c, k, stride, 1, role, where, suffix));
}

typedef struct {
    int k, c, stride; /* c: the table's width */
} BranchConv;

/* Branch `index` of a module: its convs in order. Under xbnblock the norm
 * after the first conv of a branch of two or more convs is the batch-free
 * one (ROLE_XBN). */
static int inception_branch(Builder *b, int x, const char *module, int index, const BranchConv *convs, int n)
{
    char where[48];
    snprintf(where, sizeof where, "%s.branch%d", module, index);
    for (int j = 0; j < n && x >= 0; j++)
        x = branch_conv(b, x, inception_width(b, convs[j].c), convs[j].k, convs[j].stride, j + 1,
                        j == 0 && n > 1 ? ROLE_XBN : ROLE_BLOCK, where);
    return x;
}

/* An Inception module (four branches, the last a 3x3 stride-1 max-pool ->
 * 1x1) or a grid reduction (two branches ending in a stride-2 3x3, and a
 * stride-2 max-pool), its branches built and concatenated in order. */
static int inception_module(Builder *b, int x, const InceptionModule *im)
{
    Model *m = b->m;
    const int *c = im->c;
    char module[24];
    snprintf(module, sizeof module, "inception%s", im->name);
    if (im->reduction) {
        const BranchConv b1[] = {{1, c[0], 1}, {3, c[1], 2}}, b2[] = {{1, c[2], 1}, {3, c[3], 1}, {3, c[3], 2}};
        int y = inception_branch(b, x, module, 1, b1, 2);
        y = model_concat(m, y, inception_branch(b, x, module, 2, b2, 3));
        return model_concat(m, y, model_maxpool_padded(m, x, 3, 2, 1));
    }
    const BranchConv b1[] = {{1, c[0], 1}}, b2[] = {{1, c[1], 1}, {3, c[2], 1}},
                     b3[] = {{1, c[3], 1}, {3, c[4], 1}, {3, c[4], 1}}, b4[] = {{1, c[5], 1}};
    int y = inception_branch(b, x, module, 1, b1, 1);
    y = model_concat(m, y, inception_branch(b, x, module, 2, b2, 2));
    y = model_concat(m, y, inception_branch(b, x, module, 3, b3, 3));
    return model_concat(m, y, inception_branch(b, model_maxpool_padded(m, x, 3, 1, 1), module, 4, b4, 1));
}

/* A CIFAR-sized BN-Inception (v2) or its v3 factorization: stem 3x3 ->
 * norm -> ReLU, the modules of INCEPTION_MODULES, global average pool. */
static int build_inception(Builder *b, int x)
{
    x = model_relu(b->m, conv_norm(b, x, inception_width(b, 32), 3, 1, 1, ROLE_STEM, "stem", ""));
    for (size_t i = 0; i < sizeof INCEPTION_MODULES / sizeof INCEPTION_MODULES[0] && x >= 0; i++)
        x = inception_module(b, x, &INCEPTION_MODULES[i]);
    return model_avgpool(b->m, x);
}

int arch_bottleneck(const ModelSpec *s)
{
    return s->arch == ARCH_RESNEXT || (s->arch == ARCH_RESNET && s->block == BLOCK_BOTTLENECK);
}

int arch_default_groups(Arch a, double width_mult)
{
    if (a == ARCH_MOBILENETV2)
        return 16;
    if (a == ARCH_SHUFFLENETV2)
        return width_mult == 1.0 ? 29 : width_mult == 2.0 ? 2 : 8;
    if (a == ARCH_ALEXNET)
        return 16;
    if (a == ARCH_INCEPTION)
        return 8;
    return 32;
}

static int build_vgg(Builder *b, int x)
{
    int conv = 0;
    for (int i = 0; i < b->s->n_channels && x >= 0; i++) {
        if (b->s->channels[i] == ARCH_MAXPOOL) {
            if (b->m->tensors[x].h < 2 || b->m->tensors[x].w < 2) {
                bs_fail(b->err, BS_ERR_USER, "model.channels: \"M\" #%d pools a %dx%d map to nothing",
                        i + 1, b->m->tensors[x].h, b->m->tensors[x].w);
                return -1;
            }
            x = model_maxpool(b->m, x, 2, 2);
            continue;
        }
        char where[40];
        snprintf(where, sizeof where, "layer%d", ++conv);
        x = model_relu(b->m, conv_norm(b, x, b->s->channels[i], 3, 1, 1, ROLE_PLAIN, where, ""));
    }
    return x >= 0 ? model_avgpool(b->m, x) : -1;
}

static int build_mlp(Builder *b, int x)
{
    if (b->s->norm == VARIANT_IN) {
        bs_fail(b->err, BS_ERR_USER, "model.norm: \"in\" on an mlp normalizes one value per group; use ln or gn");
        return -1;
    }
    for (int i = 0; i < b->s->n_hidden && x >= 0; i++) {
        char where[24], name[48];
        snprintf(where, sizeof where, "fc%d", i + 1);
        snprintf(name, sizeof name, "%s.linear", where);
        x = model_linear(b->m, name, x, b->s->hidden[i], !next_has_norm(b, ROLE_PLAIN));
        x = model_relu(b->m, add_norm(b, x, ROLE_PLAIN, where, ""));
    }
    return x;
}

int model_build(Model *m, const ModelSpec *s, int max_batch, Rng *rng, BsError *err)
{
    model_init(m);
    if (s->norm == VARIANT_XBNBLOCK && (s->arch == ARCH_VGG || s->arch == ARCH_MLP || s->arch == ARCH_ALEXNET))
        return bs_fail(err, BS_ERR_USER, "model.norm: xbnblock acts on blocks and branches: model.arch resnet, "
                                         "resnext, mobilenetv2, shufflenetv2 or inception");
    if (s->norm == VARIANT_IBN && s->arch != ARCH_RESNET && s->arch != ARCH_RESNEXT)
        return bs_fail(err, BS_ERR_USER, "model.norm: ibn (IBN-Net-a) needs model.arch resnet or resnext");
    Builder b = {m, s, 0, err, 0};
    int x = model_input(m, s->in_c, s->in_h, s->in_w);
    switch (s->arch) {
    case ARCH_RESNET:
    case ARCH_RESNEXT:
        x = build_resnet(&b, x);
        break;
    case ARCH_VGG:
        x = build_vgg(&b, x);
        break;
    case ARCH_MOBILENETV2:
        x = build_mobilenetv2(&b, x);
        break;
    case ARCH_SHUFFLENETV2:
        x = build_shufflenetv2(&b, x);
        break;
    case ARCH_ALEXNET:
        x = build_alexnet(&b, x);
        break;
    case ARCH_INCEPTION:
        x = build_inception(&b, x);
        break;
    case ARCH_MLP:
    default:
        x = build_mlp(&b, x);
        break;
    }
    if (x >= 0)
        x = model_linear(m, "fc", x, s->num_classes, s->arch != ARCH_SHUFFLENETV2);
    if (err->code != BS_OK) {
        model_free(m);
        return err->code;
    }
    if (model_finish(m, x, max_batch, rng, err) != BS_OK)
        model_free(m);
    return err->code;
}

int model_norm_count(const Model *m)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++)
        n += m->ops[i].norm_depth > 0;
    return n;
}

const Op *model_norm_op(const Model *m, int i)
{
    for (int j = 0; j < m->n_ops; j++)
        if (m->ops[j].norm_depth > 0 && i-- == 0)
            return &m->ops[j];
    return NULL;
}
