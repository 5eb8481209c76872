#!/usr/bin/python3
"""Checks bnshift's safetensors export and import against the PyTorch twins
of scripts/torch/bnshift_models.py.

    check_export.py RUN_DIR [--bnshift PATH]      a) and b) on one finished run
    check_export.py --all-families DIR [--bnshift PATH]
                                                   c) runs a small config of every family and
                                                   norm variant into DIR/<name>, a) and b) on each
                                                   (--only NAME: that config alone)
    check_export.py --check-names [CONFIG.json...] [--bnshift PATH]
                                                   names, kinds, depths, shapes and parameter
                                                   counts of build(cfg) against `bnshift info`
                                                   (a built-in list of configs when none given)

a) forward: `bnshift export RUN_DIR --out T/model.safetensors` and `bnshift
   eval RUN_DIR --only test --logits T/logits.safetensors` (which appends its
   rows to RUN_DIR/eval.csv, as every eval does); the torch model built from
   RUN_DIR/config.resolved.json loads the export with strict=True and, in eval
   mode, must give bnshift's logits on `inputs` within LOGIT_RTOL of
   max|logits|.
b) reverse: a fresh torch model (torch.manual_seed) trained a few SGD steps
   in train mode on part of `inputs` (so BN running statistics move) is
   written with write_safetensors; `bnshift eval RUN_DIR/config.resolved.json
   --weights T/torch.safetensors --out T/ev --only test` must report torch's
   test error (same misclassified count), its loss, and, per BN layer, the ESM columns torch's
   forward hooks give over `inputs` (exact population statistics of each BN's
   input in eval mode) within ESM_RTOL (plus a float32-conditioning term,
   ESM_COND). Then `bnshift run RUN_DIR/config.resolved.json --init-from
   T/torch.safetensors` with settings that cannot move a weight (lr 1e-30,
   no momentum or weight decay, BN momentum 0) and `export` of that run must
   give back the imported tensors.
c) --all-families: family_configs() below, one line per config (the
   --init-from part on INIT_FROM_CONFIGS, one config per family).

Exit 0 only when every check passes; each failure is one line starting
with FAIL (on stderr for a single RUN_DIR).
The bnshift binary: --bnshift, else $BNSHIFT, else ./bnshift, else the
repository's bnshift next to scripts/. Run with /usr/bin/python3
(Debian's python3-torch).
"""

import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import bnshift_models as bm  # noqa: E402

# max|torch - bnshift| <= LOGIT_RTOL * max|bnshift logits|. Both sides are
# float32 with different summation orders (oneDNN/OpenBLAS vs torch's
# kernels): ~1e-7 relative per op, growing with depth; 1e-5 holds with a
# wide margin for the networks here.
LOGIT_RTOL = 1e-5
# ESM columns: |torch - bnshift| <= ESM_RTOL * max(|torch|, |bnshift|) +
# ESM_ATOL + ESM_COND * |torch32 - torch64|. Both sides accumulate the
# expected statistics in double from float32 activations that agree to
# ~1e-6, and the running estimates are the very floats of the file, so
# 1e-4 holds for well-conditioned layers. A few are not: a channel whose
# input is nearly constant (sigma many orders below |mu|, e.g. a ReLU6
# saturated almost everywhere) has a variance that float32 rounding of the
# activations alone moves by a large fraction, and nesm_* divide by sigma.
# torch32 - torch64 (the same weights run in float64) measures that
# rounding sensitivity of each value; bnshift's float32 error is of the
# same order, so ESM_COND times it is added to the bound (it is ~1e-7
# relative for a well-conditioned layer, so the 1e-4 check keeps its bite).
ESM_RTOL = 1e-4
# The test loss (mean cross-entropy, train.label_smoothing as torch's): the
# logits agree to ~1e-6 of their scale, so 1e-5 of the loss (or of 1).
LOSS_RTOL = 1e-5
ESM_ATOL = 1e-9
ESM_COND = 20.0
ESM_COLUMNS = ("esm_mean", "esm_std", "esm_var", "rms_mean", "rms_std", "nesm_mean", "nesm_std")


class CheckFailed(Exception):
    """One failed check: its message is the line printed."""


def find_bnshift(arg):
    for cand in (arg, os.environ.get("BNSHIFT"), "./bnshift", os.path.join(HERE, "..", "..", "bnshift")):
        if cand:
            if not arg and not os.path.exists(cand):
                continue
            if not (os.path.isfile(cand) and os.access(cand, os.X_OK)):
                sys.exit("check_export.py: %s is not an executable bnshift" % cand)
            return os.path.abspath(cand)
    sys.exit("check_export.py: no bnshift binary (--bnshift PATH, $BNSHIFT or ./bnshift)")


