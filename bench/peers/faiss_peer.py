#!/usr/bin/env python3
"""faiss peer for exact k-NN (../../docs/benchmarks.md, "Exact k-NN against faiss"): faiss.IndexFlatL2 (exact,
blocked BLAS sgemm + a heap top-k per query), thread count set with faiss.omp_set_num_threads (and the BLAS's with
threadpoolctl).

Workloads (float32, d = 256, k = 10; "self excluded": search k + 1 and drop the item itself):
  K1  k-NN graph of N = 10,000 items (queries = gallery = all items, self excluded)
  K2  N = 100,000 gallery items, the first 10,000 of them as queries, self excluded
  N1  NNGS between two spaces, N = 10,000: both k-NN graphs (self excluded) and the mean Jaccard index
Each timed run includes building the index (IndexFlatL2 + add) and, for N1, the Jaccard step, as a user would run it.
--scale multiplies N (and K2's queries); --inputs DIR reads the harness's own inputs (n1_x.npy / n1_y.npy, k1_x.npy,
k2_x.npy, written by `DistEmbed.Benchmarks compare`) instead of drawing standard normal ones (NumPy, seed 0).

Three modes:
  one-shot:    python3 faiss_peer.py [--workloads K1,K2,N1] [--repeats 5] [--scale 1.0] [--threads T] [--inputs DIR]
               one warm-up and the median of --repeats runs per workload, printed as one JSON line
               {"peer": "faiss", "version": ..., "blas": ..., "threads": T, "results": {id: {"median_ms": ...}}}
  --serve:     the peers' common protocol (peer_common.py): a header line (version, BLAS, threads, the NNGS value of
               N1 under "values"), then one timed run per "run ID" line, so that `compare` alternates single runs of
               ours and of faiss
  --commands:  reads one JSON command per line on stdin and answers one JSON line each (the `knn` harness,
               KnnVsFaiss.cs):
                 {"op": "load", "name": "x", "path": "x.npy"}
                 {"op": "knn", "x": "x", "queries": 10000, "k": 10, "out": "indices.npy" | null} -> {"ms": ..., "cpu_ms": ...}
                 {"op": "nngs", "x": "x", "y": "y", "k": 10} -> {"ms": ..., "cpu_ms": ..., "nngs": ...}
               (ms: wall time; cpu_ms: CPU time of the process over all its threads, time.process_time)
                 {"op": "gemm", "m": 1024, "n": 4096, "d": 256, "repeats": 5} -> {"gflops": ..., "cpu_gflops": ...}
                   (NumPy sgemm, the BLAS faiss links; per wall time and per process CPU time)
                 {"op": "info"} -> versions, BLAS (threadpoolctl), threads;  {"op": "quit"}
"""
import argparse
import json
import statistics
import sys
import time

import os

import numpy as np
import faiss

import peer_common


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '')}, {i.get('filepath')})"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        return ["threadpoolctl not installed"]


def knn(gallery, queries, k):
    """Indices [Q, k] of the k nearest gallery items of each query, the query itself (same row index) excluded."""
    index = faiss.IndexFlatL2(gallery.shape[1])
    index.add(gallery)
    _, found = index.search(queries, k + 1)
    self_hit = found == np.arange(queries.shape[0])[:, None]
    order = np.argsort(self_hit, axis=1, kind="stable")  # non-self entries first, in faiss's order
    return np.take_along_axis(found, order, axis=1)[:, :k]


def nngs(x, y, k):
    gx = knn(x, x, k)
    gy = knn(y, y, k)
    shared = (gx[:, :, None] == gy[:, None, :]).sum(axis=(1, 2))
    return float(np.mean(shared / (2 * k - shared)))


def timed(f):
    t0 = time.perf_counter()
    value = f()
    return (time.perf_counter() - t0) * 1000.0, value


def timed_cpu(f):
    """(wall ms, process CPU ms over all threads, value)."""
    c0 = time.process_time()
    ms, value = timed(f)
    return ms, (time.process_time() - c0) * 1000.0, value


