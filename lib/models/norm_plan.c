#include "norm_plan.h"

/* The batch-free norm a variant uses everywhere (GN for the mixed ones). */
static NormKind variant_bfn(NormVariant v)
{
    return v == VARIANT_LN ? NORM_LN : v == VARIANT_IN ? NORM_IN : NORM_GN;
}

static NormKind variant_rule(NormVariant v, int position, NormRole role)
{
    switch (v) {
    case VARIANT_BN:
        return NORM_BN;
    case VARIANT_GNBN:
        return position % 2 == 1 ? NORM_GN : NORM_BN;
    case VARIANT_XBNBLOCK:
        return role == ROLE_XBN ? NORM_GN : NORM_BN;
    case VARIANT_GN:
    case VARIANT_LN:
    case VARIANT_IN:
        return variant_bfn(v);
    case VARIANT_NONE:
    default:
        return NORM_NONE;
    }
}

NormKind norm_plan(NormVariant v, StemNorm stem, int position, NormRole role)
{
    if (role == ROLE_STEM && stem != STEM_AUTO)
        return stem == STEM_BN ? NORM_BN : stem == STEM_GN ? NORM_GN : NORM_NONE;
    return variant_rule(v, position, role);
}

const char *norm_kind_name(NormKind k)
{
    static const char *names[] = {"none", "bn", "gn", "ln", "in"};
    return names[k];
}

const char *norm_variant_name(NormVariant v)
{
    static const char *names[] = {"bn", "gnbn", "xbnblock", "gn", "ln", "in", "none"};
    return names[v];
}
