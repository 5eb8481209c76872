/* RUN_DIR/eval.csv for `bnshift eval`: rows are appended whole or not at
 * all (the old file plus the new rows replace it atomically), and a file of
 * an older bnshift (EVAL_HEADER_V1) is rewritten with today's header. */
#ifndef BS_EVAL_CSV_H
#define BS_EVAL_CSV_H

#include <stddef.h>

#include "core/error.h"

typedef struct {
    char path[4200];
    char *old; /* what stays of the existing file, in today's format */
    size_t old_len;
    int dropped_cut_row; /* a last row cut by a killed eval was dropped */
    int upgraded_rows;   /* rows of an older header given the new columns; -1: none */
} EvalCsv;

/* Reads and checks dir/eval.csv before any work is done: LF line ends, a
 * header of this version or of V1 (upgraded in memory). */
int eval_csv_check(EvalCsv *x, const char *dir, BsError *err);
/* The old contents (or the header) plus rows, atomically. */
int eval_csv_write(const EvalCsv *x, const char *rows, size_t rows_len, BsError *err);
void eval_csv_free(EvalCsv *x);

#endif
