#!/usr/bin/python3
"""Golden fixtures from PyTorch for the C layers (tests/test_torch_fixtures.c)
and for one SGD step of each network family (tests/test_family_fixtures.c,
the PyTorch networks in families.py next to this file).

Usage:  /usr/bin/python3 scripts/reference/gen_fixtures.py tests/fixtures [CASE...]
        (or `make fixtures`; needs Debian's python3-torch). With CASE names
        only those files are written (new cases, without touching the rest).

Deterministic: torch.manual_seed per case, float32, one thread. Inputs are
stored next to the results, so the C side computes on exactly the same numbers
and never needs torch.

File format (one file per case, extension .bnfx, everything little-endian):

    char[4]  magic "BNFX"
    uint32   version (1)
    uint32   count             number of tensors that follow
    count times:
        uint32   name_len      1..255, bytes of the name (ASCII, no NUL)
        char[]   name
        uint32   ndim          0..8 (0 = scalar, one element)
        int32[]  dims          ndim entries, each >= 0
        float32[] data         prod(dims) values, row-major (C order)

Integers (shapes, flags, hyper-parameters) are stored as float32 tensors, all
small enough to be exact. Each file holds a "cfg" tensor describing the case;
its layout per kind is documented in the case functions below (families.py
for family_*) and in tests/fixtures/README.md.

A case's seed is 1000 + its index in main()'s list, so new cases go at the
end of it: then the files of the others stay as they were.
"""

import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import families  # noqa: E402  (the network families, next to this file)

MAGIC = b"BNFX"
VERSION = 1


def write_fixture(path, tensors):
    """tensors: list of (name, tensor-like) in file order."""
    out = bytearray()
    out += MAGIC
    out += struct.pack("<II", VERSION, len(tensors))
    seen = set()
    for name, t in tensors:
        assert name not in seen, name
        seen.add(name)
        t = torch.as_tensor(t, dtype=torch.float32).detach().contiguous().cpu()
        nb = name.encode("ascii")
        assert 1 <= len(nb) <= 255
        assert t.dim() <= 8
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", t.dim())
        out += struct.pack("<%di" % t.dim(), *t.shape)
        out += struct.pack("<%df" % t.numel(), *t.reshape(-1).tolist())
    with open(path, "wb") as f:
        f.write(out)
    return len(out)


def cfg(*vals):
    return torch.tensor([float(v) for v in vals], dtype=torch.float32)


# ---------------------------------------------------------------- conv2d
# cfg = [N, in_c, out_c, k, stride, pad, in_h, in_w, has_bias, groups]
#       (files made before groups existed have 9 entries: groups 1)
# tensors: x [N,in_c,in_h,in_w], w [out_c,in_c/groups,k,k], b [out_c] (if has_bias),
#          dout, out [N,out_c,out_h,out_w], dx, dw, db (if has_bias).
#          out's dims also give the expected out_h/out_w.
CONV_CASES = [
    # name,              N, in_c, out_c, k, s, p, h,  w,  bias
    ("conv2d_k3s1p1_bias", 2, 3, 4, 3, 1, 1, 8, 8, True),
    ("conv2d_k3s2p1_nobias", 2, 4, 6, 3, 2, 1, 9, 9, False),
    ("conv2d_k1s2p0", 2, 4, 8, 1, 2, 0, 8, 8, False),
    ("conv2d_k1s1p0_bias", 3, 5, 3, 1, 1, 0, 6, 6, True),
    ("conv2d_k5s1p0_rect", 2, 2, 3, 5, 1, 0, 7, 10, True),
    ("conv2d_k3s2p1_rect", 2, 3, 5, 3, 2, 1, 7, 10, True),
]

