"""Write the generated-image detector's training set (see darkroom.ops.generated).

    python experiments/make_generated_set.py runs/generated96/train.npz [--photos data/photos-half] [--n 8000]
        [--crop 96] [--patch 128] [--families F,...] [--per-patch 2] [--append BASE.npz]

Patches (2x the crop unless --patch says otherwise) from the photos' train split (never the test split the
benchmark uses), shuffled with a fixed seed; each gives a real example and two made by darkroom's
restoration networks, centre-cropped to --crop. --append BASE.npz writes BASE's examples plus only the
generated ones of this run (a family added to an existing set: no new real examples).

--families autoencode --autoencoders DIR adds the training-only family of a zoo of photo autoencoders
(experiments/train_photoae_zoo.sh). The shipped detector's set (five families, then the zoo's) was made in three
such steps: the commands are in configs/gendetect.toml.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from darkroom.data import load_dataset
from darkroom.data.spec import parse_spec
from darkroom.ops.generated import ALL_FAMILIES, FAMILIES, make_examples, write_set


def keeps_jpeg_traces(photos: str) -> bool:
    """Whether a ``--photos`` spec reads JPEG files at their own size, so real examples keep JPEG traces
    (a ``scale=`` below 1 resamples them away, as the benchmark's test photos are read)."""
    spec = parse_spec(f"photos:{photos}")
    folder = Path(spec.path or "")
    if float(spec.options.get("scale", 1)) < 1 or not folder.is_dir():
        return False
    return any(p.suffix.lower() in (".jpg", ".jpeg") for p in folder.rglob("*"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--photos", default="data/photos-half")
    parser.add_argument("--split", default="train")
    parser.add_argument("--n", type=int, default=5000, help="photo patches (flat ones are skipped)")
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument(
        "--patch",
        type=int,
        default=0,
        help="photo patch size (default 2x crop); the margin around the centre crop keeps the networks' borders out",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, taken in turn")
    parser.add_argument("--per-patch", type=int, default=2, help="generated examples per photo patch")
    parser.add_argument("--append", default="", help="an existing set: keep it and add this run's generated examples")
    parser.add_argument(
        "--autoencoders",
        default="",
        help="a folder of photoae runs (experiments/train_photoae_zoo.sh): the autoencode family's networks",
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_dataset(f"photos:{args.photos},split={args.split},patch={args.patch or 2 * args.crop}")
    order = np.random.default_rng(args.seed).permutation(len(data))[: args.n]
    families = tuple(f for f in args.families.split(",") if f)
    if set(families) - set(ALL_FAMILIES):
        raise SystemExit(
            f"unknown families {sorted(set(families) - set(ALL_FAMILIES))}; known: {', '.join(ALL_FAMILIES)}"
        )
    autoencoders = sorted(p.parent for p in Path(args.autoencoders).glob("*/run.json")) if args.autoencoders else []
    if keeps_jpeg_traces(args.photos):
        print(
            f"note: {args.photos} holds JPEG files, read at their own size: real examples keep their JPEG "
            "traces, which the networks' outputs lose, and a detector can learn that shortcut (README, forensics)"
        )
    if "autoencode" in families and not autoencoders:
        raise SystemExit("the autoencode family needs --autoencoders DIR, a folder of photoae runs")
    images, labels = make_examples(
        (data[int(i)]["image"] for i in order),
        args.crop,
        families=families,
        per_patch=args.per_patch,
        seed=args.seed,
        autoencoders=autoencoders,
    )
    if args.append:
        with np.load(args.append, allow_pickle=False) as base:
            made = labels > 0
            images = np.concatenate([base["images"], images[made]])
            labels = np.concatenate([base["labels"], labels[made]])
    write_set(args.out, images, labels)
    print(f"{args.out}: {len(labels)} examples, per label {np.bincount(labels).tolist()} (0 = real)")


if __name__ == "__main__":
    main()
