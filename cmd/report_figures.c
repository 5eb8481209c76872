/* The report's figures as gnuplot commands (report.h): per group of runs
 * the error curves, the ESM of every BN layer against epoch and the six ESM
 * forms against depth at chosen epochs, and across groups the test error
 * and the ESM against depth. The numbers come from the runs' RunLogs; a
 * group's are means over its runs (with the sample std as error bars when
 * it has several). Every plotted series holds at least one number: gnuplot
 * stops at a plot with none, and the script draws every figure. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* The size of the figures shown two to a row (one on a phone). */
#define SMALL_W 440
#define SMALL_H 320

static const int FORM_COLUMN[RF_N_FORMS][RF_N_EPOCH_KINDS] = {
    {SV_ESM_MEAN, SV_ESM_STD}, {SV_RMS_MEAN, SV_RMS_STD}, {SV_NESM_MEAN, SV_NESM_STD}};
static const char *const FORM_NAME[RF_N_FORMS][RF_N_EPOCH_KINDS] = {
    {"esm_mean", "esm_std"}, {"rms_mean", "rms_std"}, {"nesm_mean", "nesm_std"}};

const char *report_form_name(int form, int kind)
{
    return FORM_NAME[form][kind];
}

/* The metrics.csv error columns the error figure draws, in err_col's order. */
static const char *const ERR_COLS[] = {"train_batch_err", "train_err", "test_err", "train_bstat_err",
                                       "test_bstat_err"};
#define N_ERR_COLS (sizeof ERR_COLS / sizeof ERR_COLS[0])

static double err_col(const MetricRow *m, size_t c)
{
    const double v[N_ERR_COLS] = {m->train_batch_err, m->train_err, m->test_err, m->train_bstat_err,
                                  m->test_bstat_err};
    return v[c];
}

static void put_num(FILE *f, double v)
{
    if (isnan(v))
        fputs(" NaN", f);
    else
        fprintf(f, " %.9g", v);
}

/* Whole-number tics (epochs, depths) while there are few of them; gnuplot
 * would put one at 1.5 otherwise. */
static void integer_tics(FILE *f, const char *axis, int max)
{
    if (max <= 12)
        fprintf(f, "set %stics 1\n", axis);
    else
        fprintf(f, "set format %s '%%.0f'\n", axis);
}

/* The last epoch r logged (0 for none). */
static int last_epoch(const RunLog *r)
{
    return r->n_metrics ? r->metrics[r->n_metrics - 1].epoch : 0;
}

/* Whether run r has any number in error column c. */
static int has_err(const RunLog *r, size_t c)
{
    for (int k = 0; k < r->n_metrics; k++)
        if (!isnan(err_col(&r->metrics[k], c)))
            return 1;
    return 0;
}

/* One block per run: epoch and the error columns; a line per column and
 * run, a colour per column, a dash type per run. */
static int fig_errors(const Report *rep, FigureSet *fs, const ReportGroup *g)
{
    int any = 0;
    for (int i = 0; i < g->n; i++)
        for (size_t c = 0; c < N_ERR_COLS; c++)
            any |= has_err(&rep->runs[g->members[i]], c);
    if (!any)
        return -1;
    int k = figs_begin(fs, 480, 360), last = 0;
    FILE *f = fs->gp;
    fprintf(f, "$e%d << EOD\n", k);
    for (int i = 0; i < g->n; i++) {
        const RunLog *r = &rep->runs[g->members[i]];
        last = last_epoch(r) > last ? last_epoch(r) : last;
        fprintf(f, "%s# run %d\n", i ? "\n\n" : "", i);
        for (int m = 0; m < r->n_metrics; m++) {
            fprintf(f, "%d", r->metrics[m].epoch);
            for (size_t c = 0; c < N_ERR_COLS; c++)
                put_num(f, err_col(&r->metrics[m], c));
            fputc('\n', f);
        }
    }
    fputs("EOD\n", f);
    /* The key inside, over headroom above the curves: outside it would
     * shrink the plot on a phone. */
    fputs("set xlabel 'epoch'\nset ylabel 'error'\nset yrange [0:*]\nset offsets 0, 0, graph 0.35, 0\n"
          "set key top right opaque box lc rgb '#cccccc'\n", f);
    integer_tics(f, "x", last);
    const char *sep = "plot ";
    for (size_t c = 0; c < N_ERR_COLS; c++) {
        int titled = 0;
        for (int i = 0; i < g->n; i++) {
            if (!has_err(&rep->runs[g->members[i]], c))
                continue;
            fprintf(f, "%s$e%d index %d using 1:%d with linespoints lc %d dt %d pt 7 ps 0.4 lw 1.5 ", sep, k, i,
                    (int)c + 2, (int)c + 1, i % 5 + 1);
            sep = ", \\\n  ";
            if (titled++)
                fputs("notitle", f);
            else {
                fputs("title ", f);
                figs_quote(f, ERR_COLS[c]);
            }
        }
    }
    fputs("\nunset output\n", f);
    return k;
}

