/* The bad input catalogue (tests/bad_inputs/, see its README.md): every case
 * is a directory NNN-name holding `cmd` (bnshift's arguments), `expect` (the
 * exit code, then a substring of the message), an optional `setup` script
 * and input files. Each case runs in a fresh copy of its directory and must
 * exit with its code (never a crash), print exactly one line on stderr
 * containing the substring, leave no @OUT@ directory and leave every file it
 * was given unchanged (so a refused run, resume or eval touched nothing). */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "suites.h"
#include "test_util.h"

#define CATALOGUE "tests/bad_inputs"
#define COMMON CATALOGUE "/common" /* files every case gets (tiny.json) */
#define MAX_CASES 256
#define NAME_LEN 96
#define PATH_LEN 1024
#define LINE_LEN 2048

/* snprintf that fails the test rather than cut a path or command short. */
#define FMT(buf, cap, ...) \
    ck_assert_msg(snprintf((buf), (cap), __VA_ARGS__) < (int)(cap), "path or command too long")

/* The case directories, sorted, found when the suite is built (before any
 * fork) from the repository root, where tests run. BAD_INPUT=text keeps the
 * cases whose name contains text, to run one while working on it. */
static char all_cases[MAX_CASES][NAME_LEN], cases[MAX_CASES][NAME_LEN];
static int n_all, n_cases;

/* NNN-short-name: a number (fixed width, so names sort in order), a dash. */
static int is_case_name(const char *name)
{
    size_t digits = strspn(name, "0123456789");
    return digits >= 2 && name[digits] == '-' && strlen(name) < NAME_LEN;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void find_cases(void)
{
    DIR *d = opendir(CATALOGUE);
    n_all = n_cases = 0;
    if (!d)
        return;
    for (const struct dirent *e; (e = readdir(d)) != NULL && n_all < MAX_CASES;) {
        char path[PATH_LEN];
        struct stat st;
        snprintf(path, sizeof path, CATALOGUE "/%s", e->d_name);
        if (is_case_name(e->d_name) && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            snprintf(all_cases[n_all++], NAME_LEN, "%s", e->d_name);
    }
    closedir(d);
    qsort(all_cases, (size_t)n_all, NAME_LEN, cmp_names);
    const char *only = getenv("BAD_INPUT");
    for (int i = 0; i < n_all; i++)
        if (!only || strstr(all_cases[i], only))
            memcpy(cases[n_cases++], all_cases[i], NAME_LEN);
}

/* ---- one case's state ---------------------------------------------------- */

typedef struct {
    const char *name;
    char root[64];       /* mkdtemp'd; holds dir/ and the stderr files */
    char dir[PATH_LEN];  /* @DIR@: the copy of the case, the command's cwd */
    char out[PATH_LEN];  /* @OUT@: must not exist afterwards */
    char bin[PATH_MAX];  /* bnshift, absolute (commands run elsewhere) */
} Case;

/* s with @DIR@ and @OUT@ replaced, into buf. */
static void substitute(const Case *c, const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s; s++) {
        const char *rep = !strncmp(s, "@DIR@", 5) ? c->dir : !strncmp(s, "@OUT@", 5) ? c->out : NULL;
        size_t len = rep ? strlen(rep) : 1;
        ck_assert_msg(n + len < cap, "%s: line too long after substitution", c->name);
        if (rep) {
            memcpy(buf + n, rep, len);
            s += 4;
        } else {
            buf[n] = *s;
        }
        n += len;
    }
    buf[n] = 0;
}

/* Line `which` (0-based) of a case file, without its newline; 0 if absent. */
static int case_line(const Case *c, const char *file, int which, char *buf, size_t cap)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, CATALOGUE "/%s/%s", c->name, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int found = 0;
    for (int i = 0; i <= which && fgets(buf, (int)cap, f); i++)
        found = i == which;
    fclose(f);
    if (found)
        buf[strcspn(buf, "\r\n")] = 0;
    return found;
}

static void shell(const Case *c, const char *cmd)
{
    ck_assert_msg(system(cmd) == 0, "%s: '%s' failed", c->name, cmd);
}

/* A path inside the case directory. */
static void in_dir(const Case *c, const char *rel, char *buf)
{
    FMT(buf, PATH_LEN, "%s/%s", c->dir, rel);
}

/* ---- file makers for the setup script ------------------------------------ */

