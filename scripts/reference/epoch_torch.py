#!/usr/bin/python3
"""The PyTorch side of scripts/bench_epoch_vs_pytorch.sh: whole epochs of
`bnshift run` in a plain PyTorch loop, on the config bnshift resolved
(RUN_DIR/config.resolved.json; ResNet BN on Fashion-MNIST/MNIST only).

Each epoch, as lib/run/runner.c does it:
  1. training: shuffle S, floor(|S|/B) steps of batch B (augmented as
     data.augment: 4-pixel zero-pad random crop, horizontal flip when
     data.flip, then per-channel normalization with S's mean/std), forward,
     cross entropy, backward, SGD (momentum, weight decay on every parameter);
  2. on every evaluated epoch, for each set of log.eval_sets (train: S, test:
     S', each cut to data.eval_subset): an inference pass in batches of B
     whose forward pre-hooks sum every BN input per channel in float64 (sum
     and sum of squares; population variance), then the "bstat" pass (the
     same samples in training mode, batches of B, a last batch under 2
     samples skipped, running statistics saved and restored), then per BN
     layer esm_mean = ||mu_hat - mu||_2 and esm_std = ||sqrt(var_hat) -
     sqrt(var)||_2 (no eps, as lib/shift/esm.c).
Prints one `torch epoch` line per epoch: training seconds (from after the
shuffle to the last SGD step) and epoch seconds (training + evaluation),
and the images each part processed. Data loading and model building are
not timed. Subsets are drawn by torch's generator, not bnshift's: the same
sizes and sources, not the same images.
Run with Debian's interpreter: /usr/bin/python3 (python3-torch)."""
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import ResNet  # noqa: E402  (the ResNet-20 of bench_vs_pytorch.sh)

ROOTS = {"fashion-mnist": "/usr/share/datasets/fashion-mnist", "mnist": "data/mnist"}  # lib/run/config.c
PAD = 4  # lib/data/dataset.c AUG_PAD


def read_idx(root, prefix):
    """uint8 images (N, 1, H, W) and int64 labels of ROOT/PREFIX-*-ubyte.gz."""
    with gzip.open(f"{root}/{prefix}-images-idx3-ubyte.gz") as f:
        raw = f.read()
    n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w).copy())
    with gzip.open(f"{root}/{prefix}-labels-idx1-ubyte.gz") as f:
        y = torch.from_numpy(np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64))
    return x, y


def unsupported(cfg):
    """What this loop does not replicate, in words (None when all is handled)."""
    d, m, t = cfg["data"], cfg["model"], cfg["train"]
    checks = [
        (d["dataset"] in ROOTS, "data.dataset fashion-mnist or mnist"),
        (d["train_from"] == "train" and d["test_from"] == "test", "train_from train, test_from test"),
        (d["corruption"]["type"] == "none", "no data.corruption"),
        ((m["arch"], m["block"], m["shortcut"], m["norm"]) == ("resnet", "basic", "projection", "bn"),
         "model resnet / basic / projection / bn"),
        (t["optimizer"] == "sgd" and t["bn_estimator"] == "ema", "train.optimizer sgd, train.bn_estimator ema"),
        (t["schedule"]["type"] in ("cosine", "constant") and t["schedule"]["warmup_epochs"] == 0,
         "train.schedule cosine or constant without warm-up"),
        (t["grad_clip"] == 0 and t["wd_norm"], "train.grad_clip 0, train.wd_norm true"),
    ]
    missing = [what for ok, what in checks if not ok]
    return ", ".join(missing) if missing else None


