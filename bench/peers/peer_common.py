"""Shared plumbing of the benchmark peers (bench/peers/*.py): thread limits, the BLAS report and the two ways a peer runs.

Every peer script builds a dict {workload id: (sizes, fn)} and hands it to `main_loop`, which either
  * times every workload (one warm-up, then the median of --repeats runs) and prints one JSON line (one-shot mode), or
  * with --serve, prints a header line and then answers one line per request on stdin: "run ID" runs ID once (after a
    warm-up the first time) and prints {"id": ID, "ms": ...}; "quit" (or end of input) ends the process. The .NET
    harness (`DistEmbed.Benchmarks compare`) uses this mode to alternate single runs of ours and of the peer.
Both modes report the peer's version, its thread count and its BLAS as threadpoolctl sees it from inside the process.
"""
import json
import statistics
import sys
import time

_limits = None  # keeps threadpoolctl's limits alive for the life of the process


def set_threads(n):
    """Limits every thread pool of this process to n threads: PyTorch's intra-op pool (when torch is imported), the
    BLAS (OpenBLAS / MKL / BLIS, through threadpoolctl) and OpenMP (faiss, scikit-learn). n <= 0 leaves the defaults."""
    global _limits
    if n is None or n <= 0:
        return
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        _limits = threadpool_limits(limits=n)
    except ImportError:
        pass


def blas_info():
    """The BLAS and OpenMP pools loaded in this process (threadpoolctl), e.g.
    {"blas": "openblas 0.3.21 (pthreads, Haswell)", "blas_threads": 1, "blas_path": ..., "openmp_threads": 1};
    "blas": "unknown (threadpoolctl missing)" when threadpoolctl is not installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"blas": "unknown (threadpoolctl missing)"}
    info = {"blas": "none loaded"}
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "blas_path" not in info:
            detail = ", ".join(str(v) for v in (pool.get("threading_layer"), pool.get("architecture")) if v)
            info["blas"] = f"{pool.get('internal_api')} {pool.get('version') or ''}".strip() + (f" ({detail})" if detail else "")
            info["blas_threads"] = pool.get("num_threads")
            info["blas_path"] = pool.get("filepath")
        elif pool.get("user_api") == "openmp" and "openmp_threads" not in info:
            info["openmp_threads"] = pool.get("num_threads")
    return info


def add_arguments(ap):
    """The options every peer shares: --repeats, --threads, --serve."""
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per workload in one-shot mode (median reported)")
    ap.add_argument("--threads", type=int, default=0, help="thread count of every pool (0 = the library defaults)")
    ap.add_argument("--serve", action="store_true", help="answer 'run ID' lines on stdin with one timed run each")


def _timed_once(entry, sync):
    """One timed run of a workload entry (sizes, fn) or (sizes, fn, factor): milliseconds × factor (a peer that times
    a subset of the pairs and extrapolates, as POT's per-pair loops do, passes the number of pairs it stands for)."""
    fn = entry[1]
    factor = entry[2] if len(entry) > 2 else 1.0
    t0 = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - t0) * 1000.0 * factor


def main_loop(peer, version, threads, workloads, args, sync=lambda: None, extra=None, header_extra=None):
    """Runs the workloads {id: (sizes, fn) or (sizes, fn, factor)} in one-shot or --serve mode (see the module docstring).
    `extra` ({id: {key: value}}) adds fields to a workload's one-shot result (e.g. the value computed);
    `header_extra` ({key: value}) adds fields to the header of both modes (e.g. the values computed, for a check)."""
    header = {"peer": peer, "version": version, "threads": threads, **blas_info(), **(header_extra or {})}
    if not args.serve:
        res = {}
        for wid, entry in workloads.items():
            entry[1]()
            sync()
            times = [_timed_once(entry, sync) for _ in range(max(1, args.repeats))]
            res[wid] = {"median_ms": statistics.median(times), "sizes": entry[0], **((extra or {}).get(wid, {}))}
        print(json.dumps({**header, "results": res}))
        return
    print(json.dumps({**header, "serve": True, "workloads": list(workloads)}), flush=True)
    warm = set()
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] != "run" or len(words) != 2 or words[1] not in workloads:
            print(json.dumps({"error": f"unknown request {line.strip()!r}; expected 'run ID' with ID in {list(workloads)} or 'quit'"}), flush=True)
            continue
        wid = words[1]
        if wid not in warm:
            workloads[wid][1]()
            sync()
            warm.add(wid)
        print(json.dumps({"id": wid, "ms": _timed_once(workloads[wid], sync)}), flush=True)
