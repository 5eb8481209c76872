/* The names summaries give a run's settings (run_labels.h). */
#include "run_labels.h"

#include <stdio.h>

#include "run/summary.h"

void run_label_norm(const Config *c, char *buf, size_t cap)
{
    const NormVariant v = c->model.norm;
    if ((v == VARIANT_GNBN || v == VARIANT_XBNBLOCK) && c->model.bfn != BFN_GN)
        snprintf(buf, cap, "%s/%s", norm_variant_name(v), norm_kind_name(norm_bfn_kind(c->model.bfn)));
    else
        snprintf(buf, cap, "%s", norm_variant_name(v));
}

const char *run_label_source(SetSource s)
{
    return s == FROM_TEST ? "test" : "train";
}

void run_label_corruption(const Config *c, char *buf, size_t cap)
{
    if (c->data.corruption.type == CORRUPT_NONE)
        snprintf(buf, cap, "none");
    else
        snprintf(buf, cap, "%s:%d", corruption_name(c->data.corruption.type), c->data.corruption.severity);
}

const char *run_label_bn_estimator(const Config *c)
{
    /* config.c keeps its names to itself */
    return c->train.bn_estimator == BN_EST_CUMULATIVE ? "cumulative" : "ema";
}

const char *run_label_summary_column(int c)
{
    static const char *const names[RS_N] = {
        "final_test_err", "best_test_err", "mean_esm_first", "mean_esm_last", "esm_depth_slope",
        "final_test_bstat_err", "corr_cells", "corr_err", "corr_adabn_err", "corr_bstat_err"};
    return c >= 0 && c < RS_N ? names[c] : "?";
}
