#include "runner.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/fault.h"
#include "run/checkpoint.h"

typedef struct {
    CsvLog metrics, shift, ranks;
    ShiftStats stats;
    double *mu, *var; /* one layer's expected statistics */
    /* Data-parallel: every rank's running statistics (rank order) and this
     * rank's own while rank 0's are in the model for an evaluation. */
    float *all_stats, *own_stats;
} RunState;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void join(char *buf, size_t cap, const char *dir, const char *file)
{
    snprintf(buf, cap, "%s/%s", dir, file);
}

/* One shift.csv row per BN layer for one evaluated set; returns the mean
 * esm_mean over layers and adds skipped nesm channels to *skipped. */
static double write_shift_rows(RunState *st, const Model *m, int epoch, const char *set, int *skipped)
{
    const ShiftStats *s = &st->stats;
    double sum = 0;
    for (int l = 0; l < s->n_layers; l++) {
        const Op *op = &m->ops[s->op_index[l]];
        const int C = op->u.bn.C;
        Esm e;
        shift_stats_esm(s, m, l, st->mu, st->var, &e);
        *skipped += e.skipped;
        sum += e.esm_mean;
        csv_printf(&st->shift, "%d,%s,%d,%s,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", epoch, set, l,
                   op->name, op->norm_depth, C, e.esm_mean, e.esm_std, e.esm_var, e.rms_mean,
                   e.rms_std, e.nesm_mean, e.nesm_std);
    }
    return s->n_layers ? sum / s->n_layers : 0;
}

/* Inference passes over every evaluation set. */
static int evaluate_sets(Runner *r, RunState *st, EpochReport *rep, BsError *err)
{
    Trainer *t = &r->trainer;
    for (int i = 0; i < r->n_eval; i++) {
        EvalResult res;
        SampleSet set = r->eval[i].set;
        set.comm = r->comm;
        evaluate(t->m, &set, t->x, t->y, &st->stats, &res);
        if (!isfinite(res.loss)) {
            int op = model_find_nonfinite(t->m, 1);
            if (t->m->exec_failed)
                return bs_fail(err, BS_ERR_RUNTIME, "out of memory at epoch %d on the %s set (reference convolution "
                               "fallback)", rep->epoch, r->eval[i].name);
            return bs_fail(err, BS_ERR_RUNTIME,
                           "non-finite inference output at epoch %d on the %s set (first in layer %s)",
                           rep->epoch, r->eval[i].name, op >= 0 ? t->m->ops[op].name : "fc");
        }
        rep->set_loss[i] = res.loss;
        rep->set_err[i] = res.err;
        if (!r->metrics_v1 && !r->skip_bstat) {
            EvalResult bat;
            if (evaluate_batch_stats(t->m, &set, t->x, t->y, &bat, err))
                return err->code;
            rep->set_bstat_loss[i] = bat.loss;
            rep->set_bstat_err[i] = bat.err;
            rep->bstat_done = 1;
        }
        if (comm_writes(r->comm))
            rep->mean_esm_mean[i] = write_shift_rows(st, t->m, rep->epoch, r->eval[i].name, &rep->nesm_skipped);
    }
    rep->evaluated = 1;
    return BS_OK;
}

/* RMS over ranks of the L2 distance between a rank's vector (v(k, c)) and
 * the ranks' mean, over C channels. */
static double spread(const float *all, size_t n_stats, int K, size_t off, int C, int as_std)
{
    double total = 0;
    for (int c = 0; c < C; c++) {
        double mean = 0;
        for (int k = 0; k < K; k++) {
            const double v = all[(size_t)k * n_stats + off + (size_t)c];
            mean += as_std ? sqrt(fmax(v, 0.0)) : v;
        }
        mean /= K;
        for (int k = 0; k < K; k++) {
            const double v = all[(size_t)k * n_stats + off + (size_t)c];
            const double d = (as_std ? sqrt(fmax(v, 0.0)) : v) - mean;
            total += d * d;
        }
    }
    return sqrt(total / K);
}

/* ranks.csv rows of one evaluated epoch (rank 0). */
static void write_rank_rows(RunState *st, const Model *m, const Comm *comm, int epoch)
{
    const ShiftStats *s = &st->stats;
    for (int l = 0; l < s->n_layers; l++) {
        const Op *op = &m->ops[s->op_index[l]];
        const int C = op->u.bn.C;
        csv_printf(&st->ranks, "%d,%d,%s,%d,%d,%d,%.9g,%.9g\n", epoch, l, op->name, op->norm_depth, C, comm->size,
                   spread(st->all_stats, m->n_stats, comm->size, op->stat_off, C, 0),
                   spread(st->all_stats, m->n_stats, comm->size, op->stat_off + (size_t)C, C, 1));
    }
}

