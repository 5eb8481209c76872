/* `bnshift export RUN_DIR [--out FILE]`: the checkpoint's weights and BN
 * running statistics as a safetensors file named as PyTorch's state_dict()
 * of scripts/torch/bnshift_models.py names them (models/state_dict.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "io/fsutil.h"
#include "core/threads.h"
#include "run/checkpoint.h"
#include "models/state_dict.h"
#include "setup.h"

static const char USAGE[] =
    "usage: bnshift export RUN_DIR [--out FILE] [--threads N]\n"
    "Writes RUN_DIR/checkpoint.bin's weights, biases, norm affine parameters and BN running\n"
    "mean/var (+ num_batches_tracked) to FILE (default RUN_DIR/model.safetensors) in the\n"
    "safetensors format, named as state_dict() of scripts/torch/bnshift_models.py names them\n"
    "(NAME.weight, NAME.bias, NAME.running_mean, ... with NAME as `bnshift info` prints it);\n"
    "__metadata__ holds the run's config and the bnshift version. `bnshift eval --weights` and\n"
    "`run --init-from` read such files back.\n";

static int export_run(const char *dir, const char *out, BsError *err)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return bs_fail(err, BS_ERR_USER, "%s: not a run directory", dir);
    if (setup_checkpoint_belongs(dir, err))
        return err->code;
    char cfg[4200], ck[4200];
    snprintf(cfg, sizeof cfg, "%s/config.resolved.json", dir);
    snprintf(ck, sizeof ck, "%s/checkpoint.bin", dir);
    Experiment e;
    memset(&e, 0, sizeof e);
    CheckpointMeta meta = {0};
    char *config_text = NULL;
    size_t len;
    if (experiment_open(&e, cfg, NULL, 0, 0, err) == BS_OK && checkpoint_load(ck, &e.model, &e.opt, &meta, err) == BS_OK) {
        if (fs_read_all(cfg, CONFIG_FILE_MAX, &config_text, &len) != 0)
            bs_fail(err, BS_ERR_USER, "%s: cannot read it: %s", cfg, strerror(errno));
    }
    if (err->code == BS_OK) {
        char epoch[32];
        snprintf(epoch, sizeof epoch, "%d", meta.epoch);
        const char *keys[] = {"format", "bnshift_version", "config", "epoch"};
        const char *values[] = {"pt", BS_VERSION, config_text, epoch};
        if (state_dict_save(out, &e.model, e.opt.steps, keys, values, 4, err) == BS_OK)
            printf("%s: %zu parameters and the BN running statistics of epoch %d\n", out, e.model.n_params,
                   meta.epoch);
    }
    free(config_text);
    experiment_close(&e);
    return err->code;
}

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
            if (!out[0])
                return cli_error(BS_ERR_USER, "export: --out: empty path, expected a file");
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (cli_parse_int("export", argv[i], argv[i + 1], 1, 1024, &threads))
                return BS_ERR_USER;
            i++;
        } else if (argv[i][0] != '-' && !dir && argv[i][0]) {
            dir = argv[i];
        } else {
            return cli_error(BS_ERR_USER, "export: unexpected argument '%s' (see bnshift export --help)", argv[i]);
        }
    }
    if (!dir)
        return cli_error(BS_ERR_USER, "export: missing RUN_DIR (see bnshift export --help)");
    char path[4200];
    if (!out) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        out = path;
    }
    BsError err = {0};
    if (bs_threads_start(threads ? threads : bs_get_threads(), &err) || export_run(dir, out, &err))
        return cli_error(err.code, "%s", err.msg);
    return 0;
}