/* The epochs any run of g has shift rows for on set, ascending, without
 * repeats (caller frees). */
static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int *group_epochs(const Report *rep, const ReportGroup *g, int set, int *n)
{
    int total = 0;
    for (int i = 0; i < g->n; i++)
        total += runlog_epochs(&rep->runs[g->members[i]], set, NULL, 0);
    int *e = malloc(((size_t)total + 1) * sizeof *e);
    if (!e)
        return NULL;
    int used = 0;
    for (int i = 0; i < g->n; i++)
        used += runlog_epochs(&rep->runs[g->members[i]], set, e + used, total - used);
    qsort(e, (size_t)used, sizeof *e, cmp_int);
    *n = 0;
    for (int i = 0; i < used; i++)
        if (*n == 0 || e[*n - 1] != e[i])
            e[(*n)++] = e[i];
    return e;
}

/* The BN layers of g on set: the most any of its runs has (they share a
 * config, so all have the same). */
static int group_layers(const Report *rep, const ReportGroup *g, int set)
{
    int L = 0;
    for (int i = 0; i < g->n; i++) {
        int l = runlog_n_layers(&rep->runs[g->members[i]], set);
        if (l > L)
            L = l;
    }
    return L;
}

/* Mean and sample std of shift column col at (epoch, set, layer) over g's
 * runs that have the row, and its depth; returns how many have it. */
static int layer_stat(const Report *rep, const ReportGroup *g, int epoch, int set, int layer, int col,
                      double *mean, double *std, int *depth)
{
    double s = 0, ss = 0;
    int n = 0;
    for (int i = 0; i < g->n; i++) {
        const ShiftRow *row = runlog_find(&rep->runs[g->members[i]], epoch, set, layer);
        if (!row || isnan(row->v[col]))
            continue;
        s += row->v[col];
        *depth = row->depth;
        n++;
    }
    *mean = n ? s / n : NAN;
    for (int i = 0; i < g->n && n; i++) {
        const ShiftRow *row = runlog_find(&rep->runs[g->members[i]], epoch, set, layer);
        if (row && !isnan(row->v[col]))
            ss += (row->v[col] - *mean) * (row->v[col] - *mean);
    }
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
    return n;
}

/* Lines coloured by depth: a colour box instead of a key of every layer. */
static void depth_palette(FILE *f, int dmin, int dmax)
{
    double lo = dmin, hi = dmax;
    if (dmin >= dmax) {
        lo -= 0.5;
        hi += 0.5;
    }
    fprintf(f,
            "set palette defined (0 '#3b4cc0', 0.5 '#5aa469', 1 '#b40426')\n"
            "set cbrange [%g:%g]\nset cblabel 'depth'\nset key off\n",
            lo, hi);
}

/* esm_mean (kind RF_MEAN) or esm_std of every BN layer against epoch on
 * set, the group's mean; one block per layer that has a number. */
