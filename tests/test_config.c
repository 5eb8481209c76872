/* The config module (REFERENCE.md §3): defaults, a full file, every class of user
 * error with a message naming the file and key, --set overrides, the resume
 * hash, and the resolved-config round trip. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/config.h"
#include "suites.h"

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/bnshift-config-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes the directory and what the tests put in it (one level deep). */
static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (remove(p) != 0)
            rmdir(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

/* Writes text to tmpdir/name, the path going into path[cap]. */
static const char *write_file(char *path, size_t cap, const char *name, const char *text)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as a config file with optional --set assignments. */
static int load_text(Config *c, const char *text, char *const *sets, int n_sets, BsError *err)
{
    char path[256];
    write_file(path, sizeof path, "c.json", text);
    memset(err, 0, sizeof *err);
    return config_load(c, path, sets, n_sets, err);
}

/* Asserts that text fails as a user error whose message has each of the
 * NULL-terminated substrings (and the file name). */
static void expect_error(const char *text, const char *const *want)
{
    Config c;
    BsError err;
    int rc = load_text(&c, text, NULL, 0, &err);
    ck_assert_msg(rc == BS_ERR_USER, "config %s: rc %d, want BS_ERR_USER (msg '%s')", text, rc, err.msg);
    ck_assert_int_eq(err.code, BS_ERR_USER);
    ck_assert_msg(strstr(err.msg, "c.json") != NULL, "message '%s' does not name the file", err.msg);
    ck_assert_msg(strchr(err.msg, '\n') == NULL, "message '%s' is not one line", err.msg);
    for (int i = 0; want[i]; i++)
        ck_assert_msg(strstr(err.msg, want[i]) != NULL, "config %s: message '%s' lacks '%s'", text, err.msg,
                      want[i]);
}

#define EXPECT_ERROR(text, ...) expect_error(text, (const char *const[]){__VA_ARGS__, NULL})

static int configs_equal(const Config *a, const Config *b) { return memcmp(a, b, sizeof *a) == 0; }

/* ---- defaults ----------------------------------------------------------- */

START_TEST(defaults_match_spec)
{
    Config c;
    BsError err = {0};
    ck_assert_int_eq(config_load(&c, NULL, NULL, 0, &err), BS_OK);
    ck_assert_str_eq(c.name, "resnet20-bn-cifar10");
    ck_assert_int_eq(c.seed, 1);
    ck_assert_int_eq(c.data.dataset, DS_CIFAR10);
    ck_assert_str_eq(c.data.root, "");
    ck_assert_str_eq(config_data_root(&c), "data/cifar-10-batches-bin");
    ck_assert_int_eq(c.data.train_from, FROM_TRAIN);
    ck_assert_int_eq(c.data.test_from, FROM_TEST);
    ck_assert(c.data.augment && c.data.flip && c.data.normalize);
    ck_assert_int_eq(c.data.train_subset, 0);
    ck_assert_int_eq(c.data.eval_subset, 0);
    ck_assert_int_eq(c.model.arch, ARCH_RESNET);
    ck_assert_int_eq(c.model.depth, 20);
    ck_assert_int_eq(c.model.width, 16);
    ck_assert_int_eq(c.model.shortcut, SHORTCUT_PROJECTION);
    ck_assert_int_eq(c.model.norm, VARIANT_BN);
    ck_assert_int_eq(c.model.groups, 32);
    ck_assert_int_eq(c.model.stem_norm, STEM_AUTO);
    ck_assert_int_eq(c.model.n_hidden, 4);
    ck_assert_int_eq(c.model.hidden[3], 256);
    ck_assert_int_eq(c.model.n_channels, 9);
    ck_assert_int_eq(c.model.channels[2], ARCH_MAXPOOL);
    ck_assert_int_eq(c.model.channels[8], ARCH_MAXPOOL);
    ck_assert_int_eq(c.model.channels[6], 256);
    ck_assert_int_eq(c.model.num_classes, 0);
    ck_assert_int_eq(c.train.epochs, 160);
    ck_assert_int_eq(c.train.batch_size, 128);
    ck_assert_int_eq(c.train.optimizer, OPTIMIZER_SGD);
    ck_assert_double_eq(c.train.lr, 0.1);
    ck_assert_double_eq(c.train.momentum, 0.9);
    ck_assert(!c.train.nesterov);
    ck_assert_double_eq(c.train.weight_decay, 1e-4);
    ck_assert(c.train.wd_norm);
    ck_assert_int_eq(c.train.schedule.type, SCHED_MULTISTEP);
    ck_assert_int_eq(c.train.schedule.n_milestones, 2);
    ck_assert_int_eq(c.train.schedule.milestones[0], 80);
    ck_assert_int_eq(c.train.schedule.milestones[1], 120);
    ck_assert_double_eq(c.train.schedule.gamma, 0.1);
    ck_assert_int_eq(c.train.schedule.warmup_epochs, 0);
    ck_assert_double_eq(c.train.bn_momentum, 0.1);
    ck_assert_double_eq(c.train.bn_eps, 1e-5);
    ck_assert_double_eq(c.train.grad_clip, 0);
    ck_assert_str_eq(c.log.out, "runs/NAME");
    ck_assert_int_eq(c.log.eval_every, 1);
    ck_assert(c.log.eval_train && c.log.eval_test);
    ck_assert_int_eq(c.log.checkpoint_every, 1);

    Config d;
    config_defaults(&d);
    ck_assert(configs_equal(&c, &d));
    /* An empty object is the defaults too. */
    ck_assert_int_eq(load_text(&d, "{}", NULL, 0, &err), BS_OK);
    ck_assert(configs_equal(&c, &d));
}
END_TEST

START_TEST(flip_default_follows_dataset)
{
    Config c;
    BsError err;
    ck_assert_int_eq(load_text(&c, "{\"data\": {\"dataset\": \"mnist\"}}", NULL, 0, &err), BS_OK);
    ck_assert_int_eq(c.data.flip, 0);
    ck_assert_str_eq(config_data_root(&c), "data/mnist");
    ck_assert_int_eq(load_text(&c, "{\"data\": {\"dataset\": \"mnist\", \"flip\": true}}", NULL, 0, &err), BS_OK);
    ck_assert_int_eq(c.data.flip, 1);
    ck_assert_int_eq(load_text(&c, "{\"data\": {\"dataset\": \"fashion-mnist\"}}", NULL, 0, &err), BS_OK);
    ck_assert_int_eq(c.data.flip, 1);
    ck_assert_str_eq(config_data_root(&c), "/usr/share/datasets/fashion-mnist");
    ck_assert_int_eq(load_text(&c, "{\"data\": {\"flip\": false}}", NULL, 0, &err), BS_OK);
    ck_assert_int_eq(c.data.flip, 0);
    char *const sets[] = {"data.dataset=mnist"};
    ck_assert_int_eq(load_text(&c, "{}", sets, 1, &err), BS_OK);
    ck_assert_int_eq(c.data.flip, 0);
}
END_TEST

/* ---- a full file -------------------------------------------------------- */

static const char *FULL =
    "{\n"
    "  \"name\": \"vgg-gnbn\",\n"
    "  \"seed\": 7,\n"
    "  \"data\": {\"dataset\": \"cifar100\", \"root\": \"/data/c100\", \"train_from\": \"test\",\n"
    "           \"train_subset\": 1000, \"test_from\": \"train\", \"augment\": false, \"flip\": false,\n"
    "           \"normalize\": false, \"eval_subset\": 500,\n"
    "           \"synthetic\": {\"train\": 64, \"test\": 32, \"channels\": 1, \"size\": 8, \"classes\": 4,\n"
    "                         \"noise\": 0.25}},\n"
    "  \"model\": {\"arch\": \"vgg\", \"depth\": 32, \"width\": 8, \"shortcut\": \"identity\",\n"
    "            \"norm\": \"gnbn\", \"groups\": 4, \"stem_norm\": \"gn\", \"hidden\": [128, 64],\n"
    "            \"channels\": [16, \"M\", 32, \"M\"], \"num_classes\": 100},\n"
    "  \"train\": {\"epochs\": 30, \"batch_size\": 16, \"optimizer\": \"sgd\", \"lr\": 0.05,\n"
    "            \"momentum\": 0.5, \"nesterov\": true, \"weight_decay\": 5e-4, \"wd_norm\": false,\n"
    "            \"schedule\": {\"type\": \"cosine\", \"milestones\": [10, 20, 25], \"gamma\": 0.2,\n"
    "                         \"warmup_epochs\": 2},\n"
    "            \"bn_momentum\": 0.01, \"bn_eps\": 1e-3, \"grad_clip\": 5},\n"
    "  \"log\": {\"out\": \"runs/x\", \"eval_every\": 3, \"eval_sets\": [\"test\"], \"checkpoint_every\": 5}\n"
    "}\n";

START_TEST(full_file)
{
    Config c;
    BsError err;
    ck_assert_msg(load_text(&c, FULL, NULL, 0, &err) == BS_OK, "%s", err.msg);
    ck_assert_str_eq(c.name, "vgg-gnbn");
    ck_assert_int_eq(c.seed, 7);
    ck_assert_int_eq(c.data.dataset, DS_CIFAR100);
    ck_assert_str_eq(c.data.root, "/data/c100");
    ck_assert_str_eq(config_data_root(&c), "/data/c100");
    ck_assert_int_eq(c.data.train_from, FROM_TEST);
    ck_assert_int_eq(c.data.train_subset, 1000);
    ck_assert_int_eq(c.data.test_from, FROM_TRAIN);
    ck_assert(!c.data.augment && !c.data.flip && !c.data.normalize);
    ck_assert_int_eq(c.data.eval_subset, 500);
    ck_assert_int_eq(c.data.synthetic.train, 64);
    ck_assert_int_eq(c.data.synthetic.test, 32);
    ck_assert_int_eq(c.data.synthetic.channels, 1);
    ck_assert_int_eq(c.data.synthetic.size, 8);
    ck_assert_int_eq(c.data.synthetic.classes, 4);
    ck_assert_double_eq(c.data.synthetic.noise, 0.25);
    ck_assert_int_eq(c.model.arch, ARCH_VGG);
    ck_assert_int_eq(c.model.depth, 32);
    ck_assert_int_eq(c.model.width, 8);
    ck_assert_int_eq(c.model.shortcut, SHORTCUT_IDENTITY);
    ck_assert_int_eq(c.model.norm, VARIANT_GNBN);
    ck_assert_int_eq(c.model.groups, 4);
    ck_assert_int_eq(c.model.stem_norm, STEM_GN);
    ck_assert_int_eq(c.model.n_hidden, 2);
    ck_assert_int_eq(c.model.hidden[0], 128);
    ck_assert_int_eq(c.model.hidden[1], 64);
    ck_assert_int_eq(c.model.hidden[2], 0); /* no stale default past the end */
    ck_assert_int_eq(c.model.n_channels, 4);
    ck_assert_int_eq(c.model.channels[0], 16);
    ck_assert_int_eq(c.model.channels[1], ARCH_MAXPOOL);
    ck_assert_int_eq(c.model.channels[2], 32);
    ck_assert_int_eq(c.model.channels[3], ARCH_MAXPOOL);
    ck_assert_int_eq(c.model.num_classes, 100);
    ck_assert_int_eq(c.train.epochs, 30);
    ck_assert_int_eq(c.train.batch_size, 16);
    ck_assert_double_eq(c.train.lr, 0.05);
    ck_assert_double_eq(c.train.momentum, 0.5);
    ck_assert(c.train.nesterov);
    ck_assert_double_eq(c.train.weight_decay, 5e-4);
    ck_assert(!c.train.wd_norm);
    ck_assert_int_eq(c.train.schedule.type, SCHED_COSINE);
    ck_assert_int_eq(c.train.schedule.n_milestones, 3);
    ck_assert_int_eq(c.train.schedule.milestones[2], 25);
    ck_assert_double_eq(c.train.schedule.gamma, 0.2);
    ck_assert_int_eq(c.train.schedule.warmup_epochs, 2);
    ck_assert_double_eq(c.train.bn_momentum, 0.01);
    ck_assert_double_eq(c.train.bn_eps, 1e-3);
    ck_assert_double_eq(c.train.grad_clip, 5);
    ck_assert_str_eq(c.log.out, "runs/x");
    ck_assert_int_eq(c.log.eval_every, 3);
    ck_assert(!c.log.eval_train && c.log.eval_test);
    ck_assert_int_eq(c.log.checkpoint_every, 5);
}
END_TEST

START_TEST(repo_example_config_loads)
{
    /* The shipped smoke config must stay valid (run from the repository root). */
    Config c;
    BsError err = {0};
    if (access("configs/synthetic-smoke.json", R_OK) != 0)
        return;
    ck_assert_msg(config_load(&c, "configs/synthetic-smoke.json", NULL, 0, &err) == BS_OK, "%s", err.msg);
    ck_assert_int_eq(c.data.dataset, DS_SYNTHETIC);
}
END_TEST

/* ---- file-level errors -------------------------------------------------- */

START_TEST(unreadable_and_malformed)
{
    Config c;
    BsError err = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/missing.json", tmpdir);
    ck_assert_int_eq(config_load(&c, path, NULL, 0, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing.json"));
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));

    memset(&err, 0, sizeof err); /* a directory opens but does not read */
    ck_assert_int_eq(config_load(&c, tmpdir, NULL, 0, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, tmpdir));

    EXPECT_ERROR("{\n  \"seed\": 1,\n  \"data\": {,}\n}\n", "malformed JSON", "line 3, column");
    EXPECT_ERROR("{\"seed\": 1", "malformed JSON", "line 1");
    EXPECT_ERROR("{\"seed\": 1} trailing", "malformed JSON", "near 'trailing'");
    EXPECT_ERROR("", "empty");
    EXPECT_ERROR("  \n", "empty");
    EXPECT_ERROR("[1, 2]", "JSON object");
    EXPECT_ERROR("{\"seed\": 1, \"seed\": 2}", "seed", "twice");
}
END_TEST

START_TEST(unknown_keys_suggest)
{
    EXPECT_ERROR("{\"model\": {\"detph\": 20}}", "unknown key 'model.detph'", "did you mean 'model.depth'");
    EXPECT_ERROR("{\"depth\": 20}", "unknown key 'depth'", "did you mean 'model.depth'");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"milestone\": [1]}}}", "'train.schedule.milestone'",
                 "did you mean 'train.schedule.milestones'");
    EXPECT_ERROR("{\"modle\": {\"depth\": 20}}", "unknown key 'modle'", "did you mean 'model'");
    EXPECT_ERROR("{\"train\": {\"batchsize\": 8}}", "did you mean 'train.batch_size'");
    EXPECT_ERROR("{\"data\": {\"synthetic\": {\"classses\": 3}}}", "did you mean 'data.synthetic.classes'");

    Config c;
    BsError err;
    ck_assert_int_eq(load_text(&c, "{\"model\": {\"xyzzyplugh\": 1}}", NULL, 0, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, "unknown key 'model.xyzzyplugh'"));
    ck_assert_ptr_null(strstr(err.msg, "did you mean")); /* nothing close */
}
END_TEST

