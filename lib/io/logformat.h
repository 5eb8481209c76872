/* The columns of the run directory's logs (docs/REFERENCE.md §4), declared
 * once for their writers (runner, eval) and readers (runlog, plot-data). */
#ifndef BS_LOGFORMAT_H
#define BS_LOGFORMAT_H

#define METRICS_HEADER \
    "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,test_err,seconds,images_per_s"
#define METRICS_COLUMNS 10

#define SHIFT_HEADER \
    "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std"
#define SHIFT_COLUMNS 13

#define EVAL_HEADER                                                                        \
    "checkpoint_epoch,recalibrated_on,stage,set,loss,err,batch_stats_err,layer,name,depth," \
    "channels,esm_mean,esm_std,esm_var,rms_mean,rms_std,nesm_mean,nesm_std"
#define EVAL_COLUMNS 18

#endif