static int fig_esm_epoch(const Report *rep, FigureSet *fs, const ReportGroup *g, int set, int kind, BsError *err)
{
    int L = group_layers(rep, g, set), n_ep = 0;
    if (L == 0)
        return -1;
    int *ep = group_epochs(rep, g, set, &n_ep);
    if (!ep) {
        bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        return -1;
    }
    int col = FORM_COLUMN[RF_FORM_RAW][kind];
    int k = figs_begin(fs, SMALL_W, SMALL_H), blocks = 0, dmin = 1 << 30, dmax = 0;
    FILE *f = fs->gp;
    fprintf(f, "$s%d << EOD\n", k);
    for (int l = 0; l < L; l++) {
        int points = 0;
        for (int e = 0; e < n_ep; e++) {
            double mean, std;
            int depth = 0;
            if (!layer_stat(rep, g, ep[e], set, l, col, &mean, &std, &depth))
                continue;
            if (!points++)
                fprintf(f, "%s# layer %d\n", blocks++ ? "\n\n" : "", l);
            fprintf(f, "%d %.9g %d\n", ep[e], mean, depth);
            dmin = depth < dmin ? depth : dmin;
            dmax = depth > dmax ? depth : dmax;
        }
    }
    fputs("EOD\n", f);
    if (!blocks) {
        free(ep); /* an empty figure: draw a note instead of failing */
        fputs("set label 'no numbers' at graph 0.5, 0.5 center\nset xrange [0:1]\nset yrange [0:1]\n"
              "plot NaN notitle\nunset output\n", f);
        return k;
    }
    depth_palette(f, dmin, dmax);
    integer_tics(f, "x", ep[n_ep - 1]);
    fprintf(f, "set xlabel 'epoch'\nset ylabel '%s (%s set)'\nset yrange [0:*]\n", FORM_NAME[RF_FORM_RAW][kind],
            runlog_set_name(set));
    fprintf(f, "plot for [i=0:%d] $s%d index i using 1:2:3 with linespoints pt 7 ps 0.4 lw 1.2 lc palette notitle\n"
               "unset output\n", blocks - 1, k);
    free(ep);
    return k;
}

/* A shift column against depth at each chosen epoch on set: the group's
 * mean, with the std over its runs as error bars when it has several. */
static int fig_esm_depth(const Report *rep, FigureSet *fs, const ReportGroup *g, const GroupFigures *gf, int form,
                         int kind)
{
    int set = gf->depth_set, L = group_layers(rep, g, set), col = FORM_COLUMN[form][kind];
    if (L == 0 || gf->n_depth_epochs == 0)
        return -1;
    int k = figs_begin(fs, SMALL_W, SMALL_H), blocks = 0, with_std = g->n > 1, dmax = 0;
    int drawn[REPORT_MAX_EPOCHS + 3];
    FILE *f = fs->gp;
    fprintf(f, "$d%d << EOD\n", k);
    for (int e = 0; e < gf->n_depth_epochs; e++) {
        int points = 0;
        for (int l = 0; l < L; l++) {
            double mean, std;
            int depth = 0;
            if (!layer_stat(rep, g, gf->depth_epochs[e], set, l, col, &mean, &std, &depth))
                continue;
            if (!points++)
                fprintf(f, "%s# epoch %d\n", blocks ? "\n\n" : "", gf->depth_epochs[e]);
            fprintf(f, "%d %.9g %.9g\n", depth, mean, std);
            dmax = depth > dmax ? depth : dmax;
        }
        if (points)
            drawn[blocks++] = gf->depth_epochs[e];
    }
    fputs("EOD\n", f);
    if (!blocks) {
        fputs("set label 'no numbers' at graph 0.5, 0.5 center\nset xrange [0:1]\nset yrange [0:1]\n"
              "plot NaN notitle\nunset output\n", f);
        return k;
    }
    fprintf(f, "set xlabel 'depth (position among all norms)'\nset ylabel '%s (%s set)'\nset yrange [0:*]\n"
               "set key below horizontal\nset offsets 0.5, 0.5, 0, 0\n", FORM_NAME[form][kind], runlog_set_name(set));
    integer_tics(f, "x", dmax);
    for (int b = 0; b < blocks; b++)
        fprintf(f, "%s$d%d index %d using 1:2%s with %s pt 7 ps 0.5 lw 1.5 title 'epoch %d'", b ? ", \\\n  " : "plot ",
                k, b, with_std ? ":3" : "", with_std ? "yerrorlines" : "linespoints", drawn[b]);
    fputs("\nunset output\n", f);
    return k;
}

/* The set the depth figures of g show: test, or train when only it was
 * evaluated (summary.csv's choice). */
static int depth_set_of(const Report *rep, const ReportGroup *g)
{
    return group_layers(rep, g, RUNLOG_TEST) > 0 ? RUNLOG_TEST : RUNLOG_TRAIN;
}

/* A group's name in a key: its first run's, with the seed count. */
static void group_title(FILE *f, const Report *rep, const ReportGroup *g)
{
    char title[200];
    snprintf(title, sizeof title, "%s%s", rep->runs[g->members[0]].cfg.name, g->n > 1 ? " (mean of seeds)" : "");
    figs_quote(f, title);
}

