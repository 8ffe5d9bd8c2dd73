#!/usr/bin/env python3
"""PyTorch peer for the DistEmbed.Verified benchmarks (../../shared/BENCHMARKS.md workloads W1, W2, W3, N1; N1 = NNGS between two spaces).

The same algorithms as the library, written vectorised as a PyTorch user would. Inputs are standard normal draws
with a fixed seed. Prints one JSON object: {"peer": "pytorch", "version": ..., "device": ..., "results": {id: {"median_ms": ...}}}.

Usage: python3 torch_peer.py [--device cpu|cuda] [--repeats N] [--workloads W1,W2,W3,N1] [--scale 1.0]
--scale shrinks the batch sizes for a quick run (the report states the sizes used).
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch


def timed(fn, device, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def pairwise_marginal_w2(a, b):
    """a [B,T,d], b [B',T,d] uniform weights -> [B,B'] marginal W2 (sum over dimensions of 1-D W2^2, then sqrt)."""
    sa = torch.sort(a, dim=1).values.reshape(a.shape[0], -1)
    sb = torch.sort(b, dim=1).values.reshape(b.shape[0], -1)
    t = a.shape[1]
    sq = (sa * sa).sum(1)[:, None] + (sb * sb).sum(1)[None, :] - 2.0 * sa @ sb.T
    return torch.sqrt(torch.clamp(sq / t, min=0.0))


def pairwise_sliced_w2(a, b, theta):
    """theta [d,L] unit directions -> [B,B'] sliced W2 = sqrt(mean_l W2^2 of the projections)."""
    pa = a @ theta
    pb = b @ theta
    sa = torch.sort(pa, dim=1).values.reshape(a.shape[0], -1)
    sb = torch.sort(pb, dim=1).values.reshape(b.shape[0], -1)
    n = pa.shape[1] * pa.shape[2]
    sq = (sa * sa).sum(1)[:, None] + (sb * sb).sum(1)[None, :] - 2.0 * sa @ sb.T
    return torch.sqrt(torch.clamp(sq / n, min=0.0))


def paired_sinkhorn(x, y, iterations=100):
    """Log-domain Sinkhorn, squared Euclidean cost, eps = 0.05 mean(C), uniform weights -> [B] transport cost."""
    c = torch.cdist(x, y) ** 2
    eps = 0.05 * c.mean()
    bsz, n, m = c.shape
    loga = torch.full((bsz, n), -torch.log(torch.tensor(float(n))), device=x.device, dtype=x.dtype)
    logb = torch.full((bsz, m), -torch.log(torch.tensor(float(m))), device=x.device, dtype=x.dtype)
    f = torch.zeros_like(loga)
    g = torch.zeros_like(logb)
    for _ in range(iterations):
        f = -eps * torch.logsumexp(logb[:, None, :] + (g[:, None, :] - c) / eps, dim=2)
        g = -eps * torch.logsumexp(loga[:, :, None] + (f[:, :, None] - c) / eps, dim=1)
    logp = (f[:, :, None] + g[:, None, :] - c) / eps + loga[:, :, None] + logb[:, None, :]
    return (torch.exp(logp) * c).sum((1, 2))


def nngs(x, y, k):
    """NNGS between two spaces: both exact k-NN graphs, then the mean Jaccard index of each item's two neighbour sets."""
    gx = knn(x, k)
    gy = knn(y, k)
    shared = (gx[:, :, None] == gy[:, None, :]).sum(dim=(1, 2)).double()
    return (shared / (2 * k - shared)).mean()


def knn(x, k):
    """Exact k-NN (self excluded) by blocked squared distances + topk -> [N,k] indices."""
    n = x.shape[0]
    out = []
    sq = (x * x).sum(1)
    for s in range(0, n, 2048):
        blk = x[s:s + 2048]
        d = sq[s:s + 2048, None] + sq[None, :] - 2.0 * blk @ x.T
        d[torch.arange(blk.shape[0]), torch.arange(s, s + blk.shape[0])] = float("inf")
        out.append(torch.topk(d, k, dim=1, largest=False).indices)
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--workloads", default="W1,W2,W3,N1")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--inputs", default="", help="folder with w3_x.npy / w3_y.npy written by the .NET side (same inputs)")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    s = args.scale
    res = {}
    wl = args.workloads.split(",")
    with torch.no_grad():
        if "W1" in wl:
            b = max(1, int(512 * s))
            a = torch.randn(b, 128, 64, device=device)
            c = torch.randn(b, 128, 64, device=device)
            res["W1"] = {"median_ms": timed(lambda: pairwise_marginal_w2(a, c), device, args.repeats), "sizes": [b, 128, 64]}
        if "W2" in wl:
            b = max(1, int(512 * s))
            a = torch.randn(b, 128, 64, device=device)
            c = torch.randn(b, 128, 64, device=device)
            theta = torch.randn(64, 256, device=device)
            theta = theta / theta.norm(dim=0, keepdim=True)
            res["W2"] = {"median_ms": timed(lambda: pairwise_sliced_w2(a, c, theta), device, args.repeats), "sizes": [b, 128, 64, 256]}
        if "W3" in wl:
            b = max(1, int(256 * s))
            if args.inputs and os.path.exists(os.path.join(args.inputs, "w3_x.npy")):
                x = torch.from_numpy(np.load(os.path.join(args.inputs, "w3_x.npy"))).to(device)
                y = torch.from_numpy(np.load(os.path.join(args.inputs, "w3_y.npy"))).to(device)
            else:
                x = torch.randn(b, 256, 64, device=device)
                y = torch.randn(b, 256, 64, device=device)
            res["W3"] = {"median_ms": timed(lambda: paired_sinkhorn(x, y), device, args.repeats), "sizes": [b, 256, 64, 100]}
        if "N1" in wl:
            n = max(20, int(10000 * s))
            x = torch.randn(n, 256, device=device)
            y = torch.randn(n, 256, device=device)
            res["N1"] = {"median_ms": timed(lambda: nngs(x, y, 10), device, args.repeats), "sizes": [n, 256, 10]}
    print(json.dumps({"peer": "pytorch", "version": torch.__version__, "device": str(device),
                      "threads": torch.get_num_threads(), "results": res}))


if __name__ == "__main__":
    main()
