/* The report's figures: one gnuplot script in a temporary directory, run by
 * one gnuplot process (its svg terminal, one file per figure), each file
 * then read back and made fit to inline in HTML (report.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "report.h"

#define SCRIPT "report.gp"
#define LOG "gnuplot.log"
#define SVG_MAX ((size_t)64 << 20)

int figs_have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t len = strcspn(path, ":");
        char file[4200];
        snprintf(file, sizeof file, "%.*s/gnuplot", (int)len, len ? path : ".");
        struct stat st;
        if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

int figs_open(FigureSet *fs, BsError *err)
{
    memset(fs, 0, sizeof *fs);
    const char *tmp = getenv("TMPDIR");
    snprintf(fs->dir, sizeof fs->dir, "%s/bnshift-report-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fs->dir)) {
        int e = errno;
        char tried[sizeof fs->dir];
        snprintf(tried, sizeof tried, "%s", fs->dir);
        fs->dir[0] = '\0';
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot make a temporary directory: %s", tried, strerror(e));
    }
    char path[sizeof fs->dir + 16];
    snprintf(path, sizeof path, "%s/" SCRIPT, fs->dir);
    if (!(fs->gp = fopen(path, "w")))
        return bs_fail(err, BS_ERR_RUNTIME, "%s: cannot write: %s", path, strerror(errno));
    /* Warnings (an empty range of a one-epoch run) are not failures; an
     * error stops gnuplot, and its exit status says so. */
    fputs("set encoding utf8\n", fs->gp);
    return 0;
}

int figs_begin(FigureSet *fs, int width, int height)
{
    int k = fs->n++;
    /* `dynamic`: a viewBox and no fixed size, so the SVG scales to the
     * page's width. Paths are relative: gnuplot runs in fs->dir. */
    fprintf(fs->gp,
            "\nreset\n"
            "set terminal svg size %d,%d dynamic font 'sans,11' background '#ffffff'\n"
            "set output 'fig%d.svg'\n"
            "set termoption noenhanced\n"
            "set datafile missing NaN\n"
            "set grid lc rgb '#dddddd'\n"
            "set border lc rgb '#555555'\n",
            width, height, k);
    return k;
}

void figs_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f); /* '' is a quote inside '...' */
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* The first line of gnuplot's log that names the script (its error), else
 * the last non-empty line, into buf. */
static void gnuplot_error_line(const FigureSet *fs, char *buf, size_t cap)
{
    char path[sizeof fs->dir + 16];
    snprintf(path, sizeof path, "%s/" LOG, fs->dir);
    snprintf(buf, cap, "no message");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "\"" SCRIPT "\"", strlen(SCRIPT) + 2)) {
            snprintf(buf, cap, "%.300s", line);
            break;
        }
        if (line[strspn(line, " \t^")])
            snprintf(buf, cap, "%.300s", line);
    }
    fclose(f);
}

int figs_render(FigureSet *fs, BsError *err)
{
    int bad = ferror(fs->gp);
    bad |= fclose(fs->gp) != 0;
    fs->gp = NULL;
    if (bad)
        return bs_fail(err, BS_ERR_RUNTIME, "%s/" SCRIPT ": write failed", fs->dir);
    char log[sizeof fs->dir + 16];
    snprintf(log, sizeof log, "%s/" LOG, fs->dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return bs_fail(err, BS_ERR_RUNTIME, "cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || chdir(fs->dir) != 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", SCRIPT, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return bs_fail(err, BS_ERR_RUNTIME, "waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        fs->rendered = 1;
        return 0;
    }
    char line[400];
    gnuplot_error_line(fs, line, sizeof line);
    if (WIFSIGNALED(st))
        return bs_fail(err, BS_ERR_RUNTIME, "gnuplot was killed by signal %d: %s", WTERMSIG(st), line);
    if (WEXITSTATUS(st) == 127)
        return bs_fail(err, BS_ERR_RUNTIME, "cannot run gnuplot (install gnuplot-nox)");
    return bs_fail(err, BS_ERR_RUNTIME, "gnuplot failed (exit %d): %s", WEXITSTATUS(st), line);
}

/* Appends s[0..n) to the growing buffer b (*len used, *cap allocated). */
static int put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *p = realloc(*b, c);
        if (!p)
            return -1;
        *b = p;
        *cap = c;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = '\0';
    return 0;
}

static int put_escaped(char **b, size_t *len, size_t *cap, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        rc = e ? put(b, len, cap, e, strlen(e)) : put(b, len, cap, s, 1);
    }
    return rc;
}

/* Whether line (up to its newline) is an empty group's opening or
 * closing: gnuplot writes many `<g ...>` `</g>` pairs with nothing in them. */