static unsigned char *read_all(const Case *c, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: setup: cannot read %s", c->name, path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)(n > 0 ? n : 0) + 1);
    ck_assert_ptr_nonnull(buf);
    *len = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    return buf;
}

static void write_all(const Case *c, const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "%s: setup: cannot write %s", c->name, path);
    ck_assert(fwrite(buf, 1, len, f) == len);
    ck_assert_int_eq(fclose(f), 0);
}

/* A pixel value that varies with sample and position. */
static unsigned char pixel(long i, long j)
{
    return (unsigned char)((i * 37 + j * 11) & 0xff);
}

/* n CIFAR-10 records: label i % 10 (or `label` for all), then 3072 pixels. */
static void make_cifar(const Case *c, const char *path, long n, long label)
{
    enum { REC = 1 + 3072 };
    unsigned char *buf = malloc((size_t)n * REC + 1);
    ck_assert_ptr_nonnull(buf);
    for (long i = 0; i < n; i++) {
        buf[i * REC] = (unsigned char)(label >= 0 ? label : i % 10);
        for (long j = 1; j < REC; j++)
            buf[i * REC + j] = pixel(i, j);
    }
    write_all(c, path, buf, (size_t)n * REC);
    free(buf);
}

static void put_be32(unsigned char *b, unsigned long v)
{
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
}

/* An IDX file of rank 3 (n images of h x w) or rank 1 (n labels). */
static void make_idx(const Case *c, const char *path, int rank, long n, long h, long w, long label)
{
    size_t body = rank == 3 ? (size_t)(n * h * w) : (size_t)n, head = 4 + 4 * (size_t)rank;
    unsigned char *buf = malloc(head + body + 1);
    ck_assert_ptr_nonnull(buf);
    unsigned char magic[4] = {0, 0, 8, (unsigned char)rank};
    memcpy(buf, magic, 4);
    put_be32(buf + 4, (unsigned long)n);
    if (rank == 3) {
        put_be32(buf + 8, (unsigned long)h);
        put_be32(buf + 12, (unsigned long)w);
    }
    for (size_t j = 0; j < body; j++)
        buf[head + j] = rank == 3 ? pixel((long)j, 0) : (unsigned char)(label >= 0 ? label : (long)j % 10);
    write_all(c, path, buf, head + body);
    free(buf);
}

/* A w x h 8-bit grayscale PNG. */
static void make_png(const Case *c, const char *path, long w, long h)
{
    unsigned char *px = malloc((size_t)(w * h) + 1);
    ck_assert_ptr_nonnull(px);
    for (long j = 0; j < w * h; j++)
        px[j] = pixel(j, j / w);
    (void)c;
    write_png_file(path, (int)w, (int)h, PNG_FORMAT_GRAY, px, NULL, 0);
    free(px);
}

