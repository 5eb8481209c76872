/* SGD against hand-computed torch.optim.SGD steps, and the LR schedules. */
#include <check.h>

#include "suites.h"
#include "train/schedule.h"
#include "train/sgd.h"

/* w=1, g=0.5 each step, wd 0.1, momentum 0.9, lr 0.1 (worked in comments). */
START_TEST(sgd_momentum_two_steps)
{
    SgdConfig cfg = {.momentum = 0.9f, .nesterov = 0};
    float w = 1, g = 0.5f, v = 123; /* v garbage: the first step must ignore it */
    sgd_update(&cfg, 0.1f, 0.1f, &w, &g, &v, 1, 1);
    /* d = 0.5 + 0.1*1 = 0.6; v = 0.6; w = 1 - 0.06 */
    ck_assert_float_eq_tol(v, 0.6f, 1e-7f);
    ck_assert_float_eq_tol(w, 0.94f, 1e-7f);
    sgd_update(&cfg, 0.1f, 0.1f, &w, &g, &v, 1, 0);
    /* d = 0.5 + 0.094 = 0.594; v = 0.54 + 0.594 = 1.134; w = 0.94 - 0.1134 */
    ck_assert_float_eq_tol(v, 1.134f, 1e-6f);
    ck_assert_float_eq_tol(w, 0.8266f, 1e-6f);
}
END_TEST

START_TEST(sgd_nesterov_two_steps)
{
    SgdConfig cfg = {.momentum = 0.9f, .nesterov = 1};
    float w = 1, g = 0.5f, v = 0;
    sgd_update(&cfg, 0.1f, 0.1f, &w, &g, &v, 1, 1);
    /* d = 0.6; v = 0.6; step = 0.6 + 0.54 = 1.14; w = 1 - 0.114 */
    ck_assert_float_eq_tol(w, 0.886f, 1e-6f);
    sgd_update(&cfg, 0.1f, 0.1f, &w, &g, &v, 1, 0);
    /* d = 0.5 + 0.0886 = 0.5886; v = 0.54 + 0.5886 = 1.1286;
     * step = 0.5886 + 0.9*1.1286 = 1.60434; w = 0.886 - 0.160434 */
    ck_assert_float_eq_tol(w, 0.725566f, 1e-6f);
}
END_TEST

START_TEST(sgd_plain_no_momentum)
{
    SgdConfig cfg = {.momentum = 0, .nesterov = 0};
    float w[2] = {2, -1}, g[2] = {1, 1}, v[2] = {0, 0};
    sgd_update(&cfg, 0.5f, 0, w, g, v, 2, 1);
    ck_assert_float_eq(w[0], 1.5f);
    ck_assert_float_eq(w[1], -1.5f);
}
END_TEST

START_TEST(multistep_schedule)
{
    Schedule s = {.type = SCHED_MULTISTEP, .base_lr = 0.1f, .gamma = 0.1f,
                  .milestones = {2, 4}, .n_milestones = 2};
    ck_assert_float_eq_tol(schedule_lr(&s, 0, 0, 10), 0.1f, 1e-9f);
    ck_assert_float_eq_tol(schedule_lr(&s, 1, 9, 10), 0.1f, 1e-9f);
    ck_assert_float_eq_tol(schedule_lr(&s, 2, 0, 10), 0.01f, 1e-9f);
    ck_assert_float_eq_tol(schedule_lr(&s, 5, 0, 10), 0.001f, 1e-9f);
}
END_TEST

START_TEST(cosine_schedule)
{
    Schedule s = {.type = SCHED_COSINE, .base_lr = 0.1f, .total_epochs = 10};
    ck_assert_float_eq_tol(schedule_lr(&s, 0, 0, 10), 0.1f, 1e-7f);
    ck_assert_float_eq_tol(schedule_lr(&s, 5, 3, 10), 0.05f, 1e-7f);
    ck_assert_float_eq_tol(schedule_lr(&s, 10, 0, 10), 0.0f, 1e-7f);
}
END_TEST

START_TEST(linear_warmup_then_schedule)
{
    Schedule s = {.type = SCHED_CONSTANT, .base_lr = 0.1f, .warmup_epochs = 2};
    ck_assert_float_eq_tol(schedule_lr(&s, 0, 0, 10), 0.005f, 1e-8f); /* 1/20 */
    ck_assert_float_eq_tol(schedule_lr(&s, 1, 0, 10), 0.055f, 1e-8f); /* 11/20 */
    ck_assert_float_eq_tol(schedule_lr(&s, 1, 9, 10), 0.1f, 1e-8f);
    ck_assert_float_eq_tol(schedule_lr(&s, 2, 0, 10), 0.1f, 1e-8f);
}
END_TEST

Suite *sgd_suite(void)
{
    Suite *s = suite_create("sgd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sgd_momentum_two_steps);
    tcase_add_test(tc, sgd_nesterov_two_steps);
    tcase_add_test(tc, sgd_plain_no_momentum);
    tcase_add_test(tc, multistep_schedule);
    tcase_add_test(tc, cosine_schedule);
    tcase_add_test(tc, linear_warmup_then_schedule);
    suite_add_tcase(s, tc);
    return s;
}
