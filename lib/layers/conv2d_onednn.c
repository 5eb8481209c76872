#include "conv2d_onednn.h"

#ifndef BS_HAVE_ONEDNN

int onednn_available(void) { return 0; }
const char *onednn_version(void) { return ""; }
OneDnnEngine *onednn_engine_create(void) { return NULL; }
void onednn_engine_destroy(OneDnnEngine *e) { (void)e; }
void onednn_engine_freeze_weights(OneDnnEngine *e, int frozen) { (void)e, (void)frozen; }
OneDnnConv *onednn_conv_create(const Conv2d *c) { (void)c; return NULL; }
void onednn_conv_destroy(OneDnnConv *oc) { (void)oc; }
int onednn_conv_forward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *b,
                        const float *in, float *out, int N)
{
    (void)e, (void)oc, (void)w, (void)b, (void)in, (void)out, (void)N;
    return ONEDNN_FAILED;
}
int onednn_conv_backward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *in,
                         const float *dout, float *din, float *dw, float *db, int N)
{
    (void)e, (void)oc, (void)w, (void)in, (void)dout, (void)din, (void)dw, (void)db, (void)N;
    return ONEDNN_FAILED;
}
int onednn_conv_backward_data_add(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *dout, float *din,
                                  int N)
{
    (void)e, (void)oc, (void)w, (void)dout, (void)din, (void)N;
    return ONEDNN_FAILED;
}
void onednn_conv_allow_data_add(int allow) { (void)allow; }
const char *onednn_conv_impl(const OneDnnConv *oc) { (void)oc; return ""; }
void onednn_conv_set_layouts(OneDnnConv *oc, int src_blocked, int dst_blocked)
{
    (void)oc, (void)src_blocked, (void)dst_blocked;
}

#else

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "blocked.h"
#include "onednn_engine.h"

/* One tensor argument of a primitive: our plain buffer (user) and the
 * layout the primitive wants (prim); `reorder` converts user -> prim for
 * inputs and prim -> user for outputs, NULL when the layouts agree. */
typedef struct {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder;
    int scratch;     /* which shared buffer holds prim, or -1: owned */
    size_t bytes;    /* size of prim */
} Port;

/* Everything one layer needs at one batch size. */
typedef struct {
    PlanKey key; /* key.N: the batch size */
    dnnl_primitive_desc_t fwd_pd;
    dnnl_primitive_t fwd;
    Port f_src, f_w, f_dst;
    int have_bwd;
    int bwd_data_flipped; /* bwd_data is a forward conv of dy with flipped weights (plan_flipped_data) */
    dnnl_primitive_t bwd_data, bwd_weights;
    dnnl_primitive_t bwd_data_add; /* the flipped bwd_data with a sum post-op: din += (NULL: none) */
    int data_add_tried;
    Port d_ddst, d_w, d_dsrc;
    Port w_src, w_ddst;
    int w_ddst_reuses_d; /* bwd-weights reads the diff_dst bwd-data reordered */
    dnnl_memory_t dw_prim, dw_user;
    dnnl_primitive_t dw_accumulate; /* reorder with a sum post-op: dw += */
    unsigned long w_pass; /* f_w.prim holds w_from's weights during this frozen pass */
    const float *w_from;
} Plan;

enum { N_PLANS = 3 }; /* training batch, eval batch, a last partial batch */

struct OneDnnConv {
    Conv2d c;
    int src_blocked, dst_blocked; /* our tensors' layouts (blocked.h; 0: NCHW) */
    float *w_flipped; /* [in_c][out_c][kh][kw], spatially flipped: a flipped plan's weights */
    Plan plans[N_PLANS];
    unsigned long clock;
    char impl[64];
};

int onednn_available(void) { return 1; }