def gemm_gflops(m, n, d, repeats):
    """sgemm rate of NumPy's BLAS (the one faiss links): (GFLOP/s of wall time, GFLOP/s of process CPU time)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, d)).astype(np.float32)
    b = rng.standard_normal((n, d)).astype(np.float32)
    a @ b.T
    times = []
    c0 = time.process_time()
    for _ in range(repeats):
        times.append(timed(lambda: a @ b.T)[0])
    cpu = time.process_time() - c0
    flops = 2.0 * m * n * d
    return flops / (statistics.median(times) / 1000.0) / 1e9, flops * repeats / cpu / 1e9


def serve(threads):
    arrays = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "quit":
            break
        if op == "load":
            arrays[cmd["name"]] = np.ascontiguousarray(np.load(cmd["path"]), dtype=np.float32)
            reply = {"ok": True, "shape": list(arrays[cmd["name"]].shape)}
        elif op == "knn":
            x = arrays[cmd["x"]]
            q = x[: int(cmd["queries"])]
            ms, cpu, found = timed_cpu(lambda: knn(x, q, int(cmd["k"])))
            if cmd.get("out"):
                np.save(cmd["out"], found.astype(np.int64))
            reply = {"ms": ms, "cpu_ms": cpu}
        elif op == "nngs":
            ms, cpu, value = timed_cpu(lambda: nngs(arrays[cmd["x"]], arrays[cmd["y"]], int(cmd["k"])))
            reply = {"ms": ms, "cpu_ms": cpu, "nngs": value}
        elif op == "gemm":
            wall, cpu = gemm_gflops(int(cmd["m"]), int(cmd["n"]), int(cmd["d"]), int(cmd.get("repeats", 5)))
            reply = {"gflops": wall, "cpu_gflops": cpu}
        elif op == "info":
            reply = {"peer": "faiss", "version": faiss.__version__, "numpy": np.__version__, "blas": blas_info(),
                     "threads": threads}
        else:
            reply = {"error": f"unknown op {op!r}"}
        print(json.dumps(reply), flush=True)


def load_or_draw(inputs, name, rng, n):
    """The harness's input `name` (float32 [n, 256]) from the folder `inputs`, else n standard normal rows."""
    path = os.path.join(inputs, name) if inputs else ""
    if path and os.path.exists(path):
        x = np.ascontiguousarray(np.load(path), dtype=np.float32)
        if x.shape[0] != n:
            raise SystemExit(f"faiss_peer: {path} has {x.shape[0]} rows, expected {n} (--scale)")
        return x
    return rng.standard_normal((n, 256)).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", action="store_true", help="the JSON command protocol of the knn harness")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workloads", default="K1,N1")
    ap.add_argument("--inputs", default="", help="folder with the harness's inputs (n1_x.npy, n1_y.npy, k1_x.npy, k2_x.npy)")
    peer_common.add_arguments(ap)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)  # faiss's OpenMP pool and the BLAS (threadpoolctl)
    threads = faiss.omp_get_max_threads()
    if args.commands:
        serve(threads)
        return
    work, values = {}, {}
    rng = np.random.default_rng(0)
    for wid in args.workloads.split(","):
        if wid == "K1":
            n = max(20, int(10000 * args.scale))
            x1 = load_or_draw(args.inputs, "k1_x.npy", rng, n)
            work["K1"] = ([n, n, 256, 10], lambda: knn(x1, x1, 10))
        elif wid == "K2":
            n = max(20, int(100000 * args.scale))
            m = max(20, int(10000 * args.scale))
            x2 = load_or_draw(args.inputs, "k2_x.npy", rng, n)
            work["K2"] = ([n, m, 256, 10], lambda: knn(x2, x2[:m], 10))
        elif wid == "N1":
            n = max(20, int(10000 * args.scale))
            xn = load_or_draw(args.inputs, "n1_x.npy", rng, n)
            yn = load_or_draw(args.inputs, "n1_y.npy", rng, n)
            work["N1"] = ([n, 256, 10], lambda: nngs(xn, yn, 10))
            values["N1"] = {"nngs": nngs(xn, yn, 10)}
    peer_common.main_loop("faiss", faiss.__version__, threads, work, args, extra=values,
                          header_extra={"values": {wid: v["nngs"] for wid, v in values.items()}})


if __name__ == "__main__":
    main()
