/* The runs a reading command's arguments stand for (run_inputs.h): moved
 * here from plot-data so that report reads its arguments the same way. */
#include "run_inputs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

#define PATH_LEN (CONFIG_PATH_MAX + 64)

void notes_add(Notes *notes, const char *fmt, ...)
{
    if (notes->n == NOTES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes->text[notes->n++], sizeof notes->text[0], fmt, ap);
    va_end(ap);
}

void notes_print(const Notes *notes)
{
    for (int i = 0; i < notes->n; i++)
        cli_warn("%s", notes->text[i]);
}

/* The run directories the arguments expand to, before any is read. */
typedef struct {
    char **dirs; /* owned */
    RunOrigin *from;
    int n, cap;
    char **manifest_paths; /* per manifest of RunInputs */
    char (*skipped)[400];  /* per manifest: the runs left out, for one note */
    int *n_skipped;
} RunList;

static void run_list_free(RunList *l, int n_manifests)
{
    for (int i = 0; i < l->n; i++)
        free(l->dirs[i]);
    for (int i = 0; l->manifest_paths && i < n_manifests; i++)
        free(l->manifest_paths[i]);
    free(l->dirs);
    free(l->from);
    free(l->manifest_paths);
    free(l->skipped);
    free(l->n_skipped);
}

/* Appends prefix/name (or dir alone when name is NULL). -1 when out of
 * memory. */
static int add_run(RunList *l, const char *prefix, const char *name, const SweepManifest *m, int run)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **d = realloc(l->dirs, (size_t)cap * sizeof *d);
        if (d)
            l->dirs = d;
        RunOrigin *o = d ? realloc(l->from, (size_t)cap * sizeof *o) : NULL;
        if (!o)
            return -1;
        l->from = o;
        l->cap = cap;
    }
    size_t len = strlen(prefix) + (name ? strlen(name) + 1 : 0) + 1;
    char *dir = malloc(len);
    if (!dir)
        return -1;
    if (name && prefix[0])
        snprintf(dir, len, "%s/%s", prefix, name);
    else
        snprintf(dir, len, "%s", name ? name : prefix);
    l->dirs[l->n] = dir;
    l->from[l->n++] = (RunOrigin){m, run};
    return 0;
}

/* Whether arg names a sweep: a directory holding sweep.json, or a file
 * named sweep.json (any other file is a run directory's error, as
 * before). *prefix_len gets the length of the runs' parent in path. */
