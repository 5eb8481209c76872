/* The grid file -> runs (run/sweep.h): reading and checking the file,
 * expansion (runs entries outer, then the axes, the last fastest), the
 * naming rule, and every run's overrides checked by the config schema. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/fsutil.h"
#include "run/config.h"
#include "run/sweep.h"

#define GRID_MAX_BYTES ((size_t)16 << 20)

static const char *const GRID_KEYS[] = {"base", "axes", "runs", "set", "out", NULL};

/* ---- reading ------------------------------------------------------------ */

static void position_of(const char *text, const char *at, int *line, int *col)
{
    *line = *col = 1;
    for (const char *p = text; p < at && *p; p++) {
        if (*p == '\n') {
            ++*line;
            *col = 1;
        } else {
            ++*col;
        }
    }
}

static cJSON *read_grid(const char *path, BsError *err)
{
    char *text = NULL;
    size_t len = 0;
    if (fs_read_all(path, GRID_MAX_BYTES, &text, &len) != 0) {
        bs_fail(err, BS_ERR_USER, "%s: cannot read grid: %s", path,
                errno == EFBIG ? "larger than 16 MiB" : strerror(errno));
        return NULL;
    }
    cJSON *doc = NULL;
    const char *end = NULL;
    if (strlen(text) != len) {
        bs_fail(err, BS_ERR_USER, "%s: not a JSON text (contains a NUL byte)", path);
    } else if (strspn(text, " \t\r\n") == len) {
        bs_fail(err, BS_ERR_USER, "%s: empty file, expected a JSON object (base, axes or runs, set, out)", path);
    } else if (!(doc = cJSON_ParseWithOpts(text, &end, 1))) {
        int line, col;
        position_of(text, end ? end : text, &line, &col);
        bs_fail(err, BS_ERR_USER, "%s: malformed JSON at line %d, column %d", path, line, col);
    } else if (!cJSON_IsObject(doc)) {
        bs_fail(err, BS_ERR_USER, "%s: expected a JSON object at the top level (base, axes or runs, set, out)", path);
        cJSON_Delete(doc);
        doc = NULL;
    }
    free(text);
    return doc;
}

/* cJSON keeps both copies of a repeated key; "last one wins" would hide an
 * edit, so it is an error (as in configs). */
static const cJSON *repeated_member(const cJSON *obj)
{
    for (const cJSON *m = obj->child; m; m = m->next)
        for (const cJSON *p = obj->child; p != m; p = p->next)
            if (!strcmp(p->string, m->string))
                return m;
    return NULL;
}

static void short_text(const cJSON *v, char *buf, size_t cap)
{
    char *s = cJSON_PrintUnformatted(v);
    snprintf(buf, cap, "%s", s ? s : "(unprintable)");
    if (s && strlen(s) >= cap && cap > 4)
        strcpy(buf + cap - 4, "...");
    cJSON_free(s);
}

/* Values travel on command lines and, emitted, one command a line. */
static int control_char_in(const cJSON *v)
{
    if (cJSON_IsString(v))
        for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                return 1;
    for (const cJSON *c = v->child; c; c = c->next)
        if (control_char_in(c))
            return 1;
    return 0;
}

/* The members of an override object (set, a runs entry): no repeats, no
 * control characters. `where` names it in messages. */
static int check_overrides(const char *path, const char *where, const cJSON *obj, BsError *err)
{
    if (!cJSON_IsObject(obj)) {
        char got[64];
        short_text(obj, got, sizeof got);
        return bs_fail(err, BS_ERR_USER, "%s: %s: expected an object of key: value overrides, got %s", path, where,
                       got);
    }
    const cJSON *rep = repeated_member(obj);
    if (rep)
        return bs_fail(err, BS_ERR_USER, "%s: %s.%s: key given twice", path, where, rep->string);
    for (const cJSON *m = obj->child; m; m = m->next)
        if (control_char_in(m))
            return bs_fail(err, BS_ERR_USER, "%s: %s.%s: control character in the value (values go on command lines)",
                           path, where, m->string);
    return BS_OK;
}

static int check_axes(const char *path, const cJSON *axes, BsError *err)
{
    if (check_overrides(path, "axes", axes, err))
        return err->code;
    for (const cJSON *a = axes->child; a; a = a->next) {
        if (!cJSON_IsArray(a)) {
            char got[64];
            short_text(a, got, sizeof got);
            return bs_fail(err, BS_ERR_USER, "%s: axes.%s: expected a list of values, got %s", path, a->string, got);
        }
        if (!a->child)
            return bs_fail(err, BS_ERR_USER, "%s: axes.%s: empty list (an axis needs at least one value)", path,
                           a->string);
    }
    return BS_OK;
}

