#include "onednn_unary.h"

#ifndef BS_HAVE_ONEDNN

OneDnnUnary *onednn_lrn_create(const Lrn *l)
{
    (void)l;
    return NULL;
}
OneDnnUnary *onednn_maxpool_create(const MaxPool2d *p)
{
    (void)p;
    return NULL;
}
void onednn_unary_destroy(OneDnnUnary *u) { (void)u; }
void onednn_unary_set_layout(OneDnnUnary *u, int blocked) { (void)u, (void)blocked; }
int onednn_unary_forward(OneDnnEngine *e, OneDnnUnary *u, const float *in, float *out, int N)
{
    (void)e, (void)u, (void)in, (void)out, (void)N;
    return ONEDNN_FAILED;
}
int onednn_unary_backward(OneDnnEngine *e, OneDnnUnary *u, const float *in, const float *dout, float *din,
                          int N)
{
    (void)e, (void)u, (void)in, (void)dout, (void)din, (void)N;
    return ONEDNN_FAILED;
}

#else

#include <stdlib.h>
#include <string.h>

#include "onednn_engine.h"
#include "blocked.h"

typedef union {
    dnnl_lrn_desc_t lrn;
    dnnl_pooling_v2_desc_t pool;
} UnaryDesc;

typedef enum { UNARY_LRN, UNARY_MAXPOOL } UnaryKind;

/* The primitives and memories of one batch size; src and diff_src share a
 * descriptor, as do dst and diff_dst; the workspace is oneDNN's, ours to
 * keep from the forward to the backward. */
typedef struct {
    PlanKey key; /* key.N: the batch size */
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t src, dst, ws, diff_dst, diff_src;
} UnaryPlan;

enum { N_UNARY_PLANS = 3 }; /* training batch, eval batch, a last partial batch */

struct OneDnnUnary {
    UnaryKind kind;
    union {
        Lrn lrn;
        MaxPool2d pool;
    } u;
    int blocked;
    UnaryPlan plans[N_UNARY_PLANS];
    unsigned long clock;
};

static void plan_free(UnaryPlan *pl)
{
    dnnl_primitive_t prims[] = {pl->fwd, pl->bwd};
    for (int i = 0; i < 2; i++)
        if (prims[i])
            dnnl_primitive_destroy(prims[i]);
    if (pl->fwd_pd)
        dnnl_primitive_desc_destroy(pl->fwd_pd);
    dnnl_memory_t mems[] = {pl->src, pl->dst, pl->ws, pl->diff_dst, pl->diff_src};
    for (int i = 0; i < 5; i++)
        if (mems[i])
            dnnl_memory_destroy(mems[i]);
    memset(pl, 0, sizeof *pl);
}

static OneDnnUnary *unary_new(UnaryKind kind)
{
    OneDnnUnary *u = calloc(1, sizeof *u);
    if (u)
        u->kind = kind;
    return u;
}

OneDnnUnary *onednn_lrn_create(const Lrn *l)
{
    OneDnnUnary *u = l->size % 2 ? unary_new(UNARY_LRN) : NULL;
    if (u)
        u->u.lrn = *l;
    return u;
}

OneDnnUnary *onednn_maxpool_create(const MaxPool2d *p)
{
    OneDnnUnary *u = unary_new(UNARY_MAXPOOL);
    if (u)
        u->u.pool = *p;
    return u;
}

void onednn_unary_destroy(OneDnnUnary *u)
{
    if (!u)
        return;
    for (int i = 0; i < N_UNARY_PLANS; i++)
        plan_free(&u->plans[i]);
    free(u);
}

void onednn_unary_set_layout(OneDnnUnary *u, int blocked)
{
    if (!u || u->blocked == blocked)
        return;
    for (int i = 0; i < N_UNARY_PLANS; i++)
        plan_free(&u->plans[i]);
    u->blocked = blocked;
}

static dnnl_status_t tensor_md(dnnl_memory_desc_t *md, int N, int C, int H, int W, int blocked)
{
    dnnl_dims_t dims = {N, C, H, W};
    const dnnl_format_tag_t tag = !blocked ? dnnl_nchw : blocked == BLOCKED_NHWC ? dnnl_nhwc : dnnl_nChw16c;
    return dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag);
}

/* LRN: oneDNN's α is ours times the window's element count. */
static dnnl_status_t lrn_descs(const Lrn *l, const dnnl_memory_desc_t *md, UnaryDesc *fwd, UnaryDesc *bwd)
{
    const float n = (float)l->size, alpha = l->alpha * (l->mode == LRN_ACROSS ? n : n * n);
    const dnnl_alg_kind_t alg = l->mode == LRN_ACROSS ? dnnl_lrn_across_channels : dnnl_lrn_within_channel;
    dnnl_status_t st = dnnl_lrn_forward_desc_init(&fwd->lrn, dnnl_forward_training, alg, md, l->size, alpha,
                                                  l->beta, l->k);
    return st != dnnl_success ? st : dnnl_lrn_backward_desc_init(&bwd->lrn, alg, md, md, l->size, alpha, l->beta, l->k);
}

