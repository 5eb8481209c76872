#include "config.h"
#include "io/fsutil.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Enum fields are written through the generic key table as ints. */
_Static_assert(sizeof(DatasetKind) == sizeof(int), "enum size");
_Static_assert(sizeof(SetSource) == sizeof(int), "enum size");
_Static_assert(sizeof(Arch) == sizeof(int), "enum size");
_Static_assert(sizeof(ShortcutKind) == sizeof(int), "enum size");
_Static_assert(sizeof(NormVariant) == sizeof(int), "enum size");
_Static_assert(sizeof(StemNorm) == sizeof(int), "enum size");
_Static_assert(sizeof(BlockKind) == sizeof(int), "enum size");
_Static_assert(sizeof(InceptionVersion) == sizeof(int), "enum size");
_Static_assert(sizeof(CorruptionType) == sizeof(int), "enum size");
_Static_assert(sizeof(CorruptApply) == sizeof(int), "enum size");
_Static_assert(sizeof(BnEstimator) == sizeof(int), "enum size");
_Static_assert(sizeof(BnCumulativeReset) == sizeof(int), "enum size");
_Static_assert(sizeof(OptimizerKind) == sizeof(int), "enum size");
_Static_assert(sizeof(ScheduleType) == sizeof(int), "enum size");

/* ---- the schema: one row per key ---------------------------------------- */

/* Indexed by the enum values, so the names cannot drift from the enums. */
static const char *const DATASETS[] = {[DS_CIFAR10] = "cifar10",   [DS_CIFAR100] = "cifar100",
                                       [DS_FASHION_MNIST] = "fashion-mnist", [DS_MNIST] = "mnist",
                                       [DS_IMAGEFOLDER] = "imagefolder", [DS_SYNTHETIC] = "synthetic",
                                       NULL};
static const char *const SOURCES[] = {[FROM_TRAIN] = "train", [FROM_TEST] = "test", NULL};
static const char *const ARCHS[] = {[ARCH_RESNET] = "resnet",           [ARCH_VGG] = "vgg",
                                    [ARCH_MLP] = "mlp",                 [ARCH_RESNEXT] = "resnext",
                                    [ARCH_MOBILENETV2] = "mobilenetv2", [ARCH_SHUFFLENETV2] = "shufflenetv2",
                                    [ARCH_ALEXNET] = "alexnet",         [ARCH_INCEPTION] = "inception",
                                    NULL};
static const char *const INCEPTIONS[] = {[INCEPTION_V2] = "v2", [INCEPTION_V3] = "v3", NULL};
static const char *const BLOCKS[] = {[BLOCK_BASIC] = "basic", [BLOCK_BOTTLENECK] = "bottleneck", NULL};
static const char *const SHORTCUTS[] = {[SHORTCUT_PROJECTION] = "projection", [SHORTCUT_IDENTITY] = "identity",
                                        NULL};
static const char *const NORMS[] = {[VARIANT_BN] = "bn", [VARIANT_GNBN] = "gnbn", [VARIANT_XBNBLOCK] = "xbnblock",
                                    [VARIANT_GN] = "gn", [VARIANT_LN] = "ln",     [VARIANT_IN] = "in",
                                    [VARIANT_NONE] = "none", [VARIANT_IBN] = "ibn", [VARIANT_LRN] = "lrn", NULL};
static const char *const BFNS[] = {[BFN_GN] = "gn", [BFN_LN] = "ln", [BFN_IN] = "in", [BFN_LRN] = "lrn", NULL};
static const char *const LRN_MODES[] = {[LRN_ACROSS] = "across", [LRN_WITHIN] = "within", NULL};
static const char *const STEMS[] = {[STEM_AUTO] = "auto", [STEM_BN] = "bn", [STEM_GN] = "gn", [STEM_NONE] = "none",
                                    NULL};
static const char *const SCHEDULES[] = {[SCHED_CONSTANT] = "constant", [SCHED_MULTISTEP] = "multistep",
                                        [SCHED_COSINE] = "cosine", NULL};
static const char *const OPTIMIZERS[] = {[OPTIMIZER_SGD] = "sgd", NULL};
static const char *const BN_ESTIMATORS[] = {[BN_EST_EMA] = "ema", [BN_EST_CUMULATIVE] = "cumulative", NULL};
static const char *const BN_SYNCS[] = {[BN_SYNC_LOCAL] = "local", [BN_SYNC_SYNC] = "sync", NULL};
static const char *const BN_RESETS[] = {[BN_RESET_EPOCH] = "epoch", [BN_RESET_NEVER] = "never", NULL};
static const char *const CORRUPT_APPLY[] = {[CORRUPT_TEST] = "test", [CORRUPT_TRAIN] = "train",
                                            [CORRUPT_BOTH] = "both", NULL};

typedef enum { K_INT, K_FLOAT, K_BOOL, K_STRING, K_ENUM, K_INT_LIST, K_SETS } KeyType;

enum { OPEN_LO = 1, OPEN_HI = 2 }; /* a range bound that is excluded */

typedef struct {
    const char *path;
    KeyType type;
    size_t off, off2;         /* off2: K_INT_LIST length, K_SETS the "test" flag */
    double lo, hi;            /* allowed values (list entries); HUGE_VAL: no upper bound */
    int open;                 /* OPEN_LO | OPEN_HI */
    const char *const *names; /* K_ENUM values */
    size_t cap;               /* K_STRING buffer size, K_INT_LIST capacity */
    int allow_m;              /* K_INT_LIST: "M" allowed (vgg max-pool) */
    const char *doc;          /* one line for `bnshift help config` and docs/REFERENCE.md */
} Key;

#define F(field) offsetof(Config, field)
#define INT_KEY(p, f, l, h, d) {.path = p, .type = K_INT, .off = F(f), .lo = l, .hi = h, .doc = d}
#define FLT_KEY(p, f, l, h, o, d) {.path = p, .type = K_FLOAT, .off = F(f), .lo = l, .hi = h, .open = o, .doc = d}
#define BOOL_KEY(p, f, d) {.path = p, .type = K_BOOL, .off = F(f), .doc = d}
#define STR_KEY(p, f, d) {.path = p, .type = K_STRING, .off = F(f), .cap = sizeof(((Config *)0)->f), .doc = d}
#define ENUM_KEY(p, f, n, d) {.path = p, .type = K_ENUM, .off = F(f), .names = n, .doc = d}
#define LIST_KEY(p, f, nf, l, h, m, d)                                                                  \
    {.path = p, .type = K_INT_LIST, .off = F(f), .off2 = F(nf), .lo = l, .hi = h,                     \
     .cap = sizeof(((Config *)0)->f) / sizeof(int), .allow_m = m, .doc = d}
#define NOLIM HUGE_VAL
#define IMAX ((double)INT_MAX)

