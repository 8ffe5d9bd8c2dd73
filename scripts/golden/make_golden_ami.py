#!/usr/bin/python3
"""Golden fixtures for the adjusted mutual information (DistEmbed.Core.Clustering.AdjustedMutualInformation),
produced by scikit-learn 1.2.1 (an independent implementation).

Run from the repository root with the system Python (scikit-learn 1.2.1, NumPy 1.24):

    /usr/bin/python3 scripts/golden/make_golden_ami.py

Writes tests/Properties/fixtures/golden_ami.json with a list "ami" of instances:

  ami -- two labelings u, v:
         expected = sklearn.metrics.adjusted_mutual_info_score(u, v)  (average_method="arithmetic", the default;
                    expected MI under the hypergeometric model, Vinh et al. 2010).
         Includes identical labelings (renamed or not), a single cluster on one or both sides, all-singletons against
         a split labeling, one item, noisy copies and independent labelings with 1 to 150 items.
         Left out on purpose: two labelings that induce the same all-singletons partition with n = 2, where
         scikit-learn returns 0 (an exact 0/eps) but 1 for n >= 3 (floating noise over eps); the library returns 1
         for every pair of identical partitions (documented on AdjustedMutualInformation, tested as a property).
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import adjusted_mutual_info_score

SEED = 20261205
COUNT = 150
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures", "golden_ami.json")

rng = np.random.RandomState(SEED)


def instance(u, v):
    return {"u": [int(x) for x in u], "v": [int(x) for x in v], "expected": float(adjusted_mutual_info_score(u, v))}


def ami_instances():
    out = []
    fixed = [
        ([0, 0, 0], [1, 1, 1]),            # single cluster on both sides: 1
        ([5], [7]),                        # one item: 1
        ([0, 0, 0, 0], [0, 1, 2, 3]),      # single cluster against all singletons: 0
        ([0, 1, 2, 3], [0, 0, 0, 0]),
        ([0, 0, 1, 1, 2, 2], [4, 4, 4, 4, 4, 4]),
        ([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2]),  # all singletons against a split labeling
        ([0, 1, 2, 3, 4, 5, 6, 7, 8], [0, 1, 2, 3, 4, 5, 6, 7, 8]),  # identical all-singletons, n >= 3: 1
        ([0, 0, 1, 1], [0, 0, 1, 1]),      # identical
        ([0, 0, 1, 1], [1, 1, 0, 0]),      # identical up to renaming
        ([3, 3, 1, 1, 2, 2], [9, 9, -1, -1, 4, 4]),
        ([0, 1, 0, 1], [0, 0, 1, 1]),      # negative AMI
        ([3, 3, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]),
    ]
    for u, v in fixed:
        out.append(instance(u, v))
    while len(out) < COUNT:
        n = int(rng.choice([2, 3, 5, 10, 40, 150]))
        ku = int(rng.randint(1, 9))
        kv = int(rng.randint(1, 9))
        u = rng.randint(-3, ku, size=n) * 7 + 1000
        r = rng.rand()
        if r < 0.3:  # v a noisy copy of u: AMI near 1
            v = np.where(rng.rand(n) < 0.8, u, rng.randint(0, kv, size=n))
        elif r < 0.4:  # v a renamed copy of u: AMI = 1 (unless both have one class)
            v = -u + 5
        else:
            v = rng.randint(0, kv, size=n)
        if n == 2 and len(set(u.tolist())) == 2 and len(set(zip(u.tolist(), v.tolist()))) == len(set(v.tolist())) == 2:
            continue  # the all-singletons identical partition of 2 items: left out (see the docstring)
        out.append(instance(u, v))
    return out


def main():
    document = {
        "generator": "scripts/golden/make_golden_ami.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "ami": ami_instances(),
    }
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    os.replace(tmp, OUT)


if __name__ == "__main__":
    main()
