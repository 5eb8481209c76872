#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/fault.h"
#include "io/fsutil.h"

static const char MAGIC[8] = {'B', 'N', 'S', 'H', 'C', 'K', 'P', 'T'};

/* Fixed-width header; every field little-endian as written by x86-64. */
typedef struct {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t config_hash;
    int32_t epoch, threads;
    uint64_t n_params, n_stats;
    int64_t opt_steps;
    uint64_t rng[4];
    int64_t metrics_len, shift_len;
} Header;

/* What version 2 adds after the version-1 header. */
typedef struct {
    int32_t ranks, reserved;
    int64_t ranks_len;
} HeaderRanks;

typedef struct {
    FILE *f;
    uLong crc;
    int ok;
} Writer;

static void put(Writer *w, const void *p, size_t n)
{
    if (w->ok && fwrite(p, 1, n, w->f) != n)
        w->ok = 0;
    w->crc = crc32(w->crc, p, (uInt)n);
}

static void put_floats(Writer *w, const float *p, size_t n)
{
    /* crc32 takes uInt lengths: feed large buffers in chunks. */
    const size_t chunk = 1u << 24;
    for (size_t i = 0; i < n; i += chunk)
        put(w, p + i, sizeof(float) * (n - i < chunk ? n - i : chunk));
}

static void fill_header(Header *h, const Model *m, const Optimizer *o, const CheckpointMeta *meta)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, MAGIC, sizeof MAGIC);
    h->version = meta->ranks > 1 ? 2 : 1;
    h->header_bytes = sizeof *h + (meta->ranks > 1 ? sizeof(HeaderRanks) : 0);
    h->config_hash = meta->config_hash;
    h->epoch = meta->epoch;
    h->threads = meta->threads;
    h->n_params = m->n_params;
    h->n_stats = m->n_stats;
    h->opt_steps = o->steps;
    memcpy(h->rng, meta->rng.s, sizeof h->rng);
    h->metrics_len = meta->metrics_len;
    h->shift_len = meta->shift_len;
}

int checkpoint_save(const char *path, const Model *m, const Optimizer *o, const CheckpointMeta *meta,
                    BsError *err)
{
    AtomicFile af = {0};
    if (fs_atomic_open(&af, path, err))
        return err->code;
    Writer w = {af.f, crc32(0L, Z_NULL, 0), 1};
    Header h;
    fill_header(&h, m, o, meta);
    put(&w, &h, sizeof h);
    if (meta->ranks > 1) {
        HeaderRanks hr = {.ranks = meta->ranks, .ranks_len = meta->ranks_len};
        put(&w, &hr, sizeof hr);
    }
    put_floats(&w, m->params, m->n_params);
    bs_fault_point("in-checkpoint", meta->epoch, w.f);
    put_floats(&w, o->velocity, m->n_params);
    put_floats(&w, m->stats, m->n_stats);
    if (meta->ranks > 1)
        put_floats(&w, meta->rank_stats, (size_t)(meta->ranks - 1) * m->n_stats);
    uint32_t crc = (uint32_t)w.crc;
    put(&w, &crc, sizeof crc);
    if (!w.ok) {
        int e = errno;
        fs_atomic_abort(&af);
        return bs_fail(err, BS_ERR_RUNTIME, "%s: writing the checkpoint failed: %s", path, strerror(e));
    }
    return fs_atomic_commit(&af, err);
}

static int read_header(FILE *f, const char *path, Header *h, HeaderRanks *hr, BsError *err)
{
    memset(hr, 0, sizeof *hr);
    hr->ranks = 1;
    if (fread(h, sizeof *h, 1, f) != 1) {
        if (ferror(f)) /* e.g. a directory: not a short file */
            return bs_fail(err, BS_ERR_USER, "%s: cannot read checkpoint: %s", path, strerror(errno));
        return bs_fail(err, BS_ERR_USER, "%s: truncated checkpoint header", path);
    }
    if (memcmp(h->magic, MAGIC, sizeof MAGIC) != 0)
        return bs_fail(err, BS_ERR_USER, "%s: not a bnshift checkpoint (bad magic)", path);
    if (h->version < 1 || h->version > CHECKPOINT_VERSION)
        return bs_fail(err, BS_ERR_USER, "%s: checkpoint version %u, this bnshift reads versions 1 to %d",
                       path, h->version, CHECKPOINT_VERSION);
    if (h->header_bytes != sizeof *h + (h->version == 2 ? sizeof *hr : 0))
        return bs_fail(err, BS_ERR_USER, "%s: corrupt checkpoint header (%u header bytes for version %u)", path,
                       h->header_bytes, h->version);
    if (h->version == 2 && fread(hr, sizeof *hr, 1, f) != 1)
        return bs_fail(err, BS_ERR_USER, "%s: truncated checkpoint header", path);
    if (hr->ranks < 1 || hr->ranks > 1 << 20 || hr->ranks_len < 0)
        return bs_fail(err, BS_ERR_USER, "%s: corrupt checkpoint header (%d ranks, ranks.csv length %lld)", path,
                       hr->ranks, (long long)hr->ranks_len);
    /* The CRC only says the bytes are intact: refuse what no run writes (a
     * negative CSV length would make a resume recreate the logs). */
    if (h->epoch < 0 || h->threads < 1 || h->opt_steps < 0 || h->metrics_len < 0 || h->shift_len < 0)
        return bs_fail(err, BS_ERR_USER,
                       "%s: corrupt checkpoint header (epoch %d, threads %d, steps %lld, CSV lengths "
                       "%lld and %lld)",
                       path, h->epoch, h->threads, (long long)h->opt_steps, (long long)h->metrics_len,
                       (long long)h->shift_len);
    if (!(h->rng[0] | h->rng[1] | h->rng[2] | h->rng[3]))
        return bs_fail(err, BS_ERR_USER, "%s: corrupt checkpoint header (all-zero RNG state)", path);
    return BS_OK;
}

