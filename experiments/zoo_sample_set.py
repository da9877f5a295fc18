"""Write the small zoo sample set that ships with darkroom (tests, demo): test-split samples of every member.

python experiments/zoo_sample_set.py runs/zoo src/darkroom/weights/zoo-samples.npz [--per 6]
"""

import argparse
from pathlib import Path

import numpy as np

from darkroom.data.zoo import MEMBERS, REAL, read_samples, sample_split


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("zoo")
    parser.add_argument("out")
    parser.add_argument("--per", type=int, default=6, help="samples per source (6 x 57 sources: 0.76 MB)")
    args = parser.parse_args()
    images, sources = [], []
    for name in [m["name"] for m in MEMBERS] + [REAL]:
        arr = read_samples(Path(args.zoo) / name / "samples.npz")
        test = arr[sample_split(len(arr), "test")][: args.per]
        images += [np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x for x in test]
        sources += [name] * len(test)
    np.savez_compressed(args.out, images=np.stack(images), sources=np.array(sources))
    print(f"{args.out}: {len(sources)} images of {len(set(sources))} sources, {Path(args.out).stat().st_size} bytes")


if __name__ == "__main__":
    main()
