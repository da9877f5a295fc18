"""Pack a photo folder's train and val photos, downscaled, into a small folder that travels (to a GPU
machine, say): OUT/train/... and OUT/val/..., which ``photos:OUT`` splits by folder. Test photos are
left out, so nothing packed can leak into an evaluation.

    python experiments/pack_photos.py /usr/share/backgrounds data/photos-half --scale 0.5 --quality 95
    python experiments/pack_photos.py /usr/share/backgrounds data/photos-camera --only configs/camera-photos.txt

``--only LIST`` packs only the photos whose path (relative to the source, without suffix) LIST names, one
per line (``#`` starts a comment): the camera photographs among the wallpapers, say, for a model whose
task needs natural colours (colorize) rather than graphics.

The downscale is the one ``photos:DIR,scale=S`` does (Pillow bicubic); photos are stored as JPEG with
full-resolution chroma at the given quality, so a packed folder is ~4x smaller than the originals.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from darkroom.data import load_dataset


def read_list(path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in Path(path).read_text().splitlines())
    return {line for line in lines if line}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--only", help="a text file of the photos to pack (relative paths without suffix)")
    args = parser.parse_args()
    out, total = Path(args.out), 0
    only = read_list(args.only) if args.only else None
    for split in ("train", "val"):
        data = load_dataset(f"photos:{args.source},scale={args.scale},split={split}")
        packed = 0
        for key in data.photos:
            if key.startswith("skimage:"):
                continue  # bundled with scikit-image: available everywhere
            relative = Path(key).relative_to(args.source)
            if only is not None and relative.with_suffix("").as_posix() not in only:
                continue
            target = (out / split / relative).with_suffix(".jpg")
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(data._photo(key)).save(target, quality=args.quality, subsampling=0)
            total += target.stat().st_size
            packed += 1
        print(f"{split}: {packed} photos")
    print(f"{out}: {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
