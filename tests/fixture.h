/* Reader for the golden fixture files written by
 * scripts/reference/gen_fixtures.py (format: tests/fixtures/README.md).
 * A fixture is a list of named float32 tensors; integers are stored as
 * floats. Files are looked up in $BN_FIXTURES if set, else in
 * "tests/fixtures" relative to the working directory (the repo root under
 * `make test`). */
#ifndef BS_TEST_FIXTURE_H
#define BS_TEST_FIXTURE_H

#include <stddef.h>

#include "core/error.h"

#define FIXTURE_MAX_DIMS 8

typedef struct {
    char name[256];
    int ndim;
    int dims[FIXTURE_MAX_DIMS];
    size_t n; /* element count, product of dims (1 for a scalar) */
    float *data;
} FixtureTensor;

typedef struct {
    char path[512];
    int count;
    FixtureTensor *t;
} Fixture;

/* Directory the fixtures are read from ($BN_FIXTURES or "tests/fixtures"). */
const char *fixture_dir(void);

/* Loads <fixture_dir()>/<file>. NULL and err (BS_ERR_USER, naming the path
 * and what is wrong) when missing, truncated or malformed. */
Fixture *fixture_load(const char *file, BsError *err);

/* The same for an explicit path (used as given). */
Fixture *fixture_load_path(const char *path, BsError *err);

/* The tensor called name, or NULL. */
const FixtureTensor *fixture_find(const Fixture *f, const char *name);

/* Data of the tensor called name; NULL and err when it is missing or when
 * expect_n != 0 and its element count differs. */
const float *fixture_get(const Fixture *f, const char *name, size_t expect_n, BsError *err);

void fixture_free(Fixture *f);

/* For check tests: */
/* Loads <name>.bnfx from the fixture folder, failing the test if it cannot. */
Fixture *fixture_case_load(const char *name);
/* Fails the test with err's message (freeing f first) when err is set. */
void fixture_check(Fixture *f, const BsError *err);

#endif
