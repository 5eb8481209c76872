#include "eval_csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fsutil.h"
#include "io/logformat.h"

static int has_header(const char *s, size_t len, const char *header)
{
    const size_t hl = strlen(header);
    return len >= hl + 1 && !memcmp(s, header, hl) && s[hl] == '\n';
}

/* V1 rows get the seven new columns: estimator "exact" where the row was
 * recalibrated (V1 had no other estimator), the rest empty (unknown). */
static int upgrade_v1(EvalCsv *x, BsError *err)
{
    const size_t hl = strlen(EVAL_HEADER_V1) + 1;
    size_t rows = 0;
    for (size_t i = hl; i < x->old_len; i++)
        rows += x->old[i] == '\n';
    const size_t cap = strlen(EVAL_HEADER) + 1 + (x->old_len - hl) + rows * 16 + 1;
    char *out = malloc(cap), *w = out;
    if (!out)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", x->path);
    w += sprintf(w, "%s\n", EVAL_HEADER);
    for (const char *line = x->old + hl; line < x->old + x->old_len;) {
        const char *nl = memchr(line, '\n', (size_t)(x->old + x->old_len - line));
        const char *comma = memchr(line, ',', (size_t)(nl - line));
        const int recalibrated = comma && comma + 1 < nl && comma[1] != ','; /* recalibrated_on set */
        memcpy(w, line, (size_t)(nl - line));
        w += nl - line;
        w += sprintf(w, ",%s,,,,,,\n", recalibrated ? "exact" : "");
        line = nl + 1;
    }
    free(x->old);
    x->old = out;
    x->old_len = (size_t)(w - out);
    x->upgraded_rows = (int)rows;
    return BS_OK;
}

int eval_csv_check(EvalCsv *x, const char *dir, BsError *err)
{
    snprintf(x->path, sizeof x->path, "%s/eval.csv", dir);
    x->upgraded_rows = -1;
    if (fs_read_all(x->path, (size_t)1 << 30, &x->old, &x->old_len) != 0) {
        if (errno == ENOENT) {
            x->old = NULL;
            x->old_len = 0;
            return BS_OK;
        }
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot append to it: %s", x->path,
                       errno == EINVAL ? "not a regular file" : strerror(errno));
    }
    if (x->old_len == 0)
        return BS_OK;
    if (memchr(x->old, '\r', x->old_len))
        return bs_fail(err, BS_ERR_USER, "%s: CRLF line ends (bnshift writes LF only; was the file edited?)",
                       x->path);
    const int v1 = has_header(x->old, x->old_len, EVAL_HEADER_V1);
    if (!v1 && !has_header(x->old, x->old_len, EVAL_HEADER))
        return bs_fail(err, BS_ERR_USER,
                       "%s: its header is not this bnshift's eval.csv header (another version, or edited); "
                       "move it away to start a new one", x->path);
    if (x->old[x->old_len - 1] != '\n') { /* a row cut by a killed eval */
        while (x->old_len > 0 && x->old[x->old_len - 1] != '\n')
            x->old_len--;
        x->dropped_cut_row = 1;
    }
    return v1 ? upgrade_v1(x, err) : BS_OK;
}

int eval_csv_write(const EvalCsv *x, const char *rows, size_t rows_len, BsError *err)
{
    const char *head = x->old_len ? x->old : EVAL_HEADER "\n";
    size_t head_len = x->old_len ? x->old_len : strlen(EVAL_HEADER) + 1;
    char *all = malloc(head_len + rows_len + 1);
    if (!all)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory", x->path);
    memcpy(all, head, head_len);
    memcpy(all + head_len, rows, rows_len);
    int rc = fs_write_atomic(x->path, all, head_len + rows_len, err);
    free(all);
    return rc;
}

void eval_csv_free(EvalCsv *x)
{
    free(x->old);
    x->old = NULL;
}
