/* Which normalization goes where (REFERENCE.md §3). Norm positions are numbered in
 * forward order from 1: the stem's norm; then per block the norm after
 * conv1, after conv2, then the shortcut's norm if the block has one. */
#ifndef BS_NORM_PLAN_H
#define BS_NORM_PLAN_H

typedef enum { NORM_NONE, NORM_BN, NORM_GN, NORM_LN, NORM_IN } NormKind;

typedef enum {
    VARIANT_BN,
    VARIANT_GNBN,
    VARIANT_XBNBLOCK,
    VARIANT_GN,
    VARIANT_LN,
    VARIANT_IN,
    VARIANT_NONE
} NormVariant;

typedef enum { STEM_AUTO, STEM_BN, STEM_GN, STEM_NONE } StemNorm;

/* The role of a norm position: the stem's, a block's first (after conv1),
 * a block's second (after conv2), a shortcut's, or a plain layer's (vgg/mlp). */
typedef enum { ROLE_STEM, ROLE_BLOCK1, ROLE_BLOCK2, ROLE_SHORTCUT, ROLE_PLAIN } NormRole;

/* The norm at 1-based `position` with `role`. */
NormKind norm_plan(NormVariant v, StemNorm stem, int position, NormRole role);

const char *norm_kind_name(NormKind k); /* "bn", "gn", "ln", "in", "none" */
const char *norm_variant_name(NormVariant v);

#endif
