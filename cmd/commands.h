/* Subcommands: each returns the process exit code (SPEC §2). */
#ifndef BN_COMMANDS_H
#define BN_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_plot_data(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "bnshift: <msg>" to stderr and returns code (one line per failure). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