/* A key given in two places of one run (set, a runs entry, the axes) would
 * leave which value wins to the order of --set: an error instead. */
static int check_disjoint(const char *path, const char *wa, const cJSON *a, const char *wb, const cJSON *b,
                          BsError *err)
{
    for (const cJSON *m = a ? a->child : NULL; m; m = m->next)
        if (b && cJSON_GetObjectItemCaseSensitive(b, m->string))
            return bs_fail(err, BS_ERR_USER, "%s: %s: given in both %s and %s", path, m->string, wa, wb);
    return BS_OK;
}

static int check_list(const char *path, const SweepGrid *g, BsError *err)
{
    if (!cJSON_IsArray(g->list)) {
        char got[64];
        short_text(g->list, got, sizeof got);
        return bs_fail(err, BS_ERR_USER, "%s: runs: expected a list of override objects, got %s", path, got);
    }
    if (!g->list->child)
        return bs_fail(err, BS_ERR_USER, "%s: runs: empty list", path);
    int i = 0;
    for (const cJSON *e = g->list->child; e; e = e->next, i++) {
        char where[32];
        snprintf(where, sizeof where, "runs[%d]", i);
        if (check_overrides(path, where, e, err) || check_disjoint(path, where, e, "set", g->set, err) ||
            check_disjoint(path, where, e, "axes", g->axes, err))
            return err->code;
    }
    return BS_OK;
}

static int read_string_member(const char *path, const cJSON *doc, const char *key, const char **out, BsError *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    *out = NULL;
    if (!v)
        return BS_OK;
    if (!cJSON_IsString(v) || !v->valuestring[0]) {
        char got[64];
        short_text(v, got, sizeof got);
        return bs_fail(err, BS_ERR_USER, "%s: %s: expected a non-empty path, got %s", path, key, got);
    }
    if (control_char_in(v))
        return bs_fail(err, BS_ERR_USER, "%s: %s: control character in the path", path, key);
    *out = v->valuestring;
    return BS_OK;
}

/* base relative to the grid's directory; out as given, or runs/<grid stem>. */
static int resolve_paths(SweepGrid *g, const char *base, const char *out, BsError *err)
{
    const char *slash = strrchr(g->path, '/');
    size_t dlen = slash ? (size_t)(slash - g->path) : 0;
    if (base[0] == '/' || !slash) {
        g->base = strdup(base);
    } else {
        g->base = malloc(dlen + strlen(base) + 2);
        if (g->base)
            sprintf(g->base, "%.*s/%s", (int)dlen, g->path, base);
    }
    if (out) {
        g->out = strdup(out);
    } else {
        const char *stem = slash ? slash + 1 : g->path;
        size_t n = strlen(stem);
        if (n > 5 && !strcmp(stem + n - 5, ".json"))
            n -= 5;
        if ((g->out = malloc(n + 6)))
            sprintf(g->out, "runs/%.*s", (int)n, stem);
    }
    if (!g->base || !g->out)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory reading the grid");
    for (size_t n = strlen(g->out); n > 1 && g->out[n - 1] == '/'; n--)
        g->out[n - 1] = '\0';
    struct stat st;
    if (stat(g->base, &st) != 0)
        return bs_fail(err, BS_ERR_USER, "%s: base: %s: cannot read config: %s", g->path, g->base, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return bs_fail(err, BS_ERR_USER, "%s: base: %s: is a directory, expected a config file", g->path, g->base);
    return BS_OK;
}

static int read_structure(SweepGrid *g, BsError *err)
{
    const char *path = g->path;
    const cJSON *rep = repeated_member(g->doc);
    if (rep)
        return bs_fail(err, BS_ERR_USER, "%s: %s: key given twice", path, rep->string);
    for (const cJSON *m = g->doc->child; m; m = m->next) {
        int known = 0;
        for (int i = 0; GRID_KEYS[i]; i++)
            known |= !strcmp(m->string, GRID_KEYS[i]);
        if (!known)
            return bs_fail(err, BS_ERR_USER, "%s: unknown key '%s' (a grid has base, axes, runs, set and out)", path,
                           m->string);
    }
    const char *base, *out;
    if (read_string_member(path, g->doc, "base", &base, err) || read_string_member(path, g->doc, "out", &out, err))
        return err->code;
    if (!base)
        return bs_fail(err, BS_ERR_USER, "%s: base: missing (the config every run starts from)", path);
    g->set = cJSON_GetObjectItemCaseSensitive(g->doc, "set");
    g->axes = cJSON_GetObjectItemCaseSensitive(g->doc, "axes");
    g->list = cJSON_GetObjectItemCaseSensitive(g->doc, "runs");
    if (!g->axes && !g->list)
        return bs_fail(err, BS_ERR_USER, "%s: no runs: give \"axes\" (values to combine) or \"runs\" (a list of "
                       "override sets), or both", path);
    if ((g->set && check_overrides(path, "set", g->set, err)) || (g->axes && check_axes(path, g->axes, err)) ||
        check_disjoint(path, "set", g->set, "axes", g->axes, err) || (g->list && check_list(path, g, err)))
        return err->code;
    return resolve_paths(g, base, out, err);
}

/* ---- naming ------------------------------------------------------------- */

/* The keys that name runs (those of the runs entries, then the axes), each
 * once, and the label each gets. */
typedef struct {
    const char **key;
    int n, cap;
} KeySet;

static const char *leaf(const char *key)
{
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

static int keyset_add(KeySet *k, const char *key)
{
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->key[i], key))
            return BS_OK;
    if (k->n == k->cap) {
        int cap = k->cap ? 2 * k->cap : 16;
        const char **p = realloc(k->key, sizeof *p * (size_t)cap);
        if (!p)
            return BS_ERR_RUNTIME;
        k->key = p;
        k->cap = cap;
    }
    k->key[k->n++] = key;
    return BS_OK;
}

