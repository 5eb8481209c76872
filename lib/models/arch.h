/* The three architectures of REFERENCE.md §3 built onto a Model. */
#ifndef BS_ARCH_H
#define BS_ARCH_H

#include "models/model.h"
#include "models/norm_plan.h"

typedef enum { ARCH_RESNET, ARCH_VGG, ARCH_MLP } Arch;

#define ARCH_MAX_LAYERS 64
#define ARCH_MAXPOOL (-1) /* "M" in vgg channels */

typedef enum { SHORTCUT_PROJECTION, SHORTCUT_IDENTITY } ShortcutKind;

/* The network a config asks for: Config.model is this struct (the config
 * schema fills the fields it names); setup adds the input shape, the class
 * count and the norm hyper-parameters. */
typedef struct {
    Arch arch;
    int depth, width; /* resnet */
    union {
        ShortcutKind shortcut; /* the config's model.shortcut */
        int identity_shortcut; /* the same: 1 = option A */
    };
    NormVariant norm;
    StemNorm stem_norm;
    int groups;
    int hidden[ARCH_MAX_LAYERS], n_hidden;     /* mlp */
    int channels[ARCH_MAX_LAYERS], n_channels; /* vgg; ARCH_MAXPOOL = "M" */
    int num_classes; /* config: 0 = the dataset's */
    int in_c, in_h, in_w;
    float bn_eps, bn_momentum;
} ModelSpec;

/* Builds and finishes the model (weights initialized from rng). Errors are
 * BS_ERR_USER naming the config key (depth not 6n+2, groups not dividing a
 * width, in on an mlp, xbnblock outside resnet, a feature map pooled to
 * nothing) or BS_ERR_RUNTIME (memory). */
int model_build(Model *m, const ModelSpec *s, int max_batch, Rng *rng, BsError *err);

/* Norm ops in forward order: count, and the i-th (NULL past the end). */
int model_norm_count(const Model *m);
const Op *model_norm_op(const Model *m, int i);

#endif
