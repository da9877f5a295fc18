"""Write the generated-image detector's training set (see darkroom.ops.generated).

    python scripts/make_generated_set.py runs/generated96/train.npz [--photos data/photos-half] [--n 8000]
        [--crop 96] [--patch 128]

Patches (2x the crop unless --patch says otherwise) from the photos' train split (never the test split the
benchmark uses), shuffled with a fixed seed; each gives a real example and two made by darkroom's
restoration networks, centre-cropped to --crop.
"""
import argparse

import numpy as np
import torch

from darkroom.data import load_dataset
from darkroom.ops.generated import make_examples, write_set


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--photos", default="data/photos-half")
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=5000, help="photo patches (flat ones are skipped)")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--patch", type=int, default=0, help="photo patch size (default 2x crop); the margin "
                        "around the centre crop keeps the networks' borders out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_dataset(f"photos:{args.photos},split={args.split},patch={args.patch or 2 * args.crop}")
    order = np.random.default_rng(args.seed).permutation(len(data))[:args.n]
    images, labels = make_examples((data[int(i)]["image"] for i in order), args.crop, seed=args.seed)
    write_set(args.out, images, labels)
    print(f"{args.out}: {len(labels)} examples, per label {np.bincount(labels).tolist()} (0 = real)")


if __name__ == "__main__":
    main()
