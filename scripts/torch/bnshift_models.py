#!/usr/bin/python3
"""PyTorch twins of every network bnshift builds, made from a run's
config.resolved.json, and a pure-Python safetensors reader/writer.

    import bnshift_models as bm
    cfg = json.load(open("runs/demo-bn/config.resolved.json"))
    model = bm.build(cfg)                       # torch.nn.Module, NCHW float32
    tensors, meta = bm.read_safetensors("model.safetensors")   # bnshift export
    model.load_state_dict(tensors, strict=True)
    logits = model.eval()(x)                    # x: [N, C, H, W], normalized as bnshift feeds it

The builder below is a line-by-line transliteration of lib/models/arch.c
(with lib/models/norm_plan.c and the op constructors of lib/models/model.c):
the same ops in the same forward order, the same names, the same norm
positions and roles (so gnbn's odd positions, xbnblock's replaced norm,
IBN-Net-a's mixed layers and model.stem_norm land where bnshift puts them),
the same bias rule (a conv or linear followed by no norm has a bias). Each op
with parameters is an nn.Module registered under its bnshift name (the name
split at its dots into nested containers), so state_dict() keys are
exactly the names of `bnshift export`:

    NAME.weight, NAME.bias        conv [out, in/groups, kh, kw], linear [out, in],
                                  norms [C] (gamma / beta)
    NAME.running_mean, NAME.running_var, NAME.num_batches_tracked   (BN only)

Norms: BN is nn.BatchNorm2d; GN, LN (GroupNorm(1, C)) and IN (GroupNorm(C,
C)) are nn.GroupNorm, eps train.bn_eps; LRN is bnshift's own (lib/layers/
lrn.h: b = a / (k + alpha * sum a^2)^beta over a window clipped at the
edges, across channels or within one), computed in double as the C code
does. Inputs and every activation are 4-D ([N, C, 1, 1] after a linear or
the global average pool); the model returns [N, classes].

Also: input_shape(cfg) -> ((C, H, W), classes) as cmd/setup.c derives them
(imagefolder refused: its shape comes from the files); Net.describe() the
rows `bnshift info` prints (name, op, depth, output, params), for
check_export.py --check-names; Net.bn_layers() [(name, BatchNorm2d)] in the
order of shift.csv's / eval.csv's `layer`. A config bnshift would refuse
(depth, groups, xbn_position, ...) raises BnshiftConfigError naming the key.
A network of a non-default train.bn_eps/bn_momentum gets them (as float32).

Run with Debian's interpreter: /usr/bin/python3 (python3-torch).
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["build", "input_shape", "read_safetensors", "write_safetensors", "BnshiftConfigError", "Net"]


class BnshiftConfigError(ValueError):
    """A config this module cannot (or bnshift would not) build; the message
    names the key, as bnshift's own errors do."""


# ----------------------------------------------------------------- config

