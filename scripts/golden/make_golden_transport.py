#!/usr/bin/python3
"""Golden fixtures for the exact and entropic optimal-transport reference (DistEmbed.Core.Reference).

Writes, next to the property suites,
  tests/Properties/fixtures/golden_emd2.json      ot.emd2 (POT's network simplex) on weighted point clouds
  tests/Properties/fixtures/golden_sinkhorn.json  ot.sinkhorn2(method="sinkhorn_log") on weighted point clouds

Run from the repository root with the Debian system Python (POT 0.8.2, NumPy 1.24):
  /usr/bin/python3 scripts/golden/make_golden_transport.py

Every instance stores exactly what POT was given: points (rounded to a few decimals before use, so the JSON
holds them exactly), integer weights wa/wb (the distribution's weights are wa/sum(wa) and wb/sum(wb)), the
exponent p of the ground cost M = ot.dist(x, y, "minkowski", p=2)**p
(the Euclidean norm ||x_i - y_j||, computed from differences), for Sinkhorn the regularisation reg, and POT's
output. The F# tests rebuild M with ExactTransport.groundCost and compare.
"""
import json
import os
import sys
import warnings

import numpy as np
import ot

SEED = 20261123
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures")


def cloud(rng, n, d, scale):
    """n points in R^d at a scale: normal draws, or a small integer grid (ties), with duplicated rows now and then."""
    kind = rng.integers(0, 3)
    if kind == 0:
        x = np.round(rng.standard_normal((n, d)) * scale, 4 - int(np.floor(np.log10(scale))))
    elif kind == 1:
        x = rng.integers(-3, 4, size=(n, d)).astype(np.float64) * scale
    else:
        x = np.round(rng.uniform(-1.0, 1.0, size=(n, d)) * scale, 3 - int(np.floor(np.log10(scale))))
    if n > 2 and rng.random() < 0.4:
        k = rng.integers(1, n)
        x[k] = x[0]
    return x


def integer_weights(rng, n):
    """Uniform, random positive, or sparse (some zeros, never all) integer weights."""
    kind = rng.integers(0, 3)
    if kind == 0:
        w = np.ones(n, dtype=np.int64)
    elif kind == 1:
        w = rng.integers(1, 101, size=n)
    else:
        w = rng.integers(0, 4, size=n)
        if w.sum() == 0:
            w[rng.integers(0, n)] = 1
    return w


def instance(rng, sizes):
    n = int(rng.integers(sizes[0], sizes[1] + 1))
    m = int(rng.integers(sizes[0], sizes[1] + 1))
    d = int(rng.integers(1, 6))
    scale = float(10.0 ** rng.integers(-2, 3))
    p = int(rng.choice([1, 2]))
    x = cloud(rng, n, d, scale)
    y = cloud(rng, m, d, scale)
    wa = integer_weights(rng, n)
    wb = integer_weights(rng, m)
    a = wa / wa.sum()
    b = wb / wb.sum()
    # ot.dist(metric="euclidean") uses the Gram expansion sqrt(|x|^2 + |y|^2 - 2<x,y>), which loses about half the
    # digits for nearby points (a duplicated point gets distance ~1e-8 * |x| instead of 0). The Minkowski p = 2 path
    # of ot.dist goes through scipy's cdist, which sums squared differences: the same Euclidean norm, to rounding.
    M = ot.dist(x, y, metric="minkowski", p=2) ** p
    return {"p": p, "x": x.tolist(), "wa": wa.tolist(), "y": y.tolist(), "wb": wb.tolist()}, a, b, M


def golden_emd2(rng):
    cases = []
    # 240 small and medium instances, then 6 larger ones (up to 100 points) to exercise long pivot sequences.
    plan = [(1, 30)] * 240 + [(60, 100)] * 6
    for sizes in plan:
        case, a, b, M = instance(rng, sizes)
        cost, log = ot.emd2(a, b, M, numItermax=10_000_000, log=True)
        if log["result_code"] != 1:
            sys.exit(f"emd2 did not reach an optimal solution: {log['warning']}")
        case["emd2"] = float(cost)
        cases.append(case)
    return cases


def golden_sinkhorn(rng):
    cases = []
    while len(cases) < 220:
        case, a, b, M = instance(rng, (1, 25))
        mean_cost = float(M.mean())
        if mean_cost <= 0.0:
            continue
        factor = float(rng.choice([0.05, 0.1, 0.2, 0.5, 1.0]))
        reg = float(f"{factor * mean_cost:.6g}")
        with warnings.catch_warnings():
            # log(0) of zero weights is -inf on purpose: those rows/columns carry no mass.
            warnings.simplefilter("ignore", RuntimeWarning)
            value, log = ot.sinkhorn2(a, b, M, reg, method="sinkhorn_log", numItermax=200_000, stopThr=1e-14,
                                      log=True, warn=False)
        if log["niter"] >= 200_000 - 1 or not np.isfinite(value):
            sys.exit(f"sinkhorn_log did not converge on case {len(cases)}")
        case["reg"] = reg
        case["sinkhorn2"] = float(value)
        cases.append(case)
    return cases


def write(name, cases, what):
    doc = {
        "generator": "scripts/golden/make_golden_transport.py",
        "numpy_seed": SEED,
        "pot_version": ot.__version__,
        "numpy_version": np.__version__,
        "what": what,
        "instances": cases,
    }
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(cases)} instances, {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    write("golden_emd2.json", golden_emd2(rng),
          "ot.emd2(a, b, M) with a = wa/sum(wa), b = wb/sum(wb), M = ot.dist(x, y, 'minkowski', p=2)**p = ||x_i - y_j||**p")
    write("golden_sinkhorn.json", golden_sinkhorn(rng),
          "ot.sinkhorn2(a, b, M, reg, method='sinkhorn_log', numItermax=200000, stopThr=1e-14) = <P, M>, "
          "a = wa/sum(wa), b = wb/sum(wb), M = ot.dist(x, y, 'minkowski', p=2)**p = ||x_i - y_j||**p")


if __name__ == "__main__":
    main()
