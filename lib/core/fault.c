#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "<point>:<epoch>" from cmd/ (BNSHIFT_FAULT), or NULL: no fault. */
static const char *fault_spec;

void bs_fault_configure(const char *spec) { fault_spec = spec && *spec ? spec : NULL; }

/* Whether the configured fault names this point and epoch. */
static int fault_armed(const char *point, int epoch)
{
    const char *spec = fault_spec;
    if (!spec)
        return 0;
    const size_t n = strlen(point);
    return strncmp(spec, point, n) == 0 && spec[n] == ':' && atoi(spec + n + 1) == epoch;
}

void bs_fault_hang(const char *point, int epoch)
{
    if (!fault_armed(point, epoch))
        return;
    for (;;) /* a step that never finishes: only a signal's exit ends it */
        pause();
}

void bs_fault_point(const char *point, int epoch, FILE *flush)
{
    if (!fault_armed(point, epoch))
        return;
    if (flush) {
        fflush(flush);
        fsync(fileno(flush));
    }
    raise(SIGKILL);
}
