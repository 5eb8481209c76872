/* libFuzzer harness for the checkpoint reader (checkpoint_peek and
 * checkpoint_load, lib/io/checkpoint.c).
 *
 * The model is built once: a ResNet-8 of width 4 with BN on 3x8x8 inputs
 * (the arch.h path cmd/setup.c takes), with its SGD optimizer. Each input is
 * loaded as checkpoint.bin as it is, and again with its last four bytes
 * replaced by the CRC-32 of the bytes before them, so that mutations get
 * past the checksum to the header fields and values behind it.
 *
 * A checkpoint that loads must be exactly header + params + velocity +
 * stats (+ the other ranks' stats in version 2) + CRC (nothing after it), carry a checksum that matches, put the
 * stored values into the model, and hold a header a real run could have
 * written: epoch, CSV lengths and optimizer steps not negative, at least one
 * thread, a usable RNG state, every value finite.
 *
 * FUZZ_WRITE_SEED=PATH writes a real checkpoint of this model to PATH with
 * checkpoint_save (the seed in tests/fuzz/corpus/checkpoint/). */
#include "fuzz_util.h"

#include <math.h>

#include "run/checkpoint.h"
#include "models/arch.h"

#define HEADER_BYTES 104 /* sizeof Header in checkpoint.c */

static Model g_model;
static Optimizer g_opt;
static char g_ckpt[FUZZ_PATH];

static void free_model(void)
{
    optimizer_free(&g_opt);
    model_free(&g_model);
}

static void write_seed(const char *path)
{
    for (size_t i = 0; i < g_model.n_params; i++)
        g_opt.velocity[i] = (float)((double)(i % 7) * 0.01 - 0.03);
    g_opt.steps = 40;
    CheckpointMeta meta = {.config_hash = 0x1234abcdULL, .epoch = 3, .threads = 2,
                           .metrics_len = 321, .shift_len = 4567};
    rng_seed(&meta.rng, 7);
    BsError err = {0};
    if (checkpoint_save(path, &g_model, &g_opt, &meta, &err) != BS_OK) {
        fprintf(stderr, "%s\n", err.msg);
        abort();
    }
    fprintf(stderr, "wrote %s\n", path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    fuzz_path(g_ckpt, "checkpoint.bin");
    fuzz_small_resnet(&g_model);
    BsError err = {0};
    SgdConfig sgd = {.momentum = 0.9f, .nesterov = 0};
    if (optimizer_init(&g_opt, &g_model, sgd, 1e-4f, 1, &err) != BS_OK) {
        fprintf(stderr, "cannot build the optimizer: %s\n", err.msg);
        abort();
    }
    atexit(free_model);
    const char *seed = getenv("FUZZ_WRITE_SEED");
    if (seed)
        write_seed(seed);
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static void check_header(const CheckpointMeta *meta)
{
    FUZZ_CHECK(meta->epoch >= 0 && meta->threads >= 1);
    FUZZ_CHECK(meta->metrics_len >= 0 && meta->shift_len >= 0);
    FUZZ_CHECK(meta->rng.s[0] || meta->rng.s[1] || meta->rng.s[2] || meta->rng.s[3]);
}

static void load(const uint8_t *data, size_t size)
{
    fuzz_write(g_ckpt, data, size);
    CheckpointMeta peeked, meta;
    BsError err = {0};
    int rc = checkpoint_peek(g_ckpt, &peeked, &err);
    fuzz_report("checkpoint_peek", rc, err.msg);
    FUZZ_CHECK(rc == err.code && (rc == BS_OK || rc == BS_ERR_USER));
    if (rc == BS_OK)
        check_header(&peeked);

    BsError err2 = {0};
    g_opt.steps = -1;
    rc = checkpoint_load(g_ckpt, &g_model, &g_opt, &meta, &err2);
    fuzz_report("checkpoint_load", rc, err2.msg);
    FUZZ_CHECK(rc == err2.code && (rc == BS_OK || rc == BS_ERR_USER));
    if (rc == BS_OK) {
        const size_t np = g_model.n_params, ns = g_model.n_stats;
        /* Version 2 (a data-parallel run's) adds 16 header bytes and the
         * other ranks' statistics after rank 0's. */
        const size_t hb = le32(data + 12), ranks = hb == HEADER_BYTES ? 1 : le32(data + HEADER_BYTES);
        FUZZ_CHECK(hb == HEADER_BYTES || (hb == HEADER_BYTES + 16 && ranks >= 1 && meta.ranks == (int)ranks));
        FUZZ_CHECK(size == hb + sizeof(float) * (2 * np + ns * ranks) + 4);
        FUZZ_CHECK(le32(data + size - 4) == (uint32_t)crc32(0L, data, (uInt)(size - 4)));
        const uint8_t *p = data + hb;
        FUZZ_CHECK(memcmp(g_model.params, p, sizeof(float) * np) == 0);
        FUZZ_CHECK(memcmp(g_opt.velocity, p + sizeof(float) * np, sizeof(float) * np) == 0);
        FUZZ_CHECK(memcmp(g_model.stats, p + sizeof(float) * 2 * np, sizeof(float) * ns) == 0);
        check_header(&meta);
        FUZZ_CHECK(g_opt.steps >= 0);
        FUZZ_CHECK(all_finite(g_model.params, np) && all_finite(g_opt.velocity, np) &&
                   all_finite(g_model.stats, ns));
        FUZZ_CHECK(meta.epoch == peeked.epoch && meta.config_hash == peeked.config_hash);
    }
    fuzz_unlink(g_ckpt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size);
    if (size < 4)
        return 0;
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)(size - 4));
    uint8_t le[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    if (memcmp(data + size - 4, le, 4) == 0)
        return 0;
    uint8_t *copy = malloc(size);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size - 4);
    memcpy(copy + size - 4, le, 4);
    load(copy, size);
    free(copy);
    return 0;
}
