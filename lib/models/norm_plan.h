/* Which normalization goes where (REFERENCE.md §3). Norm positions are
 * numbered in forward execution order from 1 (every family lists its order
 * in REFERENCE.md §3). */
#ifndef BS_NORM_PLAN_H
#define BS_NORM_PLAN_H

/* NORM_IBN: IBN-Net's mixed layer, InstanceNorm on the first half of the
 * channels and BN on the rest. */
typedef enum { NORM_NONE, NORM_BN, NORM_GN, NORM_LN, NORM_IN, NORM_LRN, NORM_IBN } NormKind;

/* The batch-free norm of the mixed variants (model.bfn): what gnbn and
 * xbnblock put in their batch-free positions and stem_norm gn (or auto
 * under a mixed variant) puts in the stem. */
typedef enum { BFN_GN, BFN_LN, BFN_IN, BFN_LRN } BfnKind;

typedef enum {
    VARIANT_BN,
    VARIANT_GNBN,
    VARIANT_XBNBLOCK,
    VARIANT_GN,
    VARIANT_LN,
    VARIANT_IN,
    VARIANT_NONE,
    VARIANT_IBN, /* IBN-Net-a: an IBN layer at the first norm of each block but the last stage's */
    VARIANT_LRN  /* LRN at every position (AlexNet's original) */
} NormVariant;

typedef enum { STEM_AUTO, STEM_BN, STEM_GN, STEM_NONE } StemNorm;

/* The role of a norm position: the stem's; inside a block, one that
 * XBNBlock keeps as BN (ROLE_BLOCK) or the one it replaces by the batch-free
 * norm (ROLE_XBN: the builder decides which, from model.xbn_position or the
 * family's rule); a shortcut's; a plain layer's (vgg, mlp, a head conv); or
 * the one IBN-Net-a mixes (ROLE_IBN: the first norm of a block outside the
 * last stage, under the ibn variant). */
typedef enum { ROLE_STEM, ROLE_BLOCK, ROLE_XBN, ROLE_SHORTCUT, ROLE_PLAIN, ROLE_IBN } NormRole;

/* The norm kind a BfnKind stands for (BFN_LN -> NORM_LN, ...). */
NormKind norm_bfn_kind(BfnKind bfn);

/* The norm at 1-based `position` with `role`, bfn the mixed variants'
 * batch-free norm. */
NormKind norm_plan(NormVariant v, StemNorm stem, BfnKind bfn, int position, NormRole role);

const char *norm_kind_name(NormKind k); /* "bn", "gn", "ln", "in", "lrn", "none" */
const char *norm_variant_name(NormVariant v);

#endif