const char *onednn_version(void)
{
    static char buf[32];
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

OneDnnEngine *onednn_engine_create(void)
{
    OneDnnEngine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (dnnl_engine_create(&e->engine, dnnl_cpu, 0) != dnnl_success) {
        free(e);
        return NULL;
    }
    if (dnnl_stream_create(&e->stream, e->engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(e->engine);
        free(e);
        return NULL;
    }
    return e;
}

void onednn_engine_freeze_weights(OneDnnEngine *e, int frozen)
{
    if (e)
        e->frozen_pass = frozen ? ++e->passes : 0;
}

void onednn_engine_destroy(OneDnnEngine *e)
{
    if (!e)
        return;
    for (int i = 0; i < N_SCRATCH; i++)
        free(e->scratch[i]);
    dnnl_stream_destroy(e->stream);
    dnnl_engine_destroy(e->engine);
    free(e);
}

/* Grows shared buffer i to at least `bytes` (only while making plans). */
static int reserve_scratch(OneDnnEngine *e, int i, size_t bytes)
{
    if (bytes <= e->scratch_bytes[i])
        return 1;
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
        return 0;
    free(e->scratch[i]);
    e->scratch[i] = p;
    e->scratch_bytes[i] = bytes;
    return 1;
}

static void port_free(Port *p)
{
    if (p->reorder)
        dnnl_primitive_destroy(p->reorder);
    if (p->prim && p->prim != p->user)
        dnnl_memory_destroy(p->prim);
    if (p->user)
        dnnl_memory_destroy(p->user);
    memset(p, 0, sizeof *p);
}

static void plan_free(Plan *pl)
{
    if (pl->fwd)
        dnnl_primitive_destroy(pl->fwd);
    if (pl->fwd_pd)
        dnnl_primitive_desc_destroy(pl->fwd_pd);
    if (pl->bwd_data)
        dnnl_primitive_destroy(pl->bwd_data);
    if (pl->bwd_weights)
        dnnl_primitive_destroy(pl->bwd_weights);
    if (pl->bwd_data_add)
        dnnl_primitive_destroy(pl->bwd_data_add);
    if (pl->dw_accumulate)
        dnnl_primitive_destroy(pl->dw_accumulate);
    if (pl->dw_prim)
        dnnl_memory_destroy(pl->dw_prim);
    if (pl->dw_user)
        dnnl_memory_destroy(pl->dw_user);
    Port *ports[] = {&pl->f_src, &pl->f_w, &pl->f_dst, &pl->d_ddst, &pl->d_w,
                     &pl->d_dsrc, &pl->w_src, &pl->w_ddst};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
        port_free(ports[i]);
    memset(pl, 0, sizeof *pl);
}

OneDnnConv *onednn_conv_create(const Conv2d *c)
{
    OneDnnConv *oc = calloc(1, sizeof *oc);
    if (oc)
        oc->c = *c;
    return oc;
}

void onednn_conv_destroy(OneDnnConv *oc)
{
    if (!oc)
        return;
    for (int i = 0; i < N_PLANS; i++)
        plan_free(&oc->plans[i]);
    free(oc->w_flipped);
    free(oc);
}

const char *onednn_conv_impl(const OneDnnConv *oc) { return oc ? oc->impl : ""; }

void onednn_conv_set_layouts(OneDnnConv *oc, int src_blocked, int dst_blocked)
{
    if (!oc || (oc->src_blocked == src_blocked && oc->dst_blocked == dst_blocked))
        return;
    for (int i = 0; i < N_PLANS; i++)
        plan_free(&oc->plans[i]);
    oc->src_blocked = src_blocked;
    oc->dst_blocked = dst_blocked;
}

/* Whether a side (a tensor of C channels in `layout`, blocked.h) can be
 * described to oneDNN as NHWC: an NHWC tensor, or a blocked one of 16
 * channels (the same bytes in both layouts) of an ungrouped layer (for
 * grouped ones oneDNN's nChw16c kernels are the faster). */
static int nhwc_capable(int layout, int C, int groups)
{
    return layout == BLOCKED_NHWC || (layout && C == BLOCK && groups == 1);
}

/* Whether a side is described as NHWC: NHWC-capable, and for 16 channels
 * only when the other side is too (else the pair keeps oneDNN's nChw16c or
 * NCHW kernels, as ResNet-20's stem does). */
static int side_nhwc(int layout, int C, int other_layout, int other_C, int groups)
{
    return nhwc_capable(layout, C, groups) && (C > BLOCK || nhwc_capable(other_layout, other_C, groups));
}

/* Whether the layer runs on channels-last descriptors, where oneDNN 2.6
 * has its brgemm convolutions (brgconv), faster than its nChw16c kernels
 * on dense layers with spatial kernels (docs/PERFORMANCE.md): when either
 * side is NHWC. A mixed pair (NHWC and nChw16c or NCHW) gets no fast
 * kernel either way, so the other side is reordered to NHWC (cheap for a
 * 3-channel image). */
static int runs_nhwc(const OneDnnConv *oc)
{
    const Conv2d *c = &oc->c;
    return side_nhwc(oc->src_blocked, c->in_c, oc->dst_blocked, c->out_c, c->groups) ||
           side_nhwc(oc->dst_blocked, c->out_c, oc->src_blocked, c->in_c, c->groups);
}

/* One side's format (a tensor of C channels in `layout`): with `any`, what
 * the primitive works on (NHWC for a layer that runs_nhwc, else oneDNN's
 * choice); without, our tensor's own layout as oneDNN names it. */
static dnnl_format_tag_t side_tag(const OneDnnConv *oc, int any, int layout, int C, int other_layout, int other_C)
{
    if (any)
        return runs_nhwc(oc) ? dnnl_nhwc : dnnl_format_tag_any;
    return side_nhwc(layout, C, other_layout, other_C, oc->c.groups) ? dnnl_nhwc
           : layout                                                 ? dnnl_nChw16c
                                                                    : dnnl_nchw;
}

/* Descriptors of the layer's tensors at batch N: ours (user: the tensors'
 * layouts, OIHW weights) or, with `any`, what the primitive works on. */
static void tensor_mds(const OneDnnConv *oc, int N, dnnl_memory_desc_t *src, dnnl_memory_desc_t *w,
                       dnnl_memory_desc_t *dst, int any)
{
    const Conv2d *c = &oc->c;
    dnnl_dims_t sd = {N, c->in_c, c->in_h, c->in_w};
    dnnl_dims_t dd = {N, c->out_c, c->out_h, c->out_w};
    const dnnl_format_tag_t a = dnnl_format_tag_any;
    dnnl_memory_desc_init_by_tag(src, 4, sd, dnnl_f32,
                                 side_tag(oc, any, oc->src_blocked, c->in_c, oc->dst_blocked, c->out_c));
    if (c->groups > 1) { /* [g][out_c/g][in_c/g][k][k]: our OIHW buffer as it is */
        const int g = c->groups;
        dnnl_dims_t wd = {g, c->out_c / g, c->in_c / g, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(w, 5, wd, dnnl_f32, any ? a : dnnl_goihw);
    } else {
        dnnl_dims_t wd = {c->out_c, c->in_c, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(w, 4, wd, dnnl_f32, any ? a : dnnl_oihw);
    }
    dnnl_memory_desc_init_by_tag(dst, 4, dd, dnnl_f32,
                                 side_tag(oc, any, oc->dst_blocked, c->out_c, oc->src_blocked, c->in_c));
}

/* Sets up port p between the plain layout `user_md` and the primitive's
 * layout `prim_md`; `input` says which way the reorder goes. The prim
 * buffer is shared scratch `scratch` (>= 0) or owned (-1). */
static int port_init(OneDnnEngine *e, Port *p, const dnnl_memory_desc_t *user_md,
                     const dnnl_memory_desc_t *prim_md, int input, int scratch)
{
    p->scratch = -1;
    if (dnnl_memory_create(&p->user, user_md, e->engine, DNNL_MEMORY_NONE) != dnnl_success)
        return 0;
    if (dnnl_memory_desc_equal(user_md, prim_md)) {
        p->prim = p->user;
        return 1;
    }
    p->bytes = dnnl_memory_desc_get_size(prim_md);
    if (scratch >= 0) {
        if (!reserve_scratch(e, scratch, p->bytes) ||
            dnnl_memory_create(&p->prim, prim_md, e->engine, DNNL_MEMORY_NONE) != dnnl_success)
            return 0;
        p->scratch = scratch;
    } else if (dnnl_memory_create(&p->prim, prim_md, e->engine, DNNL_MEMORY_ALLOCATE) != dnnl_success) {
        return 0;
    }
    dnnl_primitive_desc_t rpd;
    const dnnl_memory_desc_t *from = input ? user_md : prim_md, *to = input ? prim_md : user_md;
    if (dnnl_reorder_primitive_desc_create(&rpd, from, e->engine, to, e->engine, NULL) != dnnl_success)
        return 0;
    dnnl_status_t st = dnnl_primitive_create(&p->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return st == dnnl_success;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what)
{
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

static void conv_geometry(const Conv2d *c, dnnl_dims_t strides, dnnl_dims_t pad_l, dnnl_dims_t pad_r)
{
    strides[0] = strides[1] = c->stride;
    pad_l[0] = c->pad_h;
    pad_l[1] = c->pad_w;
    /* Right padding so that the output size comes out as ours. */
    pad_r[0] = (c->out_h - 1) * c->stride + c->kh - c->in_h - c->pad_h;
    pad_r[1] = (c->out_w - 1) * c->stride + c->kw - c->in_w - c->pad_w;
}

static int plan_forward(OneDnnEngine *e, OneDnnConv *oc, Plan *pl, int N)
{
    const Conv2d *c = &oc->c;
    dnnl_memory_desc_t src, w, dst, src_any, w_any, dst_any;
    tensor_mds(oc, N, &src, &w, &dst, 0);
    tensor_mds(oc, N, &src_any, &w_any, &dst_any, 1);
    dnnl_dims_t strides = {0}, pad_l = {0}, pad_r = {0};
    conv_geometry(c, strides, pad_l, pad_r);
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct,
                                             &src_any, &w_any, NULL, &dst_any, strides, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&pl->fwd_pd, &cd, NULL, e->engine, NULL));
    CHECK(dnnl_primitive_create(&pl->fwd, pl->fwd_pd));
    if (!port_init(e, &pl->f_src, &src, query(pl->fwd_pd, dnnl_query_src_md), 1, SCR_IN) ||
        !port_init(e, &pl->f_w, &w, query(pl->fwd_pd, dnnl_query_weights_md), 1, -1) ||
        !port_init(e, &pl->f_dst, &dst, query(pl->fwd_pd, dnnl_query_dst_md), 0, SCR_OUT))
        return 0;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pl->fwd_pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(oc->impl, sizeof oc->impl, "%s", impl);
    pl->key.N = N;
    return 1;
fail:
    return 0;
}

/* Primitive attributes with one post-op: dst = result + dst (NULL without
 * memory). The attributes keep their own copy of the post-ops. */
static dnnl_primitive_attr_t sum_attr(void)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    const int ok = dnnl_primitive_attr_create(&attr) == dnnl_success && dnnl_post_ops_create(&po) == dnnl_success &&
                   dnnl_post_ops_append_sum(po, 1.0f) == dnnl_success &&
                   dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    if (po)
        dnnl_post_ops_destroy(po);
    if (!ok && attr) {
        dnnl_primitive_attr_destroy(attr);
        attr = NULL;
    }
    return attr;
}

/* dw += dw_prim, converting the layout on the way (a reorder whose sum
 * post-op adds to what dw already holds). */
static int make_accumulate(OneDnnEngine *e, Plan *pl, const dnnl_memory_desc_t *prim_md,
                           const dnnl_memory_desc_t *user_md)
{
    dnnl_primitive_attr_t attr = sum_attr();
    dnnl_primitive_desc_t rpd = NULL;
    int ok = 0;
    CHECK(dnnl_memory_create(&pl->dw_prim, prim_md, e->engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&pl->dw_user, user_md, e->engine, DNNL_MEMORY_NONE));
    if (!attr)
        goto fail;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, prim_md, e->engine, user_md, e->engine, attr));
    CHECK(dnnl_primitive_create(&pl->dw_accumulate, rpd));
    ok = 1;
fail:
    if (rpd)
        dnnl_primitive_desc_destroy(rpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return ok;
}

/* The gradient of a stride-1 convolution's input is a forward convolution
 * of dy with the weights flipped in space and their in/out channels
 * swapped (dx[ci] = sum over co of dy[co] correlated with W[co][ci] turned
 * 180 degrees, padding k-1-pad). oneDNN 2.6 has brgemm kernels for forward
 * convolutions only (its backward-data ones are older jit kernels, 8-22%
 * slower on ResNet-20's layers), so such a layer's bwd_data is that
 * forward convolution when oneDNN runs it on brgemm kernels. Returns its
 * primitive descriptor and sets *w_user to the flipped weights' layout
 * (oc->w_flipped, allocated here), or NULL: use the backward-data
 * primitive. */
static dnnl_primitive_desc_t flipped_data_pd(OneDnnEngine *e, OneDnnConv *oc, int N, dnnl_memory_desc_t *w_user,
                                             const_dnnl_primitive_attr_t attr)
{
    const Conv2d *c = &oc->c;
    const int top = c->kh - 1 - c->pad_h, left = c->kw - 1 - c->pad_w;
    const int bottom = c->in_h - 1 + c->kh - c->out_h - top, right = c->in_w - 1 + c->kw - c->out_w - left;
    if (c->groups != 1 || c->stride != 1 || top < 0 || left < 0 || bottom < 0 || right < 0)
        return NULL;
    dnnl_memory_desc_t src_user, dst_user, w_any;
    dnnl_dims_t sd = {N, c->out_c, c->out_h, c->out_w}, dd = {N, c->in_c, c->in_h, c->in_w};
    dnnl_dims_t wd = {c->in_c, c->out_c, c->kh, c->kw};
    dnnl_dims_t strides = {1, 1}, pad_l = {top, left}, pad_r = {bottom, right};
    /* dy and dx as our tensors hold them: in a layout the brgemm kernels
     * do not take, reorders both ways cost more than they save (measured:
     * MobileNetV2's nChw16c 1x1 convolutions 30% slower). */
    dnnl_memory_desc_init_by_tag(&src_user, 4, sd, dnnl_f32,
                                 side_tag(oc, 0, oc->dst_blocked, c->out_c, oc->src_blocked, c->in_c));
    dnnl_memory_desc_init_by_tag(&dst_user, 4, dd, dnnl_f32,
                                 side_tag(oc, 0, oc->src_blocked, c->in_c, oc->dst_blocked, c->out_c));
    dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    const char *impl = NULL;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_user,
                                           &w_any, NULL, &dst_user, strides, pad_l, pad_r) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &cd, attr, e->engine, NULL) != dnnl_success)
        return NULL;
    const int brgemm = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
                       impl && !strncmp(impl, "brg", 3);
    if (brgemm && !oc->w_flipped)
        oc->w_flipped = malloc(sizeof(float) * (size_t)c->in_c * c->out_c * c->kh * c->kw);
    if (!brgemm || !oc->w_flipped) {
        dnnl_primitive_desc_destroy(pd);
        return NULL;
    }
    dnnl_memory_desc_init_by_tag(w_user, 4, wd, dnnl_f32, dnnl_oihw);
    return pd;
}

