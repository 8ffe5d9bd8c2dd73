#!/usr/bin/env python3
"""PyTorch peer for the S1 workload of DistEmbed.Verified (distributional sequence embeddings, one training epoch).

The same model and training step as the library's `SequenceTrainer`, written as a PyTorch user would: a TCN encoder
(pointwise input projection, 3 residual dilated Conv1d blocks with ReLU, kernel 3, dilations 1/2/4, pointwise output
projection), a quantile layer (type-7 quantiles of each feature over the time steps at Q midpoint levels), the marginal
2-Wasserstein distance between quantile functions, the triplet loss (margin 0.2) with batch-hard mining, AdamW
(lr 1e-3, weight decay 1e-4) and gradient clipping (norm 1). Batches: 8 classes x 4 sequences, drawn per class.

Reads the sequences the .NET side writes (s1_x.npy [N, T, C] float32, s1_y.npy [N] labels) from --inputs.
Prints one JSON object: {"peer": "pytorch", "version", "threads", "results": {"S1": {"median_ms", "sizes"}}}.

Usage: python3 seq_peer.py --inputs DIR [--repeats N] [--hidden 32] [--features 8] [--quantiles 16]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import peer_common


class Tcn(nn.Module):
    def __init__(self, channels, hidden, features, layers=3, kernel=3):
        super().__init__()
        self.input = nn.Linear(channels, hidden)
        self.blocks = nn.ModuleList(
            [nn.Conv1d(hidden, hidden, kernel, padding=(2 ** l) * (kernel - 1) // 2, dilation=2 ** l) for l in range(layers)])
        self.output = nn.Linear(hidden, features)

    def forward(self, x):
        h = self.input(x).transpose(1, 2)
        for conv in self.blocks:
            h = h + F.relu(conv(h))
        return self.output(h.transpose(1, 2))


def quantiles(features, levels):
    """features [B, T, d] (all steps valid) -> [B, d, Q] type-7 quantiles."""
    s = torch.sort(features.transpose(1, 2), dim=-1).values
    t = s.shape[-1]
    h = (t - 1) * levels
    lo = torch.floor(h).long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    frac = (h - lo.to(h.dtype))
    return s[..., lo] + frac * (s[..., hi] - s[..., lo])


def pairwise_quantile_w2(q):
    f = q.reshape(q.shape[0], -1)
    n = q.shape[-1]
    sq = (f * f).sum(1)[:, None] + (f * f).sum(1)[None, :] - 2.0 * f @ f.T
    return torch.sqrt(torch.clamp(sq / n, min=0.0))


def paired_quantile_w2(a, b):
    c = ((a - b) ** 2).mean(-1).sum(-1)
    safe = torch.where(c > 0, c, torch.ones_like(c))
    return torch.where(c > 0, torch.sqrt(safe), torch.zeros_like(c))


def batch_hard_triplet(q, y, margin=0.2):
    with torch.no_grad():
        d = pairwise_quantile_w2(q)
        same = y[:, None] == y[None, :]
        eye = torch.eye(len(y), dtype=torch.bool)
        pos = same & ~eye
        neg = ~same
        hp = d.masked_fill(~pos, float("-inf")).argmax(1)
        hn = d.masked_fill(~neg, float("inf")).argmin(1)
        anchors = (pos.any(1) & neg.any(1)).nonzero().squeeze(1)
    a = anchors
    dap = paired_quantile_w2(q[a], q[hp[a]])
    dan = paired_quantile_w2(q[a], q[hn[a]])
    return F.relu(dap - dan + margin).mean()


def epoch_batches(labels, rng, classes_per_batch=8, per_class=4):
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    steps = max(1, len(labels) // (classes_per_batch * per_class))
    keys = sorted(by_class)
    out = []
    for _ in range(steps):
        cs = rng.choice(keys, classes_per_batch, replace=False)
        out.append(np.concatenate([rng.choice(by_class[c], per_class, replace=len(by_class[c]) < per_class) for c in cs]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--quantiles", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="PyTorch's and the BLAS's thread count (0 = defaults)")
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.load(os.path.join(args.inputs, "s1_x.npy")).astype(np.float32))
    y_np = np.load(os.path.join(args.inputs, "s1_y.npy")).astype(np.int64)
    y = torch.from_numpy(y_np)
    model = Tcn(x.shape[2], args.hidden, args.features)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    levels = (torch.arange(args.quantiles, dtype=torch.float32) + 0.5) / args.quantiles
    rng = np.random.default_rng(0)

    def one_epoch():
        for idx in epoch_batches(y_np, rng):
            i = torch.from_numpy(idx)
            opt.zero_grad()
            loss = batch_hard_triplet(quantiles(model(x[i]), levels), y[i])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

    one_epoch()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        one_epoch()
        times.append((time.perf_counter() - t0) * 1000.0)
    n, t, c = x.shape
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(), **peer_common.blas_info(),
                      "results": {"S1": {"median_ms": statistics.median(times), "sizes": [int(n), int(t), int(c)]}}}))


if __name__ == "__main__":
    main()