START_TEST(wrong_types)
{
    EXPECT_ERROR("{\"model\": {\"depth\": \"20\"}}", "model.depth: expected an integer, got \"20\"");
    EXPECT_ERROR("{\"model\": {\"depth\": 20.5}}", "model.depth: expected an integer, got 20.5");
    EXPECT_ERROR("{\"seed\": true}", "seed: expected an integer, got true");
    EXPECT_ERROR("{\"train\": {\"lr\": \"0.1\"}}", "train.lr: expected a number");
    EXPECT_ERROR("{\"data\": {\"augment\": 1}}", "data.augment: expected true or false, got 1");
    EXPECT_ERROR("{\"name\": 5}", "name: expected a string, got 5");
    EXPECT_ERROR("{\"data\": {\"root\": null}}", "data.root: expected a string, got null");
    EXPECT_ERROR("{\"model\": {\"norm\": 1}}", "model.norm: expected a string");
    EXPECT_ERROR("{\"model\": {\"hidden\": 256}}", "model.hidden: expected an array");
    EXPECT_ERROR("{\"model\": {\"hidden\": [256, 1.5]}}", "model.hidden[1]: expected an integer, got 1.5");
    EXPECT_ERROR("{\"model\": {\"hidden\": [256, \"M\"]}}", "model.hidden[1]: expected an integer");
    EXPECT_ERROR("{\"model\": {\"channels\": [64, \"X\"]}}", "model.channels[1]: expected an integer or \"M\"");
    EXPECT_ERROR("{\"data\": 3}", "data: expected an object, got 3");
    EXPECT_ERROR("{\"train\": {\"schedule\": \"cosine\"}}", "train.schedule: expected an object");
    EXPECT_ERROR("{\"log\": {\"eval_sets\": \"train\"}}", "log.eval_sets: expected an array");
    EXPECT_ERROR("{\"train\": {\"lr\": 1e999}}", "train.lr", "finite");
}
END_TEST

