/* The report's HTML (report.h): one self-contained page, with the style
 * inline, figures as inline SVG and no script. Every element it opens it
 * closes, so that a strict reader (the tests) can check the page. */
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "report.h"
#include "run_labels.h"

#ifndef BS_VERSION
#define BS_VERSION "dev"
#endif

/* Narrow screens: one column of figures, tables that scroll sideways.
 * Print: no contents list, a page per group, figures kept whole. */
static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;"
    "max-width:1100px;margin:0 auto;padding:0 14px 40px;line-height:1.45;color:#1d1d1d;background:#fff}\n"
    "h1{font-size:1.6em;margin:.8em 0 .3em}h2{font-size:1.3em;border-bottom:2px solid #d0d7de;"
    "padding-bottom:.2em;margin-top:2em}h3{font-size:1.08em;margin:1.5em 0 .5em}h4{margin:1em 0 .3em}\n"
    "a{color:#0b5cad}.muted,figcaption{color:#555;font-size:.88em}\n"
    ".figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(400px,1fr));gap:14px 18px}\n"
    "figure{margin:0 0 8px}svg.plot{display:block;width:100%;height:auto;max-width:760px}\n"
    ".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.3em 0 .8em}\n"
    "table{border-collapse:collapse;font-size:.9em;font-variant-numeric:tabular-nums}\n"
    "th,td{padding:.25em .6em;border-bottom:1px solid #e1e4e8;text-align:right;white-space:nowrap}\n"
    "th{background:#f6f8fa}th.l,td.l{text-align:left}\n"
    ".notes{background:#fff8e1;border-left:4px solid #e0a800;padding:.4em .9em;margin:1em 0}\n"
    "details{margin:.5em 0}details pre{overflow-x:auto;font-size:.8em;background:#f6f8fa;padding:.6em}\n"
    "nav ol{padding-left:1.4em}\n"
    "@media (max-width:640px){body{padding:0 8px 30px;font-size:15px}.figs{grid-template-columns:1fr}"
    "th,td{padding:.2em .4em}h1{font-size:1.35em}}\n"
    "@media print{body{max-width:none;padding:0;font-size:10pt}nav,details{display:none}"
    ".scroll{overflow:visible}section.group{break-before:page}figure,table{break-inside:avoid}"
    "a{color:inherit;text-decoration:none}.figs{grid-template-columns:repeat(2,1fr)}"
    "svg.plot{max-width:100%}}\n";

/* A labelled row of the config table. */
static void config_row(FILE *f, const char *key, const char *value)
{
    fputs("<tr><th class=\"l\">", f);
    html_text(f, key);
    fputs("</th><td class=\"l\">", f);
    html_text(f, value);
    fputs("</td></tr>\n", f);
}

/* The value at a dotted path of the resolved config as text ("" when
 * absent): strings bare, anything else as compact JSON. */
static void json_text(const cJSON *root, const char *path, char *buf, size_t cap)
{
    char key[64];
    const cJSON *j = root;
    buf[0] = '\0';
    while (j && *path) {
        size_t len = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)len, path);
        j = cJSON_GetObjectItemCaseSensitive(j, key);
        path += len + (path[len] == '.');
    }
    if (!j)
        return;
    if (cJSON_IsString(j)) {
        snprintf(buf, cap, "%s", j->valuestring);
        return;
    }
    char *s = cJSON_PrintUnformatted(j);
    if (s)
        snprintf(buf, cap, "%s", s);
    free(s);
}