static int is_g_open(const char *p, const char *eol)
{
    return !strncmp(p, "<g ", 3) && eol[-1] == '>' && eol[-2] != '/';
}

/* The ids of one figure so far. */
typedef struct {
    char **v;
    int n, cap;
} IdSet;

/* 1 when id[0..len) is in s, else 0 after adding it; -1 when out of memory. */
static int id_seen(IdSet *s, const char *id, size_t len)
{
    for (int i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == len && !memcmp(s->v[i], id, len))
            return 1;
    if (s->n == s->cap) {
        int c = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, (size_t)c * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = c;
    }
    if (!(s->v[s->n] = strndup(id, len)))
        return -1;
    s->n++;
    return 0;
}

char *figs_svg(const FigureSet *fs, int k, const char *title, BsError *err)
{
    char path[sizeof fs->dir + 32], *raw = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/fig%d.svg", fs->dir, k);
    if (fs_read_all(path, SVG_MAX, &raw, &n) != 0) {
        bs_fail(err, BS_ERR_RUNTIME, "gnuplot wrote no figure %d (%s: %s)", k, path, strerror(errno));
        return NULL;
    }
    const char *p = strstr(raw, "<svg");
    if (!p) {
        free(raw);
        bs_fail(err, BS_ERR_RUNTIME, "%s is not an SVG file", path);
        return NULL;
    }
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "f%d-", k);
    char *out = NULL;
    size_t len = 0, cap = 0;
    IdSet ids = {0};
    int dups = 0;
    int rc = put(&out, &len, &cap, "<svg class=\"plot\" role=\"img\" aria-label=\"", 41) ||
             put_escaped(&out, &len, &cap, title) || put(&out, &len, &cap, "\"", 1);
    p += 4;
    while (*p && !rc) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        /* An empty group: skip its two lines. */
        if (is_g_open(p, eol) && !strncmp(eol, "\n</g>\n", 6)) {
            p = eol + 6;
            continue;
        }
        if (!strncmp(p, "<title>", 7)) {
            rc = put(&out, &len, &cap, "<title>", 7) || put_escaped(&out, &len, &cap, title) ||
                 put(&out, &len, &cap, "</title>\n", 9);
            p = *eol ? eol + 1 : eol;
            continue;
        }
        /* Ids and the references to them get the figure's prefix. */
        for (; p < eol && !rc; p++) {
            /* The first N_ID_ATTRS are id attributes, the rest references. */
            enum { N_ID_ATTRS = 4, N_ATTRS = 7 };
            static const char *const attrs[N_ATTRS] = {" id='", " id=\"", "\tid='", "\tid=\"", "href='#", "href=\"#",
                                                       "url(#"};
            int a = 0;
            while (a < N_ATTRS && strncmp(p, attrs[a], strlen(attrs[a])))
                a++;
            if (a == N_ATTRS) {
                rc = put(&out, &len, &cap, p, 1);
                continue;
            }
            size_t m = strlen(attrs[a]);
            rc = put(&out, &len, &cap, p, m) || put(&out, &len, &cap, prefix, (size_t)plen);
            const char *v = p + m, *end = memchr(v, p[m - 1], (size_t)(eol - v));
            p += m - 1;
            if (a >= N_ID_ATTRS || !end || rc)
                continue;
            /* An id gnuplot wrote twice in the figure (`set key opaque`
             * draws the key's entries again) gets a suffix. */
            size_t idlen = (size_t)(end - v);
            int seen = id_seen(&ids, v, idlen);
            char suffix[16] = "";
            if (seen)
                snprintf(suffix, sizeof suffix, "-%d", ++dups);
            rc = seen < 0 || put(&out, &len, &cap, v, idlen) || put(&out, &len, &cap, suffix, strlen(suffix));
            p = end - 1;
        }
        if (*p && !rc) {
            rc = put(&out, &len, &cap, "\n", 1);
            p++;
        }
    }
    free(raw);
    for (int i = 0; i < ids.n; i++)
        free(ids.v[i]);
    free(ids.v);
    if (rc) {
        free(out);
        bs_fail(err, BS_ERR_RUNTIME, "out of memory");
        return NULL;
    }
    return out;
}

void figs_close(FigureSet *fs)
{
    if (fs->gp)
        fclose(fs->gp);
    fs->gp = NULL;
    if (!fs->dir[0])
        return;
    DIR *d = opendir(fs->dir);
    if (d) {
        const struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char path[sizeof fs->dir + 300];
            snprintf(path, sizeof path, "%s/%s", fs->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fs->dir);
    fs->dir[0] = '\0';
}
