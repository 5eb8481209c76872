/* The three architectures of REFERENCE.md §3 built onto a Model. */
#ifndef BN_ARCH_H
#define BN_ARCH_H

#include "models/model.h"
#include "models/norm_plan.h"

typedef enum { ARCH_RESNET, ARCH_VGG, ARCH_MLP } Arch;

#define ARCH_MAX_LAYERS 64
#define ARCH_MAXPOOL (-1) /* "M" in vgg channels */

typedef struct {
    Arch arch;
    int depth, width, identity_shortcut; /* resnet */
    NormVariant norm;
    StemNorm stem_norm;
    int groups;
    int hidden[ARCH_MAX_LAYERS], n_hidden;     /* mlp */
    int channels[ARCH_MAX_LAYERS], n_channels; /* vgg; ARCH_MAXPOOL = "M" */
    int in_c, in_h, in_w, num_classes;
    float bn_eps, bn_momentum;
} ModelSpec;

/* Builds and finishes the model (weights initialized from rng). Errors are
 * BN_ERR_USER naming the config key (depth not 6n+2, groups not dividing a
 * width, in on an mlp, xbnblock outside resnet, a feature map pooled to
 * nothing) or BN_ERR_RUNTIME (memory). */
int model_build(Model *m, const ModelSpec *s, int max_batch, Rng *rng, BnError *err);

/* Norm ops in forward order: count, and the i-th (NULL past the end). */
int model_norm_count(const Model *m);
const Op *model_norm_op(const Model *m, int i);

#endif