/* The last component of key, or the whole key when another naming key
 * ends the same ("model.depth" beside "data.synthetic.depth"). */
static const char *label_of(const KeySet *k, const char *key)
{
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->key[i], key) && !strcmp(leaf(k->key[i]), leaf(key)))
            return key;
    return leaf(key);
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '+' || c == '-';
}

/* "label-value" appended to buf: the value's text (a string as written,
 * anything else as compact JSON) with every run of characters outside
 * [A-Za-z0-9._+-] made one '_', none at either end; "empty" for nothing. */
static void append_part(char *buf, size_t cap, const char *label, const cJSON *v)
{
    char *json = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);
    const char *text = json ? json : cJSON_IsString(v) ? v->valuestring : "";
    size_t n = strlen(buf);
    int w = snprintf(buf + n, cap - n, "%s%s-", n ? "_" : "", label);
    if (w < 0 || (size_t)w + 2 >= cap - n) { /* full: too long a name, refused by the caller */
        cJSON_free(json);
        return;
    }
    n += (size_t)w;
    size_t start = n;
    int gap = 0;
    for (const char *p = text; *p && n + 2 < cap; p++) {
        if (!name_char(*p)) {
            gap = 1;
            continue;
        }
        if (gap && n > start)
            buf[n++] = '_';
        gap = 0;
        buf[n++] = *p;
    }
    buf[n] = '\0';
    if (n == start)
        snprintf(buf + n, cap - n, "empty");
    cJSON_free(json);
}

/* ---- expansion ---------------------------------------------------------- */

/* What `run --set key=TEXT` reads back as v: a string as written when that
 * cannot be mistaken for JSON (or a quoted string), else compact JSON. */
static char *set_text(const cJSON *v)
{
    if (cJSON_IsString(v) && v->valuestring[0] != '"') {
        cJSON *probe = cJSON_ParseWithOpts(v->valuestring, NULL, 1);
        cJSON_Delete(probe);
        if (!probe)
            return strdup(v->valuestring);
    }
    char *json = cJSON_PrintUnformatted(v);
    char *s = json ? strdup(json) : NULL;
    cJSON_free(json);
    return s;
}

static int add_override(SweepRun *r, const char *key, const cJSON *v)
{
    char *text = set_text(v);
    char *assignment = text ? malloc(strlen(key) + strlen(text) + 2) : NULL;
    cJSON *copy = cJSON_Duplicate(v, 1);
    int ok = assignment && copy && cJSON_AddItemToObject(r->overrides, key, copy);
    if (ok) {
        sprintf(assignment, "%s=%s", key, text);
        r->sets[r->n_sets++] = assignment;
    } else {
        free(assignment);
        if (copy && !cJSON_GetObjectItemCaseSensitive(r->overrides, key))
            cJSON_Delete(copy);
    }
    free(text);
    return ok ? BS_OK : BS_ERR_RUNTIME;
}