# config_defaults() of lib/run/config.c, the model part.
MODEL_DEFAULTS = {
    "arch": "resnet", "depth": 20, "width": 16, "block": "basic", "cardinality": 8, "group_width": 4,
    "shortcut": "projection", "norm": "bn", "xbn_position": 0, "inception": "v2", "norm_all": False,
    "width_mult": 1.0, "stem_norm": "auto", "bfn": "gn",
    "lrn": {"mode": "across", "size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0},
    "hidden": [256, 256, 256, 256], "channels": [64, 64, "M", 128, 128, "M", 256, 256, "M"],
    "num_classes": 0,
}
ARCHS = ("resnet", "vgg", "mlp", "resnext", "mobilenetv2", "shufflenetv2", "alexnet", "inception")
VARIANTS = ("bn", "gnbn", "xbnblock", "gn", "ln", "in", "none", "ibn", "lrn")
BFNS = ("gn", "ln", "in", "lrn")
STEMS = ("auto", "bn", "gn", "none")


def f32(v):
    """v rounded to float32 (the C side keeps eps, momentum and LRN's
    constants as float)."""
    return struct.unpack("<f", struct.pack("<f", float(v)))[0]


def arch_default_groups(arch, width_mult):
    """arch.c's arch_default_groups: the GroupNorm groups without model.groups."""
    if arch == "mobilenetv2":
        return 16
    if arch == "shufflenetv2":
        return 29 if width_mult == 1.0 else 2 if width_mult == 2.0 else 8
    if arch == "alexnet":
        return 16
    if arch == "inception":
        return 8
    return 32


def input_shape(cfg):
    """((C, H, W), classes) of the data a config trains on, as cmd/setup.c
    derives them (model.num_classes > 0 overrides the class count)."""
    data = cfg.get("data", {})
    ds = data.get("dataset", "cifar10")
    if ds in ("fashion-mnist", "mnist"):
        shape, classes = (1, 28, 28), 10
    elif ds == "cifar10":
        shape, classes = (3, 32, 32), 10
    elif ds == "cifar100":
        shape, classes = (3, 32, 32), 100
    elif ds == "synthetic":
        syn = data.get("synthetic", {})
        size = int(syn.get("size", 32))
        shape, classes = (int(syn.get("channels", 3)), size, size), int(syn.get("classes", 10))
    elif ds == "imagefolder":
        raise BnshiftConfigError("data.dataset: \"imagefolder\": the image size and class count come from "
                                 "the files, not the config; not supported here (use a config with "
                                 "fashion-mnist, mnist, cifar10, cifar100 or synthetic data)")
    else:
        raise BnshiftConfigError("data.dataset: unknown data set %r" % (ds,))
    nc = int(cfg.get("model", {}).get("num_classes", 0) or 0)
    if 0 < nc < classes:
        raise BnshiftConfigError("model.num_classes: %d, but the data has %d classes" % (nc, classes))
    if nc > 0:
        classes = nc
    return shape, classes


class Spec:
    """arch.h's ModelSpec from a config dict (defaults as lib/run/config.c,
    validation as its validate_model)."""

    def __init__(self, cfg):
        m = dict(MODEL_DEFAULTS)
        given = cfg.get("model", {}) or {}
        m.update(given)
        lrn = dict(MODEL_DEFAULTS["lrn"])
        lrn.update(given.get("lrn", {}) or {})
        train = cfg.get("train", {}) or {}

        def enum(key, allowed):
            v = m[key]
            if v not in allowed:
                raise BnshiftConfigError("model.%s: %r is not one of %s" % (key, v, ", ".join(allowed)))
            return v

        self.arch = enum("arch", ARCHS)
        self.norm = enum("norm", VARIANTS)
        self.bfn = enum("bfn", BFNS)
        self.stem_norm = enum("stem_norm", STEMS)
        self.block = enum("block", ("basic", "bottleneck"))
        self.inception = enum("inception", ("v2", "v3"))
        self.shortcut = enum("shortcut", ("projection", "identity"))
        self.depth, self.width = int(m["depth"]), int(m["width"])
        self.cardinality, self.group_width = int(m["cardinality"]), int(m["group_width"])
        self.xbn_position = int(m["xbn_position"])
        self.norm_all = bool(m["norm_all"])
        self.width_mult = float(m["width_mult"])
        self.groups = int(m["groups"]) if "groups" in given else arch_default_groups(self.arch, self.width_mult)
        self.lrn_mode = lrn["mode"]
        if self.lrn_mode not in ("across", "within"):
            raise BnshiftConfigError("model.lrn.mode: %r is not across or within" % (self.lrn_mode,))
        self.lrn_size = int(lrn["size"])
        self.lrn_alpha, self.lrn_beta, self.lrn_k = f32(lrn["alpha"]), f32(lrn["beta"]), f32(lrn["k"])
        self.hidden = [int(v) for v in m["hidden"]]
        self.channels = ["M" if v == "M" else int(v) for v in m["channels"]]
        (self.in_c, self.in_h, self.in_w), self.num_classes = input_shape(cfg)
        self.bn_eps = f32(train.get("bn_eps", 1e-5))
        self.bn_momentum = f32(train.get("bn_momentum", 0.1))
        self.validate()

    def bottleneck(self):
        return self.arch == "resnext" or (self.arch == "resnet" and self.block == "bottleneck")

    def validate(self):
        bott = self.bottleneck()
        step = 9 if bott else 6
        if self.arch in ("resnet", "resnext") and (self.depth < step + 2 or (self.depth - 2) % step):
            raise BnshiftConfigError("model.depth: %d is not %dn+2 for a %s" % (
                self.depth, step, "resnext" if self.arch == "resnext" else
                "bottleneck resnet" if bott else "resnet"))
        if self.arch == "mlp" and self.norm == "in":
            raise BnshiftConfigError("model.norm: \"in\" on an mlp would normalize one value per group")
        if self.arch in ("vgg", "mlp", "alexnet") and self.norm == "xbnblock":
            raise BnshiftConfigError("model.norm: \"xbnblock\" needs model.arch resnet, resnext, mobilenetv2, "
                                     "shufflenetv2 or inception")
        if self.norm == "ibn" and self.arch not in ("resnet", "resnext"):
            raise BnshiftConfigError("model.norm: \"ibn\" needs model.arch resnet or resnext")
        if self.xbn_position and self.arch not in ("resnet", "resnext"):
            raise BnshiftConfigError("model.xbn_position: applies to resnet and resnext blocks only")
        if self.xbn_position > (3 if bott else 2):
            raise BnshiftConfigError("model.xbn_position: %d, but the block has %d norms"
                                     % (self.xbn_position, 3 if bott else 2))
        if self.arch == "shufflenetv2" and self.width_mult not in SHUFFLE_WIDTHS:
            raise BnshiftConfigError("model.width_mult: %g, but shufflenetv2 has widths 0.5, 1.0, 1.5 and 2.0"
                                     % self.width_mult)


# --------------------------------------------------------------- norm plan

def norm_bfn_kind(bfn):
    return bfn  # "gn", "ln", "in", "lrn": the norm kinds of the same names


def norm_plan(spec, position, role):
    """norm_plan.c: the norm kind ("bn", "gn", "ln", "in", "lrn", "ibn",
    "none") at 1-based position with role ("stem", "block", "xbn",
    "shortcut", "plain", "ibn")."""
    if role == "stem" and spec.stem_norm != "auto":
        return {"bn": "bn", "gn": norm_bfn_kind(spec.bfn), "none": "none"}[spec.stem_norm]
    v = spec.norm
    if v == "bn":
        return "bn"
    if v == "gnbn":
        return norm_bfn_kind(spec.bfn) if position % 2 == 1 else "bn"
    if v == "xbnblock":
        return norm_bfn_kind(spec.bfn) if role == "xbn" else "bn"
    if v in ("gn", "ln", "in", "lrn"):
        return v
    if v == "ibn":
        return "ibn" if role == "ibn" else "bn"
    return "none"


# ------------------------------------------------------------- parameter-free ops

def lrn(x, mode, size, alpha, beta, k):
    """lib/layers/lrn.c: b = a * (k + alpha * S)^-beta, S the sum of a^2 over
    channels c - size//2 .. c + size//2 (across) or the (2*(size//2)+1)^2
    square around a position (within), clipped at the edges. The window
    sum in double rounded to float, the base rounded to float, the power
    in double: as the C code (for float32 x; float64 x is not rounded)."""
    h = size // 2
    # float32 inputs: round where the C code rounds; float64 (a reference
    # twin, check_export.py): no rounding at all.
    rnd = (lambda t: t.float().double()) if x.dtype == torch.float32 else (lambda t: t)
    a = x.double()
    sq = a * a
    if mode == "across":
        C = x.shape[1]
        p = F.pad(sq, (0, 0, 0, 0, h, h))
        s = sum(p[:, j:j + C] for j in range(2 * h + 1))
    else:
        H, W = x.shape[2], x.shape[3]
        p = F.pad(sq, (h, h, h, h))
        s = sum(p[:, :, i:i + H, j:j + W] for i in range(2 * h + 1) for j in range(2 * h + 1))
    d = rnd(k + alpha * rnd(s))
    return (a * d.pow(-beta)).to(x.dtype)


def option_a_shortcut(x, out_c, stride):
    """lib/layers/shortcut.c: x[:, :, ::stride, ::stride], zero channels
    (out_c - in_c) // 2 in front and the rest behind."""
    y = x[:, :, ::stride, ::stride]
    front = (out_c - x.shape[1]) // 2
    return F.pad(y, (0, 0, 0, 0, front, out_c - x.shape[1] - front))


# ------------------------------------------------------------------ the net

SHUFFLE_WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024),
                  1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
