/* Training-time augmentation: zero-pixel padded crops, flips, and draws
 * that do not depend on the thread count. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/threads.h"
#include "data/dataset.h"
#include "suites.h"
#include "test_util.h"

/* One 1-channel 3x3 image with pixels 10..90. */
static void tiny_set(Dataset *d)
{
    BsError err = {0};
    ck_assert_int_eq(dataset_alloc(d, 1, 1, 3, 3, 2, &err), BS_OK);
    for (int i = 0; i < 9; i++)
        d->pixels[i] = (uint8_t)(10 * (i + 1));
}

START_TEST(shift_fills_with_black_then_normalizes)
{
    Dataset d;
    tiny_set(&d);
    float mean = 0.5f, std = 0.25f, x[9];
    dataset_copy_sample(&d, 0, &mean, &std, 1, -1, 0, x); /* read one row down, one column left */
    /* Output (y, x) reads source (y+1, x-1): column 0 and row 2 come from outside. */
    const float black = (0.0f - 0.5f) / 0.25f;
    ck_assert_float_eq_tol(x[0], black, 1e-6f);
    ck_assert_float_eq_tol(x[1], (40 / 255.0f - 0.5f) / 0.25f, 1e-6f);
    ck_assert_float_eq_tol(x[5], (80 / 255.0f - 0.5f) / 0.25f, 1e-6f);
    for (int i = 6; i < 9; i++)
        ck_assert_float_eq_tol(x[i], black, 1e-6f);
    dataset_free(&d);
}
END_TEST

START_TEST(flip_mirrors_rows)
{
    Dataset d;
    tiny_set(&d);
    float x[9];
    dataset_copy_sample(&d, 0, NULL, NULL, 0, 0, 1, x);
    ck_assert_float_eq_tol(x[0], 30 / 255.0f, 1e-7f);
    ck_assert_float_eq_tol(x[2], 10 / 255.0f, 1e-7f);
    ck_assert_float_eq_tol(x[4], 50 / 255.0f, 1e-7f);
    dataset_free(&d);
}
END_TEST

/* Random images, augmented with threads = n from the same seed. */
static void augment_with_threads(int threads, float *x, int *y, int *changed)
{
    BsError err = {0};
    Dataset d;
    ck_assert_int_eq(dataset_alloc(&d, 64, 3, 8, 8, 4, &err), BS_OK);
    Rng r;
    rng_seed(&r, 4);
    for (size_t i = 0; i < (size_t)64 * 3 * 64; i++)
        d.pixels[i] = (uint8_t)rng_below(&r, 256);
    for (int i = 0; i < 64; i++)
        d.labels[i] = i % 4;
    int idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = 63 - i;
    float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.2f, 0.2f};
    int before = bs_get_threads();
    bs_set_threads(threads);
    rng_seed(&r, 9);
    dataset_gather_augmented(&d, idx, 64, mean, std, 1, &r, x, y);
    bs_set_threads(before);
    /* Count samples that equal neither the plain image nor any unflipped
     * shift: at least some flips must have happened. */
    float plain[192];
    *changed = 0;
    for (int i = 0; i < 64; i++) {
        dataset_copy_sample(&d, idx[i], mean, std, 0, 0, 0, plain);
        *changed += memcmp(plain, x + (size_t)i * 192, sizeof plain) != 0;
    }
    dataset_free(&d);
}

START_TEST(augmentation_independent_of_threads)
{
    float *a = malloc(sizeof(float) * 64 * 192), *b = malloc(sizeof(float) * 64 * 192);
    int ya[64], yb[64], changed_a, changed_b;
    augment_with_threads(1, a, ya, &changed_a);
    augment_with_threads(2, b, yb, &changed_b);
    ck_assert_int_eq(memcmp(a, b, sizeof(float) * 64 * 192), 0);
    ck_assert_int_eq(memcmp(ya, yb, sizeof ya), 0);
    ck_assert_int_eq(ya[0], 63 % 4); /* labels follow the indices */
    /* (dy, dx, flip) = (0, 0, 0) has probability 1/162: nearly all change. */
    ck_assert_int_gt(changed_a, 56);
    free(a);
    free(b);
}
END_TEST

Suite *augment_suite(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, shift_fills_with_black_then_normalizes);
    tcase_add_test(tc, flip_mirrors_rows);
    tcase_add_test(tc, augmentation_independent_of_threads);
    suite_add_tcase(s, tc);
    return s;
}
