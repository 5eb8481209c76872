#include "config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

/* ---- the schema: one row per key ------------------------------------- */

typedef enum { K_INT, K_FLOAT, K_BOOL, K_STRING, K_ENUM, K_INT_LIST, K_SETS } KeyType;

static const char *const DATASETS[] = {"cifar10", "cifar100", "fashion-mnist", "mnist", "imagefolder", "synthetic", NULL};
static const char *const SOURCES[] = {"train", "test", NULL};
static const char *const ARCHS[] = {"resnet", "vgg", "mlp", NULL};
static const char *const SHORTCUTS[] = {"projection", "identity", NULL};
static const char *const NORMS[] = {"bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", NULL};
static const char *const STEMS[] = {"auto", "bn", "gn", "none", NULL};
static const char *const SCHEDULES[] = {"constant", "multistep", "cosine", NULL};
static const char *const OPTIMIZERS[] = {"sgd", NULL};

typedef struct {
    const char *path;
    KeyType type;
    size_t off, count_off; /* count_off: list length (K_INT_LIST) */
    double lo, hi;         /* numeric range, inclusive */
    const char *const *names; /* K_ENUM values; K_INT_LIST: non-NULL allows "M" */
    size_t cap;               /* K_STRING buffer size, K_INT_LIST capacity */
} Key;

#define F(field) offsetof(Config, field)
#define BIG 1e9
static const char *const ALLOW_M[] = {"M", NULL};

