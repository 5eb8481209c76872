/* The memory plan of a model: where every tensor's data and gradient live
 * in the activation arena, and which ops run in place or fused.
 *
 * Rules (each op kind states its part in its OpType, ops.h):
 * - In place: an op whose type says `in_place` (ReLU, residual add) writes
 *   its output over its first input when that input is not the network's
 *   input, has no other consumer, and was made by an op whose backward does
 *   not read its own output (`backward_needs_output`: ReLU). The output's
 *   gradient then shares the input's gradient buffer as well (both
 *   backwards work element by element in place). Saves one activation and
 *   one gradient buffer per such op.
 * - Fusion: an activation (`activation`: ReLU, ReLU6) that runs in place
 *   on the output of an op with `fuse_activation` (BN, GN) is applied by
 *   that op's forward and its gradient by that op's backward (the
 *   activation op does nothing). A residual add (`OP_ADD`) in place on the
 *   output of an op with `fuse_residual` (BN, GN), whose other input was
 *   made before that op, is done by that op's forward, the add's
 *   activation with it: one pass writes the block's output instead of two
 *   passes and a tensor in between. Its backward is the add's, except
 *   where the add comes right after the norm and is the last reader of its
 *   other input (`residual_dy`): then the norm's backward takes the add's
 *   gradient through the add's activation, writes it once to that input's
 *   gradient buffer (the add is its first writer) and reads it back as its
 *   own dy; the add's backward does nothing.
 * - Gradient slots: during backward a gradient lives from the backward of
 *   its tensor's last reader (which writes it first) to its producer's
 *   backward (which reads it last); gradients whose lives do not meet share
 *   one buffer, so backward writes into memory a recent op touched instead
 *   of fresh DRAM (ResNet-20 at batch 128: 44 of 73 gradients in 11
 *   buffers, the arena 422 -> 260 MB). Only tensors of the same size whose
 *   layouts have no padding lanes share, and only ones something reads.
 *   Nothing may read a tensor's gradient outside that life (the backward
 *   of another op, or after model_backward returns).
 * - Anything that reads a tensor after its consumer ran must respect this:
 *   the BN-input statistics read conv outputs, which nothing overwrites in
 *   this plan. In the inference plan (below) only pinned tensors outlive
 *   their last reader: a new reader of that kind must pin its tensor
 *   there (inference_plan.c `pinned`).
 * - Per-op scratch from the same arena: saved norm statistics
 *   (`saved_stats`), the blocked BN's partial sums, the largest conv
 *   workspace, a gradient scratch for tensors with several consumers. */
#ifndef BS_MEMORY_PLAN_H
#define BS_MEMORY_PLAN_H

struct Model;

/* Carves every per-batch buffer out of m->arena, or only measures the
 * bytes needed when the arena has no base yet (call twice: measure,
 * reserve, carve). Marks in-place and fused ops. */
void memory_plan_carve(struct Model *m);

/* The inference plan (inference_plan.c), for passes that run no backward:
 * begin points every tensor at a buffer shared by tensors whose lives do
 * not overlap (kept: the input, the logits, NCHW BN inputs), building the
 * plan on first use; 0 when there is no memory for it (the pass then runs
 * on the training buffers, as it would anyway) and freezes the weights
 * (onednn_engine_freeze_weights). end restores the training buffers; reset frees the plan (layouts changed, or the model is freed). */
int memory_plan_inference_begin(struct Model *m);
void memory_plan_inference_end(struct Model *m);
void memory_plan_inference_reset(struct Model *m);

#endif
