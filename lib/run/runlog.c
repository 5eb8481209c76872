/* Strict readers for a run directory's logs (see runlog.h). */
#include "run/runlog.h"

#include "io/logformat.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Longer than any row bnshift writes (names are < 96 bytes). */
#define RUNLOG_LINE_MAX 65536

const char *runlog_set_name(int set)
{
    return set == RUNLOG_TEST ? "test" : "train";
}

/* Reads one line into r->line without its newline. 1 = a line, 0 = end of
 * file, -1 = a last line cut short (no newline: a partial write), -2 = a
 * CRLF line end where LF is required. */
static int read_line(CsvReader *r)
{
    if (!r->line) {
        r->cap = RUNLOG_LINE_MAX + 2;
        r->line = malloc(r->cap);
        if (!r->line)
            return -4;
    }
    /* Bounded: a hostile file's endless line is refused, not slurped. */
    ssize_t n = 0;
    int ch;
    while (n < RUNLOG_LINE_MAX + 1 && (ch = getc(r->f)) != EOF) {
        r->line[n++] = (char)ch;
        if (ch == '\n')
            break;
    }
    r->line[n] = '\0';
    if (n == 0)
        return 0;
    r->lineno++;
    if (n > RUNLOG_LINE_MAX)
        return -3;
    if (r->line[n - 1] != '\n') {
        if (r->live) {
            r->cut_tail = 1;
            return 0;
        }
        return -1;
    }
    r->line[n - 1] = '\0';
    if (n >= 2 && r->line[n - 2] == '\r') {
        if (r->strict_lf)
            return -2;
        r->line[n - 2] = '\0'; /* tolerate a CRLF copy when only reading */
    }
    return 1;
}

void runlog_csv_close(CsvReader *r)
{
    if (r->f)
        fclose(r->f);
    free(r->line);
    memset(r, 0, sizeof *r);
}

static int line_error(const CsvReader *r, int got, BsError *err)
{
    if (got == -3)
        return bs_fail(err, BS_ERR_USER, "%s:%d: line longer than %d bytes (no log row is that long)", r->path,
                       r->lineno, RUNLOG_LINE_MAX);
    if (got == -4)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory reading %s", r->path);
    if (got == -2)
        return bs_fail(err, BS_ERR_USER, "%s:%d: CRLF line end (bnshift writes LF only; was the file edited?)",
                       r->path, r->lineno);
    return bs_fail(err, BS_ERR_USER, "%s:%d: truncated line (no newline at end)", r->path, r->lineno);
}

int runlog_csv_open(CsvReader *r, FILE *f, const char *path, const char *header, const char *older, int *is_older,
                    int strict_lf, int live, BsError *err)
{
    memset(r, 0, sizeof *r);
    r->path = path;
    r->strict_lf = strict_lf;
    r->live = live;
    r->f = f ? f : fopen(path, "r");
    if (!r->f)
        return bs_fail(err, BS_ERR_USER, "%s: cannot open (%s)", path, strerror(errno));
    int got = read_line(r);
    if (got < -1) {
        line_error(r, got, err);
        runlog_csv_close(r);
        return BS_ERR_USER;
    }
    if (is_older)
        *is_older = got == 1 && older && !strcmp(r->line, older);
    if (got != 1 || (strcmp(r->line, header) && !(is_older && *is_older))) {
        bs_fail(err, BS_ERR_USER, "%s:1: bad header, expected '%s'", path, header);
        runlog_csv_close(r);
        return BS_ERR_USER;
    }
    return 0;
}

static int reader_start(CsvReader *r, FILE *f, const char *path, const char *header, int strict_lf, int live,
                        BsError *err)
{
    return runlog_csv_open(r, f, path, header, NULL, NULL, strict_lf, live, err);
}

int runlog_csv_row(CsvReader *r, int n, BsError *err)
{
    int got = read_line(r);
    if (got == 0)
        return 0;
    if (got < 0) {
        line_error(r, got, err);
        return -1;
    }
    int k = 0;
    char *p = r->line;
    for (;;) {
        if (k < RUNLOG_CSV_MAX_FIELDS)
            r->field[k] = p;
        k++;
        char *comma = strchr(p, ',');
        if (!comma)
            break;
        *comma = '\0';
        p = comma + 1;
    }
    if (k != n) {
        bs_fail(err, BS_ERR_USER, "%s:%d: expected %d fields, found %d", r->path, r->lineno, n, k);
        return -1;
    }
    return 1;
}

