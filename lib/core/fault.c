#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void bn_fault_point(const char *point, int epoch, FILE *flush)
{
    const char *spec = getenv("BNSHIFT_FAULT");
    if (!spec)
        return;
    const size_t n = strlen(point);
    if (strncmp(spec, point, n) != 0 || spec[n] != ':' || atoi(spec + n + 1) != epoch)
        return;
    if (flush) {
        fflush(flush);
        fsync(fileno(flush));
    }
    raise(SIGKILL);
}
