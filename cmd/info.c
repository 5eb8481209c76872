/* `bnshift info CONFIG.json`: the model a config builds, layer by layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "setup.h"

int cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: bnshift info CONFIG.json [--set key.path=value]...\n"
                   "Prints the model the config builds: each layer, its norm type, parameters and\n"
                   "multiply-accumulates per image, and totals.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--set") && i + 1 < argc && n_sets < 64)
            sets[n_sets++] = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else
            return cli_error(BS_ERR_USER, "info: unexpected argument '%s' (see bnshift info --help)", argv[i]);
    }
    if (!path)
        return cli_error(BS_ERR_USER, "info: missing CONFIG.json");
    BsError err = {0};
    Config c;
    ExperimentData x;
    Model m;
    memset(&x, 0, sizeof x);
    memset(&m, 0, sizeof m);
    if (config_load(&c, path, sets, n_sets, &err) || setup_data(&c, &x, &err) || setup_model(&c, &x, 0, &m, &err)) {
        setup_data_free(&x);
        return cli_error(err.code, "%s", err.msg);
    }
    const Tensor *in = &m.tensors[0];
    printf("%s: input %dx%dx%d, %d classes\n\n", c.name, in->c, in->h, in->w,
           (int)tensor_numel(&m.tensors[m.output]));
    printf("%-30s %-6s %-5s %-14s %10s %12s\n", "layer", "op", "depth", "output", "params", "MACs");
    long total_macs = 0;
    int n_bn = 0, n_gn = 0;
    for (int i = 0; i < m.n_ops; i++) {
        const Op *op = &m.ops[i];
        if (op->kind == OP_RELU || op->kind == OP_RELU6 || op->kind == OP_ADD)
            continue; /* keep the table to layers with a name */
        const Tensor *t = &m.tensors[op->out];
        char shape[32], depth[8] = "";
        snprintf(shape, sizeof shape, "%dx%dx%d", t->c, t->h, t->w);
        if (op->norm_depth)
            snprintf(depth, sizeof depth, "%d", op->norm_depth);
        char kind[16];
        if (op->kind == OP_GN) /* the group count tells GN, LN (1) and IN (C) apart */
            snprintf(kind, sizeof kind, "gn/%d", op->u.gn.G);
        else if (op->kind == OP_CONV && op->u.conv.groups > 1) /* grouped; groups = channels: depthwise */
            snprintf(kind, sizeof kind, "conv/%d", op->u.conv.groups);
        else
            snprintf(kind, sizeof kind, "%s", op_kind_name(op->kind));
        long macs = op_macs(op);
        total_macs += macs;
        n_bn += op->kind == OP_BN;
        n_gn += op->kind == OP_GN || op->kind == OP_LRN;
        printf("%-30s %-6s %-5s %-14s %10zu %12ld\n", op->name, kind, depth, shape, op->n_w + op->n_b, macs);
    }
    printf("\ntotal: %zu parameters (%.3f M), %ld MACs per image (%.1f M); norms: %d BN, %d batch-free\n",
           m.n_params, m.n_params / 1e6, total_macs, total_macs / 1e6, n_bn, n_gn);
    model_free(&m);
    setup_data_free(&x);
    return 0;
}
