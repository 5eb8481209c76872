#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int csv_open(CsvLog *c, const char *path, const char *header, long truncate_to, BnError *err)
{
    snprintf(c->path, sizeof c->path, "%s", path);
    if (truncate_to < 0) {
        c->f = fopen(path, "w");
        if (!c->f)
            return bn_fail(err, BN_ERR_RUNTIME, "%s: cannot create: %s", path, strerror(errno));
        fprintf(c->f, "%s\n", header);
        long len;
        return csv_commit(c, &len, err);
    }
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size < truncate_to)
        return bn_fail(err, BN_ERR_USER, "%s: missing or shorter than the %ld bytes its checkpoint recorded",
                       path, truncate_to);
    if (truncate(path, truncate_to) != 0 || !(c->f = fopen(path, "a")))
        return bn_fail(err, BN_ERR_RUNTIME, "%s: cannot reopen for appending: %s", path, strerror(errno));
    return BN_OK;
}

void csv_printf(CsvLog *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->f, fmt, ap);
    va_end(ap);
}

int csv_commit(CsvLog *c, long *length, BnError *err)
{
    if (fflush(c->f) != 0 || fsync(fileno(c->f)) != 0)
        return bn_fail(err, BN_ERR_RUNTIME, "%s: write failed: %s", c->path, strerror(errno));
    *length = ftell(c->f);
    return BN_OK;
}

void csv_close(CsvLog *c)
{
    if (c->f)
        fclose(c->f);
    c->f = NULL;
}
