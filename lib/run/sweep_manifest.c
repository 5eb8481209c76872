/* sweep.json (run/sweep.h): what a grid expanded to, so that a later
 * invocation (a resumed sweep, `--only I` under GNU parallel or Slurm) can
 * tell whether the grid changed under the runs already made. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "run/sweep.h"

#define MANIFEST_VERSION 1
#define MANIFEST_MAX_BYTES ((size_t)256 << 20)

static cJSON *copy_or_empty(const cJSON *v, int array)
{
    return v ? cJSON_Duplicate(v, 1) : array ? cJSON_CreateArray() : cJSON_CreateObject();
}

static cJSON *run_json(const SweepRun *r, const char *command)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = cJSON_AddNumberToObject(o, "index", r->index) && cJSON_AddStringToObject(o, "name", r->name) &&
             cJSON_AddStringToObject(o, "dir", r->dir) &&
             cJSON_AddItemToObject(o, "overrides", cJSON_Duplicate(r->overrides, 1)) &&
             cJSON_AddStringToObject(o, "command", command);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *sweep_manifest(const SweepGrid *g, int threads, char *const *commands)
{
    cJSON *m = cJSON_CreateObject(), *runs = cJSON_CreateArray();
    int ok = m && runs && cJSON_AddNumberToObject(m, "bnshift_sweep", MANIFEST_VERSION) &&
             cJSON_AddStringToObject(m, "grid", g->path) && cJSON_AddStringToObject(m, "base", g->base) &&
             cJSON_AddStringToObject(m, "out", g->out) &&
             cJSON_AddItemToObject(m, "set", copy_or_empty(g->set, 0)) &&
             cJSON_AddItemToObject(m, "axes", copy_or_empty(g->axes, 0)) &&
             cJSON_AddItemToObject(m, "run_list", copy_or_empty(g->list, 1)) &&
             cJSON_AddNumberToObject(m, "threads_per_job", threads);
    for (int i = 0; ok && i < g->n_runs; i++) {
        cJSON *r = run_json(&g->runs[i], commands[i]);
        ok = r && cJSON_AddItemToArray(runs, r);
    }
    if (!ok || !cJSON_AddItemToObject(m, "runs", runs)) {
        cJSON_Delete(runs);
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

/* Whether a and b name the same file (the grid may be given by another
 * relative path than before); the strings when either is gone. */
static int same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    if (realpath(a, ra) && realpath(b, rb))
        return !strcmp(ra, rb);
    return !strcmp(a, b);
}

static int differs(const char *path, const SweepGrid *g, const char *what, BsError *err)
{
    return bs_fail(err, BS_ERR_USER, "%s: %s; %s changed since this sweep was expanded (--force expands it anew "
                   "there; or give it another out)", path, what, g->path);
}

static int check_runs(const SweepGrid *g, const char *path, const cJSON *runs, BsError *err)
{
    char what[400];
    int n = cJSON_IsArray(runs) ? cJSON_GetArraySize(runs) : -1;
    if (n < 0)
        return bs_fail(err, BS_ERR_USER, "%s: not a sweep manifest (no runs list); remove it or use --force", path);
    if (n != g->n_runs) {
        snprintf(what, sizeof what, "%d runs there, %d from the grid", n, g->n_runs);
        return differs(path, g, what, err);
    }
    int i = 0;
    for (const cJSON *r = runs->child; r; r = r->next, i++) {
        const SweepRun *s = &g->runs[i];
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *ov = cJSON_GetObjectItemCaseSensitive(r, "overrides");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, s->name)) {
            snprintf(what, sizeof what, "run %d is '%.120s' there, '%s' from the grid", i,
                     cJSON_IsString(name) ? name->valuestring : "?", s->name);
            return differs(path, g, what, err);
        }
        if (!ov || !cJSON_Compare(ov, s->overrides, 1)) {
            snprintf(what, sizeof what, "run %d (%s) has other overrides there", i, s->name);
            return differs(path, g, what, err);
        }
    }
    return BS_OK;
}

int sweep_manifest_check(const SweepGrid *g, const char *manifest_path, BsError *err)
{
    char *text = NULL;
    size_t len = 0;
    if (fs_read_all(manifest_path, MANIFEST_MAX_BYTES, &text, &len) != 0) {
        if (errno == ENOENT)
            return BS_OK;
        return bs_fail(err, BS_ERR_USER, "%s: cannot read the sweep manifest: %s", manifest_path, strerror(errno));
    }
    cJSON *m = cJSON_ParseWithOpts(text, NULL, 1);
    free(text);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(m, "bnshift_sweep");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(m, "base");
    int rc;
    if (!cJSON_IsObject(m) || !cJSON_IsNumber(version) || !cJSON_IsString(base)) {
        rc = bs_fail(err, BS_ERR_USER, "%s: not a sweep manifest (malformed or not written by bnshift sweep); "
                     "remove it or use --force", manifest_path);
    } else if (version->valueint != MANIFEST_VERSION) {
        rc = bs_fail(err, BS_ERR_USER, "%s: sweep manifest version %d, this bnshift writes %d; use --force",
                     manifest_path, version->valueint, MANIFEST_VERSION);
    } else if (!same_file(base->valuestring, g->base)) {
        char what[400];
        snprintf(what, sizeof what, "base is '%.150s' there, '%.150s' from the grid", base->valuestring, g->base);
        rc = differs(manifest_path, g, what, err);
    } else {
        rc = check_runs(g, manifest_path, cJSON_GetObjectItemCaseSensitive(m, "runs"), err);
    }
    cJSON_Delete(m);
    return rc;
}

