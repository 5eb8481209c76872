/* Helpers shared by the check suites: random tensors, tensor comparison and
 * a central-difference gradient checker. */
#ifndef BS_TEST_UTIL_H
#define BS_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

#include "core/rng.h"
#include "models/arch.h"
#include "models/model.h"

/* n zeroed floats (at least one), asserted allocated; free() them. */
float *falloc(size_t n);

/* Asserts max|got - ref| <= rtol * max|ref| (max|ref| at least 1e-6),
 * naming `what` on failure. */
void assert_close(const float *got, const float *ref, size_t n, double rtol, const char *what);

/* Fills x[n] with uniform values in [lo, hi). */
void fill_uniform(Rng *r, float *x, size_t n, float lo, float hi);
void fill_normal(Rng *r, float *x, size_t n, float stddev);
/* max_i |a_i - b_i| and max_i |b_i|. */
double max_abs_diff(const float *a, const float *b, size_t n);
double max_abs(const float *x, size_t n);
/* Sum of out[i]*weights[i] in double: the scalar a gradient check differentiates. */
double dot_double(const float *out, const float *weights, size_t n);

/* A whole file as a string (NULL when unreadable). Caller frees. */
char *slurp_file(const char *path);
/* Newlines in s (0 for NULL). */
int count_lines(const char *s);
/* "dir/file" in one of four rotating static buffers. */
char *path_of(const char *dir, const char *file);
/* Data rows of a CSV file (its lines but the header). */
int csv_rows(const char *path);
/* Cuts the last two columns (seconds, images_per_s) from every line of a
 * metrics.csv text in place: the columns a resumed run may differ in. */
void csv_drop_timing(char *csv);

/* The binary the CLI tests run: ./bnshift, or $BNSHIFT_BIN (the sanitizer
 * build under `make sanitize`). */
const char *bnshift_bin(void);
/* Writes text to path (asserting success). */
void write_text_file(const char *path, const char *text);
/* Runs a shell command with stdout discarded and stderr saved in
 * dir/stderr.txt; returns its exit status (128+signal if killed) and, if
 * errtext, the stderr text (caller frees). */
int run_in(const char *dir, const char *cmd, char **errtext);

/* Polls (every ms, up to 2 minutes: sanitizer builds are slow) until
 * metrics.csv holds epoch 1 and, if given, the checkpoint file exists. */
void wait_for_epoch1(const char *metrics, const char *ckpt);
/* Starts `bnshift run CFG --out OUT --threads THREADS --quiet [MODE]` in the
 * background, stdout discarded, stderr to errpath, with BNSHIFT_FAULT set
 * to fault (or unset if NULL). */
pid_t spawn_bnshift_run(const char *cfg, const char *out, const char *threads, const char *errpath,
                        const char *mode, const char *fault);
/* Starts bnshift with the NULL-terminated args the same way. */
pid_t spawn_bnshift(const char *const *args, const char *errpath, const char *fault);
/* Exit status (128 + signal when killed) of pid, SIGKILLed after usec
 * microseconds unless it ends first (usec < 0: never). */
int finish_run(pid_t pid, long usec);

/* A fresh directory /tmp/PREFIX-XXXXXX into dir[cap], and its removal. */
void make_test_dir(char *dir, size_t cap, const char *prefix);
void remove_test_dir(const char *dir);

/* Asserts that two run directories hold the same metrics.csv (but for the
 * timing columns) and the same shift.csv. */
void ck_assert_runs_equal(const char *dir_a, const char *dir_b);

/* Loss as a function of the current contents of the tensors it reads. */
typedef double (*LossFn)(void *ctx);

/* Compares analytic gradient g[i] with (f(x+h) - f(x-h)) / 2h for up to
 * max_checks entries of x (evenly strided). Returns the worst error
 * |g - num| / max(1, |g|, |num|), i.e. absolute for small, relative for large. */
double gradcheck(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                 size_t max_checks);

/* How many of all n entries exceed tol: for losses with kinks (ReLU,
 * max-pool), where a few perturbations cross a kink but a wrong gradient
 * would fail most entries. */
size_t gradcheck_count_bad(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                           double tol);

/* A model's loss on one fixed batch, for gradcheck over m->params. */
typedef struct {
    Model *m;
    const float *x;
    const int *y;
    int N, train;
} ModelLossCtx;

double model_loss_at(void *ctx); /* forward (train or inference mode) + loss */