def run_cmd(argv, what, timeout=600):
    """Runs argv; returns stdout; raises CheckFailed with the last stderr
    line when it fails."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           universal_newlines=True)
    except subprocess.TimeoutExpired:
        raise CheckFailed("%s: timed out after %d s: %s" % (what, timeout, " ".join(argv))) from None
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()] or ["(no message)"]
        raise CheckFailed("%s: `%s` exited %d: %s" % (what, " ".join(os.path.basename(a) if i == 0 else a
                                                                         for i, a in enumerate(argv)),
                                                      p.returncode, lines[-1].strip()))
    return p.stdout


def load_config(run_dir):
    path = os.path.join(run_dir, "config.resolved.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise CheckFailed("%s: cannot read: %s" % (path, e)) from None


def batched(model, x, batch=256):
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch]) for i in range(0, x.shape[0], batch)]) if x.shape[0] else \
            torch.empty(0)


# ------------------------------------------------------------- a) forward

EXPORT_SUFFIXES = {"conv": ("weight", "bias"), "linear": ("weight", "bias"), "gn": ("weight", "bias"),
                   "bn": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}


def check_forward(bnshift, run_dir, tmp):
    """a): bnshift's export loaded into the torch twin gives bnshift's
    logits. Returns a short summary."""
    cfg = load_config(run_dir)
    model_path = os.path.join(tmp, "model.safetensors")
    logits_path = os.path.join(tmp, "logits.safetensors")
    run_cmd([bnshift, "export", run_dir, "--out", model_path], "export")
    run_cmd([bnshift, "eval", run_dir, "--only", "test", "--logits", logits_path], "eval --logits")
    try:
        tensors, meta = bm.read_safetensors(model_path)
    except ValueError as e:
        raise CheckFailed("export: %s" % e) from None
    if meta.get("format") != "pt":
        raise CheckFailed("export: __metadata__ format is %r, not \"pt\"" % meta.get("format"))
    if "bnshift_version" not in meta:
        raise CheckFailed("export: __metadata__ has no bnshift_version")
    try:
        meta_cfg = json.loads(meta.get("config", ""))
    except ValueError:
        raise CheckFailed("export: __metadata__ config is not JSON") from None
    strip = lambda c: {k: v for k, v in c.items() if k != "meta"}  # noqa: E731
    if strip(meta_cfg) != strip(cfg):
        raise CheckFailed("export: __metadata__ config differs from %s/config.resolved.json" % run_dir)

    model = bm.build(cfg)
    expected = model.state_dict()
    # Names, dtypes and shapes first: one clear line for the first mismatch.
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    if missing or extra:
        raise CheckFailed("export: names differ from the torch model's: missing %s; unexpected %s"
                          % (missing[:4] or "none", extra[:4] or "none"))
    for k, t in expected.items():
        e = tensors[k]
        want = torch.int64 if k.endswith("num_batches_tracked") else torch.float32
        if e.dtype != want or tuple(e.shape) != tuple(t.shape):
            raise CheckFailed("export: %s is %s %s, expected %s %s" % (k, e.dtype, list(e.shape), want,
                                                                       list(t.shape)))
    # Forward order of the ops with parameters (the file's data order).
    file_ops = []
    for k in tensors:
        op = k.rsplit(".", 1)[0]
        if not file_ops or file_ops[-1] != op:
            file_ops.append(op)
    model_ops = [op.name for op in model._ops if op.module is not None]
    if file_ops != model_ops:
        at = next(i for i, (a, b) in enumerate(zip(file_ops + [None], model_ops + [None])) if a != b)
        raise CheckFailed("export: tensors not in forward order: #%d is %s, expected %s"
                          % (at, (file_ops + [None])[at], (model_ops + [None])[at]))
    model.load_state_dict(tensors, strict=True)
    model.eval()

    try:
        lt, _ = bm.read_safetensors(logits_path)
    except ValueError as e:
        raise CheckFailed("eval --logits: %s" % e) from None
    for k in ("inputs", "labels", "logits"):
        if k not in lt:
            raise CheckFailed("eval --logits: no tensor %r in %s" % (k, logits_path))
    x, y, ref = lt["inputs"], lt["labels"], lt["logits"]
    spec = model.spec
    if x.dtype != torch.float32 or tuple(x.shape[1:]) != (spec.in_c, spec.in_h, spec.in_w):
        raise CheckFailed("eval --logits: inputs %s %s, expected F32 [N, %d, %d, %d]"
                          % (x.dtype, list(x.shape), spec.in_c, spec.in_h, spec.in_w))
    N = x.shape[0]
    if y.dtype != torch.int64 or tuple(y.shape) != (N,):
        raise CheckFailed("eval --logits: labels %s %s, expected I64 [%d]" % (y.dtype, list(y.shape), N))
    if ref.dtype != torch.float32 or tuple(ref.shape) != (N, spec.num_classes):
        raise CheckFailed("eval --logits: logits %s %s, expected F32 [%d, %d]"
                          % (ref.dtype, list(ref.shape), N, spec.num_classes))
    out = batched(model, x)
    scale = float(ref.abs().max()) if N else 0.0
    diff = float((out - ref).abs().max()) if N else 0.0
    if not diff <= LOGIT_RTOL * scale:
        raise CheckFailed("forward: max |torch - bnshift| logit difference %.3g > %.0e x max |logit| %.4g"
                          % (diff, LOGIT_RTOL, scale))
    return x, y, "forward %d samples max|diff|/max|logit| %.1e" % (N, diff / scale if scale else 0.0)


# ------------------------------------------------------------- b) reverse

class StatHooks:
    """Exact per-channel count, mean and M2 (double) of every BN module's
    input over all forward passes (Chan et al.'s merge of batch moments)."""

    def __init__(self, layers):
        self.stats = {}
        self.handles = []
        for name, mod in layers:
            self.stats[name] = [0, None, None]
            self.handles.append(mod.register_forward_pre_hook(self._hook(name)))

    def _hook(self, name):
        def hook(mod, inputs):
            x = inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1)
            n_b = x.shape[1]
            mean_b = x.mean(1)
            m2_b = ((x - mean_b[:, None]) ** 2).sum(1)
            s = self.stats[name]
            if s[0] == 0:
                self.stats[name] = [n_b, mean_b, m2_b]
                return
            n_a, mean_a, m2_a = s
            n = n_a + n_b
            delta = mean_b - mean_a
            self.stats[name] = [n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)]
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()

    def mean_var(self, name):
        n, mean, m2 = self.stats[name]
        return mean, m2 / n