static int manifest_of(const char *arg, char *path, size_t cap, size_t *prefix_len)
{
    struct stat st;
    size_t len = strlen(arg);
    while (len > 1 && arg[len - 1] == '/')
        len--;
    if (stat(arg, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        snprintf(path, cap, "%.*s/%s", (int)len, arg, SWEEP_MANIFEST_FILE);
        *prefix_len = len;
        return stat(path, &st) == 0;
    }
    const char *slash = strrchr(arg, '/');
    const char *base = slash ? slash + 1 : arg;
    if (!S_ISREG(st.st_mode) || strcmp(base, SWEEP_MANIFEST_FILE))
        return 0;
    snprintf(path, cap, "%s", arg);
    *prefix_len = slash ? (size_t)(slash - arg) + (slash == arg) : 0;
    return 1;
}

/* Expands the arguments into l: each sweep read (exit 2 naming a manifest
 * that is not one), its runs in manifest order. */
static int expand_args(RunInputs *in, RunList *l, const char *cmd, char *const *args, int n_args)
{
    in->manifests = calloc((size_t)n_args + 1, sizeof *in->manifests);
    l->manifest_paths = calloc((size_t)n_args + 1, sizeof *l->manifest_paths);
    l->skipped = calloc((size_t)n_args + 1, sizeof *l->skipped);
    l->n_skipped = calloc((size_t)n_args + 1, sizeof *l->n_skipped);
    if (!in->manifests || !l->manifest_paths || !l->skipped || !l->n_skipped)
        return cli_error(BS_ERR_RUNTIME, "%s: out of memory", cmd);
    for (int i = 0; i < n_args; i++) {
        char path[PATH_LEN], prefix[PATH_LEN];
        size_t prefix_len = 0;
        if (!manifest_of(args[i], path, sizeof path, &prefix_len)) {
            if (add_run(l, args[i], NULL, NULL, 0))
                return cli_error(BS_ERR_RUNTIME, "%s: out of memory", cmd);
            continue;
        }
        SweepManifest *m = &in->manifests[in->n_manifests];
        BsError err = {0};
        if (sweep_manifest_read(m, path, &err))
            return cli_error(err.code, "%s: %s", cmd, err.msg);
        if (!(l->manifest_paths[in->n_manifests++] = strdup(path)))
            return cli_error(BS_ERR_RUNTIME, "%s: out of memory", cmd);
        snprintf(prefix, sizeof prefix, "%.*s", (int)prefix_len, path);
        for (int r = 0; r < m->n_runs; r++)
            if (add_run(l, prefix, m->names[r], m, r))
                return cli_error(BS_ERR_RUNTIME, "%s: out of memory", cmd);
    }
    return 0;
}

/* Whether a sweep's run has begun logging: a run not started is skipped,
 * not an error. */
static int has_metrics(const char *dir)
{
    char path[PATH_LEN];
    struct stat st;
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    return stat(path, &st) == 0;
}

/* Records run i of l as left out, for its manifest's one note. */
static void note_skipped(const RunInputs *in, RunList *l, int i)
{
    int k = (int)(l->from[i].m - in->manifests);
    char *list = l->skipped[k];
    size_t used = strlen(list);
    const char *name = l->from[i].m->names[l->from[i].run];
    if (used + strlen(name) + 8 < sizeof l->skipped[k])
        snprintf(list + used, sizeof l->skipped[k] - used, "%s%s", used ? ", " : "", name);
    else if (!strstr(list, ", ..."))
        snprintf(list + used, sizeof l->skipped[k] - used, ", ...");
    l->n_skipped[k]++;
}

/* Loads one run under a shared lock, or, when a writer holds its directory,
 * up to its last whole epoch (noted). */
static int load_run(RunLog *run, RunLock *lock, const char *dir, Notes *notes, BsError *err)
{
    int writer = 0;
    lock->fd = -1;
    int live = runlock_shared(lock, dir, &writer) == RUNLOCK_LIVE;
    if (runlog_load(run, dir, live, err))
        return err->code;
    if (live)
        notes_add(notes, "%s is being written by another bnshift process (pid %d): read up to its last whole "
                         "epoch%s", dir, writer, run->dropped_shift_rows || run->dropped_partial_lines
                         ? ", leaving out the rows still being written" : "");
    return 0;
}

int run_inputs_load(RunInputs *in, const char *cmd, char *const *args, int n_args, Notes *notes)
{
    memset(in, 0, sizeof *in);
    RunList l = {0};
    int rc = expand_args(in, &l, cmd, args, n_args);
    if (!rc) {
        in->runs = calloc((size_t)l.n + 1, sizeof *in->runs);
        in->locks = calloc((size_t)l.n + 1, sizeof *in->locks);
        in->from = calloc((size_t)l.n + 1, sizeof *in->from);
        if (!in->runs || !in->locks || !in->from)
            rc = cli_error(BS_ERR_RUNTIME, "%s: out of memory", cmd);
    }
    BsError err = {0};
    for (int i = 0; !rc && i < l.n; i++) {
        RunLog *run = &in->runs[in->n];
        RunLock *lock = &in->locks[in->n];
        int swept = l.from[i].m != NULL;
        if (swept && !has_metrics(l.dirs[i])) {
            note_skipped(in, &l, i);
            continue;
        }
        if (load_run(run, lock, l.dirs[i], notes, &err)) {
            runlock_release(lock);
            rc = cli_error(err.code, "%s", err.msg);
        } else if (swept && run->n_metrics == 0) {
            runlog_free(run);
            runlock_release(lock);
            note_skipped(in, &l, i);
        } else {
            in->from[in->n++] = l.from[i];
        }
    }
    if (!rc && in->n == 0)
        rc = cli_error(BS_ERR_USER, "%s: %s: no run of the sweep has an evaluated epoch yet", cmd,
                       l.manifest_paths[0]);
    for (int k = 0; k < in->n_manifests; k++)
        if (l.n_skipped[k])
            notes_add(notes, "%s: skipped %d run%s not started or without an evaluated epoch: %s",
                      l.manifest_paths[k], l.n_skipped[k], l.n_skipped[k] == 1 ? "" : "s", l.skipped[k]);
    run_list_free(&l, in->n_manifests);
    return rc;
}

void run_inputs_free(RunInputs *in)
{
    for (int i = 0; i < in->n; i++) {
        runlog_free(&in->runs[i]);
        runlock_release(&in->locks[i]);
    }
    for (int i = 0; i < in->n_manifests; i++)
        sweep_manifest_free(&in->manifests[i]);
    free(in->runs);
    free(in->locks);
    free(in->from);
    free(in->manifests);
    memset(in, 0, sizeof *in);
}

int run_inputs_parse_epochs(const char *cmd, const char *list, int *epochs, int max, int *n)
{
    const char *p = list;
    *n = 0;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 1000000000L || *n == max || (*end && *end != ','))
            return cli_error(BS_ERR_USER, "%s: --epochs '%s': expected a list like 1,5,10", cmd, list);
        epochs[(*n)++] = (int)v;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int run_inputs_depth_epochs(const RunLog *r, int set, const int *want, int n_want, int *out, Notes *notes)
{
    int n_ep = runlog_epochs(r, set, NULL, 0);
    int *ep = malloc(((size_t)n_ep + 1) * sizeof *ep);
    if (!ep)
        return -1;
    runlog_epochs(r, set, ep, n_ep);
    int n = 0;
    if (!n_want) {
        int pick[3] = {0, (n_ep - 1) / 2, n_ep - 1};
        for (int k = 0; k < 3 && n_ep > 0; k++)
            if (n == 0 || out[n - 1] != ep[pick[k]])
                out[n++] = ep[pick[k]];
    }
    for (int k = 0; k < n_want; k++) {
        int found = 0;
        for (int i = 0; i < n_ep && !found; i++)
            found = ep[i] == want[k];
        if (found)
            out[n++] = want[k];
        else
            notes_add(notes, "%s has no %s shift rows for epoch %d; skipped", r->dir, runlog_set_name(set),
                      want[k]);
    }
    free(ep);
    return n;
}