/* The order here is the order of config.resolved.json and of the hash. */
static const Key KEYS[] = {
    STR_KEY("name", name, "run name: labels tables and fills NAME in log.out (printable characters only)"),
    INT_KEY("seed", seed, 0, IMAX, "seed of model init, data selection, shuffling and augmentation (separate streams)"),
    ENUM_KEY("data.dataset", data.dataset, DATASETS, "which data set to load"),
    STR_KEY("data.root", data.root, "folder holding the data files; empty: the dataset's default (fashion-mnist: /usr/share/datasets/fashion-mnist, cifar10: data/cifar-10-batches-bin, cifar100: data/cifar-100-binary, mnist: data/mnist, imagefolder: data/images)"),
    ENUM_KEY("data.train_from", data.train_from, SOURCES, "source of the training set S: the train split, or the test split (the paper's distribution-shift setting)"),
    INT_KEY("data.train_subset", data.train_subset, 0, IMAX, "train on this many samples drawn (seeded) from train_from; 0: all"),
    ENUM_KEY("data.test_from", data.test_from, SOURCES, "set evaluated as \"test\": the test split, or S itself (test_from train: the paper's S' = S setting)"),
    BOOL_KEY("data.augment", data.augment, "4-pixel zero-pad random crop (plus flips when flip) while training"),
    BOOL_KEY("data.flip", data.flip, "horizontal flips in augmentation; default true, false for mnist"),
    BOOL_KEY("data.normalize", data.normalize, "normalize each channel with the mean/std of S"),
    INT_KEY("data.eval_subset", data.eval_subset, 0, IMAX, "score each evaluation set on this many samples (seeded by seed and the set name alone); 0: all"),
    INT_KEY("data.synthetic.train", data.synthetic.train, 2, 10000000, "synthetic: training images"),
    INT_KEY("data.synthetic.test", data.synthetic.test, 1, 10000000, "synthetic: test images"),
    INT_KEY("data.synthetic.channels", data.synthetic.channels, 1, 64, "synthetic: channels per image"),
    INT_KEY("data.synthetic.size", data.synthetic.size, 1, 1024, "synthetic: image height and width"),
    INT_KEY("data.synthetic.classes", data.synthetic.classes, 2, 1000, "synthetic: number of classes"),
    FLT_KEY("data.synthetic.noise", data.synthetic.noise, 0, NOLIM, 0, "synthetic: noise standard deviation over the class patterns"),
    ENUM_KEY("data.corruption.type", data.corruption.type, corruption_names, "corrupt images in the style of CIFAR-10-C (seeded by seed; `bnshift corruptions` lists the formulas); none: clean data"),
    INT_KEY("data.corruption.severity", data.corruption.severity, 1, 5, "corruption severity 1 (mild) .. 5 (strong)"),
    ENUM_KEY("data.corruption.apply_to", data.corruption.apply_to, CORRUPT_APPLY, "corrupt the evaluated test set S', the training set S, or both"),
    ENUM_KEY("model.arch", model.arch, ARCHS, "network family: CIFAR ResNet, VGG-style conv stack, MLP, ResNeXt, MobileNetV2, ShuffleNetV2, AlexNet or BN-Inception (docs/REFERENCE.md section 3)"),
    INT_KEY("model.depth", model.depth, 1, 10000, "resnet depth 6n+2 (basic: 8, 14, 20, 32, 44, 56, 110) or 9n+2 (bottleneck and resnext: 11, 20, 29, 56, 164)"),
    INT_KEY("model.width", model.width, 1, 4096, "resnet/resnext width of the first stage (stages w, 2w, 4w; bottleneck outputs x4); alexnet conv widths w, 3w, 6w, 4w, 4w and fc 16w (64: torchvision's); inception widths scale by w/16"),
    ENUM_KEY("model.block", model.block, BLOCKS, "resnet block: basic (3x3, 3x3) or bottleneck (1x1, 3x3, 1x1 expanding x4)"),
    INT_KEY("model.cardinality", model.cardinality, 1, 4096, "resnext: groups of each block's 3x3 convolution"),
    INT_KEY("model.group_width", model.group_width, 1, 65536, "resnext: channels per group in stage 1, doubling each stage (inner width cardinality x group_width x 2^stage)"),
    ENUM_KEY("model.shortcut", model.shortcut, SHORTCUTS, "resnet/resnext shortcut where the shape changes: 1x1 conv + norm, or option A (subsample, zero-pad)"),
    ENUM_KEY("model.norm", model.norm, NORMS, "norm placement: bn everywhere, gnbn (GN at odd norm positions), xbnblock (GN at one norm of each block: see model.xbn_position; the depthwise norms of mobilenetv2/shufflenetv2), gn/ln/in everywhere, none, ibn (IBN-Net-a on resnet/resnext: the first norm of every block but the last stage's is InstanceNorm on half the channels and BN on the rest), lrn everywhere (AlexNet's original; model.lrn)"),
    INT_KEY("model.xbn_position", model.xbn_position, 0, 3, "xbnblock on resnet/resnext: which norm of each block becomes GN (basic 1-2, bottleneck 1-3); 0: the family's (basic 1, bottleneck 2)"),
    ENUM_KEY("model.inception", model.inception, INCEPTIONS, "inception: v2 (BN-Inception: 3x3 convs) or v3 (every stride-1 3x3 after a branch's first conv factorized into 1x3 -> 3x1)"),
    BOOL_KEY("model.norm_all", model.norm_all, "alexnet: a norm after the ReLU of every conv, not only conv1 and conv2 (where AlexNet has LRN)"),
    FLT_KEY("model.width_mult", model.width_mult, 0, 16, OPEN_LO, "mobilenetv2 width multiplier (any > 0), shufflenetv2 width (0.5, 1.0, 1.5, 2.0)"),
    INT_KEY("model.groups", model.groups, 1, 65536, "GroupNorm groups (min(groups, C) are used; must divide C); default 32, mobilenetv2 16, shufflenetv2 8 (29 at width 1.0, 2 at 2.0), alexnet 16, inception 8"),
    ENUM_KEY("model.stem_norm", model.stem_norm, STEMS, "the stem's norm: auto (the variant's rule), bn, gn (the batch-free norm of model.bfn) or none"),
    ENUM_KEY("model.bfn", model.bfn, BFNS, "the batch-free norm gnbn and xbnblock put in their batch-free positions (and stem_norm gn): GroupNorm, LayerNorm, InstanceNorm or LRN (model.lrn)"),
    ENUM_KEY("model.lrn.mode", model.lrn.mode, LRN_MODES, "LRN window: across channels (AlexNet: channels c-n/2..c+n/2) or within a channel (positions y+-n/2, x+-n/2)"),
    INT_KEY("model.lrn.size", model.lrn.size, 1, 4096, "LRN window size n (AlexNet: 5)"),
    FLT_KEY("model.lrn.alpha", model.lrn.alpha, 0, NOLIM, 0, "LRN alpha: b = a / (k + alpha * sum a^2)^beta (torch's LocalResponseNorm alpha is this times size)"),
    FLT_KEY("model.lrn.beta", model.lrn.beta, 0, NOLIM, 0, "LRN beta (AlexNet: 0.75)"),
    FLT_KEY("model.lrn.k", model.lrn.k, 0, NOLIM, 0, "LRN k (AlexNet: 2); k = 0 needs inputs that are never all zero in a window"),
    LIST_KEY("model.hidden", model.hidden, model.n_hidden, 1, 1 << 20, 0, "mlp hidden layer widths"),
    LIST_KEY("model.channels", model.channels, model.n_channels, 1, 65536, 1, "vgg conv widths, \"M\" for a 2x2 max-pool"),
    INT_KEY("model.num_classes", model.num_classes, 0, 100000, "classifier outputs; 0: the data's class count"),
    INT_KEY("train.epochs", train.epochs, 1, 100000, "epochs to train (may change on --resume)"),
    INT_KEY("train.batch_size", train.batch_size, 2, 1 << 20, "mini-batch size (a last incomplete batch is dropped)"),
    ENUM_KEY("train.optimizer", train.optimizer, OPTIMIZERS, "optimizer (torch.optim.SGD semantics)"),
    FLT_KEY("train.lr", train.lr, 0, NOLIM, OPEN_LO, "base learning rate"),
    FLT_KEY("train.momentum", train.momentum, 0, 1, OPEN_HI, "SGD momentum"),
    BOOL_KEY("train.nesterov", train.nesterov, "Nesterov momentum"),
    FLT_KEY("train.weight_decay", train.weight_decay, 0, NOLIM, 0, "L2 weight decay added to the gradient"),
    BOOL_KEY("train.wd_norm", train.wd_norm, "also decay norm gamma/beta and biases (PyTorch's default)"),
    ENUM_KEY("train.schedule.type", train.schedule.type, SCHEDULES, "learning-rate schedule (per step, like PyTorch's per-epoch schedulers stepped each epoch)"),
    LIST_KEY("train.schedule.milestones", train.schedule.milestones, train.schedule.n_milestones, 0, 100000, 0, "multistep: epochs where lr is multiplied by gamma (increasing)"),
    FLT_KEY("train.schedule.gamma", train.schedule.gamma, 0, NOLIM, OPEN_LO, "multistep: lr factor at each milestone"),
    INT_KEY("train.schedule.warmup_epochs", train.schedule.warmup_epochs, 0, 100000, "linear warm-up epochs before the schedule"),
    FLT_KEY("train.bn_momentum", train.bn_momentum, 0, 1, 0, "BN running-statistics momentum m: r = (1-m) r + m batch_stat"),
    ENUM_KEY("train.bn_estimator", train.bn_estimator, BN_ESTIMATORS, "how training updates BN's running statistics: ema (r = (1-m) r + m b, m = train.bn_momentum) or cumulative (PyTorch's momentum=None: the t-th batch weighs 1/t, an equal-weight average of the batches)"),
    ENUM_KEY("train.bn_cumulative_reset", train.bn_cumulative_reset, BN_RESETS, "cumulative: restart the average at each epoch (its batches only) or never (every batch of the run)"),
    ENUM_KEY("train.bn_sync", train.bn_sync, BN_SYNCS, "data-parallel runs (mpirun -np K, a make MPI=1 build): local (each rank normalizes with the statistics of its own batch/K samples and keeps its own running estimates, as PyTorch DDP) or sync (SyncBatchNorm: statistics of the whole global batch, summed over the ranks); no effect on one process"),
    FLT_KEY("train.bn_eps", train.bn_eps, 0, NOLIM, OPEN_LO, "epsilon of every norm layer"),
    FLT_KEY("train.grad_clip", train.grad_clip, 0, NOLIM, 0, "clip the global gradient L2 norm to this (torch clip_grad_norm_); 0: off"),
    FLT_KEY("train.label_smoothing", train.label_smoothing, 0, 1, OPEN_HI, "label smoothing epsilon of the loss (torch CrossEntropyLoss(label_smoothing)); also in the logged losses; 0: off"),
    STR_KEY("log.out", log.out, "output directory; NAME is replaced by name (--out overrides)"),
    INT_KEY("log.eval_every", log.eval_every, 1, 100000, "evaluate (errors and shift) every this many epochs, and at the last"),
    {.path = "log.eval_sets", .type = K_SETS, .off = F(log.eval_train), .off2 = F(log.eval_test), .names = SOURCES, .doc = "sets evaluated: \"train\" (S without augmentation) and/or \"test\" (S')"},
    INT_KEY("log.checkpoint_every", log.checkpoint_every, 1, 100000, "write checkpoint.bin every this many epochs, and at the last"),
    BOOL_KEY("log.bstat", log.bstat, "each evaluation also runs the set with BN in training mode (batch statistics, running estimates untouched): metrics.csv's *_bstat_* columns; false leaves them empty and an evaluated epoch of the demo config ~25% shorter"),
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* Keys added after runs were made: left out of config_hash while at their
 * default, so the checkpoints of older runs still resume. */
static const char *const ADDED_KEYS[] = {"model.block",      "model.cardinality", "model.group_width",
                                         "model.xbn_position", "model.width_mult",  "model.bfn",
                                         "model.lrn.mode",   "model.lrn.size",    "model.lrn.alpha",
                                         "model.lrn.beta",   "model.lrn.k",       "train.label_smoothing",
                                         "model.inception",  "model.norm_all",    "data.corruption.type",
                                         "data.corruption.severity", "data.corruption.apply_to",
                                         "train.bn_estimator", "train.bn_cumulative_reset", "train.bn_sync"};

static int added_later(const char *path)
{
    for (size_t i = 0; i < sizeof ADDED_KEYS / sizeof ADDED_KEYS[0]; i++)
        if (!strcmp(ADDED_KEYS[i], path))
            return 1;
    return 0;
}

void config_defaults(Config *c)
{
    static const int hidden[] = {256, 256, 256, 256};
    static const int channels[] = {64, 64, ARCH_MAXPOOL, 128, 128, ARCH_MAXPOOL, 256, 256, ARCH_MAXPOOL};
    memset(c, 0, sizeof *c); /* also zeroes padding, so equal configs compare equal bytewise */
    snprintf(c->name, sizeof c->name, "resnet20-bn-cifar10");
    c->seed = 1;
    c->data.dataset = DS_CIFAR10;
    c->data.train_from = FROM_TRAIN;
    c->data.test_from = FROM_TEST;
    c->data.augment = c->data.flip = c->data.normalize = 1;
    c->data.synthetic.train = 512;
    c->data.synthetic.test = 256;
    c->data.synthetic.channels = 3;
    c->data.synthetic.size = 32;
    c->data.synthetic.classes = 10;
    c->data.synthetic.noise = 0.6;
    c->data.corruption.severity = 3;
    c->model.arch = ARCH_RESNET;
    c->model.depth = 20;
    c->model.width = 16;
    c->model.shortcut = SHORTCUT_PROJECTION;
    c->model.norm = VARIANT_BN;
    c->model.groups = 32;
    c->model.block = BLOCK_BASIC;
    c->model.cardinality = 8;
    c->model.group_width = 4;
    c->model.width_mult = 1.0;
    c->model.stem_norm = STEM_AUTO;
    c->model.bfn = BFN_GN;
    c->model.lrn.mode = LRN_ACROSS; /* AlexNet's constants */
    c->model.lrn.size = 5;
    c->model.lrn.alpha = 1e-4;
    c->model.lrn.beta = 0.75;
    c->model.lrn.k = 2.0;
    memcpy(c->model.hidden, hidden, sizeof hidden);
    c->model.n_hidden = (int)(sizeof hidden / sizeof hidden[0]);
    memcpy(c->model.channels, channels, sizeof channels);
    c->model.n_channels = (int)(sizeof channels / sizeof channels[0]);
    c->train.epochs = 160;
    c->train.batch_size = 128;
    c->train.optimizer = OPTIMIZER_SGD;
    c->train.lr = 0.1;
    c->train.momentum = 0.9;
    c->train.weight_decay = 1e-4;
    c->train.wd_norm = 1;
    c->train.schedule.type = SCHED_MULTISTEP;
    c->train.schedule.milestones[0] = 80;
    c->train.schedule.milestones[1] = 120;
    c->train.schedule.n_milestones = 2;
    c->train.schedule.gamma = 0.1;
    c->train.bn_momentum = 0.1;
    c->train.bn_eps = 1e-5;
    snprintf(c->log.out, sizeof c->log.out, "runs/NAME");
    c->log.eval_every = 1;
    c->log.checkpoint_every = 1;
    c->log.eval_train = c->log.eval_test = 1;
    c->log.bstat = 1;
}

/* Field access by offset; memcpy keeps it free of aliasing questions. */
static int get_int(const Config *c, size_t off)
{
    int v;
    memcpy(&v, (const char *)c + off, sizeof v);
    return v;
}
static void put_int(Config *c, size_t off, int v) { memcpy((char *)c + off, &v, sizeof v); }
static double get_double(const Config *c, size_t off)
{
    double v;
    memcpy(&v, (const char *)c + off, sizeof v);
    return v;
}
static void put_double(Config *c, size_t off, double v) { memcpy((char *)c + off, &v, sizeof v); }

/* ---- messages ----------------------------------------------------------- */

/* Where values came from, so a message can blame the file or a --set. */
typedef struct {
    const char *file; /* the config path, or "config" without a file */
    char *const *sets;
    int n_sets;
    BsError *err;
} Ctx;

/* "--set" when the last assignment covering path (itself, a section above
 * it, or the list it indexes) was a --set, else the file. */
static const char *where(const Ctx *x, const char *path)
{
    for (int i = x->n_sets - 1; i >= 0; i--) {
        const char *eq = strchr(x->sets[i], '=');
        size_t n = eq ? (size_t)(eq - x->sets[i]) : 0;
        if (n && !strncmp(x->sets[i], path, n) && strchr(".[", path[n]))
            return "--set";
    }
    return x->file;
}

static int edit_distance(const char *a, const char *b)
{
    enum { MAXLEN = 127 };
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAXLEN || lb > MAXLEN)
        return INT_MAX / 2;
    int prev[MAXLEN + 1], cur[MAXLEN + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (lb + 1));
    }
    return prev[lb];
}

