"""PyTorch twins of the network families of lib/models/arch.c, for the golden
fixtures of tests/test_family_fixtures.c (imported by gen_fixtures.py).

Each module is written from arch.c's block definitions: the same op order,
widths, stride placement and bias rule (every conv is followed by a norm in
the bn and xbnblock variants, so no conv has a bias; the classifier has one
except in ShuffleNetV2). Norms: BatchNorm2d everywhere under "bn"; under
"xbnblock" GroupNorm(min(groups, C), C) at the positions arch.c gives
ROLE_XBN (a bottleneck's norm number xbn_position, default 2; the norm after
every depthwise conv of MobileNetV2 and ShuffleNetV2; the norm after the
first conv of every Inception branch with two or more convs), BatchNorm2d
elsewhere (stem, shortcut, head). Under "ibn" (resnet/resnext only) the
first norm of every block outside the last stage is IBN-Net's IBN:
InstanceNorm2d(affine) on the first C // 2 channels, BatchNorm2d on the
rest, concatenated. AlexNet is the exception to the bias rule: its norms
follow the ReLU, so every conv has a bias; under "lrn" its norms are
LocalResponseNorm (no parameters, so absent from the ops table).

The fixture case (family_case) records the execution order of every Conv2d,
BatchNorm2d, GroupNorm and Linear with forward hooks: the C model's op list
is in forward order, so the parameters are stored in that order.
"""

import copy
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# Codes in the fixtures' cfg (tests/fixtures/README.md); the C test maps them
# to its enums, so reordering those does not break the files.
ARCH_CODES = {"resnet": 0, "resnext": 1, "mobilenetv2": 2, "shufflenetv2": 3,
              "alexnet": 4, "inception": 5}
BLOCK_CODES = {"basic": 0, "bottleneck": 1}
VERSION_CODES = {"v2": 0, "v3": 1}  # inception's, in the block column
VARIANT_CODES = {"bn": 0, "xbnblock": 1, "ibn": 2, "lrn": 3}
# Op kinds of the "ops" table.
OP_CONV, OP_BN, OP_GN, OP_LINEAR = 0, 1, 2, 3


class Spec:
    """The fields of arch.h's ModelSpec a fixture needs, with arch.c's defaults
    (LRN: model.lrn's, across channels; not in the cfg, so always these)."""

    def __init__(self, arch, variant="bn", block="basic", depth=0, width=0, cardinality=1,
                 group_width=1, width_mult=1.0, groups=32, xbn_position=0, in_c=3, in_h=32,
                 in_w=32, classes=10, bn_eps=1e-5, bn_momentum=0.1, version="v2",
                 norm_all=False, lrn_size=5, lrn_alpha=1e-4, lrn_beta=0.75, lrn_k=2.0):
        self.arch, self.variant, self.block = arch, variant, block
        self.depth, self.width = depth, width
        self.cardinality, self.group_width = cardinality, group_width
        self.width_mult, self.groups, self.xbn_position = width_mult, groups, xbn_position
        self.in_c, self.in_h, self.in_w, self.classes = in_c, in_h, in_w, classes
        self.bn_eps, self.bn_momentum = bn_eps, bn_momentum
        self.version, self.norm_all = version, norm_all
        self.lrn_size, self.lrn_alpha = lrn_size, lrn_alpha
        self.lrn_beta, self.lrn_k = lrn_beta, lrn_k

    def block_code(self):
        """The cfg's second column, one per family: resnet's block
        (BLOCK_CODES), inception's version (0 v2, 1 v3), alexnet's norm_all
        (0/1); 0 (basic) for the others."""
        if self.arch == "inception":
            return VERSION_CODES[self.version]
        if self.arch == "alexnet":
            return int(self.norm_all)
        return BLOCK_CODES[self.block]

    def cfg_values(self):
        """The spec part of a fixture's cfg (README.md: family_* cfg[0..15])."""
        return [ARCH_CODES[self.arch], self.block_code(), self.depth, self.width,
                self.cardinality, self.group_width, self.width_mult,
                VARIANT_CODES[self.variant], self.groups, self.xbn_position,
                self.in_c, self.in_h, self.in_w, self.classes, self.bn_eps, self.bn_momentum]


# While a list, every ReLU/ReLU6 input is appended to it (with its kink
# set), for well_conditioned().
_kink_probe = None


def relu(x):
    if _kink_probe is not None:
        _kink_probe.append((x.detach(), (0.0,)))
    return F.relu(x)


def relu6(x):
    if _kink_probe is not None:
        _kink_probe.append((x.detach(), (0.0, 6.0)))
    return F.relu6(x)