/* path -> path.gz, the plain file removed (as a download would leave it). */
static void make_gzip(const Case *c, const char *path)
{
    size_t len;
    unsigned char *buf = read_all(c, path, &len);
    char gz[PATH_LEN + 3];
    snprintf(gz, sizeof gz, "%s.gz", path);
    gzFile f = gzopen(gz, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(len == 0 || gzwrite(f, buf, (unsigned)len) == (int)len);
    ck_assert_int_eq(gzclose(f), Z_OK);
    ck_assert_int_eq(unlink(path), 0);
    free(buf);
}

/* An offset into a file of len bytes: negative counts from the end. */
static size_t file_offset(const Case *c, long off, size_t len)
{
    long at = off < 0 ? (long)len + off : off;
    ck_assert_msg(at >= 0 && (size_t)at < len, "%s: setup: offset %ld outside a file of %zu bytes", c->name,
                  off, len);
    return (size_t)at;
}

/* The first occurrence of `old` in the file becomes `new` (binary files
 * too: a safetensors header follows its length's zero bytes). */
static void replace_text(const Case *c, const char *path, const char *old, const char *new)
{
    size_t len;
    unsigned char *buf = read_all(c, path, &len);
    buf[len] = 0;
    const char *at = memmem(buf, len, old, strlen(old));
    ck_assert_msg(at != NULL, "%s: setup: '%s' not found in %s", c->name, old, path);
    size_t pre = (size_t)(at - (const char *)buf), ol = strlen(old), nl = strlen(new);
    unsigned char *out = malloc(len - ol + nl + 1);
    ck_assert_ptr_nonnull(out);
    memcpy(out, buf, pre);
    memcpy(out + pre, new, nl);
    memcpy(out + pre + nl, at + ol, len - pre - ol);
    write_all(c, path, out, len - ol + nl);
    free(out);
    free(buf);
}

static long num_arg(const Case *c, const char *s)
{
    char *end;
    long v = s ? strtol(s, &end, 0) : 0;
    ck_assert_msg(s && *s && !*end, "%s: setup: '%s' is not a number", c->name, s ? s : "(missing)");
    return v;
}

/* One line of the setup script (see the README for the words). */
static void setup_line(const Case *c, char *line)
{
    char cmd[2 * LINE_LEN + 2 * PATH_LEN];
    if (!strncmp(line, "bnshift ", 8)) { /* the rest is a shell command line */
        FMT(cmd, sizeof cmd, "cd '%s' && '%s' %s >/dev/null 2>'%s/setup-stderr.txt' </dev/null", c->dir, c->bin,
            line + 8, c->root);
        int st = system(cmd);
        char errpath[PATH_LEN];
        snprintf(errpath, sizeof errpath, "%s/setup-stderr.txt", c->root);
        char *err = slurp_file(errpath);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: setup '%s' failed: %s", c->name, line,
                      err ? err : "");
        free(err);
        return;
    }
    char *word[6] = {NULL};
    int n = 0;
    for (char *t = strtok(line, " \t"); t && n < 6; t = strtok(NULL, " \t"))
        word[n++] = t;
    ck_assert_msg(n >= 2, "%s: setup: '%s' needs a path", c->name, word[0]);
    char path[PATH_LEN];
    in_dir(c, word[1], path);
    const char *w = word[0];
    if (!strcmp(w, "mkdir")) {
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
        shell(c, cmd);
    } else if (!strcmp(w, "remove")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
        shell(c, cmd);
    } else if (!strcmp(w, "cifar")) {
        make_cifar(c, path, num_arg(c, word[2]), n > 3 ? num_arg(c, word[3]) : -1);
    } else if (!strcmp(w, "idx-images")) {
        make_idx(c, path, 3, num_arg(c, word[2]), num_arg(c, word[3]), num_arg(c, word[4]), -1);
    } else if (!strcmp(w, "idx-labels")) {
        make_idx(c, path, 1, num_arg(c, word[2]), 0, 0, n > 3 ? num_arg(c, word[3]) : -1);
    } else if (!strcmp(w, "png")) {
        make_png(c, path, num_arg(c, word[2]), num_arg(c, word[3]));
    } else if (!strcmp(w, "gzip")) {
        make_gzip(c, path);
    } else if (!strcmp(w, "truncate")) {
        long size = num_arg(c, word[2]);
        struct stat st;
        ck_assert_msg(stat(path, &st) == 0, "%s: setup: no %s", c->name, path);
        ck_assert_int_eq(truncate(path, size < 0 ? st.st_size + size : size), 0);
    } else if (!strcmp(w, "flip")) {
        size_t len;
        unsigned char *buf = read_all(c, path, &len);
        buf[file_offset(c, num_arg(c, word[2]), len)] ^= 0xff;
        write_all(c, path, buf, len);
        free(buf);
    } else if (!strcmp(w, "replace")) {
        ck_assert_msg(n == 4, "%s: setup: replace FILE OLD NEW", c->name);
        replace_text(c, path, word[2], word[3]);
    } else if (!strcmp(w, "repeat")) { /* OLD becomes N copies of itself: an oversized field */
        ck_assert_msg(n == 4, "%s: setup: repeat FILE OLD N", c->name);
        long times = num_arg(c, word[3]);
        ck_assert_msg(times >= 1 && times <= 1000000, "%s: setup: repeat count %ld", c->name, times);
        size_t ol = strlen(word[2]);
        char *many = malloc(ol * (size_t)times + 1);
        ck_assert_ptr_nonnull(many);
        for (long k = 0; k < times; k++)
            memcpy(many + (size_t)k * ol, word[2], ol);
        many[ol * (size_t)times] = 0;
        replace_text(c, path, word[2], many);
        free(many);
    } else if (!strcmp(w, "crlf")) { /* every LF becomes CR LF, as a Windows editor saves it */
        size_t len, k = 0;
        unsigned char *buf = read_all(c, path, &len), *out = malloc(2 * len + 1);
        ck_assert_ptr_nonnull(out);
        for (size_t j = 0; j < len; j++) {
            if (buf[j] == '\n')
                out[k++] = '\r';
            out[k++] = buf[j];
        }
        write_all(c, path, out, k);
        free(out);
        free(buf);
    } else if (!strcmp(w, "copy")) {
        ck_assert_msg(n == 3, "%s: setup: copy SRC DST", c->name);
        char dst[PATH_LEN];
        in_dir(c, word[2], dst);
        size_t len;
        unsigned char *buf = read_all(c, path, &len);
        write_all(c, dst, buf, len);
        free(buf);
    } else {
        ck_abort_msg("%s: setup: unknown word '%s'", c->name, w);
    }
}