# Grouped and depthwise convolutions; appended after every other case in
# main() so the seeds of the cases above stay as they were.
GROUPED_CONV_CASES = [
    # name,                 N, in_c, out_c, k, s, p, h,  w,  bias,  groups
    ("conv2d_g2_k3s1p1", 2, 4, 6, 3, 1, 1, 7, 7, False, 2),
    ("conv2d_g4_k1s1p0", 2, 8, 12, 1, 1, 0, 5, 6, False, 4),
    ("conv2d_g4_k3s2p1_bias", 2, 8, 4, 3, 2, 1, 9, 8, True, 4),
    ("conv2d_dw_k3s1p1", 2, 6, 6, 3, 1, 1, 8, 8, False, 6),
    ("conv2d_dw_k3s2p1_bias", 3, 5, 5, 3, 2, 1, 9, 10, True, 5),
]


# Rectangular kernels (Inception-v3's 1xn / nx1): k and p are the height's,
# kw and pw the width's; cfg then has 12 entries (..., groups, kw, pw).
RECT_CONV_CASES = [
    # name,              N, ic, oc, kh, s, ph, h, w, bias, groups, kw, pw
    ("conv2d_k1x3_p0x1", 2, 3, 4, 1, 1, 0, 6, 7, False, 1, 3, 1),
    ("conv2d_k3x1_p1x0_bias", 2, 4, 3, 3, 1, 1, 7, 5, True, 1, 1, 0),
    ("conv2d_k1x5_s2_p0x2", 2, 3, 5, 1, 2, 0, 6, 9, False, 1, 5, 2),
]


def conv_case(seed, name, N, ic, oc, k, s, p, h, w, bias, groups=1, kw=None, pw=None):
    torch.manual_seed(seed)
    kernel, padding = (k, k if kw is None else kw), (p, p if pw is None else pw)
    conv = torch.nn.Conv2d(ic, oc, kernel, stride=s, padding=padding, bias=bias, groups=groups)
    with torch.no_grad():
        conv.weight.copy_(torch.randn_like(conv.weight) * 0.5)
        if bias:
            conv.bias.copy_(torch.randn_like(conv.bias) * 0.5)
    x = torch.randn(N, ic, h, w).requires_grad_(True)
    out = conv(x)
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    extra = () if kw is None else (kw, pw)
    t = [("cfg", cfg(N, ic, oc, k, s, p, h, w, int(bias), groups, *extra)),
         ("x", x), ("w", conv.weight)]
    if bias:
        t.append(("b", conv.bias))
    t += [("dout", dout), ("out", out), ("dx", x.grad), ("dw", conv.weight.grad)]
    if bias:
        t.append(("db", conv.bias.grad))
    return t


# ---------------------------------------------------------------- linear
# cfg = [N, in_f, out_f, has_bias]
# tensors: x [N,in_f], w [out_f,in_f], b [out_f] (if has_bias), dout [N,out_f],
#          out, dx, dw, db (if has_bias)
LINEAR_CASES = [
    ("linear_bias", 4, 7, 5, True),
    ("linear_nobias", 3, 16, 10, False),
]


def linear_case(seed, name, N, fi, fo, bias):
    torch.manual_seed(seed)
    lin = torch.nn.Linear(fi, fo, bias=bias)
    x = torch.randn(N, fi).requires_grad_(True)
    out = lin(x)
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    t = [("cfg", cfg(N, fi, fo, int(bias))), ("x", x), ("w", lin.weight)]
    if bias:
        t.append(("b", lin.bias))
    t += [("dout", dout), ("out", out), ("dx", x.grad), ("dw", lin.weight.grad)]
    if bias:
        t.append(("db", lin.bias.grad))
    return t


# ------------------------------------------------------------- batchnorm
# cfg = [N, C, spatial, eps, momentum]   (input N x C x spatial; BN1d: spatial 1)
# tensors: gamma, beta, run_mean0, run_var0 [C] (initial running stats),
#          x, dout (training step), out, save_mean, save_invstd [C] (batch mean
#          and 1/sqrt(biased var + eps)), dx, dgamma, dbeta, run_mean, run_var
#          (running stats after the step), x_eval, out_eval (eval-mode forward
#          with the updated running stats), dout_eval, dx_eval, dgamma_eval,
#          dbeta_eval (backward of the eval-mode forward).
BN_CASES = [
    ("batchnorm2d", 4, 3, (5, 5)),
    ("batchnorm1d", 6, 4, ()),
]


