#include "io/logformat.h"
#include "test_util.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <unistd.h>

float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

void assert_close(const float *got, const float *ref, size_t n, double rtol, const char *what)
{
    double err = max_abs_diff(got, ref, n), scale = fmax(max_abs(ref, n), 1e-6);
    ck_assert_msg(err <= rtol * scale, "%s: max diff %g > %g * max|ref| %g", what, err, rtol, scale);
}

void fill_uniform(Rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * rng_uniform(r);
}

double model_loss_at(void *vctx)
{
    ModelLossCtx *c = vctx;
    model_forward(c->m, c->x, c->N, c->train);
    return model_loss(c->m, c->y, c->N, NULL, 0);
}

float *model_analytic_grads(ModelLossCtx *c)
{
    Model *m = c->m;
    if (!c->train)
        for (int i = 0; i < 3; i++)
            model_forward(m, c->x, c->N, 1);
    model_loss_at(c);
    model_loss(m, c->y, c->N, NULL, 1);
    model_zero_grad(m);
    model_backward(m, c->N, c->train);
    float *g = malloc(sizeof(float) * m->n_params);
    ck_assert_ptr_nonnull(g);
    memcpy(g, m->grads, sizeof(float) * m->n_params);
    return g;
}

void fill_normal(Rng *r, float *x, size_t n, float stddev)
{
    for (size_t i = 0; i < n; i++)
        x[i] = stddev * rng_normal(r);
}

double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d))
            m = isnan(d) ? INFINITY : d;
    }
    return m;
}

double max_abs(const float *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)x[i]) > m)
            m = fabs((double)x[i]);
    return m;
}

double dot_double(const float *out, const float *weights, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * (double)weights[i];
    return s;
}

/* |analytic - numeric| / max(1, |analytic|, |numeric|) for entry i. */
static double entry_error(LossFn f, void *ctx, float *x, float g, size_t i, float h)
{
    float saved = x[i];
    x[i] = saved + h;
    double fp = f(ctx);
    x[i] = saved - h;
    double fm = f(ctx);
    x[i] = saved;
    /* Divide by the perturbation actually applied in float. */
    double num = (fp - fm) / ((double)(saved + h) - (double)(saved - h));
    double err = fabs(num - (double)g) / fmax(1.0, fmax(fabs(num), fabs((double)g)));
    return isnan(err) ? INFINITY : err;
}

double gradcheck(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                 size_t max_checks)
{
    size_t step = n > max_checks ? n / max_checks : 1;
    double worst = 0;
    for (size_t i = 0; i < n; i += step)
        worst = fmax(worst, entry_error(f, ctx, x, g[i], i, h));
    return worst;
}

size_t gradcheck_count_bad(LossFn f, void *ctx, float *x, const float *g, size_t n, float h,
                           double tol)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += entry_error(f, ctx, x, g[i], i, h) > tol;
    return bad;
}

char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc((size_t)(n > 0 ? n : 0) + 1, 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
        buf[0] = 0;
    fclose(f);
    return buf;
}

int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

void csv_drop_timing(char *csv)
{
    char *out = csv;
    for (char *line = csv; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        size_t keep = len;
        int commas = 0;
        for (size_t i = 0; i < len; i++)
            if (line[i] == ',' && ++commas == 8)
                keep = i;
        memmove(out, line, keep);
        out += keep;
        *out++ = '\n';
        line += len + (end ? 1 : 0);
    }
    *out = 0;
}

