/* The model's tensors under the names PyTorch's state_dict() gives the
 * twin modules of scripts/torch/bnshift_models.py (REFERENCE.md, `export`):
 * for every op with parameters, in forward order, NAME.weight (conv
 * [out, in/groups, kh, kw], linear [out, in], norms [C]) and NAME.bias,
 * and for BN NAME.running_mean, NAME.running_var (F32 [C]) and
 * NAME.num_batches_tracked (I64 scalar), NAME being the op's name as
 * `bnshift info` prints it. Import and export of safetensors files. */
#ifndef BS_STATE_DICT_H
#define BS_STATE_DICT_H

#include "io/safetensors.h"
#include "models/model.h"

typedef struct {
    char name[ST_NAME_MAX];
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    float *data;  /* into m->params or m->stats; NULL for num_batches_tracked */
    int optional; /* num_batches_tracked: may be absent on import */
} StateEntry;

/* The entries of m, in order ((*n) of them, a malloc'd array the caller
 * frees). BS_ERR_USER when two ops share a name (the names would clash). */
int state_dict_entries(const Model *m, StateEntry **out, int *n, BsError *err);

/* Writes m to path; num_batches is every BN's num_batches_tracked; the
 * metadata pairs go to __metadata__. */
int state_dict_save(const char *path, const Model *m, int64_t num_batches, const char *const *meta_keys,
                    const char *const *meta_values, int n_meta, BsError *err);

/* Reads path into m's parameters and BN running statistics. Every entry
 * must be there (num_batches_tracked may be missing), F32 (I64 for
 * num_batches_tracked) with the model's shape, finite; nothing else may
 * be in the file. BS_ERR_USER naming the file and tensor; m is unchanged
 * on any error. */
int state_dict_load(const char *path, Model *m, BsError *err);
/* The same, and *epoch gets __metadata__'s "epoch" (bnshift's exports
 * carry it), -1 when absent. */
int state_dict_load_epoch(const char *path, Model *m, int *epoch, BsError *err);

#endif
