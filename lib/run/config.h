/* The experiment config (REFERENCE.md §3): JSON via cJSON, every key typed and
 * range-checked, unknown keys rejected with the closest known key, `--set
 * key.path=value` overrides merged into the JSON before validation (so checks
 * that involve several keys see the final values), and the fully resolved
 * config written back out.
 *
 * Beyond REFERENCE.md §3, `data.synthetic` shapes the generated data set used when
 * `data.dataset` is "synthetic" (ignored otherwise):
 *   "synthetic": {"train": 512, "test": 256, "channels": 3, "size": 32,
 *                 "classes": 10, "noise": 0.6}
 * train/test are sample counts, size the side of the square images, noise
 * the per-pixel noise around each class's pattern.
 *
 * A top-level "meta" member (what `run` adds to config.resolved.json) is
 * accepted and ignored, so a resolved config loads back as a config. */
#ifndef BS_CONFIG_H
#define BS_CONFIG_H

#include <cJSON.h>
#include <stdint.h>

#include "core/error.h"
#include "data/corrupt.h"
#include "models/arch.h"
#include "models/norm_plan.h"
#include "train/schedule.h"
#include "train/trainer.h"

typedef enum { DS_CIFAR10, DS_CIFAR100, DS_FASHION_MNIST, DS_MNIST, DS_IMAGEFOLDER, DS_SYNTHETIC } DatasetKind;
typedef enum { FROM_TRAIN, FROM_TEST } SetSource;
typedef enum { OPTIMIZER_SGD } OptimizerKind;
/* Which sets data.corruption corrupts: the evaluated test set S', the
 * training set S, or both. */
typedef enum { CORRUPT_TEST, CORRUPT_TRAIN, CORRUPT_BOTH } CorruptApply;

#define CONFIG_MAX_LIST ARCH_MAX_LAYERS
#define CONFIG_PATH_MAX 1024
/* A config.resolved.json read whole is never larger than this. */
#define CONFIG_FILE_MAX ((size_t)16 << 20)

/* How BN layers of a data-parallel run (mpirun -np K) take batch
 * statistics: each rank its own share of the batch (PyTorch DDP's
 * default; each rank keeps its own running estimates), or the whole
 * global batch through all-reduced sums (torch.nn.SyncBatchNorm). */
typedef enum { BN_SYNC_LOCAL, BN_SYNC_SYNC } BnSync;

typedef struct {
    char name[128];
    int seed;
    struct {
        DatasetKind dataset;
        char root[CONFIG_PATH_MAX]; /* "" = the dataset's default root */
        SetSource train_from, test_from;
        int train_subset, eval_subset; /* 0 = all */
        int augment, flip, normalize;  /* flip's default: false for mnist */
        struct {
            int train, test, channels, size, classes;
            double noise;
        } synthetic;
        struct {
            CorruptionType type; /* CORRUPT_NONE: clean data */
            int severity;        /* 1..5 */
            CorruptApply apply_to;
        } corruption;
    } data;
    ModelSpec model; /* models/arch.h: what the schema's model.* keys fill */
    struct {
        int epochs, batch_size;
        OptimizerKind optimizer;
        double lr, momentum;
        int nesterov;
        double weight_decay;
        int wd_norm;
        struct {
            ScheduleType type;
            int milestones[SCHED_MAX_MILESTONES], n_milestones;
            double gamma;
            int warmup_epochs;
        } schedule;
        double bn_momentum, bn_eps, grad_clip; /* grad_clip 0 = off */
        double label_smoothing;
        BnEstimator bn_estimator;
        BnCumulativeReset bn_cumulative_reset;
        BnSync bn_sync; /* data-parallel runs (mpirun) only */
    } train;
    struct {
        char out[CONFIG_PATH_MAX]; /* "runs/NAME": NAME is replaced by name */
        int eval_every, checkpoint_every;
        int eval_train, eval_test; /* log.eval_sets */
        int bstat;                 /* log.bstat: the batch-statistics pass */
    } log;
} Config;

/* REFERENCE.md §3's defaults (data.flip true; config_load resolves it per dataset). */
void config_defaults(Config *c);

/* Defaults, then the file at path (NULL: none), then the n_sets --set
 * assignments in order ("key.path=value"; the value is parsed as JSON when
 * it parses, else taken as a bare string, and string keys always take the
 * text as written unless it is a quoted JSON string), then the checks.
 * Errors are BS_ERR_USER with one line naming the file (or "--set") and the
 * key path; BS_ERR_RUNTIME only when out of memory. */
int config_load(Config *c, const char *path, char *const *sets, int n_sets, BsError *err);

/* The resolved config, every key with its value, in a fixed key order.
 * Caller frees with cJSON_Delete; NULL when out of memory. */
cJSON *config_to_json(const Config *c);

/* Writes config_to_json plus a "meta" member (meta may be NULL), pretty
 * printed, to path via path.tmp, fsync and rename. BS_ERR_RUNTIME on I/O
 * failure. */
int config_write_resolved(const Config *c, const cJSON *meta, const char *path, BsError *err);

/* FNV-1a 64 of the canonical JSON of the config without train.epochs and
 * log.*: what a resume must not change (REFERENCE.md §4). */
uint64_t config_hash(const Config *c);
/* config_hash of the config file at path as it is (no --set): what a run
 * directory's config.resolved.json says its checkpoint must carry. */
int config_file_hash(const char *path, uint64_t *hash, BsError *err);

/* Every key of the schema, one Markdown table row a key (full dotted name,
 * type, default, allowed values, meaning): `bnshift help config` and the
 * table in docs/REFERENCE.md. Caller frees; NULL when out of memory. */
char *config_reference_table(void);

/* The data root after defaults ("" resolved per dataset). */
const char *config_data_root(const Config *c);
/* "cifar10", "fashion-mnist", ... for messages and metadata. */
const char *config_dataset_name(DatasetKind kind);

#endif
