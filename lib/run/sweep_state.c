/* Where a run of a sweep stands, from its directory alone (run/sweep.h),
 * and the marker of a failed attempt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "run/checkpoint.h"
#include "run/runlock.h"
#include "run/sweep.h"

/* The files that make a directory "hold a run" for `bnshift run` (cmd/run.c's
 * RUN_FILES): where they are, the run must start with --resume. */
static const char *const RUN_FILES[] = {"metrics.csv", "shift.csv", "checkpoint.bin", "config.resolved.json",
                                        "eval.csv", "checkpoint.bin.tmp", "config.resolved.json.tmp",
                                        "eval.csv.tmp"};

static int exists_in(const char *dir, const char *file)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static int read_failed(const char *dir, SweepState *s)
{
    char p[4200], line[64];
    snprintf(p, sizeof p, "%s/%s", dir, SWEEP_FAILED_FILE);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    s->exit_code = -1;
    if (fgets(line, sizeof line, f))
        sscanf(line, "exit %d", &s->exit_code);
    if (!fgets(s->note, sizeof s->note, f))
        s->note[0] = '\0';
    s->note[strcspn(s->note, "\n")] = '\0';
    fclose(f);
    return 1;
}

void sweep_run_state(const char *dir, int epochs, SweepState *s)
{
    memset(s, 0, sizeof *s);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return; /* SWEEP_NOT_STARTED */
    for (size_t i = 0; i < sizeof RUN_FILES / sizeof RUN_FILES[0]; i++)
        s->holds_run |= exists_in(dir, RUN_FILES[i]);
    if (runlock_writer(dir, &s->pid)) {
        s->kind = SWEEP_RUNNING;
        return;
    }
    if (exists_in(dir, "checkpoint.bin")) {
        char p[4200];
        snprintf(p, sizeof p, "%s/checkpoint.bin", dir);
        CheckpointMeta meta;
        BsError err = {0};
        if (checkpoint_peek(p, &meta, &err) == BS_OK) {
            s->epoch = meta.epoch;
            s->ckpt_threads = meta.threads;
            if (meta.epoch >= epochs) {
                s->kind = SWEEP_FINISHED;
                return;
            }
        } else {
            snprintf(s->note, sizeof s->note, "%s", err.msg);
        }
    }
    if (read_failed(dir, s))
        s->kind = SWEEP_FAILED;
    else if (s->holds_run)
        s->kind = SWEEP_INTERRUPTED;
}

const char *sweep_state_name(SweepStateKind k)
{
    static const char *const names[] = {"not started", "running", "interrupted", "failed", "finished"};
    return names[k];
}

int sweep_mark_failed(const char *dir, int exit_code, const char *last_line, BsError *err)
{
    char p[4200], text[1200];
    snprintf(p, sizeof p, "%s/%s", dir, SWEEP_FAILED_FILE);
    int n = snprintf(text, sizeof text, "exit %d\n%.1000s\n", exit_code, last_line);
    return fs_write_atomic(p, text, (size_t)n, err);
}

void sweep_clear_failed(const char *dir)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, SWEEP_FAILED_FILE);
    unlink(p);
}

void sweep_last_line(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    char tail[4096];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > (long)sizeof tail - 1 ? size - (long)sizeof tail + 1 : 0;
    size_t n = size >= 0 && fseek(f, from, SEEK_SET) == 0 ? fread(tail, 1, sizeof tail - 1, f) : 0;
    fclose(f);
    tail[n] = '\0';
    while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        tail[--n] = '\0';
    const char *start = strrchr(tail, '\n');
    snprintf(buf, cap, "%s", start ? start + 1 : tail);
}
