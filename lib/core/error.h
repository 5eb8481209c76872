/* Error reporting without global state: functions that can fail take a
 * BsError* and return its code (0 = ok). cmd/ maps codes to exit status. */
#ifndef BS_ERROR_H
#define BS_ERROR_H

enum {
    BS_OK = 0,
    BS_ERR_RUNTIME = 1, /* I/O while writing, NaN/Inf, out of memory */
    BS_ERR_USER = 2,    /* usage, config, malformed input files */
    BS_STOPPED = 3      /* not an error: stopped by a signal, state intact */
};

typedef struct {
    int code;
    char msg[512];
} BsError;

/* Records the first error only (later ones are usually consequences). */
int bs_fail(BsError *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