static const char *leaf_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* How far path is from the known name cand. A right leaf in the wrong
 * section ("depth" at the top level) counts as one edit. */
static int key_distance(const char *path, const char *cand)
{
    int d = edit_distance(path, cand);
    int dl = edit_distance(leaf_of(path), leaf_of(cand)) + 1;
    return dl < d ? dl : d;
}

/* The known key or section closest to path into *best (a buffer of cap),
 * or "" when none is close enough to be a likely typo. */
static void closest_key(const char *path, char *best, size_t cap)
{
    int best_d = INT_MAX;
    best[0] = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        /* the key itself, then each section above it ("train.schedule", "train") */
        char cand[128];
        snprintf(cand, sizeof cand, "%s", KEYS[i].path);
        for (char *dot = cand;; *dot = 0) {
            int d = key_distance(path, cand);
            if (d < best_d) {
                best_d = d;
                snprintf(best, cap, "%s", cand);
            }
            if (!(dot = strrchr(cand, '.')))
                break;
        }
    }
    if (best_d > 1 + (int)strlen(leaf_of(path)) / 3)
        best[0] = 0;
}

static int unknown_key(const char *src, const char *path, BsError *err)
{
    char best[128];
    closest_key(path, best, sizeof best);
    if (best[0])
        return bs_fail(err, BS_ERR_USER, "%s: unknown key '%s' (did you mean '%s'?)", src, path, best);
    return bs_fail(err, BS_ERR_USER, "%s: unknown key '%s'", src, path);
}