/* Max pooling: the right padding that makes oneDNN's output size ours. */
static dnnl_status_t pool_descs(const MaxPool2d *p, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                                UnaryDesc *fwd, UnaryDesc *bwd)
{
    dnnl_dims_t strides = {p->stride, p->stride}, kernel = {p->k, p->k}, dilation = {0, 0};
    dnnl_dims_t pad_l = {p->pad, p->pad};
    dnnl_dims_t pad_r = {(p->out_h - 1) * p->stride + p->k - p->in_h - p->pad,
                         (p->out_w - 1) * p->stride + p->k - p->in_w - p->pad};
    dnnl_status_t st = dnnl_pooling_v2_forward_desc_init(&fwd->pool, dnnl_forward_training, dnnl_pooling_max, src,
                                                         dst, strides, kernel, dilation, pad_l, pad_r);
    return st != dnnl_success ? st
                              : dnnl_pooling_v2_backward_desc_init(&bwd->pool, dnnl_pooling_max, src, dst, strides,
                                                                   kernel, dilation, pad_l, pad_r);
}

static int plan_make(OneDnnEngine *e, OneDnnUnary *u, UnaryPlan *pl, int N)
{
    dnnl_memory_desc_t src, dst;
    UnaryDesc fd, bd;
    if (u->kind == UNARY_LRN) {
        const Lrn *l = &u->u.lrn;
        CHECK(tensor_md(&src, N, l->C, l->H, l->W, u->blocked));
        dst = src;
        CHECK(lrn_descs(l, &src, &fd, &bd));
    } else {
        const MaxPool2d *p = &u->u.pool;
        CHECK(tensor_md(&src, N, p->C, p->in_h, p->in_w, u->blocked));
        CHECK(tensor_md(&dst, N, p->C, p->out_h, p->out_w, u->blocked));
        CHECK(pool_descs(p, &src, &dst, &fd, &bd));
    }
    CHECK(dnnl_primitive_desc_create(&pl->fwd_pd, &fd, NULL, e->engine, NULL));
    CHECK(dnnl_primitive_create(&pl->fwd, pl->fwd_pd));
    dnnl_primitive_desc_t bpd;
    CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, e->engine, pl->fwd_pd));
    dnnl_status_t st = dnnl_primitive_create(&pl->bwd, bpd);
    dnnl_primitive_desc_destroy(bpd);
    CHECK(st);
    const dnnl_memory_desc_t *ws_md = dnnl_primitive_desc_query_md(pl->fwd_pd, dnnl_query_workspace_md, 0);
    CHECK(dnnl_memory_create(&pl->src, &src, e->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&pl->dst, &dst, e->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&pl->diff_dst, &dst, e->engine, DNNL_MEMORY_NONE));
    CHECK(dnnl_memory_create(&pl->diff_src, &src, e->engine, DNNL_MEMORY_NONE));
    if (ws_md && dnnl_memory_desc_get_size(ws_md) > 0)
        CHECK(dnnl_memory_create(&pl->ws, ws_md, e->engine, DNNL_MEMORY_ALLOCATE));
    pl->key.N = N;
    return 1;
fail:
    return 0;
}

/* The plan for batch N: cached, or made in place of the least recently
 * used one; NULL if oneDNN cannot make it. */
static UnaryPlan *get_plan(OneDnnEngine *e, OneDnnUnary *u, int N)
{
    int fresh;
    UnaryPlan *pl = onednn_plan_slot(u->plans, sizeof(UnaryPlan), N_UNARY_PLANS, N, &u->clock, &fresh);
    if (!fresh)
        return pl;
    plan_free(pl);
    if (!plan_make(e, u, pl, N)) {
        plan_free(pl);
        return NULL;
    }
    pl->key.last_use = u->clock;
    return pl;
}

int onednn_unary_forward(OneDnnEngine *e, OneDnnUnary *u, const float *in, float *out, int N)
{
    UnaryPlan *pl = e && u ? get_plan(e, u, N) : NULL;
    if (!pl)
        return ONEDNN_FAILED;
    CHECK(dnnl_memory_set_data_handle(pl->src, (void *)in));
    CHECK(dnnl_memory_set_data_handle(pl->dst, out));
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, pl->src}, {DNNL_ARG_DST, pl->dst}, {DNNL_ARG_WORKSPACE, pl->ws}};
    CHECK(dnnl_primitive_execute(pl->fwd, e->stream, pl->ws ? 3 : 2, args));
    CHECK(dnnl_stream_wait(e->stream));
    return 0;
fail:
    return ONEDNN_FAILED;
}

int onednn_unary_backward(OneDnnEngine *e, OneDnnUnary *u, const float *in, const float *dout, float *din, int N)
{
    UnaryPlan *pl = e && u ? get_plan(e, u, N) : NULL;
    if (!pl)
        return ONEDNN_FAILED;
    CHECK(dnnl_memory_set_data_handle(pl->src, (void *)in));
    CHECK(dnnl_memory_set_data_handle(pl->diff_dst, (void *)dout));
    CHECK(dnnl_memory_set_data_handle(pl->diff_src, din));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, pl->src},
                               {DNNL_ARG_DIFF_DST, pl->diff_dst},
                               {DNNL_ARG_DIFF_SRC, pl->diff_src},
                               {DNNL_ARG_WORKSPACE, pl->ws}};
    CHECK(dnnl_primitive_execute(pl->bwd, e->stream, pl->ws ? 4 : 3, args));
    CHECK(dnnl_stream_wait(e->stream));
    return 0;
fail:
    return ONEDNN_FAILED;
}

#endif