/* Evaluates rank 0's model on every rank of a data-parallel run (its
 * running estimates, as a single process would hold them), then puts
 * this rank's own back. */
static int evaluate_ranks(Runner *r, RunState *st, EpochReport *rep, BsError *err)
{
    Model *m = r->trainer.m;
    if (!comm_is_multi(r->comm))
        return evaluate_sets(r, st, rep, err);
    memcpy(st->own_stats, m->stats, sizeof(float) * m->n_stats);
    memcpy(m->stats, st->all_stats, sizeof(float) * m->n_stats);
    int rc = evaluate_sets(r, st, rep, err);
    memcpy(m->stats, st->own_stats, sizeof(float) * m->n_stats);
    if (rc == BS_OK && comm_writes(r->comm))
        write_rank_rows(st, m, r->comm, rep->epoch);
    return rc;
}

/* The <set>_loss,<set>_err columns (bstat: <set>_bstat_loss,
 * <set>_bstat_err): empty when the set (or its bstat pass) was not
 * evaluated this epoch. */
static void write_set_columns(Runner *r, RunState *st, const EpochReport *rep, const char *name, int bstat)
{
    for (int i = 0; i < r->n_eval; i++)
        if (rep->evaluated && (!bstat || rep->bstat_done) && !strcmp(r->eval[i].name, name)) {
            csv_printf(&st->metrics, ",%.9g,%.9g", bstat ? rep->set_bstat_loss[i] : rep->set_loss[i],
                       bstat ? rep->set_bstat_err[i] : rep->set_err[i]);
            return;
        }
    csv_printf(&st->metrics, ",,");
}

static int write_metrics_row(Runner *r, RunState *st, const EpochReport *rep)
{
    if (!comm_writes(r->comm))
        return BS_OK;
    csv_printf(&st->metrics, "%d,%.7g,%.9g,%.9g", rep->epoch, rep->lr, rep->train_batch_loss,
               rep->train_batch_err);
    write_set_columns(r, st, rep, "train", 0);
    write_set_columns(r, st, rep, "test", 0);
    csv_printf(&st->metrics, ",%.3f,%.1f", rep->seconds, rep->images_per_s);
    if (!r->metrics_v1) {
        write_set_columns(r, st, rep, "train", 1);
        write_set_columns(r, st, rep, "test", 1);
    }
    csv_printf(&st->metrics, "\n");
    return BS_OK;
}

static int save_checkpoint(Runner *r, RunState *st, int epoch, BsError *err)
{
    CheckpointMeta meta = {.config_hash = r->config_hash, .epoch = epoch, .threads = r->threads,
                           .rng = *r->trainer.rng};
    if (csv_commit(&st->metrics, &meta.metrics_len, err) || csv_commit(&st->shift, &meta.shift_len, err))
        return err->code;
    if (comm_is_multi(r->comm)) {
        meta.ranks = r->comm->size;
        meta.rank_stats = st->all_stats + r->trainer.m->n_stats;
        if (csv_commit(&st->ranks, &meta.ranks_len, err))
            return err->code;
    }
    char path[4096];
    join(path, sizeof path, r->out_dir, "checkpoint.bin");
    return checkpoint_save(path, r->trainer.m, r->trainer.o, &meta, err);
}

/* The epoch's rows and, on checkpoint epochs, the checkpoint: rank 0's
 * work, whose outcome every rank of a data-parallel run then shares. */
static int write_logs(Runner *r, RunState *st, const EpochReport *rep, int checkpointing, BsError *err)
{
    int rc = BS_OK;
    if (comm_writes(r->comm)) {
        write_metrics_row(r, st, rep);
        /* shift.csv first: a reader (plot-data on a live run) then never sees an
         * epoch in metrics.csv whose shift rows are not all there yet. */
        long len;
        rc = csv_commit(&st->shift, &len, err) || csv_commit(&st->metrics, &len, err) ||
                     (comm_is_multi(r->comm) && csv_commit(&st->ranks, &len, err))
                 ? err->code
                 : BS_OK;
        if (rc == BS_OK)
            bs_fault_point("after-csv", rep->epoch, NULL);
        if (rc == BS_OK && checkpointing)
            rc = save_checkpoint(r, st, rep->epoch, err);
    }
    if (comm_is_multi(r->comm)) {
        r->comm->bcast(r->comm, &rc, sizeof rc, 0);
        if (rc != BS_OK && !comm_writes(r->comm))
            bs_fail(err, rc, "rank 0 could not write the run directory");
    }
    return rc;
}

