/* Strict readers for a run directory's logs (see runlog.h). */
#include "io/runlog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define METRICS_COLS 10
#define SHIFT_COLS 13
#define MAX_FIELDS 16

static const char METRICS_HEADER[] = "epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,"
                                     "test_loss,test_err,seconds,images_per_s";
static const char SHIFT_HEADER[] = "epoch,set,layer,name,depth,channels,esm_mean,esm_std,esm_var,"
                                   "rms_mean,rms_std,nesm_mean,nesm_std";

typedef struct {
    FILE *f;
    const char *path;
    char *line;
    size_t cap;
    int lineno;
    char *field[MAX_FIELDS];
} CsvReader;

const char *runlog_set_name(int set)
{
    return set == RUNLOG_TEST ? "test" : "train";
}

/* Reads one line into r->line without its newline. 1 = a line, 0 = end of
 * file, -1 = a last line cut short (no newline: a partial write). */
static int read_line(CsvReader *r)
{
    ssize_t n = getline(&r->line, &r->cap, r->f);
    if (n < 0)
        return 0;
    r->lineno++;
    if (r->line[n - 1] != '\n')
        return -1;
    r->line[n - 1] = '\0';
    if (n >= 2 && r->line[n - 2] == '\r') /* tolerate a CRLF copy */
        r->line[n - 2] = '\0';
    return 1;
}

static void reader_close(CsvReader *r)
{
    if (r->f)
        fclose(r->f);
    free(r->line);
    memset(r, 0, sizeof *r);
}

/* Opens path and checks its header line is exactly `header`. */
static int reader_open(CsvReader *r, const char *path, const char *header, BnError *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->f = fopen(path, "r");
    if (!r->f)
        return bn_fail(err, BN_ERR_USER, "%s: cannot open (%s)", path, strerror(errno));
    int got = read_line(r);
    if (got != 1 || strcmp(r->line, header)) {
        bn_fail(err, BN_ERR_USER, "%s:1: bad header, expected '%s'", path, header);
        reader_close(r);
        return BN_ERR_USER;
    }
    return 0;
}

/* Splits the next row into exactly n fields. 1 = a row, 0 = end, -1 = error. */
static int reader_row(CsvReader *r, int n, BnError *err)
{
    int got = read_line(r);
    if (got == 0)
        return 0;
    if (got < 0) {
        bn_fail(err, BN_ERR_USER, "%s:%d: truncated line (no newline at end)", r->path, r->lineno);
        return -1;
    }
    int k = 0;
    char *p = r->line;
    for (;;) {
        if (k < MAX_FIELDS)
            r->field[k] = p;
        k++;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    if (k != n) {
        bn_fail(err, BN_ERR_USER, "%s:%d: expected %d fields, found %d", r->path, r->lineno, n, k);
        return -1;
    }
    return 1;
}

/* Field i as a number; an empty field is NAN when optional. */
static int field_num(const CsvReader *r, int i, int optional, double *out, BnError *err)
{
    const char *s = r->field[i];
    if (!*s && optional) {
        *out = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (!*s || *end || errno == ERANGE)
        return bn_fail(err, BN_ERR_USER, "%s:%d: field %d: expected a number, found '%s'", r->path,
                       r->lineno, i + 1, s);
    return 0;
}

static int field_int(const CsvReader *r, int i, int lo, int *out, BnError *err)
{
    const char *s = r->field[i];
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > 1000000000L)
        return bn_fail(err, BN_ERR_USER, "%s:%d: field %d: expected an integer >= %d, found '%s'",
                       r->path, r->lineno, i + 1, lo, s);
    *out = (int)v;
    return 0;
}

/* Grows *p (elements of size sz) so index n fits. */
static int grow(void **p, int *cap, int n, size_t sz, BnError *err)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, (size_t)nc * sz);
    if (!q)
        return bn_fail(err, BN_ERR_RUNTIME, "out of memory reading logs");
    *p = q;
    *cap = nc;
    return 0;
}

static int parse_metric(const CsvReader *rd, MetricRow *m, BnError *err)
{
    double *dst[] = {&m->lr, &m->train_batch_loss, &m->train_batch_err, &m->train_loss,
                     &m->train_err, &m->test_loss, &m->test_err};
    double timing;
    if (field_int(rd, 0, 1, &m->epoch, err))
        return err->code;
    for (int i = 0; i < 7; i++) /* evaluation columns (3..6) are empty when not run */
        if (field_num(rd, i + 1, i >= 3, dst[i], err))
            return err->code;
    if (field_num(rd, 8, 0, &timing, err) || field_num(rd, 9, 0, &timing, err))
        return err->code;
    return 0;
}

