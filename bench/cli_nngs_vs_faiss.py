#!/usr/bin/env python3
"""N1 end to end: `distembed compare --measures nngs` against a faiss script doing the same, start-up and loading included.

Writes two float32 .npy files (N = 10,000, d = 256, standard normal, seed 0), then alternates, --repeats times:
  ours:  dotnet <repo>/src/Cli/bin/Release/net10.0/DistEmbed.Cli.dll compare --a x.npy --b y.npy --measures nngs --k 10
         --device cpu --json            (or --cli "COMMAND" for another build, e.g. an installed `distembed`)
  faiss: python3 -c <the script below> x.npy y.npy 10   (np.load, IndexFlatL2 on each space, k + 1 and self dropped,
         mean Jaccard index; faiss's default OpenMP threads = the cores, as ours uses every core by default)
Each time is the wall time of the whole process. Checks that both print the same NNGS value, and prints one JSON
line with the medians, their ratio, both values, the load average before and after, and the BLAS faiss uses.

Usage: python3 bench/cli_nngs_vs_faiss.py [--repeats 5] [--n 10000] [--cli "dotnet path/DistEmbed.Cli.dll"] [--python python3]
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import tempfile
import time

import numpy as np

FAISS_SCRIPT = r"""
import sys, json
import numpy as np
import faiss
def knn(x, k):
    index = faiss.IndexFlatL2(x.shape[1]); index.add(x)
    _, found = index.search(x, k + 1)
    order = np.argsort(found == np.arange(x.shape[0])[:, None], axis=1, kind="stable")
    return np.take_along_axis(found, order, axis=1)[:, :k]
x = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float32)
y = np.ascontiguousarray(np.load(sys.argv[2]), dtype=np.float32)
k = int(sys.argv[3])
gx, gy = knn(x, k), knn(y, k)
shared = (gx[:, :, None] == gy[:, None, :]).sum(axis=(1, 2))
print(json.dumps({"nngs": float(np.mean(shared / (2 * k - shared)))}))
"""


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(cmd):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return (time.perf_counter() - t0) * 1000.0, out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--cli", default="dotnet " + os.path.join(root, "src/Cli/bin/Release/net10.0/DistEmbed.Cli.dll"))
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="distembed-cli-n1-") as tmp:
        rng = np.random.default_rng(0)
        x, y = (os.path.join(tmp, name) for name in ("x.npy", "y.npy"))
        np.save(x, rng.standard_normal((args.n, 256)).astype(np.float32))
        np.save(y, rng.standard_normal((args.n, 256)).astype(np.float32))
        ours_cmd = shlex.split(args.cli) + ["compare", "--a", x, "--b", y, "--measures", "nngs", "--k", "10",
                                            "--device", "cpu", "--json"]
        faiss_cmd = [args.python, "-c", FAISS_SCRIPT, x, y, "10"]
        load_before = load_average()
        ours_ms, faiss_ms = [], []
        ours_value = faiss_value = None
        for _ in range(args.repeats):
            ms, out = run(ours_cmd)
            ours_ms.append(ms)
            ours_value = json.loads(out)["results"][0]["value"]
            ms, out = run(faiss_cmd)
            faiss_ms.append(ms)
            faiss_value = json.loads(out)["nngs"]
        blas = subprocess.run([args.python, "-c", "from threadpoolctl import threadpool_info as t; import numpy;"
                               "print([i['internal_api'] + ' ' + str(i['version']) for i in t() if i['user_api'] == 'blas'])"],
                              capture_output=True, text=True).stdout.strip()
        o, f = statistics.median(ours_ms), statistics.median(faiss_ms)
        print(json.dumps({"n": args.n, "d": 256, "k": 10, "repeats": args.repeats,
                          "ours_ms": o, "faiss_ms": f, "ratio_faiss_over_ours": f / o,
                          "ours_all_ms": ours_ms, "faiss_all_ms": faiss_ms,
                          "ours_nngs": ours_value, "faiss_nngs": faiss_value,
                          "same_value": abs(ours_value - faiss_value) < 1e-12,
                          "faiss_blas": blas, "load_before": load_before, "load_after": load_average()}))


if __name__ == "__main__":
    main()