int sweep_manifest_write(const cJSON *m, const char *path, BsError *err)
{
    char *text = cJSON_Print(m);
    if (!text)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory writing the sweep manifest", path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    cJSON_free(text);
    if (!ok) {
        unlink(tmp);
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot write the sweep manifest: %s", path, strerror(e));
    }
    fs_sync_parent(path);
    return BS_OK;
}

void sweep_manifest_free(SweepManifest *m)
{
    for (int i = 0; i < m->n_axes; i++)
        free(m->axes[i]);
    for (int i = 0; m->names && i < m->n_runs; i++)
        free(m->names[i]);
    for (int i = 0; m->values && i < m->n_runs * m->n_axes; i++)
        free(m->values[i]);
    free(m->axes);
    free(m->names);
    free(m->values);
    memset(m, 0, sizeof *m);
}

/* An override's value as a table cell: strings bare, integers without a
 * fraction, anything else as JSON. */
static char *value_text(const cJSON *v)
{
    char buf[64];
    if (!v)
        return strdup("");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(buf, sizeof buf, "%.15g", v->valuedouble);
        return strdup(buf);
    }
    char *json = cJSON_PrintUnformatted(v);
    char *text = json ? strdup(json) : NULL;
    cJSON_free(json);
    return text;
}

/* A run's name becomes a path under the manifest's directory: one plain
 * component only. */
static int plain_name(const char *s)
{
    return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/') && strlen(s) <= SWEEP_NAME_MAX;
}

static int read_runs(SweepManifest *m, const char *path, const cJSON *runs, BsError *err)
{
    m->n_runs = cJSON_GetArraySize(runs);
    m->names = calloc((size_t)m->n_runs + 1, sizeof *m->names);
    m->values = calloc((size_t)m->n_runs * (size_t)m->n_axes + 1, sizeof *m->values);
    if (!m->names || !m->values)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the sweep manifest", path);
    int i = 0;
    for (const cJSON *r = runs->child; r; r = r->next, i++) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(r, "name");
        const cJSON *ov = cJSON_GetObjectItemCaseSensitive(r, "overrides");
        if (!cJSON_IsString(name) || !plain_name(name->valuestring) || !cJSON_IsObject(ov))
            return bs_fail(err, BS_ERR_USER, "%s: run %d: expected a plain name and an overrides object "
                           "(not a sweep manifest written by bnshift sweep)", path, i);
        if (!(m->names[i] = strdup(name->valuestring)))
            return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the sweep manifest", path);
        for (int a = 0; a < m->n_axes; a++)
            if (!(m->values[i * m->n_axes + a] = value_text(cJSON_GetObjectItemCaseSensitive(ov, m->axes[a]))))
                return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the sweep manifest", path);
    }
    return BS_OK;
}

static int read_manifest_doc(SweepManifest *m, const char *path, const cJSON *doc, BsError *err)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "bnshift_sweep");
    const cJSON *axes = cJSON_GetObjectItemCaseSensitive(doc, "axes");
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(doc, "runs");
    if (!cJSON_IsObject(doc) || !cJSON_IsNumber(version) || !cJSON_IsObject(axes) || !cJSON_IsArray(runs))
        return bs_fail(err, BS_ERR_USER, "%s: not a sweep manifest (malformed or not written by bnshift sweep)",
                       path);
    if (version->valueint != MANIFEST_VERSION)
        return bs_fail(err, BS_ERR_USER, "%s: sweep manifest version %d, this bnshift reads %d", path,
                       version->valueint, MANIFEST_VERSION);
    m->axes = calloc((size_t)cJSON_GetArraySize(axes) + 1, sizeof *m->axes);
    if (!m->axes)
        return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the sweep manifest", path);
    for (const cJSON *a = axes->child; a; a = a->next)
        if (!(m->axes[m->n_axes++] = strdup(a->string)))
            return bs_fail(err, BS_ERR_RUNTIME, "%s: out of memory reading the sweep manifest", path);
    return read_runs(m, path, runs, err);
}

int sweep_manifest_read(SweepManifest *m, const char *path, BsError *err)
{
    memset(m, 0, sizeof *m);
    char *text = NULL;
    size_t len = 0;
    if (fs_read_all(path, MANIFEST_MAX_BYTES, &text, &len) != 0)
        return bs_fail(err, BS_ERR_USER, "%s: cannot read the sweep manifest: %s", path, strerror(errno));
    cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
    free(text);
    int rc = read_manifest_doc(m, path, doc, err);
    cJSON_Delete(doc);
    if (rc)
        sweep_manifest_free(m);
    return rc;
}
