#!/usr/bin/env python3
"""W1 through the command line, end to end (issue 20, item 4): `distembed distance` against a PyTorch script.

Writes the W1 inputs (two float32 .npy batches [512, 128, 64], standard normal, fixed seed), then alternates, for
--rounds rounds (the order rotated every round):
  * ours:      distembed distance --a A --b B --distance marginal-w2 --pairwise --out OURS.npy
  * ours-json: the same with --json (prints the file and a summary, not the 262,144 values)
  * pytorch:   python3 bench/peers/w1_end_to_end.py (Python start-up, imports, np.load, compute, np.save), with the
               default OpenMP wait policy and with OMP_WAIT_POLICY=PASSIVE (which the CLI sets for itself)
each as a fresh process timed from spawn to exit, at the same thread count (--threads: OMP_NUM_THREADS/MKL_NUM_THREADS
for ours, torch.set_num_threads + threadpoolctl for the peer). Prints the medians, the ratios peer ÷ ours, the load
average, and checks that the two result matrices agree (max |difference|).

Usage: python3 bench/cli_end_to_end.py --cli PATH [--rounds 5] [--threads 2] [--batch 512] [--python /usr/bin/python3]
       [--work DIR] [--markdown FILE] [--json FILE]
--cli is the `distembed` executable or a DistEmbed.Cli.dll (run with `dotnet`): a `dotnet publish` of src/Cli
(ReadyToRun) or the tool installed from the package.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def timed(cmd, env):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ms = (time.perf_counter() - t0) * 1000.0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with exit {p.returncode}: {p.stderr.strip()}")
    return ms, p.stdout


def write_atomic(path, text):
    tmp = path + f".tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True, help="distembed executable, or DistEmbed.Cli.dll (run with dotnet)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--work", default="")
    ap.add_argument("--markdown", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be at least 1, got {args.rounds}")
    if args.threads < 1:
        raise SystemExit(f"--threads must be at least 1, got {args.threads}")
    if not os.path.exists(args.cli):
        raise SystemExit(f"--cli {args.cli}: no such file (publish src/Cli first, e.g. dotnet publish src/Cli -c Release -r linux-x64 --self-contained false -o artifacts/cli)")
    cli = ["dotnet", args.cli] if args.cli.endswith(".dll") else [args.cli]
    work = args.work or tempfile.mkdtemp(prefix="distembed-cli-w1-")
    os.makedirs(work, exist_ok=True)
    a_path, b_path = os.path.join(work, "a.npy"), os.path.join(work, "b.npy")
    rng = np.random.default_rng(0)
    np.save(a_path, rng.standard_normal((args.batch, 128, 64)).astype(np.float32))
    np.save(b_path, rng.standard_normal((args.batch, 128, 64)).astype(np.float32))
    ours_out, peer_out = os.path.join(work, "ours.npy"), os.path.join(work, "pytorch.npy")

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1")
    env.pop("OMP_WAIT_POLICY", None)
    passive = dict(env, OMP_WAIT_POLICY="PASSIVE")
    base = cli + ["distance", "--a", a_path, "--b", b_path, "--distance", "marginal-w2", "--pairwise", "--device", "cpu", "--out", ours_out]
    peer = [args.python, os.path.join(here, "peers", "w1_end_to_end.py"), "--a", a_path, "--b", b_path,
            "--out", peer_out, "--threads", str(args.threads)]
    # (command, environment): the CLI chooses its OpenMP wait policy itself (PASSIVE unless OMP_WAIT_POLICY is set);
    # the peer runs with the default policy and, for fairness, with the same PASSIVE policy.
    runs = {
        "ours": (base, env),
        "ours --json": (base + ["--json"], env),
        "pytorch": (peer, env),
        "pytorch, OMP_WAIT_POLICY=PASSIVE": (peer, passive),
    }
    names = list(runs)
    peers = [n for n in names if n.startswith("pytorch")]
    load_before = load_average()
    # One untimed run of each first (page cache, the runtime's and Python's files).
    for name in names:
        timed(*runs[name])
    times = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            ms, _ = timed(*runs[name])
            times[name].append(ms)
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {times[n][-1]:.0f} ms" for n in names), file=sys.stderr)
    load_after = load_average()
    _, json_stdout = timed(*runs["ours --json"])
    ours, theirs = np.load(ours_out), np.load(peer_out)
    diff = float(np.max(np.abs(ours - theirs)))
    rel = diff / float(np.max(np.abs(theirs)))
    med = {n: statistics.median(v) for n, v in times.items()}
    ratio = {(n, p): statistics.median([t / o for t, o in zip(times[p], times[n])]) for n in ("ours", "ours --json") for p in peers}
    cli_desc = " ".join(cli)
    md = [
        f"W1 end to end, B = {args.batch} (two [{args.batch}, 128, 64] float32 .npy files → [{args.batch}, {args.batch}] float64 .npy), "
        f"{args.threads} thread(s) each, {args.rounds} alternating rounds (order rotated), median wall time of each process "
        f"from spawn to exit; load average {load_before} before, {load_after} after (under load). CLI: `{cli_desc}`.",
        "",
        "| run | median (ms) | runs (ms) | speed-up vs PyTorch (default) | speed-up vs PyTorch (PASSIVE) |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for n in names:
        sp = [f"{ratio[(n, p)]:.2f}×" if (n, p) in ratio else "—" for p in peers]
        md.append(f"| {n} | {med[n]:.0f} | {', '.join(f'{t:.0f}' for t in times[n])} | {' | '.join(sp)} |")
    md += ["", f"Outputs agree: max |ours − PyTorch| = {diff:.3g} (relative {rel:.3g}); `--json` with `--out` printed "
               f"{len(json_stdout)} bytes."]
    text = "\n".join(md)
    print(text)
    if args.markdown:
        write_atomic(args.markdown, text + "\n")
    if args.json:
        write_atomic(args.json, json.dumps({"batch": args.batch, "threads": args.threads, "rounds": args.rounds,
                                            "load_before": load_before, "load_after": load_after, "runs_ms": times,
                                            "median_ms": med, "speedup": {f"{n} vs {p}": r for (n, p), r in ratio.items()},
                                            "max_abs_diff": diff}, indent=1))
    if rel > 1e-4:
        raise SystemExit(f"the outputs disagree: max |difference| {diff} (relative {rel})")


if __name__ == "__main__":
    main()
