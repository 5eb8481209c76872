/* One check runner for all suites. CK_RUN_SUITE=name runs one suite. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/threads.h"

#include "suites.h"

int main(int argc, char **argv)
{
    (void)argc;
    /* The OpenBLAS kernels bnshift itself picks (cmd/startup_env.c), so that
     * results computed here and by the bnshift runs the suites start agree
     * bit for bit; children inherit the setting. */
    const char *core = getenv("OPENBLAS_CORETYPE") ? NULL : bs_blas_better_core(bs_blas_core());
    if (core && setenv("OPENBLAS_CORETYPE", core, 0) == 0)
        execv("/proc/self/exe", argv);
    /* The suites' bnshift runs must not queue behind a user's own runs
     * (cmd/core_slots.c); the cores suite tests the queue in a TMPDIR of
     * its own. */
    setenv("BNSHIFT_SHARE_CORES", "1", 0);
    static const struct {
        Suite *(*make)(void);
        const char *name;
    } suites[] = {
#define SUITE(fn) {fn, #fn},
#include "suites.def"
#undef SUITE
    };
    int missing = 0;
    SRunner *sr = srunner_create(NULL);
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
        if (suites[i].make)
            srunner_add_suite(sr, suites[i].make());
        else {
            fprintf(stderr, "run_tests: suite %s is not linked in\n", suites[i].name);
            missing++;
        }
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 && missing == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
