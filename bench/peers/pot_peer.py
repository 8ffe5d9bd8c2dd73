#!/usr/bin/env python3
"""POT peer (per pair, as POT's API offers) for workloads W1, W2 (extrapolated from a subset of pairs) and W4.

Prints one JSON object: {"peer": "pot", "version": ..., "results": {id: {"median_ms": ..., "pairs_timed": ...}}}.
W1: ot.wasserstein_1d per pair and dimension (p=2), extrapolated to --batch x --batch pairs, W2: ot.sliced_wasserstein_distance per pair with fixed
projections, W4: ot.emd2 per pair (64 pairs, T=128, d=16, float64, squared Euclidean cost).
"""
import argparse
import json
import time

import numpy as np
import ot


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=64, help="pairs timed for W1/W2 before extrapolating to 512x512")
    ap.add_argument("--workloads", default="W1,W2,W4")
    ap.add_argument("--batch", type=int, default=512, help="B of the B x B pairwise workloads W1/W2 the timing is extrapolated to")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    res = {}
    wl = args.workloads.split(",")
    if "W1" in wl:
        a = rng.standard_normal((args.pairs, 128, 64)).astype(np.float32)
        b = rng.standard_normal((args.pairs, 128, 64)).astype(np.float32)
        t0 = time.perf_counter()
        for i in range(args.pairs):
            for k in range(64):
                ot.wasserstein_1d(a[i, :, k], b[i, :, k], p=2)
        per_pair = (time.perf_counter() - t0) / args.pairs
        res["W1"] = {"median_ms": per_pair * args.batch * args.batch * 1000.0, "pairs_timed": args.pairs, "extrapolated": True}
    if "W2" in wl:
        a = rng.standard_normal((args.pairs, 128, 64))
        b = rng.standard_normal((args.pairs, 128, 64))
        theta = rng.standard_normal((64, 256))
        theta /= np.linalg.norm(theta, axis=0, keepdims=True)
        t0 = time.perf_counter()
        for i in range(args.pairs):
            ot.sliced_wasserstein_distance(a[i], b[i], projections=theta, p=2)
        per_pair = (time.perf_counter() - t0) / args.pairs
        res["W2"] = {"median_ms": per_pair * args.batch * args.batch * 1000.0, "pairs_timed": args.pairs, "extrapolated": True}
    if "W4" in wl:
        x = rng.standard_normal((64, 128, 16))
        y = rng.standard_normal((64, 128, 16))
        w = np.full(128, 1.0 / 128)
        costs = [ot.dist(x[i], y[i]) for i in range(64)]
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            for i in range(64):
                ot.emd2(w, w, costs[i])
            runs.append((time.perf_counter() - t0) * 1000.0)
        res["W4"] = {"median_ms": sorted(runs)[1], "pairs_timed": 64, "extrapolated": False}
    print(json.dumps({"peer": "pot", "version": ot.__version__, "results": res}))


if __name__ == "__main__":
    main()
