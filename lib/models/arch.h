/* The network families of REFERENCE.md §3 built onto a Model. */
#ifndef BS_ARCH_H
#define BS_ARCH_H

#include "layers/lrn.h"
#include "models/model.h"
#include "models/norm_plan.h"

typedef enum {
    ARCH_RESNET,
    ARCH_VGG,
    ARCH_MLP,
    ARCH_RESNEXT,
    ARCH_MOBILENETV2,
    ARCH_SHUFFLENETV2,
    ARCH_ALEXNET,
    ARCH_INCEPTION
} Arch;

typedef enum { BLOCK_BASIC, BLOCK_BOTTLENECK } BlockKind; /* resnet's model.block */

typedef enum { INCEPTION_V2, INCEPTION_V3 } InceptionVersion; /* model.inception */

#define ARCH_MAX_LAYERS 64
#define ARCH_MAXPOOL (-1) /* "M" in vgg channels */

typedef enum { SHORTCUT_PROJECTION, SHORTCUT_IDENTITY } ShortcutKind;

/* The network a config asks for: Config.model is this struct (the config
 * schema fills the fields it names); setup adds the input shape, the class
 * count and the norm hyper-parameters. */
typedef struct {
    Arch arch;
    int depth, width; /* resnet, resnext; width also alexnet, inception */
    BlockKind block;  /* resnet */
    int cardinality, group_width; /* resnext: groups of the 3x3, channels per group in stage 1 */
    int xbn_position; /* resnet/resnext: the block norm xbnblock replaces; 0: the family's (basic 1, bottleneck 2) */
    double width_mult; /* mobilenetv2, shufflenetv2 */
    InceptionVersion inception; /* inception: v2, or v3 (3x3 -> 1x3, 3x1) */
    int norm_all;               /* alexnet: norms after conv3-5 too */
    union {
        ShortcutKind shortcut; /* the config's model.shortcut */
        int identity_shortcut; /* the same: 1 = option A */
    };
    NormVariant norm;
    StemNorm stem_norm;
    BfnKind bfn; /* the mixed variants' batch-free norm (model.bfn) */
    struct {     /* model.lrn: LRN's window and constants (layers/lrn.h) */
        LrnMode mode;
        int size;
        double alpha, beta, k;
    } lrn;
    int groups;
    int hidden[ARCH_MAX_LAYERS], n_hidden;     /* mlp */
    int channels[ARCH_MAX_LAYERS], n_channels; /* vgg; ARCH_MAXPOOL = "M" */
    int num_classes; /* config: 0 = the dataset's */
    int in_c, in_h, in_w;
    float bn_eps, bn_momentum;
} ModelSpec;

/* Builds and finishes the model (weights initialized from rng). Errors are
 * BS_ERR_USER naming the config key (a depth the family cannot have, groups
 * not dividing a width, in on an mlp, xbnblock on vgg/mlp/alexnet, an xbn_position
 * the block lacks, a width_mult shufflenetv2 has no table for, a feature
 * map pooled to nothing) or BS_ERR_RUNTIME (memory). */
int model_build(Model *m, const ModelSpec *s, int max_batch, Rng *rng, BsError *err);

/* Whether s builds bottleneck blocks (resnext, or resnet with model.block
 * bottleneck): depth 9n+2 and three norms per block. */
int arch_bottleneck(const ModelSpec *s);

/* The GroupNorm group count a family uses when model.groups is not given:
 * 32; mobilenetv2 16 and shufflenetv2 8 (29 at width 1.0, 2 at 2.0), the
 * values of the reference XBNBlock code's configs (every branch width must
 * divide by it); alexnet 16 and inception 8 (which divide their widths at
 * the default model.width). */
int arch_default_groups(Arch a, double width_mult);

/* Norm ops in forward order (the ops with a depth: BN, GN, LRN, and both
 * halves of an IBN layer, which share its position): count, and the i-th
 * (NULL past the end). */
int model_norm_count(const Model *m);
const Op *model_norm_op(const Model *m, int i);

#endif
