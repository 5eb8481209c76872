/* The generator: reproducible, restorable, and roughly right in distribution. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "suites.h"

START_TEST(same_seed_same_stream)
{
    Rng a, b;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        ck_assert_uint_eq(rng_next(&a), rng_next(&b));
    rng_seed(&b, 43);
    ck_assert_uint_ne(rng_next(&a), rng_next(&b));
}
END_TEST

START_TEST(state_save_restore)
{
    Rng a, saved;
    rng_seed(&a, 7);
    for (int i = 0; i < 10; i++)
        rng_next(&a);
    memcpy(&saved, &a, sizeof a);
    float x = rng_normal(&a);
    ck_assert_float_eq(x, rng_normal(&saved));
}
END_TEST

START_TEST(uniform_and_normal_moments)
{
    Rng r;
    rng_seed(&r, 1);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    float umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        float u = rng_uniform(&r);
        su += u;
        umin = fminf(umin, u);
        umax = fmaxf(umax, u);
        double z = rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    ck_assert(umin >= 0.0f && umax < 1.0f);
    ck_assert_double_eq_tol(su / n, 0.5, 0.01);
    ck_assert_double_eq_tol(sn / n, 0.0, 0.01);
    ck_assert_double_eq_tol(sn2 / n, 1.0, 0.02);
}
END_TEST

START_TEST(below_is_in_range_and_covers)
{
    Rng r;
    rng_seed(&r, 3);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = rng_below(&r, 7);
        ck_assert_uint_lt(v, 7);
        seen[v]++;
    }
    for (int k = 0; k < 7; k++)
        ck_assert_int_gt(seen[k], 850);
}
END_TEST

START_TEST(shuffle_is_a_permutation)
{
    Rng r;
    rng_seed(&r, 9);
    int idx[100], count[100] = {0};
    for (int i = 0; i < 100; i++)
        idx[i] = i;
    rng_shuffle(&r, idx, 100);
    int moved = 0;
    for (int i = 0; i < 100; i++) {
        count[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(count[i], 1);
    ck_assert_int_gt(moved, 50);
}
END_TEST

Suite *rng_suite(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, same_seed_same_stream);
    tcase_add_test(tc, state_save_restore);
    tcase_add_test(tc, uniform_and_normal_moments);
    tcase_add_test(tc, below_is_in_range_and_covers);
    tcase_add_test(tc, shuffle_is_a_permutation);
    suite_add_tcase(s, tc);
    return s;
}
