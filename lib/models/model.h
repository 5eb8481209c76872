/* A network as a flat list of ops over numbered activation tensors (a DAG in
 * topological order, so residual blocks need no special casing). All
 * parameters live in one buffer and all gradients in another, so the
 * optimizer is one loop; activations live in one arena sized once for the
 * largest batch. */
#ifndef BS_MODEL_H
#define BS_MODEL_H

#include <stddef.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/rng.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/conv2d_onednn.h"
#include "layers/onednn_unary.h"
#include "layers/groupnorm.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/pool.h"
#include "layers/shortcut.h"
#include "models/ops.h"

typedef enum {
    OP_CONV,
    OP_LINEAR,
    OP_BN,
    OP_GN,
    OP_RELU,
    OP_MAXPOOL,
    OP_AVGPOOL,
    OP_ADD,
    OP_SHORTCUT, /* parameter-free option-A shortcut */
    OP_RELU6,
    OP_CONCAT,   /* channels of in, then of in2 */
    OP_CHSPLIT,  /* the even (parity 0) or odd channels of in */
    OP_LRN,      /* local response normalization (layers/lrn.h) */
    OP_CHSLICE,  /* channels first .. first + count - 1 of in */
    OP_N_BUILTIN /* registered kinds (op_type_register) follow */
} OpKind;

/* How convolutions run: im2col + OpenBLAS (the reference every test
 * compares against) or oneDNN (faster; only in `make BACKEND=onednn`). */
typedef enum { CONV_IM2COL, CONV_ONEDNN } ConvBackend;

typedef struct Op {
    OpKind kind; /* an index into the op table (ops.h) */
    char name[64];
    int in, in2, out; /* tensor ids; in2 only for OP_ADD and OP_CONCAT */
    /* Offsets into Model.params: weight (conv/linear) or gamma (norm), and
     * bias or beta; SIZE_MAX when absent. n_w / n_b their lengths. */
    size_t w_off, b_off, n_w, n_b;
    size_t stat_off; /* BN: running mean at stat_off, running var after it */
    int norm_depth;  /* norms: 1-based position among all norm positions */
    union {
        Conv2d conv;
        Linear lin;
        BatchNorm bn;
        GroupNorm gn;
        MaxPool2d pool;
        PadShortcut sc;
        int parity; /* OP_CHSPLIT */
        int first;  /* OP_CHSLICE (count: the output's channels) */
        int add_act; /* OP_ADD: activation applied to the sum (the ReLU after it, fused) */
        Lrn lrn;
    } u;
    float *save_mean, *save_invstd; /* norm statistics kept for backward */
    OneDnnConv *dnnl;                /* conv under CONV_ONEDNN */
    OneDnnUnary *dnnl_unary;         /* LRN (odd sizes) and max-pool under CONV_ONEDNN */
    int fused;    /* activation, or residual add, applied by the op before it */
    int residual; /* BN, GN: the tensor its forward adds (the residual add after it, fused), or -1 */
    /* BN, GN with `residual`, and the fused add after it: the add's backward
     * is the norm's, which writes the gradient once, to the residual's
     * buffer, and reads it from there as its dy (memory_plan.h). */
    int residual_dy;
    void *ctx;                       /* state of a registered kind (ops.h) */
} Op;

typedef struct {
    int c, h, w;         /* per-sample shape */
    int blocked;         /* data and grad layout: 0 NCHW, or BLOCKED_16C / BLOCKED_NHWC (layers/blocked.h) */
    int consumers;       /* ops reading it; >1 means gradients accumulate */
    float *data, *grad;  /* [max_batch][c][h][w], in the arena */
} Tensor;

