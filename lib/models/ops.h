/* The op table: everything the model layer needs to know about one kind of
 * op, in one place next to its layer file. The graph builder (model.c), the
 * memory plan (memory_plan.c), the layout plan (layout_plan.c) and the
 * executor (model_exec.c) read these entries and switch on no kind.
 *
 * Adding an op: a layer .c/.h (forward/backward over plain buffers), one
 * OpType entry (for a built-in kind: in BUILTIN_OPS in ops.c and a value in
 * OpKind; from outside the library: op_type_register), a builder that calls
 * model_add_op, and its tests. */
#ifndef BS_OPS_H
#define BS_OPS_H

#include <stddef.h>

#include "core/rng.h"

struct Model;
struct Op;

/* Where an op's parameters go in Model.params. */
typedef enum {
    OP_PARAMS_NONE,
    OP_PARAMS_DECAYED, /* weights in the leading, weight-decayed range; bias (n_b) with the rest */
    OP_PARAMS_NORM     /* gamma (n_w) and beta (n_b), exempt from decay when wd_norm is off */
} OpParamGroup;

typedef struct OpType {
    const char *name; /* "conv", "bn", ...: bench and error messages */
    OpParamGroup params;
    /* Memory plan (memory_plan.h): the op may overwrite its first input when
     * nothing else reads it (forward and backward work element by element). */
    int in_place;
    /* Its backward reads its own output, so no later op may overwrite that
     * output in place (ReLU). */
    int backward_needs_output;
    /* An activation (ReLU, ReLU6) right after this op, running in place, is
     * applied by this op's forward instead (fuse_activation marks it with
     * the BsAct; BN, GN). */
    void (*fuse_activation)(struct Op *op, int act);
    /* A residual add (and its fused activation) that runs in place on this
     * op's output, its other input made before this op ran, is done by this
     * op's forward instead: it adds tensor `residual` and applies act (BN, GN).
     * The add then does nothing forward; its backward moves into this op's
     * where the plan sets residual_dy (memory_plan.h). */
    void (*fuse_residual)(struct Op *op, int residual, int act);
    /* The activation this op is (BsAct, layers/activation.h; 0: none),
     * which a producer may apply itself (then its forward does nothing). */
    int activation;
    /* Layout plan (layout_plan.c): the output has the layout of the inputs;
     * which ops read and write the blocked layouts (NULL: never). */
    int keeps_layout;
    int (*reads_blocked)(const struct Op *op);
    int (*writes_blocked)(const struct Op *op);
    /* Told the layouts the plan chose for its input and output (NULL: none). */
    void (*set_layouts)(struct Op *op, int in_blocked, int out_blocked);
    /* Execution (model_exec.c). backward gets the gradient targets of its
     * inputs through op_grad_begin / op_grad_end. */
    void (*forward)(struct Model *m, const struct Op *op, int N, int train);
    void (*backward)(struct Model *m, const struct Op *op, int N, int train);
    /* Initial parameters (NULL: zeros); stats is the op's slice of
     * Model.stats (BN running statistics) or NULL. */
    void (*init_params)(const struct Op *op, float *w, float *b, float *stats, Rng *rng);
    /* Floats of save_mean and of save_invstd for backward (NULL: none). */
    size_t (*saved_stats)(const struct Op *op, int max_batch);
    /* Floats of the workspace shared by all ops (Model.ws; NULL: none). */
    size_t (*workspace)(const struct Op *op);
    /* Doubles of the partial sums shared by all ops of the kind, and where
     * they are (Model.bn_partial; NULL: none). */
    size_t (*partial_sums)(const struct Op *op, int max_batch);
    void (*set_partial)(struct Op *op, double *partial);
    long (*macs)(const struct Op *op); /* per image (NULL: 0) */
} OpType;

/* The entry of an op kind (built in or registered); NULL for an unknown one. */
const OpType *op_type(int kind);
/* Adds a kind from outside the library (tests, extensions); returns its id,
 * or -1 when the table is full. The entry must outlive every model using it. */
int op_type_register(const OpType *t);

/* For backward implementations: where to write the gradient of input
 * tensor id (NULL for the network input, which needs none), and the commit
 * after writing it (adds it to what another consumer wrote already). */
float *op_grad_begin(struct Model *m, int id);
void op_grad_end(struct Model *m, int id, int N);
/* The gradient buffer of input tensor id when another consumer has written
 * it already, else NULL: an op that can add its part in place there (then
 * it calls neither op_grad_begin nor op_grad_end) saves the scratch pass. */
float *op_grad_written(struct Model *m, int id);

/* The parameter and gradient slices of an op (NULL when absent). */
float *op_param(const struct Model *m, size_t off);
float *op_grad(const struct Model *m, size_t off);

#endif