def esm(run_mean, run_var, mu, var):
    """lib/shift/esm.c's esm_compute, in double."""
    rm, rv = run_mean.double(), run_var.double()
    sigma_hat, sigma = rv.clamp(min=0).sqrt(), var.clamp(min=0).sqrt()
    e_mean, e_std, e_var = rm - mu, sigma_hat - sigma, rv - var
    C = rm.numel()
    keep = sigma >= 1e-12
    used = int(keep.sum())
    out = {"esm_mean": float(e_mean.norm()), "esm_std": float(e_std.norm()), "esm_var": float(e_var.norm())}
    out["rms_mean"] = out["esm_mean"] / math.sqrt(C)
    out["rms_std"] = out["esm_std"] / math.sqrt(C)
    out["nesm_mean"] = math.sqrt(float(((e_mean[keep] / sigma[keep]) ** 2).sum()) / used) if used else 0.0
    out["nesm_std"] = math.sqrt(float(((sigma_hat[keep] / sigma[keep] - 1) ** 2).sum()) / used) if used else 0.0
    return out


def read_eval_csv(path):
    import csv
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise CheckFailed("eval --weights: cannot read %s: %s" % (path, e)) from None


def train_torch(model, x, y, seed, steps=6, batch=16, lr=0.02):
    """A few SGD steps in train mode on the first samples of x (batches of
    `batch`, cycling), so the BN running statistics leave 0/1."""
    torch.manual_seed(seed)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    n = x.shape[0]
    batch = max(2, min(batch, n))
    for s in range(steps):
        i = (s * batch) % max(1, n - batch + 1)
        opt.zero_grad()
        loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        loss.backward()
        opt.step()
    model.eval()


