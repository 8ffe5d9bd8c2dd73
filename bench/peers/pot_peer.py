#!/usr/bin/env python3
"""POT peer (per pair, as POT's API offers) for workloads W1, W2 (extrapolated from a subset of pairs) and W4.

Prints one JSON object: {"peer": "pot", "version": ..., "threads": ..., "blas": ..., "results": {id: {"median_ms": ..., "pairs_timed": ...}}}
(or, with --serve, answers "run ID" lines; see peer_common.py).
W1: ot.wasserstein_1d per pair and dimension (p=2), extrapolated to --batch x --batch pairs, W2: ot.sliced_wasserstein_distance per pair with fixed
projections, W4: ot.emd2 per pair (64 pairs, T=128, d=16, float64, squared Euclidean cost; POT's C++ network simplex,
single-threaded).
"""
import argparse

import numpy as np
import ot

import peer_common


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=64, help="pairs timed for W1/W2 before extrapolating to batch x batch")
    ap.add_argument("--workloads", default="W1,W2,W4")
    ap.add_argument("--batch", type=int, default=512, help="B of the B x B pairwise workloads W1/W2 the timing is extrapolated to")
    peer_common.add_arguments(ap)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    rng = np.random.default_rng(0)
    wl = args.workloads.split(",")
    work, extra = {}, {}
    # W1 and W2 time args.pairs pairs and stand for batch x batch pairs.
    factor = args.batch * args.batch / args.pairs
    if "W1" in wl:
        a1 = rng.standard_normal((args.pairs, 128, 64)).astype(np.float32)
        b1 = rng.standard_normal((args.pairs, 128, 64)).astype(np.float32)

        def w1():
            for i in range(args.pairs):
                for k in range(64):
                    ot.wasserstein_1d(a1[i, :, k], b1[i, :, k], p=2)
        work["W1"] = ([args.batch, 128, 64], w1, factor)
        extra["W1"] = {"pairs_timed": args.pairs, "extrapolated": True}
    if "W2" in wl:
        a2 = rng.standard_normal((args.pairs, 128, 64))
        b2 = rng.standard_normal((args.pairs, 128, 64))
        theta = rng.standard_normal((64, 256))
        theta /= np.linalg.norm(theta, axis=0, keepdims=True)

        def w2():
            for i in range(args.pairs):
                ot.sliced_wasserstein_distance(a2[i], b2[i], projections=theta, p=2)
        work["W2"] = ([args.batch, 128, 64, 256], w2, factor)
        extra["W2"] = {"pairs_timed": args.pairs, "extrapolated": True}
    if "W4" in wl:
        x = rng.standard_normal((64, 128, 16))
        y = rng.standard_normal((64, 128, 16))
        w = np.full(128, 1.0 / 128)
        costs = [ot.dist(x[i], y[i]) for i in range(64)]

        def w4():
            for c in costs:
                ot.emd2(w, w, c)
        work["W4"] = ([64, 128, 16], w4)
        extra["W4"] = {"pairs_timed": 64, "extrapolated": False}
    peer_common.main_loop("pot", ot.__version__, args.threads if args.threads > 0 else None, work, args, extra=extra)


if __name__ == "__main__":
    main()
