#ifndef BS_TEST_SUITES_H
#define BS_TEST_SUITES_H

#include <check.h>

/* Weak so that a runner missing a suite still links and reports it. */
#define SUITE(fn) Suite *fn(void) __attribute__((weak));
#include "suites.def"
#undef SUITE

#endif