def check_reverse(bnshift, run_dir, tmp, x, y, seed=7):
    """b): torch weights imported into bnshift give torch's error and the
    ESM torch's hooks measure."""
    cfg = load_config(run_dir)
    torch.manual_seed(seed)
    model = bm.build(cfg)
    if x.shape[0] < 2:
        raise CheckFailed("reverse: %d test samples; need at least 2 to train" % x.shape[0])
    train_torch(model, x, y, seed)
    state = {k: (v.to(torch.int64) if k.endswith("num_batches_tracked") else v.float())
             for k, v in model.state_dict().items()}
    weights = os.path.join(tmp, "torch.safetensors")
    bm.write_safetensors(weights, state, {"format": "pt", "bnshift_version": "torch %s" % torch.__version__,
                                          "config": json.dumps(cfg)})
    ev = os.path.join(tmp, "ev")
    shutil.rmtree(ev, ignore_errors=True)
    run_cmd([bnshift, "eval", os.path.join(run_dir, "config.resolved.json"), "--weights", weights, "--out", ev,
             "--only", "test"], "eval --weights")

    layers = model.bn_layers()
    hooks = StatHooks(layers)
    try:
        out = batched(model, x)
    finally:
        hooks.remove()
    model64 = copy.deepcopy(model).double()
    layers64 = model64.bn_layers()
    hooks64 = StatHooks(layers64)
    try:
        batched(model64, x.double())
    finally:
        hooks64.remove()
    wrong = out.argmax(1) != y
    top2 = out.topk(2, dim=1).values if out.shape[1] > 1 else None
    scale = float(out.abs().max())
    near = int(((top2[:, 0] - top2[:, 1]) <= 1e-4 * scale).sum()) if top2 is not None else 0

    rows = [r for r in read_eval_csv(os.path.join(ev, "eval.csv"))
            if r.get("set") == "test" and r.get("stage") == "before"]
    if not rows:
        raise CheckFailed("eval --weights: %s/eval.csv has no set=test, stage=before rows" % ev)
    N = x.shape[0]
    err_b = float(rows[0]["err"])
    n_wrong_b, n_wrong_t = err_b * N, int(wrong.sum())
    if abs(n_wrong_b - n_wrong_t) > near + 1e-6 * N:
        raise CheckFailed("reverse: bnshift's test error %.9g (%g of %d) != torch's %.9g (%d of %d)"
                          % (err_b, n_wrong_b, N, n_wrong_t / N, n_wrong_t, N))
    eps = float(cfg.get("train", {}).get("label_smoothing", 0) or 0)
    loss_t = float(F.cross_entropy(out.double(), y, label_smoothing=eps)) if N else 0.0
    loss_b = float(rows[0]["loss"])
    if not abs(loss_b - loss_t) <= LOSS_RTOL * max(abs(loss_t), 1.0):
        raise CheckFailed("reverse: bnshift's test loss %.9g != torch's %.9g" % (loss_b, loss_t))
    layer_rows = [r for r in rows if r.get("layer", "") != ""]
    if len(layer_rows) != len(layers):
        raise CheckFailed("reverse: eval.csv has %d BN rows, the torch model %d BN layers"
                          % (len(layer_rows), len(layers)))
    worst, n_cond = 0.0, 0
    for r, (name, mod), (_, mod64) in zip(sorted(layer_rows, key=lambda r: int(r["layer"])), layers, layers64):
        if r["name"] != name:
            raise CheckFailed("reverse: BN layer %s in eval.csv is %s in torch" % (r["layer"], name))
        want = esm(mod.running_mean, mod.running_var, *hooks.mean_var(name))
        ref64 = esm(mod64.running_mean, mod64.running_var, *hooks64.mean_var(name))
        for col in ESM_COLUMNS:
            a, b = float(r[col]), want[col]
            cond = abs(b - ref64[col])
            tol = ESM_RTOL * max(abs(a), abs(b)) + ESM_ATOL + ESM_COND * cond
            if not abs(a - b) <= tol:
                raise CheckFailed("reverse: %s %s: bnshift %.9g, torch %.9g (float64 %.9g; |diff| %.2g > %.2g)"
                                  % (name, col, a, b, ref64[col], abs(a - b), tol))
            if max(abs(a), abs(b)) > 0:
                rel = abs(a - b) / max(abs(a), abs(b))
                if rel > ESM_RTOL:
                    n_cond += 1  # passed on the conditioning term only
                else:
                    worst = max(worst, rel)
    return "reverse err %d/%d, %d BN layers, ESM max rel diff %.1e%s" % (
        n_wrong_t, N, len(layers), worst,
        " (+%d ill-conditioned values within %g x their float32 rounding)" % (n_cond, ESM_COND) if n_cond else "")


# --init-from: a run that cannot move the weights (lr 1e-30, no momentum,
# no weight decay; BN momentum 0 keeps the running statistics) must export
# the imported tensors unchanged. lr 1e-30 moves a weight w only where
# |1e-30 * g| reaches half an ulp of w, i.e. never for |g| < 1e10 unless
# w is within 1e-20 of 0: so |diff| <= INIT_ATOL.
INIT_ATOL = 1e-20


def check_init_from(bnshift, run_dir, tmp):
    """`run --init-from` reads the torch file of b) (tmp/torch.safetensors)
    into the same tensors `export` then writes."""
    weights = os.path.join(tmp, "torch.safetensors")
    out, exported = os.path.join(tmp, "init"), os.path.join(tmp, "init.safetensors")
    shutil.rmtree(out, ignore_errors=True)
    run_cmd([bnshift, "run", os.path.join(run_dir, "config.resolved.json"), "--out", out, "--quiet",
             "--init-from", weights, "--set", "train.epochs=1", "--set", "train.lr=1e-30", "--set",
             "train.momentum=0", "--set", "train.weight_decay=0", "--set", "train.bn_momentum=0"],
            "run --init-from")
    run_cmd([bnshift, "export", out, "--out", exported], "export after --init-from")
    try:
        a, _ = bm.read_safetensors(exported)
        b, _ = bm.read_safetensors(weights)
    except ValueError as e:
        raise CheckFailed("init-from: %s" % e) from None
    if set(a) != set(b):
        raise CheckFailed("init-from: the export has other names than the imported file: %s"
                          % sorted(set(a) ^ set(b))[:4])
    n = 0
    for k, t in b.items():
        if k.endswith("num_batches_tracked"):
            continue  # bnshift counts its own steps (not the imported count)
        d = float((a[k].double() - t.double()).abs().max()) if t.numel() else 0.0
        if not d <= INIT_ATOL:
            raise CheckFailed("init-from: %s differs from the imported tensor by %.3g after a run that cannot "
                              "move it" % (k, d))
        n += 1
    return "init-from %d tensors kept" % n


