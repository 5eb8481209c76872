/* Checked allocation and a bump arena: activations are carved out of one
 * block allocated once per model, never malloc'd per step. */
#ifndef BS_MEM_H
#define BS_MEM_H

#include <stddef.h>
#include "error.h"

#define BS_ALIGN 64

/* 64-byte aligned, zeroed; NULL + err (BS_ERR_RUNTIME) when out of memory. */
void *bs_alloc(size_t bytes, BsError *err);
void bs_free(void *p);

typedef struct {
    char *base;
    size_t size, used;
} Arena;

/* Two-phase use: measure with base == NULL (arena_alloc returns NULL but
 * counts), then arena_reserve and allocate the same sequence again. */
int arena_reserve(Arena *a, size_t bytes, BsError *err);
void *arena_alloc(Arena *a, size_t bytes);
float *arena_floats(Arena *a, size_t n);
void arena_release(Arena *a);

#endif