# While a list, every max-pool input is appended to it (with k, stride,
# padding): a near-tie routes the gradient like a kink does.
_pool_probe = None


def maxpool(x, k, stride, padding):
    if _pool_probe is not None:
        _pool_probe.append((x.detach(), k, stride, padding))
    return F.max_pool2d(x, k, stride, padding)


def make_norm(spec, C, xbn):
    """arch.c's add_norm for the bn / xbnblock variants (stem norm automatic)."""
    if spec.variant == "xbnblock" and xbn:
        return nn.GroupNorm(min(spec.groups, C), C, eps=spec.bn_eps)
    return nn.BatchNorm2d(C, eps=spec.bn_eps, momentum=spec.bn_momentum)


class IBN(nn.Module):
    """IBN-Net's layer (the reference IBN module with ratio 0.5): IN on the
    first C // 2 channels, BN on the others (arch.c's add_ibn)."""

    def __init__(self, spec, C):
        super().__init__()
        self.half = C // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True, eps=spec.bn_eps)
        self.BN = nn.BatchNorm2d(C - self.half, eps=spec.bn_eps, momentum=spec.bn_momentum)

    def forward(self, x):
        a, b = torch.split(x, [self.half, x.shape[1] - self.half], 1)
        return torch.cat((self.IN(a.contiguous()), self.BN(b.contiguous())), 1)


class ConvNorm(nn.Module):
    """arch.c's conv_norm: k x k conv (padding k // 2, no bias) -> norm."""

    def __init__(self, spec, in_c, out_c, k, stride, groups, xbn, ibn=False):
        super().__init__()
        self.conv = nn.Conv2d(in_c, out_c, k, stride=stride, padding=k // 2, groups=groups,
                              bias=False)
        self.norm = IBN(spec, out_c) if ibn else make_norm(spec, out_c, xbn)

    def forward(self, x):
        return self.norm(self.conv(x))


# ------------------------------------------------------- ResNet / ResNeXt

class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride, groups) -> 1x1 to out_c, a norm after each; the
    projection shortcut (1x1 conv + BN) runs after the third norm."""

    def __init__(self, spec, in_c, inner, out_c, stride, groups, ibn_stage=False):
        super().__init__()
        p = spec.xbn_position or 2
        self.c1 = ConvNorm(spec, in_c, inner, 1, 1, 1, p == 1, spec.variant == "ibn" and ibn_stage)
        self.c2 = ConvNorm(spec, inner, inner, 3, stride, groups, p == 2)
        self.c3 = ConvNorm(spec, inner, out_c, 1, 1, 1, p == 3)
        self.shortcut = None
        if stride != 1 or in_c != out_c:
            self.shortcut = ConvNorm(spec, in_c, out_c, 1, stride, 1, False)

    def forward(self, x):
        h = relu(self.c1(x))
        h = relu(self.c2(h))
        h = self.c3(h)
        sc = x if self.shortcut is None else self.shortcut(x)
        return relu(h + sc)


class ResNet(nn.Module):
    """CIFAR ResNet with bottleneck blocks, or ResNeXt: stem 3x3 to width, three
    stages of (depth - 2) / 9 blocks, stride 2 at the first block of stages 2
    and 3, global average pool, linear with bias."""

    def __init__(self, spec):
        super().__init__()
        assert spec.arch == "resnext" or spec.block == "bottleneck", "basic blocks are not needed here"
        assert spec.depth >= 11 and (spec.depth - 2) % 9 == 0
        blocks = (spec.depth - 2) // 9
        self.stem = ConvNorm(spec, spec.in_c, spec.width, 3, 1, 1, False)
        layers, c = [], spec.width
        for st in range(3):
            for bl in range(blocks):
                stride = 2 if st > 0 and bl == 0 else 1
                planes = spec.width << st
                if spec.arch == "resnext":
                    inner, groups = (spec.cardinality * spec.group_width) << st, spec.cardinality
                else:
                    inner, groups = planes, 1
                layers.append(Bottleneck(spec, c, inner, 4 * planes, stride, groups, st < 2))
                c = 4 * planes
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c, spec.classes, bias=True)

    def forward(self, x):
        x = self.blocks(relu(self.stem(x)))
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------- MobileNetV2

MBV2_ROWS = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]  # t, c, n, s (CIFAR)


def divisible8(v):
    """arch.c's divisible8: up to a multiple of 8 (ceil, as arch.c)."""
    return int(math.ceil(v / 8) * 8)