def check_run(bnshift, run_dir, tmp, init_from=True):
    x, y, fwd = check_forward(bnshift, run_dir, tmp)
    rev = check_reverse(bnshift, run_dir, tmp, x, y)
    parts = [fwd, rev]
    if init_from:
        parts.append(check_init_from(bnshift, run_dir, tmp))
    return "; ".join(parts)


# -------------------------------------------------------- c) all families

def family_configs():
    """(name, config) of every family and norm variant (and model.bfn,
    stem_norm, xbn_position, shortcut, lrn.mode, num_classes), small enough
    that `bnshift run` takes a second or two: synthetic 3x16x16 (one 1x12x12),
    4 classes, 48 training and 32 test images, 1 epoch of batch 16."""
    def cfg(name, **model):
        return name, {
            "name": name, "seed": 3,
            "data": {"dataset": "synthetic", "augment": False,
                     "synthetic": {"train": 48, "test": 32, "channels": 3, "size": 16, "classes": 4,
                                   "noise": 0.6}},
            "model": model,
            "train": {"epochs": 1, "batch_size": 16, "lr": 0.05, "schedule": {"type": "constant"}},
            "log": {"out": "runs/NAME", "eval_sets": ["test"]},
        }
    r = dict(arch="resnet", depth=8, width=4, groups=2)
    bott = dict(arch="resnet", block="bottleneck", depth=11, width=4, groups=2)
    rx = dict(arch="resnext", depth=11, width=4, cardinality=2, group_width=2, groups=2)
    mb = dict(arch="mobilenetv2", width_mult=0.25, groups=8)
    sh = dict(arch="shufflenetv2", width_mult=0.5)
    ax = dict(arch="alexnet", width=4, groups=4)
    inc = dict(arch="inception", width=4, groups=2)
    vgg = dict(arch="vgg", channels=[8, "M", 16, "M", 16], groups=4)
    mlp = dict(arch="mlp", hidden=[32, 16], groups=4)
    out = [
        cfg("resnet-bn", norm="bn", **r),
        cfg("resnet-gnbn", norm="gnbn", **r),
        cfg("resnet-xbnblock-pos2", norm="xbnblock", xbn_position=2, **r),
        cfg("resnet-gn", norm="gn", **r),
        cfg("resnet-ln-stembn", norm="ln", stem_norm="bn", **r),
        cfg("resnet-in", norm="in", **r),
        cfg("resnet-none", norm="none", **r),
        cfg("resnet-ibn", norm="ibn", **r),
        cfg("resnet-lrn", norm="lrn", **r),
        cfg("resnet-identity-gnbn-in", norm="gnbn", bfn="in", shortcut="identity", **r),
        cfg("resnet-xbnblock-stemgn-ln", norm="xbnblock", bfn="ln", stem_norm="gn", **r),
        cfg("bottleneck-xbnblock", norm="xbnblock", **bott),
        cfg("bottleneck-ibn", norm="ibn", **bott),
        cfg("resnext-bn", norm="bn", **rx),
        cfg("resnext-xbnblock-pos3-lrnw", norm="xbnblock", xbn_position=3, bfn="lrn",
            lrn={"mode": "within", "size": 3, "alpha": 0.001}, **rx),
        cfg("mobilenetv2-bn-stemnone", norm="bn", stem_norm="none", **mb),
        cfg("mobilenetv2-xbnblock", norm="xbnblock", **mb),
        cfg("shufflenetv2-gnbn", norm="gnbn", **sh),
        cfg("shufflenetv2-xbnblock", norm="xbnblock", **sh),
        cfg("alexnet-lrn", norm="lrn", **ax),
        cfg("alexnet-bn-all", norm="bn", norm_all=True, **ax),
        cfg("inception-v2-xbnblock", norm="xbnblock", inception="v2", **inc),
        cfg("inception-v3-gnbn", norm="gnbn", inception="v3", **inc),
        cfg("vgg-bn-classes6", norm="bn", num_classes=6, **vgg),
        cfg("vgg-in", norm="in", **vgg),
        cfg("mlp-bn", norm="bn", **mlp),
        cfg("mlp-ln-1ch", norm="ln", **mlp),
    ]
    for name, c in out:
        if name == "mlp-ln-1ch":
            c["data"]["synthetic"].update(channels=1, size=12)
        if name == "resnet-gn":
            c["train"]["label_smoothing"] = 0.1  # the eval loss follows it
        if name in ("resnet-in", "bottleneck-ibn"):
            c["train"]["bn_eps"] = 1e-3  # every norm's eps
    return out


