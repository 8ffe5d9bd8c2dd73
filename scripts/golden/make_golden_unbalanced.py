#!/usr/bin/python3
"""Golden fixtures for unbalanced entropic OT and the free-support W2 barycenter (DistEmbed.Core.Reference and the
tensor solver).

Writes, next to the property suites,
  tests/Properties/fixtures/golden_sinkhorn_unbalanced.json
      ot.unbalanced.sinkhorn_unbalanced2(a, b, M, reg, reg_m, method='sinkhorn') on weighted point clouds whose
      masses are NOT normalised (unbalanced transport sees the mass). POT 0.8.2's sinkhorn_unbalanced2 returns
      <P, M> only (einsum('ik,ij,jk,ij->k', u, K, v, M) in sinkhorn_knopp_unbalanced), with the plan
      P = diag(u) K diag(v), K = exp(-M/reg), u = (a/Kv)^fi, v = (b/K^T u)^fi, fi = reg_m/(reg_m + reg): the entropy
      is taken relative to the counting measure (EntropyReference.Counting here).
  tests/Properties/fixtures/golden_free_support_barycenter.json
      ot.lp.free_support_barycenter(locations, weights, X_init, b, lambdas) (Cuturi & Doucet 2014, Alg. 2 with exact
      plans from ot.emd), with the initial support stored.

Run from the repository root with the Debian system Python (POT 0.8.2, NumPy 1.24):
  /usr/bin/python3 scripts/golden/make_golden_unbalanced.py

Points are rounded to a few decimals before use, so the JSON holds exactly what POT was given; the ground cost is
M = ||x_i - y_j||^2 summed from differences (scipy's cdist via ot.dist(..., 'minkowski', p=2)**2), which the F#
tests rebuild with ExactTransport.groundCost(2, x, y).
"""
import json
import os
import sys
import warnings

import numpy as np
import ot

SEED = 20261205
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures")


def cloud(rng, n, d, scale):
    """n points in R^d at a scale, rounded so that the JSON is exact."""
    digits = 4 - int(np.floor(np.log10(scale)))
    return np.round(rng.standard_normal((n, d)) * scale, digits)


def masses(rng, n):
    """Positive masses of random total (0.2 to 5), with zero masses now and then (never all zero)."""
    w = np.round(rng.uniform(0.05, 1.0, size=n), 4)
    if n > 1 and rng.random() < 0.3:
        w[rng.integers(0, n)] = 0.0
    total = float(rng.choice([0.2, 0.5, 1.0, 2.0, 5.0]))
    return np.round(w / w.sum() * total, 6)


def golden_unbalanced(rng):
    cases = []
    while len(cases) < 150:
        n = int(rng.integers(1, 16))
        m = int(rng.integers(1, 16))
        d = int(rng.integers(1, 5))
        scale = float(10.0 ** rng.integers(-1, 2))
        x = cloud(rng, n, d, scale)
        y = cloud(rng, m, d, scale)
        a = masses(rng, n)
        b = masses(rng, m)
        if a.sum() <= 0 or b.sum() <= 0:
            continue
        M = ot.dist(x, y, metric="minkowski", p=2) ** 2
        mean_cost = float(M.mean())
        if mean_cost <= 0.0:
            continue
        reg = float(f"{float(rng.choice([0.05, 0.1, 0.5, 1.0])) * mean_cost:.6g}")
        reg_m = float(f"{float(rng.choice([0.1, 1.0, 10.0])) * mean_cost:.6g}")
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            value, log = ot.unbalanced.sinkhorn_unbalanced2(a, b, M, reg, reg_m, method="sinkhorn",
                                                            numItermax=200_000, stopThr=1e-15, log=True)
        value = float(np.asarray(value).reshape(-1)[0])
        if len(log["err"]) >= 200_000 or not np.isfinite(value):
            sys.exit(f"sinkhorn_unbalanced2 did not converge on case {len(cases)}")
        cases.append({"x": x.tolist(), "a": a.tolist(), "y": y.tolist(), "b": b.tolist(),
                      "reg": reg, "reg_m": reg_m, "sinkhorn_unbalanced2": value})
    return cases


def golden_barycenter(rng):
    cases = []
    while len(cases) < 120:
        count = int(rng.integers(1, 5))
        d = int(rng.integers(1, 4))
        k = int(rng.integers(1, 7))
        locations, weights = [], []
        for _ in range(count):
            n = int(rng.integers(1, 8))
            locations.append(cloud(rng, n, d, 1.0))
            w = np.round(rng.uniform(0.1, 1.0, size=n), 4)
            weights.append(w / w.sum())
        lambdas = np.round(rng.uniform(0.1, 1.0, size=count), 4)
        lambdas = lambdas / lambdas.sum()
        uniform_b = rng.random() < 0.5
        b = np.ones(k) / k if uniform_b else (lambda w: w / w.sum())(np.round(rng.uniform(0.1, 1.0, size=k), 4))
        x_init = cloud(rng, k, d, 1.0)
        X, log = ot.lp.free_support_barycenter(locations, weights, x_init, b=b, weights=lambdas, numItermax=100,
                                               stopThr=1e-7, log=True)
        cases.append({"locations": [l.tolist() for l in locations], "weights": [w.tolist() for w in weights],
                      "lambdas": lambdas.tolist(), "b": b.tolist(), "x_init": x_init.tolist(),
                      "iterations": len(log["displacement_square_norms"]), "barycenter": np.asarray(X).tolist()})
    return cases


def write(name, cases, what):
    doc = {
        "generator": "scripts/golden/make_golden_unbalanced.py",
        "numpy_seed": SEED,
        "pot_version": ot.__version__,
        "numpy_version": np.__version__,
        "what": what,
        "instances": cases,
    }
    path = os.path.join(OUT, name)
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    os.replace(temporary, path)
    print(f"{path}: {len(cases)} instances, {os.path.getsize(path)} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    write("golden_sinkhorn_unbalanced.json", golden_unbalanced(rng),
          "ot.unbalanced.sinkhorn_unbalanced2(a, b, M, reg, reg_m, method='sinkhorn', numItermax=200000, "
          "stopThr=1e-15) = <P, M> (transport cost only, no KL terms), masses a, b not normalised, "
          "M = ot.dist(x, y, 'minkowski', p=2)**2 = ||x_i - y_j||**2")
    write("golden_free_support_barycenter.json", golden_barycenter(rng),
          "ot.lp.free_support_barycenter(locations, weights, x_init, b=b, weights=lambdas, numItermax=100, "
          "stopThr=1e-7): the support X (k x d) of the free-support W2 barycenter with weights b")


if __name__ == "__main__":
    main()