/* The value as JSON text, shortened: what the user wrote. */
static void value_text(const cJSON *v, char *buf, size_t cap)
{
    char *s = cJSON_PrintUnformatted(v);
    if (!s)
        snprintf(buf, cap, "(unprintable)");
    else if (strlen(s) >= cap)
        snprintf(buf, cap, "%.*s...", (int)cap - 4, s);
    else
        snprintf(buf, cap, "%s", s);
    cJSON_free(s);
}

static int type_error(const Ctx *x, const char *path, const char *want, const cJSON *v)
{
    char got[64];
    value_text(v, got, sizeof got);
    return bs_fail(x->err, BS_ERR_USER, "%s: %s: expected %s, got %s", where(x, path), path, want, got);
}

static int in_range(const Key *k, double v)
{
    int lo_ok = (k->open & OPEN_LO) ? v > k->lo : v >= k->lo;
    int hi_ok = (k->open & OPEN_HI) ? v < k->hi : v <= k->hi;
    return lo_ok && hi_ok;
}

static int range_error(const Ctx *x, const char *path, const Key *k, const cJSON *v)
{
    char want[96], got[64];
    const char *lo_op = (k->open & OPEN_LO) ? ">" : ">=";
    if (k->hi == NOLIM || (k->hi == IMAX && v->valuedouble < k->lo))
        snprintf(want, sizeof want, "%s %.10g", lo_op, k->lo);
    else
        snprintf(want, sizeof want, "in %c%.10g, %.10g%c", (k->open & OPEN_LO) ? '(' : '[', k->lo, k->hi,
                 (k->open & OPEN_HI) ? ')' : ']');
    value_text(v, got, sizeof got);
    return bs_fail(x->err, BS_ERR_USER, "%s: %s: must be %s, got %s", where(x, path), path, want, got);
}

/* ---- reading values ----------------------------------------------------- */

static int read_int(const Ctx *x, const char *path, const Key *k, const cJSON *v, int *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return type_error(x, path, "an integer", v);
    if (!in_range(k, v->valuedouble))
        return range_error(x, path, k, v);
    *out = (int)v->valuedouble;
    return BS_OK;
}