/* The longest run's last epoch. */
static int max_epoch(const Report *rep)
{
    int last = 0;
    for (int i = 0; i < rep->n_runs; i++) {
        const RunLog *r = &rep->runs[i];
        if (r->n_metrics && r->metrics[r->n_metrics - 1].epoch > last)
            last = r->metrics[r->n_metrics - 1].epoch;
    }
    return last;
}

/* mean[e] = g's mean test error at epoch e (1..last; NAN where no run has
 * one); returns how many epochs have one. */
static int group_test_err(const Report *rep, const ReportGroup *g, int last, double *mean)
{
    int *n = calloc((size_t)last + 1, sizeof *n), points = 0;
    for (int e = 0; e <= last; e++)
        mean[e] = 0;
    for (int i = 0; n && i < g->n; i++) {
        const RunLog *r = &rep->runs[g->members[i]];
        for (int m = 0; m < r->n_metrics; m++)
            if (!isnan(r->metrics[m].test_err)) {
                mean[r->metrics[m].epoch] += r->metrics[m].test_err;
                n[r->metrics[m].epoch]++;
            }
    }
    for (int e = 0; e <= last; e++) {
        mean[e] = n && n[e] ? mean[e] / n[e] : NAN;
        points += !isnan(mean[e]);
    }
    free(n);
    return points;
}

/* The axes and plot command of an overview figure: one line per group
 * drawn into datablock $oK (drawn[g]: its index + 1, 0 when the group has
 * no data), x running over the integers up to xmax. */
static void plot_groups(FILE *f, const Report *rep, const int *drawn, int k, const char *xlabel,
                        const char *ylabel, int xmax)
{
    fprintf(f, "EOD\nset xlabel '%s'\nset ylabel '%s'\nset yrange [0:*]\n"
               "set key below vertical maxcols 1 height 1\n", xlabel, ylabel);
    integer_tics(f, "x", xmax);
    const char *sep = "plot ";
    for (int gi = 0; gi < rep->n_groups; gi++) {
        if (!drawn[gi])
            continue;
        fprintf(f, "%s$o%d index %d using 1:2 with linespoints pt 7 ps 0.4 lw 1.5 dt %d title ", sep, k,
                drawn[gi] - 1, gi / 8 % 5 + 1);
        group_title(f, rep, &rep->groups[gi]);
        sep = ", \\\n  ";
    }
    fputs("\nunset output\n", f);
}

/* Across groups: each group's mean test error against epoch. */
static int fig_overview_err(const Report *rep, FigureSet *fs, BsError *err)
{
    int last = max_epoch(rep), k = -1, b = 0;
    double *mean = malloc(((size_t)last + 1) * sizeof *mean);
    int *drawn = calloc((size_t)rep->n_groups + 1, sizeof *drawn);
    if (!mean || !drawn) {
        free(mean);
        free(drawn);
        bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        return -1;
    }
    for (int gi = 0; gi < rep->n_groups; gi++) {
        if (!group_test_err(rep, &rep->groups[gi], last, mean))
            continue;
        if (k < 0) {
            k = figs_begin(fs, 480, 340 + 18 * rep->n_groups);
            fprintf(fs->gp, "$o%d << EOD\n", k);
        }
        fprintf(fs->gp, "%s# group %d\n", b ? "\n\n" : "", rep->groups[gi].number);
        for (int e = 1; e <= last; e++)
            if (!isnan(mean[e]))
                fprintf(fs->gp, "%d %.9g\n", e, mean[e]);
        drawn[gi] = ++b;
    }
    if (k >= 0) {
        plot_groups(fs->gp, rep, drawn, k, "epoch", "test error", last);
    }
    free(mean);
    free(drawn);
    return k;
}

/* Across groups: each group's mean esm_mean against depth at its first
 * run's last evaluated epoch (test set, or train without one). */