static const Key KEYS[] = {
    {"name", K_STRING, F(name), 0, 0, 0, NULL, sizeof(((Config *)0)->name)},
    {"seed", K_INT, F(seed), 0, 0, 2147483647.0, NULL, 0},
    {"data.dataset", K_ENUM, F(data.dataset), 0, 0, 0, DATASETS, 0},
    {"data.root", K_STRING, F(data.root), 0, 0, 0, NULL, CONFIG_PATH_MAX},
    {"data.train_from", K_ENUM, F(data.train_from), 0, 0, 0, SOURCES, 0},
    {"data.train_subset", K_INT, F(data.train_subset), 0, 0, BIG, NULL, 0},
    {"data.test_from", K_ENUM, F(data.test_from), 0, 0, 0, SOURCES, 0},
    {"data.augment", K_BOOL, F(data.augment), 0, 0, 0, NULL, 0},
    {"data.flip", K_BOOL, F(data.flip), 0, 0, 0, NULL, 0},
    {"data.normalize", K_BOOL, F(data.normalize), 0, 0, 0, NULL, 0},
    {"data.eval_subset", K_INT, F(data.eval_subset), 0, 0, BIG, NULL, 0},
    {"data.synthetic.train", K_INT, F(data.synthetic.train), 0, 2, 10000000, NULL, 0},
    {"data.synthetic.test", K_INT, F(data.synthetic.test), 0, 1, 10000000, NULL, 0},
    {"data.synthetic.channels", K_INT, F(data.synthetic.channels), 0, 1, 64, NULL, 0},
    {"data.synthetic.size", K_INT, F(data.synthetic.size), 0, 1, 1024, NULL, 0},
    {"data.synthetic.classes", K_INT, F(data.synthetic.classes), 0, 2, 1000, NULL, 0},
    {"data.synthetic.noise", K_FLOAT, F(data.synthetic.noise), 0, 0, 100, NULL, 0},
    {"model.arch", K_ENUM, F(model.arch), 0, 0, 0, ARCHS, 0},
    {"model.depth", K_INT, F(model.depth), 0, 1, 10000, NULL, 0},
    {"model.width", K_INT, F(model.width), 0, 1, 4096, NULL, 0},
    {"model.shortcut", K_ENUM, F(model.shortcut), 0, 0, 0, SHORTCUTS, 0},
    {"model.norm", K_ENUM, F(model.norm), 0, 0, 0, NORMS, 0},
    {"model.groups", K_INT, F(model.groups), 0, 1, 4096, NULL, 0},
    {"model.stem_norm", K_ENUM, F(model.stem_norm), 0, 0, 0, STEMS, 0},
    {"model.hidden", K_INT_LIST, F(model.hidden), F(model.n_hidden), 1, 1 << 20, NULL, CONFIG_MAX_LIST},
    {"model.channels", K_INT_LIST, F(model.channels), F(model.n_channels), 1, 4096, ALLOW_M, CONFIG_MAX_LIST},
    {"model.num_classes", K_INT, F(model.num_classes), 0, 0, 100000, NULL, 0},
    {"train.epochs", K_INT, F(train.epochs), 0, 1, 100000, NULL, 0},
    {"train.batch_size", K_INT, F(train.batch_size), 0, 2, 65536, NULL, 0},
    {"train.optimizer", K_ENUM, F(train.optimizer), 0, 0, 0, OPTIMIZERS, 0},
    {"train.lr", K_FLOAT, F(train.lr), 0, 1e-12, 1e6, NULL, 0},
    {"train.momentum", K_FLOAT, F(train.momentum), 0, 0, 0.999999, NULL, 0},
    {"train.nesterov", K_BOOL, F(train.nesterov), 0, 0, 0, NULL, 0},
    {"train.weight_decay", K_FLOAT, F(train.weight_decay), 0, 0, 1, NULL, 0},
    {"train.wd_norm", K_BOOL, F(train.wd_norm), 0, 0, 0, NULL, 0},
    {"train.schedule.type", K_ENUM, F(train.schedule.type), 0, 0, 0, SCHEDULES, 0},
    {"train.schedule.milestones", K_INT_LIST, F(train.schedule.milestones), F(train.schedule.n_milestones), 0, 100000, NULL, SCHED_MAX_MILESTONES},
    {"train.schedule.gamma", K_FLOAT, F(train.schedule.gamma), 0, 1e-12, 1e6, NULL, 0},
    {"train.schedule.warmup_epochs", K_INT, F(train.schedule.warmup_epochs), 0, 0, 100000, NULL, 0},
    {"train.bn_momentum", K_FLOAT, F(train.bn_momentum), 0, 0, 1, NULL, 0},
    {"train.bn_eps", K_FLOAT, F(train.bn_eps), 0, 1e-30, 1, NULL, 0},
    {"train.grad_clip", K_FLOAT, F(train.grad_clip), 0, 0, 1e12, NULL, 0},
    {"log.out", K_STRING, F(log.out), 0, 0, 0, NULL, CONFIG_PATH_MAX},
    {"log.eval_every", K_INT, F(log.eval_every), 0, 1, 100000, NULL, 0},
    {"log.eval_sets", K_SETS, F(log.eval_train), F(log.eval_test), 0, 0, SOURCES, 0},
    {"log.checkpoint_every", K_INT, F(log.checkpoint_every), 0, 1, 100000, NULL, 0},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* The enum fields are ints except train.optimizer, a string of one choice. */
static int is_string_enum(const Key *k) { return k->off == F(train.optimizer); }

void config_defaults(Config *c)
{
    static const int hidden[] = {256, 256, 256, 256};
    static const int channels[] = {64, 64, ARCH_MAXPOOL, 128, 128, ARCH_MAXPOOL, 256, 256, ARCH_MAXPOOL};
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "resnet20-bn-cifar10");
    c->seed = 1;
    c->data.dataset = DS_CIFAR10;
    c->data.train_from = FROM_TRAIN;
    c->data.test_from = FROM_TEST;
    c->data.augment = c->data.flip = c->data.normalize = 1;
    c->data.synthetic.train = 512;
    c->data.synthetic.test = 256;
    c->data.synthetic.channels = 3;
    c->data.synthetic.size = 32;
    c->data.synthetic.classes = 10;
    c->data.synthetic.noise = 0.6;
    c->model.arch = ARCH_RESNET;
    c->model.depth = 20;
    c->model.width = 16;
    c->model.norm = VARIANT_BN;
    c->model.groups = 32;
    c->model.stem_norm = STEM_AUTO;
    memcpy(c->model.hidden, hidden, sizeof hidden);
    c->model.n_hidden = 4;
    memcpy(c->model.channels, channels, sizeof channels);
    c->model.n_channels = 9;
    c->train.epochs = 160;
    c->train.batch_size = 128;
    snprintf(c->train.optimizer, sizeof c->train.optimizer, "sgd");
    c->train.lr = 0.1;
    c->train.momentum = 0.9;
    c->train.weight_decay = 1e-4;
    c->train.wd_norm = 1;
    c->train.schedule.type = SCHED_MULTISTEP;
    c->train.schedule.milestones[0] = 80;
    c->train.schedule.milestones[1] = 120;
    c->train.schedule.n_milestones = 2;
    c->train.schedule.gamma = 0.1;
    c->train.bn_momentum = 0.1;
    c->train.bn_eps = 1e-5;
    snprintf(c->log.out, sizeof c->log.out, "runs/NAME");
    c->log.eval_every = 1;
    c->log.checkpoint_every = 1;
    c->log.eval_train = c->log.eval_test = 1;
}