START_TEST(out_of_range)
{
    EXPECT_ERROR("{\"model\": {\"depth\": 21}}", "model.depth", "6n+2");
    EXPECT_ERROR("{\"model\": {\"depth\": 2}}", "model.depth", "6n+2");
    EXPECT_ERROR("{\"model\": {\"width\": 0}}", "model.width: must be in [1, 4096], got 0");
    EXPECT_ERROR("{\"model\": {\"groups\": 0}}", "model.groups", "got 0");
    EXPECT_ERROR("{\"model\": {\"hidden\": [0]}}", "model.hidden[0]", "got 0");
    EXPECT_ERROR("{\"model\": {\"channels\": [8, -1]}}", "model.channels[1]", "got -1");
    EXPECT_ERROR("{\"train\": {\"batch_size\": 1}}", "train.batch_size", "got 1");
    EXPECT_ERROR("{\"train\": {\"epochs\": 0}}", "train.epochs", "got 0");
    EXPECT_ERROR("{\"train\": {\"epochs\": 100001}}", "train.epochs", "100000");
    EXPECT_ERROR("{\"train\": {\"lr\": 0}}", "train.lr: must be > 0, got 0");
    EXPECT_ERROR("{\"train\": {\"lr\": -0.1}}", "train.lr: must be > 0");
    EXPECT_ERROR("{\"train\": {\"momentum\": 1}}", "train.momentum: must be in [0, 1), got 1");
    EXPECT_ERROR("{\"train\": {\"momentum\": -0.1}}", "train.momentum");
    EXPECT_ERROR("{\"train\": {\"weight_decay\": -1e-4}}", "train.weight_decay: must be >= 0");
    EXPECT_ERROR("{\"train\": {\"bn_momentum\": 1.5}}", "train.bn_momentum: must be in [0, 1]");
    EXPECT_ERROR("{\"train\": {\"bn_eps\": 0}}", "train.bn_eps: must be > 0");
    EXPECT_ERROR("{\"train\": {\"grad_clip\": -1}}", "train.grad_clip");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"gamma\": 0}}}", "train.schedule.gamma: must be > 0");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"warmup_epochs\": -1}}}", "train.schedule.warmup_epochs");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"milestones\": [120, 80]}}}", "train.schedule.milestones",
                 "increasing");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"milestones\": [80, 80]}}}", "train.schedule.milestones",
                 "increasing");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"milestones\": [-1, 80]}}}", "train.schedule.milestones[0]");
    EXPECT_ERROR("{\"log\": {\"eval_every\": 0}}", "log.eval_every");
    EXPECT_ERROR("{\"log\": {\"checkpoint_every\": 0}}", "log.checkpoint_every");
    EXPECT_ERROR("{\"data\": {\"train_subset\": -1}}", "data.train_subset: must be >= 0, got -1");
    EXPECT_ERROR("{\"data\": {\"eval_subset\": -5}}", "data.eval_subset");
    EXPECT_ERROR("{\"seed\": 4294967296}", "seed", "4294967296");
    EXPECT_ERROR("{\"log\": {\"eval_sets\": []}}", "log.eval_sets", "at least one");
    EXPECT_ERROR("{\"log\": {\"eval_sets\": [\"val\"]}}", "log.eval_sets[0]", "\"train\", \"test\"");
    EXPECT_ERROR("{\"log\": {\"eval_sets\": [\"test\", \"test\"]}}", "log.eval_sets", "twice");
    EXPECT_ERROR("{\"name\": \"\"}", "name: must not be empty");
    EXPECT_ERROR("{\"log\": {\"out\": \"\"}}", "log.out: must not be empty");
}
END_TEST

