/* data.corruption (lib/data/corrupt.c): hand cases, determinism, severity
 * monotone in the mean absolute change, shapes kept, bad input, and the
 * roles through `bnshift run` (S' corrupted, S clean). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/corrupt.h"
#include "data/idx.h"
#include "data/synthetic.h"
#include "suites.h"
#include "test_util.h"

/* A one-image data set of c x h x w holding px. */
static Dataset one_image(int c, int h, int w, const uint8_t *px)
{
    Dataset d;
    BsError err = {0};
    ck_assert_int_eq(dataset_alloc(&d, 1, c, h, w, 2, &err), BS_OK);
    memcpy(d.pixels, px, (size_t)c * h * w);
    return d;
}

static uint8_t corrupt_one(CorruptionType t, int s, int c, int h, int w, const uint8_t *px, int at)
{
    Dataset d = one_image(c, h, w, px);
    BsError err = {0};
    ck_assert_int_eq(corrupt_dataset(&d, t, s, 1, &err), BS_OK);
    uint8_t v = d.pixels[at];
    dataset_free(&d);
    return v;
}

/* Values worked out by hand from the formulas of REFERENCE.md §3. */
START_TEST(hand_cases)
{
    const uint8_t two[2] = {0, 255};
    /* contrast c = 0.75: m = 0.5, 0 -> 0.125 (31.875), 1 -> 0.875 (223.125) */
    ck_assert_int_eq(corrupt_one(CORRUPT_CONTRAST, 1, 1, 1, 2, two, 0), 32);
    ck_assert_int_eq(corrupt_one(CORRUPT_CONTRAST, 1, 1, 1, 2, two, 1), 223);
    /* brightness, one channel, c = 0.05: 100/255 + 0.05 = 0.44216 -> 112.75 */
    const uint8_t hundred = 100;
    ck_assert_int_eq(corrupt_one(CORRUPT_BRIGHTNESS, 1, 1, 1, 1, &hundred, 0), 113);
    /* brightness RGB c = 0.3: (102, 51, 0): V = 0.4 -> 0.7, every channel x 1.75 */
    const uint8_t rgb[3] = {102, 51, 0};
    ck_assert_int_eq(corrupt_one(CORRUPT_BRIGHTNESS, 5, 3, 1, 1, rgb, 1), 89); /* 89.25 */
    ck_assert_int_eq(corrupt_one(CORRUPT_BRIGHTNESS, 5, 3, 1, 1, rgb, 2), 0);
    /* saturate a = 1.5: (200, 100, 100): V = 0.784, S = 0.5 -> 0.75,
     * g = V - (V - g) 1.5 = 0.19608 (50.0); a fully saturated pixel stays. */
    const uint8_t pink[3] = {200, 100, 100}, full[3] = {255, 128, 0};
    ck_assert_int_eq(corrupt_one(CORRUPT_SATURATE, 1, 3, 1, 1, pink, 1), 50);
    ck_assert_int_eq(corrupt_one(CORRUPT_SATURATE, 1, 3, 1, 1, pink, 0), 200);
    ck_assert_int_eq(corrupt_one(CORRUPT_SATURATE, 5, 3, 1, 1, full, 1), 128);
    /* pixelate c = 0.65 on 1x2: round(1.3) = 1 pixel, the mean, back to 2 */
    const uint8_t pair[2] = {0, 200};
    ck_assert_int_eq(corrupt_one(CORRUPT_PIXELATE, 5, 1, 1, 2, pair, 0), 100);
    ck_assert_int_eq(corrupt_one(CORRUPT_PIXELATE, 5, 1, 1, 2, pair, 1), 100);
    /* c = 0.75 on 1x4 -> 3 pixels over [0, 4/3), [4/3, 8/3), [8/3, 4): (0, 0, 0,
     * 240) -> (0, 0, 240 x 1 / (4/3) = 180); back up, pixel 3 covers [9/4, 3)
     * of the small image, all in its pixel 2: 180. */
    const uint8_t step[4] = {0, 0, 0, 240};
    ck_assert_int_eq(corrupt_one(CORRUPT_PIXELATE, 4, 1, 1, 4, step, 3), 180);
    /* blurs keep a constant image constant (normalized kernels, mirrored edges) */
    uint8_t flat[3 * 9 * 7];
    memset(flat, 77, sizeof flat);
    for (int t = CORRUPT_GAUSSIAN_BLUR; t <= CORRUPT_DEFOCUS_BLUR; t++)
        for (int s = 1; s <= 5; s++)
            for (int at = 0; at < (int)sizeof flat; at += 17)
                ck_assert_int_eq(corrupt_one((CorruptionType)t, s, 3, 9, 7, flat, at), 77);
}
END_TEST

