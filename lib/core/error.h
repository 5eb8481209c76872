/* Error reporting without global state: functions that can fail take a
 * BnError* and return its code (0 = ok). cmd/ maps codes to exit status. */
#ifndef BN_ERROR_H
#define BN_ERROR_H

enum {
    BN_OK = 0,
    BN_ERR_RUNTIME = 1, /* I/O while writing, NaN/Inf, out of memory */
    BN_ERR_USER = 2,    /* usage, config, malformed input files */
    BN_STOPPED = 3      /* not an error: stopped by a signal, state intact */
};

typedef struct {
    int code;
    char msg[512];
} BnError;

/* Records the first error only (later ones are usually consequences). */
int bn_fail(BnError *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