/* The analytic parameter gradients of ctx's loss (a malloc'd copy the
 * caller frees). In inference mode three training-mode forwards first give
 * BN non-trivial running statistics. */
float *model_analytic_grads(ModelLossCtx *c);

/* Whole-net finite differences of c's loss in a few weights and biases of
 * every layer, counting only entries where the loss is smooth at the
 * step's scale (deep nets on tiny batches cross ReLU kinks); asserts that
 * no layer and at most a tenth of all entries are off, naming `what`. */
void assert_sampled_net_gradients(ModelLossCtx *c, const char *what);

/* Writes DIR/c.json and runs `bnshift run` on it (asserting it worked):
 * one epoch on 32 Fashion-MNIST images in batches of 16, 16 evaluation
 * images, `model_keys` the body of the model object, `train_keys` more
 * train keys ("" for none), output in DIR/run. */
void run_small_fashion(const char *dir, const char *model_keys, const char *train_keys);
/* The same in a fresh test folder: the data rows of its shift.csv. */
int shift_rows_of_run(const char *model_keys);

/* The network of s on 2 random samples: finite everywhere in training and
 * inference mode (`what` names it in a failure). */
void assert_forward_finite(const ModelSpec *s, const char *what);
/* model_build(s) fails with a user error whose message holds needle. */
void assert_build_error(const ModelSpec *s, const char *needle);

/* Asserts gradcheck(...) <= tol and names the tensor on failure. */
#define ck_gradcheck(f, ctx, x, g, n, h, tol, what)                                   \
    do {                                                                              \
        double err_ = gradcheck((f), (ctx), (x), (g), (n), (h), 200);                 \
        ck_assert_msg(err_ <= (tol), "gradcheck %s: error %g > %g", (what), err_,     \
                      (double)(tol));                                                 \
    } while (0)

/* Writes a w x h PNG (libpng's simplified API: format PNG_FORMAT_*, an
 * optional colormap of `entries` colors), asserting success. */
void write_png_file(const char *path, int w, int h, unsigned format, const void *pixels,
                    const void *colormap, int entries);

/* Comparison of one fixture case's tensors with reference (PyTorch) values:
 * each must satisfy max|ours - ref| <= tol * max|ref|. Every mismatch is
 * collected (naming the tensor, the worst element and both values) so a
 * failure lists all of them; BN_FX_VERBOSE=1 prints each tensor's relative
 * error. tests/test_family_fixtures.c uses it. */
typedef struct {
    const char *name; /* the case, in every message */
    char msg[3072];   /* check's messages hold 4 KiB in all */
    size_t used;
    int failures;
    double worst; /* worst max|ours - ref| / max|ref| seen (inf for NaN) */
} FxCmp;

void fxcmp_init(FxCmp *c, const char *name);
/* Compares n values; returns the relative error max|ours - ref| / max|ref|
 * (the absolute one when ref is all zero; inf when ours holds NaN). */
double fxcmp_tensor(FxCmp *c, const char *tensor, const float *ours, const float *ref, size_t n,
                    double tol);
/* The same with max|ours - ref| measured against `scale` instead of max|ref|. */
double fxcmp_tensor_scaled(FxCmp *c, const char *tensor, const float *ours, const float *ref, size_t n,
                           double scale, double tol);
/* Fails the test (listing every mismatch) unless all tensors matched. */
void fxcmp_finish(const FxCmp *c);
/* Whether BN_FX_VERBOSE is set to something other than 0. */
int fx_verbose(void);


/* eval.csv texts for the readers' tests (test_summary.c, test_plot_data.c).
 * TEST_EVAL_CSV: two BN layers per condition: A (clean), B (gaussian_noise
 * 3; recalibrated on test: C), D (contrast 3), E (gaussian_noise 5), F (ema
 * on train); A twice in a row and B again at the end with other numbers:
 * those win. TEST_EVAL_CSV_V1: an older bnshift's file of a model without
 * BN, plain and recalibrated on test. */
extern const char TEST_EVAL_CSV[];
/* Two BN layers (stem.bn, a.bn1) of one eval.csv condition: the columns
 * before the layer, esm_mean and nesm_mean of each layer, the columns after. */
#define EV2(pre, e0, n0, e1, n1, post)                                   \
    pre ",0,stem.bn,1,4," #e0 ",0,0,0,0," #n0 ",0," post "\n" pre ",1,a.bn1,2,4," #e1 ",0,0,0,0," #n1 ",0," post "\n"
extern const char TEST_EVAL_CSV_V1[];

#endif