START_TEST(bad_enums_and_combinations)
{
    EXPECT_ERROR("{\"model\": {\"norm\": \"gnbm\"}}", "model.norm: \"gnbm\" is not one of",
                 "\"bn\", \"gnbn\", \"xbnblock\", \"gn\", \"ln\", \"in\", \"none\"", "did you mean \"gnbn\"");
    EXPECT_ERROR("{\"data\": {\"dataset\": \"cifar-10\"}}", "data.dataset", "\"cifar10\"", "\"synthetic\"");
    EXPECT_ERROR("{\"model\": {\"arch\": \"densenet\"}}", "model.arch", "\"resnet\", \"vgg\", \"mlp\"");
    EXPECT_ERROR("{\"model\": {\"shortcut\": \"B\"}}", "model.shortcut", "\"projection\", \"identity\"");
    EXPECT_ERROR("{\"model\": {\"stem_norm\": \"ln\"}}", "model.stem_norm", "\"auto\", \"bn\", \"gn\", \"none\"");
    EXPECT_ERROR("{\"model\": {\"bfn\": \"bn\"}}", "model.bfn", "\"gn\", \"ln\", \"in\", \"lrn\"");
    EXPECT_ERROR("{\"model\": {\"lrn\": {\"mode\": \"spatial\"}}}", "model.lrn.mode", "\"across\", \"within\"");
    EXPECT_ERROR("{\"model\": {\"lrn\": {\"size\": 0}}}", "model.lrn.size");
    EXPECT_ERROR("{\"train\": {\"label_smoothing\": 1}}", "train.label_smoothing");
    EXPECT_ERROR("{\"train\": {\"label_smoothing\": -0.1}}", "train.label_smoothing");
    EXPECT_ERROR("{\"train\": {\"optimizer\": \"adam\"}}", "train.optimizer", "\"sgd\"");
    EXPECT_ERROR("{\"train\": {\"schedule\": {\"type\": \"step\"}}}", "train.schedule.type", "\"multistep\"");
    EXPECT_ERROR("{\"data\": {\"train_from\": \"val\"}}", "data.train_from");
    EXPECT_ERROR("{\"model\": {\"arch\": \"mlp\", \"norm\": \"in\"}}", "model.norm", "mlp");
    EXPECT_ERROR("{\"model\": {\"arch\": \"vgg\", \"norm\": \"xbnblock\"}}", "model.norm", "resnet");

    /* depth 6n+2 is a resnet rule: other archs ignore depth. */
    Config c;
    BsError err;
    ck_assert_int_eq(load_text(&c, "{\"model\": {\"arch\": \"vgg\", \"depth\": 21}}", NULL, 0, &err), BS_OK);
    ck_assert_int_eq(load_text(&c, "{\"model\": {\"arch\": \"mlp\", \"norm\": \"ln\"}}", NULL, 0, &err), BS_OK);
}
END_TEST