def bn_case(seed, name, N, C, hw):
    torch.manual_seed(seed)
    eps, momentum = 1e-5, 0.1
    bn = (torch.nn.BatchNorm2d if hw else torch.nn.BatchNorm1d)(C, eps=eps, momentum=momentum)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(C) + 0.5)
        bn.bias.copy_(torch.randn(C) * 0.5)
        bn.running_mean.copy_(torch.randn(C) * 0.3)
        bn.running_var.copy_(torch.rand(C) * 1.5 + 0.5)
    rm0 = bn.running_mean.clone()
    rv0 = bn.running_var.clone()
    shape = (N, C) + tuple(hw)
    spatial = 1
    for d in hw:
        spatial *= d
    # Per-channel offset and scale so the batch statistics are far from 0/1.
    off = (torch.randn(C) * 2.0).reshape((1, C) + (1,) * len(hw))
    scl = (torch.rand(C) * 2.0 + 0.5).reshape((1, C) + (1,) * len(hw))
    x = (torch.randn(shape) * scl + off).requires_grad_(True)

    bn.train()
    red = [0] + list(range(2, x.dim()))
    save_mean = x.detach().mean(dim=red)
    save_invstd = 1.0 / torch.sqrt(x.detach().var(dim=red, unbiased=False) + eps)
    out = bn(x)
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    dgamma, dbeta = bn.weight.grad.clone(), bn.bias.grad.clone()

    bn.eval()
    bn.weight.grad = None
    bn.bias.grad = None
    x_eval = (torch.randn(shape) * scl + off).requires_grad_(True)
    out_eval = bn(x_eval)
    dout_eval = torch.randn_like(out_eval)
    (out_eval * dout_eval).sum().backward()

    return [("cfg", cfg(N, C, spatial, eps, momentum)),
            ("gamma", bn.weight), ("beta", bn.bias),
            ("run_mean0", rm0), ("run_var0", rv0),
            ("x", x), ("dout", dout),
            ("out", out), ("save_mean", save_mean), ("save_invstd", save_invstd),
            ("dx", x.grad), ("dgamma", dgamma), ("dbeta", dbeta),
            ("run_mean", bn.running_mean), ("run_var", bn.running_var),
            ("x_eval", x_eval), ("out_eval", out_eval),
            ("dout_eval", dout_eval), ("dx_eval", x_eval.grad),
            ("dgamma_eval", bn.weight.grad), ("dbeta_eval", bn.bias.grad)]


# ------------------------------------------------------------- groupnorm
# cfg = [N, C, G, spatial, eps]   (input N x C x H x W, spatial = H*W)
# tensors: gamma, beta [C], x, dout, out, save_mean, save_invstd [N,G] (mean
#          and 1/sqrt(biased var + eps) per sample and group), dx, dgamma, dbeta
GN_CASES = [
    ("groupnorm_g1", 2, 6, 1, 4, 4),
    ("groupnorm_g3", 2, 6, 3, 4, 4),
    ("groupnorm_g6", 2, 6, 6, 4, 4),
    ("groupnorm_g2_rect", 3, 8, 2, 3, 5),
]


def gn_case(seed, name, N, C, G, h, w):
    torch.manual_seed(seed)
    eps = 1e-5
    gn = torch.nn.GroupNorm(G, C, eps=eps)
    with torch.no_grad():
        gn.weight.copy_(torch.rand(C) + 0.5)
        gn.bias.copy_(torch.randn(C) * 0.5)
    off = (torch.randn(C) * 2.0).reshape(1, C, 1, 1)
    scl = (torch.rand(C) * 2.0 + 0.5).reshape(1, C, 1, 1)
    x = (torch.randn(N, C, h, w) * scl + off).requires_grad_(True)
    xg = x.detach().reshape(N, G, -1)
    save_mean = xg.mean(dim=2)
    save_invstd = 1.0 / torch.sqrt(xg.var(dim=2, unbiased=False) + eps)
    out = gn(x)
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    return [("cfg", cfg(N, C, G, h * w, eps)),
            ("gamma", gn.weight), ("beta", gn.bias),
            ("x", x), ("dout", dout),
            ("out", out), ("save_mean", save_mean), ("save_invstd", save_invstd),
            ("dx", x.grad), ("dgamma", gn.weight.grad), ("dbeta", gn.bias.grad)]


