/* `bnshift help config`: the config-key table generated from the schema
 * (docs/REFERENCE.md holds the same table; a test compares them), and
 * `bnshift help man`: the man page bnshift.1, built from the same sources
 * (the command list, the synopsis, the key table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "run/config.h"

static const char USAGE[] = "usage: bnshift help config | man | COMMAND\n"
                            "  config   every config key: type, default, allowed values, meaning\n"
                            "  man      the man page (roff), as `make` writes it to bnshift.1\n"
                            "  COMMAND  the same as bnshift COMMAND --help\n";

/* The synopsis lines, shared by the man page and docs/REFERENCE.md §2. */
static const char *const SYNOPSIS[] = {
    "run CONFIG.json [--out DIR] [--set key.path=value]... [--threads N] [--resume [--force]] [--overwrite] "
    "[--quiet]",
    "eval RUN_DIR [--recalibrate train|test [--estimator E] [--batches N] [--batch-size B] [--momentum M]] "
    "[--batch-stats B] [--only train|test] [--set key.path=value]... [--threads N]",
    "plot-data RUN_DIR|SWEEP... [--out DIR] [--epochs LIST]",
    "report RUN_DIR|SWEEP... [--out FILE] [--epochs LIST]",
    "sweep GRID.json [--jobs J] [--threads-per-job T] [--only I | --emit parallel|slurm] [--force]",
    "sweep --status GRID.json",
    "info CONFIG.json [--set key.path=value]...",
    "bench [CONFIG.json] [--threads N] [--batch B] [--steps K] [--backend im2col|onednn] [--per-op] [--set key.path=value]...",
    "corruptions [--grid OUT.png CONFIG.json [--image I] [--scale K] [--set key.path=value]...]",
    "help config | man | COMMAND",
    "--help | --version | COMMAND --help",
};

/* Text for roff: backslashes and leading dots or quotes escaped. */
static void roff_text(FILE *f, const char *s, size_t n)
{
    if (n && (s[0] == '.' || s[0] == '\''))
        fputs("\\&", f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            fputs("\\e", f);
        else if (s[i] == '-')
            fputs("\\-", f);
        else if (s[i] != '`')
            fputc(s[i], f);
    }
}

/* One table row "| `key` | type | `default` | allowed | meaning |" as a
 * roff .TP entry. */
static void roff_key_row(FILE *f, const char *row)
{
    const char *cell[5];
    size_t len[5];
    const char *p = row + 1;
    for (int i = 0; i < 5; i++) {
        while (*p == ' ')
            p++;
        const char *end = strstr(p, " |");
        if (!end)
            return;
        cell[i] = p;
        len[i] = (size_t)(end - p);
        p = end + 2;
    }
    fputs(".TP\n.B ", f);
    roff_text(f, cell[0], len[0]);
    fputs("\n", f);
    roff_text(f, cell[4], len[4]);
    fputs(" (", f);
    roff_text(f, cell[1], len[1]);
    fputs("; default ", f);
    roff_text(f, cell[2], len[2]);
    fputs("; ", f);
    roff_text(f, cell[3], len[3]);
    fputs(")\n", f);
}