int runlog_csv_num(const CsvReader *r, int i, int optional, double *out, BsError *err)
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
        return bs_fail(err, BS_ERR_USER, "%s:%d: field %d: expected a number, found '%s'", r->path,
                       r->lineno, i + 1, s);
    return 0;
}

int runlog_csv_int(const CsvReader *r, int i, int lo, int *out, BsError *err)
{
    const char *s = r->field[i];
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > 1000000000L)
        return bs_fail(err, BS_ERR_USER, "%s:%d: field %d: expected an integer >= %d, found '%s'",
                       r->path, r->lineno, i + 1, lo, s);
    *out = (int)v;
    return 0;
}

int runlog_grow(void **p, int *cap, int n, size_t sz, BsError *err)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, (size_t)nc * sz);
    if (!q)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory reading logs");
    *p = q;
    *cap = nc;
    return 0;
}

static int parse_metric(const CsvReader *rd, int v1, MetricRow *m, BsError *err)
{
    double *dst[] = {&m->lr, &m->train_batch_loss, &m->train_batch_err, &m->train_loss,
                     &m->train_err, &m->test_loss, &m->test_err};
    double timing;
    if (runlog_csv_int(rd, 0, 1, &m->epoch, err))
        return err->code;
    for (int i = 0; i < 7; i++) /* evaluation columns (3..6) are empty when not run */
        if (runlog_csv_num(rd, i + 1, i >= 3, dst[i], err))
            return err->code;
    if (runlog_csv_num(rd, 8, 0, &timing, err) || runlog_csv_num(rd, 9, 0, &timing, err))
        return err->code;
    double *bstat[] = {&m->train_bstat_loss, &m->train_bstat_err, &m->test_bstat_loss, &m->test_bstat_err};
    for (int i = 0; i < 4; i++) /* empty when not evaluated; absent (NAN) in V1 */
        if (v1)
            *bstat[i] = NAN;
        else if (runlog_csv_num(rd, METRICS_COLUMNS_V1 + i, 1, bstat[i], err))
            return err->code;
    return 0;
}

static int load_metrics(RunLog *r, FILE *f, const char *path, int strict_lf, int live, BsError *err)
{
    CsvReader rd;
    int v1;
    if (runlog_csv_open(&rd, f, path, METRICS_HEADER, METRICS_HEADER_V1, &v1, strict_lf, live, err))
        return err->code;
    r->metrics_v1 = v1;
    int cap = 0, got;
    while ((got = runlog_csv_row(&rd, v1 ? METRICS_COLUMNS_V1 : METRICS_COLUMNS, err)) == 1) {
        if (runlog_grow((void **)&r->metrics, &cap, r->n_metrics, sizeof *r->metrics, err) ||
            parse_metric(&rd, v1, &r->metrics[r->n_metrics], err)) {
            got = -1;
            break;
        }
        const MetricRow *m = &r->metrics[r->n_metrics];
        if (r->n_metrics > 0 && m->epoch <= r->metrics[r->n_metrics - 1].epoch) {
            bs_fail(err, BS_ERR_USER, "%s:%d: epoch %d after epoch %d (epochs must increase)", path, rd.lineno,
                    m->epoch, r->metrics[r->n_metrics - 1].epoch);
            got = -1;
            break;
        }
        r->n_metrics++;
    }
    r->dropped_partial_lines += rd.cut_tail;
    runlog_csv_close(&rd);
    return got < 0 ? err->code : 0;
}

static int parse_shift(const CsvReader *rd, ShiftRow *s, BsError *err)
{
    const char *set = rd->field[1], *name = rd->field[3];
    if (strcmp(set, "train") && strcmp(set, "test"))
        return bs_fail(err, BS_ERR_USER, "%s:%d: set '%s' is not train or test", rd->path, rd->lineno, set);
    s->set = strcmp(set, "test") ? RUNLOG_TRAIN : RUNLOG_TEST;
    /* Names go into whitespace-separated tables: no blanks or control
     * characters, bounded length. */
    int control = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        control |= *c < 0x20 || *c == 0x7f;
    if (!*name || strlen(name) >= RUNLOG_NAME_MAX || strpbrk(name, " ") || control)
        return bs_fail(err, BS_ERR_USER, "%s:%d: bad layer name '%s'", rd->path, rd->lineno, name);
    snprintf(s->name, sizeof s->name, "%s", name);
    if (runlog_csv_int(rd, 0, 1, &s->epoch, err) || runlog_csv_int(rd, 2, 0, &s->layer, err) ||
        runlog_csv_int(rd, 4, 1, &s->depth, err) || runlog_csv_int(rd, 5, 1, &s->channels, err))
        return err->code;
    for (int i = 0; i < SV_N; i++)
        if (runlog_csv_num(rd, 6 + i, 0, &s->v[i], err))
            return err->code;
    return 0;
}