static int read_float(const Ctx *x, const char *path, const Key *k, const cJSON *v, double *out)
{
    if (!cJSON_IsNumber(v))
        return type_error(x, path, "a number", v);
    if (!isfinite(v->valuedouble))
        return bs_fail(x->err, BS_ERR_USER, "%s: %s: must be finite", where(x, path), path);
    if (!in_range(k, v->valuedouble))
        return range_error(x, path, k, v);
    /* The core computes in float32: a value that becomes inf or 0 there
     * would silently train with another number than the one given. */
    float f = (float)v->valuedouble;
    if (isinf(f) || (f == 0.0f && v->valuedouble != 0.0)) {
        char got[64];
        value_text(v, got, sizeof got);
        return bs_fail(x->err, BS_ERR_USER, "%s: %s: %s is %s in 32-bit floating point (magnitude must be %s)",
                       where(x, path), path, got, isinf(f) ? "infinite" : "zero",
                       isinf(f) ? "at most 3.4e38" : "at least 1.4e-45");
    }
    *out = v->valuedouble;
    return BS_OK;
}

/* Index of v's string in names, or an error listing them (and the closest). */
static int read_enum(const Ctx *x, const char *path, const char *const *names, const cJSON *v, int *out)
{
    if (!cJSON_IsString(v))
        return type_error(x, path, "a string", v);
    int best = 0, best_d = INT_MAX;
    char allowed[192] = "";
    for (int i = 0; names[i]; i++) {
        if (!strcmp(v->valuestring, names[i])) {
            *out = i;
            return BS_OK;
        }
        int d = edit_distance(v->valuestring, names[i]);
        if (d < best_d) {
            best_d = d;
            best = i;
        }
        size_t n = strlen(allowed);
        snprintf(allowed + n, sizeof allowed - n, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    char got[64], hint[64] = "";
    value_text(v, got, sizeof got);
    if (best_d <= 2 && best_d < (int)strlen(names[best]))
        snprintf(hint, sizeof hint, " (did you mean \"%s\"?)", names[best]);
    return bs_fail(x->err, BS_ERR_USER, "%s: %s: %s is not one of %s%s", where(x, path), path, got, allowed, hint);
}

static int read_string(const Ctx *x, const char *path, const Key *k, const cJSON *v, char *out)
{
    if (!cJSON_IsString(v))
        return type_error(x, path, "a string", v);
    if (strlen(v->valuestring) >= k->cap)
        return bs_fail(x->err, BS_ERR_USER, "%s: %s: longer than %zu characters", where(x, path), path, k->cap - 1);
    memset(out, 0, k->cap); /* no stale bytes after the string: configs compare bytewise */
    memcpy(out, v->valuestring, strlen(v->valuestring));
    return BS_OK;
}

static int read_list(const Ctx *x, const Key *k, const cJSON *v, Config *c)
{
    const char *want = k->allow_m ? "an array of integers and \"M\"" : "an array of integers";
    if (!cJSON_IsArray(v))
        return type_error(x, k->path, want, v);
    int n = cJSON_GetArraySize(v);
    if (n > (int)k->cap)
        return bs_fail(x->err, BS_ERR_USER, "%s: %s: %d entries, at most %zu", where(x, k->path), k->path, n, k->cap);
    int vals[CONFIG_MAX_LIST] = {0};
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char path[128];
        snprintf(path, sizeof path, "%s[%d]", k->path, i);
        if (k->allow_m && cJSON_IsString(e) && !strcmp(e->valuestring, "M"))
            vals[i] = ARCH_MAXPOOL;
        else if (k->allow_m && !cJSON_IsNumber(e))
            return type_error(x, path, "an integer or \"M\"", e);
        else if (read_int(x, path, k, e, &vals[i]))
            return x->err->code;
    }
    memcpy((char *)c + k->off, vals, sizeof(int) * k->cap); /* zero past n: bytewise-equal configs */
    put_int(c, k->off2, n);
    return BS_OK;
}

static int read_sets(const Ctx *x, const Key *k, const cJSON *v, Config *c)
{
    if (!cJSON_IsArray(v))
        return type_error(x, k->path, "an array of \"train\" and/or \"test\"", v);
    int flags[2] = {0, 0}, i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char path[128];
        int which;
        snprintf(path, sizeof path, "%s[%d]", k->path, i);
        if (read_enum(x, path, k->names, e, &which))
            return x->err->code;
        if (flags[which])
            return bs_fail(x->err, BS_ERR_USER, "%s: %s: \"%s\" is listed twice", where(x, k->path), k->path,
                           k->names[which]);
        flags[which] = 1;
    }
    if (!flags[FROM_TRAIN] && !flags[FROM_TEST])
        return bs_fail(x->err, BS_ERR_USER, "%s: %s: must name at least one of \"train\", \"test\"",
                       where(x, k->path), k->path);
    put_int(c, k->off, flags[FROM_TRAIN]);
    put_int(c, k->off2, flags[FROM_TEST]);
    return BS_OK;
}

static int apply_value(const Ctx *x, const Key *k, const cJSON *v, Config *c)
{
    int i = 0;
    double d = 0;
    switch (k->type) {
    case K_INT:
        if (read_int(x, k->path, k, v, &i))
            return x->err->code;
        put_int(c, k->off, i);
        return BS_OK;
    case K_FLOAT:
        if (read_float(x, k->path, k, v, &d))
            return x->err->code;
        put_double(c, k->off, d);
        return BS_OK;
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return type_error(x, k->path, "true or false", v);
        put_int(c, k->off, cJSON_IsTrue(v));
        return BS_OK;
    case K_STRING:
        return read_string(x, k->path, k, v, (char *)c + k->off);
    case K_ENUM:
        if (read_enum(x, k->path, k->names, v, &i))
            return x->err->code;
        put_int(c, k->off, i);
        return BS_OK;
    case K_INT_LIST:
        return read_list(x, k, v, c);
    case K_SETS:
        return read_sets(x, k, v, c);
    }
    return BS_OK;
}

static const Key *find_key(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].path, path))
            return &KEYS[i];
    return NULL;
}

/* Whether path names an object that holds keys ("data", "train.schedule"). */
static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_KEYS; i++)
        if (n && !strncmp(KEYS[i].path, path, n) && KEYS[i].path[n] == '.')
            return 1;
    return 0;
}

/* cJSON keeps both copies of a repeated key; a silent "last one wins" would
 * hide a typo'd edit, so it is an error. */
static int repeated(const cJSON *obj, const cJSON *m)
{
    for (const cJSON *p = obj->child; p != m; p = p->next)
        if (!strcmp(p->string, m->string))
            return 1;
    return 0;
}

