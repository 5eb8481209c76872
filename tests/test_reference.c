/* The user reference inside the repository: docs/REFERENCE.md's config-key
 * table is the schema's (config_reference_table, `bnshift help config`),
 * every key is documented, and the man page the binary writes renders. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/config.h"
#include "suites.h"
#include "test_util.h"

#define BEGIN "<!-- config-keys:begin -->\n"
#define END "<!-- config-keys:end -->"

START_TEST(reference_md_holds_the_schema_table)
{
    char *doc = slurp_file("docs/REFERENCE.md");
    ck_assert_ptr_nonnull(doc);
    char *b = strstr(doc, BEGIN), *e = strstr(doc, END);
    ck_assert_msg(b && e && e > b, "docs/REFERENCE.md lacks the config-keys markers");
    b += strlen(BEGIN);
    *e = '\0';
    char *table = config_reference_table();
    ck_assert_ptr_nonnull(table);
    ck_assert_msg(!strcmp(b, table),
                  "docs/REFERENCE.md's config-key table differs from the schema: run scripts/update_reference.sh");
    /* One row per key, each with a full dotted name and a meaning. */
    int rows = 0;
    for (char *line = strtok(table, "\n"); line; line = strtok(NULL, "\n"), rows++)
        if (rows >= 2)
            ck_assert_msg(line[0] == '|' && line[2] == '`' && !strstr(line, "| (null) |") &&
                              line[strlen(line) - 3] != '|',
                          "row without a meaning: %s", line);
    ck_assert_int_ge(rows - 2, 40);
    free(table);
    free(doc);
}
END_TEST

START_TEST(help_config_prints_the_same_table)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s help config > /tmp/bnshift-help-config-%d.txt", bnshift_bin(), (int)getpid());
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "/tmp/bnshift-help-config-%d.txt", (int)getpid());
    char *out = slurp_file(cmd), *table = config_reference_table();
    remove(cmd);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(out, table);
    ck_assert_ptr_nonnull(strstr(out, "| `train.schedule.milestones` |"));
    ck_assert_ptr_nonnull(strstr(out, "| `data.synthetic.noise` |"));
    free(out);
    free(table);
}
END_TEST

START_TEST(man_page_renders)
{
    if (system("command -v man >/dev/null 2>&1") != 0) {
        ck_assert_msg(getenv("CI") == NULL, "man is not installed (.ci/run installs man-db)");
        return;
    }
    char cmd[1024], path[128];
    snprintf(path, sizeof path, "/tmp/bnshift-man-%d.txt", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s help man | MANWIDTH=100 man -l - > %s 2>&1", bnshift_bin(), path);
    ck_assert_int_eq(system(cmd), 0);
    char *page = slurp_file(path);
    remove(path);
    ck_assert_ptr_nonnull(page);
    static const char *const want[] = {"BNSHIFT(1)", "SYNOPSIS", "CONFIG KEYS", "train.lr", "EXIT STATUS",
                                       "plot-data", "nesm_std"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(page, want[i]), "man page lacks '%s'", want[i]);
    ck_assert_msg(!strstr(page, "warning"), "troff warned: %s", page);
    free(page);
}
END_TEST

Suite *reference_suite(void)
{
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("docs");
    tcase_add_test(tc, reference_md_holds_the_schema_table);
    tcase_add_test(tc, help_config_prints_the_same_table);
    tcase_add_test(tc, man_page_renders);
    suite_add_tcase(s, tc);
    return s;
}
