#!/usr/bin/env python3
"""scikit-learn peer for workload N1 (../../shared/BENCHMARKS.md): NNGS between two spaces, N=10,000, d=256, k=10.

What a scikit-learn user would write: sklearn.neighbors.NearestNeighbors(algorithm="brute") fitted on each space,
kneighbors() without a query (so an item is not its own neighbour), then the mean Jaccard index of the two
neighbour sets of each item (NumPy, vectorised). Inputs are float32 standard normal draws with a fixed seed.
Prints one JSON object: {"peer": "scikit-learn", "version": ..., "results": {"N1": {"median_ms": ..., "nngs": ...}}}.

Usage: python3 sklearn_peer.py [--repeats N] [--scale 1.0] [--workloads N1]
"""
import argparse
import json
import statistics
import time

import numpy as np
import sklearn
from sklearn.neighbors import NearestNeighbors


def nngs(x, y, k):
    gx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors(return_distance=False)
    gy = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(y).kneighbors(return_distance=False)
    shared = (gx[:, :, None] == gy[:, None, :]).sum(axis=(1, 2))
    return float(np.mean(shared / (2 * k - shared)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workloads", default="N1")
    args = ap.parse_args()
    res = {}
    if "N1" in args.workloads.split(","):
        n = max(20, int(10000 * args.scale))
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 256)).astype(np.float32)
        y = rng.standard_normal((n, 256)).astype(np.float32)
        value = nngs(x, y, 10)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            nngs(x, y, 10)
            times.append((time.perf_counter() - t0) * 1000.0)
        res["N1"] = {"median_ms": statistics.median(times), "sizes": [n, 256, 10], "nngs": value}
    print(json.dumps({"peer": "scikit-learn", "version": sklearn.__version__, "results": res}))


if __name__ == "__main__":
    main()
