/* The oneDNN engine behind OneDnnEngine (conv2d_onednn.h), shared by the
 * oneDNN layer files; include only where BS_HAVE_ONEDNN is defined. */
#ifndef BS_ONEDNN_ENGINE_H
#define BS_ONEDNN_ENGINE_H

#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

/* Jumps to the function's `fail:` label when a oneDNN call fails. */
#define CHECK(call)                 \
    do {                            \
        if ((call) != dnnl_success) \
            goto fail;              \
    } while (0)

/* Scratch shared by all layers (layers run one at a time): the blocked
 * copies of a convolution's input-side and output-side tensors. */
enum { SCR_IN, SCR_OUT, SCR_OUT2, N_SCRATCH };

struct OneDnnEngine {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *scratch[N_SCRATCH];
    size_t scratch_bytes[N_SCRATCH];
    unsigned long frozen_pass; /* onednn_engine_freeze_weights: the pass's number, 0 outside one */
    unsigned long passes;
};

/* The first member of a layer's per-batch-size plan: the batch it was
 * made for (0: empty) and when it was last used. */
typedef struct {
    int N;
    unsigned long last_use;
} PlanKey;

/* Of n plans of `stride` bytes each starting at `plans` (each beginning
 * with a PlanKey), the one for batch N, or the least recently used one
 * when none is (then *fresh is set: the caller frees and remakes it). The
 * plan is marked used at ++*clock. */
void *onednn_plan_slot(void *plans, size_t stride, int n, int N, unsigned long *clock, int *fresh);

#endif