/* "depth 20, width 16" and the like: the keys that size the family. */
static void size_text(const cJSON *j, const char *arch, char *buf, size_t cap)
{
    static const struct {
        const char *arch, *keys[4];
    } SIZES[] = {
        {"resnet", {"model.depth", "model.width", "model.block"}},
        {"resnext", {"model.depth", "model.width", "model.cardinality", "model.group_width"}},
        {"mlp", {"model.hidden"}},
        {"vgg", {"model.channels"}},
        {"mobilenetv2", {"model.width_mult"}},
        {"shufflenetv2", {"model.width_mult"}},
        {"alexnet", {"model.width", "model.norm_all"}},
        {"inception", {"model.inception", "model.width"}},
    };
    size_t used = 0;
    buf[0] = '\0';
    for (size_t a = 0; a < sizeof SIZES / sizeof SIZES[0]; a++) {
        if (strcmp(SIZES[a].arch, arch))
            continue;
        for (int k = 0; k < 4 && SIZES[a].keys[k] && used < cap; k++) {
            char v[256];
            json_text(j, SIZES[a].keys[k], v, sizeof v);
            used += (size_t)snprintf(buf + used, cap - used, "%s%s %s", k ? ", " : "", SIZES[a].keys[k] + 6, v);
        }
    }
}

static int config_section(FILE *f, const Report *rep, const ReportGroup *g, BsError *err)
{
    const Config *c = &rep->runs[g->members[0]].cfg;
    cJSON *j = config_to_json(c);
    if (!j)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    char v[1024], w[1200];
    fprintf(f, "<h3 id=\"g%d-config\">Configuration</h3>\n<div class=\"scroll\"><table class=\"config\"><tbody>\n",
            g->number);
    json_text(j, "data.dataset", v, sizeof v);
    config_row(f, "dataset", v);
    snprintf(w, sizeof w, "S from %s, S' = %s", run_label_source(c->data.train_from),
             run_label_source(c->data.test_from));
    config_row(f, "setting", w);
    json_text(j, "model.arch", v, sizeof v);
    config_row(f, "arch", v);
    size_text(j, v, w, sizeof w);
    config_row(f, "depth / width", w);
    run_label_norm(c, v, sizeof v);
    config_row(f, "norm", v);
    if (c->data.train_subset)
        snprintf(v, sizeof v, "%d", c->data.train_subset);
    else
        snprintf(v, sizeof v, "all");
    config_row(f, "train subset", v);
    if (c->data.eval_subset)
        snprintf(v, sizeof v, "%d", c->data.eval_subset);
    else
        snprintf(v, sizeof v, "all");
    config_row(f, "eval subset", v);
    json_text(j, "train.batch_size", v, sizeof v);
    config_row(f, "batch", v);
    json_text(j, "train.lr", v, sizeof v);
    json_text(j, "train.schedule.type", w, sizeof w);
    snprintf(v + strlen(v), sizeof v - strlen(v), " (%s)", w);
    config_row(f, "lr", v);
    json_text(j, "train.epochs", v, sizeof v);
    config_row(f, "epochs", v);
    config_row(f, "bn estimator", run_label_bn_estimator(c));
    run_label_corruption(c, v, sizeof v);
    config_row(f, "corruption", v);
    size_t used = 0;
    for (int i = 0; i < g->n && used < sizeof v; i++)
        used += (size_t)snprintf(v + used, sizeof v - used, "%s%d", i ? ", " : "", rep->runs[g->members[i]].cfg.seed);
    config_row(f, g->n > 1 ? "seeds" : "seed", v);
    fputs("</tbody></table></div>\n", f);
    /* The runs themselves, and the whole config for anything not above. */
    fputs("<div class=\"scroll\"><table class=\"runs\"><thead><tr><th class=\"l\">run</th><th>seed</th>"
          "<th>epochs logged</th><th class=\"l\">directory</th></tr></thead><tbody>\n", f);
    for (int i = 0; i < g->n; i++) {
        const RunLog *r = &rep->runs[g->members[i]];
        fputs("<tr><td class=\"l\">", f);
        html_text(f, r->cfg.name);
        fprintf(f, "</td><td>%d</td><td>%d</td><td class=\"l\">", r->cfg.seed,
                r->n_metrics ? r->metrics[r->n_metrics - 1].epoch : 0);
        html_text(f, r->dir);
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table></div>\n", f);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory");
    fputs("<details><summary>the resolved config of ", f);
    html_text(f, c->name);
    fputs("</summary><pre>", f);
    html_text(f, text);
    fputs("</pre></details>\n", f);
    free(text);
    return 0;
}