typedef struct Model {
    Op *ops;
    int n_ops, cap_ops;
    Tensor *tensors;
    int n_tensors, cap_tensors;
    int output; /* logits tensor, set by model_finish */

    float *params, *grads;
    size_t n_params;
    size_t n_decay; /* params[0, n_decay) are conv/linear weights; the rest are
                       biases and norm gamma/beta (exempt when wd_norm is off) */
    float *stats;   /* BN running statistics */
    size_t n_stats;

    int max_batch;
    float label_smoothing; /* of the loss (softmax_xent.h); 0: plain cross-entropy */
    ConvBackend conv_backend;
    OneDnnEngine *dnnl;
    double *op_seconds; /* if set (by `bench`): time per op, forward + backward */
    float *ws, *scratch; /* conv workspace; gradient scratch for forks */
    double *bn_partial;  /* partial sums of blocked BN and GN layers (shared) */
    unsigned char *grad_written; /* per tensor, during backward */
    Arena arena;
    /* The inference plan (memory_plan.h): each tensor's buffer while
     * evaluating, and the training plan's to restore; built on first use. */
    float **infer_data, **train_data;
    Arena infer_arena; /* the plan's shared buffers */
    int build_failed;
    /* An op could not run (out of memory in the reference-convolution
     * fallback); its outputs are NaN, so the NaN checks stop the run. */
    int exec_failed;
} Model;

/* Building: model_input first, then ops in forward order; each returns the
 * id of its output tensor (-1 after an allocation failure, which
 * model_finish reports). */
void model_init(Model *m);
int model_input(Model *m, int c, int h, int w);
int model_conv(Model *m, const char *name, int in, int out_c, int k, int stride, int pad, int bias);
/* A grouped convolution (groups == in channels == out_c: depthwise);
 * groups must divide both channel counts (else the build fails). */
int model_conv_grouped(Model *m, const char *name, int in, int out_c, int k, int stride, int pad, int groups,
                       int bias);
/* A kh x kw convolution with per-axis padding (Inception-v3's 1xn, nx1). */
int model_conv_rect(Model *m, const char *name, int in, int out_c, int kh, int kw, int stride, int pad_h, int pad_w,
                    int bias);
int model_linear(Model *m, const char *name, int in, int out_f, int bias);
int model_bn(Model *m, const char *name, int in, float eps, float momentum);
int model_gn(Model *m, const char *name, int in, int groups, float eps);
int model_lrn(Model *m, const char *name, int in, LrnMode mode, int size, float alpha, float beta, float k);
int model_relu(Model *m, int in);
int model_relu6(Model *m, int in);
int model_concat(Model *m, int a, int b); /* channels of a, then of b */
/* The even (parity 0) or odd (1) channels of in, which must have an even
 * channel count (ShuffleNetV2's split). */
int model_channel_split(Model *m, int in, int parity);
/* Channels first .. first + count - 1 of in (IBN's halves). */
int model_channel_slice(Model *m, int in, int first, int count);
int model_maxpool(Model *m, int in, int k, int stride);
/* Padded max pooling (pad < k; Inception's 3x3 stride-1 pool branch). */
int model_maxpool_padded(Model *m, int in, int k, int stride, int pad);
int model_avgpool(Model *m, int in);
int model_add(Model *m, int a, int b);
int model_shortcut(Model *m, int in, int out_c, int stride);
/* Any kind through its table entry: an op reading `in` (and `in2` when >= 0)
 * with an output of c x h x w and n_w weights and n_b biases (placed by the
 * entry's params group). The builders above are this plus layer setup. */
int model_add_op(Model *m, int kind, const char *name, int in, int in2, int c, int h, int w, size_t n_w,
                 size_t n_b);

/* Allocates parameters, statistics and the activation arena for batches up
 * to max_batch, and initializes weights as the spec says (Kaiming-normal
 * fan_out convs, PyTorch-default linear, gamma 1, beta 0, var 1). */
int model_finish(Model *m, int output, int max_batch, Rng *init_rng, BsError *err);
void model_free(Model *m);

/* A backend by name ("im2col" or "onednn"; NULL or "": oneDNN when built
 * in). Fails (BS_ERR_USER) on a name it does not know or a backend this
 * build lacks. cmd/ parses $BNSHIFT_CONV with it. */
