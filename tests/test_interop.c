/* PyTorch interop: the safetensors reader and writer (io/safetensors.h),
 * the model's state_dict names (models/state_dict.h), and through the CLI
 * `export` then `eval --weights` reproducing `eval` exactly, and `run
 * --init-from` starting from an export. (The PyTorch side:
 * scripts/torch/check_export.py, run by make test where torch imports.) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "models/state_dict.h"
#include "suites.h"
#include "test_util.h"

/* A file of raw bytes: the 8-byte length, header text, data. */
static void write_raw(const char *path, const char *header, const void *data, size_t data_len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned long long n = strlen(header);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, n, f);
    fwrite(data, 1, data_len, f);
    fclose(f);
}

START_TEST(roundtrip)
{
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-st");
    const char *path = path_of(dir, "t.safetensors");
    float a[6] = {1, -2, 3.5f, 4, 5, 6e-8f};
    int64_t count = 42;
    const StTensor t[3] = {{"layer.weight", "F32", 2, {2, 3}, a},
                           {"layer.num_batches_tracked", "I64", 0, {0}, &count},
                           {"empty", "F32", 1, {0}, a}};
    const char *keys[] = {"format", "note"}, *values[] = {"pt", "a \"quoted\"\nline"};
    BsError err = {0};
    ck_assert_msg(st_write(path, t, 3, keys, values, 2, &err) == BS_OK, "%s", err.msg);
    StFile f;
    ck_assert_msg(st_read(path, &f, &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(f.n, 3);
    ck_assert_int_eq((8 + (f.data - f.bytes - 8)) % 8, 0); /* data aligned to 8 bytes */
    const StEntry *w = st_find(&f, "layer.weight"), *c = st_find(&f, "layer.num_batches_tracked");
    ck_assert(w && c && st_find(&f, "empty") && !st_find(&f, "nope"));
    ck_assert_str_eq(w->dtype, "F32");
    ck_assert_int_eq(w->ndim, 2);
    ck_assert(w->shape[0] == 2 && w->shape[1] == 3);
    ck_assert(w->begin == 0 && w->end == 24 && c->begin == 24 && c->end == 32);
    ck_assert(!memcmp(f.data + w->begin, a, sizeof a));
    ck_assert_int_eq(c->ndim, 0);
    ck_assert_int_eq(st_numel(c), 1);
    ck_assert(!memcmp(f.data + c->begin, &count, 8));
    ck_assert_str_eq(st_meta(&f, "note"), "a \"quoted\"\nline");
    ck_assert_int_eq(f.data_size, 32);
    st_free(&f);
    remove_test_dir(dir);
}
END_TEST

/* Reads path and asserts it fails with BS_ERR_USER and a message holding want. */
static void assert_refused(const char *path, const char *want)
{
    StFile f;
    BsError err = {0};
    ck_assert_int_eq(st_read(path, &f, &err), BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, path), "'%s' lacks '%s'", err.msg, want);
}

START_TEST(bad_files)
{
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-st");
    const char *p = path_of(dir, "bad.safetensors");
    float d[4] = {0};
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 12);
    assert_refused(p, "data_offsets outside"); /* truncated data */
    write_raw(p, "{\"a\": [not json", d, 16);
    assert_refused(p, "not a JSON object");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 16);
    assert_refused(p, "overlap");
    write_raw(p, "{\"a\":{\"dtype\":\"Q7\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16);
    assert_refused(p, "unknown dtype 'Q7'");
    write_raw(p, "{\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16);
    assert_refused(p, "16 bytes for 4 F16 values");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", d, 16);
    assert_refused(p, "not a whole number");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 16);
    assert_refused(p, "appears twice");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d, 16);
    assert_refused(p, "8 bytes after the last tensor");
    FILE *f = fopen(p, "wb");
    fwrite("\xff\xff\xff\x7f\0\0\0\0{}", 1, 10, f); /* a header length past the end */
    fclose(f);
    assert_refused(p, "does not fit");
    f = fopen(p, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    assert_refused(p, "not a safetensors file");
    remove_test_dir(dir);
}
END_TEST