/* Walks an object, applying each member at prefix.name. */
static int apply_object(const Ctx *x, const cJSON *obj, const char *prefix, Config *c)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", m->string);
        if (!*prefix && !strcmp(m->string, "meta"))
            continue; /* config.resolved.json's run metadata */
        if (repeated(obj, m))
            return bs_fail(x->err, BS_ERR_USER, "%s: %s: key given twice", where(x, path), path);
        const Key *k = find_key(path);
        if (k) {
            if (apply_value(x, k, m, c))
                return x->err->code;
        } else if (is_section(path)) {
            if (!cJSON_IsObject(m))
                return type_error(x, path, "an object", m);
            if (apply_object(x, m, path, c))
                return x->err->code;
        } else {
            return unknown_key(where(x, path), path, x->err);
        }
    }
    return BS_OK;
}

/* ---- the file ----------------------------------------------------------- */

/* The whole file, NUL-terminated; *len its size. */
static char *read_text(const char *path, size_t *len, BsError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bs_fail(err, BS_ERR_USER, "%s: cannot read config: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0, n;
    char chunk[8192];
    *len = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (*len + n + 1 > cap) {
            cap = (*len + n + 1) * 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the config", path);
                return NULL;
            }
            buf = p;
        }
        memcpy(buf + *len, chunk, n);
        *len += n;
    }
    int failed = ferror(f), e = errno;
    fclose(f);
    if (failed) { /* e.g. a directory */
        free(buf);
        bs_fail(err, BS_ERR_USER, "%s: cannot read config: %s", path, strerror(e));
        return NULL;
    }
    char *text = buf ? buf : malloc(1);
    if (!text)
        bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the config", path);
    else
        text[*len] = 0;
    return text;
}

/* "line L, column C near 'text'" for the parse error at `at`. */
static void describe_position(const char *text, const char *at, char *buf, size_t cap)
{
    int line = 1, col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char near[24];
    size_t n = 0;
    for (const char *p = at; *p && *p != '\n' && *p != '\r' && n < sizeof near - 1; p++)
        near[n++] = (*p >= 32 && *p < 127) ? *p : '?';
    near[n] = 0;
    if (n)
        snprintf(buf, cap, "line %d, column %d near '%s'", line, col, near);
    else
        snprintf(buf, cap, "line %d, column %d (unexpected end)", line, col);
}

static cJSON *parse_file(const char *path, BsError *err)
{
    size_t len;
    char *text = read_text(path, &len, err);
    if (!text)
        return NULL;
    cJSON *root = NULL;
    const char *end = NULL;
    if (strlen(text) != len) {
        bs_fail(err, BS_ERR_USER, "%s: not a JSON text (contains a NUL byte)", path);
    } else if (strspn(text, " \t\r\n") == len) {
        bs_fail(err, BS_ERR_USER, "%s: empty file, expected a JSON object", path);
    } else if (!(root = cJSON_ParseWithOpts(text, &end, 1))) {
        char pos[96];
        describe_position(text, end ? end : text, pos, sizeof pos);
        bs_fail(err, BS_ERR_USER, "%s: malformed JSON at %s", path, pos);
    } else if (!cJSON_IsObject(root)) {
        bs_fail(err, BS_ERR_USER, "%s: expected a JSON object at the top level", path);
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    return root;
}

/* ---- --set -------------------------------------------------------------- */

/* Moves src's members into dst, recursing where both hold an object, so
 * `--set train.schedule={"gamma":0.2}` edits one key, not the section. */
static void merge_objects(cJSON *dst, cJSON *src)
{
    while (src->child) {
        cJSON *m = cJSON_DetachItemViaPointer(src, src->child);
        cJSON *old = cJSON_GetObjectItemCaseSensitive(dst, m->string);
        if (old && cJSON_IsObject(old) && cJSON_IsObject(m)) {
            merge_objects(old, m);
            cJSON_Delete(m);
            continue;
        }
        while (cJSON_GetObjectItemCaseSensitive(dst, m->string))
            cJSON_DeleteItemFromObjectCaseSensitive(dst, m->string);
        cJSON_AddItemToObject(dst, m->string, m); /* cJSON copies the name */
    }
}

/* Puts value at the dotted key inside root, creating sections on the way.
 * Takes ownership of value. */
static int put_path(cJSON *root, char *key, cJSON *value, BsError *err)
{
    cJSON *obj = root;
    char *part = key, *dot;
    while ((dot = strchr(part, '.'))) {
        *dot = 0;
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!child || !cJSON_IsObject(child)) {
            while (cJSON_GetObjectItemCaseSensitive(obj, part))
                cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
            child = cJSON_AddObjectToObject(obj, part);
        }
        if (!child) {
            cJSON_Delete(value);
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory applying --set");
        }
        obj = child;
        part = dot + 1;
    }
    cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, part);
    if (old && cJSON_IsObject(old) && cJSON_IsObject(value)) {
        merge_objects(old, value);
        cJSON_Delete(value);
        return BS_OK;
    }
    while (cJSON_GetObjectItemCaseSensitive(obj, part))
        cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
    if (!cJSON_AddItemToObject(obj, part, value)) {
        cJSON_Delete(value);
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory applying --set");
    }
    return BS_OK;
}

/* The value as JSON when it parses whole, else the bare text; string keys
 * take the text as written unless it is quoted (`--set name=123`). */
static cJSON *set_value(const Key *k, const char *text)
{
    if (k && k->type == K_STRING && text[0] != '"')
        return cJSON_CreateString(text);
    cJSON *v = cJSON_ParseWithOpts(text, NULL, 1);
    return v ? v : cJSON_CreateString(text);
}

static int apply_set(cJSON *root, const char *assignment, BsError *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq)
        return bs_fail(err, BS_ERR_USER, "--set '%s': expected key.path=value", assignment);
    char key[256];
    size_t n = (size_t)(eq - assignment);
    if (n == 0)
        return bs_fail(err, BS_ERR_USER, "--set '%s': empty key, expected key.path=value", assignment);
    if (n >= sizeof key)
        return bs_fail(err, BS_ERR_USER, "--set: key '%.40s...' is too long", assignment);
    memcpy(key, assignment, n);
    key[n] = 0;
    const Key *k = find_key(key);
    if (!k && !is_section(key))
        return unknown_key("--set", key, err);
    cJSON *value = set_value(k, eq + 1);
    if (!value)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory applying --set");
    return put_path(root, key, value, err);
}

/* ---- checks across keys ------------------------------------------------- */

static int given(const cJSON *root, const char *section, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, section), key) != NULL;
}

/* What one family needs of the model keys (the builder checks the rest:
 * groups against the channel counts). */