static void run_setup(const Case *c)
{
    char path[PATH_LEN], raw[LINE_LEN], line[LINE_LEN];
    snprintf(path, sizeof path, CATALOGUE "/%s/setup", c->name);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(raw, sizeof raw, f)) {
        raw[strcspn(raw, "\r\n")] = 0;
        const char *s = raw + strspn(raw, " \t");
        if (!*s || *s == '#')
            continue;
        substitute(c, s, line, sizeof line);
        setup_line(c, line);
    }
    fclose(f);
}

/* ---- what the directory holds -------------------------------------------- */

typedef struct {
    char *text;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = 2 * (b->len + n + 1);
        char *more = realloc(b->text, b->cap);
        ck_assert_ptr_nonnull(more);
        b->text = more;
    }
    memcpy(b->text + b->len, s, n + 1);
    b->len += n;
}

static uLong file_crc(const char *path)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    FILE *f = fopen(path, "rb");
    unsigned char chunk[65536];
    size_t n;
    while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        crc = crc32(crc, chunk, (uInt)n);
    if (f)
        fclose(f);
    return crc;
}

/* One line per entry under dir (path; for files size, CRC, inode, mtime), sorted
 * by name. */
static void listing(const char *dir, const char *rel, Buf *b)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char(*names)[256] = NULL;
    int n = 0;
    for (const struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char(*more)[256] = realloc(names, sizeof *names * (size_t)(n + 1));
        ck_assert_ptr_nonnull(more);
        names = more;
        snprintf(names[n++], sizeof *names, "%s", e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(names, (size_t)n, sizeof *names, cmp_names);
    for (int i = 0; i < n; i++) {
        char path[PATH_LEN], sub[PATH_LEN], line[PATH_LEN + 64];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            snprintf(line, sizeof line, "%s/\n", sub);
            buf_add(b, line);
            listing(path, sub, b);
        } else {
            /* inode and mtime too: a file rewritten with the same bytes was touched */
            snprintf(line, sizeof line, "%s %lld bytes crc %08lx inode %llu mtime %lld.%09ld\n", sub,
                     (long long)st.st_size, S_ISREG(st.st_mode) ? file_crc(path) : 0UL,
                     (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
            buf_add(b, line);
        }
    }
    free(names);
}

static char *snapshot(const char *dir)
{
    Buf b = {NULL, 0, 0};
    buf_add(&b, "");
    listing(dir, "", &b);
    return b.text;
}

/* The first line where two listings differ, for the failure message. */
static void first_difference(const char *a, const char *b, char *buf, size_t cap)
{
    while (*a && *a == *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        if (!ea || !eb || ea - a != eb - b || strncmp(a, b, (size_t)(ea - a)))
            break;
        a = ea + 1;
        b = eb + 1;
    }
    snprintf(buf, cap, "before: '%.*s', after: '%.*s'", (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

/* ---- the tests ------------------------------------------------------------ */

static void prepare(Case *c, const char *name)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    snprintf(c->root, sizeof c->root, "/tmp/bnshift-bad-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(c->root));
    snprintf(c->dir, sizeof c->dir, "%s/%s", c->root, name);
    FMT(c->out, sizeof c->out, "%s/out", c->dir);
    ck_assert_msg(realpath(bnshift_bin(), c->bin) != NULL, "no bnshift binary at %s (run make)", bnshift_bin());
    char cmd[4 * PATH_LEN];
    FMT(cmd, sizeof cmd,
        "mkdir '%s' && cp -R " COMMON "/. '%s' && cp -R " CATALOGUE "/%s/. '%s' && "
        "rm -f '%s/cmd' '%s/expect' '%s/setup'",
        c->dir, c->dir, name, c->dir, c->dir, c->dir, c->dir);
    shell(c, cmd);
}

START_TEST(bad_input_case)
{
    Case c;
    prepare(&c, cases[_i]);
    char raw[LINE_LEN], args[LINE_LEN], code_line[64], needle[LINE_LEN];
    ck_assert_msg(case_line(&c, "cmd", 0, raw, sizeof raw), "%s: no cmd", c.name);
    ck_assert_msg(case_line(&c, "expect", 0, code_line, sizeof code_line) &&
                      case_line(&c, "expect", 1, needle, sizeof needle) && *needle,
                  "%s: expect must hold an exit code and a message substring", c.name);
    substitute(&c, raw, args, sizeof args);
    char expect_text[LINE_LEN];
    substitute(&c, needle, expect_text, sizeof expect_text);
    int want = atoi(code_line);
    run_setup(&c);
    char *before = snapshot(c.dir);

    char cmd[2 * LINE_LEN + 2 * PATH_LEN], errpath[PATH_LEN];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", c.root);
    FMT(cmd, sizeof cmd, "cd '%s' && '%s' %s >/dev/null 2>'%s' </dev/null", c.dir, c.bin, args, errpath);
    int st = system(cmd);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char *err = slurp_file(errpath);
    const char *e = err ? err : "";
    size_t len = strlen(e);

    ck_assert_msg(rc < 128, "%s: crashed (exit %d), stderr: %s", c.name, rc, e);
    ck_assert_msg(rc == want, "%s: exit %d, expected %d; stderr: %s", c.name, rc, want, e);
    ck_assert_msg(len > 0, "%s: exit %d with nothing on stderr", c.name, rc);
    const char *nl = strchr(e, '\n');
    ck_assert_msg(!nl || nl == e + len - 1, "%s: more than one line on stderr:\n%s", c.name, e);
    ck_assert_msg(!strncmp(e, "bnshift: ", 9), "%s: message does not start with 'bnshift: ': %s", c.name, e);
    ck_assert_msg(strstr(e, expect_text) != NULL, "%s: message '%.*s' lacks '%s'", c.name, (int)strcspn(e, "\n"),
                  e, expect_text);
    struct stat sb;
    ck_assert_msg(stat(c.out, &sb) != 0, "%s: left an output directory %s", c.name, c.out);
    char *after = snapshot(c.dir);
    char diff[2 * PATH_LEN];
    first_difference(before, after, diff, sizeof diff);
    ck_assert_msg(!strcmp(before, after), "%s: the case directory changed (%s)", c.name, diff);

    free(before);
    free(after);
    free(err);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c.root); /* a failed case keeps its copy for a look */
    shell(&c, cmd);
}
END_TEST

/* The catalogue is there, big enough, well-formed and listed in its README. */
START_TEST(catalogue_is_complete)
{
    ck_assert_msg(n_all >= 45, "%d cases in " CATALOGUE " (run the tests from the repository root)", n_all);
    ck_assert_msg(n_all < MAX_CASES, "%d cases or more: raise MAX_CASES", MAX_CASES);
    char *readme = slurp_file(CATALOGUE "/README.md");
    ck_assert_msg(readme != NULL, CATALOGUE "/README.md is missing");
    for (int i = 0; i < n_all; i++) {
        Case c = {.name = all_cases[i]};
        char line[LINE_LEN], row[NAME_LEN + 8];
        ck_assert_msg(case_line(&c, "cmd", 0, line, sizeof line), "%s: no cmd", c.name);
        ck_assert_msg(case_line(&c, "expect", 0, line, sizeof line) && (!strcmp(line, "1") || !strcmp(line, "2")),
                      "%s: expect must start with exit code 1 or 2", c.name);
        snprintf(row, sizeof row, "| %s |", c.name);
        ck_assert_msg(strstr(readme, row) != NULL, "%s is not in the README's table", c.name);
    }
    free(readme);
}
END_TEST

Suite *bad_inputs_suite(void)
{
    find_cases();
    Suite *s = suite_create("bad_inputs");
    TCase *tc = tcase_create("catalogue");
    tcase_set_timeout(tc, 120); /* per case; each takes well under a second */
    tcase_add_test(tc, catalogue_is_complete);
    tcase_add_loop_test(tc, bad_input_case, 0, n_cases);
    suite_add_tcase(s, tc);
    return s;
}