class InvertedResidual(nn.Module):
    """[1x1 expand -> norm -> ReLU6] (absent when t = 1) -> 3x3 depthwise ->
    norm (the xbn one) -> ReLU6 -> 1x1 project -> norm, plus x when the
    shape is kept."""

    def __init__(self, spec, in_c, t, out_c, stride):
        super().__init__()
        hidden = in_c * t
        self.expand = ConvNorm(spec, in_c, hidden, 1, 1, 1, False) if t != 1 else None
        self.dw = ConvNorm(spec, hidden, hidden, 3, stride, hidden, True)
        self.project = ConvNorm(spec, hidden, out_c, 1, 1, 1, False)
        self.residual = stride == 1 and in_c == out_c

    def forward(self, x):
        h = x if self.expand is None else relu6(self.expand(x))
        h = self.project(relu6(self.dw(h)))
        return h + x if self.residual else h


class MobileNetV2(nn.Module):
    """Stem 3x3 to 32 (stride 1), the seven rows (the t = 1 row unscaled,
    the others divisible8(c * width_mult)), head 1x1 to 1280 (or
    divisible8(1280 * width_mult) above 1.0) -> BN -> ReLU6, global average
    pool, linear with bias."""

    def __init__(self, spec):
        super().__init__()
        wm = spec.width_mult
        self.stem = ConvNorm(spec, spec.in_c, 32, 3, 1, 1, False)
        layers, c = [], 32
        for t, ch, n, s in MBV2_ROWS:
            out_c = divisible8(ch * wm) if t > 1 else ch
            for i in range(n):
                layers.append(InvertedResidual(spec, c, t, out_c, s if i == 0 else 1))
                c = out_c
        self.blocks = nn.Sequential(*layers)
        last = divisible8(1280 * wm) if wm > 1.0 else 1280
        self.head = ConvNorm(spec, c, last, 1, 1, 1, False)
        self.fc = nn.Linear(last, spec.classes, bias=True)

    def forward(self, x):
        x = self.blocks(relu6(self.stem(x)))
        x = relu6(self.head(x))
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------ ShuffleNetV2

SHUFFLE_WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024),
                  1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
SHUFFLE_REPEATS = (4, 8, 4)


def channel_shuffle(x):
    """The reference code's split: even channels first, odd channels second."""
    b, c, h, w = x.shape
    assert c % 4 == 0
    x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
    return x[0], x[1]


class ShuffleBlock(nn.Module):
    """Stride 1: cat(even channels, main(odd channels)); stride 2:
    cat(proj(x), main(x)), proj = 3x3 depthwise (stride) -> norm (xbn) ->
    1x1 -> norm -> ReLU. main = 1x1 -> norm -> ReLU -> 3x3 depthwise
    (stride) -> norm (xbn) -> 1x1 -> norm -> ReLU."""

    def __init__(self, spec, in_c, out_c, stride):
        super().__init__()
        self.stride = stride
        mid = out_c // 2
        main_in = in_c // 2 if stride == 1 else in_c
        main_out = out_c - main_in
        if stride == 2:
            self.proj1 = ConvNorm(spec, in_c, in_c, 3, stride, in_c, True)
            self.proj2 = ConvNorm(spec, in_c, in_c, 1, 1, 1, False)
        self.main1 = ConvNorm(spec, main_in, mid, 1, 1, 1, False)
        self.main2 = ConvNorm(spec, mid, mid, 3, stride, mid, True)
        self.main3 = ConvNorm(spec, mid, main_out, 1, 1, 1, False)

    def main(self, x):
        h = relu(self.main1(x))
        return relu(self.main3(self.main2(h)))

    def forward(self, x):
        if self.stride == 1:
            keep, odd = channel_shuffle(x)
            return torch.cat((keep, self.main(odd)), 1)
        p = relu(self.proj2(self.proj1(x)))  # proj first, as the reference (and arch.c)
        return torch.cat((p, self.main(x)), 1)


class ShuffleNetV2(nn.Module):
    """3x3 stem to 24 (stride 1, no max-pool), stages of 4/8/4 blocks (the
    first of each at stride 2), 1x1 head -> BN -> ReLU, global average pool,
    linear without bias (as the reference)."""

    def __init__(self, spec):
        super().__init__()
        widths = SHUFFLE_WIDTHS[spec.width_mult]
        self.stem = ConvNorm(spec, spec.in_c, 24, 3, 1, 1, False)
        layers, c = [], 24
        for st in range(3):
            for i in range(SHUFFLE_REPEATS[st]):
                layers.append(ShuffleBlock(spec, c, widths[st], 2 if i == 0 else 1))
                c = widths[st]
        self.blocks = nn.Sequential(*layers)
        self.head = ConvNorm(spec, c, widths[3], 1, 1, 1, False)
        self.fc = nn.Linear(widths[3], spec.classes, bias=False)

    def forward(self, x):
        x = self.blocks(relu(self.stem(x)))
        x = relu(self.head(x))
        return self.fc(x.mean(dim=(2, 3)))