MBV2_ROWS = ((1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # t, c, n, s (CIFAR)
INCEPTION_MODULES = (  # arch.c's INCEPTION_MODULES at width 16
    ("3a", 0, (16, 16, 16, 8, 16, 16)), ("3b", 0, (16, 16, 24, 16, 24, 16)), ("3c", 1, (32, 40, 16, 24)),
    ("4a", 0, (48, 24, 32, 16, 32, 32)), ("4b", 0, (40, 32, 40, 24, 32, 32)), ("4c", 1, (32, 48, 24, 32)),
    ("5a", 0, (64, 40, 64, 24, 48, 48)))


def _call(mod, x):
    return mod(x)


def _call_linear(mod, x):
    return mod(x.flatten(1)).view(x.shape[0], mod.out_features, 1, 1)


class _Op:
    """One op of the graph: kind (bnshift's op kind name), name, inputs
    (tensor ids), the module holding its parameters (or None), fn(module,
    *inputs) (fn(*inputs) without a module: no closure holds a module, so
    copy.deepcopy(net) and net.double() stay consistent), and the row
    `bnshift info` prints for it."""
    __slots__ = ("kind", "name", "ins", "out", "module", "fn", "depth", "info_kind")

    def __init__(self, kind, name, ins, module, fn, info_kind=None):
        self.kind, self.name, self.ins, self.module, self.fn = kind, name, ins, module, fn
        self.out, self.depth, self.info_kind = -1, 0, info_kind or kind


class Net(nn.Module):
    """A bnshift model: ops in forward order over a list of tensors, each
    parametrized op a submodule registered under its bnshift name."""

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        self._ops = []     # _Op, forward order
        self._shapes = []  # (c, h, w) of every tensor; tensor 0 is the input
        self._position = 0  # norm positions so far (arch.c's Builder.position)
        self._ibn_stage = False
        x = self._tensor(spec.in_c, spec.in_h, spec.in_w)
        x = BUILDERS[spec.arch](self, x)
        x = self.linear("fc", x, spec.num_classes, spec.arch != "shufflenetv2")
        self._output = x
        # The last op reading each tensor, so forward can drop it after.
        last = {}
        for i, op in enumerate(self._ops):
            for t in op.ins:
                last[t] = i
        self._free_after = [[t for t in op.ins if last[t] == i and t != self._output]
                            for i, op in enumerate(self._ops)]

    # ---- running it ----

    def forward(self, x):
        spec = self.spec
        if x.dim() != 4 or tuple(x.shape[1:]) != (spec.in_c, spec.in_h, spec.in_w):
            raise ValueError("input of shape %s, the model takes [N, %d, %d, %d]"
                             % (tuple(x.shape), spec.in_c, spec.in_h, spec.in_w))
        t = [None] * len(self._shapes)
        t[0] = x
        for op, free in zip(self._ops, self._free_after):
            args = [t[i] for i in op.ins]
            t[op.out] = op.fn(op.module, *args) if op.module is not None else op.fn(*args)
            for i in free:
                t[i] = None
        return t[self._output].flatten(1)

    def describe(self):
        """The rows `bnshift info` prints, in its order (every op but relu,
        relu6 and add): (name, op, depth, "CxHxW", params)."""
        rows = []
        for op in self._ops:
            if op.kind in ("relu", "relu6", "add"):
                continue
            c, h, w = self._shapes[op.out]
            n = sum(p.numel() for p in op.module.parameters()) if op.module is not None else 0
            rows.append((op.name, op.info_kind, op.depth or "", "%dx%dx%d" % (c, h, w), n))
        return rows

    def bn_layers(self):
        """[(name, module)] of the BN layers in forward order (the `layer`
        index of shift.csv / eval.csv)."""
        return [(op.name, op.module) for op in self._ops if op.kind == "bn"]

    # ---- graph construction (model.c) ----

    def _tensor(self, c, h, w):
        self._shapes.append((c, h, w))
        return len(self._shapes) - 1

    def _register(self, name, module):
        parent, parts = self, name.split(".")
        for p in parts[:-1]:
            child = parent._modules.get(p)
            if child is None:
                child = nn.Module()
                parent.add_module(p, child)
            parent = child
        if parts[-1] in parent._modules:
            raise BnshiftConfigError("two ops named %s" % name)
        parent.add_module(parts[-1], module)

    def _op(self, kind, name, ins, shape, fn, module=None, info_kind=None):
        op = _Op(kind, name, list(ins), module, fn, info_kind)
        if module is not None:
            self._register(name, module)
        op.out = self._tensor(*shape)
        self._ops.append(op)
        return op.out

    def shape(self, x):
        return self._shapes[x]

    def conv(self, name, x, out_c, kh, kw, stride, ph, pw, groups, bias):
        c, h, w = self.shape(x)
        mod = nn.Conv2d(c, out_c, (kh, kw), stride=stride, padding=(ph, pw), groups=groups, bias=bool(bias))
        oh, ow = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1
        return self._op("conv", name, [x], (out_c, oh, ow), _call, mod,
                        "conv/%d" % groups if groups > 1 else "conv")

    def linear(self, name, x, out_f, bias):
        c, h, w = self.shape(x)
        mod = nn.Linear(c * h * w, out_f, bias=bool(bias))
        return self._op("linear", name, [x], (out_f, 1, 1), _call_linear, mod)

    def bn(self, name, x):
        c = self.shape(x)[0]
        mod = nn.BatchNorm2d(c, eps=self.spec.bn_eps, momentum=self.spec.bn_momentum)
        return self._op("bn", name, [x], self.shape(x), _call, mod)

    def gn(self, name, x, groups):
        c = self.shape(x)[0]
        mod = nn.GroupNorm(groups, c, eps=self.spec.bn_eps)
        return self._op("gn", name, [x], self.shape(x), _call, mod, "gn/%d" % groups)

    def lrn_op(self, name, x):
        s = self.spec
        return self._op("lrn", name, [x], self.shape(x),
                        lambda t: lrn(t, s.lrn_mode, s.lrn_size, s.lrn_alpha, s.lrn_beta, s.lrn_k))

    def relu(self, x):
        return self._op("relu", "relu", [x], self.shape(x), F.relu)

    def relu6(self, x):
        return self._op("relu6", "relu6", [x], self.shape(x), F.relu6)

    def add(self, a, b):
        return self._op("add", "add", [a, b], self.shape(a), torch.add)

    def concat(self, a, b):
        (ca, h, w), cb = self.shape(a), self.shape(b)[0]
        return self._op("concat", "concat", [a, b], (ca + cb, h, w), lambda u, v: torch.cat((u, v), 1))

    def channel_split(self, x, parity):
        c, h, w = self.shape(x)
        return self._op("split", "split.odd" if parity else "split.even", [x], (c // 2, h, w),
                        lambda t: t[:, parity::2])

    def channel_slice(self, x, first, count):
        c, h, w = self.shape(x)
        return self._op("slice", "slice", [x], (count, h, w), lambda t: t[:, first:first + count])

    def maxpool(self, x, k, stride, pad=0):
        c, h, w = self.shape(x)
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        return self._op("maxpool", "maxpool", [x], (c, oh, ow), lambda t: F.max_pool2d(t, k, stride, pad))

    def avgpool(self, x):
        c = self.shape(x)[0]
        return self._op("avgpool", "avgpool", [x], (c, 1, 1), lambda t: t.mean(dim=(2, 3), keepdim=True))

    def shortcut_a(self, x, out_c, stride):
        _, h, w = self.shape(x)
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        return self._op("shortcut", "shortcut", [x], (out_c, oh, ow),
                        lambda t: option_a_shortcut(t, out_c, stride))

    # ---- arch.c's Builder ----

    def bfn_groups(self, kind, C, name):
        if kind == "ln":
            return 1
        if kind == "in":
            return C
        g = min(self.spec.groups, C)
        if g < 1 or C % g:
            raise BnshiftConfigError("model.groups: %d groups do not divide the %d channels of %s" % (g, C, name))
        return g

    def add_ibn(self, x, pos, name):
        C = self.shape(x)[0]
        half = C // 2
        a = self.gn(name + ".in", self.channel_slice(x, 0, half), half)
        self._ops[-1].depth = pos
        c = self.bn(name + ".bn", self.channel_slice(x, half, C - half))
        self._ops[-1].depth = pos
        return self.concat(a, c)

    def add_norm(self, x, role, where, suffix):
        self._position += 1
        pos = self._position
        k = norm_plan(self.spec, pos, role)
        if k == "none":
            return x
        name = "%s%s%s%s" % (where, "." if where else "", k, suffix)
        if k == "ibn":
            return self.add_ibn(x, pos, name)
        if k == "bn":
            y = self.bn(name, x)
        elif k == "lrn":
            y = self.lrn_op(name, x)
        else:
            y = self.gn(name, x, self.bfn_groups(k, self.shape(x)[0], name))
        self._ops[-1].depth = pos
        return y

    def next_has_norm(self, role):
        return norm_plan(self.spec, self._position + 1, role) != "none"

    def conv_norm_rect(self, x, out_c, kh, kw, stride, groups, role, where, suffix):
        name = "%s%sconv%s" % (where, "." if where else "", suffix)
        in_c = self.shape(x)[0]
        bias = not self.next_has_norm(role)
        if in_c % groups or out_c % groups:
            raise BnshiftConfigError("model.cardinality: %d groups do not divide the %d -> %d channels of %s"
                                     % (groups, in_c, out_c, name))
        if kh == kw:
            x = self.conv(name, x, out_c, kh, kh, stride, kh // 2, kh // 2, groups, bias)
        else:
            x = self.conv(name, x, out_c, kh, kw, stride, kh // 2, kw // 2, 1, bias)
        return self.add_norm(x, role, where, suffix)

    def conv_norm(self, x, out_c, k, stride, groups, role, where, suffix):
        return self.conv_norm_rect(x, out_c, k, k, stride, groups, role, where, suffix)

    def block_role(self, i):
        s = self.spec
        if s.norm == "ibn":
            return "ibn" if i == 1 and self._ibn_stage else "block"
        p = s.xbn_position or (2 if s.bottleneck() else 1)
        return "xbn" if i == p else "block"

    def shortcut(self, x, out_c, stride, where):
        if stride == 1 and self.shape(x)[0] == out_c:
            return x
        if self.spec.shortcut == "identity":
            return self.shortcut_a(x, out_c, stride)
        return self.conv_norm(x, out_c, 1, stride, 1, "shortcut", where + ".shortcut", "")

    def basic_block(self, x, out_c, stride, where):
        h = self.relu(self.conv_norm(x, out_c, 3, stride, 1, self.block_role(1), where, "1"))
        h = self.conv_norm(h, out_c, 3, 1, 1, self.block_role(2), where, "2")
        sc = self.shortcut(x, out_c, stride, where)
        return self.relu(self.add(h, sc))

    def bottleneck_block(self, x, inner, out_c, stride, groups, where):
        h = self.relu(self.conv_norm(x, inner, 1, 1, 1, self.block_role(1), where, "1"))
        h = self.relu(self.conv_norm(h, inner, 3, stride, groups, self.block_role(2), where, "2"))
        h = self.conv_norm(h, out_c, 1, 1, 1, self.block_role(3), where, "3")
        sc = self.shortcut(x, out_c, stride, where)
        return self.relu(self.add(h, sc))


def build_resnet(b, x):
    s = b.spec
    blocks = (s.depth - 2) // (9 if s.bottleneck() else 6)
    x = b.relu(b.conv_norm(x, s.width, 3, 1, 1, "stem", "stem", ""))
    for st in range(3):
        for bl in range(blocks):
            b._ibn_stage = st < 2
            where = "stage%d.block%d" % (st + 1, bl + 1)
            stride = 2 if st > 0 and bl == 0 else 1
            planes = s.width << st
            if s.arch == "resnext":
                x = b.bottleneck_block(x, (s.cardinality * s.group_width) << st, 4 * planes, stride,
                                       s.cardinality, where)
            elif s.bottleneck():
                x = b.bottleneck_block(x, planes, 4 * planes, stride, 1, where)
            else:
                x = b.basic_block(x, planes, stride, where)
    return b.avgpool(x)


def divisible8(v):
    return int(math.ceil(v * 1.0 / 8) * 8)


def inverted_residual(b, x, t, out_c, stride, where):
    in_c = b.shape(x)[0]
    hidden = in_c * t
    h = x
    if t != 1:
        h = b.relu6(b.conv_norm(h, hidden, 1, 1, 1, "block", where, "1"))
    h = b.relu6(b.conv_norm(h, hidden, 3, stride, hidden, "xbn", where, "2"))
    h = b.conv_norm(h, out_c, 1, 1, 1, "block", where, "3")
    return b.add(h, x) if stride == 1 and in_c == out_c else h


def build_mobilenetv2(b, x):
    wm = b.spec.width_mult
    x = b.relu6(b.conv_norm(x, 32, 3, 1, 1, "stem", "stem", ""))
    for r, (t, c, n, s) in enumerate(MBV2_ROWS):
        out_c = divisible8(c * wm) if t > 1 else c
        for i in range(n):
            x = inverted_residual(b, x, t, out_c, s if i == 0 else 1, "stage%d.block%d" % (r + 1, i + 1))
    last = divisible8(1280 * wm) if wm > 1.0 else 1280
    x = b.relu6(b.conv_norm(x, last, 1, 1, 1, "plain", "last", ""))
    return b.avgpool(x)


def shuffle_main(b, x, mid, out_c, stride, where):
    path = where + ".main"
    h = b.relu(b.conv_norm(x, mid, 1, 1, 1, "block", path, "1"))
    h = b.conv_norm(h, mid, 3, stride, mid, "xbn", path, "2")
    return b.relu(b.conv_norm(h, out_c, 1, 1, 1, "block", path, "3"))


def shuffle_block(b, x, out_c, stride, where):
    in_c = b.shape(x)[0]
    mid = out_c // 2
    if stride == 1:
        if in_c % 2:
            raise BnshiftConfigError("model.width_mult: an odd channel count cannot be split")
        keep, odd = b.channel_split(x, 0), b.channel_split(x, 1)
        return b.concat(keep, shuffle_main(b, odd, mid, out_c - in_c // 2, 1, where))
    path = where + ".proj"
    p = b.conv_norm(x, in_c, 3, stride, in_c, "xbn", path, "1")
    p = b.relu(b.conv_norm(p, in_c, 1, 1, 1, "block", path, "2"))
    return b.concat(p, shuffle_main(b, x, mid, out_c - in_c, stride, where))


def build_shufflenetv2(b, x):
    widths = SHUFFLE_WIDTHS[b.spec.width_mult]
    x = b.relu(b.conv_norm(x, 24, 3, 1, 1, "stem", "stem", ""))
    for st, repeats in enumerate((4, 8, 4)):
        for i in range(repeats):
            x = shuffle_block(b, x, widths[st], 2 if i == 0 else 1, "stage%d.block%d" % (st + 2, i + 1))
    x = b.relu(b.conv_norm(x, widths[3], 1, 1, 1, "plain", "last", ""))
    return b.avgpool(x)


def build_alexnet(b, x):
    w = b.spec.width
    for i, (k, wx, pool) in enumerate(((5, 1, 1), (5, 3, 1), (3, 6, 0), (3, 4, 0), (3, 4, 1))):
        where = "layer%d" % (i + 1)
        x = b.relu(b.conv(where + ".conv", x, wx * w, k, k, 1, k // 2, k // 2, 1, True))
        if i < 2 or b.spec.norm_all:
            x = b.add_norm(x, "plain", where, "")
        if pool:
            x = b.maxpool(x, 3, 2, 1)
    x = b.relu(b.linear("fc6", x, 16 * w, True))
    return b.relu(b.linear("fc7", x, 16 * w, True))


def inception_width(b, c16):
    return max(1, (c16 * b.spec.width + 8) // 16)


def branch_conv(b, x, out_c, k, stride, j, role, where):
    if k == 3 and stride == 1 and j > 1 and b.spec.inception == "v3":
        x = b.relu(b.conv_norm_rect(x, out_c, 1, 3, 1, 1, role, where, "%da" % j))
        return b.relu(b.conv_norm_rect(x, out_c, 3, 1, 1, 1, role, where, "%db" % j))
    return b.relu(b.conv_norm(x, out_c, k, stride, 1, role, where, "%d" % j))


def inception_branch(b, x, module, index, convs):
    where = "%s.branch%d" % (module, index)
    n = len(convs)
    for j, (k, c, stride) in enumerate(convs):
        x = branch_conv(b, x, inception_width(b, c), k, stride, j + 1, "xbn" if j == 0 and n > 1 else "block",
                        where)
    return x


def inception_module(b, x, name, reduction, c):
    module = "inception" + name
    if reduction:
        y = inception_branch(b, x, module, 1, ((1, c[0], 1), (3, c[1], 2)))
        y = b.concat(y, inception_branch(b, x, module, 2, ((1, c[2], 1), (3, c[3], 1), (3, c[3], 2))))
        return b.concat(y, b.maxpool(x, 3, 2, 1))
    y = inception_branch(b, x, module, 1, ((1, c[0], 1),))
    y = b.concat(y, inception_branch(b, x, module, 2, ((1, c[1], 1), (3, c[2], 1))))
    y = b.concat(y, inception_branch(b, x, module, 3, ((1, c[3], 1), (3, c[4], 1), (3, c[4], 1))))
    return b.concat(y, inception_branch(b, b.maxpool(x, 3, 1, 1), module, 4, ((1, c[5], 1),)))


def build_inception(b, x):
    x = b.relu(b.conv_norm(x, inception_width(b, 32), 3, 1, 1, "stem", "stem", ""))
    for name, reduction, c in INCEPTION_MODULES:
        x = inception_module(b, x, name, reduction, c)
    return b.avgpool(x)


def build_vgg(b, x):
    conv = 0
    for i, ch in enumerate(b.spec.channels):
        if ch == "M":
            _, h, w = b.shape(x)
            if h < 2 or w < 2:
                raise BnshiftConfigError("model.channels: \"M\" #%d pools a %dx%d map to nothing" % (i + 1, h, w))
            x = b.maxpool(x, 2, 2)
            continue
        conv += 1
        x = b.relu(b.conv_norm(x, ch, 3, 1, 1, "plain", "layer%d" % conv, ""))
    return b.avgpool(x)


def build_mlp(b, x):
    for i, width in enumerate(b.spec.hidden):
        where = "fc%d" % (i + 1)
        x = b.linear(where + ".linear", x, width, not b.next_has_norm("plain"))
        x = b.relu(b.add_norm(x, "plain", where, ""))
    return x


BUILDERS = {"resnet": build_resnet, "resnext": build_resnet, "mobilenetv2": build_mobilenetv2,
            "shufflenetv2": build_shufflenetv2, "alexnet": build_alexnet, "inception": build_inception,
            "vgg": build_vgg, "mlp": build_mlp}




def build(cfg):
    """The torch twin of the network cfg (a config dict, e.g. a run's
    config.resolved.json parsed; `meta` ignored; a path to such a file is
    read) builds in bnshift, in training mode as every new nn.Module."""
    if isinstance(cfg, (str, bytes, os.PathLike)):
        with open(cfg) as f:
            cfg = json.load(f)
    if not isinstance(cfg, dict):
        raise TypeError("build: cfg must be a dict (a parsed config) or a path to a config file")
    return Net(Spec(cfg))


# -------------------------------------------------------------- safetensors

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _check_little_endian():
    if sys.byteorder != "little":
        raise RuntimeError("safetensors: this reader/writer assumes a little-endian machine")


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file: {name: torch.Tensor} in the
    order of their data in the file, {str: str}. Raises ValueError naming what is wrong."""
    _check_little_endian()
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: %d bytes, shorter than the 8-byte header length" % (path, len(blob)))
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError("%s: header length %d runs past the end of the file (%d bytes)" % (path, n, len(blob)))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError("%s: header is not JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise ValueError("%s: header is not a JSON object" % path)
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("%s: __metadata__ must map strings to strings" % path)
    data = memoryview(blob)[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = [int(d) for d in info["shape"]]
            begin, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("%s: tensor %s: bad or unknown dtype/shape/data_offsets in %r" % (path, name, info)) \
                from None
        numel = 1
        for d in shape:
            if d < 0:
                raise ValueError("%s: tensor %s: negative dimension in %s" % (path, name, shape))
            numel *= d
        size = numel * torch.tensor([], dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(data) or end - begin != size:
            raise ValueError("%s: tensor %s: data_offsets [%d, %d] do not hold %s %s (%d bytes) within the %d "
                             "data bytes" % (path, name, begin, end, info["dtype"], shape, size, len(data)))
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if size else torch.empty(0, dtype=dtype)
        spans.append((begin, end, name, t.reshape(shape)))
    spans.sort(key=lambda s: s[:2])
    at = 0
    for begin, end, name, t in spans:
        tensors[name] = t
        if begin != at:
            raise ValueError("%s: tensor %s starts at byte %d of the data, expected %d (data must be contiguous)"
                             % (path, name, begin, at))
        at = end
    if at != len(data):
        raise ValueError("%s: %d data bytes after the last tensor" % (path, len(data) - at))
    return tensors, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (in the dict's order, contiguous, little-endian)
    with metadata {str: str} as a safetensors file."""
    _check_little_endian()
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, off = [], 0
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError("write_safetensors: %s is not a tensor" % name)
        if t.dtype not in _NAMES:
            raise TypeError("write_safetensors: %s has dtype %s, not one safetensors names" % (name, t.dtype))
        t = t.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