static int validate_model(const Ctx *x, const ModelSpec *m)
{
    BsError *err = x->err;
    const int bottleneck = arch_bottleneck(m);
    const int step = bottleneck ? 9 : 6;
    if ((m->arch == ARCH_RESNET || m->arch == ARCH_RESNEXT) && (m->depth < step + 2 || (m->depth - 2) % step != 0))
        return bs_fail(err, BS_ERR_USER, "%s: model.depth: %d is not %dn+2 for a %s (%s)", where(x, "model.depth"),
                       m->depth, step,
                       m->arch == ARCH_RESNEXT ? "resnext" : bottleneck ? "bottleneck resnet" : "resnet",
                       bottleneck ? "11, 20, 29, 56, 110, 164" : "8, 14, 20, 32, 44, 56, 110");
    if (m->arch == ARCH_MLP && m->norm == VARIANT_IN)
        return bs_fail(err, BS_ERR_USER,
                       "%s: model.norm: \"in\" on an mlp would normalize one value per group; use \"ln\" or \"gn\"",
                       where(x, "model.norm"));
    if ((m->arch == ARCH_VGG || m->arch == ARCH_MLP || m->arch == ARCH_ALEXNET) && m->norm == VARIANT_XBNBLOCK)
        return bs_fail(err, BS_ERR_USER,
                       "%s: model.norm: \"xbnblock\" needs model.arch \"resnet\", \"resnext\", \"mobilenetv2\", "
                       "\"shufflenetv2\" or \"inception\"",
                       where(x, "model.norm"));
    if (m->norm == VARIANT_IBN && m->arch != ARCH_RESNET && m->arch != ARCH_RESNEXT)
        return bs_fail(err, BS_ERR_USER, "%s: model.norm: \"ibn\" (IBN-Net-a) needs model.arch \"resnet\" or "
                       "\"resnext\"", where(x, "model.norm"));
    if (m->xbn_position && m->arch != ARCH_RESNET && m->arch != ARCH_RESNEXT)
        return bs_fail(err, BS_ERR_USER, "%s: model.xbn_position: applies to resnet and resnext blocks only (%s "
                       "replaces its depthwise norms)", where(x, "model.xbn_position"), ARCHS[m->arch]);
    if (m->xbn_position == 3 && !bottleneck)
        return bs_fail(err, BS_ERR_USER, "%s: model.xbn_position: 3, but a basic block has 2 norms (model.block "
                       "\"bottleneck\" has 3)", where(x, "model.xbn_position"));
    if (m->arch == ARCH_SHUFFLENETV2 && m->width_mult != 0.5 && m->width_mult != 1.0 && m->width_mult != 1.5 &&
        m->width_mult != 2.0)
        return bs_fail(err, BS_ERR_USER, "%s: model.width_mult: %g, but shufflenetv2 has widths 0.5, 1.0, 1.5 "
                       "and 2.0", where(x, "model.width_mult"), m->width_mult);
    return BS_OK;
}

static int validate(const Ctx *x, const cJSON *root, Config *c)
{
    BsError *err = x->err;
    if (!c->name[0])
        return bs_fail(err, BS_ERR_USER, "%s: name: must not be empty", where(x, "name"));
    /* The name labels tables ("# <name>" lines) and messages: one line. */
    for (const unsigned char *p = (const unsigned char *)c->name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return bs_fail(err, BS_ERR_USER, "%s: name: control character 0x%02x; use printable characters only",
                           where(x, "name"), *p);

    if (!c->log.out[0])
        return bs_fail(err, BS_ERR_USER, "%s: log.out: must not be empty", where(x, "log.out"));
    if (validate_model(x, &c->model) != BS_OK)
        return err->code;
    if (!given(root, "model", "groups"))
        c->model.groups = arch_default_groups(c->model.arch, c->model.width_mult);
    const int *ms = c->train.schedule.milestones;
    for (int i = 1; i < c->train.schedule.n_milestones; i++)
        if (ms[i] <= ms[i - 1])
            return bs_fail(err, BS_ERR_USER, "%s: train.schedule.milestones: must be increasing, got %d after %d",
                           where(x, "train.schedule.milestones"), ms[i], ms[i - 1]);
    if (!given(root, "data", "flip"))
        c->data.flip = c->data.dataset != DS_MNIST; /* digits must not be mirrored */
    return BS_OK;
}

int config_load(Config *c, const char *path, char *const *sets, int n_sets, BsError *err)
{
    config_defaults(c);
    Ctx x = {path ? path : "config", sets, n_sets, err};
    cJSON *root = path ? parse_file(path, err) : cJSON_CreateObject();
    if (!root)
        return path ? err->code : bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    int rc = BS_OK;
    for (int i = 0; i < n_sets && rc == BS_OK; i++)
        rc = apply_set(root, sets[i], err);
    if (rc == BS_OK)
        rc = apply_object(&x, root, "", c);
    if (rc == BS_OK)
        rc = validate(&x, root, c);
    cJSON_Delete(root);
    return rc;
}

/* ---- writing ------------------------------------------------------------ */

/* Adds item to obj (array when name is NULL); frees it when that fails. */
static int add(cJSON *obj, const char *name, cJSON *item)
{
    if (obj && item && (name ? cJSON_AddItemToObject(obj, name, item) : cJSON_AddItemToArray(obj, item)))
        return 1;
    cJSON_Delete(item);
    return 0;
}

/* The object for path's sections (created as needed); *leaf its last part. */
static cJSON *section_for(cJSON *root, const char *path, const char **leaf)
{
    cJSON *obj = root;
    const char *part = path, *dot;
    while (obj && (dot = strchr(part, '.'))) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(dot - part), part);
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, name);
        obj = child ? child : cJSON_AddObjectToObject(obj, name);
        part = dot + 1;
    }
    *leaf = part;
    return obj;
}