/* ---- reading ------------------------------------------------------------ */

static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            int del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

static const Key *find_key(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].path, path))
            return &KEYS[i];
    return NULL;
}

/* Whether path names an object that holds keys (e.g. "data", "train.schedule"). */
static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strncmp(KEYS[i].path, path, n) && KEYS[i].path[n] == '.')
            return 1;
    return 0;
}

static int unknown_key(const char *src, const char *path, BnError *err)
{
    const char *best = NULL;
    int best_d = 1 << 30;
    for (size_t i = 0; i < N_KEYS; i++) {
        int d = edit_distance(path, KEYS[i].path);
        if (d < best_d) {
            best_d = d;
            best = KEYS[i].path;
        }
    }
    if (best && best_d <= 3 + (int)strlen(path) / 4)
        return bn_fail(err, BN_ERR_USER, "%s: unknown key '%s' (did you mean '%s'?)", src, path, best);
    return bn_fail(err, BN_ERR_USER, "%s: unknown key '%s'", src, path);
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "null";
}

static int type_error(const char *src, const Key *k, const char *want, const cJSON *v, BnError *err)
{
    return bn_fail(err, BN_ERR_USER, "%s: %s: expected %s, got %s", src, k->path, want, json_type_name(v));
}

static int read_int(const char *src, const Key *k, const cJSON *v, double lo, double hi, int *out, BnError *err)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return cJSON_IsNumber(v)
                   ? bn_fail(err, BN_ERR_USER, "%s: %s: expected an integer, got %g", src, k->path, v->valuedouble)
                   : type_error(src, k, "an integer", v, err);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return bn_fail(err, BN_ERR_USER, "%s: %s: %g is out of range [%g, %g]", src, k->path,
                       v->valuedouble, lo, hi);
    *out = (int)v->valuedouble;
    return BN_OK;
}

static int read_enum(const char *src, const Key *k, const cJSON *v, int *out, BnError *err)
{
    if (!cJSON_IsString(v))
        return type_error(src, k, "a string", v, err);
    for (int i = 0; k->names[i]; i++)
        if (!strcmp(v->valuestring, k->names[i])) {
            *out = i;
            return BN_OK;
        }
    char allowed[256] = "";
    for (int i = 0; k->names[i]; i++)
        snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", i ? ", " : "", k->names[i]);
    return bn_fail(err, BN_ERR_USER, "%s: %s: \"%s\" is not one of %s", src, k->path, v->valuestring, allowed);
}