# The --all-families configs that also check `run --init-from` (one per
# family; the import path is the same as eval --weights', which every
# config checks).
INIT_FROM_CONFIGS = {"resnet-ibn", "bottleneck-xbnblock", "resnext-xbnblock-pos3-lrnw", "mobilenetv2-xbnblock",
                     "shufflenetv2-gnbn", "alexnet-bn-all", "inception-v3-gnbn", "vgg-bn-classes6", "mlp-bn"}


def all_families(bnshift, out_dir, only=None):
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    configs = family_configs()
    if only:
        configs = [c for c in configs if c[0] in only]
    for name, cfg in configs:
        t0 = time.time()
        run_dir = os.path.join(out_dir, name)
        tmp = os.path.join(out_dir, name + ".check")
        os.makedirs(tmp, exist_ok=True)
        cfg_path = os.path.join(out_dir, name + ".json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=1)
        try:
            run_cmd([bnshift, "run", cfg_path, "--out", run_dir, "--overwrite", "--quiet"], "run")
            msg = "ok    %-28s %s (%.1f s)" % (name, check_run(bnshift, run_dir, tmp, name in INIT_FROM_CONFIGS),
                                               time.time() - t0)
            print(msg, flush=True)
        except CheckFailed as e:
            failed += 1
            print("FAIL  %-28s %s" % (name, e), flush=True)
    print("%d of %d configs passed" % (len(configs) - failed, len(configs)), flush=True)
    return 1 if failed else 0


# ---------------------------------------------------- --check-names (info)

def parse_info(text):
    """The op rows of `bnshift info`: [(name, op, depth or "", "CxHxW",
    params)], and the total parameter count."""
    rows, total, in_table = [], None, False
    for line in text.splitlines():
        tok = line.split()
        if tok[:2] == ["layer", "op"]:
            in_table = True
            continue
        if line.startswith("total:"):
            total = int(tok[1])
            in_table = False
            continue
        if in_table and tok:
            if len(tok) == 6:
                rows.append((tok[0], tok[1], int(tok[2]), tok[3], int(tok[4])))
            elif len(tok) == 5:
                rows.append((tok[0], tok[1], "", tok[2], int(tok[3])))
            else:
                raise CheckFailed("info: cannot parse the line %r" % line)
    return rows, total


def expected_keys(rows, model):
    """The export names of the naming contract from bnshift's op rows (and
    the torch weight's size, to tell a conv's/linear's bias from none)."""
    mods = dict(model.named_modules())
    keys = {}
    for name, kind, _, shape, params in rows:
        if params == 0:
            continue
        C = int(shape.split("x")[0])
        base = kind.split("/")[0]
        if base == "bn":
            keys.update({name + ".weight": [C], name + ".bias": [C], name + ".running_mean": [C],
                         name + ".running_var": [C], name + ".num_batches_tracked": []})
        elif base == "gn":
            keys.update({name + ".weight": [C], name + ".bias": [C]})
        elif base in ("conv", "linear"):
            mod = mods.get(name)
            if mod is None:
                raise CheckFailed("info: %s (%s) has no torch module" % (name, kind))
            w = list(mod.weight.shape)
            if w[0] != C:
                raise CheckFailed("info: %s has %d outputs, torch's weight %s" % (name, C, w))
            keys[name + ".weight"] = w
            n_w = mod.weight.numel()
            if params == n_w + C:
                keys[name + ".bias"] = [C]
            elif params != n_w:
                raise CheckFailed("info: %s has %d parameters, torch's weight %s %d (+%d bias)"
                                  % (name, params, w, n_w, C))
        else:
            raise CheckFailed("info: %s: op %s with %d parameters" % (name, kind, params))
    return keys


def check_names_one(bnshift, label, cfg, tmp):
    path = os.path.join(tmp, "cfg.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    info = run_cmd([bnshift, "info", path], "info")
    rows, total = parse_info(info)
    try:
        model = bm.build(cfg)
    except bm.BnshiftConfigError as e:
        raise CheckFailed("build: %s (bnshift info accepted it)" % e) from None
    mine = model.describe()
    for i, (a, b) in enumerate(zip(rows + [None] * len(mine), mine + [None] * len(rows))):
        if a is None and b is None:
            break
        if a != b:
            raise CheckFailed("op #%d: bnshift info %s, torch %s" % (i, a, b))
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != total:
        raise CheckFailed("total parameters: bnshift %s, torch %d" % (total, n_params))
    want = expected_keys(rows, model)
    have = {k: list(v.shape) for k, v in model.state_dict().items()}
    if set(want) != set(have):
        raise CheckFailed("state_dict keys: missing %s, unexpected %s"
                          % (sorted(set(want) - set(have))[:4], sorted(set(have) - set(want))[:4]))
    for k in want:
        if want[k] != have[k]:
            raise CheckFailed("%s: shape %s, the contract says %s" % (k, have[k], want[k]))
    sd = model.state_dict()
    for k, v in sd.items():
        if v.dtype != (torch.int64 if k.endswith("num_batches_tracked") else torch.float32):
            raise CheckFailed("%s: dtype %s" % (k, v.dtype))
    # An eval-mode forward runs and gives [N, classes].
    spec = model.spec
    out = model.eval()(torch.randn(2, spec.in_c, spec.in_h, spec.in_w))
    if tuple(out.shape) != (2, spec.num_classes):
        raise CheckFailed("forward gives %s, expected [2, %d]" % (list(out.shape), spec.num_classes))
    return "%d ops, %d parameters, %d tensors" % (len(rows), total, len(sd))


def names_configs():
    """(label, config) pairs for --check-names: every arch x every norm it
    accepts at small sizes, the options that change structure, and
    standard-size instances."""
    def small(model, **extra):
        c = {"name": "names", "seed": 1,
             "data": {"dataset": "synthetic", "synthetic": {"train": 8, "test": 4, "channels": 3, "size": 16,
                                                            "classes": 10}},
             "model": model, "train": {"batch_size": 4}, "log": {"out": "runs/NAME"}}
        for k, v in extra.items():
            c[k] = v
        return c
    out = []
    bases = {
        "resnet": dict(arch="resnet", depth=8, width=4, groups=2),
        "resnet14": dict(arch="resnet", depth=14, width=4, groups=2),
        "bottleneck": dict(arch="resnet", block="bottleneck", depth=11, width=4, groups=2),
        "resnext": dict(arch="resnext", depth=11, width=4, cardinality=2, group_width=2, groups=2),
        "mobilenetv2": dict(arch="mobilenetv2", width_mult=0.25, groups=8),
        "shufflenetv2": dict(arch="shufflenetv2", width_mult=0.5),
        "alexnet": dict(arch="alexnet", width=4, groups=4),
        "alexnet-all": dict(arch="alexnet", width=4, groups=4, norm_all=True),
        "inception-v2": dict(arch="inception", width=4, groups=2, inception="v2"),
        "inception-v3": dict(arch="inception", width=4, groups=2, inception="v3"),
        "vgg": dict(arch="vgg", channels=[8, "M", 16, 16, "M", 32], groups=4),
        "mlp": dict(arch="mlp", hidden=[32, 16, 8], groups=4),
    }
    norms = {
        "resnet": ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "ibn", "lrn"),
        "resnext": ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "ibn", "lrn"),
        "mobilenetv2": ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "lrn"),
        "shufflenetv2": ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "lrn"),
        "inception": ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "lrn"),
        "alexnet": ("bn", "gnbn", "gn", "ln", "in", "none", "lrn"),
        "vgg": ("bn", "gnbn", "gn", "ln", "in", "none", "lrn"),
        "mlp": ("bn", "gnbn", "gn", "ln", "none", "lrn"),
    }
    for label, base in bases.items():
        for norm in norms[base["arch"]]:
            out.append(("%s-%s" % (label, norm), small(dict(base, norm=norm))))
    # Options that change structure.
    for label in ("resnet", "bottleneck", "resnext", "mobilenetv2", "shufflenetv2", "inception-v3"):
        for bfn in ("ln", "in", "lrn"):
            for norm in ("gnbn", "xbnblock"):
                out.append(("%s-%s-bfn-%s" % (label, norm, bfn), small(dict(bases[label], norm=norm, bfn=bfn))))
    for label in ("resnet", "bottleneck", "resnext", "mobilenetv2", "shufflenetv2", "inception-v2", "vgg", "mlp",
                  "alexnet"):
        mixed = ("xbnblock",) if label not in ("vgg", "mlp", "alexnet") else ()
        for norm in ("bn", "gnbn", "gn", "none") + mixed:
            for stem in ("bn", "gn", "none"):
                out.append(("%s-%s-stem-%s" % (label, norm, stem), small(dict(bases[label], norm=norm,
                                                                             stem_norm=stem))))
    for pos in (1, 2):
        out.append(("resnet-xbnblock-pos%d" % pos,
                    small(dict(bases["resnet"], norm="xbnblock", xbn_position=pos))))
    for pos in (1, 2, 3):
        for label in ("bottleneck", "resnext"):
            out.append(("%s-xbnblock-pos%d" % (label, pos),
                        small(dict(bases[label], norm="xbnblock", xbn_position=pos))))
    for norm in ("bn", "gnbn", "ibn", "none", "xbnblock"):
        for label in ("resnet", "bottleneck", "resnext"):
            out.append(("%s-%s-identity" % (label, norm),
                        small(dict(bases[label], norm=norm, shortcut="identity"))))
    out.append(("alexnet-lrn-within",
                small(dict(bases["alexnet"], norm="lrn", lrn={"mode": "within", "size": 3}))))
    out.append(("alexnet-all-lrn-size4", small(dict(bases["alexnet-all"], norm="lrn", lrn={"size": 4}))))
    out.append(("mobilenetv2-wm1.5", small(dict(arch="mobilenetv2", width_mult=1.5, norm="xbnblock"))))
    out.append(("mobilenetv2-wm0.3", small(dict(arch="mobilenetv2", width_mult=0.3, norm="bn"))))
    out.append(("resnet-num_classes", small(dict(bases["resnet"], num_classes=17))))
    out.append(("resnet-1ch-size12", small(dict(bases["resnet"]), data={"dataset": "synthetic", "synthetic": {
        "train": 8, "test": 4, "channels": 1, "size": 12, "classes": 7}})))
    out.append(("vgg-odd-size", small(dict(bases["vgg"]), data={"dataset": "synthetic", "synthetic": {
        "train": 8, "test": 4, "channels": 2, "size": 11, "classes": 5}})))
    out.append(("resnet-identity-odd-size", small(dict(bases["resnet"], shortcut="identity"), data={
        "dataset": "synthetic", "synthetic": {"train": 8, "test": 4, "channels": 3, "size": 13, "classes": 5}})))
    # Standard sizes (3x32x32, the defaults of each family).
    std = lambda **m: small(m, data={"dataset": "synthetic", "synthetic": {"train": 8, "test": 4}})  # noqa: E731
    out += [("std-resnet20", std()),
            ("std-resnet20-xbnblock", std(norm="xbnblock")),
            ("std-resnet56-bottleneck", std(block="bottleneck", depth=56)),
            ("std-resnext29", std(arch="resnext", depth=29)),
            ("std-resnext29-xbnblock", std(arch="resnext", depth=29, norm="xbnblock")),
            ("std-mobilenetv2", std(arch="mobilenetv2")),
            ("std-mobilenetv2-xbnblock", std(arch="mobilenetv2", norm="xbnblock")),
            ("std-shufflenetv2-1.0", std(arch="shufflenetv2")),
            ("std-shufflenetv2-2.0-xbnblock", std(arch="shufflenetv2", width_mult=2.0, norm="xbnblock")),
            ("std-shufflenetv2-1.5-gn", std(arch="shufflenetv2", width_mult=1.5, norm="gn")),
            ("std-alexnet-lrn", std(arch="alexnet", width=64, norm="lrn")),
            ("std-alexnet-bn-all", std(arch="alexnet", width=64, norm="bn", norm_all=True)),
            ("std-inception-v2", std(arch="inception")),
            ("std-inception-v3-xbnblock", std(arch="inception", inception="v3", norm="xbnblock")),
            ("std-vgg", std(arch="vgg")),
            ("std-mlp", std(arch="mlp")),
            ("fmnist-resnet20", small({}, data={"dataset": "fashion-mnist", "train_subset": 8})),
            ("fmnist-mlp-gnbn", small({"arch": "mlp", "norm": "gnbn"},
                                      data={"dataset": "fashion-mnist", "train_subset": 8}))]
    return out