static cJSON *list_json(const Key *k, const Config *c)
{
    cJSON *a = cJSON_CreateArray();
    const int n = get_int(c, k->off2);
    for (int i = 0; a && i < n; i++) {
        int v = get_int(c, k->off + sizeof(int) * (size_t)i);
        if (!add(a, NULL, v == ARCH_MAXPOOL && k->allow_m ? cJSON_CreateString("M") : cJSON_CreateNumber(v))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *sets_json(const Key *k, const Config *c)
{
    cJSON *a = cJSON_CreateArray();
    int ok = a != NULL;
    if (ok && get_int(c, k->off))
        ok = add(a, NULL, cJSON_CreateString(SOURCES[FROM_TRAIN]));
    if (ok && get_int(c, k->off2))
        ok = add(a, NULL, cJSON_CreateString(SOURCES[FROM_TEST]));
    if (!ok) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

static cJSON *value_json(const Key *k, const Config *c)
{
    switch (k->type) {
    case K_INT:
        return cJSON_CreateNumber(get_int(c, k->off));
    case K_FLOAT:
        return cJSON_CreateNumber(get_double(c, k->off));
    case K_BOOL:
        return cJSON_CreateBool(get_int(c, k->off));
    case K_STRING:
        return cJSON_CreateString((const char *)c + k->off);
    case K_ENUM:
        return cJSON_CreateString(k->names[get_int(c, k->off)]);
    case K_INT_LIST:
        return list_json(k, c);
    case K_SETS:
        return sets_json(k, c);
    }
    return NULL;
}

cJSON *config_to_json(const Config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; root && i < N_KEYS; i++) {
        const char *leaf;
        cJSON *obj = section_for(root, KEYS[i].path, &leaf);
        if (!add(obj, leaf, value_json(&KEYS[i], c))) {
            cJSON_Delete(root);
            return NULL;
        }
    }
    return root;
}

int config_write_resolved(const Config *c, const cJSON *meta, const char *path, BsError *err)
{
    cJSON *root = config_to_json(c);
    if (root && meta && !add(root, "meta", cJSON_Duplicate(meta, 1))) {
        cJSON_Delete(root);
        root = NULL;
    }
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    size_t n = strlen(text);
    char *file = malloc(n + 1);
    int rc = file ? BS_OK : bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", path);
    if (file) {
        memcpy(file, text, n);
        file[n] = '\n';
        rc = fs_write_atomic(path, file, n + 1, err);
    }
    free(file);
    cJSON_free(text);
    return rc;
}

/* Drops the keys added later (ADDED_KEYS) that hold their default value. */
/* Removes the objects below node that have no members left (a section
 * such as model.lrn whose keys were all dropped as defaults). */
static void prune_empty_sections(cJSON *node)
{
    cJSON *child = node ? node->child : NULL;
    while (child) {
        cJSON *next = child->next;
        if (cJSON_IsObject(child)) {
            prune_empty_sections(child);
            if (!child->child)
                cJSON_Delete(cJSON_DetachItemViaPointer(node, child));
        }
        child = next;
    }
}

static void drop_added_defaults(cJSON *root, const Config *c)
{
    Config *d = malloc(sizeof *d);
    if (!d)
        return;
    config_defaults(d);
    for (size_t i = 0; i < N_KEYS; i++) {
        if (!added_later(KEYS[i].path))
            continue;
        cJSON *mine = value_json(&KEYS[i], c), *dflt = value_json(&KEYS[i], d);
        const char *leaf;
        cJSON *obj = section_for(root, KEYS[i].path, &leaf);
        if (mine && dflt && cJSON_Compare(mine, dflt, 1))
            cJSON_DeleteItemFromObjectCaseSensitive(obj, leaf);
        cJSON_Delete(mine);
        cJSON_Delete(dflt);
    }
    free(d);
    prune_empty_sections(root);
}

uint64_t config_hash(const Config *c)
{
    cJSON *root = config_to_json(c);
    drop_added_defaults(root, c);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "train"), "epochs");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "log");
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    uint64_t h = rng_hash_string(text ? text : "");
    cJSON_free(text);
    return h;
}

int config_file_hash(const char *path, uint64_t *hash, BsError *err)
{
    Config *c = malloc(sizeof *c); /* large: not on the stack */
    if (!c)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    int rc = config_load(c, path, NULL, 0, err);
    if (rc == BS_OK)
        *hash = config_hash(c);
    free(c);
    return rc;
}

const char *config_dataset_name(DatasetKind kind)
{
    return (unsigned)kind < sizeof DATASETS / sizeof DATASETS[0] - 1 ? DATASETS[kind] : "?";
}

const char *config_data_root(const Config *c)
{
    if (c->data.root[0])
        return c->data.root;
    switch (c->data.dataset) {
    case DS_FASHION_MNIST:
        return "/usr/share/datasets/fashion-mnist"; /* Debian's dataset-fashion-mnist */
    case DS_CIFAR10:
        return "data/cifar-10-batches-bin";
    case DS_CIFAR100:
        return "data/cifar-100-binary";
    case DS_MNIST:
        return "data/mnist";
    case DS_IMAGEFOLDER:
        return "data/images";
    case DS_SYNTHETIC:
        break;
    }
    return "";
}

/* ---- the reference table ------------------------------------------------ */

/* The allowed values of k, in words. */
static void allowed_text(const Key *k, char *buf, size_t cap)
{
    const char *lo_op = (k->open & OPEN_LO) ? ">" : ">=";
    size_t n = 0;
    switch (k->type) {
    case K_INT:
    case K_FLOAT:
    case K_INT_LIST:
        if (k->type == K_INT_LIST)
            n = (size_t)snprintf(buf, cap, "up to %zu integers%s, each ", k->cap, k->allow_m ? " or \"M\"" : "");
        if (k->hi == NOLIM || k->hi == IMAX)
            snprintf(buf + n, cap - n, "%s %.10g", lo_op, k->lo);
        else
            snprintf(buf + n, cap - n, "in %c%.10g, %.10g%c", (k->open & OPEN_LO) ? '(' : '[', k->lo, k->hi,
                     (k->open & OPEN_HI) ? ')' : ']');
        break;
    case K_BOOL:
        snprintf(buf, cap, "true or false");
        break;
    case K_STRING:
        snprintf(buf, cap, "at most %zu characters", k->cap - 1);
        break;
    case K_ENUM:
    case K_SETS:
        buf[0] = '\0';
        for (int i = 0; k->names[i]; i++) {
            n = strlen(buf);
            snprintf(buf + n, cap - n, "%s\"%s\"", i ? ", " : "", k->names[i]);
        }
        if (k->type == K_SETS) {
            n = strlen(buf);
            snprintf(buf + n, cap - n, " (one or both)");
        }
        break;
    }
}

static const char *type_text(KeyType t)
{
    static const char *const names[] = {[K_INT] = "integer", [K_FLOAT] = "number", [K_BOOL] = "bool",
                                        [K_STRING] = "string", [K_ENUM] = "string", [K_INT_LIST] = "list",
                                        [K_SETS] = "list"};
    return names[t];
}

/* Appends printf-style text to the growing string *buf (len used, cap
 * allocated); -1 when out of memory (then *buf is freed and NULL). */
static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = *buf ? vsnprintf(*buf + *len, *cap - *len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return 0;
        }
        size_t ncap = *cap ? *cap * 2 : 4096;
        if (n >= 0 && ncap < *len + (size_t)n + 1)
            ncap = *len + (size_t)n + 1;
        char *nb = realloc(*buf, ncap);
        if (!nb) {
            free(*buf);
            *buf = NULL;
            return -1;
        }
        if (!*buf)
            nb[0] = '\0';
        *buf = nb;
        *cap = ncap;
    }
}

char *config_reference_table(void)
{
    Config d;
    config_defaults(&d);
    char *out = malloc(4096);
    size_t len = 0, cap = out ? 4096 : 0;
    if (!out || appendf(&out, &len, &cap, "| key | type | default | allowed | meaning |\n"
                                          "| --- | --- | --- | --- | --- |\n"))
        return NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        const Key *k = &KEYS[i];
        cJSON *v = value_json(k, &d);
        char *def = v ? cJSON_PrintUnformatted(v) : NULL;
        char allowed[256];
        allowed_text(k, allowed, sizeof allowed);
        int bad = appendf(&out, &len, &cap, "| `%s` | %s | `%s` | %s | %s |\n", k->path, type_text(k->type),
                          def ? def : "?", allowed, k->doc);
        cJSON_free(def);
        cJSON_Delete(v);
        if (bad)
            return NULL;
    }
    return out;
}
