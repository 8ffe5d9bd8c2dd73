#!/usr/bin/env python3
"""The PyTorch side of the CLI end-to-end benchmark (bench/cli_end_to_end.py): one process does what
`distembed distance --distance marginal-w2 --pairwise --out OUT` does — start Python, load the two .npy batches
[B,T,d], compute the pairwise marginal W2 matrix [B,B] (torch_peer.pairwise_marginal_w2, the vectorised PyTorch
version) and save it as float64 .npy. Its own wall time is everything, start-up and imports included.

Usage: python3 w1_end_to_end.py --a A.npy --b B.npy --out OUT.npy [--threads N]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common  # noqa: E402
from torch_peer import pairwise_marginal_w2  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True)
    ap.add_argument("--b", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    peer_common.set_threads(args.threads)
    a = torch.from_numpy(np.load(args.a))
    b = torch.from_numpy(np.load(args.b))
    with torch.no_grad():
        d = pairwise_marginal_w2(a, b)
    tmp = args.out + ".tmp.npy"
    np.save(tmp, d.double().numpy())
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
