/* A sweep (REFERENCE.md §2, sweep): a grid file expanded into runs of one
 * base config with `--set` overrides, each with a readable directory name;
 * the manifest sweep.json; and the state of each run read from its
 * directory alone. Starting and watching the runs is cmd/'s (cmd/sweep*.c).
 *
 * The grid, a JSON object:
 *   "base": the config (relative to the grid file's directory, or absolute)
 *   "axes": {"key": [values...], ...}: every combination, axes in file order,
 *           the last one fastest
 *   "runs": [{"key": value, ...}, ...]: explicit override sets; with axes,
 *           each entry is combined with every combination of the axes
 *   "set":  {"key": value}: overrides common to every run
 *   "out":  the sweep's directory (relative to the current directory, like
 *           log.out; default "runs/<grid file name without .json>")
 * Keys and values are those of `bnshift run --set key=value`, checked by the
 * config schema (config_load) for every run before anything is written. */
#ifndef BS_SWEEP_H
#define BS_SWEEP_H

#include <cJSON.h>

#include "core/error.h"

#define SWEEP_MAX_RUNS 10000
/* `run` takes up to 64 --set options; one is the run's name. */
#define SWEEP_MAX_OVERRIDES 63
#define SWEEP_NAME_MAX 120

/* Files the sweep keeps in a run directory beside the run's own. */
#define SWEEP_LOG_FILE "sweep.log"       /* the children's stdout and stderr, appended */
#define SWEEP_FAILED_FILE "sweep-failed.txt" /* "exit N\n<last line of the log>\n" */
#define SWEEP_MANIFEST_FILE "sweep.json"

typedef struct {
    int index;
    char name[SWEEP_NAME_MAX + 1];
    char *dir;        /* out/name */
    cJSON *overrides; /* key -> value in the order applied: name, set, the runs entry, the axes */
    char **sets;      /* the same as "key=text" for `run --set` */
    int n_sets;
    int epochs; /* train.epochs of the resolved config: when the run is finished */
} SweepRun;

typedef struct {
    char *path; /* the grid file, as given */
    char *base; /* the base config's path as resolved */
    char *out;  /* trailing slashes dropped */
    cJSON *doc; /* the grid; set, axes and list point into it (NULL when absent) */
    const cJSON *set, *axes, *list;
    SweepRun *runs;
    int n_runs;
} SweepGrid;

/* Reads, expands, names and checks the grid at path: one line naming the
 * grid file (and the run, key and value) on any problem, BS_ERR_USER;
 * BS_ERR_RUNTIME when out of memory. Touches no file. */
int sweep_grid_load(SweepGrid *g, const char *path, BsError *err);
void sweep_grid_free(SweepGrid *g);

/* The words after the program of the `bnshift run` command of r: run BASE
 * --out DIR --set ... --threads T, then --quiet and --resume when asked.
 * NULL terminated; the caller frees the array, not the words, which live in
 * g and in threads_text. NULL when out of memory. */
const char **sweep_run_argv(const SweepGrid *g, const SweepRun *r, const char *threads_text, int quiet,
                            int resume);

/* The manifest: the grid's path, base, out, set, axes, runs list, the
 * threads per job, and per run index, name, dir, overrides and
 * commands[i] (the exact `bnshift run` command, quoted by the caller).
 * NULL when out of memory. */
cJSON *sweep_manifest(const SweepGrid *g, int threads, char *const *commands);
/* BS_OK when manifest_path is missing or expands to the same runs as g
 * (base, names, overrides; the commands and the thread count may differ);
 * else BS_ERR_USER naming the file and the first difference. */
int sweep_manifest_check(const SweepGrid *g, const char *manifest_path, BsError *err);
/* Writes m to path atomically through a temp file of this process's own
 * (several `sweep --only` may write it at once). BS_ERR_RUNTIME. */
int sweep_manifest_write(const cJSON *m, const char *path, BsError *err);

/* What plot-data reads back from a manifest: the axes' keys in file order,
 * and per run its name and each axis's value as text ("" when the run has
 * none; numbers as %.15g, other JSON unformatted). */
typedef struct {
    char **axes;
    int n_axes;
    char **names;  /* checked to be one path component */
    char **values; /* n_runs x n_axes, row-major */
    int n_runs;
} SweepManifest;

/* Reads the manifest at path: BS_ERR_USER naming the file when it cannot be
 * read or is not a bnshift sweep manifest; BS_ERR_RUNTIME when out of
 * memory. On failure m holds nothing to free. */
int sweep_manifest_read(SweepManifest *m, const char *path, BsError *err);
void sweep_manifest_free(SweepManifest *m);

typedef enum { SWEEP_NOT_STARTED, SWEEP_RUNNING, SWEEP_INTERRUPTED, SWEEP_FAILED, SWEEP_FINISHED } SweepStateKind;

typedef struct {
    SweepStateKind kind;
    int holds_run;    /* the directory holds a run's files: it starts with --resume */
    int epoch;        /* the checkpoint's epoch (0: none) */
    int ckpt_threads; /* threads that wrote the checkpoint (0: none) */
    int pid;          /* SWEEP_RUNNING: the writer (-1 unknown) */
    int exit_code;    /* SWEEP_FAILED */
    char note[600];   /* SWEEP_FAILED: the last line; a checkpoint that cannot be read */
} SweepState;

/* The state of the run in dir that finishes at `epochs`, from the directory
 * alone: running (a live process holds its lock), finished (checkpoint at
 * epochs or more), failed (SWEEP_FAILED_FILE), interrupted (a run's files
 * without a finished checkpoint), not started. */
void sweep_run_state(const char *dir, int epochs, SweepState *s);
const char *sweep_state_name(SweepStateKind k);
/* Records a failed attempt: SWEEP_FAILED_FILE with the exit status and the
 * last line. BS_ERR_RUNTIME naming the file. */
int sweep_mark_failed(const char *dir, int exit_code, const char *last_line, BsError *err);
/* Forgets a failed attempt (before the next one). */
void sweep_clear_failed(const char *dir);
/* The last non-empty line of the file at path into buf[cap] ("" if none). */
void sweep_last_line(const char *path, char *buf, size_t cap);

#endif
