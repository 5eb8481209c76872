/* The epoch loop's outputs: CSV columns and rows, and resume from a
 * checkpoint reproducing an uninterrupted run in every non-timing column. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/synthetic.h"
#include "run/checkpoint.h"
#include "models/arch.h"
#include "suites.h"
#include "test_util.h"
#include "run/runner.h"

typedef struct {
    Dataset train, test;
    int *train_idx, *test_idx;
    float mean[3], std[3];
    Model m;
    Optimizer o;
    Schedule sched;
    Rng rng;
    Runner r;
    char dir[256];
} Setup;

static void setup_make(Setup *s, const char *dir, int epochs, int start_epoch)
{
    BsError err = {0};
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    ck_assert_int_eq(synthetic_make(&s->train, 96, 3, 8, 8, 4, 0.6f, 1, &err), BS_OK);
    ck_assert_int_eq(synthetic_make(&s->test, 40, 3, 8, 8, 4, 0.6f, 2, &err), BS_OK);
    s->train_idx = malloc(sizeof(int) * 96);
    s->test_idx = malloc(sizeof(int) * 40);
    for (int i = 0; i < 96; i++)
        s->train_idx[i] = i;
    for (int i = 0; i < 40; i++)
        s->test_idx[i] = i;
    dataset_channel_stats(&s->train, s->mean, s->std);
    ModelSpec spec = {.arch = ARCH_RESNET, .depth = 8, .width = 4, .norm = VARIANT_GNBN,
                      .groups = 2, .in_c = 3, .in_h = 8, .in_w = 8, .num_classes = 4,
                      .bn_eps = 1e-5f, .bn_momentum = 0.1f};
    Rng init;
    rng_seed(&init, 7);
    ck_assert_int_eq(model_build(&s->m, &spec, 16, &init, &err), BS_OK);
    ck_assert_int_eq(optimizer_init(&s->o, &s->m, (SgdConfig){.momentum = 0.9f}, 5e-4f, 1, &err), BS_OK);
    s->sched = (Schedule){.type = SCHED_COSINE, .base_lr = 0.05f, .total_epochs = epochs};
    rng_seed(&s->rng, 8);
    Trainer *t = &s->r.trainer;
    *t = (Trainer){.m = &s->m, .o = &s->o, .sched = &s->sched, .d = &s->train,
                   .idx = s->train_idx, .n = 90 /* 90/16: a last incomplete batch */,
                   .mean = s->mean, .std = s->std, .batch = 16, .augment = 1, .flip = 1,
                   .rng = &s->rng};
    t->x = malloc(sizeof(float) * 16 * 3 * 64);
    t->y = malloc(sizeof(int) * 16);
    t->order = malloc(sizeof(int) * 96);
    s->r.eval[0] = (EvalSet){"train", {&s->train, s->train_idx, 90, s->mean, s->std, 0, NULL}};
    s->r.eval[1] = (EvalSet){"test", {&s->test, s->test_idx, 40, s->mean, s->std, 0, NULL}};
    s->r.n_eval = 2;
    s->r.epochs = epochs;
    s->r.eval_every = 1;
    s->r.checkpoint_every = 1;
    s->r.out_dir = s->dir;
    s->r.config_hash = 42;
    s->r.threads = 2;
    (void)start_epoch;
}

static void setup_free(Setup *s)
{
    free(s->r.trainer.x);
    free(s->r.trainer.y);
    free(s->r.trainer.order);
    free(s->train_idx);
    free(s->test_idx);
    optimizer_free(&s->o);
    model_free(&s->m);
    dataset_free(&s->train);
    dataset_free(&s->test);
}

static void make_dir(char *templ) { ck_assert_ptr_nonnull(mkdtemp(templ)); }

START_TEST(csv_columns_and_rows)
{
    char dir[] = "/tmp/bnshift-runner-XXXXXX";
    make_dir(dir);
    Setup s;
    setup_make(&s, dir, 2, 0);
    BsError err = {0};
    ck_assert_int_eq(runner_run(&s.r, 0, 0, 0, &err), BS_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *metrics = slurp_file(path);
    ck_assert_ptr_nonnull(metrics);
    ck_assert(!strncmp(metrics, METRICS_HEADER "\n", strlen(METRICS_HEADER) + 1));
    ck_assert_int_eq(count_lines(metrics), 3);
    snprintf(path, sizeof path, "%s/shift.csv", dir);
    char *shift = slurp_file(path);
    ck_assert_ptr_nonnull(shift);
    ck_assert(!strncmp(shift, SHIFT_HEADER "\n", strlen(SHIFT_HEADER) + 1));
    /* ResNet-8 gnbn: 9 norm positions, the even ones (4) are BN; 2 epochs x 2 sets. */
    ck_assert_int_eq(count_lines(shift), 1 + 2 * 2 * 4);
    ck_assert_ptr_nonnull(strstr(shift, "\n1,train,0,stage1.block1.bn1,2,4,"));
    ck_assert_ptr_nonnull(strstr(shift, "\n2,test,3,stage3.block1.bn2,8,16,"));
    free(metrics);
    free(shift);
    snprintf(path, sizeof path, "%s/checkpoint.bin", dir);
    CheckpointMeta meta;
    ck_assert_int_eq(checkpoint_peek(path, &meta, &err), BS_OK);
    ck_assert_int_eq(meta.epoch, 2);
    setup_free(&s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(resume_matches_uninterrupted)
{
    char full[] = "/tmp/bnshift-full-XXXXXX", part[] = "/tmp/bnshift-part-XXXXXX";
    make_dir(full);
    make_dir(part);
    BsError err = {0};
    Setup a;
    setup_make(&a, full, 3, 0);
    ck_assert_int_eq(runner_run(&a.r, 0, 0, 0, &err), BS_OK);
    setup_free(&a);
    /* A run that stops after epoch 2 (its checkpoint), then leaves a partial
     * row behind as a crash mid-epoch 3 would. */
    Setup b;
    setup_make(&b, part, 3, 0);
    b.r.epochs = 2;
    ck_assert_int_eq(runner_run(&b.r, 0, 0, 0, &err), BS_OK);
    setup_free(&b);
    char path[512];
    snprintf(path, sizeof path, "%s/shift.csv", part);
    FILE *f = fopen(path, "a");
    fputs("3,train,0,stage1.bl", f);
    fclose(f);
    /* Resume: fresh process state, everything from the checkpoint. */
    Setup c;
    setup_make(&c, part, 3, 2);
    CheckpointMeta meta;
    snprintf(path, sizeof path, "%s/checkpoint.bin", part);
    ck_assert_int_eq(checkpoint_load(path, &c.m, &c.o, &meta, &err), BS_OK);
    ck_assert_int_eq(meta.epoch, 2);
    c.rng = meta.rng;
    ck_assert_int_eq(runner_run(&c.r, meta.epoch, meta.metrics_len, meta.shift_len, &err), BS_OK);
    setup_free(&c);
    ck_assert_runs_equal(full, part);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", full, part);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *runner_suite(void)
{
    Suite *s = suite_create("runner");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600); /* a hang guard; a loaded machine can be slow */
    tcase_add_test(tc, csv_columns_and_rows);
    tcase_add_test(tc, resume_matches_uninterrupted);
    suite_add_tcase(s, tc);
    return s;
}
