#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int bs_fail(BsError *err, int code, const char *fmt, ...)
{
    if (err && err->code == BS_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