/* oc->w_flipped = w [co][ci][y][x] as [ci][co][kh-1-y][kw-1-x]. */
static const float *flip_weights(OneDnnConv *oc, const float *w)
{
    const Conv2d *c = &oc->c;
    const int K = c->kh * c->kw;
    for (int co = 0; co < c->out_c; co++)
        for (int ci = 0; ci < c->in_c; ci++) {
            const float *from = w + ((size_t)co * c->in_c + ci) * K;
            float *to = oc->w_flipped + ((size_t)ci * c->out_c + co) * K;
            for (int k = 0; k < K; k++)
                to[K - 1 - k] = from[k];
        }
    return oc->w_flipped;
}

static int plan_backward(OneDnnEngine *e, OneDnnConv *oc, Plan *pl)
{
    const Conv2d *c = &oc->c;
    const int N = pl->key.N;
    dnnl_memory_desc_t src, w, dst, src_any, w_any, dst_any;
    tensor_mds(oc, N, &src, &w, &dst, 0);
    tensor_mds(oc, N, &src_any, &w_any, &dst_any, 1);
    dnnl_dims_t strides = {0}, pad_l = {0}, pad_r = {0};
    conv_geometry(c, strides, pad_l, pad_r);
    dnnl_convolution_desc_t dd, wd;
    dnnl_primitive_desc_t dpd = NULL, wpd = NULL;
    int ok = 0;
    dnnl_memory_desc_t w_data = w; /* the weights bwd_data reads: OIHW, or flipped IOHW */
    const dnnl_memory_desc_t *d_ddst, *d_w, *d_dsrc;
    if ((dpd = flipped_data_pd(e, oc, N, &w_data, NULL)) != NULL) {
        d_ddst = query(dpd, dnnl_query_src_md);
        d_w = query(dpd, dnnl_query_weights_md);
        d_dsrc = query(dpd, dnnl_query_dst_md);
        pl->bwd_data_flipped = 1;
    } else {
        CHECK(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src_any, &w_any,
                                                       &dst_any, strides, pad_l, pad_r));
        CHECK(dnnl_primitive_desc_create(&dpd, &dd, NULL, e->engine, pl->fwd_pd));
        d_ddst = query(dpd, dnnl_query_diff_dst_md);
        d_w = query(dpd, dnnl_query_weights_md);
        d_dsrc = query(dpd, dnnl_query_diff_src_md);
    }
    CHECK(dnnl_primitive_create(&pl->bwd_data, dpd));
    CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_any, &w_any,
                                                      NULL, &dst_any, strides, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&wpd, &wd, NULL, e->engine, pl->fwd_pd));
    CHECK(dnnl_primitive_create(&pl->bwd_weights, wpd));
    const dnnl_memory_desc_t *w_ddst = query(wpd, dnnl_query_diff_dst_md);
    if (!port_init(e, &pl->d_ddst, &dst, d_ddst, 1, SCR_OUT) ||
        !port_init(e, &pl->d_w, &w_data, d_w, 1, -1) ||
        !port_init(e, &pl->d_dsrc, &src, d_dsrc, 0, SCR_IN) ||
        !port_init(e, &pl->w_src, &src, query(wpd, dnnl_query_src_md), 1, SCR_IN) ||
        !port_init(e, &pl->w_ddst, &dst, w_ddst, 1, SCR_OUT2) ||
        !make_accumulate(e, pl, query(wpd, dnnl_query_diff_weights_md), &w))
        goto fail;
    pl->w_ddst_reuses_d = pl->d_ddst.reorder && dnnl_memory_desc_equal(d_ddst, w_ddst);
    pl->have_bwd = 1;
    ok = 1;
