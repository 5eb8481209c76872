/* The columns of the run directory's logs (docs/REFERENCE.md §4), declared
 * once for their writers (runner, eval) and readers (runlog, plot-data). */
#ifndef BS_LOGFORMAT_H
#define BS_LOGFORMAT_H

/* V1: what bnshift wrote before the bstat columns; a run started then
 * keeps it when resumed, and the readers accept both. */
#define METRICS_HEADER_V1 \
    "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,test_err,seconds,images_per_s"
#define METRICS_COLUMNS_V1 10
#define METRICS_HEADER METRICS_HEADER_V1 ",train_bstat_loss,train_bstat_err,test_bstat_loss,test_bstat_err"
#define METRICS_COLUMNS 14

#define SHIFT_HEADER \
    "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std"
#define SHIFT_COLUMNS 13

/* ranks.csv of a data-parallel run (K > 1 ranks): per evaluated epoch and
 * BN layer, how far the ranks' running estimates lie apart (RMS over ranks
 * of the L2 distance to their mean, for the means and for the standard
 * deviations). */
#define RANKS_HEADER "epoch,layer,name,depth,channels,ranks,spread_mean,spread_std"

/* V1: eval.csv before the estimator and corruption columns; eval
 * rewrites such a file with the new header (its rows get the new columns
 * empty, estimator "exact" where recalibrated). */
#define EVAL_HEADER_V1                                                                     \
    "checkpoint_epoch,recalibrated_on,stage,set,loss,err,batch_stats_err,layer,name,depth," \
    "channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std"
#define EVAL_COLUMNS_V1 18
#define EVAL_HEADER \
    EVAL_HEADER_V1 ",estimator,est_batches,est_batch_size,est_momentum,batch_stats_size,corruption,severity"
#define EVAL_COLUMNS 25

#endif
