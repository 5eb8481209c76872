/* libFuzzer harness for the safetensors reader (st_read,
 * lib/io/safetensors.c) and the weights import behind `eval --weights` and
 * `run --init-from` (state_dict_load, lib/models/state_dict.c).
 *
 * A file st_read accepts must be coherent: every tensor's byte range inside
 * the data and exactly dtype size x its shape's elements, no two ranges
 * sharing a byte, the data ending with the last tensor. A file
 * state_dict_load accepts must have put its values into the model (a
 * ResNet-8 of width 4 with BN, as the checkpoint harness builds), all
 * finite, every running variance >= 0; a refused one must leave the model
 * as it was.
 *
 * FUZZ_WRITE_SEED=PATH writes this model's export to PATH (the seed in
 * tests/fuzz/corpus/safetensors/). */
#include "fuzz_util.h"

#include <math.h>

#include "io/safetensors.h"
#include "models/arch.h"
#include "models/state_dict.h"

static Model g_model;
static float *g_saved; /* params then stats, to check a refusal changed nothing */
static char g_file[FUZZ_PATH];

static void free_model(void)
{
    free(g_saved);
    model_free(&g_model);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    fuzz_path(g_file, "weights.safetensors");
    fuzz_small_resnet(&g_model);
    BsError err = {0};
    g_saved = malloc(sizeof(float) * (g_model.n_params + g_model.n_stats));
    atexit(free_model);
    const char *seed = getenv("FUZZ_WRITE_SEED");
    if (seed) {
        const char *keys[] = {"format"}, *values[] = {"pt"};
        if (state_dict_save(seed, &g_model, 5, keys, values, 1, &err) != BS_OK) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
        fprintf(stderr, "wrote %s\n", seed);
    }
    return 0;
}

static void check_file(const StFile *f)
{
    size_t end = 0;
    for (int i = 0; i < f->n; i++) {
        const StEntry *e = &f->entries[i];
        FUZZ_CHECK(e->begin <= e->end && e->end <= f->data_size);
        FUZZ_CHECK((double)(e->end - e->begin) == (double)st_numel(e) * (double)st_dtype_size(e->dtype));
        for (int j = 0; j < i; j++) {
            const StEntry *o = &f->entries[j];
            FUZZ_CHECK(e->begin == e->end || o->begin == o->end || e->end <= o->begin || o->end <= e->begin);
        }
        end = e->end > end ? e->end : end;
    }
    FUZZ_CHECK(end == f->data_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_write(g_file, data, size);
    StFile f;
    BsError err = {0};
    int rc = st_read(g_file, &f, &err);
    fuzz_report("st_read", rc, err.msg);
    FUZZ_CHECK(rc == err.code && (rc == BS_OK || rc == BS_ERR_USER));
    if (rc == BS_OK) {
        check_file(&f);
        st_free(&f);
    }
    Model *m = &g_model;
    memcpy(g_saved, m->params, sizeof(float) * m->n_params);
    memcpy(g_saved + m->n_params, m->stats, sizeof(float) * m->n_stats);
    BsError err2 = {0};
    rc = state_dict_load(g_file, m, &err2);
    fuzz_report("state_dict_load", rc, err2.msg);
    FUZZ_CHECK(rc == err2.code && (rc == BS_OK || rc == BS_ERR_USER));
    if (rc == BS_OK) {
        for (size_t i = 0; i < m->n_params; i++)
            FUZZ_CHECK(isfinite(m->params[i]));
        for (int i = 0; i < m->n_ops; i++)
            if (m->ops[i].kind == OP_BN)
                for (int c = 0; c < m->ops[i].u.bn.C; c++)
                    FUZZ_CHECK(m->stats[m->ops[i].stat_off + (size_t)(m->ops[i].u.bn.C + c)] >= 0);
    } else {
        FUZZ_CHECK(!memcmp(g_saved, m->params, sizeof(float) * m->n_params));
        FUZZ_CHECK(!memcmp(g_saved + m->n_params, m->stats, sizeof(float) * m->n_stats));
    }
    fuzz_unlink(g_file);
    return 0;
}