static int fig_overview_depth(const Report *rep, FigureSet *fs, BsError *err)
{
    int *last = malloc(((size_t)rep->n_groups + 1) * sizeof *last);
    int *drawn = calloc((size_t)rep->n_groups + 1, sizeof *drawn);
    if (!last || !drawn) {
        free(last);
        free(drawn);
        bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        return -1;
    }
    int any = 0;
    for (int gi = 0; gi < rep->n_groups; gi++) {
        const ReportGroup *g = &rep->groups[gi];
        const RunLog *r = &rep->runs[g->members[0]];
        int set = depth_set_of(rep, g);
        last[gi] = r->n_groups[set] ? r->groups[set][r->n_groups[set] - 1].epoch : 0;
        any |= last[gi] && group_layers(rep, g, set) > 0;
    }
    if (!any) {
        free(last);
        free(drawn);
        return -1;
    }
    int k = figs_begin(fs, 480, 340 + 18 * rep->n_groups), b = 0, dmax = 0;
    FILE *f = fs->gp;
    fprintf(f, "$o%d << EOD\n", k);
    for (int gi = 0; gi < rep->n_groups; gi++) {
        const ReportGroup *g = &rep->groups[gi];
        int set = depth_set_of(rep, g), points = 0;
        for (int l = 0; last[gi] && l < group_layers(rep, g, set); l++) {
            double mean, std;
            int depth = 0;
            if (!layer_stat(rep, g, last[gi], set, l, SV_ESM_MEAN, &mean, &std, &depth))
                continue;
            if (!points++)
                fprintf(f, "%s# group %d\n", b ? "\n\n" : "", g->number);
            fprintf(f, "%d %.9g\n", depth, mean);
        }
        if (points)
            drawn[gi] = ++b;
        for (int l = 0; points && l < group_layers(rep, g, set); l++) {
            const ShiftRow *row = runlog_find(&rep->runs[g->members[0]], last[gi], set, l);
            dmax = row && row->depth > dmax ? row->depth : dmax;
        }
    }
    plot_groups(f, rep, drawn, k, "depth (position among all norms)", "esm_mean at the last epoch", dmax);
    free(drawn);
    free(last);
    return k;
}

/* The epochs g's depth figures are drawn at: its first run's choice;
 * every run's missing --epochs are noted. */
static int choose_depth_epochs(const Report *rep, const ReportGroup *g, GroupFigures *gf, const int *epochs,
                               int n_epochs, Notes *notes, BsError *err)
{
    int scratch[REPORT_MAX_EPOCHS + 3] = {0};
    gf->n_depth_epochs = 0;
    for (int i = 0; i < g->n; i++) {
        const RunLog *r = &rep->runs[g->members[i]];
        if (runlog_n_layers(r, gf->depth_set) == 0)
            continue;
        int n = run_inputs_depth_epochs(r, gf->depth_set, epochs, n_epochs, i ? scratch : gf->depth_epochs, notes);
        if (n < 0)
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        if (!i)
            gf->n_depth_epochs = n;
    }
    return 0;
}

static int group_figures(const Report *rep, FigureSet *fs, const ReportGroup *g, GroupFigures *gf,
                         const int *epochs, int n_epochs, Notes *notes, BsError *err)
{
    gf->errors = fig_errors(rep, fs, g);
    for (int set = 0; set < RUNLOG_NSETS; set++)
        for (int kind = 0; kind < RF_N_EPOCH_KINDS; kind++)
            if ((gf->esm_epoch[set][kind] = fig_esm_epoch(rep, fs, g, set, kind, err)) < 0 && err->code)
                return err->code;
    gf->depth_set = depth_set_of(rep, g);
    if (choose_depth_epochs(rep, g, gf, epochs, n_epochs, notes, err))
        return err->code;
    for (int form = 0; form < RF_N_FORMS; form++)
        for (int kind = 0; kind < RF_N_EPOCH_KINDS; kind++)
            gf->esm_depth[form][kind] = fig_esm_depth(rep, fs, g, gf, form, kind);
    return 0;
}

int report_figures(Report *rep, FigureSet *fs, const int *epochs, int n_epochs, Notes *notes, BsError *err)
{
    for (int gi = 0; gi < rep->n_groups; gi++)
        if (group_figures(rep, fs, &rep->groups[gi], &rep->figs[gi], epochs, n_epochs, notes, err))
            return err->code;
    rep->overview.test_err = rep->overview.esm_depth = -1;
    if (rep->n_groups > 1) {
        rep->overview.test_err = fig_overview_err(rep, fs, err);
        if (!err->code)
            rep->overview.esm_depth = fig_overview_depth(rep, fs, err);
        if (err->code)
            return err->code;
    }
    return 0;
}