static int given_in(const cJSON *obj, const char *key)
{
    return obj && cJSON_GetObjectItemCaseSensitive(obj, key) != NULL;
}

static int count_members(const cJSON *obj)
{
    int n = 0;
    for (const cJSON *m = obj ? obj->child : NULL; m; m = m->next)
        n++;
    return n;
}

/* Run index i: runs entry i / combos, then the axes' values by mixed radix. */
static int build_run(SweepGrid *g, const KeySet *keys, int i, int combos, BsError *err)
{
    SweepRun *r = &g->runs[i];
    r->index = i;
    const cJSON *entry = g->list ? cJSON_GetArrayItem(g->list, i / combos) : NULL;
    const cJSON *pick[SWEEP_MAX_OVERRIDES + 1];
    int n_axes = count_members(g->axes), rest = i % combos, below = combos, k = 0;
    if (n_axes > SWEEP_MAX_OVERRIDES)
        return bs_fail(err, BS_ERR_USER, "%s: %d axes; a run takes at most %d overrides", g->path, n_axes,
                       SWEEP_MAX_OVERRIDES);
    for (const cJSON *ax = g->axes ? g->axes->child : NULL; ax; ax = ax->next, k++) {
        below /= cJSON_GetArraySize(ax); /* combinations of the axes after this one */
        pick[k] = cJSON_GetArrayItem(ax, rest / below);
        rest %= below;
    }

    char name[4 * SWEEP_NAME_MAX] = "";
    for (const cJSON *m = entry ? entry->child : NULL; m; m = m->next)
        append_part(name, sizeof name, label_of(keys, m->string), m);
    k = 0;
    for (const cJSON *ax = g->axes ? g->axes->child : NULL; ax; ax = ax->next, k++)
        append_part(name, sizeof name, label_of(keys, ax->string), pick[k]);
    if (!name[0])
        snprintf(name, sizeof name, "base");
    if (strlen(name) > SWEEP_NAME_MAX)
        return bs_fail(err, BS_ERR_USER, "%s: run %d: its name '%.40s...' is longer than %d characters (use "
                       "shorter values or fewer axes)", g->path, i, name, SWEEP_NAME_MAX);
    snprintf(r->name, sizeof r->name, "%s", name);

    int total = count_members(g->set) + count_members(entry) + n_axes + 1;
    if (total > SWEEP_MAX_OVERRIDES + 1)
        return bs_fail(err, BS_ERR_USER, "%s: run %d (%s): %d overrides; a run takes at most %d", g->path, i, name,
                       total - 1, SWEEP_MAX_OVERRIDES);
    r->overrides = cJSON_CreateObject();
    r->sets = calloc((size_t)total, sizeof *r->sets);
    r->dir = malloc(strlen(g->out) + strlen(r->name) + 2);
    if (!r->overrides || !r->sets || !r->dir)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory expanding the grid");
    sprintf(r->dir, "%s/%s", g->out, r->name);
    int named = given_in(g->set, "name") || given_in(entry, "name") || given_in(g->axes, "name");
    int rc = BS_OK;
    if (!named) {
        cJSON *nm = cJSON_CreateString(r->name);
        rc = nm ? add_override(r, "name", nm) : BS_ERR_RUNTIME;
        cJSON_Delete(nm);
    }
    for (const cJSON *m = g->set ? g->set->child : NULL; m && !rc; m = m->next)
        rc = add_override(r, m->string, m);
    for (const cJSON *m = entry ? entry->child : NULL; m && !rc; m = m->next)
        rc = add_override(r, m->string, m);
    k = 0;
    for (const cJSON *ax = g->axes ? g->axes->child : NULL; ax && !rc; ax = ax->next, k++)
        rc = add_override(r, ax->string, pick[k]);
    return rc ? bs_fail(err, BS_ERR_RUNTIME, "out of memory expanding the grid") : BS_OK;
}

/* config_load of base + the run's overrides: the schema `run` applies. */
static int check_run(const SweepGrid *g, SweepRun *r, BsError *err)
{
    Config c;
    BsError e = {0};
    if (config_load(&c, g->base, r->sets, r->n_sets, &e) != BS_OK) {
        const char *msg = e.msg;
        if (!strncmp(msg, "--set: ", 7)) /* the grid gave it, not a --set */
            msg += 7;
        return bs_fail(err, e.code, "%s: run %d (%s): %s", g->path, r->index, r->name, msg);
    }
    r->epochs = c.train.epochs;
    return BS_OK;
}