/* Figure k inline, with its caption. */
static int figure(FILE *f, const FigureSet *fs, int k, const char *title, const char *caption, BsError *err)
{
    char *svg = figs_svg(fs, k, title, err);
    if (!svg)
        return err->code;
    fputs("<figure>\n", f);
    fputs(svg, f);
    fputs("<figcaption>", f);
    html_text(f, caption);
    fputs("</figcaption></figure>\n", f);
    free(svg);
    return 0;
}

static int figures_section(FILE *f, const Report *rep, const FigureSet *fs, const ReportGroup *g, BsError *err)
{
    const GroupFigures *gf = &rep->figs[g->number - 1];
    const char *seeds = g->n > 1 ? "; one line per run (dash type), colour per column" : "";
    char cap[512];
    fprintf(f, "<h3 id=\"g%d-errors\">Error curves</h3>\n", g->number);
    if (gf->errors < 0)
        fputs("<p class=\"muted\">No errors logged yet.</p>\n", f);
    else {
        snprintf(cap, sizeof cap, "metrics.csv's errors against epoch: train_batch_err (training-mode mini-batches), "
                 "train_err and test_err (inference mode), and with batch statistics when logged%s.", seeds);
        fputs("<div class=\"figs\">\n", f);
        if (figure(f, fs, gf->errors, "errors against epoch", cap, err))
            return err->code;
        fputs("</div>\n", f);
    }
    const char *mean = g->n > 1 ? ", mean over the runs" : "";
    fprintf(f, "<h3 id=\"g%d-esm-epoch\">ESM against epoch</h3>\n<div class=\"figs\">\n", g->number);
    int any = 0;
    for (int set = RUNLOG_NSETS - 1; set >= 0; set--) /* the test set first */
        for (int kind = 0; kind < RF_N_EPOCH_KINDS; kind++) {
            int k = gf->esm_epoch[set][kind];
            if (k < 0)
                continue;
            any = 1;
            snprintf(cap, sizeof cap, "%s of every BN layer against epoch on the %s set, colour by depth%s.",
                     report_form_name(RF_FORM_RAW, kind), runlog_set_name(set), mean);
            char title[64];
            snprintf(title, sizeof title, "%s against epoch, %s set", report_form_name(RF_FORM_RAW, kind),
                     runlog_set_name(set));
            if (figure(f, fs, k, title, cap, err))
                return err->code;
        }
    fputs("</div>\n", f);
    if (!any)
        fputs("<p class=\"muted\">No BN layer: no estimation shift to show.</p>\n", f);
    fprintf(f, "<h3 id=\"g%d-esm-depth\">ESM against depth</h3>\n", g->number);
    if (gf->n_depth_epochs == 0) {
        fputs("<p class=\"muted\">No BN layer or no chosen epoch: nothing to show.</p>\n", f);
        return 0;
    }
    fprintf(f, "<p class=\"muted\">%s set, epoch%s", runlog_set_name(gf->depth_set), gf->n_depth_epochs > 1 ? "s" : "");
    for (int e = 0; e < gf->n_depth_epochs; e++)
        fprintf(f, "%s %d", e ? "," : "", gf->depth_epochs[e]);
    fprintf(f, "%s: raw (esm), per-channel RMS (rms) and scale-free (nesm) forms.</p>\n<div class=\"figs\">\n",
            g->n > 1 ? "; mean over the runs, the std over them as error bars" : "");
    for (int form = 0; form < RF_N_FORMS; form++)
        for (int kind = 0; kind < RF_N_EPOCH_KINDS; kind++) {
            if (gf->esm_depth[form][kind] < 0)
                continue;
            char title[64];
            snprintf(title, sizeof title, "%s against depth", report_form_name(form, kind));
            snprintf(cap, sizeof cap, "%s of every BN layer against its depth on the %s set.",
                     report_form_name(form, kind), runlog_set_name(gf->depth_set));
            if (figure(f, fs, gf->esm_depth[form][kind], title, cap, err))
                return err->code;
        }
    fputs("</div>\n", f);
    return 0;
}

