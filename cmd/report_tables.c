/* The report's tables (report.h): summary.csv's numbers per group, eval.csv's
 * conditions before and after recalibration per run, the overview of the
 * groups; and the HTML text helpers the page shares. */
#include <math.h>
#include <string.h>

#include "report.h"
#include "run_labels.h"

void html_text(FILE *f, const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
}

/* A number in a cell; a dash when missing. */
void html_num(FILE *f, double v)
{
    if (isnan(v))
        fputs("&#8211;", f);
    else
        fprintf(f, "%.4g", v);
}

void html_mean_std(FILE *f, double mean, double std)
{
    html_num(f, mean);
    if (!isnan(mean) && !isnan(std))
        fprintf(f, " &#177; %.2g", std);
}

/* summary.csv's numbers, one column per run (and their mean and std):
 * narrow enough for a phone. Rows no run has a number for are left out. */
void report_summary_table(FILE *f, const Report *rep, const ReportGroup *g)
{
    fprintf(f, "<h3 id=\"g%d-summary\">Summary</h3>\n<div class=\"scroll\"><table class=\"summary\"><thead><tr>"
               "<th class=\"l\">summary.csv</th>", g->number);
    for (int i = 0; i < g->n; i++) {
        fputs("<th>", f);
        html_text(f, rep->runs[g->members[i]].cfg.name);
        fputs("</th>", f);
    }
    if (g->n > 1)
        fputs("<th>mean &#177; std</th>", f);
    fputs("</tr></thead><tbody>\n", f);
    int left_out = 0;
    for (int c = 0; c < RS_N; c++) {
        int any = 0;
        for (int i = 0; i < g->n; i++)
            any |= !isnan(rep->sum[g->members[i]].v[c]) && !(c == RS_CORR_CELLS && rep->sum[g->members[i]].v[c] == 0);
        if (!any) {
            left_out++;
            continue;
        }
        fprintf(f, "<tr><th class=\"l\">%s</th>", run_label_summary_column(c));
        for (int i = 0; i < g->n; i++) {
            fputs("<td>", f);
            html_num(f, rep->sum[g->members[i]].v[c]);
            fputs("</td>", f);
        }
        if (g->n > 1) {
            double mean, std;
            summary_group_stat(rep->sum, rep->group_of, rep->n_runs, g->members[0], c, &mean, &std);
            fputs("<td>", f);
            html_mean_std(f, mean, std);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
    if (left_out)
        fprintf(f, "<p class=\"muted\">%d column%s of summary.csv without a number left out (no eval.csv corrupted "
                   "test sets, or no BN layer).</p>\n", left_out, left_out == 1 ? "" : "s");
}

/* How a condition re-estimated BN: estimator, batches x batch size, ema's
 * momentum. */
static void estimator_text(const EvalKey *k, char *buf, size_t cap)
{
    if (!k->recal[0]) {
        snprintf(buf, cap, "-");
        return;
    }
    int used = snprintf(buf, cap, "%s", k->estimator);
    if (k->est_batches > 0 && used < (int)cap)
        used += snprintf(buf + used, cap - (size_t)used, ", %d x %d", k->est_batches, k->est_batch_size);
    if (!isnan(k->est_momentum) && used < (int)cap)
        snprintf(buf + used, cap - (size_t)used, ", m %g", k->est_momentum);
}

/* The "after" condition of before's eval (same key but the stage). */
static const EvalCond *partner(const RunLog *r, const EvalCond *c, int stage)
{
    EvalKey want = c->key;
    want.stage = stage;
    for (int i = r->n_eval - 1; i >= 0; i--)
        if (evallog_key_eq(&r->eval[i].key, &want))
            return &r->eval[i];
    return NULL;
}

static void eval_table(FILE *f, const RunLog *r)
{
    fputs("<h4>", f);
    html_text(f, r->cfg.name);
    fputs("</h4>\n<div class=\"scroll\"><table class=\"eval\"><thead><tr><th class=\"l\">set</th>"
          "<th class=\"l\">corruption</th><th class=\"l\">recalibrated on</th><th class=\"l\">estimator</th>"
          "<th>err before</th><th>err after</th><th>batch_stats_err</th><th>esm_mean before</th>"
          "<th>esm_mean after</th><th>nesm_mean before</th><th>nesm_mean after</th></tr></thead><tbody>\n", f);
    for (int i = 0; i < r->n_eval; i++) {
        const EvalCond *c = &r->eval[i];
        if (c->key.stage == EVAL_AFTER && partner(r, c, EVAL_BEFORE))
            continue; /* in its "before" row */
        const EvalCond *before = c->key.stage == EVAL_BEFORE ? c : NULL;
        const EvalCond *after = before ? partner(r, c, EVAL_AFTER) : c;
        char corr[64], est[96];
        if (c->key.corruption == CORRUPT_NONE)
            snprintf(corr, sizeof corr, "clean");
        else
            snprintf(corr, sizeof corr, "%s %d", corruption_name(c->key.corruption), c->key.severity);
        estimator_text(&c->key, est, sizeof est);
        fprintf(f, "<tr><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">%s</td><td class=\"l\">",
                runlog_set_name(c->key.set), corr, c->key.recal[0] ? c->key.recal : "-");
        html_text(f, est);
        fputs("</td>", f);
        const double v[] = {before ? before->err : NAN,
                            after ? after->err : NAN,
                            before ? before->batch_stats_err : after->batch_stats_err,
                            before ? before->mean_esm_mean : NAN,
                            after ? after->mean_esm_mean : NAN,
                            before ? before->mean_nesm_mean : NAN,
                            after ? after->mean_nesm_mean : NAN};
        for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
            fputs("<td>", f);
            html_num(f, v[k]);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
}

void report_eval_tables(FILE *f, const Report *rep, const ReportGroup *g)
{
    int any = 0;
    for (int i = 0; i < g->n; i++)
        any |= rep->runs[g->members[i]].n_eval > 0;
    if (!any)
        return;
    fprintf(f, "<h3 id=\"g%d-eval\">Before and after recalibration (eval.csv)</h3>\n"
               "<p class=\"muted\">One row per evaluated condition (the last evaluation of each): inference-mode "
               "error before and after BN's running statistics were re-estimated on the set named by the "
               "estimator, the error of the same weights with batch statistics, and the mean over BN layers of "
               "esm_mean and nesm_mean.</p>\n", g->number);
    for (int i = 0; i < g->n; i++)
        if (rep->runs[g->members[i]].n_eval > 0)
            eval_table(f, &rep->runs[g->members[i]]);
}

/* One row per group: summary_grouped.csv's first numbers. */
void report_overview_table(FILE *f, const Report *rep)
{
    static const int cols[] = {RS_FINAL_ERR, RS_BEST_ERR, RS_ESM_LAST, RS_SLOPE};
    fputs("<div class=\"scroll\"><table class=\"overview\"><thead><tr><th class=\"l\">group</th>"
          "<th class=\"l\">norm</th><th class=\"l\">setting</th><th>train size</th><th>runs</th>", f);
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++)
        fprintf(f, "<th>%s</th>", run_label_summary_column(cols[k]));
    fputs("</tr></thead><tbody>\n", f);
    for (int gi = 0; gi < rep->n_groups; gi++) {
        const ReportGroup *g = &rep->groups[gi];
        const Config *c = &rep->runs[g->members[0]].cfg;
        char norm[64];
        run_label_norm(c, norm, sizeof norm);
        fprintf(f, "<tr><td class=\"l\"><a href=\"#g%d\">%d. ", g->number, g->number);
        html_text(f, c->name);
        fprintf(f, "</a></td><td class=\"l\">%s</td><td class=\"l\">%s-&gt;%s</td><td>", norm,
                run_label_source(c->data.train_from), run_label_source(c->data.test_from));
        if (c->data.train_subset)
            fprintf(f, "%d", c->data.train_subset);
        else
            fputs("all", f);
        fprintf(f, "</td><td>%d</td>", g->n);
        for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
            double mean, std;
            summary_group_stat(rep->sum, rep->group_of, rep->n_runs, g->members[0], cols[k], &mean, &std);
            fputs("<td>", f);
            if (g->n > 1)
                html_mean_std(f, mean, std);
            else
                html_num(f, mean);
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
}

