#!/usr/bin/python3
"""Golden fixtures for the retrieval, verification and clustering metrics (DistEmbed.Core.*Metrics, Clustering),
produced by scikit-learn 1.2.1 (an independent implementation).

Run from the repository root with the system Python (scikit-learn 1.2.1, NumPy 1.24):

    /usr/bin/python3 scripts/golden/make_golden_metrics.py

Writes tests/Properties/fixtures/golden_metrics.json with three lists of instances:

  rocAuc   -- pair distances d and same-label flags s:
              expectedAuc = sklearn.metrics.roc_auc_score(s, -d)            (= VerificationMetrics.RocAuc(d, s))
              expectedEer = the equal-error rate read off sklearn.metrics.roc_curve(s, -d, drop_intermediate=False):
                            with FNR = 1 - TPR, the first ROC point with FPR >= FNR and the point before it are joined
                            by a straight segment and EER is FPR (= FNR) where it meets FPR = FNR
                            (= VerificationMetrics.EqualErrorRate(d, s)).
              Distances are drawn from a small grid half of the time, so ties between positives and negatives occur.
  nmi      -- two labelings u, v:
              expected = sklearn.metrics.normalized_mutual_info_score(u, v)  (arithmetic normalisation, the default;
                         = Clustering.NormalizedMutualInformation(u, v)). Includes single-class and identical labelings.
  averagePrecision -- a Q x G distance matrix with query and gallery labels and a queryIsGallery flag:
              expected = the mean, over the queries with at least one relevant candidate, of
                         sklearn.metrics.average_precision_score(rel_q, -d_q), where d_q is row q without the
                         self-match when queryIsGallery and rel_q marks the candidates with the query's label
                         (= RetrievalMetrics.Evaluate(...).MeanAveragePrecision); evaluated = that number of queries.
              The definitions coincide only without ties among a query's distances (scikit-learn treats a tie as one
              threshold, RetrievalMetrics breaks it by gallery index), so these distances are continuous draws.
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import average_precision_score, normalized_mutual_info_score, roc_auc_score, roc_curve

SEED = 20261123
COUNT = 120
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "Properties", "fixtures", "golden_metrics.json")

rng = np.random.RandomState(SEED)


def draw_scale():
    return float(10.0 ** rng.uniform(-3.0, 3.0))


def eer_from_sklearn(same, distances):
    fpr, tpr, _ = roc_curve(same, -distances, drop_intermediate=False)
    fnr = 1.0 - tpr
    j = int(np.argmax(fpr >= fnr))
    below = fnr[j - 1] - fpr[j - 1]
    lam = below / (below + (fpr[j] - fnr[j]))
    return float(fpr[j - 1] + lam * (fpr[j] - fpr[j - 1]))


def roc_instances():
    out = []
    while len(out) < COUNT:
        n = int(rng.choice([2, 3, 5, 10, 30, 80]))
        s = rng.rand(n) < rng.uniform(0.1, 0.9)
        if s.all() or not s.any():
            continue
        scale = draw_scale()
        if rng.rand() < 0.5:
            d = rng.randint(0, 5, size=n) * scale
        else:
            # positives nearer on average, so AUC spreads over [0, 1] with a bias towards good verifiers
            d = np.abs(rng.normal(size=n) + np.where(s, 0.0, rng.uniform(-1.0, 3.0))) * scale
        out.append({
            "distances": d.tolist(),
            "same": s.tolist(),
            "expectedAuc": float(roc_auc_score(s, -d)),
            "expectedEer": eer_from_sklearn(s, d),
        })
    return out


def nmi_instances():
    out = []
    fixed = [
        ([0, 0, 0], [1, 1, 1]),
        ([0, 0, 0, 0], [0, 1, 2, 3]),
        ([5], [7]),
        ([0, 1, 0, 1], [1, 0, 1, 0]),
        ([3, 3, 1, 1, 2, 2], [0, 0, 1, 1, 1, 1]),
    ]
    for u, v in fixed:
        out.append({"u": u, "v": v, "expected": float(normalized_mutual_info_score(u, v))})
    while len(out) < COUNT:
        n = int(rng.choice([1, 2, 5, 10, 40, 150]))
        ku = int(rng.randint(1, 8))
        kv = int(rng.randint(1, 8))
        u = rng.randint(-3, ku, size=n) * 7 + 1000
        if rng.rand() < 0.3:  # v a noisy copy of u: NMI near 1
            v = np.where(rng.rand(n) < 0.8, u, rng.randint(0, kv, size=n))
        else:
            v = rng.randint(0, kv, size=n)
        out.append({"u": u.tolist(), "v": v.tolist(), "expected": float(normalized_mutual_info_score(u, v))})
    return out


def ap_instances():
    out = []
    while len(out) < COUNT:
        same = bool(rng.rand() < 0.5)
        g = int(rng.randint(2, 25))
        q = g if same else int(rng.randint(1, 9))
        classes = int(rng.randint(1, 6))
        gl = rng.randint(0, classes, size=g)
        ql = gl.copy() if same else rng.randint(0, classes + 1, size=q)
        d = rng.exponential(size=(q, g)) * draw_scale()
        if same:
            d = (d + d.T) / 2.0
            np.fill_diagonal(d, 0.0)
        values = []
        for i in range(q):
            keep = [j for j in range(g) if not (same and j == i)]
            rel = (gl[keep] == ql[i])
            if rel.any():
                values.append(average_precision_score(rel, -d[i, keep]))
        if not values:
            continue
        out.append({
            "distances": d.tolist(),
            "queryLabels": ql.tolist(),
            "galleryLabels": gl.tolist(),
            "queryIsGallery": same,
            "expected": float(np.mean(values)),
            "evaluated": len(values),
        })
    return out


def main():
    document = {
        "generator": "scripts/golden/make_golden_metrics.py",
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "seed": SEED,
        "rocAuc": roc_instances(),
        "nmi": nmi_instances(),
        "averagePrecision": ap_instances(),
    }
    with open(OUT, "w") as f:
        json.dump(document, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
