/* bnshift entry point: dispatch, --help, --version. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"

#ifndef BN_VERSION
#define BN_VERSION "dev"
#endif
#ifndef BN_GIT_HASH
#define BN_GIT_HASH "unknown"
#endif

static const struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} commands[] = {
    {"run", "train a configured network and log per-layer estimation shift to CSV", cmd_run},
    {"eval", "evaluate a run's checkpoint; --recalibrate re-estimates BN statistics first", cmd_eval},
    {"info", "print the model a config builds: layers, norm types, parameters, MACs", cmd_info},
    {"plot-data", "turn run logs into gnuplot-ready tables and summary CSVs", cmd_plot_data},
    {"bench", "time training steps: images/s, time by layer type, GFLOP/s vs sgemm", cmd_bench},
};

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bnshift: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bnshift COMMAND [ARGS]\n\n"
               "Estimation shift of Batch Normalization, measured layer by layer.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  bnshift --version | --help | COMMAND --help\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) /* one line, like every failure (SPEC §2); --help has the list */
        return cli_error(BN_ERR_USER, "missing COMMAND (see bnshift --help)");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("bnshift %s (%s)\n", BN_VERSION, BN_GIT_HASH);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    return cli_error(BN_ERR_USER, "unknown command '%s' (see bnshift --help)", argv[1]);
}
