"""Zoo folders for the README's "training the zoo twice as long" experiment, made from a built zoo.

    python experiments/zoo_variants.py extend runs/zoo runs/zoo1200
    darkroom zoo build --out runs/zoo1200 --steps 1200
    python experiments/zoo_variants.py merge runs/zoo runs/zoo1200 runs/zoo-both

``extend`` copies every member and strips what marks a trained member finished (its samples, card and final
weights), so that ``darkroom zoo build --steps N`` resumes each one from its last checkpoint and trains it
on to step N. The shipped members and the real images are copied as they are. ``merge`` writes a zoo whose
trained members hold both builds' samples, interleaved so that every split of a member has half of each.
"""

import argparse
import shutil
from pathlib import Path

import numpy as np

from darkroom.data.zoo import MEMBERS, REAL, member, read_samples


def _trained(name: str) -> bool:
    return name != REAL and not member(name).get("shipped")


def extend(src: Path, out: Path) -> None:
    for name in [m["name"] for m in MEMBERS] + [REAL]:
        shutil.copytree(src / name, out / name)
        if _trained(name):
            for finished in ("samples.npz", "card.json", "run/model.safetensors"):
                (out / name / finished).unlink(missing_ok=True)  # an unfinished member has no final weights
    print(f"{out}: {len(MEMBERS) + 1} sources copied; run `darkroom zoo build --out {out} --steps N`")


def merge(first: Path, second: Path, out: Path) -> None:
    for name in [m["name"] for m in MEMBERS] + [REAL]:
        (out / name).mkdir(parents=True)
        shutil.copy(second / name / "card.json", out / name / "card.json")
        images = read_samples(first / name / "samples.npz")
        if _trained(name):
            later = read_samples(second / name / "samples.npz")
            both = np.empty((len(images) + len(later),) + images.shape[1:], np.uint8)
            both[0::2], both[1::2] = images, later
            images = both
        np.savez(out / name / "samples.npz", images=images)
    print(f"{out}: {len(MEMBERS) + 1} sources, trained members' samples from {first} and {second}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("extend")
    p.add_argument("zoo", type=Path)
    p.add_argument("out", type=Path)
    p = sub.add_parser("merge")
    p.add_argument("first", type=Path)
    p.add_argument("second", type=Path)
    p.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.action == "extend":
        extend(args.zoo, args.out)
    else:
        merge(args.first, args.second, args.out)


if __name__ == "__main__":
    main()