int conv_backend_parse(const char *name, ConvBackend *b, BsError *err);
/* The backend model_finish picks (default: oneDNN when built in). */
void conv_backend_set_default(ConvBackend b);
ConvBackend conv_backend_default(void);
const char *conv_backend_name(ConvBackend b); /* "im2col+openblas", "onednn" */
/* Switches every convolution to backend b (results change only by float
 * reassociation) and plans the activation layouts for it. */
int model_set_conv_backend(Model *m, ConvBackend b, BsError *err);
/* Decides which tensors are kept blocked (layout_plan.c): under oneDNN,
 * every group of tensors joined by layout-keeping ops (BN, GN, ReLU, ReLU6,
 * add, concat, split, slice) whose channel counts all fit a block (whole
 * or padded ones, blocked_fits) and whose producers and consumers all
 * handle the blocked layout (their op table entries say); in NHWC those
 * of whole blocks when the model's convolutions favour it (dense, mostly
 * spatial kernels), else nChw16c. NCHW elsewhere, and everywhere under
 * im2col. Data already in the tensors is not
 * converted: run a forward pass after changing it. */
void model_plan_layouts(Model *m);

size_t tensor_numel(const Tensor *t); /* per sample: c·h·w */
/* Floats one sample takes in t's layout: c·h·w in NCHW, more when blocked
 * and c is not a multiple of 16 (padding lanes, layers/blocked.h).
 * Element-wise ops run over tensor_stride(t)·N floats. */
size_t tensor_stride(const Tensor *t);
/* Floats per sample the arena reserves: the most either layout needs. */
size_t tensor_capacity(const Tensor *t);
/* Tensor t's data for the first N samples in NCHW order, whatever its layout. */
void tensor_copy_plain(const Tensor *t, int N, float *out);
const char *op_kind_name(OpKind k);   /* "conv", "bn", ... */
long op_macs(const Op *op);           /* multiply-accumulates per image */
long model_macs(const Model *m);      /* of one forward pass, per image */
/* Bytes a training step of N samples must move through memory for its
 * norms (BN, GN) whatever the implementation, short of fusing them into
 * the convolutions: the floor under `bnshift bench`'s norm time. */
double model_norm_floor_bytes(const Model *m, int N);
double op_norm_floor_bytes(const Model *m, int i, int N); /* op i's share (0: not a norm) */

/* Forward pass on N samples of x (copied into tensor 0). train selects BN's
 * batch statistics (and running-stat update) or running statistics. */
void model_forward(Model *m, const float *x, int N, int train);
/* The same, stopping before op `stop` (so tensors up to its input are set). */
void model_forward_until(Model *m, const float *x, int N, int train, int stop);
/* Softmax cross-entropy on the logits; writes the output gradient when
 * want_grad. Returns the mean loss. */
double model_loss(Model *m, const int *labels, int N, int *correct, int want_grad);
/* Backward from the output gradient; parameter gradients accumulate into
 * m->grads (zero them with model_zero_grad). train must match the forward. */
void model_backward(Model *m, int N, int train);
void model_zero_grad(Model *m);
/* The running-statistics momentum of every BN layer (the cumulative
 * estimator sets 1/t before each training step). */
void model_set_bn_momentum(Model *m, float momentum);
/* Makes every BN layer a SyncBatchNorm over comm's ranks in training mode
 * (layers/batchnorm_sync.h; NULL: each process its own batch). A comm of
 * size 1 takes the synchronized code path with no other rank (tests). */
void model_set_bn_comm(Model *m, const Comm *comm);

/* The first op whose output (first N samples) holds NaN/Inf, or -1. */
int model_find_nonfinite(const Model *m, int N);
/* Whether every parameter and running statistic is finite. */
int model_state_finite(const Model *m);
/* Scales the gradients so their global L2 norm is at most max_norm
 * (torch.nn.utils.clip_grad_norm_); returns the norm before clipping. */
double model_clip_grad_norm(Model *m, double max_norm);

#endif