/* ---- --set -------------------------------------------------------------- */

START_TEST(set_overrides)
{
    char *const sets[] = {
        "train.epochs=5",          "train.lr=0.05",       "train.nesterov=true",  "model.norm=gnbn",
        "model.hidden=[32,16]",    "name=123",            "data.root=/x/y=z",     "log.eval_sets=[\"test\"]",
        "model.channels=[8,\"M\"]", "model.depth=32",      "model.stem_norm=\"gn\"", "train.epochs=7",
    };
    Config c;
    BsError err;
    int rc = load_text(&c, "{\"train\": {\"epochs\": 100}, \"model\": {\"depth\": 20}}", sets,
                       (int)(sizeof sets / sizeof sets[0]), &err);
    ck_assert_msg(rc == BS_OK, "%s", err.msg);
    ck_assert_int_eq(c.train.epochs, 7); /* the last assignment wins */
    ck_assert_double_eq(c.train.lr, 0.05);
    ck_assert(c.train.nesterov);
    ck_assert_int_eq(c.model.norm, VARIANT_GNBN);
    ck_assert_int_eq(c.model.n_hidden, 2);
    ck_assert_int_eq(c.model.hidden[1], 16);
    ck_assert_str_eq(c.name, "123"); /* a string key keeps the text */
    ck_assert_str_eq(c.data.root, "/x/y=z");
    ck_assert(!c.log.eval_train && c.log.eval_test);
    ck_assert_int_eq(c.model.n_channels, 2);
    ck_assert_int_eq(c.model.channels[1], ARCH_MAXPOOL);
    ck_assert_int_eq(c.model.depth, 32);
    ck_assert_int_eq(c.model.stem_norm, STEM_GN);
}
END_TEST

