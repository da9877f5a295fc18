"""Write the training set of ``sources-scenes`` (darkroom.ops.sources): N images of each class.

python experiments/make_sources_set.py runs/sources64/train.npz [--n 6000] [--seed 0]
"""

from __future__ import annotations

import argparse

import torch

from darkroom.ops.sources import write_sources

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--n", type=int, default=6000, help="images of each class")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"wrote {write_sources(args.out, args.n, args.seed)}")