/* The test split of Fashion-MNIST (first 200 images) and a synthetic RGB set.
 * Pixelate's change grows with the severity on average, not image by image
 * (a ratio near 1, as 27/28, aliases more than a smaller one), so the sets
 * are not tiny. */
static void sample_sets(Dataset *gray, Dataset *rgb)
{
    BsError err = {0};
    Dataset all;
    ck_assert_msg(idx_load(&all, "/usr/share/datasets/fashion-mnist", "t10k", &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(dataset_slice(&all, 0, 200, gray, &err), BS_OK);
    dataset_free(&all);
    ck_assert_int_eq(synthetic_make(rgb, 64, 3, 32, 32, 10, 0.3f, 7, &err), BS_OK);
}

static double mean_abs_change(const Dataset *a, const Dataset *b)
{
    const size_t n = (size_t)a->n * a->c * a->h * a->w;
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += fabs((double)a->pixels[i] - b->pixels[i]);
    return s / (double)n;
}

/* Every type on both sets (saturate on RGB only): the same seed gives the
 * same pixels, shapes stay, and the mean absolute change grows with the
 * severity. A noise type with another seed gives other pixels. */
START_TEST(deterministic_and_monotone)
{
    Dataset sets[2];
    sample_sets(&sets[0], &sets[1]);
    for (int k = 0; k < 2; k++)
        for (int t = 1; t < CORRUPT_N; t++) {
            if (t == CORRUPT_SATURATE && sets[k].c != 3)
                continue;
            double last = 0.0;
            for (int s = 1; s <= CORRUPT_MAX_SEVERITY; s++) {
                Dataset a, b;
                BsError err = {0};
                ck_assert_int_eq(dataset_slice(&sets[k], 0, sets[k].n, &a, &err), BS_OK);
                ck_assert_int_eq(dataset_slice(&sets[k], 0, sets[k].n, &b, &err), BS_OK);
                ck_assert_int_eq(corrupt_dataset(&a, (CorruptionType)t, s, 11, &err), BS_OK);
                ck_assert_int_eq(corrupt_dataset(&b, (CorruptionType)t, s, 11, &err), BS_OK);
                ck_assert_int_eq(a.n * a.c * a.h * a.w, sets[k].n * sets[k].c * sets[k].h * sets[k].w);
                ck_assert_msg(!memcmp(a.pixels, b.pixels, (size_t)a.n * a.c * a.h * a.w), "%s s%d: not deterministic",
                              corruption_name((CorruptionType)t), s);
                const double change = mean_abs_change(&a, &sets[k]);
                ck_assert_msg(change > last, "%s on %d channels: severity %d changes %.3f, severity %d %.3f",
                              corruption_name((CorruptionType)t), sets[k].c, s, change, s - 1, last);
                last = change;
                if (t <= CORRUPT_SPECKLE_NOISE && s == 3) {
                    Dataset other;
                    ck_assert_int_eq(dataset_slice(&sets[k], 0, sets[k].n, &other, &err), BS_OK);
                    ck_assert_int_eq(corrupt_dataset(&other, (CorruptionType)t, s, 12, &err), BS_OK);
                    ck_assert(memcmp(a.pixels, other.pixels, (size_t)a.n * a.c * a.h * a.w) != 0);
                    dataset_free(&other);
                }
                dataset_free(&a);
                dataset_free(&b);
            }
        }
    dataset_free(&sets[0]);
    dataset_free(&sets[1]);
}
END_TEST

START_TEST(bad_corruptions_are_user_errors)
{
    const uint8_t px[3] = {1, 2, 3};
    Dataset d = one_image(1, 1, 3, px);
    BsError err = {0};
    ck_assert_int_eq(corrupt_dataset(&d, CORRUPT_SATURATE, 1, 1, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, "saturate needs 3-channel"));
    err = (BsError){0};
    ck_assert_int_eq(corrupt_dataset(&d, CORRUPT_CONTRAST, 6, 1, &err), BS_ERR_USER);
    dataset_free(&d);
    /* Through the config: the list of types, the severity range. */
    char *errtext = NULL, cmd[512], dir[64], cwd[256];
    make_test_dir(dir, sizeof dir, "bnshift-corrupt-bad");
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "%s info %s/configs/demo.json --set data.corruption.type=fog", bnshift_bin(), cwd);
    ck_assert_int_eq(run_in(dir, cmd, &errtext), 2);
    ck_assert_msg(strstr(errtext, "\"gaussian_noise\"") && strstr(errtext, "\"pixelate\""), "%s", errtext);
    free(errtext);
    snprintf(cmd, sizeof cmd, "%s info %s/configs/demo.json --set data.corruption.severity=6", bnshift_bin(), cwd);
    ck_assert_int_eq(run_in(dir, cmd, &errtext), 2);
    ck_assert_msg(strstr(errtext, "data.corruption.severity"), "%s", errtext);
    free(errtext);
    snprintf(cmd, sizeof cmd, "%s info %s/configs/demo.json --set data.corruption.type=saturate", bnshift_bin(),
             cwd);
    ck_assert_int_eq(run_in(dir, cmd, &errtext), 2);
    ck_assert_msg(strstr(errtext, "saturate needs 3-channel"), "%s", errtext);
    free(errtext);
    remove_test_dir(dir);
}
END_TEST

/* The distribution-shift setting (S and S' from the test split) with S'
 * corrupted: training sees the clean S, so the train columns of metrics.csv
 * equal a clean run's, and the test columns differ. */
START_TEST(run_corrupts_the_test_set_only)
{
    char dir[64], path[128], cmd[1024];
    make_test_dir(dir, sizeof dir, "bnshift-corrupt");
    snprintf(path, sizeof path, "%s/c.json", dir);
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"name\": \"c\", \"data\": {\"dataset\": \"fashion-mnist\", \"train_from\": \"test\", "
             "\"train_subset\": 32, \"eval_subset\": 32},\n \"model\": {\"arch\": \"mlp\", \"hidden\": [16]},\n"
             " \"train\": {\"epochs\": 1, \"batch_size\": 16}, \"log\": {\"out\": \"%s/clean\"}}\n", dir);
    write_text_file(path, cfg);
    snprintf(cmd, sizeof cmd,
             "%s run %s --quiet --threads 1 && %s run %s --quiet --threads 1 --out %s/noisy "
             "--set data.corruption.type=impulse_noise --set data.corruption.severity=5",
             bnshift_bin(), path, bnshift_bin(), path, dir);
    char *errtext = NULL;
    ck_assert_msg(run_in(dir, cmd, &errtext) == 0, "%s", errtext);
    free(errtext);
    char *clean_csv, *noisy_csv;
    snprintf(path, sizeof path, "%s/clean/metrics.csv", dir);
    clean_csv = slurp_file(path);
    snprintf(path, sizeof path, "%s/noisy/metrics.csv", dir);
    noisy_csv = slurp_file(path);
    ck_assert_ptr_nonnull(clean_csv);
    ck_assert_ptr_nonnull(noisy_csv);
    /* Row 1: epoch,lr,train_batch_loss,train_batch_err,train_loss,train_err,test_loss,test_err,... */
    char *a = strchr(clean_csv, '\n') + 1, *b = strchr(noisy_csv, '\n') + 1;
    char *fa[8], *fb[8];
    for (int i = 0; i < 8; i++) {
        fa[i] = a, fb[i] = b;
        a = strchr(a, ',') + 1, b = strchr(b, ',') + 1;
    }
    ck_assert_int_eq(strncmp(fa[0], fb[0], (size_t)(fa[6] - fa[0])), 0); /* epoch .. train_err */
    ck_assert_int_ne(strncmp(fa[6], fb[6], (size_t)(a - fa[6])), 0);      /* test_loss, test_err */
    free(clean_csv);
    free(noisy_csv);
    snprintf(path, sizeof path, "%s/noisy/config.resolved.json", dir);
    char *resolved = slurp_file(path);
    ck_assert_ptr_nonnull(strstr(resolved, "\"impulse_noise\""));
    free(resolved);
    remove_test_dir(dir);
}
END_TEST

Suite *corrupt_suite(void)
{
    Suite *s = suite_create("corrupt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hand_cases);
    tcase_add_test(tc, deterministic_and_monotone);
    tcase_add_test(tc, bad_corruptions_are_user_errors);
    tcase_add_test(tc, run_corrupts_the_test_set_only);
    suite_add_tcase(s, tc);
    return s;
}