static int group_section(FILE *f, const Report *rep, const FigureSet *fs, const ReportGroup *g, BsError *err)
{
    const Config *c = &rep->runs[g->members[0]].cfg;
    char norm[64];
    run_label_norm(c, norm, sizeof norm);
    fprintf(f, "<section class=\"group\" id=\"g%d\">\n<h2>%d. ", g->number, g->number);
    html_text(f, c->name);
    fprintf(f, " <span class=\"muted\">(%s, %d run%s)</span></h2>\n", norm, g->n, g->n == 1 ? "" : "s");
    if (config_section(f, rep, g, err) || figures_section(f, rep, fs, g, err))
        return err->code;
    report_summary_table(f, rep, g);
    report_eval_tables(f, rep, g);
    fputs("</section>\n", f);
    return 0;
}

static int overview_section(FILE *f, const Report *rep, const FigureSet *fs, BsError *err)
{
    fputs("<section id=\"overview\">\n<h2>Overview</h2>\n", f);
    report_overview_table(f, rep);
    fputs("<p class=\"muted\">Mean (&#177; sample std over a group's runs) of summary.csv's final and best test "
          "error, mean esm_mean over BN layers at the last evaluated epoch and its least-squares slope against "
          "depth (test set).</p>\n", f);
    if (rep->overview.test_err >= 0 || rep->overview.esm_depth >= 0) {
        fputs("<div class=\"figs\">\n", f);
        if (rep->overview.test_err >= 0 &&
            figure(f, fs, rep->overview.test_err, "test error of every group",
                   "Test error against epoch, every group (mean over its runs).", err))
            return err->code;
        if (rep->overview.esm_depth >= 0 &&
            figure(f, fs, rep->overview.esm_depth, "esm_mean against depth of every group",
                   "esm_mean of every BN layer against depth at each group's last evaluated epoch (test set; mean "
                   "over its runs).", err))
            return err->code;
        fputs("</div>\n", f);
    }
    fputs("</section>\n", f);
    return 0;
}

int report_html(FILE *f, const Report *rep, const FigureSet *fs, BsError *err)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"bnshift " BS_VERSION "\">\n<title>bnshift report: ", f);
    html_text(f, rep->runs[0].cfg.name);
    if (rep->n_runs > 1)
        fprintf(f, " and %d more", rep->n_runs - 1);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>bnshift report</h1>\n"
               "<p>%d run%s in %d group%s (runs whose configs differ only in seed, name and log.* form a group). "
               "ESM: the estimation shift of BN's running statistics, docs/REFERENCE.md &#167;1.</p>\n</header>\n",
            STYLE, rep->n_runs, rep->n_runs == 1 ? "" : "s", rep->n_groups, rep->n_groups == 1 ? "" : "s");
    if (rep->notes->n) {
        fputs("<div class=\"notes\"><p>Warnings:</p><ul>\n", f);
        for (int i = 0; i < rep->notes->n; i++) {
            fputs("<li>", f);
            html_text(f, rep->notes->text[i]);
            fputs("</li>\n", f);
        }
        fputs("</ul></div>\n", f);
    }
    fputs("<nav><h2>Contents</h2><ol>\n<li><a href=\"#overview\">Overview</a></li>\n", f);
    for (int gi = 0; gi < rep->n_groups; gi++) {
        fprintf(f, "<li><a href=\"#g%d\">", rep->groups[gi].number);
        html_text(f, rep->runs[rep->groups[gi].members[0]].cfg.name);
        fputs("</a></li>\n", f);
    }
    fputs("</ol></nav>\n<main>\n", f);
    if (overview_section(f, rep, fs, err))
        return err->code;
    for (int gi = 0; gi < rep->n_groups; gi++)
        if (group_section(f, rep, fs, &rep->groups[gi], err))
            return err->code;
    fputs("</main>\n<footer><p class=\"muted\">Written by bnshift " BS_VERSION " report.</p></footer>\n"
          "</body>\n</html>\n", f);
    return 0;
}
