/* `bnshift report`'s parts: the figures (report_figures.c, drawn by gnuplot
 * through report_svg.c), the tables (report_tables.c) and the page around
 * them (report_html.c). A report
 * has one section per group of runs whose configs differ only in seed, name
 * and log.* (plot-data's summary_grouped.csv groups). */
#ifndef BS_REPORT_H
#define BS_REPORT_H

#include <stdio.h>

#include "run/runlog.h"
#include "run/summary.h"
#include "run_inputs.h"

#define REPORT_MAX_EPOCHS 64

/* One group of runs: members index into the report's runs, in order. */
typedef struct {
    const int *members;
    int n;
    int number; /* 1-based, for ids and headings */
} ReportGroup;

/* The figures of a group (-1: not drawn, e.g. no BN layer). */
enum { RF_MEAN, RF_STD, RF_N_EPOCH_KINDS };
enum { RF_FORM_RAW, RF_FORM_RMS, RF_FORM_NESM, RF_N_FORMS };
typedef struct {
    int errors;
    int esm_epoch[RUNLOG_NSETS][RF_N_EPOCH_KINDS];
    int depth_set;                            /* the set the depth figures show */
    int esm_depth[RF_N_FORMS][RF_N_EPOCH_KINDS]; /* raw, rms, nesm x mean, std */
    int depth_epochs[REPORT_MAX_EPOCHS + 3], n_depth_epochs;
} GroupFigures;

/* Across groups, when there are several: test error and esm_mean against
 * depth at each group's last epoch. */
typedef struct {
    int test_err, esm_depth;
} OverviewFigures;

typedef struct {
    const RunLog *runs;
    const RunSummary *sum;
    const int *group_of; /* per run: its group's first run (summary_assign_groups) */
    int n_runs;
    const ReportGroup *groups;
    int n_groups;
    GroupFigures *figs; /* per group */
    OverviewFigures overview;
    const Notes *notes;
} Report;

/* ---- report_svg.c: figures drawn by one gnuplot process ---- */

typedef struct {
    char dir[4096]; /* a temporary directory; "" until made */
    FILE *gp;       /* dir/report.gp, the script */
    int n;          /* figures begun */
    int rendered;
} FigureSet;

/* Whether gnuplot is on PATH. */
int figs_have_gnuplot(void);
/* Makes the temporary directory and opens the script. BS_ERR_RUNTIME. */
int figs_open(FigureSet *fs, BsError *err);
/* Begins figure fs->n of width x height pixels (the terminal, reset
 * settings, an output file of its own) and returns its index; the caller
 * writes datablocks, settings and one plot command to fs->gp. */
int figs_begin(FigureSet *fs, int width, int height);
/* Runs gnuplot on the script: BS_ERR_RUNTIME with gnuplot's error line. */
int figs_render(FigureSet *fs, BsError *err);
/* Figure k as inline SVG (caller frees): no XML prolog, ids prefixed so
 * that figures do not clash, `title` as its <title>. NULL with err set. */
char *figs_svg(const FigureSet *fs, int k, const char *title, BsError *err);
/* Removes the temporary directory and all in it. */
void figs_close(FigureSet *fs);
/* s as a gnuplot single-quoted string literal. */
void figs_quote(FILE *f, const char *s);

/* ---- report_figures.c ---- */

/* Writes every figure of the report into fs (rep->figs and rep->overview
 * get their indices); epochs[n_epochs] is --epochs (0: first, middle,
 * last). Notes the epochs a run lacks. BS_ERR_RUNTIME when out of memory. */
int report_figures(Report *rep, FigureSet *fs, const int *epochs, int n_epochs, Notes *notes, BsError *err);
/* The caption of each figure kind, for HTML. */
const char *report_form_name(int form, int kind); /* "esm_mean", "rms_std", ... */

/* ---- report_tables.c: the tables, and the page's text helpers ---- */

/* s with &, <, >, " and ' escaped. */
void html_text(FILE *f, const char *s);
/* A number in a cell (4 significant digits); a dash when missing. */
void html_num(FILE *f, double v);
/* "mean ± std". */
void html_mean_std(FILE *f, double mean, double std);
/* summary.csv's numbers of g's runs, one column per run, and their mean
 * and std. */
void report_summary_table(FILE *f, const Report *rep, const ReportGroup *g);
/* eval.csv's conditions of g's runs, before and after recalibration (its
 * heading; nothing when no run of g has eval.csv rows). */
void report_eval_tables(FILE *f, const Report *rep, const ReportGroup *g);
/* One row per group: summary_grouped.csv's first numbers, linked. */
void report_overview_table(FILE *f, const Report *rep);

/* ---- report_html.c ---- */

/* The whole page to f. BS_ERR_RUNTIME when a figure cannot be read or
 * memory runs out. */
int report_html(FILE *f, const Report *rep, const FigureSet *fs, BsError *err);

#endif
