/* libFuzzer harness for the config parser (config_load, lib/io/config.c).
 *
 * Input: the config file's bytes, optionally followed by --set assignments,
 * each introduced by "\n--set " (at most MAX_SETS; text after a NUL in one
 * is ignored, as on a command line). An input that starts with "--set "
 * has no file at all (config_load with path NULL).
 *
 * A config that loads must survive the round trip through its resolved
 * JSON: config_to_json, printed and loaded again, gives the same JSON and
 * the same hash (what `run --resume` relies on). */
#include "fuzz_util.h"

#include "run/config.h"

#define MAX_SETS 8
static const char SEP[] = "\n--set ";

static char g_cfg[FUZZ_PATH], g_resolved[FUZZ_PATH];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_init();
    fuzz_path(g_cfg, "config.json");
    fuzz_path(g_resolved, "resolved.json");
    return 0;
}

/* The next "\n--set " at or after p in [p, end), or end. */
static const uint8_t *next_sep(const uint8_t *p, const uint8_t *end)
{
    const size_t n = sizeof SEP - 1;
    for (; (size_t)(end - p) >= n; p++)
        if (memcmp(p, SEP, n) == 0)
            return p;
    return end;
}

/* The resolved JSON of c, printed; NULL only when out of memory. */
static char *resolved_text(const Config *c)
{
    cJSON *j = config_to_json(c);
    char *text = j ? cJSON_Print(j) : NULL;
    cJSON_Delete(j);
    return text;
}

static void check_round_trip(const Config *c)
{
    char *text = resolved_text(c);
    FUZZ_CHECK(text != NULL);
    fuzz_write(g_resolved, text, strlen(text));
    Config back;
    BsError err = {0};
    int rc = config_load(&back, g_resolved, NULL, 0, &err);
    if (rc != BS_OK) {
        fprintf(stderr, "resolved config does not load back: %s\n%s\n", err.msg, text);
        abort();
    }
    char *again = resolved_text(&back);
    FUZZ_CHECK(again != NULL);
    FUZZ_CHECK(strcmp(text, again) == 0);
    FUZZ_CHECK(config_hash(c) == config_hash(&back));
    cJSON_free(again);
    cJSON_free(text);
    fuzz_unlink(g_resolved);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *p = NULL;
    const size_t seplen = sizeof SEP - 1;
    const int have_file = !(size >= seplen - 1 && memcmp(data, SEP + 1, seplen - 1) == 0);
    char *sets[MAX_SETS];
    int n_sets = 0;

    if (have_file) {
        const uint8_t *q = next_sep(data, end);
        fuzz_write(g_cfg, data, (size_t)(q - data));
        if (q != end)
            p = q + seplen;
    } else {
        p = data + seplen - 1;
    }
    /* p: the start of the first --set, NULL when there is none */
    while (p && n_sets < MAX_SETS) {
        const uint8_t *q = next_sep(p, end);
        size_t len = (size_t)(q - p);
        sets[n_sets] = malloc(len + 1);
        FUZZ_CHECK(sets[n_sets] != NULL);
        memcpy(sets[n_sets], p, len);
        sets[n_sets][len] = 0;
        n_sets++;
        p = q != end ? q + seplen : NULL;
    }

    Config c;
    BsError err = {0};
    int rc = config_load(&c, have_file ? g_cfg : NULL, sets, n_sets, &err);
    fuzz_report("config_load", rc, err.msg);
    FUZZ_CHECK(rc == err.code);
    if (rc == BS_OK) {
        (void)config_data_root(&c);
        (void)config_dataset_name(c.data.dataset);
        check_round_trip(&c);
    } else {
        FUZZ_CHECK(rc == BS_ERR_USER || rc == BS_ERR_RUNTIME);
        FUZZ_CHECK(err.msg[0] != 0);
    }
    for (int i = 0; i < n_sets; i++)
        free(sets[i]);
    if (have_file)
        fuzz_unlink(g_cfg);
    return 0;
}