def check_names(bnshift, files):
    if files:
        configs = []
        for p in files:
            with open(p) as f:
                configs.append((p, json.load(f)))
    else:
        configs = names_configs()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bnshift-names-") as tmp:
        for label, cfg in configs:
            try:
                print("ok    %-40s %s" % (label, check_names_one(bnshift, label, cfg, tmp)), flush=True)
            except CheckFailed as e:
                failed += 1
                print("FAIL  %-40s %s" % (label, e), flush=True)
    print("%d of %d configs passed" % (len(configs) - failed, len(configs)), flush=True)
    return 1 if failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", help="RUN_DIR (a and b), or CONFIG.json files with --check-names")
    p.add_argument("--bnshift", help="the bnshift binary (default $BNSHIFT, else ./bnshift)")
    p.add_argument("--all-families", metavar="DIR",
                   help="run every family's small config into DIR/<name>, check each")
    p.add_argument("--only", action="append", help="with --all-families: only this config name (repeatable)")
    p.add_argument("--check-names", action="store_true", help="compare build(cfg) with `bnshift info`")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of torch and of the bnshift commands (OMP_NUM_THREADS; default: theirs)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
        os.environ["OMP_NUM_THREADS"] = str(a.threads)
    bnshift = find_bnshift(a.bnshift)
    if a.check_names:
        return check_names(bnshift, a.paths)
    if a.all_families:
        if a.paths:
            p.error("--all-families takes no RUN_DIR")
        return all_families(bnshift, a.all_families, a.only)
    if len(a.paths) != 1:
        p.error("expected one RUN_DIR (or --all-families DIR, or --check-names)")
    run_dir = a.paths[0]
    with tempfile.TemporaryDirectory(prefix="bnshift-export-") as tmp:
        try:
            print("ok    %s: %s" % (run_dir, check_run(bnshift, run_dir, tmp)))
        except CheckFailed as e:
            print("FAIL  %s: %s" % (run_dir, e), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
