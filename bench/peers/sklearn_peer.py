#!/usr/bin/env python3
"""scikit-learn peer for workload N1 (../../shared/BENCHMARKS.md): NNGS between two spaces, N=10,000, d=256, k=10.

What a scikit-learn user would write: sklearn.neighbors.NearestNeighbors(algorithm="brute") fitted on each space,
kneighbors() without a query (so an item is not its own neighbour), then the mean Jaccard index of the two
neighbour sets of each item (NumPy, vectorised). Inputs are float32 standard normal draws with a fixed seed.
Prints one JSON object: {"peer": "scikit-learn", "version": ..., "threads": ..., "blas": ..., "results": {"N1": {"median_ms": ..., "nngs": ...}}}
(or, with --serve, answers "run ID" lines; see peer_common.py).

Usage: python3 sklearn_peer.py [--repeats N] [--threads N] [--serve] [--scale 1.0] [--workloads N1] [--inputs DIR]
--inputs reads the harness's N1 inputs (n1_x.npy, n1_y.npy) instead of drawing them.
--threads limits the BLAS and OpenMP pools (threadpoolctl) to that count.
"""
import argparse
import os

import numpy as np
import sklearn
from sklearn.neighbors import NearestNeighbors

import peer_common


def nngs(x, y, k):
    gx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors(return_distance=False)
    gy = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(y).kneighbors(return_distance=False)
    shared = (gx[:, :, None] == gy[:, None, :]).sum(axis=(1, 2))
    return float(np.mean(shared / (2 * k - shared)))


def load_or_draw(inputs, name, rng, n):
    """The harness's input `name` (float32 [n, 256]) from the folder `inputs`, else n standard normal rows."""
    path = os.path.join(inputs, name) if inputs else ""
    if path and os.path.exists(path):
        x = np.ascontiguousarray(np.load(path), dtype=np.float32)
        if x.shape[0] != n:
            raise SystemExit(f"sklearn_peer: {path} has {x.shape[0]} rows, expected {n} (--scale)")
        return x
    return rng.standard_normal((n, 256)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workloads", default="N1")
    ap.add_argument("--inputs", default="", help="folder with the harness's N1 inputs n1_x.npy / n1_y.npy (same inputs as ours)")
    peer_common.add_arguments(ap)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    work, extra = {}, {}
    if "N1" in args.workloads.split(","):
        n = max(20, int(10000 * args.scale))
        rng = np.random.default_rng(0)
        x, y = (load_or_draw(args.inputs, name, rng, n) for name in ("n1_x.npy", "n1_y.npy"))
        work["N1"] = ([n, 256, 10], lambda: nngs(x, y, 10))
        extra["N1"] = {"nngs": nngs(x, y, 10)}
    peer_common.main_loop("scikit-learn", sklearn.__version__, args.threads if args.threads > 0 else None, work, args, extra=extra,
                          header_extra={"values": {wid: v["nngs"] for wid, v in extra.items()}})


if __name__ == "__main__":
    main()
