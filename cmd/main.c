/* bnshift entry point: dispatch, --help, --version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "git_hash.h" /* generated: BS_GIT_HASH */
#include "core/error.h"
#include "core/fault.h"
#include "core/threads.h"
#include "layers/conv2d_onednn.h"
#include "models/model.h"

#ifndef BS_VERSION
#define BS_VERSION "dev"
#endif

const CliCommand cli_commands[] = {
    {"run", "train a configured network and log per-layer estimation shift to CSV", cmd_run},
    {"eval", "evaluate a run's checkpoint; --recalibrate re-estimates BN statistics (exact, ioffe, precise, ema, cumulative)", cmd_eval},
    {"export", "write a run's weights and BN statistics as safetensors, named as PyTorch's state_dict()", cmd_export},
    {"info", "print the model a config builds: layers, norm types, parameters, MACs", cmd_info},
    {"plot-data", "turn run logs into gnuplot-ready tables and summary CSVs", cmd_plot_data},
    {"report", "one self-contained HTML page of runs: configs, error and ESM figures, summary and eval tables", cmd_report},
    {"sweep", "a grid of runs: run them here J at a time (resumable), --emit for GNU parallel or Slurm, --status", cmd_sweep},
    {"bench", "time training steps: images/s, time by layer type, GFLOP/s vs sgemm", cmd_bench},
    {"corruptions", "list data.corruption's corruptions and severities; --grid draws them as a PNG", cmd_corruptions},
    {"help", "every config key (help config), the man page (help man), a command's --help", cmd_help},
};
const size_t cli_n_commands = sizeof cli_commands / sizeof cli_commands[0];

const char *cli_program = "bnshift";

/* Set when main returns: an exit() before that came from a library. */
static int main_returned;

/* OpenBLAS and libgomp end the process with exit(1) and a message of their
 * own when they cannot get memory or threads; say what that means in
 * bnshift's words too, so that their message is not the only one. */
static void report_library_exit(void)
{
    if (!main_returned && !cli_error_was_printed())
        fputs("bnshift: stopped by a library (its message is above): usually out of memory or threads; "
              "check ulimit -v and ulimit -u, or use fewer --threads\n", stderr);
}

/* Every command's output is checked at exit: a full disk or a closed pipe
 * on stdout is a runtime failure (exit 1), not a silent success. */
static int finish(int rc)
{
    int bad = ferror(stdout), e = 0;
    if (fflush(stdout) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad && rc == 0)
        rc = cli_error(BS_ERR_RUNTIME, "standard output: write failed: %s", e ? strerror(e) : "I/O error");
    main_returned = 1;
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bnshift COMMAND [ARGS]\n\n"
               "Estimation shift of Batch Normalization, measured layer by layer.\n\ncommands:\n");
    for (size_t i = 0; i < cli_n_commands; i++)
        fprintf(f, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(f, "\n  bnshift --version | --help | COMMAND --help\n"
               "Reference: docs/REFERENCE.md, man bnshift (bnshift.1), bnshift help config.\n");
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) /* one line, like every failure (REFERENCE.md §2); --help has the list */
        return cli_error(BS_ERR_USER, "missing COMMAND (see bnshift --help)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("bnshift %s (%s)\n", BS_VERSION, BS_GIT_HASH);
        /* What the numbers depend on besides the code (bench_common.sh reads the core). */
        printf("OpenBLAS core: %s\noneDNN: %s\n", bs_blas_core(), *onednn_version() ? onednn_version() : "not built in");
        return 0;
    }
    for (size_t i = 0; i < cli_n_commands; i++)
        if (!strcmp(argv[1], cli_commands[i].name))
            return cli_commands[i].fn(argc - 1, argv + 1);
    return cli_error(BS_ERR_USER, "unknown command '%s' (see bnshift --help)", argv[1]);
}

int main(int argc, char **argv)
{
    startup_env_apply(argv);
    cli_program = argc > 0 && argv[0][0] ? argv[0] : "bnshift";
    atexit(report_library_exit);
    /* The environment is read here and passed to the library. */
    bs_fault_configure(getenv("BNSHIFT_FAULT"));
    BsError err = {0};
    ConvBackend conv;
    if (conv_backend_parse(getenv("BNSHIFT_CONV"), &conv, &err))
        return finish(cli_error(err.code, "%s", err.msg));
    conv_backend_set_default(conv);
    return finish(dispatch(argc, argv));
}