START_TEST(set_without_file_and_sections)
{
    Config c;
    BsError err = {0};
    char *const sets[] = {"train.schedule={\"gamma\": 0.5}", "data.synthetic.size=8"};
    ck_assert_int_eq(config_load(&c, NULL, sets, 2, &err), BS_OK);
    ck_assert_double_eq(c.train.schedule.gamma, 0.5);
    ck_assert_int_eq(c.data.synthetic.size, 8);

    /* An object --set edits the section's keys, keeping the file's others. */
    ck_assert_int_eq(load_text(&c, "{\"train\": {\"schedule\": {\"milestones\": [3, 6]}}}", sets, 1, &err), BS_OK);
    ck_assert_int_eq(c.train.schedule.n_milestones, 2);
    ck_assert_int_eq(c.train.schedule.milestones[1], 6);
    ck_assert_double_eq(c.train.schedule.gamma, 0.5);

    /* Checks that span keys see the final values: a file depth that is not
     * 6n+2 is fine once --set makes the model a vgg. */
    char *const vgg[] = {"model.arch=vgg"};
    ck_assert_int_eq(load_text(&c, "{\"model\": {\"depth\": 21}}", vgg, 1, &err), BS_OK);
    char *const mlp_in[] = {"model.norm=in"};
    ck_assert_int_eq(load_text(&c, "{\"model\": {\"arch\": \"mlp\"}}", mlp_in, 1, &err), BS_ERR_USER);
    ck_assert_ptr_nonnull(strstr(err.msg, "--set: model.norm"));
}
END_TEST

/* One assignment that must fail with a message containing each of want. */
static void expect_set_error(const char *assignment, const char *const *want)
{
    char *const sets[] = {(char *)assignment};
    Config c;
    BsError err;
    int rc = load_text(&c, "{\"model\": {\"depth\": 20}}", sets, 1, &err);
    ck_assert_msg(rc == BS_ERR_USER, "--set %s: rc %d (msg '%s')", assignment, rc, err.msg);
    for (int i = 0; want[i]; i++)
        ck_assert_msg(strstr(err.msg, want[i]) != NULL, "--set %s: message '%s' lacks '%s'", assignment, err.msg,
                      want[i]);
}

