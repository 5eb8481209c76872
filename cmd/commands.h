/* Subcommands: each returns the process exit code (REFERENCE.md §2). */
#ifndef BS_COMMANDS_H
#define BS_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_plot_data(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_corruptions(int argc, char **argv);
int cmd_help(int argc, char **argv);

#include <stddef.h>

/* The subcommands, for dispatch, --help and the man page. */
typedef struct {
    const char *name, *summary;
    int (*fn)(int, char **);
} CliCommand;
extern const CliCommand cli_commands[];
extern const size_t cli_n_commands;

/* What an argument parser returns after printing --help: the command then
 * exits 0 without doing anything else. */
#define CLI_HELP_SHOWN (-1)

/* argv[0] of bnshift, for commands printed as advice. */
extern const char *cli_program;

/* Prints "bnshift: <msg>" to stderr and returns code (one line per failure;
 * control characters in the text are shown escaped). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "bnshift: warning: <msg>" and "bnshift: <msg>" (a note), one line each. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ranks other than 0 of a data-parallel run keep quiet (every rank would
 * print the same lines): the messages above print nothing while set. */
void cli_set_silent(int silent);
/* Whether cli_error has printed the failure line already. */
int cli_error_was_printed(void);
/* *out = the integer s when it is one in [lo, hi]; else prints
 * "bnshift: CMD: FLAG expects an integer in [lo, hi], got 'S'" and returns
 * BS_ERR_USER. */
int cli_parse_int(const char *cmd, const char *flag, const char *s, int lo, int hi, int *out);
/* Whether s holds a control character (newline, tab, escape, ...). */
int cli_has_control_chars(const char *s);
/* arg quoted for a POSIX shell (as is when it needs no quotes) into
 * buf[cap]; returns the length it needs. */
size_t cli_shell_quote(char *buf, size_t cap, const char *arg);
/* Re-executes bnshift once with GOMP_SPINCOUNT set (short spins of idle
 * OpenMP threads) unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set already,
 * and with OPENBLAS_CORETYPE set when OpenBLAS fell back to kernels below
 * the CPU's (bs_blas_better_core) unless it is set already; returns only
 * when it did not re-execute. */
void startup_env_apply(char **argv);

#endif