static int run_epoch(Runner *r, RunState *st, int epoch, BsError *err)
{
    Trainer *t = &r->trainer;
    EpochReport rep = {.epoch = epoch};
    EpochStats es;
    double t0 = now_seconds();
    bs_fault_hang("hang-epoch", epoch);
    if (trainer_epoch(t, epoch - 1, &es, err) != BS_OK)
        return err->code;
    if (es.interrupted)
        return BS_STOPPED;
    int steps = t->n / t->batch;
    rep.lr = schedule_lr(t->sched, epoch - 1, steps > 0 ? steps - 1 : 0, steps);
    rep.train_batch_loss = es.loss;
    rep.train_batch_err = es.err;
    rep.images_per_s = es.seconds > 0 ? es.images / es.seconds : 0;
    const int evaluating = epoch % r->eval_every == 0 || epoch == r->epochs;
    const int checkpointing = epoch % r->checkpoint_every == 0 || epoch == r->epochs;
    if (comm_is_multi(r->comm) && (evaluating || checkpointing))
        r->comm->gather(r->comm, t->m->stats, st->all_stats, t->m->n_stats);
    if (evaluating && evaluate_ranks(r, st, &rep, err))
        return err->code;
    rep.seconds = now_seconds() - t0;
    if (write_logs(r, st, &rep, checkpointing, err))
        return err->code;
    if (r->on_epoch)
        r->on_epoch(r->ctx, &rep);
    return BS_OK;
}

static int open_logs(Runner *r, RunState *st, int resume, long metrics_len, long shift_len, BsError *err)
{
    char path[4096];
    join(path, sizeof path, r->out_dir, "metrics.csv");
    if (csv_open(&st->metrics, path, r->metrics_v1 ? METRICS_HEADER_V1 : METRICS_HEADER, resume ? metrics_len : -1,
                 err))
        return err->code;
    join(path, sizeof path, r->out_dir, "shift.csv");
    if (csv_open(&st->shift, path, SHIFT_HEADER, resume ? shift_len : -1, err))
        return err->code;
    if (!comm_is_multi(r->comm))
        return BS_OK;
    join(path, sizeof path, r->out_dir, "ranks.csv");
    return csv_open(&st->ranks, path, RANKS_HEADER, resume ? r->ranks_len : -1, err);
}

int runner_run(Runner *r, int start_epoch, long metrics_len, long shift_len, BsError *err)
{
    RunState st;
    memset(&st, 0, sizeof st);
    if (shift_stats_init(&st.stats, r->trainer.m, err))
        return err->code;
    int C = shift_stats_max_channels(&st.stats);
    st.mu = bs_alloc(sizeof(double) * (C ? C : 1), err);
    st.var = bs_alloc(sizeof(double) * (C ? C : 1), err);
    const Model *m = r->trainer.m;
    if (comm_is_multi(r->comm)) {
        st.all_stats = bs_alloc(sizeof(float) * (m->n_stats ? m->n_stats : 1) * (size_t)r->comm->size, err);
        st.own_stats = bs_alloc(sizeof(float) * (m->n_stats ? m->n_stats : 1), err);
    }
    int opened = err->code == BS_OK;
    if (opened && comm_writes(r->comm))
        opened = open_logs(r, &st, start_epoch > 0, metrics_len, shift_len, err) == BS_OK;
    if (comm_is_multi(r->comm)) { /* every rank starts, or none */
        int rc = opened ? BS_OK : err->code ? err->code : BS_ERR_RUNTIME;
        r->comm->bcast(r->comm, &rc, sizeof rc, 0);
        if (rc != BS_OK && opened)
            bs_fail(err, rc, "rank 0 could not open the run directory's logs");
        opened = rc == BS_OK;
    }
    if (opened) {
        for (int e = start_epoch + 1; e <= r->epochs; e++) {
            int rc = run_epoch(r, &st, e, err);
            if (rc != BS_OK) {
                if (rc == BS_STOPPED)
                    err->code = BS_STOPPED;
                break;
            }
        }
    }
    csv_close(&st.metrics);
    csv_close(&st.shift);
    csv_close(&st.ranks);
    bs_free(st.all_stats);
    bs_free(st.own_stats);
    bs_free(st.mu);
    bs_free(st.var);
    shift_stats_free(&st.stats);
    return err->code;
}