static int read_list(const char *src, const Key *k, const cJSON *v, char *base, BnError *err)
{
    if (!cJSON_IsArray(v))
        return type_error(src, k, "an array", v, err);
    int n = cJSON_GetArraySize(v);
    if (n > (int)k->cap)
        return bn_fail(err, BN_ERR_USER, "%s: %s: %d entries, at most %zu", src, k->path, n, k->cap);
    int *dst = (int *)(base + k->off);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (k->names && cJSON_IsString(e) && !strcmp(e->valuestring, "M")) {
            dst[i] = ARCH_MAXPOOL;
            continue;
        }
        if (read_int(src, k, e, k->lo, k->hi, &dst[i], err))
            return err->code;
    }
    *(int *)(base + k->count_off) = n;
    return BN_OK;
}

static int read_sets(const char *src, const Key *k, const cJSON *v, char *base, BnError *err)
{
    if (!cJSON_IsArray(v))
        return type_error(src, k, "an array of \"train\"/\"test\"", v, err);
    int flags[2] = {0, 0};
    for (const cJSON *e = v->child; e; e = e->next) {
        int which;
        if (read_enum(src, k, e, &which, err))
            return err->code;
        flags[which] = 1;
    }
    if (!flags[0] && !flags[1])
        return bn_fail(err, BN_ERR_USER, "%s: %s: must name at least one of \"train\", \"test\"", src, k->path);
    *(int *)(base + k->off) = flags[0];
    *(int *)(base + k->count_off) = flags[1];
    return BN_OK;
}

static int apply_value(const char *src, const Key *k, const cJSON *v, Config *c, BnError *err)
{
    char *base = (char *)c;
    switch (k->type) {
    case K_INT:
        return read_int(src, k, v, k->lo, k->hi, (int *)(base + k->off), err);
    case K_FLOAT:
        if (!cJSON_IsNumber(v))
            return type_error(src, k, "a number", v, err);
        if (!isfinite(v->valuedouble) || v->valuedouble < k->lo || v->valuedouble > k->hi)
            return bn_fail(err, BN_ERR_USER, "%s: %s: %g is out of range [%g, %g]", src, k->path,
                           v->valuedouble, k->lo, k->hi);
        *(double *)(base + k->off) = v->valuedouble;
        return BN_OK;
    case K_BOOL:
        if (!cJSON_IsBool(v))
            return type_error(src, k, "true or false", v, err);
        *(int *)(base + k->off) = cJSON_IsTrue(v);
        if (k->off == F(data.flip))
            c->data.flip_given = 1;
        return BN_OK;
    case K_STRING:
        if (!cJSON_IsString(v))
            return type_error(src, k, "a string", v, err);
        if (strlen(v->valuestring) >= k->cap)
            return bn_fail(err, BN_ERR_USER, "%s: %s: longer than %zu characters", src, k->path, k->cap - 1);
        snprintf(base + k->off, k->cap, "%s", v->valuestring);
        return BN_OK;
    case K_ENUM: {
        int idx;
        if (read_enum(src, k, v, &idx, err))
            return err->code;
        if (is_string_enum(k))
            snprintf(base + k->off, sizeof c->train.optimizer, "%s", k->names[idx]);
        else
            *(int *)(base + k->off) = idx;
        return BN_OK;
    }
    case K_INT_LIST:
        return read_list(src, k, v, base, err);
    case K_SETS:
        return read_sets(src, k, v, base, err);
    }
    return BN_OK;
}

/* Walks an object, applying each member at prefix.name. */
static int apply_object(const char *src, const cJSON *obj, const char *prefix, Config *c, BnError *err)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", m->string);
        const Key *k = find_key(path);
        if (k) {
            if (apply_value(src, k, m, c, err))
                return err->code;
        } else if (is_section(path)) {
            if (!cJSON_IsObject(m))
                return bn_fail(err, BN_ERR_USER, "%s: %s: expected an object, got %s", src, path, json_type_name(m));
            if (apply_object(src, m, path, c, err))
                return err->code;
        } else {
            return unknown_key(src, path, err);
        }
    }
    return BN_OK;
}

