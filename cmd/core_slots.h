/* A run's claim on CPUs, so that runs queue instead of sharing cores
 * (core_slots.c says why and how). */
#ifndef BS_CORE_SLOTS_H
#define BS_CORE_SLOTS_H

#include <signal.h>

#define CORE_SLOTS_MAX 1024

typedef struct {
    int fd[CORE_SLOTS_MAX];
    int n;
} CoreSlots;

/* Holds min(threads, CPUs this process may use) CPU lock files, waiting
 * (one note on stderr) while other bnshift runs hold too many. BS_OK, or
 * BS_STOPPED when *stop became non-zero while waiting. Holds nothing (and
 * returns BS_OK) when BNSHIFT_SHARE_CORES is set to anything but 0 or the
 * lock directory cannot be made (a warning). */
int core_slots_take(CoreSlots *s, int threads, volatile sig_atomic_t *stop);
void core_slots_release(CoreSlots *s);

#endif