#define EXPECT_SET_ERROR(a, ...) expect_set_error(a, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(set_errors)
{
    EXPECT_SET_ERROR("train.epochs", "--set 'train.epochs'", "key.path=value");
    EXPECT_SET_ERROR("=5", "--set '=5'", "empty key");
    EXPECT_SET_ERROR("model.detph=20", "--set: unknown key 'model.detph'", "did you mean 'model.depth'");
    EXPECT_SET_ERROR("model..depth=20", "unknown key 'model..depth'");
    EXPECT_SET_ERROR("model.depth=21", "--set: model.depth", "6n+2");
    EXPECT_SET_ERROR("model.depth=20.5", "--set: model.depth: expected an integer, got 20.5");
    EXPECT_SET_ERROR("model.depth=20abc", "model.depth: expected an integer, got \"20abc\"");
    EXPECT_SET_ERROR("model.depth=", "model.depth: expected an integer, got \"\"");
    EXPECT_SET_ERROR("train.nesterov=yes", "train.nesterov: expected true or false");
    EXPECT_SET_ERROR("model.norm=gnbn2", "--set: model.norm", "is not one of");
    EXPECT_SET_ERROR("model.hidden=[1,", "model.hidden: expected an array");
    EXPECT_SET_ERROR("model.hidden=[1,0]", "model.hidden[1]");
    EXPECT_SET_ERROR("model=3", "model: expected an object");
    EXPECT_SET_ERROR("name=", "name: must not be empty");
    EXPECT_SET_ERROR("meta=1", "unknown key 'meta'");
}
END_TEST

/* ---- hash and round trip ------------------------------------------------ */

START_TEST(hash_ignores_epochs_and_log)
{
    Config a, b;
    BsError err;
    ck_assert_int_eq(load_text(&a, FULL, NULL, 0, &err), BS_OK);
    uint64_t h = config_hash(&a);
    ck_assert_uint_eq(h, config_hash(&a));

    char *const free_keys[] = {"train.epochs=999", "log.out=elsewhere", "log.eval_every=7",
                               "log.eval_sets=[\"train\",\"test\"]", "log.checkpoint_every=2"};
    ck_assert_int_eq(load_text(&b, FULL, free_keys, 5, &err), BS_OK);
    ck_assert(!configs_equal(&a, &b));
    ck_assert_uint_eq(config_hash(&b), h);

    static const char *const bound[] = {"model.depth=20", "train.lr=0.051", "name=other", "seed=8",
                                        "data.synthetic.noise=0.3", "train.schedule.milestones=[10,20]"};
    for (size_t i = 0; i < sizeof bound / sizeof bound[0]; i++) {
        char *const one[] = {(char *)bound[i]};
        ck_assert_int_eq(load_text(&b, FULL, one, 1, &err), BS_OK);
        ck_assert_msg(config_hash(&b) != h, "hash ignores %s", bound[i]);
    }
}
END_TEST

#define HASH_FULL_BEFORE_ISSUE_13 0xd6b63d3181641905ULL
#define HASH_DEFAULTS_BEFORE_ISSUE_13 0x185b3dabf153fe99ULL

/* The keys issue 13 added stay out of the hash at their defaults, so runs
 * made before them still resume: these are the hashes the binary of commit
 * 01f7308 (before issue 13) gives the same configs. */
START_TEST(hash_of_older_configs_unchanged)
{
    Config a;
    BsError err;
    ck_assert_int_eq(load_text(&a, FULL, NULL, 0, &err), BS_OK);
    ck_assert_uint_eq(config_hash(&a), HASH_FULL_BEFORE_ISSUE_13);
    ck_assert_int_eq(load_text(&a, "{}", NULL, 0, &err), BS_OK);
    ck_assert_uint_eq(config_hash(&a), HASH_DEFAULTS_BEFORE_ISSUE_13);
    uint64_t h = config_hash(&a);
    /* Issue 13's and issue 14's keys at their defaults. */
    char *const same[] = {"model.block=basic",  "model.width_mult=1.0", "model.xbn_position=0",
                          "model.bfn=gn",       "model.lrn.mode=across", "model.lrn.size=5",
                          "model.lrn.alpha=1e-4", "model.lrn.beta=0.75", "model.lrn.k=2",
                          "train.label_smoothing=0"};
    ck_assert_int_eq(load_text(&a, "{}", same, 10, &err), BS_OK);
    ck_assert_uint_eq(config_hash(&a), h);
    static const char *const bound[] = {"model.block=bottleneck", "model.cardinality=4", "model.group_width=8",
                                        "model.xbn_position=2",   "model.width_mult=0.5",  "model.bfn=lrn",
                                        "model.lrn.mode=within",  "model.lrn.size=3",      "model.lrn.alpha=0.001",
                                        "model.lrn.beta=0.5",     "model.lrn.k=1",         "train.label_smoothing=0.1"};
    for (size_t i = 0; i < sizeof bound / sizeof bound[0]; i++) {
        char *const one[] = {(char *)bound[i]};
        ck_assert_int_eq(load_text(&a, "{}", one, 1, &err), BS_OK);
        ck_assert_msg(config_hash(&a) != h, "hash ignores %s", bound[i]);
    }
}
END_TEST

