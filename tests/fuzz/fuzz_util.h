/* Shared by the libFuzzer harnesses (header only, each harness is one .c):
 * one private temporary directory per process, removed at exit; files are
 * written under it with fixed names and removed again after each input, so
 * no input leaves anything behind that changes how the next one runs. */
#ifndef BS_FUZZ_UTIL_H
#define BS_FUZZ_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/threads.h"
#include "models/arch.h"

#define FUZZ_PATH 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char g_fuzz_dir[64];
static int g_fuzz_verbose; /* FUZZ_VERBOSE=1: print each load's outcome */

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fuzz_remove_dir(void)
{
    if (g_fuzz_dir[0])
        nftw(g_fuzz_dir, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates the process's directory (once) and makes the run single-threaded:
 * nothing here needs threads, and a second libgomp/OpenBLAS pool would only
 * compete with the fuzzer for the cores. */
static inline void fuzz_init(void)
{
    bs_set_threads(1);
    g_fuzz_verbose = getenv("FUZZ_VERBOSE") != NULL;
    snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "/tmp/bnshift-fuzz-XXXXXX");
    if (!mkdtemp(g_fuzz_dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
}

/* g_fuzz_dir/rel into buf. */
static inline const char *fuzz_path(char *buf, const char *rel)
{
    snprintf(buf, FUZZ_PATH, "%s/%s", g_fuzz_dir, rel);
    return buf;
}

/* mkdir path (it may exist). */
static inline void fuzz_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0 && access(path, F_OK) != 0) {
        perror(path);
        abort();
    }
}

/* rmdir path (it may be missing). */
static inline void fuzz_rmdir(const char *path)
{
    if (rmdir(path) != 0 && access(path, F_OK) == 0) {
        perror(path);
        abort();
    }
}

/* Writes bytes to path; a harness that cannot set up its input is broken. */
static inline void fuzz_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

/* The same, gzip-compressed. */
static inline void fuzz_write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    if (!f || (len && gzwrite(f, data, (unsigned)len) != (int)len) || gzclose(f) != Z_OK) {
        fprintf(stderr, "%s: gzip write failed\n", path);
        abort();
    }
}

static inline void fuzz_unlink(const char *path)
{
    if (unlink(path) != 0 && access(path, F_OK) == 0) {
        perror(path);
        abort();
    }
}

/* With FUZZ_VERBOSE set, what a load said (to see what the seeds reach). */
static inline void fuzz_report(const char *what, int rc, const char *msg)
{
    if (g_fuzz_verbose)
        fprintf(stderr, "%s: rc %d%s%s\n", what, rc, rc ? ": " : "", rc ? msg : "");
}

/* A harness-level check failed: the loader accepted something it must not. */
#define FUZZ_CHECK(cond)                                                                        \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* The model the weight-file harnesses load into (checkpoint,
 * safetensors): a ResNet-8 of width 4 with BN on 3x8x8 inputs, built as
 * cmd/setup.c builds models (the reference convolution: loading needs no
 * convolution engine). Aborts when it cannot be built. */
static inline void fuzz_small_resnet(Model *m)
{
    setenv("BNSHIFT_CONV", "im2col", 1);
    ModelSpec s = {.arch = ARCH_RESNET, .depth = 8, .width = 4, .norm = VARIANT_BN,
                   .stem_norm = STEM_AUTO, .groups = 2, .in_c = 3, .in_h = 8, .in_w = 8,
                   .num_classes = 10, .bn_eps = 1e-5f, .bn_momentum = 0.1f};
    Rng rng;
    rng_seed(&rng, 1);
    BsError err = {0};
    if (model_build(m, &s, 2, &rng, &err) != BS_OK) {
        fprintf(stderr, "cannot build the model: %s\n", err.msg);
        abort();
    }
}

#endif
