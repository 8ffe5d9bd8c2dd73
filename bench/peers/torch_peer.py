#!/usr/bin/env python3
"""PyTorch peer for the DistEmbed.Verified benchmarks (../../shared/BENCHMARKS.md workloads W1, W2, W3, N1; N1 = NNGS between two spaces).

The same algorithms as the library, written vectorised as a PyTorch user would. Inputs are standard normal draws
with a fixed seed. Prints one JSON object: {"peer": "pytorch", "version": ..., "device": ..., "results": {id: {"median_ms": ...}}}.

Usage: python3 torch_peer.py [--device cpu|cuda] [--repeats N] [--threads N] [--serve] [--workloads W1,W2,W3,N1] [--scale 1.0]
--threads sets PyTorch's intra-op threads and the BLAS's (threadpoolctl) to the harness's count; --serve answers
"run ID" lines on stdin (peer_common.py), so that the harness can alternate single runs of ours and the peer's.
--scale shrinks the batch sizes for a quick run (the report states the sizes used).
"""
import argparse
import json
import os
import numpy as np
import torch

import peer_common


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
    ap.add_argument("--workloads", default="W1,W2,W3,N1")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--inputs", default="", help="folder with w3_x.npy / w3_y.npy written by the .NET side (same inputs)")
    peer_common.add_arguments(ap)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    torch.set_grad_enabled(False)
    s = args.scale
    wl = args.workloads.split(",")
    work = {}
    if "W1" in wl:
        b = max(1, int(512 * s))
        a1 = torch.randn(b, 128, 64, device=device)
        c1 = torch.randn(b, 128, 64, device=device)
        work["W1"] = ([b, 128, 64], lambda: pairwise_marginal_w2(a1, c1))
    if "W2" in wl:
        b = max(1, int(512 * s))
        a2 = torch.randn(b, 128, 64, device=device)
        c2 = torch.randn(b, 128, 64, device=device)
        theta = torch.randn(64, 256, device=device)
        theta = theta / theta.norm(dim=0, keepdim=True)
        work["W2"] = ([b, 128, 64, 256], lambda: pairwise_sliced_w2(a2, c2, theta))
    if "W3" in wl:
        b = max(1, int(256 * s))
        if args.inputs and os.path.exists(os.path.join(args.inputs, "w3_x.npy")):
            x3 = torch.from_numpy(np.load(os.path.join(args.inputs, "w3_x.npy"))).to(device)
            y3 = torch.from_numpy(np.load(os.path.join(args.inputs, "w3_y.npy"))).to(device)
        else:
            x3 = torch.randn(b, 256, 64, device=device)
            y3 = torch.randn(b, 256, 64, device=device)
        work["W3"] = ([x3.shape[0], 256, 64, 100], lambda: paired_sinkhorn(x3, y3))
    if "N1" in wl:
        n = max(20, int(10000 * s))
        xn = torch.randn(n, 256, device=device)
        yn = torch.randn(n, 256, device=device)
        work["N1"] = ([n, 256, 10], lambda: nngs(xn, yn, 10))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    peer_common.main_loop("pytorch", torch.__version__, torch.get_num_threads(), work, args, sync=sync)


if __name__ == "__main__":
    main()
