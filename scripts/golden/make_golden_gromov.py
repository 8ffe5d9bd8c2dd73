#!/usr/bin/python3
"""Golden fixtures for the Gromov-Wasserstein reference (DistEmbed.Core.Reference.GromovWasserstein).

Writes, next to the property suites,
  tests/Properties/fixtures/golden_gromov.json
with two lists of instances:
  "cg"        ot.gromov.gromov_wasserstein2(C1, C2, p, q, 'square_loss')            (conditional gradient, POT defaults)
  "entropic"  ot.gromov.entropic_gromov_wasserstein2(C1, C2, p, q, 'square_loss', epsilon)   (POT defaults)

Run from the repository root with the Debian system Python (POT 0.8.2, NumPy 1.24):
  /usr/bin/python3 scripts/golden/make_golden_gromov.py

Every instance stores exactly what POT was given: the symmetric matrices C1 (n x n) and C2 (m x m) (Python's float
repr round-trips, so the JSON holds them exactly), integer weights wp/wq (p = wp/sum(wp), q = wq/sum(wq)), for the
entropic solver epsilon, and POT's output: the value, and the number of Frank-Wolfe steps (len(log['loss']) - 1) or
of the entropic solver's convergence checks (len(log['err']), one per ten mirror-descent steps) so that the F# tests
can check that the same path was followed. Matrices are Euclidean or squared Euclidean distance matrices of random
clouds in different dimensions (scipy cdist, from differences, exactly symmetric), or random symmetric non-negative
matrices with a zero diagonal. GW is non-convex: the values are the stationary points POT reaches from its default
start p q^T, which the reference reproduces because it follows the same algorithm, not a global minimum.

Entropic instances where POT's scaling-domain Sinkhorn reports "numerical errors" (its kernel exp(-M/eps)
underflowed and it fell back to the previous iterate) are skipped: the reference iterates on logarithms and would
not fall back. epsilon is drawn relative to the squared scale of the matrices so that this is rare.
"""
import json
import os
import warnings

import numpy as np
import ot
from scipy.spatial.distance import cdist

SEED = 20261205
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures")


def space(rng, n):
    """A symmetric n x n matrix: Euclidean / squared Euclidean distances of a random cloud, or random symmetric."""
    kind = int(rng.integers(0, 4))
    scale = float(10.0 ** rng.integers(-1, 2))
    if kind <= 1:
        d = int(rng.integers(1, 5))
        x = np.round(rng.standard_normal((n, d)) * scale, 6)
        c = cdist(x, x, metric="euclidean")
        return (c if kind == 0 else c ** 2), ["euclidean", "sqeuclidean"][kind]
    if kind == 2:
        d = int(rng.integers(1, 5))
        x = np.round(rng.uniform(-1.0, 1.0, size=(n, d)) * scale, 6)
        return cdist(x, x, metric="euclidean"), "euclidean-uniform"
    a = np.round(rng.uniform(0.0, 1.0, size=(n, n)) * scale, 6)
    c = np.triu(a, 1)
    return c + c.T, "random-symmetric"


def integer_weights(rng, n, allow_zero):
    kind = int(rng.integers(0, 3 if allow_zero else 2))
    if kind == 0:
        w = np.ones(n, dtype=np.int64)
    elif kind == 1:
        w = rng.integers(1, 101, size=n)
    else:
        w = rng.integers(0, 4, size=n)
        if w.sum() == 0:
            w[rng.integers(0, n)] = 1
    return w


def instance(rng, allow_zero):
    n = int(rng.integers(2, 13))
    m = int(rng.integers(2, 13))
    c1, k1 = space(rng, n)
    c2, k2 = space(rng, m)
    wp = integer_weights(rng, n, allow_zero)
    wq = integer_weights(rng, m, allow_zero)
    p = wp / wp.sum()
    q = wq / wq.sum()
    case = {"kinds": [k1, k2], "c1": c1.tolist(), "c2": c2.tolist(), "wp": wp.tolist(), "wq": wq.tolist()}
    return case, c1, c2, p, q


def golden_cg(rng):
    cases = []
    while len(cases) < 150:
        case, c1, c2, p, q = instance(rng, allow_zero=True)
        value, log = ot.gromov.gromov_wasserstein2(c1, c2, p, q, "square_loss", log=True)
        case["gw"] = float(value)
        case["iterations"] = len(log["loss"]) - 1
        cases.append(case)
    return cases


def golden_entropic(rng):
    cases = []
    skipped = 0
    while len(cases) < 150:
        case, c1, c2, p, q = instance(rng, allow_zero=False)
        scale = max(np.abs(c1).max(), np.abs(c2).max()) ** 2
        factor = float(rng.choice([0.002, 0.005, 0.01, 0.02, 0.05]))
        epsilon = float(f"{factor * scale:.6g}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value, log = ot.gromov.entropic_gromov_wasserstein2(c1, c2, p, q, "square_loss", epsilon, log=True)
        if any("numerical errors" in str(w.message) for w in caught) or not np.isfinite(value):
            skipped += 1
            continue
        case["epsilon"] = epsilon
        case["gw"] = float(value)
        case["checks"] = len(log["err"])
        case["converged"] = bool(log["err"][-1] <= 1e-9)
        cases.append(case)
    print(f"entropic: skipped {skipped} instances where POT's Sinkhorn reported numerical errors")
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    doc = {
        "generator": "scripts/golden/make_golden_gromov.py",
        "numpy_seed": SEED,
        "pot_version": ot.__version__,
        "numpy_version": np.__version__,
        "what": "cg: ot.gromov.gromov_wasserstein2(C1, C2, p, q, 'square_loss') with the defaults (G0 = p q^T, "
                "numItermax 200, stopThr 1e-9, stopThr2 1e-9, closed-form line search); entropic: "
                "ot.gromov.entropic_gromov_wasserstein2(C1, C2, p, q, 'square_loss', epsilon) with the defaults "
                "(max_iter 1000, tol 1e-9; sinkhorn_knopp numItermax 1000, stopThr 1e-9); p = wp/sum(wp), q = wq/sum(wq)",
        "cg": golden_cg(rng),
        "entropic": golden_entropic(rng),
    }
    path = os.path.join(OUT, "golden_gromov.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)
    print(f"{path}: {len(doc['cg'])} cg + {len(doc['entropic'])} entropic instances, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