static char *read_file(const char *path, BnError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        bn_fail(err, BN_ERR_USER, "%s: cannot read config: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                bn_fail(err, BN_ERR_RUNTIME, "out of memory reading %s", path);
                return NULL;
            }
            buf = p;
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!buf)
        buf = calloc(1, 1);
    else
        buf[len] = 0;
    return buf;
}

/* Line and column of position `at` in text, for parse errors. */
static void line_col(const char *text, const char *at, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static cJSON *parse_file(const char *path, BnError *err)
{
    char *text = read_file(path, err);
    if (!text)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        int line, col;
        const char *at = end ? end : cJSON_GetErrorPtr();
        line_col(text, at ? at : text, &line, &col);
        bn_fail(err, BN_ERR_USER, "%s: malformed JSON at line %d, column %d", path, line, col);
    } else if (!cJSON_IsObject(root)) {
        bn_fail(err, BN_ERR_USER, "%s: expected a JSON object at the top level", path);
        cJSON_Delete(root);
        root = NULL;
    }
    free(text);
    return root;
}

/* Puts value at dotted path inside root, creating objects on the way. */
static int set_path(cJSON *root, const char *path, cJSON *value, BnError *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *obj = root;
    char *save = NULL;
    char *part = strtok_r(buf, ".", &save);
    while (part) {
        char *next = strtok_r(NULL, ".", &save);
        if (!next) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
            cJSON_AddItemToObject(obj, part, value);
            return BN_OK;
        }
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        if (!child || !cJSON_IsObject(child)) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, part);
            child = cJSON_AddObjectToObject(obj, part);
        }
        obj = child;
        part = next;
    }
    cJSON_Delete(value);
    return bn_fail(err, BN_ERR_USER, "--set %s: empty key", path);
}

static int apply_set(cJSON *root, const char *assignment, BnError *err)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= 256 || eq[-1] == '.' || assignment[0] == '.')
        return bn_fail(err, BN_ERR_USER, "--set '%s': expected key.path=value", assignment);
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    if (strstr(key, ".."))
        return bn_fail(err, BN_ERR_USER, "--set '%s': expected key.path=value", assignment);
    cJSON *value = cJSON_Parse(eq + 1);
    if (!value)
        value = cJSON_CreateString(eq + 1); /* a bare word: --set model.norm=gnbn */
    return set_path(root, key, value, err);
}

static int validate(const char *src, Config *c, BnError *err)
{
    if (c->model.arch == ARCH_RESNET && (c->model.depth < 8 || (c->model.depth - 2) % 6 != 0))
        return bn_fail(err, BN_ERR_USER, "%s: model.depth: %d is not 6n+2 with n >= 1 (20, 32, 44, 56, 110)",
                       src, c->model.depth);
    if (c->model.arch == ARCH_MLP && c->model.norm == VARIANT_IN)
        return bn_fail(err, BN_ERR_USER, "%s: model.norm: \"in\" on an mlp normalizes one value per group; use ln or gn", src);
    if (c->model.arch != ARCH_RESNET && c->model.norm == VARIANT_XBNBLOCK)
        return bn_fail(err, BN_ERR_USER, "%s: model.norm: xbnblock needs model.arch \"resnet\"", src);
    for (int i = 1; i < c->train.schedule.n_milestones; i++)
        if (c->train.schedule.milestones[i] <= c->train.schedule.milestones[i - 1])
            return bn_fail(err, BN_ERR_USER, "%s: train.schedule.milestones: must be increasing", src);
    if (!c->name[0])
        return bn_fail(err, BN_ERR_USER, "%s: name: must not be empty", src);
    if (!c->log.out[0])
        return bn_fail(err, BN_ERR_USER, "%s: log.out: must not be empty", src);
    if (!c->data.flip_given)
        c->data.flip = c->data.dataset != DS_MNIST; /* digits must not be mirrored */
    return BN_OK;
}