static int print_man(void)
{
    char *table = config_reference_table();
    if (!table)
        return cli_error(BS_ERR_RUNTIME, "help: out of memory");
    FILE *f = stdout;
    fputs(".TH BNSHIFT 1 \"\" \"bnshift " BS_VERSION "\" \"User Commands\"\n"
          ".SH NAME\nbnshift \\- estimation shift of Batch Normalization, measured layer by layer\n"
          ".SH SYNOPSIS\n", f);
    for (size_t i = 0; i < sizeof SYNOPSIS / sizeof SYNOPSIS[0]; i++) {
        fputs(".B bnshift\n", f);
        roff_text(f, SYNOPSIS[i], strlen(SYNOPSIS[i]));
        fputs("\n.br\n", f);
    }
    fputs(".SH DESCRIPTION\n"
          "bnshift trains a network and, after every evaluated epoch, measures for every BatchNorm layer the "
          "estimation shift magnitude between its running estimates and the statistics its input really has "
          "(esm_mean = |mu_hat \\- mu|, esm_std = |sigma_hat \\- sigma|, esm_var, their per-channel RMS forms "
          "rms_mean, rms_std, and the scale-free nesm_mean = |(mu_hat \\- mu)/sigma|/sqrt(C), "
          "nesm_std = |sigma_hat/sigma \\- 1|/sqrt(C)), on the train and test sets, logged to CSV beside loss "
          "and error.\n"
          ".SH COMMANDS\n", f);
    for (size_t i = 0; i < cli_n_commands; i++) {
        fputs(".TP\n.B ", f);
        roff_text(f, cli_commands[i].name, strlen(cli_commands[i].name));
        fputs("\n", f);
        roff_text(f, cli_commands[i].summary, strlen(cli_commands[i].summary));
        fputs("\n", f);
    }
    fputs(".SH CONFIG KEYS\n", f);
    int row = 0;
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n"))
        if (row++ >= 2) /* after the header and the separator */
            roff_key_row(f, line);
    fputs(".SH FILES\n"
          "A run directory holds config.resolved.json, metrics.csv (columns epoch, lr, train_batch_loss, "
          "train_batch_err, train_loss, train_err, test_loss, test_err, seconds, images_per_s, "
          "train_bstat_loss, train_bstat_err, test_bstat_loss, test_bstat_err), shift.csv "
          "(epoch, set, layer, name, depth, channels, esm_mean, esm_std, esm_var, rms_mean, rms_std, nesm_mean, "
          "nesm_std), checkpoint.bin, eval.csv (written by eval: checkpoint_epoch, recalibrated_on, stage, set, "
          "loss, err, batch_stats_err, layer, name, depth, channels, the seven ESM columns, estimator, "
          "est_batches, est_batch_size, est_momentum, batch_stats_size, corruption, severity) and "
          ".bnshift.lock. A sweep's directory holds sweep.json (the expanded grid), sweep.parallel and "
          "sweep.sbatch (\\-\\-emit), and its run directories also sweep.log (the run's output) and, after a "
          "failure, sweep\\-failed.txt (exit status and last line).\n"
          ".SH EXIT STATUS\n"
          "0 success; 1 a runtime failure (I/O while writing, NaN/Inf, out of memory); 2 anything the user "
          "supplied is wrong (usage, config, data, checkpoint or log files, a run directory in use); 130/143 "
          "interrupted by SIGINT/SIGTERM. Every non\\-zero exit prints one line on stderr.\n"
          ".SH ENVIRONMENT\n"
          "OMP_NUM_THREADS (default thread count), BNSHIFT_CONV (im2col or onednn), BNSHIFT_SHARE_CORES=1 "
          "(run does not wait for cores other runs hold), OMP_WAIT_POLICY and GOMP_SPINCOUNT (how idle threads "
          "wait; unset, bnshift sets GOMP_SPINCOUNT=10000), OPENBLAS_CORETYPE (OpenBLAS's kernels; where "
          "OpenBLAS falls back to its SSE3 ones on a CPU with AVX or better, bnshift names the CPU's own; "
          "\\-\\-version prints the core), TMPDIR (where the CPU lock files live).\n"
          ".SH SEE ALSO\n"
          "docs/REFERENCE.md in the bnshift sources: the same reference in full.\n", f);
    free(table);
    return 0;
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (argc > 2)
        return cli_error(BS_ERR_USER, "help: unexpected argument '%s' (see bnshift help --help)", argv[2]);
    if (!strcmp(argv[1], "config")) {
        char *table = config_reference_table();
        if (!table)
            return cli_error(BS_ERR_RUNTIME, "help: out of memory");
        fputs(table, stdout);
        free(table);
        return 0;
    }
    if (!strcmp(argv[1], "man"))
        return print_man();
    for (size_t i = 0; i < cli_n_commands; i++)
        if (!strcmp(argv[1], cli_commands[i].name) && strcmp(argv[1], "help")) {
            char *args[] = {argv[1], "--help", NULL};
            return cli_commands[i].fn(2, args);
        }
    return cli_error(BS_ERR_USER, "help: unknown topic '%s' (config, man, or a command)", argv[1]);
}
