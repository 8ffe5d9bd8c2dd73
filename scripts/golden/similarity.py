#!/usr/bin/python3
"""Golden fixtures for the embedding-space similarity measures (DistEmbed.Core.Similarity and
DistEmbed.Core.Reference.SpaceSimilarity), from scikit-learn 1.2.1 and NumPy 1.24 (independent implementations).

Run from the repository root with the system Python:

    /usr/bin/python3 scripts/golden/similarity.py

Writes tests/Properties/fixtures/golden_similarity.json: a list "instances", each with
  x [N, dx], y [N, dy]  -- standard normal draws (continuous, so no two distances tie), N in 8..40;
  metric                -- "euclidean" or "cosine";
  ks                    -- neighbourhood sizes in [1, N - 1];
  nngs, normalizedNngs, mutualKnn -- one value per k:
        N_X(i) = the k nearest neighbours of x_i other than i, from
        sklearn.neighbors.NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute") (the query itself,
        at distance 0, is dropped); nngs = mean_i |N_X(i) & N_Y(i)| / |N_X(i) | N_Y(i)|;
        H = k / (2n - k), n = N - 1; normalizedNngs = (nngs - H) / (1 - H); mutualKnn = mean_i |N_X(i) & N_Y(i)| / k;
  ckaLinearBiased, ckaLinearUnbiased -- linear CKA on column-centred features, HSIC from the N x N Gram matrices:
        biased HSIC = tr(K H L H) / (N - 1)^2 (Kornblith et al. 2019, Eq. 3);
        unbiased HSIC = Song et al. 2012, Eq. 5, on the Gram matrices with zeroed diagonals;
  bandwidth, ckaRbfBiased, ckaRbfUnbiased -- RBF CKA with K = exp(-D^2 / (2 sigma^2)), D from
        sklearn.metrics.pairwise_distances(metric=metric), sigma = bandwidth * median(D[i, j], i < j)
        (numpy.median: the mean of the two middle values for an even count), separately for x and y;
  sigmaFixed, ckaRbfFixedBiased -- RBF CKA with sigma = sigmaFixed for both spaces, biased HSIC.
Inputs are written with repr() precision, so the float64 values are exact.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

SEED = 20261123
COUNT = 40
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures", "golden_similarity.json")


def neighbours(points, k, metric):
    nn = NearestNeighbors(n_neighbors=k + 1, metric=metric, algorithm="brute").fit(points)
    dist, idx = nn.kneighbors(points)
    rows = []
    for i in range(points.shape[0]):
        row = [int(j) for j in idx[i] if j != i][:k]
        assert len(row) == k
        rows.append(set(row))
    return rows


def hsic(k, l, unbiased):
    n = k.shape[0]
    if not unbiased:
        h = np.eye(n) - np.ones((n, n)) / n
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2
    kt = k.copy()
    lt = l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    return (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ kt @ lt @ one)) / (n * (n - 3))


def cka(k, l, unbiased):
    return hsic(k, l, unbiased) / np.sqrt(hsic(k, k, unbiased) * hsic(l, l, unbiased))


def linear_kernel(x):
    xc = x - x.mean(axis=0, keepdims=True)
    return xc @ xc.T


def rbf_kernel(d, sigma):
    return np.exp(-d ** 2 / (2.0 * sigma ** 2))


def median_offdiagonal(d):
    iu = np.triu_indices(d.shape[0], k=1)
    return float(np.median(d[iu]))


def main():
    rng = np.random.default_rng(SEED)
    instances = []
    for c in range(COUNT):
        n = int(rng.integers(8, 41))
        dx = int(rng.integers(1, 7))
        dy = int(rng.integers(1, 7))
        metric = "euclidean" if c % 2 == 0 else "cosine"
        x = rng.standard_normal((n, dx))
        # y: a noisy linear image of x half of the time (similar spaces), independent otherwise.
        if c % 4 < 2:
            y = x @ rng.standard_normal((dx, dy)) + 0.3 * rng.standard_normal((n, dy))
        else:
            y = rng.standard_normal((n, dy))
        if metric == "cosine" and (dx == 1 or dy == 1):
            # in one dimension every cosine distance is 0 or 2: ties everywhere, so use two dimensions at least
            x = np.hstack([x, rng.standard_normal((n, 1))])
            y = np.hstack([y, rng.standard_normal((n, 1))])
        ks = sorted(set([1, int(rng.integers(1, n)), n - 1]))
        gx = {k: neighbours(x, k, metric) for k in ks}
        gy = {k: neighbours(y, k, metric) for k in ks}
        nngs, norm, mknn = [], [], []
        for k in ks:
            jac = np.mean([len(a & b) / len(a | b) for a, b in zip(gx[k], gy[k])])
            shared = np.mean([len(a & b) / k for a, b in zip(gx[k], gy[k])])
            h = k / (2.0 * (n - 1) - k)
            nngs.append(float(jac))
            norm.append(1.0 if h >= 1.0 else float((jac - h) / (1.0 - h)))
            mknn.append(float(shared))
        kx, ky = linear_kernel(x), linear_kernel(y)
        ddx = pairwise_distances(x, metric=metric)
        ddy = pairwise_distances(y, metric=metric)
        np.fill_diagonal(ddx, 0.0)
        np.fill_diagonal(ddy, 0.0)
        bandwidth = float(rng.choice([0.5, 1.0, 2.0]))
        rx = rbf_kernel(ddx, bandwidth * median_offdiagonal(ddx))
        ry = rbf_kernel(ddy, bandwidth * median_offdiagonal(ddy))
        sigma_fixed = float(rng.choice([0.5, 1.0, 3.0]))
        instances.append({
            "x": x.tolist(), "y": y.tolist(), "metric": metric, "ks": ks,
            "nngs": nngs, "normalizedNngs": norm, "mutualKnn": mknn,
            "ckaLinearBiased": float(cka(kx, ky, False)), "ckaLinearUnbiased": float(cka(kx, ky, True)),
            "bandwidth": bandwidth,
            "ckaRbfBiased": float(cka(rx, ry, False)), "ckaRbfUnbiased": float(cka(rx, ry, True)),
            "sigmaFixed": sigma_fixed,
            "ckaRbfFixedBiased": float(cka(rbf_kernel(ddx, sigma_fixed), rbf_kernel(ddy, sigma_fixed), False)),
        })
    doc = {"generator": "scripts/golden/similarity.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "seed": SEED, "instances": instances}
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, OUT)
    print(f"wrote {len(instances)} instances to {OUT}")


if __name__ == "__main__":
    main()