fail:
    if (dpd)
        dnnl_primitive_desc_destroy(dpd);
    if (wpd)
        dnnl_primitive_desc_destroy(wpd);
    return ok;
}

void *onednn_plan_slot(void *plans, size_t stride, int n, int N, unsigned long *clock, int *fresh)
{
    PlanKey *victim = plans;
    *fresh = 0;
    for (int i = 0; i < n; i++) {
        PlanKey *k = (PlanKey *)((char *)plans + (size_t)i * stride);
        if (k->N == N) {
            k->last_use = ++*clock;
            return k;
        }
        if (k->last_use < victim->last_use)
            victim = k;
    }
    *fresh = 1;
    victim->last_use = ++*clock;
    return victim;
}

/* The plan for batch N: cached, or made (replacing the least recently
 * used one). NULL if oneDNN cannot make it. */
static Plan *get_plan(OneDnnEngine *e, OneDnnConv *oc, int N)
{
    int fresh;
    Plan *pl = onednn_plan_slot(oc->plans, sizeof(Plan), N_PLANS, N, &oc->clock, &fresh);
    if (!fresh)
        return pl;
    plan_free(pl);
    if (!plan_forward(e, oc, pl, N)) {
        plan_free(pl);
        return NULL;
    }
    pl->key.last_use = oc->clock;
    return pl;
}