void ck_assert_runs_equal(const char *dir_a, const char *dir_b)
{
    const char *files[2] = {"metrics.csv", "shift.csv"};
    for (int i = 0; i < 2; i++) {
        char pa[1024], pb[1024];
        snprintf(pa, sizeof pa, "%s/%s", dir_a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", dir_b, files[i]);
        char *a = slurp_file(pa), *b = slurp_file(pb);
        ck_assert_msg(a && b, "cannot read %s or %s", pa, pb);
        if (i == 0) {
            csv_drop_timing(a);
            csv_drop_timing(b);
        }
        ck_assert_str_eq(b, a);
        free(a);
        free(b);
    }
}

const char *bnshift_bin(void)
{
    const char *b = getenv("BNSHIFT_BIN");
    return b && *b ? b : "./bnshift";
}

void write_text_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

int run_in(const char *dir, const char *cmd, char **errtext)
{
    char full[4096], errpath[1024];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(full, sizeof full, "%s >/dev/null 2>%s", cmd, errpath);
    int st = system(full);
    if (errtext)
        *errtext = slurp_file(errpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void write_png_file(const char *path, int w, int h, unsigned format, const void *pixels,
                    const void *colormap, int entries)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = format;
    img.colormap_entries = (png_uint_32)entries;
    ck_assert_msg(png_image_write_to_file(&img, path, 0, pixels, 0, colormap), "%s: %s", path,
                  img.message);
}

/* Polls (every ms, up to 2 minutes: sanitizer builds are slow) until
 * metrics.csv holds epoch 1 and, if given, the checkpoint file exists. */
void wait_for_epoch1(const char *metrics, const char *ckpt)
{
    for (int i = 0; i < 120000; i++) {
        char *m = slurp_file(metrics);
        int lines = count_lines(m);
        free(m);
        if (lines >= 2 && (!ckpt || access(ckpt, F_OK) == 0))
            return;
        usleep(1000);
    }
}

/* Starts `bnshift run CFG --out OUT --threads THREADS --quiet [MODE]` in the
 * background, stdout discarded, stderr to errpath, with BNSHIFT_FAULT set
 * to fault (or unset if NULL). */
pid_t spawn_bnshift_run(const char *cfg, const char *out, const char *threads, const char *errpath,
                        const char *mode, const char *fault)
{
    const char *const args[] = {"run", cfg, "--out", out, "--threads", threads, "--quiet", mode, NULL};
    return spawn_bnshift(args, errpath, fault); /* a NULL mode ends the list there */
}

/* Exit status (128 + signal when killed) of pid, SIGKILLed after usec
 * microseconds unless it ends first (usec < 0: never). */
int finish_run(pid_t pid, long usec)
{
    int st;
    for (long waited = 0; usec < 0 || waited < usec; waited += 1000) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        ck_assert_msg(w == 0, "finish_run: no child %d to wait for", (int)pid);
        usleep(1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

pid_t spawn_bnshift(const char *const *args, const char *errpath, const char *fault)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen(errpath, "w", stderr))
            _exit(99);
        if (fault)
            setenv("BNSHIFT_FAULT", fault, 1);
        else
            unsetenv("BNSHIFT_FAULT");
        const char *argv[64];
        int n = 0;
        argv[n++] = bnshift_bin();
        for (; args[n - 1] && n < 63; n++)
            argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(bnshift_bin(), (char *const *)argv);
        _exit(127);
    }
    return pid;
}

void make_test_dir(char *dir, size_t cap, const char *prefix)
{
    snprintf(dir, cap, "/tmp/%s-XXXXXX", prefix);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void remove_test_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int fx_verbose(void)
{
    const char *v = getenv("BN_FX_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

void fxcmp_init(FxCmp *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
}

static void fxcmp_note(FxCmp *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fxcmp_note(FxCmp *c, const char *fmt, ...)
{
    c->failures++;
    if (c->used + 1 >= sizeof c->msg)
        return; /* the count still says how many */
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(c->msg + c->used, sizeof c->msg - c->used, fmt, ap);
    va_end(ap);
    if (w > 0)
        c->used += (size_t)w < sizeof c->msg - c->used ? (size_t)w : sizeof c->msg - c->used - 1;
}

/* Index of the largest |a_i - b_i| (NaN counts as infinite). */
static size_t worst_index(const float *a, const float *b, size_t n)
{
    size_t at = 0;
    double worst = -1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d))
            d = INFINITY;
        if (d > worst) {
            worst = d;
            at = i;
        }
    }
    return at;
}

double fxcmp_tensor(FxCmp *c, const char *tensor, const float *ours, const float *ref, size_t n,
                    double tol)
{
    return fxcmp_tensor_scaled(c, tensor, ours, ref, n, max_abs(ref, n), tol);
}

double fxcmp_tensor_scaled(FxCmp *c, const char *tensor, const float *ours, const float *ref, size_t n,
                           double scale, double tol)
{
    double diff = max_abs_diff(ours, ref, n);
    double rel = scale > 0 ? diff / scale : diff;
    size_t at = worst_index(ours, ref, n);
    if (isnan(rel) || isnan(ours[at]))
        rel = INFINITY;
    if (rel > c->worst)
        c->worst = rel;
    if (fx_verbose())
        fprintf(stderr, "fixtures: %-36s %-16s rel err %.3g\n", c->name, tensor, rel);
    if (!(rel <= tol))
        fxcmp_note(c,
                   "\n  %s / %s: max|ours-ref| = %.6g > %g * scale %.6g (rel %.3g); "
                   "worst at [%zu]: ours %.9g, ref %.9g",
                   c->name, tensor, diff, tol, scale, rel, at, (double)ours[at], (double)ref[at]);
    return rel;
}

void fxcmp_finish(const FxCmp *c)
{
    if (fx_verbose())
        fprintf(stderr, "fixtures: %-36s worst rel err %.3g\n", c->name, c->worst);
    ck_assert_msg(c->failures == 0, "%s: %d tensor(s) differ from the reference:%s", c->name,
                  c->failures, c->msg);
}

/* The central difference of the loss in x[i] with step h. */
static double net_central_difference(ModelLossCtx *c, float *x, size_t i, float h)
{
    const float old = x[i];
    x[i] = old + h;
    const double up = model_loss_at(c);
    x[i] = old - h;
    const double down = model_loss_at(c);
    x[i] = old;
    return (up - down) / (2.0 * h);
}

/* Checks `count` entries spread evenly over x[0, n). An entry counts only
 * where the loss is smooth at the step's scale (the differences at h and
 * h/2 agree to 1%): deep nets on a tiny batch cross ReLU kinks at some
 * entries, and there no finite difference means anything. Even where it
 * is smooth, the kinks a step crosses bend the difference by a few
 * percent (it drifts towards g as h shrinks), so a gradient is off when
 * it misses by 5%: a gradient routed wrong misses by far more. Adds the
 * smooth entries to *smooth and returns how many of them are off. The
 * PyTorch fixtures (test_family_fixtures.c) check the same nets' gradients
 * to float precision. */
static size_t net_fd_bad_entries(ModelLossCtx *c, float *x, const float *g, size_t n, size_t count, size_t *smooth)
{
    const float h = 5e-4f;
    const double tol = 1e-2;
    size_t bad = 0;
    const size_t step = n > count ? n / count : 1;
    for (size_t i = 0; i < n; i += step) {
        const double d1 = net_central_difference(c, x, i, h), d2 = net_central_difference(c, x, i, h / 2);
        const double scale = fmax(1.0, fmax(fabs(d1), fabs(g[i])));
        if (fabs(d1 - d2) > tol * scale)
            continue;
        ++*smooth;
        bad += fabs(d2 - g[i]) > 5 * tol * scale;
    }
    return bad;
}


/* A few weights and biases (or gamma and beta) of every layer of c's model
 * against finite differences; only smooth entries count
 * (net_fd_bad_entries), and a gradient routed wrong spoils most of a
 * layer's. */
void assert_sampled_net_gradients(ModelLossCtx *c, const char *what)
{
    Model *mp = c->m;
    float *g = model_analytic_grads(c);
    size_t bad = 0, checked = 0, entries = 0;
    for (int i = 0; i < mp->n_ops; i++) {
        const Op *op = &mp->ops[i];
        size_t layer_checked = 0, layer_bad = 0;
        if (op->n_w)
            layer_bad += net_fd_bad_entries(c, mp->params + op->w_off, g + op->w_off, op->n_w, 4, &layer_checked);
        if (op->n_b)
            layer_bad += net_fd_bad_entries(c, mp->params + op->b_off, g + op->b_off, op->n_b, 2, &layer_checked);
        ck_assert_msg(layer_bad < 2 || layer_bad * 2 < layer_checked, "%s: %zu of %zu gradients of %s off", what, layer_bad, layer_checked, op->name);
        bad += layer_bad;
        checked += layer_checked;
        entries += (op->n_w ? (op->n_w < 4 ? op->n_w : 4) : 0) + (op->n_b ? (op->n_b < 2 ? op->n_b : 2) : 0);
    }
    ck_assert_msg(checked * 5 >= entries * 2, "%s: only %zu of ~%zu entries smooth", what, checked, entries);
    ck_assert_msg(bad * 10 <= checked, "%s: %zu of %zu gradients off", what, bad, checked);
    free(g);
}

void run_small_fashion(const char *dir, const char *model_keys, const char *train_keys)
{
    char cfg[4096], cmd[1024], path[128];
    snprintf(cfg, sizeof cfg,
             "{\"name\": \"fam\", \"data\": {\"dataset\": \"fashion-mnist\", \"train_subset\": 32, "
             "\"eval_subset\": 16},\n \"model\": {%s},\n"
             " \"train\": {\"epochs\": 1, \"batch_size\": 16%s%s}, \"log\": {\"out\": \"%s/run\"}}\n",
             model_keys, *train_keys ? ", " : "", train_keys, dir);
    snprintf(path, sizeof path, "%s/c.json", dir);
    write_text_file(path, cfg);
    snprintf(cmd, sizeof cmd, "%s run %s --quiet --threads 2", bnshift_bin(), path);
    char *errtext = NULL;
    int rc = run_in(dir, cmd, &errtext);
    ck_assert_msg(rc == 0, "{%s}: exit %d: %s", model_keys, rc, errtext);
    free(errtext);
}

int shift_rows_of_run(const char *model_keys)
{
    char dir[64], path[128];
    make_test_dir(dir, sizeof dir, "bnshift-family");
    run_small_fashion(dir, model_keys, "");
    snprintf(path, sizeof path, "%s/run/shift.csv", dir);
    char *csv = slurp_file(path);
    ck_assert_ptr_nonnull(csv);
    const int rows = count_lines(csv) - 1;
    free(csv);
    remove_test_dir(dir);
    return rows;
}

void assert_forward_finite(const ModelSpec *s, const char *what)
{
    Model m;
    BsError err = {0};
    Rng r;
    rng_seed(&r, 4);
    ck_assert_msg(model_build(&m, s, 2, &r, &err) == BS_OK, "%s: %s", what, err.msg);
    const size_t nx = (size_t)2 * s->in_c * s->in_h * s->in_w;
    float *x = falloc(nx);
    fill_normal(&r, x, nx, 1);
    for (int train = 1; train >= 0; train--) {
        model_forward(&m, x, 2, train);
        ck_assert_msg(model_find_nonfinite(&m, 2) == -1, "%s (train %d): a non-finite value", what, train);
    }
    free(x);
    model_free(&m);
}

void assert_build_error(const ModelSpec *s, const char *needle)
{
    Model m;
    BsError err = {0};
    Rng r;
    rng_seed(&r, 4);
    ck_assert_int_eq(model_build(&m, s, 2, &r, &err), BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

const char TEST_EVAL_CSV[] =
    EVAL_HEADER "\n"
    EV2("2,,before,test,1,0.2,0.3", 1, 0.1, 3, 0.3, ",,,,32,,")
    EV2("2,,before,test,1,0.22,0.32", 1, 0.1, 3, 0.3, ",,,,32,,")
    EV2("2,,before,test,1,0.5,0.4", 2, 0.2, 4, 0.4, ",,,,32,gaussian_noise,3")
    EV2("2,test,after,test,1,0.3,0.35", 0.5, 0.05, 0.5, 0.05, "exact,,,,32,gaussian_noise,3")
    EV2("2,,before,test,1,0.7,0.6", 5, 0.5, 7, 0.7, ",,,,32,contrast,3")
    EV2("2,,before,test,1,0.9,0.8", 8, 0.8, 8, 0.8, ",,,,32,gaussian_noise,5")
    EV2("2,train,after,train,1,0.6,0.6", 1, 0.1, 1, 0.1, "ema,5,64,0.1,32,,")
    EV2("3,,before,test,1,0.45,0.4", 1, 0.1, 1, 0.1, ",,,,32,gaussian_noise,3");

const char TEST_EVAL_CSV_V1[] = EVAL_HEADER_V1 "\n"
                                "3,,before,test,1,0.4,0.5,,,,,,,,,,,\n"
                                "3,test,before,test,1,0.4,0.5,,,,,,,,,,,\n"
                                "3,test,after,test,1,0.35,0.5,,,,,,,,,,,\n";

char *path_of(const char *dir, const char *file)
{
    static char buf[4][600];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 600, "%s/%s", dir, file);
    return p;
}

int csv_rows(const char *path)
{
    char *m = slurp_file(path);
    int n = count_lines(m) - 1;
    free(m);
    return n;
}
