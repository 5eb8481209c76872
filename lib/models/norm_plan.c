#include "norm_plan.h"

NormKind norm_bfn_kind(BfnKind bfn)
{
    static const NormKind kinds[] = {[BFN_GN] = NORM_GN, [BFN_LN] = NORM_LN, [BFN_IN] = NORM_IN, [BFN_LRN] = NORM_LRN};
    return kinds[bfn];
}

static NormKind variant_rule(NormVariant v, BfnKind bfn, int position, NormRole role)
{
    switch (v) {
    case VARIANT_BN:
        return NORM_BN;
    case VARIANT_GNBN:
        return position % 2 == 1 ? norm_bfn_kind(bfn) : NORM_BN;
    case VARIANT_XBNBLOCK:
        return role == ROLE_XBN ? norm_bfn_kind(bfn) : NORM_BN;
    case VARIANT_GN:
        return NORM_GN;
    case VARIANT_LN:
        return NORM_LN;
    case VARIANT_IN:
        return NORM_IN;
    case VARIANT_LRN:
        return NORM_LRN;
    case VARIANT_IBN:
        return role == ROLE_IBN ? NORM_IBN : NORM_BN;
    case VARIANT_NONE:
    default:
        return NORM_NONE;
    }
}

NormKind norm_plan(NormVariant v, StemNorm stem, BfnKind bfn, int position, NormRole role)
{
    if (role == ROLE_STEM && stem != STEM_AUTO)
        return stem == STEM_BN ? NORM_BN : stem == STEM_GN ? norm_bfn_kind(bfn) : NORM_NONE;
    return variant_rule(v, bfn, position, role);
}

const char *norm_kind_name(NormKind k)
{
    static const char *names[] = {"none", "bn", "gn", "ln", "in", "lrn", "ibn"};
    return names[k];
}

const char *norm_variant_name(NormVariant v)
{
    static const char *names[] = {"bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "ibn", "lrn"};
    return names[v];
}