static int exec2(OneDnnEngine *e, dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(p, e->stream, 2, args) == dnnl_success;
}

/* Points the port at `data` (our plain buffer) and, for an input whose
 * layouts differ, reorders it into the primitive's buffer. */
static int port_in(OneDnnEngine *e, Port *p, const void *data)
{
    if (dnnl_memory_set_data_handle(p->user, (void *)data) != dnnl_success)
        return 0;
    if (!p->reorder)
        return 1;
    if (p->scratch >= 0 && dnnl_memory_set_data_handle(p->prim, e->scratch[p->scratch]) != dnnl_success)
        return 0;
    return exec2(e, p->reorder, p->user, p->prim);
}

/* Points an output port at `data`; port_out_finish copies the result there. */
static int port_out(OneDnnEngine *e, Port *p, void *data)
{
    if (dnnl_memory_set_data_handle(p->user, data) != dnnl_success)
        return 0;
    return p->scratch < 0 || dnnl_memory_set_data_handle(p->prim, e->scratch[p->scratch]) == dnnl_success;
}

static int port_out_finish(OneDnnEngine *e, Port *p)
{
    return !p->reorder || exec2(e, p->reorder, p->prim, p->user);
}

static int forward_ran(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *b,
                        const float *in, float *out, int N)
{
    if (!e || !oc)
        return 0;
    Plan *pl = get_plan(e, oc, N);
    if (!pl)
        return 0;
    /* Weights already in f_w.prim from an earlier call of this frozen pass? */
    const int w_ready = e->frozen_pass && pl->w_pass == e->frozen_pass && pl->w_from == w;
    if (!port_in(e, &pl->f_src, in) || (!w_ready && !port_in(e, &pl->f_w, w)) || !port_out(e, &pl->f_dst, out))
        return 0;
    pl->w_pass = e->frozen_pass;
    pl->w_from = w;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, pl->f_src.prim},
                               {DNNL_ARG_WEIGHTS, pl->f_w.prim},
                               {DNNL_ARG_DST, pl->f_dst.prim}};
    if (dnnl_primitive_execute(pl->fwd, e->stream, 3, args) != dnnl_success ||
        !port_out_finish(e, &pl->f_dst))
        return 0;
    if (b && oc->dst_blocked)
        blocked_add_bias(b, out, N, oc->c.out_c, oc->c.out_h * oc->c.out_w, oc->dst_blocked);
    else if (b)
        conv2d_add_bias(&oc->c, b, out, N);
    return 1;
}

