#include "progress.h"

#include <unistd.h>

void progress_init(Progress *p, FILE *out, int epochs, int batch, int quiet)
{
    p->batch = batch;
    p->out = out;
    p->tty = isatty(fileno(out));
    p->quiet = quiet;
    p->epochs = epochs;
    p->last_percent = -1;
}

void progress_batch(void *ctx, int epoch, int step, int steps, double loss, double images_per_s)
{
    Progress *p = ctx;
    if (!p->tty || p->quiet)
        return;
    int percent = steps ? 100 * step / steps : 100;
    if (percent == p->last_percent && step != steps)
        return; /* redraw at most ~100 times an epoch */
    p->last_percent = percent;
    char bar[21];
    for (int i = 0; i < 20; i++)
        bar[i] = i < percent / 5 ? '#' : '.';
    bar[20] = 0;
    /* ETA of the whole run from this epoch's speed (evaluation not counted). */
    long left = (long)(steps - step) + (long)(p->epochs - epoch - 1) * steps;
    double eta = images_per_s > 0 ? (double)left * p->batch / images_per_s : 0;
    fprintf(p->out, "\r  epoch %d/%d [%s] %d/%d  loss %.4f  %.0f img/s  ETA %d:%02d ", epoch + 1,
            p->epochs, bar, step, steps, loss, images_per_s, (int)(eta / 60), (int)eta % 60);
    fflush(p->out);
}

void progress_clear(Progress *p)
{
    if (p->tty && !p->quiet) {
        fprintf(p->out, "\r%*s\r", 100, "");
        fflush(p->out);
    }
}
