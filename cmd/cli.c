/* The one place that writes bnshift's own messages to stderr: every failure
 * is one line "bnshift: ...", with control characters from user text (keys,
 * values, names, paths) shown escaped so that the line stays one line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/error.h"

static int error_printed, silent;

void cli_set_silent(int s) { silent = s; }

int cli_error_was_printed(void) { return error_printed; }

/* s with \n, \t, \r, ESC and the other control bytes written as escapes. */
static void put_escaped(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p == '\r')
            fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

static void vmessage(const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048];
    if (silent)
        return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    fputs(prefix, stderr);
    put_escaped(stderr, msg);
    fputc('\n', stderr);
    fflush(stderr);
}

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("bnshift: ", fmt, ap);
    va_end(ap);
    error_printed = 1;
    return code;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("bnshift: warning: ", fmt, ap);
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage("bnshift: ", fmt, ap);
    va_end(ap);
}

int cli_parse_int(const char *cmd, const char *flag, const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi)
        return cli_error(BS_ERR_USER, "%s: %s expects an integer in [%d, %d], got '%s'", cmd, flag, lo, hi, s);
    *out = (int)v;
    return 0;
}

int cli_has_control_chars(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

/* Characters a shell leaves alone outside quotes. */
static int shell_safe(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%", *s))
            return 0;
    return 1;
}

size_t cli_shell_quote(char *buf, size_t cap, const char *arg)
{
    size_t n = 0;
#define PUT(c)                \
    do {                      \
        if (n + 1 < cap)      \
            buf[n] = (c);     \
        n++;                  \
    } while (0)
    if (shell_safe(arg)) {
        for (const char *p = arg; *p; p++)
            PUT(*p);
    } else {
        PUT('\'');
        for (const char *p = arg; *p; p++) {
            if (*p == '\'') {
                PUT('\'');
                PUT('\\');
                PUT('\'');
            }
            PUT(*p);
        }
        PUT('\'');
    }
#undef PUT
    if (cap)
        buf[n < cap ? n : cap - 1] = '\0';
    return n;
}
