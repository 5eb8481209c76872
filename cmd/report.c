/* `bnshift report RUN_DIR|SWEEP... [--out FILE] [--epochs LIST]`: one
 * self-contained HTML page of the runs (plot-data's arguments): per group of
 * runs that differ only in seed, the config, error curves, the ESM of every
 * BN layer against epoch and against depth, summary.csv's numbers and
 * eval.csv's before/after-recalibration table; figures drawn by gnuplot's
 * svg terminal and inlined. Every run is read before anything is written;
 * the page is written to FILE.tmp and renamed when whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "io/fsutil.h"
#include "report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bnshift report RUN_DIR|SWEEP... [--out FILE] [--epochs LIST]\n"
            "Writes one self-contained HTML page (default report.html; figures are inline SVG drawn by\n"
            "gnuplot, which must be installed; no script, no external file) about the runs. Arguments as for\n"
            "plot-data: run directories, or a sweep's directory or its sweep.json (its runs in manifest order,\n"
            "those not started or without an evaluated epoch skipped with a warning).\n"
            "Runs whose configs differ only in seed (and name, log.*) form a group; per group:\n"
            "  configuration   dataset, setting, arch, depth/width, norm, train subset, batch, lr, epochs, seeds\n"
            "  error curves    train_batch_err, train_err, test_err and the batch-statistics errors per epoch\n"
            "  ESM vs epoch    esm_mean and esm_std of every BN layer per epoch (test set; train set if logged)\n"
            "  ESM vs depth    esm_mean/std, rms_mean/std, nesm_mean/std against depth at the first, middle and\n"
            "                  last evaluated epoch, or --epochs 1,5,10 (test set, or train without it)\n"
            "  summary         summary.csv's numbers per run, and their mean and std over the group\n"
            "  recalibration   eval.csv's conditions, before and after re-estimating BN (runs with eval.csv)\n"
            "With several groups an overview compares them (test error; esm_mean against depth).\n"
            "Exit 2 for a bad argument or run, 1 when gnuplot is missing or FILE cannot be written.\n");
}

/* The options; run arguments into args[*n_args]. */
static int parse_args(int argc, char **argv, const char **out, int *epochs, int *n_epochs, char **args,
                      int *n_args)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            *out = argv[++i];
            if (!**out)
                return cli_error(BS_ERR_USER, "report: --out: empty path, expected a file");
        } else if (!strcmp(argv[i], "--epochs") && i + 1 < argc) {
            if (run_inputs_parse_epochs("report", argv[++i], epochs, REPORT_MAX_EPOCHS, n_epochs))
                return BS_ERR_USER;
        } else if (!argv[i][0])
            return cli_error(BS_ERR_USER, "report: RUN_DIR: empty path, expected a run directory");
        else if (argv[i][0] != '-' || !argv[i][1])
            args[(*n_args)++] = argv[i];
        else
            return cli_error(BS_ERR_USER, "report: unexpected argument '%s' (see bnshift report --help)", argv[i]);
    }
    if (!*n_args)
        return cli_error(BS_ERR_USER, "report: missing RUN_DIR (see bnshift report --help)");
    struct stat st;
    if (stat(*out, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error(BS_ERR_USER, "report: --out %s is a directory, expected a file", *out);
    return 0;
}

/* The groups of the runs (summary_assign_groups), in order of their first
 * run; members[] holds every group's runs one after the other. */
static int make_groups(Report *rep, int *group_of, int *members, ReportGroup *groups, BsError *err)
{
    if (summary_assign_groups(rep->runs, rep->n_runs, group_of, err))
        return err->code;
    int used = 0;
    rep->n_groups = 0;
    for (int g = 0; g < rep->n_runs; g++) {
        if (group_of[g] != g)
            continue;
        ReportGroup *grp = &groups[rep->n_groups];
        grp->members = members + used;
        grp->n = 0;
        grp->number = ++rep->n_groups;
        for (int i = 0; i < rep->n_runs; i++)
            if (group_of[i] == g)
                members[used + grp->n++] = i;
        used += grp->n;
    }
    rep->groups = groups;
    rep->group_of = group_of;
    return 0;
}

/* Draws and writes the page into the open file af. */
static int write_report(Report *rep, AtomicFile *af, const int *epochs, int n_epochs, Notes *notes, BsError *err)
{
    size_t n = (size_t)rep->n_runs + 1;
    RunSummary *sum = malloc(n * sizeof *sum);
    int *group_of = malloc(n * sizeof *group_of), *members = malloc(n * sizeof *members);
    ReportGroup *groups = calloc(n, sizeof *groups);
    GroupFigures *figs = calloc(n, sizeof *figs);
    FigureSet fs = {0};
    int rc = sum && group_of && members && groups && figs ? 0 : bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    for (int i = 0; !rc && i < rep->n_runs; i++)
        sum[i] = summary_of_run(&rep->runs[i]);
    rep->sum = sum;
    rep->figs = figs;
    if (!rc)
        rc = make_groups(rep, group_of, members, groups, err) || figs_open(&fs, err) ||
             report_figures(rep, &fs, epochs, n_epochs, notes, err) || figs_render(&fs, err) ||
             report_html(af->f, rep, &fs, err);
    figs_close(&fs);
    free(figs);
    free(groups);
    free(members);
    free(group_of);
    free(sum);
    return rc ? err->code : 0;
}

int cmd_report(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    const char *out = "report.html";
    int epochs[REPORT_MAX_EPOCHS], n_epochs = 0, n_args = 0;
    char **args = malloc((size_t)argc * sizeof *args);
    Notes *notes = calloc(1, sizeof *notes);
    if (!args || !notes) {
        free(args);
        free(notes);
        return cli_error(BS_ERR_RUNTIME, "report: out of memory");
    }
    RunInputs in = {0};
    int rc = parse_args(argc, argv, &out, epochs, &n_epochs, args, &n_args);
    if (!rc)
        rc = run_inputs_load(&in, "report", args, n_args, notes);
    if (!rc && !figs_have_gnuplot())
        rc = cli_error(BS_ERR_RUNTIME, "report: gnuplot is not installed (not on PATH): the report's figures are "
                                       "drawn by its svg terminal (Debian: apt-get install gnuplot-nox)");
    BsError err = {0};
    AtomicFile af = {0};
    if (!rc && fs_atomic_open(&af, out, &err))
        rc = cli_error(err.code, "report: %s", err.msg);
    else if (!rc) {
        Report rep = {.runs = in.runs, .n_runs = in.n, .notes = notes};
        if (write_report(&rep, &af, epochs, n_epochs, notes, &err)) {
            fs_atomic_abort(&af);
            rc = cli_error(err.code, "report: %s", err.msg);
        } else if (fs_atomic_commit(&af, &err))
            rc = cli_error(err.code, "report: %s", err.msg);
    }
    if (!rc) {
        notes_print(notes);
        printf("wrote %s\n", out);
    }
    run_inputs_free(&in);
    free(notes);
    free(args);
    return rc;
}
