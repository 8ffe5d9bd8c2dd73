#!/usr/bin/python3
"""Golden fixtures for the float64 reference (DistEmbed.Core.Reference), produced by POT.

Run from the repository root with the system Python (POT 0.8.2, NumPy 1.24):

    /usr/bin/python3 scripts/golden/make_golden_one_dimensional.py

Writes
  tests/Properties/fixtures/golden_wasserstein_1d.json  -- ot.wasserstein_1d (W_p^p) on weighted 1-D distributions
  tests/Properties/fixtures/golden_sliced.json          -- ot.sliced_wasserstein_distance with given projections

The inputs are drawn with a fixed NumPy seed: awkward on purpose (ties from a small grid, duplicated atoms,
zero weights, one-point distributions, very unequal lengths, scales 1e-3 ... 1e3). Weights are normalised here, so
POT (which does not normalise) and the reference (which does) see the same probability vectors.

POT 0.8.2's sliced_wasserstein_distance takes projections as a d x L matrix, uses its columns as given (no
normalisation) and divides the summed slice costs by its n_projections argument, not by the number of columns it was
given: n_projections=L is passed explicitly. The fixture stores the directions as L x d (rows = directions), the
convention of Reference.SlicedWasserstein.wasserstein.
"""
import json
import os

import numpy as np
import ot

SEED = 20261123
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures")

rng = np.random.RandomState(SEED)


def draw_scale():
    return float(10.0 ** rng.uniform(-3.0, 3.0))


def draw_count():
    return int(rng.choice([1, 1, 2, 3, 5, 8, 13, 20]))


def draw_values(shape, scale):
    kind = rng.randint(3)
    if kind == 0:  # continuous
        x = rng.normal(size=shape) * scale
    elif kind == 1:  # a small grid: many ties
        x = rng.randint(-3, 4, size=shape) * scale
    else:  # continuous with shifted copies of the first atom (duplicates)
        x = rng.normal(size=shape) * scale + rng.normal() * scale
        if shape[0] > 1:
            k = rng.randint(1, shape[0] + 1)
            x[:k] = x[0]
    return x


def draw_weights(n):
    kind = rng.randint(3)
    if kind == 0:
        w = np.ones(n)
    elif kind == 1:
        w = rng.uniform(0.05, 1.0, size=n)
    else:  # some zero weights (padding), never all zero
        w = rng.randint(0, 4, size=n).astype(float)
        if w.sum() == 0.0:
            w[rng.randint(n)] = 1.0
    return w / w.sum()


def one_dimensional(count):
    instances = []
    for i in range(count):
        p = [1.0, 2.0, 3.0, 1.5][i % 4] if i % 8 != 7 else 1.5
        s = draw_scale()
        n, m = draw_count(), draw_count()
        u, v = draw_values((n,), s), draw_values((m,), s)
        if rng.rand() < 0.15:  # v shares some atoms of u exactly (ties across the two)
            k = min(n, m)
            v[:k] = u[:k]
        uw, vw = draw_weights(n), draw_weights(m)
        expected = float(ot.wasserstein_1d(u, v, uw, vw, p=p))
        instances.append({"p": p, "u": u.tolist(), "uWeights": uw.tolist(), "v": v.tolist(), "vWeights": vw.tolist(),
                          "expected": expected})
    return instances


def sliced(count):
    instances = []
    for i in range(count):
        p = [1.0, 2.0, 3.0, 1.5][i % 4]
        d = int(rng.randint(2, 6))
        s = draw_scale()
        n, m = draw_count(), draw_count()
        x, y = draw_values((n, d), s), draw_values((m, d), s)
        a, b = draw_weights(n), draw_weights(m)
        L = int(rng.randint(1, 9))
        projections = rng.normal(size=(d, L))
        projections /= np.sqrt((projections ** 2).sum(axis=0, keepdims=True))
        kind = rng.randint(4)
        if kind == 1:  # not normalised: POT uses the columns as given
            projections *= rng.uniform(0.25, 4.0, size=(1, L))
        elif kind == 2:  # a coordinate axis among the directions
            projections[:, 0] = 0.0
            projections[rng.randint(d), 0] = 1.0
        expected = float(ot.sliced_wasserstein_distance(x, y, a, b, n_projections=L, p=p, projections=projections))
        instances.append({"p": p, "x": x.tolist(), "a": a.tolist(), "y": y.tolist(), "b": b.tolist(),
                          "directions": projections.T.tolist(), "expected": expected})
    return instances


def write(name, description, instances):
    document = {"description": description, "generator": "scripts/golden/make_golden_one_dimensional.py",
                "seed": SEED, "pot": ot.__version__, "numpy": np.__version__, "instances": instances}
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")


os.makedirs(OUT, exist_ok=True)
write("golden_wasserstein_1d.json",
      "ot.wasserstein_1d(u, v, uWeights, vWeights, p): W_p^p between weighted 1-D distributions",
      one_dimensional(240))
write("golden_sliced.json",
      "ot.sliced_wasserstein_distance(x, y, a, b, n_projections=L, p=p, projections=directions.T); directions L x d",
      sliced(240))