/* A ResNet-like chain of width w (conv, BN, linear). */
static void small_model(Model *m, int w)
{
    Rng r;
    rng_seed(&r, 3);
    BsError err = {0};
    model_init(m);
    int t = model_input(m, 3, 4, 4);
    t = model_conv(m, "stem.conv", t, w, 3, 1, 1, 0);
    t = model_bn(m, "stem.bn", t, 1e-5f, 0.1f);
    t = model_relu(m, t);
    t = model_conv_grouped(m, "dw", t, w, 3, 1, 1, w, 0);
    t = model_gn(m, "gn", t, 2, 1e-5f);
    t = model_avgpool(m, t);
    t = model_linear(m, "fc", t, 5, 1);
    ck_assert_int_eq(model_finish(m, t, 2, &r, &err), BS_OK);
}

START_TEST(state_dict_names_and_checks)
{
    Model m, other;
    small_model(&m, 4);
    StateEntry *e;
    int n;
    BsError err = {0};
    ck_assert_int_eq(state_dict_entries(&m, &e, &n, &err), BS_OK);
    const char *names[] = {"stem.conv.weight", "stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean",
                           "stem.bn.running_var", "stem.bn.num_batches_tracked", "dw.weight", "gn.weight",
                           "gn.bias", "fc.weight", "fc.bias"};
    ck_assert_int_eq(n, 11);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(e[i].name, names[i]);
    ck_assert(e[0].ndim == 4 && e[0].shape[0] == 4 && e[0].shape[1] == 3 && e[0].shape[3] == 3);
    ck_assert(e[6].ndim == 4 && e[6].shape[1] == 1); /* depthwise: in/groups */
    ck_assert(e[9].ndim == 2 && e[9].shape[0] == 5 && e[9].shape[1] == 4);
    ck_assert_int_eq(e[5].ndim, 0);
    free(e);
    char dir[256];
    make_test_dir(dir, sizeof dir, "bnshift-sd");
    const char *p = path_of(dir, "m.safetensors");
    fill_uniform(&(Rng){{1, 2, 3, 4}}, m.stats, m.n_stats, 0.5f, 1.5f);
    ck_assert_int_eq(state_dict_save(p, &m, 7, NULL, NULL, 0, &err), BS_OK);
    small_model(&other, 4);
    ck_assert_msg(state_dict_load(p, &other, &err) == BS_OK, "%s", err.msg);
    ck_assert(!memcmp(other.params, m.params, sizeof(float) * m.n_params));
    ck_assert(!memcmp(other.stats, m.stats, sizeof(float) * m.n_stats));
    model_free(&other);
    small_model(&other, 8); /* another width: refused, naming the tensor, nothing changed */
    float first = other.params[0];
    ck_assert_int_eq(state_dict_load(p, &other, &err), BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, "'stem.conv.weight' has shape [4, 3, 3, 3], this model's is [8, 3, 3, 3]"), "%s",
                  err.msg);
    ck_assert(other.params[0] == first);
    model_free(&other);
    model_free(&m);
    remove_test_dir(dir);
}
END_TEST

/* The tests run from the repository root (make test). */
static const char *repo_root(void)
{
    static char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    return cwd;
}

/* The binary under test as an absolute path (the commands cd elsewhere). */
static const char *bin_abs(void)
{
    static char path[PATH_MAX];
    ck_assert_msg(realpath(bnshift_bin(), path) != NULL, "%s: not found", bnshift_bin());
    return path;
}