# ------------------------------------------------------------------- sgd
# cfg = [lr, momentum, nesterov, steps, ntensors]
# tensors: wd [ntensors] (weight decay of each tensor's param group),
#          init.i (tensor i before the first step), and per step s = 1..steps:
#          grad.s.i (the gradient set as p.grad before step s) and
#          after.s.i (tensor i after step s).
SGD_CASES = [
    # name,             lr,   momentum, nesterov, wd per tensor
    ("sgd_nesterov", 0.1, 0.9, True, (5e-4, 5e-4, 5e-4)),
    ("sgd_momentum", 0.1, 0.9, False, (5e-4, 5e-4, 5e-4)),
    ("sgd_nesterov_nowd_bias", 0.05, 0.9, True, (5e-4, 0.0, 5e-4)),
]
SGD_SHAPES = [(5, 4), (5,), (3, 2, 3, 3)]
SGD_STEPS = 3


def sgd_case(seed, name, lr, momentum, nesterov, wds):
    torch.manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s)) for s in SGD_SHAPES]
    groups = {}
    for p, wd in zip(params, wds):
        groups.setdefault(wd, []).append(p)
    opt = torch.optim.SGD([{"params": ps, "weight_decay": wd} for wd, ps in groups.items()],
                          lr=lr, momentum=momentum, nesterov=nesterov)
    t = [("cfg", cfg(lr, momentum, int(nesterov), SGD_STEPS, len(params))),
         ("wd", torch.tensor(wds, dtype=torch.float32))]
    t += [("init.%d" % i, p.detach().clone()) for i, p in enumerate(params)]
    for s in range(1, SGD_STEPS + 1):
        for i, p in enumerate(params):
            p.grad = torch.randn_like(p)
            t.append(("grad.%d.%d" % (s, i), p.grad.clone()))
        opt.step()
        t += [("after.%d.%d" % (s, i), p.detach().clone()) for i, p in enumerate(params)]
    return t


# ------------------------------------------------------------------- lrn
# cfg = [N, C, H, W, size, alpha, beta, k] with bnshift's alpha (no /size):
# torch.nn.LocalResponseNorm(size, alpha * size, beta, k), odd sizes (whose
# window, c - size//2 .. c + size//2, is bnshift's across-channel window).
LRN_CASES = [
    # name,          N, C, H, W, size, alpha, beta, k
    ("lrn_across_n5", 2, 7, 3, 4, 5, 1e-2, 0.75, 2.0),
    ("lrn_across_n3", 3, 4, 2, 5, 3, 0.5, 0.6, 1.0),
]


def lrn_case(seed, name, N, C, H, W, size, alpha, beta, k):
    torch.manual_seed(seed)
    lrn = torch.nn.LocalResponseNorm(size, alpha=alpha * size, beta=beta, k=k)
    x = (torch.randn(N, C, H, W) * 2.0).requires_grad_(True)
    out = lrn(x)
    dout = torch.randn_like(out)
    (out * dout).sum().backward()
    return [("cfg", cfg(N, C, H, W, size, alpha, beta, k)), ("x", x), ("dout", dout), ("out", out),
            ("dx", x.grad)]


# ------------------------------------------------------- label smoothing
# cfg = [N, K, eps]; labels as floats; loss is the mean over the batch;
# dlogits its gradient (torch.nn.CrossEntropyLoss(label_smoothing=eps)).
XENT_CASES = [
    ("xent_smooth_0.1", 6, 10, 0.1),
    ("xent_smooth_0.4", 3, 4, 0.4),
]