/* model.groups follows the family unless given. */
START_TEST(groups_default_per_family)
{
    Config c;
    BsError err;
    static const struct {
        const char *set;
        int groups;
    } cases[] = {{"model.arch=resnet", 32}, {"model.arch=mobilenetv2", 16}, {"model.arch=shufflenetv2", 29}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *const one[] = {(char *)cases[i].set};
        ck_assert_int_eq(load_text(&c, "{}", one, 1, &err), BS_OK);
        ck_assert_int_eq(c.model.groups, cases[i].groups);
    }
    char *const half[] = {"model.arch=shufflenetv2", "model.width_mult=0.5"};
    ck_assert_int_eq(load_text(&c, "{}", half, 2, &err), BS_OK);
    ck_assert_int_eq(c.model.groups, 8);
    char *const given[] = {"model.arch=mobilenetv2", "model.groups=4"};
    ck_assert_int_eq(load_text(&c, "{}", given, 2, &err), BS_OK);
    ck_assert_int_eq(c.model.groups, 4);
}
END_TEST

START_TEST(round_trip)
{
    Config a, b;
    BsError err;
    ck_assert_int_eq(load_text(&a, FULL, NULL, 0, &err), BS_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/config.resolved.json", tmpdir);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "version", "test");
    cJSON_AddNumberToObject(meta, "threads", 2);
    ck_assert_int_eq(config_write_resolved(&a, meta, path, &err), BS_OK);
    cJSON_Delete(meta);

    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place */

    memset(&err, 0, sizeof err);
    ck_assert_msg(config_load(&b, path, NULL, 0, &err) == BS_OK, "%s", err.msg); /* "meta" is accepted */
    ck_assert(configs_equal(&a, &b));
    ck_assert_uint_eq(config_hash(&a), config_hash(&b));

    /* The defaults, resolved per dataset, survive too (mnist: flip false). */
    char *const mnist[] = {"data.dataset=mnist"};
    ck_assert_int_eq(load_text(&a, "{}", mnist, 1, &err), BS_OK);
    ck_assert_int_eq(config_write_resolved(&a, NULL, path, &err), BS_OK);
    ck_assert_int_eq(config_load(&b, path, NULL, 0, &err), BS_OK);
    ck_assert(configs_equal(&a, &b));
    ck_assert_int_eq(b.data.flip, 0);
}
END_TEST

START_TEST(resolved_json_has_every_key)
{
    Config c;
    config_defaults(&c);
    cJSON *j = config_to_json(&c);
    ck_assert_ptr_nonnull(j);
    static const char *const sections[] = {"data", "model", "train", "log"};
    for (int i = 0; i < 4; i++)
        ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, sections[i])));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(model, "channels");
    ck_assert_int_eq(cJSON_GetArraySize(ch), 9);
    ck_assert_str_eq(cJSON_GetArrayItem(ch, 2)->valuestring, "M");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(model, "norm")->valuestring, "bn");
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(j, "train");
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(train, "schedule");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(sched, "type")->valuestring, "multistep");
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(train, "bn_eps")->valuedouble, 1e-5);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(train, "optimizer")->valuestring, "sgd");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    ck_assert(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(data, "synthetic")));
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(data, "flip")));
    const cJSON *sets = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "log"), "eval_sets");
    ck_assert_int_eq(cJSON_GetArraySize(sets), 2);
    /* Keys in a fixed order: name first, log last. */
    ck_assert_str_eq(j->child->string, "name");
    ck_assert_str_eq(cJSON_GetArrayItem(j, cJSON_GetArraySize(j) - 1)->string, "log");
    cJSON_Delete(j);
}
END_TEST

START_TEST(write_failure_is_runtime)
{
    Config c;
    config_defaults(&c);
    BsError err = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/no/such/dir/config.resolved.json", tmpdir);
    ck_assert_int_eq(config_write_resolved(&c, NULL, path, &err), BS_ERR_RUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, "config.resolved.json"));
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, make_tmpdir, remove_tmpdir);
    tcase_add_test(tc, defaults_match_spec);
    tcase_add_test(tc, flip_default_follows_dataset);
    tcase_add_test(tc, full_file);
    tcase_add_test(tc, repo_example_config_loads);
    tcase_add_test(tc, unreadable_and_malformed);
    tcase_add_test(tc, unknown_keys_suggest);
    tcase_add_test(tc, wrong_types);
    tcase_add_test(tc, out_of_range);
    tcase_add_test(tc, bad_enums_and_combinations);
    tcase_add_test(tc, set_overrides);
    tcase_add_test(tc, set_without_file_and_sections);
    tcase_add_test(tc, set_errors);
    tcase_add_test(tc, hash_ignores_epochs_and_log);
    tcase_add_test(tc, hash_of_older_configs_unchanged);
    tcase_add_test(tc, groups_default_per_family);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, resolved_json_has_every_key);
    tcase_add_test(tc, write_failure_is_runtime);
    suite_add_tcase(s, tc);
    return s;
}
