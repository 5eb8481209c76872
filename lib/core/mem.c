#include "mem.h"

#include <stdlib.h>
#include <string.h>

static size_t round_up(size_t n) { return (n + BS_ALIGN - 1) / BS_ALIGN * BS_ALIGN; }

void *bs_alloc(size_t bytes, BsError *err)
{
    void *p = NULL;
    size_t n = round_up(bytes ? bytes : 1);
    if (posix_memalign(&p, BS_ALIGN, n) != 0) {
        bs_fail(err, BS_ERR_RUNTIME, "out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

void bs_free(void *p) { free(p); }

int arena_reserve(Arena *a, size_t bytes, BsError *err)
{
    a->base = bs_alloc(bytes, err);
    a->size = a->base ? bytes : 0;
    a->used = 0;
    return a->base ? BS_OK : BS_ERR_RUNTIME;
}

void *arena_alloc(Arena *a, size_t bytes)
{
    size_t n = round_up(bytes);
    void *p = NULL;
    if (a->base) {
        if (a->used + n > a->size)
            return NULL;
        p = a->base + a->used;
    }
    a->used += n;
    return p;
}

float *arena_floats(Arena *a, size_t n) { return arena_alloc(a, n * sizeof(float)); }

void arena_release(Arena *a)
{
    bs_free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}