static int backward_ran(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *in,
                         const float *dout, float *din, float *dw, float *db, int N)
{
    if (!e || !oc)
        return 0;
    Plan *pl = get_plan(e, oc, N);
    if (!pl || (!pl->have_bwd && !plan_backward(e, oc, pl)))
        return 0;
    if (din || pl->w_ddst_reuses_d) {
        if (!port_in(e, &pl->d_ddst, dout))
            return 0;
    }
    if (din) {
        const int f = pl->bwd_data_flipped;
        if (!port_in(e, &pl->d_w, f ? flip_weights(oc, w) : w) || !port_out(e, &pl->d_dsrc, din))
            return 0;
        dnnl_exec_arg_t args[3] = {{f ? DNNL_ARG_SRC : DNNL_ARG_DIFF_DST, pl->d_ddst.prim},
                                   {DNNL_ARG_WEIGHTS, pl->d_w.prim},
                                   {f ? DNNL_ARG_DST : DNNL_ARG_DIFF_SRC, pl->d_dsrc.prim}};
        if (dnnl_primitive_execute(pl->bwd_data, e->stream, 3, args) != dnnl_success ||
            !port_out_finish(e, &pl->d_dsrc))
            return 0;
    }
    if (dw) {
        /* The input's blocked copy goes into the scratch the diff_src used. */
        if (!port_in(e, &pl->w_src, in))
            return 0;
        dnnl_memory_t ddst = pl->d_ddst.prim;
        if (!pl->w_ddst_reuses_d) {
            if (!port_in(e, &pl->w_ddst, dout))
                return 0;
            ddst = pl->w_ddst.prim;
        }
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, pl->w_src.prim},
                                   {DNNL_ARG_DIFF_DST, ddst},
                                   {DNNL_ARG_DIFF_WEIGHTS, pl->dw_prim}};
        if (dnnl_primitive_execute(pl->bwd_weights, e->stream, 3, args) != dnnl_success ||
            dnnl_memory_set_data_handle(pl->dw_user, dw) != dnnl_success ||
            !exec2(e, pl->dw_accumulate, pl->dw_prim, pl->dw_user))
            return 0;
    }
    if (db && oc->dst_blocked)
        blocked_bias_grad(dout, db, N, oc->c.out_c, oc->c.out_h * oc->c.out_w, oc->dst_blocked);
    else if (db)
        conv2d_bias_grad(&oc->c, dout, db, N);
    return 1;
}