static void meta_from_header(const Header *h, const HeaderRanks *hr, CheckpointMeta *meta)
{
    meta->ranks = hr->ranks;
    meta->ranks_len = (long)hr->ranks_len;
    meta->config_hash = h->config_hash;
    meta->epoch = h->epoch;
    meta->threads = h->threads;
    memcpy(meta->rng.s, h->rng, sizeof h->rng);
    meta->metrics_len = (long)h->metrics_len;
    meta->shift_len = (long)h->shift_len;
}

int checkpoint_peek(const char *path, CheckpointMeta *meta, BsError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bs_fail(err, BS_ERR_USER, "%s: cannot open checkpoint: %s", path, strerror(errno));
    Header h;
    HeaderRanks hr;
    if (read_header(f, path, &h, &hr, err) == BS_OK)
        meta_from_header(&h, &hr, meta);
    fclose(f);
    return err->code;
}

static int read_floats(FILE *f, float *p, size_t n, uLong *crc)
{
    if (fread(p, sizeof(float), n, f) != n)
        return 0;
    const size_t chunk = 1u << 24;
    for (size_t i = 0; i < n; i += chunk)
        *crc = crc32(*crc, (const Bytef *)(p + i), (uInt)(sizeof(float) * (n - i < chunk ? n - i : chunk)));
    return 1;
}

/* Reads n floats into p, or past them (checksummed) when p is NULL. */
static int read_or_skip(FILE *f, float *p, size_t n, uLong *crc)
{
    if (p)
        return read_floats(f, p, n, crc);
    float chunk[1024];
    for (size_t i = 0; i < n; i += 1024)
        if (!read_floats(f, chunk, n - i < 1024 ? n - i : 1024, crc))
            return 0;
    return 1;
}

/* A run never saves NaN/Inf (training stops on them first). */
static int all_finite(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            return 0;
    return 1;
}

int checkpoint_load(const char *path, Model *m, Optimizer *o, CheckpointMeta *meta, BsError *err)
{
    return checkpoint_load_ranks(path, m, o, meta, NULL, 0, err);
}

int checkpoint_load_ranks(const char *path, Model *m, Optimizer *o, CheckpointMeta *meta, float *rank_stats,
                          size_t cap, BsError *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return bs_fail(err, BS_ERR_USER, "%s: cannot open checkpoint: %s", path, strerror(errno));
    Header h;
    HeaderRanks hr;
    uint32_t stored;
    uLong crc = crc32(0L, Z_NULL, 0);
    if (read_header(f, path, &h, &hr, err) != BS_OK) {
        /* err set */
    } else if (h.n_params != m->n_params || h.n_stats != m->n_stats) {
        bs_fail(err, BS_ERR_USER,
                "%s: checkpoint holds %llu parameters and %llu running statistics, the configured "
                "model has %zu and %zu",
                path, (unsigned long long)h.n_params, (unsigned long long)h.n_stats, m->n_params,
                m->n_stats);
    } else {
        crc = crc32(crc, (const Bytef *)&h, sizeof h);
        if (h.version == 2)
            crc = crc32(crc, (const Bytef *)&hr, sizeof hr);
        const size_t n_rank_stats = (size_t)(hr.ranks - 1) * m->n_stats;
        if (rank_stats && n_rank_stats > cap) {
            fclose(f);
            return bs_fail(err, BS_ERR_USER, "%s: holds the running statistics of %d ranks, room for %zu values only",
                           path, hr.ranks, cap);
        }
        if (!read_floats(f, m->params, m->n_params, &crc) ||
            !read_floats(f, o->velocity, m->n_params, &crc) ||
            !read_floats(f, m->stats, m->n_stats, &crc) || !read_or_skip(f, rank_stats, n_rank_stats, &crc) ||
            fread(&stored, sizeof stored, 1, f) != 1)
            bs_fail(err, BS_ERR_USER, "%s: truncated checkpoint", path);
        else if (stored != (uint32_t)crc)
            bs_fail(err, BS_ERR_USER, "%s: checkpoint checksum mismatch (file corrupt)", path);
        else if (fgetc(f) != EOF)
            bs_fail(err, BS_ERR_USER, "%s: trailing data after the checkpoint checksum (wrong size)",
                    path);
        else if (!all_finite(m->params, m->n_params) || !all_finite(o->velocity, m->n_params) ||
                 !all_finite(m->stats, m->n_stats) || (rank_stats && !all_finite(rank_stats, n_rank_stats)))
            bs_fail(err, BS_ERR_USER, "%s: checkpoint holds NaN or infinite values (file corrupt)", path);
        else {
            meta_from_header(&h, &hr, meta);
            meta->rank_stats = rank_stats;
            o->steps = (long)h.opt_steps;
        }
    }
    fclose(f);
    return err->code;
}