START_TEST(export_then_eval_weights_is_eval)
{
    char dir[256], cmd[32768], *err = NULL;
    make_test_dir(dir, sizeof dir, "bnshift-export");
    const char *b = bin_abs();
    snprintf(cmd, sizeof cmd,
             "(cd %s && %s run %s/configs/synthetic-smoke.json --out run --set train.epochs=1 --quiet --threads 1 && "
             "%s eval run --threads 1 && %s export run --out m.safetensors && "
             "%s eval run --weights m.safetensors --out again --threads 1 --logits l.safetensors && "
             "%s eval run/config.resolved.json --weights m.safetensors --out fromcfg --threads 1)",
             dir, b, repo_root(), b, b, b, b);
    ck_assert_msg(run_in(dir, cmd, &err) == 0, "%s", err ? err : "");
    free(err);
    char *ref = slurp_file(path_of(dir, "run/eval.csv")), *w = slurp_file(path_of(dir, "again/eval.csv")),
         *c = slurp_file(path_of(dir, "fromcfg/eval.csv"));
    ck_assert(ref && w && c);
    ck_assert_str_eq(w, ref);
    ck_assert_str_eq(c, ref);
    free(ref), free(w), free(c);
    StFile f;
    BsError e = {0};
    ck_assert_msg(st_read(path_of(dir, "l.safetensors"), &f, &e) == BS_OK, "%s", e.msg);
    const StEntry *in = st_find(&f, "inputs"), *lg = st_find(&f, "logits"), *lb = st_find(&f, "labels");
    ck_assert(in && lg && lb);
    ck_assert(in->ndim == 4 && in->shape[0] == 128 && in->shape[1] == 3 && in->shape[2] == 16);
    ck_assert(lg->ndim == 2 && lg->shape[0] == 128 && lg->shape[1] == 10);
    ck_assert_str_eq(lb->dtype, "I64");
    st_free(&f);
    remove_test_dir(dir);
}
END_TEST

START_TEST(init_from_starts_at_the_export)
{
    char dir[256], cmd[32768], *err = NULL;
    make_test_dir(dir, sizeof dir, "bnshift-init");
    const char *b = bin_abs(), *cfg = "configs/synthetic-smoke.json";
    const char *root = repo_root();
    /* A learning rate of 1e-30 leaves the weights where --init-from put them. */
    snprintf(cmd, sizeof cmd,
             "(cd %s && %s run %s/%s --out a --set train.epochs=1 --quiet --threads 1 && %s export a --out a.st && "
             "%s run %s/%s --out b --init-from a.st --set train.epochs=1 --set train.lr=1e-30 --set seed=9 "
             "--quiet --threads 1 && %s export b --out b.st)",
             dir, b, root, cfg, b, b, root, cfg, b);
    ck_assert_msg(run_in(dir, cmd, &err) == 0, "%s", err ? err : "");
    free(err);
    StFile fa, fb;
    BsError e = {0};
    ck_assert(st_read(path_of(dir, "a.st"), &fa, &e) == BS_OK && st_read(path_of(dir, "b.st"), &fb, &e) == BS_OK);
    const StEntry *wa = st_find(&fa, "stem.conv.weight"), *wb = st_find(&fb, "stem.conv.weight");
    ck_assert(wa && wb);
    const size_t n = (size_t)st_numel(wa);
    float *va = falloc(n), *vb = falloc(n);
    memcpy(va, fa.data + wa->begin, 4 * n);
    memcpy(vb, fb.data + wb->begin, 4 * n);
    assert_close(vb, va, n, 1e-6, "weights after --init-from");
    free(va), free(vb);
    st_free(&fa);
    st_free(&fb);
    char *meta = slurp_file(path_of(dir, "b/config.resolved.json"));
    ck_assert(meta && strstr(meta, "\"init_from\":\t\"a.st\""));
    free(meta);
    remove_test_dir(dir);
}
END_TEST

Suite *interop_suite(void)
{
    Suite *s = suite_create("interop");
    TCase *tc = tcase_create("safetensors");
    tcase_add_test(tc, roundtrip);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, state_dict_names_and_checks);
    tcase_add_test(tc, export_then_eval_weights_is_eval);
    tcase_add_test(tc, init_from_starts_at_the_export);
    suite_add_tcase(s, tc);
    return s;
}
