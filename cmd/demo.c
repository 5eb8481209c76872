/* `bnshift demo`: the README's first command until `bnshift run` exists.
 * Trains conv-BN-ReLU-pool x2 + linear on a Fashion-MNIST subset and prints,
 * per epoch, the training-mode (batch statistics) and inference-mode
 * (running statistics) errors — the gap the estimation-shift study is about. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "core/threads.h"
#include "data/idx.h"
#include "models/model.h"
#include "train/optimizer.h"
#include "train/schedule.h"

#define DEMO_ROOT "/usr/share/datasets/fashion-mnist"

typedef struct {
    int train_n, test_n, epochs, batch, threads;
    const char *root;
} DemoArgs;

static int parse_args(int argc, char **argv, DemoArgs *a)
{
    *a = (DemoArgs){.train_n = 10000, .test_n = 10000, .epochs = 3, .batch = 64, .threads = 2,
                    .root = DEMO_ROOT};
    for (int i = 1; i < argc; i++) {
        int *slot = !strcmp(argv[i], "--train") ? &a->train_n
                    : !strcmp(argv[i], "--epochs") ? &a->epochs
                    : !strcmp(argv[i], "--threads") ? &a->threads
                                                    : NULL;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: bnshift demo [--train N] [--epochs E] [--threads T] [--root DIR]\n");
            exit(0);
        }
        if (!strcmp(argv[i], "--root") && i + 1 < argc) {
            a->root = argv[++i];
            continue;
        }
        if (!slot || i + 1 >= argc || (*slot = atoi(argv[++i])) < 1)
            return cli_error(2, "demo: bad argument '%s' (see bnshift demo --help)", argv[i]);
    }
    return 0;
}

static int build_net(Model *m, int batch, BnError *err)
{
    Rng r;
    rng_seed(&r, 1);
    model_init(m);
    int x = model_input(m, 1, 28, 28);
    x = model_relu(m, model_bn(m, "bn1", model_conv(m, "conv1", x, 16, 3, 1, 1, 0), 1e-5f, 0.1f));
    x = model_maxpool(m, x, 2, 2);
    x = model_relu(m, model_bn(m, "bn2", model_conv(m, "conv2", x, 32, 3, 1, 1, 0), 1e-5f, 0.1f));
    x = model_maxpool(m, x, 2, 2);
    x = model_avgpool(m, model_relu(m, model_bn(m, "bn3", model_conv(m, "conv3", x, 64, 3, 1, 1, 0), 1e-5f, 0.1f)));
    return model_finish(m, model_linear(m, "fc", x, 10, 1), batch, &r, err);
}

/* Inference-mode error over a whole set. */
static double eval_error(Model *m, const Dataset *d, const float *mean, const float *std,
                         float *x, int *y, int *idx, int batch)
{
    int hits = 0;
    for (int i = 0; i < d->n; i++)
        idx[i] = i;
    for (int s = 0; s < d->n; s += batch) {
        int nb = d->n - s < batch ? d->n - s : batch, c;
        dataset_gather(d, idx + s, nb, mean, std, x, y);
        model_forward(m, x, nb, 0);
        model_loss(m, y, nb, &c, 0);
        hits += c;
    }
    return 1.0 - (double)hits / d->n;
}

int cmd_demo(int argc, char **argv)
{
    DemoArgs a;
    if (parse_args(argc, argv, &a))
        return 2;
    bn_set_threads(a.threads);
    BnError err = {0};
    Dataset train, test;
    if (idx_load(&train, a.root, "train", &err) || idx_load(&test, a.root, "t10k", &err))
        return cli_error(err.code, "%s", err.msg);
    if (a.train_n < train.n)
        train.n = a.train_n; /* first N samples: a subset */
    float mean[1], std[1];
    dataset_channel_stats(&train, mean, std);
    Model m;
    Optimizer o;
    if (build_net(&m, a.batch, &err) ||
        optimizer_init(&o, &m, (SgdConfig){.momentum = 0.9f}, 5e-4f, 1, &err))
        return cli_error(err.code, "%s", err.msg);
    Schedule sched = {.type = SCHED_COSINE, .base_lr = 0.05f, .total_epochs = a.epochs};
    int maxn = train.n > test.n ? train.n : test.n;
    float *x = malloc(sizeof(float) * 28 * 28 * a.batch);
    int *y = malloc(sizeof(int) * a.batch), *idx = malloc(sizeof(int) * maxn);
    if (!x || !y || !idx)
        return cli_error(BN_ERR_RUNTIME, "out of memory");
    Rng r;
    rng_seed(&r, 2);
    printf("Fashion-MNIST from %s: %d train, %d test images; %d threads (OpenBLAS core %s)\n",
           a.root, train.n, test.n, bn_get_threads(), bn_blas_core());
    printf("epoch  train_batch_err  train_err(inference)  test_err  seconds\n");
    int steps = train.n / a.batch;
    for (int e = 0; e < a.epochs; e++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int i = 0; i < train.n; i++)
            idx[i] = i;
        rng_shuffle(&r, idx, train.n);
        long hits = 0;
        for (int s = 0; s < steps; s++) {
            int c;
            dataset_gather(&train, idx + s * a.batch, a.batch, mean, std, x, y);
            train_step(&m, &o, x, y, a.batch, schedule_lr(&sched, e, s, steps), &c);
            hits += c;
        }
        double tr = eval_error(&m, &train, mean, std, x, y, idx, a.batch);
        double te = eval_error(&m, &test, mean, std, x, y, idx, a.batch);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%5d  %15.4f  %20.4f  %8.4f  %7.1f\n", e + 1,
               1.0 - (double)hits / ((double)steps * a.batch), tr, te,
               (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        fflush(stdout);
    }
    free(x);
    free(y);
    free(idx);
    optimizer_free(&o);
    model_free(&m);
    dataset_free(&train);
    dataset_free(&test);
    return 0;
}