class BnInputStats:
    """Forward pre-hooks on every BN: per-channel float64 sum and sum of squares
    of its input, the exact statistics `run` accumulates during inference."""

    def __init__(self, bns):
        self.bns, self.handles = bns, []

    def __enter__(self):
        self.sum = [torch.zeros(b.num_features, dtype=torch.float64) for b in self.bns]
        self.sq = [torch.zeros(b.num_features, dtype=torch.float64) for b in self.bns]
        self.count = [0] * len(self.bns)
        for i, b in enumerate(self.bns):
            self.handles.append(b.register_forward_pre_hook(lambda mod, inp, i=i: self.add(i, inp[0])))
        return self

    def add(self, i, x):
        xd = x.double()
        self.sum[i] += xd.sum((0, 2, 3))
        self.sq[i] += (xd * xd).sum((0, 2, 3))
        self.count[i] += x.numel() // x.shape[1]

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []

    def esm(self):
        """[(esm_mean, esm_std)] per BN layer, from its running estimates."""
        out = []
        for b, s, q, n in zip(self.bns, self.sum, self.sq, self.count):
            mu = s / n
            var = (q / n - mu * mu).clamp(min=0)
            rm, rv = b.running_mean.double(), b.running_var.double().clamp(min=0)
            out.append(((rm - mu).norm().item(), (rv.sqrt() - var.sqrt()).norm().item()))
        return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True, help="a bnshift run's config.resolved.json")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--esm", action="store_true", help="print every BN layer's ESM at each evaluated epoch")
    a = p.parse_args()
    with open(a.config) as f:
        cfg = json.load(f)
    why = unsupported(cfg)
    if why:
        sys.exit(f"epoch_torch.py: {a.config}: this loop only replicates {why}")
    d, m, t, log = cfg["data"], cfg["model"], cfg["train"], cfg["log"]
    torch.set_num_threads(a.threads)
    torch.manual_seed(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])

    # Data (not timed): S = train_subset samples of the training split; the
    # evaluation sets S (train) and S' (test), each cut to eval_subset.
    root = d["root"] or ROOTS[d["dataset"]]
    train_x, train_y = read_idx(root, "train")
    test_x, test_y = read_idx(root, "t10k")
    k = d["train_subset"]
    S = torch.randperm(len(train_x), generator=gen)[:k] if k > 0 else torch.arange(len(train_x))

    def cut(idx):
        e = d["eval_subset"]
        return idx[torch.randperm(len(idx), generator=gen)[:e]] if 0 < e < len(idx) else idx

    eval_sets = [(name, src_x, src_y, cut(idx)) for name, src_x, src_y, idx in
                 (("train", train_x, train_y, S), ("test", test_x, test_y, torch.arange(len(test_x))))
                 if name in log["eval_sets"]]
    if d["normalize"]:
        px = train_x[S].double() / 255
        mean, std = px.mean((0, 2, 3)).float(), px.std((0, 2, 3), unbiased=False).clamp(min=1e-6).float()
    else:
        mean, std = torch.zeros(1), torch.ones(1)
    mean, std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
    H, W = train_x.shape[2:]

    def gather(src_x, idx):  # dataset_gather: u8 -> [0, 1] -> normalized
        return (src_x[idx].float() / 255 - mean) / std

    def gather_augmented(idx):  # dataset_gather_augmented: pad with 0 (before normalizing), crop, flip
        n = len(idx)
        x = F.pad(train_x[idx].float() / 255, (PAD, PAD, PAD, PAD))
        dy, dx = torch.randint(0, 2 * PAD + 1, (2, n, 1), generator=gen)
        rows, cols = dy + torch.arange(H), dx + torch.arange(W)
        if d["flip"]:
            flip = torch.randint(0, 2, (n, 1), generator=gen).bool()
            cols = torch.where(flip, cols.flip(1), cols)
        x = x[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]
        return (x - mean) / std

    model = ResNet(m["depth"], m["width"], train_x.shape[1], 10, "bn", m["groups"])
    bns = [mod for mod in model.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    for b in bns:
        b.eps, b.momentum = t["bn_eps"], t["bn_momentum"]
    opt = torch.optim.SGD(model.parameters(), lr=t["lr"], momentum=t["momentum"], nesterov=t["nesterov"],
                          weight_decay=t["weight_decay"])  # wd_norm true: every parameter decays
    B, epochs, ls = t["batch_size"], t["epochs"], t["label_smoothing"]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; S {len(S)}, "
          + ", ".join(f"{n} {len(i)}" for n, _, _, i in eval_sets) + f"; batch {B}; {epochs} epochs")

    def infer_pass(src_x, src_y, idx, train_mode):
        """Loss, error and images of one pass in batches of B, no gradients."""
        model.train(train_mode)
        loss, hits, n = 0.0, 0, 0
        with torch.no_grad():
            for s in range(0, len(idx), B):
                i = idx[s:s + B]
                if train_mode and len(i) < 2:
                    break
                out = model(gather(src_x, i))
                loss += F.cross_entropy(out, src_y[i], label_smoothing=ls).item() * len(i)
                hits += (out.argmax(1) == src_y[i]).sum().item()
                n += len(i)
        return loss / n, 1 - hits / n, n

    for epoch in range(epochs):
        lr = t["lr"] if t["schedule"]["type"] == "constant" else 0.5 * t["lr"] * (1 + math.cos(math.pi * epoch / epochs))
        for g in opt.param_groups:
            g["lr"] = lr
        order = S[torch.randperm(len(S), generator=gen)]
        steps = len(S) // B
        model.train()
        t0 = time.perf_counter()
        loss_sum, hits = 0.0, 0
        for s in range(steps):
            i = order[s * B:(s + 1) * B]
            x = gather_augmented(i) if d["augment"] else gather(train_x, i)
            out = model(x)
            loss = F.cross_entropy(out, train_y[i], label_smoothing=ls)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * B
            hits += (out.argmax(1) == train_y[i]).sum().item()
        t_train = time.perf_counter() - t0
        eval_images, report = 0, []
        if (epoch + 1) % log["eval_every"] == 0 or epoch + 1 == epochs:
            for name, src_x, src_y, idx in eval_sets:
                with BnInputStats(bns) as st:
                    loss_e, err_e, n_e = infer_pass(src_x, src_y, idx, False)
                saved = [buf.clone() for buf in model.buffers()]
                _, bstat_err, n_b = infer_pass(src_x, src_y, idx, True)
                for buf, v in zip(model.buffers(), saved):
                    buf.copy_(v)
                esm = st.esm()
                eval_images += n_e + n_b
                report.append((name, err_e, bstat_err, esm))
        t_epoch = time.perf_counter() - t0
        print(f"torch epoch {epoch + 1} lr {lr:.6g} train_s {t_train:.4f} epoch_s {t_epoch:.4f} "
              f"train_images {steps * B} eval_images {eval_images} train_batch_loss {loss_sum / (steps * B):.4f} "
              f"train_batch_err {1 - hits / (steps * B):.4f} "
              + " ".join(f"{n}_err {e:.4f} {n}_bstat_err {be:.4f} {n}_mean_esm_mean "
                         f"{sum(x[0] for x in es) / len(es):.4g}" for n, e, be, es in report), flush=True)
        if a.esm:
            for n, _, _, es in report:
                for layer, (em, esd) in enumerate(es):
                    print(f"  esm epoch {epoch + 1} {n} layer {layer:2d} esm_mean {em:.6g} esm_std {esd:.6g}")


if __name__ == "__main__":
    main()
