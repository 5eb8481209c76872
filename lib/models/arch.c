#include "arch.h"

#include <stdio.h>

typedef struct {
    Model *m;
    const ModelSpec *s;
    int position; /* norm positions so far */
    BsError *err;
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

/* The norm at the next position after tensor x (x itself when none).
 * `where` is the layer path ("stage1.block1"), `suffix` "1", "2" or "". */
static int add_norm(Builder *b, int x, NormRole role, const char *where, const char *suffix)
{
    int pos = ++b->position;
    NormKind k = norm_plan(b->s->norm, b->s->stem_norm, pos, role);
    if (k == NORM_NONE || x < 0)
        return x;
    char name[64];
    snprintf(name, sizeof name, "%s%s%s%s", where, *where ? "." : "", norm_kind_name(k), suffix);
    int y;
    if (k == NORM_BN) {
        y = model_bn(b->m, name, x, b->s->bn_eps, b->s->bn_momentum);
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
    return norm_plan(b->s->norm, b->s->stem_norm, b->position + 1, role) != NORM_NONE;
}

/* conv3x3 (or k) -> norm, named `where`.conv<suffix> / norm<suffix>. */
static int conv_norm(Builder *b, int x, int out_c, int k, int stride, NormRole role,
                     const char *where, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "%s%sconv%s", where, *where ? "." : "", suffix);
    int pad = k / 2;
    x = model_conv(b->m, name, x, out_c, k, stride, pad, !next_has_norm(b, role));
    return add_norm(b, x, role, where, suffix);
}

static int basic_block(Builder *b, int x, int out_c, int stride, const char *where)
{
    int in_c = b->m->tensors[x].c;
    int h = model_relu(b->m, conv_norm(b, x, out_c, 3, stride, ROLE_BLOCK1, where, "1"));
    h = conv_norm(b, h, out_c, 3, 1, ROLE_BLOCK2, where, "2");
    int sc = x;
    if (stride != 1 || in_c != out_c) {
        char path[56];
        snprintf(path, sizeof path, "%s.shortcut", where);
        sc = b->s->identity_shortcut ? model_shortcut(b->m, x, out_c, stride)
                                     : conv_norm(b, x, out_c, 1, stride, ROLE_SHORTCUT, path, "");
    }
    return model_relu(b->m, model_add(b->m, h, sc));
}

static int build_resnet(Builder *b, int x)
{
    const ModelSpec *s = b->s;
    if (s->depth < 8 || (s->depth - 2) % 6 != 0) {
        bs_fail(b->err, BS_ERR_USER, "model.depth: %d is not 6n+2 with n >= 1 (20, 32, 44, 56, 110)",
                s->depth);
        return -1;
    }
    int blocks = (s->depth - 2) / 6;
    x = model_relu(b->m, conv_norm(b, x, s->width, 3, 1, ROLE_STEM, "stem", ""));
    for (int st = 0; st < 3 && x >= 0; st++)
        for (int bl = 0; bl < blocks && x >= 0; bl++) {
            char where[40];
            snprintf(where, sizeof where, "stage%d.block%d", st + 1, bl + 1);
            x = basic_block(b, x, s->width << st, st > 0 && bl == 0 ? 2 : 1, where);
        }
    return model_avgpool(b->m, x);
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
        x = model_relu(b->m, conv_norm(b, x, b->s->channels[i], 3, 1, ROLE_PLAIN, where, ""));
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
    if (s->norm == VARIANT_XBNBLOCK && s->arch != ARCH_RESNET)
        return bs_fail(err, BS_ERR_USER, "model.norm: xbnblock needs model.arch \"resnet\" (it acts on residual blocks)");
    Builder b = {m, s, 0, err};
    int x = model_input(m, s->in_c, s->in_h, s->in_w);
    x = s->arch == ARCH_RESNET ? build_resnet(&b, x)
        : s->arch == ARCH_VGG  ? build_vgg(&b, x)
                               : build_mlp(&b, x);
    if (x >= 0)
        x = model_linear(m, "fc", x, s->num_classes, 1);
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
        n += m->ops[i].kind == OP_BN || m->ops[i].kind == OP_GN;
    return n;
}

const Op *model_norm_op(const Model *m, int i)
{
    for (int j = 0; j < m->n_ops; j++)
        if ((m->ops[j].kind == OP_BN || m->ops[j].kind == OP_GN) && i-- == 0)
            return &m->ops[j];
    return NULL;
}
