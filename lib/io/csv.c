#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int csv_open(CsvLog *c, const char *path, const char *header, long truncate_to, BsError *err)
{
    snprintf(c->path, sizeof c->path, "%s", path);
    c->lost_row = 0;
    if (truncate_to < 0) {
        c->f = fopen(path, "w");
        if (!c->f)
            return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
        fputs(header, c->f);
        fputc('\n', c->f);
        long len;
        return csv_commit(c, &len, err);
    }
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < truncate_to)
        return bs_fail(err, BS_ERR_USER, "%s: missing or shorter than the %ld bytes its checkpoint recorded",
                       path, truncate_to);
    if (truncate(path, truncate_to) != 0 || !(c->f = fopen(path, "a")))
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot reopen for appending: %s", path, strerror(errno));
    return BS_OK;
}

void csv_printf(CsvLog *c, const char *fmt, ...)
{
    char row[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(row, sizeof row, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof row) {
        fwrite(row, 1, (size_t)n, c->f);
        return;
    }
    char *big = malloc((size_t)n + 1); /* a row longer than any bnshift writes today */
    if (!big) {
        c->lost_row = 1; /* reported by the next csv_commit */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    fwrite(big, 1, (size_t)n, c->f);
    free(big);
}

int csv_commit(CsvLog *c, long *length, BsError *err)
{
    if (c->lost_row)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory writing a row", c->path);
    if (fflush(c->f) != 0 || fsync(fileno(c->f)) != 0)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: write failed: %s", c->path, strerror(errno));
    *length = ftell(c->f);
    return BS_OK;
}

void csv_close(CsvLog *c)
{
    if (c->f)
        fclose(c->f);
    c->f = NULL;
}