static int allow_data_add = 1;

void onednn_conv_allow_data_add(int allow) { allow_data_add = allow; }

/* pl->bwd_data_add, tried once per plan: only where bwd_data is the
 * flipped forward convolution writing din in our layout (no reorder after
 * it), and where the sum post-op keeps the weights' layout bwd_data reads. */
static void make_data_add(OneDnnEngine *e, OneDnnConv *oc, Plan *pl)
{
    pl->data_add_tried = 1;
    if (!pl->bwd_data_flipped || pl->d_dsrc.reorder)
        return;
    dnnl_primitive_attr_t attr = sum_attr();
    dnnl_primitive_desc_t pd = NULL;
    const dnnl_memory_desc_t *w_now = NULL;
    dnnl_memory_desc_t w_user;
    if (attr && (pd = flipped_data_pd(e, oc, pl->key.N, &w_user, attr)) != NULL &&
        dnnl_memory_get_memory_desc(pl->d_w.prim, &w_now) == dnnl_success &&
        dnnl_memory_desc_equal(query(pd, dnnl_query_weights_md), w_now) &&
        dnnl_primitive_create(&pl->bwd_data_add, pd) != dnnl_success)
        pl->bwd_data_add = NULL;
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
}

static int data_add_ran(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *dout, float *din, int N)
{
    if (!e || !oc || !din || !allow_data_add)
        return 0;
    Plan *pl = get_plan(e, oc, N);
    if (!pl || (!pl->have_bwd && !plan_backward(e, oc, pl)))
        return 0;
    if (!pl->data_add_tried)
        make_data_add(e, oc, pl);
    if (!pl->bwd_data_add || !port_in(e, &pl->d_ddst, dout) || !port_in(e, &pl->d_w, flip_weights(oc, w)) ||
        dnnl_memory_set_data_handle(pl->d_dsrc.user, din) != dnnl_success)
        return 0;
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, pl->d_ddst.prim},
                               {DNNL_ARG_WEIGHTS, pl->d_w.prim},
                               {DNNL_ARG_DST, pl->d_dsrc.prim}};
    return dnnl_primitive_execute(pl->bwd_data_add, e->stream, 3, args) == dnnl_success;
}

/* Status, not a predicate: 0 when oneDNN ran (like every lib/ function). */
int onednn_conv_forward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *b,
                        const float *in, float *out, int N)
{
    return forward_ran(e, oc, w, b, in, out, N) ? 0 : ONEDNN_FAILED;
}

int onednn_conv_backward(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *in,
                         const float *dout, float *din, float *dw, float *db, int N)
{
    return backward_ran(e, oc, w, in, dout, din, dw, db, N) ? 0 : ONEDNN_FAILED;
}

int onednn_conv_backward_data_add(OneDnnEngine *e, OneDnnConv *oc, const float *w, const float *dout, float *din,
                                  int N)
{
    return data_add_ran(e, oc, w, dout, din, N) ? 0 : ONEDNN_FAILED;
}

#endif
