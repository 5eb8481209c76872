/* From a resolved Config to the things a run needs: the data sets with the
 * REFERENCE.md §3 selection rules (train_from/train_subset, test_from, eval_subset,
 * normalization from S), and the model. Shared by run, info and eval. */
#ifndef BS_SETUP_H
#define BS_SETUP_H

#include "data/dataset.h"
#include "run/config.h"
#include "models/arch.h"
#include "train/evaluate.h"
#include "train/optimizer.h"

typedef struct {
    Dataset train_src, test_src;
    Dataset corrupted[2]; /* data.corruption's copy of S ([0]) or S' ([1]) when the other stays clean */
    int *train_idx; /* S: indices into the train_from source */
    int n_train;
    int *eval_idx[2]; /* the train and test evaluation samples */
    int n_eval[2];
    const Dataset *src[2]; /* [0] train_from source, [1] test_from source */
    float mean[64], std[64];
    int normalize;
} ExperimentData;

int setup_data(const Config *c, ExperimentData *x, BsError *err);
/* Whether data.corruption corrupts S (role 0, the train evaluation set's
 * source) or S' (role 1, the test set). */
int setup_corrupts(const Config *c, int role);
void setup_data_free(ExperimentData *x);
/* The evaluation set for "train" (which = 0) or "test" (1). */
SampleSet setup_eval_set(const ExperimentData *x, int which);

/* The model spec of the config for images of shape c x h x w. */
ModelSpec setup_model_spec(const Config *c, int in_c, int in_h, int in_w, int num_classes);
/* The model of the config for batches of up to max(max_batch, train.batch_size). */
int setup_model(const Config *c, const ExperimentData *x, int max_batch, Model *m, BsError *err);

/* A config made real: data, model, optimizer, one batch of scratch (the
 * model and the scratch hold max(max_batch, train.batch_size) samples). */
typedef struct {
    Config cfg;
    ExperimentData data;
    Model model;
    Optimizer opt;
    float *x; /* [batch_size][sample] */
    int *y;
} Experiment;

int experiment_open(Experiment *e, const char *config_path, char *const *sets, int n_sets, int max_batch,
                    BsError *err);
void experiment_close(Experiment *e);

/* DIR/checkpoint.bin was written by a run of DIR/config.resolved.json
 * (the hash without train.epochs and log.*): what eval and export read
 * must belong together. BS_ERR_USER naming both files otherwise. */
int setup_checkpoint_belongs(const char *dir, BsError *err);

/* The training RNG (shuffling, augmentation) of `run` starts at seed +
 * this (tests replay it). */
#define SETUP_TRAIN_STREAM 0x7a11ULL

/* log.out with NAME replaced by the config's name, or override if non-NULL. */
void setup_out_dir(const Config *c, const char *override, char *out, size_t cap);

#endif