static int load_metrics(RunLog *r, const char *path, BnError *err)
{
    CsvReader rd;
    if (reader_open(&rd, path, METRICS_HEADER, err))
        return err->code;
    int cap = 0, got;
    while ((got = reader_row(&rd, METRICS_COLS, err)) == 1) {
        if (grow((void **)&r->metrics, &cap, r->n_metrics, sizeof *r->metrics, err) ||
            parse_metric(&rd, &r->metrics[r->n_metrics], err)) {
            got = -1;
            break;
        }
        r->n_metrics++;
    }
    reader_close(&rd);
    return got < 0 ? err->code : 0;
}

static int parse_shift(const CsvReader *rd, ShiftRow *s, BnError *err)
{
    const char *set = rd->field[1], *name = rd->field[3];
    if (strcmp(set, "train") && strcmp(set, "test"))
        return bn_fail(err, BN_ERR_USER, "%s:%d: set '%s' is not train or test", rd->path, rd->lineno, set);
    s->set = strcmp(set, "test") ? RUNLOG_TRAIN : RUNLOG_TEST;
    /* Names go into whitespace-separated tables: no blanks, bounded length. */
    if (!*name || strlen(name) >= RUNLOG_NAME_MAX || strpbrk(name, " \t"))
        return bn_fail(err, BN_ERR_USER, "%s:%d: bad layer name '%s'", rd->path, rd->lineno, name);
    snprintf(s->name, sizeof s->name, "%s", name);
    if (field_int(rd, 0, 1, &s->epoch, err) || field_int(rd, 2, 0, &s->layer, err) ||
        field_int(rd, 4, 1, &s->depth, err) || field_int(rd, 5, 1, &s->channels, err))
        return err->code;
    for (int i = 0; i < SV_N; i++)
        if (field_num(rd, 6 + i, 0, &s->v[i], err))
            return err->code;
    return 0;
}

static int load_shift(RunLog *r, const char *path, BnError *err)
{
    CsvReader rd;
    if (reader_open(&rd, path, SHIFT_HEADER, err))
        return err->code;
    int cap = 0, got;
    while ((got = reader_row(&rd, SHIFT_COLS, err)) == 1) {
        if (grow((void **)&r->shift, &cap, r->n_shift, sizeof *r->shift, err) ||
            parse_shift(&rd, &r->shift[r->n_shift], err)) {
            got = -1;
            break;
        }
        r->n_shift++;
    }
    reader_close(&rd);
    return got < 0 ? err->code : 0;
}

int runlog_load(RunLog *r, const char *dir, BnError *err)
{
    memset(r, 0, sizeof *r);
    struct stat st;
    if (stat(dir, &st))
        return bn_fail(err, BN_ERR_USER, "%s: no such run directory (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bn_fail(err, BN_ERR_USER, "%s: not a run directory", dir);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.resolved.json", dir);
    if (config_load(&r->cfg, path, NULL, 0, err))
        return err->code;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (load_metrics(r, path, err) == 0) {
        snprintf(path, sizeof path, "%s/shift.csv", dir);
        if (load_shift(r, path, err) == 0)
            return 0;
    }
    runlog_free(r);
    return err->code;
}

void runlog_free(RunLog *r)
{
    free(r->metrics);
    free(r->shift);
    r->metrics = NULL;
    r->shift = NULL;
    r->n_metrics = r->n_shift = 0;
}

int runlog_epochs(const RunLog *r, int set, int *out, int max)
{
    int n = 0, last = 0;
    for (int i = 0; i < r->n_shift; i++) {
        const ShiftRow *s = &r->shift[i];
        if (s->set != set || s->epoch <= last)
            continue; /* rows come grouped by epoch, epochs ascending */
        if (n < max)
            out[n] = s->epoch;
        n++;
        last = s->epoch;
    }
    return n;
}

int runlog_n_layers(const RunLog *r, int set)
{
    int n = 0;
    for (int i = 0; i < r->n_shift; i++)
        if (r->shift[i].set == set && r->shift[i].layer + 1 > n)
            n = r->shift[i].layer + 1;
    return n;
}

const ShiftRow *runlog_find(const RunLog *r, int epoch, int set, int layer)
{
    for (int i = 0; i < r->n_shift; i++) {
        const ShiftRow *s = &r->shift[i];
        if (s->epoch == epoch && s->set == set && s->layer == layer)
            return s;
    }
    return NULL;
}
