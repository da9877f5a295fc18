"""Give a copydesc run a background: descriptors of random crops of half the train-split photos (the
benchmark's distractors come from the other half), kept with its weights, against which `darkroom trace`
measures how crowded a query is (``CopyDescriptor.crowding``). The defaults are the shipped copydesc's.

    python experiments/copydesc_background.py RUN OUT [--count 2000] [--k 5] [--weight 0.35] [--seed 1]

Writes the run folder OUT (RUN's weights plus the background; its run.json records count, k and weight);
RUN is left as it is. Then calibrate and measure OUT with `darkroom bench copydetect --model OUT`.
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from copydetect import distractor_vectors  # noqa: E402  (the benchmark's random crops of train photos)

from darkroom.ops.copydetect import add_background, load_descriptor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("out")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--weight", type=float, default=0.35)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = load_descriptor(args.run)[0]
    vectors = distractor_vectors(net, args.count, np.random.default_rng(args.seed), half=0)
    note = {
        "from": str(args.run),
        "count": args.count,
        "seed": args.seed,
        "crops": "random crops (15-70 % of each side) of the even-numbered train-split photos "
        "(experiments/copydesc_background.py; the benchmark's distractors use the odd-numbered ones)",
    }
    out = add_background(args.run, vectors, args.out, args.k, args.weight, note)
    print(f"{out}: {args.count} background descriptors, k {args.k}, weight {args.weight}")


if __name__ == "__main__":
    main()