int config_load(Config *c, const char *path, char *const *sets, int n_sets, BnError *err)
{
    config_defaults(c);
    const char *src = path ? path : "config";
    cJSON *root = path ? parse_file(path, err) : cJSON_CreateObject();
    if (!root)
        return err->code ? err->code : bn_fail(err, BN_ERR_RUNTIME, "out of memory");
    for (int i = 0; i < n_sets && err->code == BN_OK; i++)
        apply_set(root, sets[i], err);
    if (err->code == BN_OK)
        apply_object(src, root, "", c, err);
    cJSON_Delete(root);
    return err->code ? err->code : validate(src, c, err);
}

/* ---- writing ------------------------------------------------------------ */

/* The object at prefix of path (creating sections); *leaf gets the last part. */
static cJSON *section_for(cJSON *root, const char *path, char *leaf, size_t cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *obj = root;
    char *dot;
    char *part = buf;
    while ((dot = strchr(part, '.'))) {
        *dot = 0;
        cJSON *child = cJSON_GetObjectItemCaseSensitive(obj, part);
        obj = child ? child : cJSON_AddObjectToObject(obj, part);
        part = dot + 1;
    }
    snprintf(leaf, cap, "%s", part);
    return obj;
}

static cJSON *value_json(const Key *k, const Config *c)
{
    const char *base = (const char *)c;
    switch (k->type) {
    case K_INT:
        return cJSON_CreateNumber(*(const int *)(base + k->off));
    case K_FLOAT:
        return cJSON_CreateNumber(*(const double *)(base + k->off));
    case K_BOOL:
        return cJSON_CreateBool(*(const int *)(base + k->off));
    case K_STRING:
        return cJSON_CreateString(base + k->off);
    case K_ENUM:
        return cJSON_CreateString(is_string_enum(k) ? base + k->off : k->names[*(const int *)(base + k->off)]);
    case K_INT_LIST: {
        cJSON *a = cJSON_CreateArray();
        const int *v = (const int *)(base + k->off);
        for (int i = 0; i < *(const int *)(base + k->count_off); i++)
            cJSON_AddItemToArray(a, v[i] == ARCH_MAXPOOL ? cJSON_CreateString("M") : cJSON_CreateNumber(v[i]));
        return a;
    }
    case K_SETS: {
        cJSON *a = cJSON_CreateArray();
        if (*(const int *)(base + k->off))
            cJSON_AddItemToArray(a, cJSON_CreateString("train"));
        if (*(const int *)(base + k->count_off))
            cJSON_AddItemToArray(a, cJSON_CreateString("test"));
        return a;
    }
    }
    return cJSON_CreateNull();
}

cJSON *config_to_json(const Config *c)
{
    cJSON *root = cJSON_CreateObject();
    for (size_t i = 0; i < N_KEYS; i++) {
        char leaf[256];
        cJSON *obj = section_for(root, KEYS[i].path, leaf, sizeof leaf);
        cJSON_AddItemToObject(obj, leaf, value_json(&KEYS[i], c));
    }
    return root;
}

int config_write_resolved(const Config *c, const cJSON *meta, const char *path, BnError *err)
{
    cJSON *root = config_to_json(c);
    if (meta)
        cJSON_AddItemToObject(root, "meta", cJSON_Duplicate(meta, 1));
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char tmp[CONFIG_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = text ? fopen(tmp, "w") : NULL;
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return bn_fail(err, BN_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(e));
    }
    return BN_OK;
}

uint64_t config_hash(const Config *c)
{
    cJSON *root = config_to_json(c);
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "train"), "epochs");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "log");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = text ? text : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    free(text);
    return h;
}

const char *config_dataset_name(int kind) { return DATASETS[kind]; }

const char *config_data_root(const Config *c)
{
    if (c->data.root[0])
        return c->data.root;
    switch (c->data.dataset) {
    case DS_FASHION_MNIST:
        return "/usr/share/datasets/fashion-mnist";
    case DS_CIFAR10:
        return "data/cifar-10-batches-bin";
    case DS_CIFAR100:
        return "data/cifar-100-binary";
    case DS_MNIST:
        return "data/mnist";
    default:
        return "data/images";
    }
}