# ------------------------------------------------------------------ AlexNet

def pool_out(n):
    """A 3x3 stride-2 pad-1 max-pool's output size (floor mode)."""
    return (n + 2 - 3) // 2 + 1


class AlexNet(nn.Module):
    """CIFAR AlexNet (REFERENCE.md): conv1 5x5 to w -> ReLU -> norm -> pool,
    conv2 5x5 to 3w -> ReLU -> norm -> pool, conv3-5 3x3 to 6w, 4w, 4w ->
    ReLU [-> norm with norm_all], pool, fc6 -> ReLU -> fc7 -> ReLU -> fc.
    The norms follow the ReLU (AlexNet's LRN places), so every conv keeps its
    bias; pools 3x3 stride 2 pad 1; no dropout."""

    def __init__(self, spec):
        super().__init__()
        assert spec.variant in ("bn", "lrn"), spec.variant
        w = spec.width
        widths = (w, 3 * w, 6 * w, 4 * w, 4 * w)
        kernels = (5, 5, 3, 3, 3)
        self.convs, self.norms, c = nn.ModuleList(), nn.ModuleList(), spec.in_c
        for i, (oc, k) in enumerate(zip(widths, kernels)):
            self.convs.append(nn.Conv2d(c, oc, k, padding=k // 2, bias=True))
            has_norm = i < 2 or spec.norm_all
            self.norms.append(self.make_norm(spec, oc) if has_norm else nn.Identity())
            c = oc
        h, wd = spec.in_h, spec.in_w
        for _ in range(3):
            h, wd = pool_out(h), pool_out(wd)
        self.fc6 = nn.Linear(c * h * wd, 16 * w)
        self.fc7 = nn.Linear(16 * w, 16 * w)
        self.fc = nn.Linear(16 * w, spec.classes)

    @staticmethod
    def make_norm(spec, C):
        if spec.variant == "lrn":  # torch's alpha is bnshift's times the window size
            assert spec.lrn_size % 2 == 1, "torch's window is centred for odd sizes only"
            return nn.LocalResponseNorm(spec.lrn_size, alpha=spec.lrn_alpha * spec.lrn_size,
                                        beta=spec.lrn_beta, k=spec.lrn_k)
        return nn.BatchNorm2d(C, eps=spec.bn_eps, momentum=spec.bn_momentum)

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(relu(conv(x)))
            if i in (0, 1, 4):
                x = maxpool(x, 3, 2, 1)
        x = relu(self.fc6(x.flatten(1)))  # NCHW order
        x = relu(self.fc7(x))
        return self.fc(x)


# ---------------------------------------------------------------- Inception

# Widths at model.width 16 (REFERENCE.md); every count scales by w / 16.
INCEPTION_STEM = 32
INCEPTION_LAYOUT = [  # module: (c1, c2r, c2, c3r, c3, cp); reduction: (r1, c1, r2, c2)
    ("module", (16, 16, 16, 8, 16, 16)),     # 3a -> 64
    ("module", (16, 16, 24, 16, 24, 16)),    # 3b -> 80
    ("reduction", (32, 40, 16, 24)),         # 3c -> 144
    ("module", (48, 24, 32, 16, 32, 32)),    # 4a -> 144
    ("module", (40, 32, 40, 24, 32, 32)),    # 4b -> 144
    ("reduction", (32, 48, 24, 32)),         # 4c -> 224
    ("module", (64, 40, 64, 24, 48, 48)),    # 5a -> 224
]


def inception_width(c, w):
    """c (a width at w = 16) at width w: rounded half up, at least 1."""
    return max(1, (c * w + 8) // 16)


class ConvNormReLU(nn.Module):
    """conv (kh x kw, padding kh // 2 x kw // 2, no bias) -> norm -> ReLU:
    every conv of the Inception twin."""

    def __init__(self, spec, in_c, out_c, kernel, stride=1, xbn=False):
        super().__init__()
        kh, kw = kernel
        self.conv = nn.Conv2d(in_c, out_c, (kh, kw), stride=stride, padding=(kh // 2, kw // 2),
                              bias=False)
        self.norm = make_norm(spec, out_c, xbn)

    def forward(self, x):
        return relu(self.norm(self.conv(x)))


class MaxPool(nn.Module):
    """max-pool through the probed maxpool(), for nn.Sequential."""

    def __init__(self, k, stride, padding):
        super().__init__()
        self.k, self.stride, self.padding = k, stride, padding

    def forward(self, x):
        return maxpool(x, self.k, self.stride, self.padding)


def inception_branch(spec, in_c, widths, last_stride=1):
    """1x1 to widths[0], then a 3x3 to each further width, the last at
    last_stride. v3 factorizes the stride-1 3x3s into 1x3 -> 3x1. The first
    norm is the xbn one when the branch has two or more convs."""
    xbn = len(widths) >= 2
    layers = [ConvNormReLU(spec, in_c, widths[0], (1, 1), xbn=xbn)]
    for i, c in enumerate(widths[1:]):
        stride = last_stride if i == len(widths) - 2 else 1
        if spec.version == "v3" and stride == 1:
            layers += [ConvNormReLU(spec, widths[i], c, (1, 3)),
                       ConvNormReLU(spec, c, c, (3, 1))]
        else:
            layers.append(ConvNormReLU(spec, widths[i], c, (3, 3), stride))
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """cat(1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3; pool 3x3/1 -> 1x1), the
    branches run in that order."""

    def __init__(self, spec, in_c, c1, c2r, c2, c3r, c3, cp):
        super().__init__()
        self.branches = nn.ModuleList([
            inception_branch(spec, in_c, [c1]),
            inception_branch(spec, in_c, [c2r, c2]),
            inception_branch(spec, in_c, [c3r, c3, c3]),
            nn.Sequential(MaxPool(3, 1, 1), ConvNormReLU(spec, in_c, cp, (1, 1)))])
        self.out_c = c1 + c2 + c3 + cp

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class InceptionReduction(nn.Module):
    """cat(1x1 -> 3x3/2; 1x1 -> 3x3 -> 3x3/2; pool 3x3/2): the grid halves."""

    def __init__(self, spec, in_c, r1, c1, r2, c2):
        super().__init__()
        self.branches = nn.ModuleList([
            inception_branch(spec, in_c, [r1, c1], 2),
            inception_branch(spec, in_c, [r2, c2, c2], 2),
            MaxPool(3, 2, 1)])
        self.out_c = c1 + c2 + in_c

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Inception(nn.Module):
    """CIFAR BN-Inception (v2) or its 1x3/3x1-factorized v3: stem 3x3 -> norm
    -> ReLU, modules 3a, 3b, reduction 3c, 4a, 4b, reduction 4c, 5a, global
    average pool, linear with bias."""

    def __init__(self, spec):
        super().__init__()
        assert spec.variant in ("bn", "xbnblock"), spec.variant
        assert spec.version in VERSION_CODES, spec.version
        w = spec.width
        c = inception_width(INCEPTION_STEM, w)
        self.stem = ConvNormReLU(spec, spec.in_c, c, (3, 3))
        layers = []
        for kind, widths in INCEPTION_LAYOUT:
            widths = [inception_width(v, w) for v in widths]
            block = (InceptionModule if kind == "module" else InceptionReduction)(spec, c, *widths)
            layers.append(block)
            c = block.out_c
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c, spec.classes, bias=True)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(x.mean(dim=(2, 3)))


def build(spec):
    if spec.arch in ("resnet", "resnext"):
        return ResNet(spec)
    if spec.arch == "mobilenetv2":
        return MobileNetV2(spec)
    if spec.arch == "shufflenetv2":
        return ShuffleNetV2(spec)
    if spec.arch == "alexnet":
        return AlexNet(spec)
    if spec.arch == "inception":
        return Inception(spec)
    raise ValueError(spec.arch)


def param_count(spec):
    return sum(p.numel() for p in build(spec).parameters())


# ---------------------------------------------------------------- fixtures

PARAM_TYPES = (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.Linear)


def execution_order(model, x):
    """Every Conv2d/BatchNorm2d/GroupNorm/Linear in the order a forward runs
    them (an eval-mode forward, so no running statistic moves)."""
    order, handles = [], []
    for mod in model.modules():
        if isinstance(mod, PARAM_TYPES):
            handles.append(mod.register_forward_hook(lambda m, i, o: order.append(m)))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(x)
    model.train(was_training)
    for h in handles:
        h.remove()
    assert len(order) == len(set(map(id, order))), "a module runs twice"
    n_mods = sum(1 for m in model.modules() if isinstance(m, PARAM_TYPES))
    assert len(order) == n_mods, "a module never runs"
    return order


def op_row(mod):
    """[kind, n_w, n_b, out channels, k, stride, groups] of one op (the C
    test checks its op against it)."""
    n_b = mod.bias.numel() if mod.bias is not None else 0
    if isinstance(mod, nn.Conv2d):
        return [OP_CONV, mod.weight.numel(), n_b, mod.out_channels, mod.kernel_size[0],
                mod.stride[0], mod.groups]
    if isinstance(mod, nn.BatchNorm2d):
        return [OP_BN, mod.weight.numel(), n_b, mod.num_features, 0, 0, 0]
    if isinstance(mod, nn.GroupNorm):
        return [OP_GN, mod.weight.numel(), n_b, mod.num_channels, 0, 0, mod.num_groups]
    if isinstance(mod, nn.InstanceNorm2d):  # GroupNorm with one channel per group
        return [OP_GN, mod.weight.numel(), n_b, mod.num_features, 0, 0, mod.num_features]
    return [OP_LINEAR, mod.weight.numel(), n_b, mod.out_features, 0, 0, 0]


def init_weights(order):
    """Random weights of a sensible scale (the C model gets these copied in):
    convs Kaiming-normal (fan_in, ReLU gain), norms gamma in [0.75, 1.25) and
    beta ~ N(1.5, 0.1) (not 1/0, so a swapped gamma/beta shows), linear
    PyTorch's default. beta near 1.5 keeps ~93% of every ReLU's inputs
    positive: with beta ~ 0 the 50-norm stacks of MobileNetV2/ShuffleNetV2
    are chaotic enough that float32 rounding alone moves torch's own
    gradients by up to 10% (float32 vs float64), far beyond what a C/torch
    comparison could tell from a bug."""
    with torch.no_grad():
        for mod in order:
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(torch.randn_like(mod.weight) * math.sqrt(2.0 / fan_in))
            elif isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
                mod.weight.copy_(torch.rand_like(mod.weight) * 0.5 + 0.75)
                mod.bias.copy_(torch.randn_like(mod.bias) * 0.1 + 1.5)
            else:
                mod.reset_parameters()


def _probed_grads(model, x, y, dtype):
    """Parameter gradients of one training-mode step of a copy of model in
    dtype, the ReLU/ReLU6 inputs and the max-pool inputs it saw."""
    global _kink_probe, _pool_probe
    m = copy.deepcopy(model).to(dtype)
    m.train()
    _kink_probe, _pool_probe = [], []
    try:
        F.cross_entropy(m(x.to(dtype)), y).backward()
        acts, pools = _kink_probe, _pool_probe
    finally:
        _kink_probe, _pool_probe = None, None
    return [p.grad for p in m.parameters()], acts, pools


def _windows(x, k, stride, padding):
    """[..., k * k]: every max-pool window of x, padded with -inf (padding
    never wins), in row-major order."""
    x = F.pad(x, (padding,) * 4, value=-math.inf)
    return x.unfold(2, k, stride).unfold(3, k, stride).flatten(-2)


def pool_gap(u, v, k, stride, padding):
    """(Smallest gap, in v, between a window's maximum and a distinct value
    of the window; whether every exact tie in v is one in u too). An exact
    tie is harmless: both sides take the first maximum (zeros after a ReLU,
    or one channel's BN of them). A near one may pick another element, and
    the gradient goes there."""
    wu, wv = _windows(u, k, stride, padding), _windows(v, k, stride, padding)
    gap = wv.max(-1, keepdim=True).values - wv
    tie = gap == 0
    dist = float(torch.where(gap > 0, gap, torch.full_like(gap, math.inf)).min())
    tu_max = torch.where(tie, wu, torch.full_like(wu, -math.inf)).max(-1).values
    tu_min = torch.where(tie, wu, torch.full_like(wu, math.inf)).min(-1).values
    return dist, bool((tu_max == tu_min).all())


KINK_MARGIN = 4  # kink distance / float32 error a draw must exceed
GRAD_AGREEMENT = 2e-5  # float32 vs float64 gradients (the C test allows 1e-4)
# Gradients below this fraction of the largest are zero but for rounding
# (the beta of a norm whose output the next BN's mean removes).
GRAD_ZERO = 1e-4


def well_conditioned(model, x, y):
    """Whether a draw is fit for a float32 comparison: every ReLU/ReLU6 input
    lies further from its kink (0, 6) than KINK_MARGIN times that tensor's
    largest float32 rounding error (torch float32 vs float64), since an
    element on the other side of a kink in C flips its whole gradient path;
    likewise every max-pool window's maximum is further than that from its
    other distinct values (pool_gap); and torch's float32 gradients agree
    with float64 ones to GRAD_AGREEMENT. Only the training step is probed:
    the eval-mode forward has no backward, and a flipped kink or max moves a
    forward value by no more than the rounding error itself."""
    g32, a32, p32 = _probed_grads(model, x, y, torch.float32)
    g64, a64, p64 = _probed_grads(model, x, y, torch.float64)
    for (u, kinks), (v, _) in zip(a32, a64):
        err = float((u.double() - v).abs().max())
        dist = min(float((v - k).abs().min()) for k in kinks)
        if not dist > KINK_MARGIN * err:
            return False
    for (u, k, s, p), (v, _, _, _) in zip(p32, p64):
        err = float((u.double() - v).abs().max())
        dist, ties_kept = pool_gap(u.double(), v, k, s, p)
        if not (dist > KINK_MARGIN * err and ties_kept):
            return False
    g_max = max(float(b.abs().max()) for b in g64)
    for a, b in zip(g32, g64):
        scale = float(b.abs().max())
        if scale > GRAD_ZERO * g_max and not float((a.double() - b).abs().max()) <= GRAD_AGREEMENT * scale:
            return False
    return True


def params_of(order, prefix):
    t = []
    for k, mod in enumerate(order):
        t.append(("%s.%d.w" % (prefix, k), mod.weight.detach().clone()))
        if mod.bias is not None:
            t.append(("%s.%d.b" % (prefix, k), mod.bias.detach().clone()))
    return t


MAX_DRAWS = 64
SEED_STRIDE = 100000


# cfg = spec (16 values, Spec.cfg_values) + [N, lr, momentum, nesterov,
#       weight_decay, wd_norm]
def family_case(seed, name, spec, N=4, lr=0.1, momentum=0.9, weight_decay=5e-4):
    """One SGD step of the family on a random batch: the tensors of a
    family_*.bnfx file (README.md). Draws (model, x, y) from seed, seed +
    SEED_STRIDE, ... until one is well_conditioned; "seed" records which."""
    for attempt in range(MAX_DRAWS):
        draw_seed = seed + SEED_STRIDE * attempt
        torch.manual_seed(draw_seed)
        model = build(spec)
        x = torch.randn(N, spec.in_c, spec.in_h, spec.in_w)
        y = torch.randint(0, spec.classes, (N,))
        order = execution_order(model, x)
        init_weights(order)
        if well_conditioned(model, x, y):
            break
    else:
        raise RuntimeError("%s: no well-conditioned draw in %d" % (name, MAX_DRAWS))
    print("%s: draw %d" % (name, attempt + 1), file=sys.stderr)
    # weight decay on every parameter: PyTorch's default, the C side's wd_norm.
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=False,
                          weight_decay=weight_decay)
    t = [("cfg", spec.cfg_values() + [N, lr, momentum, 0, weight_decay, 1]),
         ("seed", [draw_seed]),
         ("ops", torch.tensor([op_row(m) for m in order], dtype=torch.float32)),
         ("x", x), ("y", y.float())]
    t += params_of(order, "init")

    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    t += [("logits", logits.detach()), ("loss", loss.detach())]
    t += params_of(order, "after")
    for k, mod in enumerate(order):
        if isinstance(mod, nn.BatchNorm2d):
            t += [("run_mean.%d" % k, mod.running_mean.clone()),
                  ("run_var.%d" % k, mod.running_var.clone())]
    model.eval()
    with torch.no_grad():
        t.append(("logits_eval", model(x)))
    return t


# The small instances of the family fixtures (input 3x16x16, N = 4, 10
# classes; widths as small as arch.c allows, ShuffleNetV2's 0.5 is its
# smallest table row). GroupNorm groups: 2 in the resnets (widths 4-16, so a real group
# of 2+ channels), the families' defaults (arch_default_groups) otherwise.
def _small(arch, variant):
    common = dict(variant=variant, in_c=3, in_h=16, in_w=16, classes=10)
    if arch == "bottleneck":
        return Spec("resnet", block="bottleneck", depth=11, width=4, groups=2, **common)
    if arch == "resnext":
        return Spec("resnext", depth=11, width=4, cardinality=2, group_width=2, groups=2, **common)
    if arch == "mobilenetv2":
        # 0.125: exact in float32 (the C side reads the cfg as float and
        # rounds widths up from it); rows 8, 8, 8, 16, 24, 40 (3 -> 8, 12 -> 16,
        # 20 -> 24 round up), the head still 1280.
        return Spec("mobilenetv2", width_mult=0.125, groups=16, **common)
    return Spec("shufflenetv2", width_mult=0.5, groups=8, **common)


FAMILY_CASES = [("family_%s_%s" % (a, v), _small(a, v))
                for a in ("bottleneck", "resnext", "mobilenetv2", "shufflenetv2")
                for v in ("bn", "xbnblock")]
# Added later (gen_fixtures.py appends them after the older cases).
IBN_FAMILY_CASES = [("family_bottleneck_ibn", _small("bottleneck", "ibn"))]

# Standard instances on 32x32x3, 10 classes, for family_param_counts.bnfx.
PARAM_COUNT_SPECS = [
    Spec("mobilenetv2", width_mult=1.0, groups=16),
    Spec("shufflenetv2", width_mult=0.5, groups=8),
    Spec("shufflenetv2", width_mult=1.0, groups=29),
    Spec("resnet", block="bottleneck", depth=56, width=16, groups=32),
    Spec("resnext", depth=29, width=64, cardinality=8, group_width=64, groups=32),
    Spec("mobilenetv2", variant="xbnblock", width_mult=1.0, groups=16),
]
KNOWN_COUNTS = {0: 2236682}  # torchvision's mobilenet_v2(num_classes=10)


# cfg = [cases, columns]; "specs" [cases, 16] (Spec.cfg_values), "count_hi"
# and "count_lo" [cases] with count = count_hi * 1e6 + count_lo (float32 is
# exact only below 2^24, ResNeXt-29 has 34 M). known: {index in specs:
# count from elsewhere}, asserted.
def param_count_case(seed, name, specs, known):
    torch.manual_seed(seed)
    rows, counts = [], []
    for i, spec in enumerate(specs):
        n = param_count(spec)
        assert known.get(i, n) == n, (name, i, n)
        rows.append(spec.cfg_values())
        counts.append(n)
    return [("cfg", [len(rows), len(rows[0])]),
            ("specs", torch.tensor(rows, dtype=torch.float32)),
            ("count_hi", torch.tensor([n // 1000000 for n in counts], dtype=torch.float32)),
            ("count_lo", torch.tensor([n % 1000000 for n in counts], dtype=torch.float32))]


# Added with AlexNet and Inception (gen_fixtures.py appends them after every
# older case): the same small input, GN groups 2 (every xbn width of the
# width-4 Inception is even), width 4: AlexNet 4, 12, 24, 16, 16 channels,
# fc 64; Inception stem 8, outputs 16, 20, 36, 36, 36, 56, 56.
def _seed_small(arch, variant, **kw):
    return Spec(arch, variant=variant, width=4, groups=2, in_c=3, in_h=16, in_w=16, classes=10,
                **kw)


SEED_FAMILY_CASES = [
    ("family_alexnet_bn", _seed_small("alexnet", "bn", norm_all=True)),
    ("family_alexnet_lrn", _seed_small("alexnet", "lrn", norm_all=False)),
    ("family_inception_v2_bn", _seed_small("inception", "bn", version="v2")),
    ("family_inception_v3_bn", _seed_small("inception", "bn", version="v3")),
    ("family_inception_v2_xbnblock", _seed_small("inception", "xbnblock", version="v2")),
]

# Standard instances on 32x32x3, 10 classes, for family_param_counts_seed.bnfx.
SEED_PARAM_COUNT_SPECS = [
    Spec("alexnet", variant="lrn", width=64, norm_all=False),
    Spec("alexnet", variant="bn", width=64, norm_all=True),
    Spec("inception", version="v2", width=16, groups=8),
    Spec("inception", version="v3", width=16, groups=8),
    Spec("inception", variant="xbnblock", version="v2", width=16, groups=8),
]
# AlexNet at width 64 has torchvision's channels (64, 192, 384, 256, 256) and
# a 4x4 map after the third pool, so fc6 4096 -> 1024, fc7 1024 -> 1024:
# convs 3*64*25+64 + 64*192*25+192 + 192*384*9+384 + 384*256*9+256
# + 256*256*9+256 = 4,864 + 307,392 + 663,936 + 884,992 + 590,080 = 2,451,264;
# linears 4096*1024+1024 + 1024*1024+1024 + 1024*10+10 = 5,255,178. LRN has
# no parameters; norm_all's five BNs add 2 * (64+192+384+256+256) = 2,304.
_ALEXNET64 = (3 * 64 * 25 + 64 + 64 * 192 * 25 + 192 + 192 * 384 * 9 + 384
              + 384 * 256 * 9 + 256 + 256 * 256 * 9 + 256
              + 4096 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10)
assert _ALEXNET64 == 7706442
SEED_KNOWN_COUNTS = {0: _ALEXNET64, 1: _ALEXNET64 + 2 * (64 + 192 + 384 + 256 + 256)}