def xent_case(seed, name, N, K, eps):
    torch.manual_seed(seed)
    z = (torch.randn(N, K) * 3.0).requires_grad_(True)
    y = torch.randint(0, K, (N,))
    loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(z, y)
    loss.backward()
    return [("cfg", cfg(N, K, eps)), ("logits", z), ("labels", y.float()), ("loss", loss.reshape(1)),
            ("dlogits", z.grad)]


# ------------------------------------------------ cumulative BN averaging
# cfg = [N, C, H, W, K, reset_at]: a BatchNorm2d(C, momentum=None) in
# training mode over K batches x.k (k = 1..K, each with its own channel
# offsets and scales), reset_running_stats() before batch reset_at (0:
# never); run_mean.k and run_var.k after batch k (train.bn_estimator
# cumulative; the reset is bn_cumulative_reset: epoch at an epoch start).
BN_CUMULATIVE_CASES = [
    ("bn_cumulative", 3, 4, 3, 2, 6, 4),
]


def bn_cumulative_case(seed, name, N, C, H, W, K, reset_at):
    torch.manual_seed(seed)
    bn = torch.nn.BatchNorm2d(C, momentum=None)
    bn.train()
    t = [("cfg", cfg(N, C, H, W, K, reset_at))]
    for k in range(1, K + 1):
        if k == reset_at:
            bn.reset_running_stats()
        x = torch.randn(N, C, H, W) * (torch.rand(1, C, 1, 1) * 2.0 + 0.5) + torch.randn(1, C, 1, 1) * 2.0
        with torch.no_grad():
            bn(x)
        t += [("x.%d" % k, x), ("run_mean.%d" % k, bn.running_mean.clone()),
              ("run_var.%d" % k, bn.running_var.clone())]
    return t


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: gen_fixtures.py OUTDIR [CASE...]")
    outdir = sys.argv[1]
    only = set(sys.argv[2:])
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    torch.backends.mkldnn.enabled = False  # plain ATen kernels, fewer surprises

    cases = []
    for c in CONV_CASES:
        cases.append((c[0], conv_case, c))
    for c in LINEAR_CASES:
        cases.append((c[0], linear_case, c))
    for c in BN_CASES:
        cases.append((c[0], bn_case, c))
    for c in GN_CASES:
        cases.append((c[0], gn_case, c))
    for c in SGD_CASES:
        cases.append((c[0], sgd_case, c))
    # New cases only after this line (a case's seed is its index).
    for c in GROUPED_CONV_CASES:
        cases.append((c[0], conv_case, c))
    for name, spec in families.FAMILY_CASES:
        cases.append((name, families.family_case, (name, spec)))
    cases.append(("family_param_counts", families.param_count_case,
                  ("family_param_counts", families.PARAM_COUNT_SPECS, families.KNOWN_COUNTS)))
    for c in LRN_CASES:
        cases.append((c[0], lrn_case, c))
    for c in XENT_CASES:
        cases.append((c[0], xent_case, c))
    for name, spec in families.IBN_FAMILY_CASES:
        cases.append((name, families.family_case, (name, spec)))
    for c in RECT_CONV_CASES:
        cases.append((c[0], conv_case, c))
    for name, spec in families.SEED_FAMILY_CASES:
        cases.append((name, families.family_case, (name, spec)))
    cases.append(("family_param_counts_seed", families.param_count_case,
                  ("family_param_counts_seed", families.SEED_PARAM_COUNT_SPECS,
                   families.SEED_KNOWN_COUNTS)))
    for c in BN_CUMULATIVE_CASES:
        cases.append((c[0], bn_cumulative_case, c))

    total = 0
    for seed, (name, fn, args) in enumerate(cases, start=1000):
        if only and name not in only:
            continue
        tensors = fn(seed, *args)
        for tname, tt in tensors:
            assert torch.isfinite(torch.as_tensor(tt)).all(), (name, tname)
        n = write_fixture(os.path.join(outdir, name + ".bnfx"), tensors)
        total += n
        print("%-34s %3d tensors %8d bytes" % (name + ".bnfx", len(tensors), n))
    print("total %d bytes (torch %s)" % (total, torch.__version__))


if __name__ == "__main__":
    main()
