/* Append-only CSV logs that survive crashes: rows go out with fflush+fsync
 * at commit points, and a resumed run truncates each file to the length its
 * checkpoint recorded (dropping partial rows and rows of later epochs). */
#ifndef BS_CSV_H
#define BS_CSV_H

#include <stdio.h>

#include "core/error.h"

typedef struct {
    FILE *f;
    char path[4096];
    int lost_row; /* a row could not be formatted (out of memory) */
} CsvLog;

/* truncate_to < 0: start a new file with the header line. Otherwise the file
 * must exist and is cut to truncate_to bytes (BS_ERR_USER when it is shorter:
 * the run directory does not belong to the checkpoint). */
int csv_open(CsvLog *c, const char *path, const char *header, long truncate_to, BsError *err);
/* printf-style row text (the caller adds the newline). */
void csv_printf(CsvLog *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* fflush + fsync; *length gets the byte length. BS_ERR_RUNTIME on I/O error. */
int csv_commit(CsvLog *c, long *length, BsError *err);
void csv_close(CsvLog *c);

#endif