static int by_name(const void *a, const void *b)
{
    const SweepRun *x = *(const SweepRun *const *)a, *y = *(const SweepRun *const *)b;
    int d = strcmp(x->name, y->name);
    return d ? d : x->index - y->index;
}

static int check_unique_names(const SweepGrid *g, BsError *err)
{
    const SweepRun **order = malloc(sizeof *order * (size_t)g->n_runs);
    if (!order)
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory expanding the grid");
    for (int i = 0; i < g->n_runs; i++)
        order[i] = &g->runs[i];
    qsort(order, (size_t)g->n_runs, sizeof *order, by_name);
    for (int i = 1; i < g->n_runs && !err->code; i++)
        if (!strcmp(order[i - 1]->name, order[i]->name))
            bs_fail(err, BS_ERR_USER, "%s: runs %d and %d get the same name '%s' (values that differ only in "
                    "characters a directory name drops, or a repeated runs entry)", g->path, order[i - 1]->index,
                    order[i]->index, order[i]->name);
    free(order);
    return err->code;
}

static int expand(SweepGrid *g, BsError *err)
{
    long combos = 1;
    for (const cJSON *ax = g->axes ? g->axes->child : NULL; ax; ax = ax->next)
        if ((combos *= cJSON_GetArraySize(ax)) > SWEEP_MAX_RUNS)
            break;
    long entries = g->list ? cJSON_GetArraySize(g->list) : 1, n = combos * entries;
    if (combos > SWEEP_MAX_RUNS || n > SWEEP_MAX_RUNS)
        return bs_fail(err, BS_ERR_USER, "%s: more than %d runs", g->path, SWEEP_MAX_RUNS);
    KeySet keys = {0};
    int rc = BS_OK;
    for (const cJSON *e = g->list ? g->list->child : NULL; e && !rc; e = e->next)
        for (const cJSON *m = e->child; m && !rc; m = m->next)
            rc = keyset_add(&keys, m->string);
    for (const cJSON *ax = g->axes ? g->axes->child : NULL; ax && !rc; ax = ax->next)
        rc = keyset_add(&keys, ax->string);
    g->runs = rc ? NULL : calloc((size_t)n, sizeof *g->runs);
    if (!g->runs) {
        free(keys.key);
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory expanding the grid");
    }
    g->n_runs = (int)n;
    for (int i = 0; i < g->n_runs && !rc; i++)
        rc = build_run(g, &keys, i, (int)combos, err);
    free(keys.key);
    if (!rc)
        rc = check_unique_names(g, err);
    for (int i = 0; i < g->n_runs && !rc; i++)
        rc = check_run(g, &g->runs[i], err);
    return rc;
}

int sweep_grid_load(SweepGrid *g, const char *path, BsError *err)
{
    memset(g, 0, sizeof *g);
    if (!(g->path = strdup(path)))
        return bs_fail(err, BS_ERR_RUNTIME, "out of memory reading the grid");
    if (!(g->doc = read_grid(path, err)) || read_structure(g, err) || expand(g, err)) {
        sweep_grid_free(g);
        return err->code;
    }
    return BS_OK;
}

void sweep_grid_free(SweepGrid *g)
{
    for (int i = 0; i < g->n_runs; i++) {
        SweepRun *r = &g->runs[i];
        for (int j = 0; j < r->n_sets; j++)
            free(r->sets[j]);
        free(r->sets);
        free(r->dir);
        cJSON_Delete(r->overrides);
    }
    free(g->runs);
    free(g->path);
    free(g->base);
    free(g->out);
    cJSON_Delete(g->doc);
    memset(g, 0, sizeof *g);
}

const char **sweep_run_argv(const SweepGrid *g, const SweepRun *r, const char *threads_text, int quiet, int resume)
{
    const char **w = malloc(sizeof *w * (size_t)(2 * r->n_sets + 10));
    if (!w)
        return NULL;
    int k = 0;
    w[k++] = "run";
    w[k++] = g->base;
    w[k++] = "--out";
    w[k++] = r->dir;
    for (int i = 0; i < r->n_sets; i++) {
        w[k++] = "--set";
        w[k++] = r->sets[i];
    }
    w[k++] = "--threads";
    w[k++] = threads_text;
    if (quiet)
        w[k++] = "--quiet";
    if (resume)
        w[k++] = "--resume";
    w[k] = NULL;
    return w;
}
