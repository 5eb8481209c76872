/* How summaries name a run's settings (plot-data's summary.csv, report):
 * one spelling for both. */
#ifndef BS_RUN_LABELS_H
#define BS_RUN_LABELS_H

#include <stddef.h>

#include "run/config.h"

/* model.norm, followed by "/" and model.bfn when a mixed variant uses a
 * batch-free norm other than GN ("xbnblock/lrn", "gnbn/in"). */
void run_label_norm(const Config *c, char *buf, size_t cap);
/* "train" / "test": where data.train_from and data.test_from draw from. */
const char *run_label_source(SetSource s);
/* data.corruption as "type:severity", or "none". */
void run_label_corruption(const Config *c, char *buf, size_t cap);
/* train.bn_estimator: "ema" / "cumulative". */
const char *run_label_bn_estimator(const Config *c);

/* summary.csv's name of RunSummary column c (RS_*): "final_test_err", ... */
const char *run_label_summary_column(int c);

#endif