static int load_shift(RunLog *r, FILE *f, const char *path, int strict_lf, int live, BsError *err)
{
    CsvReader rd;
    if (reader_start(&rd, f, path, SHIFT_HEADER, strict_lf, live, err))
        return err->code;
    int cap = 0, got;
    while ((got = runlog_csv_row(&rd, SHIFT_COLUMNS, err)) == 1) {
        if (runlog_grow((void **)&r->shift, &cap, r->n_shift, sizeof *r->shift, err) ||
            parse_shift(&rd, &r->shift[r->n_shift], err)) {
            got = -1;
            break;
        }
        r->n_shift++;
    }
    r->dropped_partial_lines += rd.cut_tail;
    runlog_csv_close(&rd);
    return got < 0 ? err->code : 0;
}

/* The metrics row of epoch, or NULL. */
static const MetricRow *metric_of(const RunLog *r, int epoch)
{
    int lo = 0, hi = r->n_metrics - 1;
    while (lo <= hi) { /* epochs ascend (checked on load) */
        int mid = (lo + hi) / 2;
        if (r->metrics[mid].epoch == epoch)
            return &r->metrics[mid];
        if (r->metrics[mid].epoch < epoch)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int shape_error(const char *path, int row, const char *what, BsError *err)
{
    /* row i of r->shift is line i + 2 of the file (after the header) */
    return bs_fail(err, BS_ERR_USER, "%s:%d: %s (rows come per epoch and set as layers 0, 1, ... in order)", path,
                   row + 2, what);
}

/* Checks the shape of shift.csv (runlog.h) and indexes its groups. When
 * live, rows of epochs without a metrics row yet are dropped. */
static int index_shift(RunLog *r, const char *path, int live, BsError *err)
{
    int last_epoch[RUNLOG_NSETS] = {0, 0};
    for (int i = 0; i < r->n_shift;) {
        const ShiftRow *s = &r->shift[i];
        if (!metric_of(r, s->epoch)) {
            if (live) { /* the rows of an epoch still being written: drop them and the rest */
                r->dropped_shift_rows += r->n_shift - i;
                r->n_shift = i;
                break;
            }
            char what[96];
            snprintf(what, sizeof what, "epoch %d has no row in metrics.csv", s->epoch);
            return shape_error(path, i, what, err);
        }
        if (s->layer != 0)
            return shape_error(path, i, "a group of rows that does not start at layer 0", err);
        if (s->epoch <= last_epoch[s->set])
            return shape_error(path, i, "epochs out of order", err);
        last_epoch[s->set] = s->epoch;
        int n = 0;
        while (i + n < r->n_shift && r->shift[i + n].epoch == s->epoch && r->shift[i + n].set == s->set) {
            const ShiftRow *t = &r->shift[i + n];
            if (t->layer != n)
                return shape_error(path, i + n, "layer index out of sequence", err);
            if (n > 0 && t->depth <= r->shift[i + n - 1].depth)
                return shape_error(path, i + n, "depth not above the previous layer's", err);
            if (r->n_groups[0] + r->n_groups[1] > 0) {
                if (n >= r->n_layers)
                    return shape_error(path, i + n, "more layers than the first epoch has", err);
                const ShiftRow *ref = &r->shift[n]; /* the first group starts at row 0 */
                if (strcmp(t->name, ref->name) || t->depth != ref->depth || t->channels != ref->channels)
                    return shape_error(path, i + n, "name, depth or channels differ from the first epoch's", err);
            }
            n++;
        }
        if (r->n_groups[0] + r->n_groups[1] == 0)
            r->n_layers = n;
        else if (n != r->n_layers) {
            if (live && i + n == r->n_shift) { /* the last group is being written */
                r->dropped_shift_rows += n;
                r->n_shift = i;
                break;
            }
            return shape_error(path, i + n - 1, "fewer layers than the first epoch has", err);
        }
        ShiftGroup *g = realloc(r->groups[s->set], sizeof *g * (size_t)(r->n_groups[s->set] + 1));
        if (!g)
            return bs_fail(err, BS_ERR_RUNTIME, "out of memory reading logs");
        r->groups[s->set] = g;
        g[r->n_groups[s->set]++] = (ShiftGroup){s->epoch, i};
        i += n;
    }
    return 0;
}

int runlog_load(RunLog *r, const char *dir, int live, BsError *err)
{
    memset(r, 0, sizeof *r);
    struct stat st;
    if (stat(dir, &st))
        return bs_fail(err, BS_ERR_USER, "%s: no such run directory (%s)", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return bs_fail(err, BS_ERR_USER, "%s: not a run directory", dir);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    char path[CONFIG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.resolved.json", dir);
    if (config_load(&r->cfg, path, NULL, 0, err))
        return err->code;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    if (load_metrics(r, NULL, path, 0, live, err) == 0) {
        snprintf(path, sizeof path, "%s/shift.csv", dir);
        if (load_shift(r, NULL, path, 0, live, err) == 0 && index_shift(r, path, live, err) == 0 &&
            evallog_load(dir, &r->eval, &r->n_eval, err) == 0)
            return 0;
    }
    runlog_free(r);
    return err->code;
}

int runlog_check_prefix(const char *path, RunLogFile which, long len, int *metrics_v1, BsError *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return bs_fail(err, BS_ERR_USER, "%s: missing (%s); the checkpoint recorded %ld bytes of it", path,
                       strerror(errno), len);
    if (!S_ISREG(st.st_mode))
        return bs_fail(err, BS_ERR_USER, "%s: not a regular file", path);
    if (st.st_size < len)
        return bs_fail(err, BS_ERR_USER, "%s: missing or shorter than the %ld bytes its checkpoint recorded", path,
                       len);
    char *buf = malloc(len > 0 ? (size_t)len : 1);
    FILE *f = buf ? fopen(path, "rb") : NULL;
    size_t got = f && len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
    if (f)
        fclose(f);
    if (!buf || got != (size_t)len || len <= 0) {
        free(buf);
        if (len <= 0)
            return bs_fail(err, BS_ERR_USER, "%s:1: bad header (the checkpoint records %ld bytes)", path, len);
        return bs_fail(err, BS_ERR_USER, "%s: cannot read (%s)", path, buf ? strerror(errno) : "out of memory");
    }
    FILE *mem = fmemopen(buf, (size_t)len, "r");
    RunLog r;
    memset(&r, 0, sizeof r);
    int rc = !mem ? bs_fail(err, BS_ERR_RUNTIME, "out of memory")
             : which == RUNLOG_METRICS ? load_metrics(&r, mem, path, 1, 0, err)
                                       : load_shift(&r, mem, path, 1, 0, err);
    if (metrics_v1)
        *metrics_v1 = r.metrics_v1;
    runlog_free(&r);
    free(buf);
    return rc;
}

void runlog_free(RunLog *r)
{
    free(r->metrics);
    free(r->shift);
    free(r->eval);
    r->eval = NULL;
    r->n_eval = 0;
    for (int s = 0; s < RUNLOG_NSETS; s++) {
        free(r->groups[s]);
        r->groups[s] = NULL;
        r->n_groups[s] = 0;
    }
    r->metrics = NULL;
    r->shift = NULL;
    r->n_metrics = r->n_shift = r->n_layers = 0;
}

int runlog_epochs(const RunLog *r, int set, int *out, int max)
{
    for (int i = 0; i < r->n_groups[set] && i < max; i++)
        out[i] = r->groups[set][i].epoch;
    return r->n_groups[set];
}

int runlog_n_layers(const RunLog *r, int set)
{
    return r->n_groups[set] > 0 ? r->n_layers : 0;
}

const ShiftRow *runlog_find(const RunLog *r, int epoch, int set, int layer)
{
    if (layer < 0 || layer >= r->n_layers)
        return NULL;
    int lo = 0, hi = r->n_groups[set] - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const ShiftGroup *g = &r->groups[set][mid];
        if (g->epoch == epoch)
            return &r->shift[g->first + layer];
        if (g->epoch < epoch)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}
