/* The runs the arguments of a reading command (plot-data, report) stand for:
 * a run directory itself, a sweep (its directory holding sweep.json, or that
 * sweep.json) its manifest's runs in manifest order, those not started or
 * without an evaluated epoch yet skipped with one note per sweep
 * (REFERENCE.md §2 plot-data). Every run is read whole (runlog.h's strict
 * readers) under a shared lock, or up to its last whole epoch beside a live
 * writer, before the command writes anything. Notes are collected, not
 * printed, so that a command that then fails prints one line only. */
#ifndef BS_RUN_INPUTS_H
#define BS_RUN_INPUTS_H

#include "run/runlock.h"
#include "run/runlog.h"
#include "run/sweep.h"

/* Messages printed (as warnings) only when the command succeeded. */
#define NOTES_MAX 32
typedef struct {
    char text[NOTES_MAX][512];
    int n;
} Notes;

void notes_add(Notes *notes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Each note as "bnshift: warning: ..." on stderr. */
void notes_print(const Notes *notes);

/* Where a run came from: a RUN_DIR argument (m NULL), or run `run` of a
 * sweep manifest. */
typedef struct {
    const SweepManifest *m;
    int run;
} RunOrigin;

typedef struct {
    RunLog *runs;
    RunOrigin *from; /* per run: points into manifests */
    int n;
    /* The reader's own: locks held until run_inputs_free, the manifests. */
    RunLock *locks;
    SweepManifest *manifests;
    int n_manifests;
} RunInputs;

/* Loads the runs args[0..n_args) stand for into in. On failure prints one
 * line "bnshift: CMD: ..." (or the reader's message naming the file) and
 * returns its exit code; in then holds nothing to free beyond
 * run_inputs_free. */
int run_inputs_load(RunInputs *in, const char *cmd, char *const *args, int n_args, Notes *notes);
void run_inputs_free(RunInputs *in);

/* --epochs "1,5,10" into epochs[max] (*n of them): positive integers. A bad
 * list prints "bnshift: CMD: --epochs '...': expected a list like 1,5,10"
 * and returns BS_ERR_USER. */
int run_inputs_parse_epochs(const char *cmd, const char *list, int *epochs, int max, int *n);

/* The epochs a shift-against-depth table of r on set is drawn at, ascending
 * as given, into out (room for max(3, n_want)): those of want[0..n_want)
 * that r has (a note for each it lacks), or, with n_want 0, its first,
 * middle and last evaluated epoch (each once). Returns how many, or -1 when
 * out of memory. */
int run_inputs_depth_epochs(const RunLog *r, int set, const int *want, int n_want, int *out, Notes *notes);

#endif
