#!/usr/bin/python3
"""The PyTorch side of scripts/bench_vs_pytorch.sh: the same ResNet-20 as
`bnshift bench` (3x3 convs without bias, projection shortcuts 1x1 conv + norm,
global average pool, linear; --norm bn|gnbn|xbnblock|gn placed as bnshift
places them), timed the same way: warm-up steps, then K
training steps (forward, loss, backward, SGD with momentum) on one fixed
batch, and inference over 1024 images in batches of B (best of 3 passes
after a warm-up one).
--arch bottleneck|resnext|mobilenetv2|shufflenetv2|inception|inception-v3|alexnet times the block families
instead (scripts/reference/families.py, the twins of lib/models/arch.c that
the fixtures check), in --norm bn or xbnblock.
Run with Debian's interpreter: /usr/bin/python3 (python3-torch)."""
import argparse
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class NormPlan:
    """lib/models/norm_plan.c for the ResNet-20 variants: bn and gn everywhere;
    gnbn GN at odd norm positions (counted in build order: stem, then each
    block's norm 1, norm 2, shortcut norm), BN at even; xbnblock GN as each
    block's first norm, BN elsewhere."""

    def __init__(self, kind, groups):
        self.kind, self.groups, self.position = kind, groups, 0

    def __call__(self, c, role):
        self.position += 1
        gn = (self.kind == "gn" or (self.kind == "gnbn" and self.position % 2 == 1)
              or (self.kind == "xbnblock" and role == "xbn"))
        return nn.GroupNorm(min(self.groups, c), c) if gn else nn.BatchNorm2d(c)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, norm):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = norm(cout, "xbn")
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = norm(cout, "block")
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), norm(cout, "shortcut"))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    def __init__(self, depth, width, in_c, classes, kind, groups):
        super().__init__()
        n = (depth - 2) // 6
        norm = NormPlan(kind, groups)
        self.conv = nn.Conv2d(in_c, width, 3, 1, 1, bias=False)
        self.bn = norm(width, "stem")
        layers, cin = [], width
        for stage in range(3):
            cout = width << stage
            for b in range(n):
                layers.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1, norm))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# The instances bench_vs_pytorch.sh --arch times (the same --set keys there).
FAMILY_SPECS = {
    "bottleneck": dict(arch="resnet", block="bottleneck", depth=29, width=16),
    "resnext": dict(arch="resnext", depth=29, width=16, cardinality=8, group_width=4),
    "mobilenetv2": dict(arch="mobilenetv2", width_mult=1.0),
    "shufflenetv2": dict(arch="shufflenetv2", width_mult=1.0),
    "inception": dict(arch="inception", version="v2", width=16),
    "inception-v3": dict(arch="inception", version="v3", width=16),
    "alexnet": dict(arch="alexnet", width=64),
}


def family_model(a):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import families  # noqa: E402  (next to this file)
    if a.norm not in ("bn", "xbnblock"):
        sys.exit("bench_torch.py: --arch %s takes --norm bn or xbnblock" % a.arch)
    spec = families.Spec(variant=a.norm, groups=a.groups, in_c=a.channels, in_h=a.size, in_w=a.size,
                         **FAMILY_SPECS[a.arch])
    return families.build(spec)


def conv_ms_per_step(step, k):
    """The convolutions' share of a training step: ms per step in them (the
    self CPU time of every profiled op whose name says convolution: forward,
    backward and the reorders oneDNN does inside them) and the profiled
    step's ms, over K steps after the timed ones. The profiler's own cost is
    a few microseconds per op."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        total = (time.perf_counter() - t0) * 1e3 / k
    us = sum(e.self_cpu_time_total for e in prof.key_averages() if "conv" in e.key.lower())
    return us / 1e3 / k, total


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--arch", default="resnet20", choices=list(FAMILY_SPECS) + ["resnet20"])
    p.add_argument("--norm", default="bn", choices=["bn", "gnbn", "xbnblock", "gn"])
    p.add_argument("--groups", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--channels", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    if a.arch == "resnet20":
        model = ResNet(20, 16, a.channels, 10, a.norm, a.groups)
    else:
        model = family_model(a)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(a.batch, a.channels, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    model.train()
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    t = (time.perf_counter() - t0) / a.steps
    print(f"torch train step: {t * 1e3:.1f} ms, {a.batch / t:.1f} images/s")
    conv, total = conv_ms_per_step(step, 5)
    print(f"torch train step convolutions: {conv:.1f} of {total:.1f} ms (profiled), {100 * conv / total:.1f} %")

    model.eval()
    xs = torch.randn(1024, a.channels, a.size, a.size)
    best = float("inf")
    with torch.no_grad():
        for p in range(4):  # a warm-up pass, then the best of 3 (as bnshift bench)
            t0 = time.perf_counter()
            for i in range(0, 1024, a.batch):
                model(xs[i:i + a.batch])
            t = time.perf_counter() - t0
            best = min(best, t) if p else best
    print(f"torch inference: {1024 / best:.1f} images/s")
    print(f"torch peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}")


if __name__ == "__main__":
    main()
