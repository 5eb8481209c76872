/* Fault injection for the crash-safety tests (tests/test_cli.c): with
 * BNSHIFT_FAULT=<point>:<epoch> in the environment (read by cmd/main.c and
 * passed to bs_fault_configure) the process kills itself
 * with SIGKILL when it reaches that point of that epoch, as a power cut
 * would. Without the variable a fault point does nothing. Points:
 *   after-csv      the epoch's CSV rows are synced, its checkpoint is not written
 *   in-checkpoint  about half of the epoch's checkpoint temp file is on disk
 *   in-atomic-write  (epoch 0) half of a file replaced atomically (eval.csv,
 *                    config.resolved.json) is in its temp file
 *   hang-epoch     (bs_fault_hang) the start of the epoch's training never
 *                  returns, as a step that cannot finish */
#ifndef BS_FAULT_H
#define BS_FAULT_H

#include <stdio.h>

/* Arms the fault named by spec ("<point>:<epoch>"; NULL: none). cmd/ passes
 * $BNSHIFT_FAULT at start-up. */
void bs_fault_configure(const char *spec);
/* flush (may be NULL) is flushed first, so a partial file reaches the disk. */
void bs_fault_point(const char *point, int epoch, FILE *flush);
/* Blocks for ever (in pause()) when BNSHIFT_FAULT names point and epoch. */
void bs_fault_hang(const char *point, int epoch);

#endif
