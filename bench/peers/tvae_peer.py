#!/usr/bin/env python3
"""PyTorch peer of benchmark T1: one TVAE training epoch (Ishfaq et al., arXiv 1802.04403), as DistEmbed's Tvae.Fit.

The same model and loss as the library: encoder 784-400 (ReLU) -> two 400-20 heads, decoder 20-400 (ReLU) -> 784
logits; loss = 0.01 * mean negative ELBO per image (summed Bernoulli BCE + analytic KL, one reparameterised sample)
+ triplet hinge (margin 0.2, Euclidean distances between means) + 0.001 * mean (|mu_a| + |mu_p| + |mu_n|); Adam 1e-3,
batch 128 triplets. N = 60,000 * scale uniform 28x28 images of 10 classes, N random triplets (anchor, positive of its
class, negative of another class) drawn per epoch inside the timed region, as the library does.

Prints one JSON object: {"peer": "pytorch", "version": ..., "threads": ..., "results": {"T1": {"median_ms": ..., "triplets": N}}}.
Usage: python3 tvae_peer.py [--device cpu|cuda] [--repeats N] [--scale 1.0] [--threads T] [--seed S]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import peer_common


class Vae(nn.Module):
    def __init__(self, pixels=784, hidden=400, latent=20):
        super().__init__()
        self.fc1 = nn.Linear(pixels, hidden)
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, pixels)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.mean(h), self.log_var(h)

    def decode_logits(self, z):
        return self.fc4(F.relu(self.fc3(z)))


def triplets(labels, count, rng):
    """Anchor uniform, positive uniform among the other items of its class, negative uniform among other classes."""
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    anchor = rng.integers(0, len(labels), count)
    positive = np.empty(count, dtype=np.int64)
    negative = np.empty(count, dtype=np.int64)
    for c, members in by_class.items():
        sel = np.flatnonzero(labels[anchor] == c)
        if sel.size == 0:
            continue
        others = np.flatnonzero(labels != c)
        p = members[rng.integers(0, members.size - 1, sel.size)]
        p = np.where(p == anchor[sel], members[-1], p)
        positive[sel] = p
        negative[sel] = others[rng.integers(0, others.size, sel.size)]
    return anchor, positive, negative


def epoch(model, opt, data, labels, rng, device, batch=128):
    a, p, n = triplets(labels, len(labels), rng)
    for s in range(0, len(a), batch):
        k = min(batch, len(a) - s)
        idx = torch.from_numpy(np.concatenate([a[s:s + k], p[s:s + k], n[s:s + k]])).to(device)
        x = data.index_select(0, idx)
        opt.zero_grad()
        mu, log_var = model.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        logits = model.decode_logits(z)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
        neg_elbo = (bce + kl).mean()
        d_ap = (mu[:k] - mu[k:2 * k]).pow(2).sum(1).sqrt()
        d_an = (mu[:k] - mu[2 * k:]).pow(2).sum(1).sqrt()
        hinge = F.relu(d_ap - d_an + 0.2).mean()
        norms = mu.norm(dim=1).sum() / k
        loss = 0.01 * neg_elbo + hinge + 0.001 * norms
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = max(256, int(60_000 * args.scale))
    data = torch.rand(n, 784, device=device)
    labels = np.arange(n) % 10
    model = Vae().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    epoch(model, opt, data, labels, rng, device)  # warm-up, as the .NET side
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        epoch(model, opt, data, labels, rng, device)
        times.append((time.perf_counter() - t0) * 1000.0)
    median = statistics.median(times)
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "device": args.device, "threads": torch.get_num_threads(),
                      **peer_common.blas_info(), "results": {"T1": {"median_ms": median, "triplets": n, "seconds": median / 1000.0}}}))


if __name__ == "__main__":
    main()
