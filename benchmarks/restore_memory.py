"""Peak memory of ``darkroom restore`` on a 4000x3000 photo, one task per process (the issue's bound: ~2 GB).

    python benchmarks/restore_memory.py [--quick]          (or: darkroom bench memory)

The photo is synthetic (gradients plus noise, JPEG q90) so the run needs no data; peak resident memory is
read in a fresh wrapper process per task from its finished child (``getrusage(RUSAGE_CHILDREN)``).
``--quick`` uses 2000x1500 and denoise only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

TASKS = {"denoise": ["--sigma", "25"], "sr": ["--scale", "2"], "inpaint": ["--mask", "{mask}"], "colorize": []}


def make_photo(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([(xs / 16) % 256, (ys / 12) % 256, ((xs + ys) / 28) % 256], -1)
    image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
    Image.fromarray(image).save(folder / "photo.jpg", quality=90)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 3 : height // 3 + height // 10, width // 8 : width - width // 8] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    return folder / "photo.jpg", folder / "mask.png"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    width, height = (2000, 1500) if args.quick else (4000, 3000)
    tasks = ["denoise"] if args.quick else ["denoise", "colorize", "inpaint", "sr"]
    print(
        f"## Peak memory of darkroom restore on a {width}x{height} photo\n\n| task | peak RSS MB | seconds |\n|---|---:|---:|"
    )
    with tempfile.TemporaryDirectory() as tmp:
        photo, mask = make_photo(Path(tmp), width, height)
        for task in tasks:
            extra = [a.format(mask=mask) for a in TASKS[task]]
            # Each child's peak is measured alone: ru_maxrss of RUSAGE_CHILDREN is the largest child so far.
            command = [
                sys.executable,
                "-c",
                "import sys, resource, subprocess; subprocess.run(sys.argv[1:], "
                "check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                sys.executable,
                "-m",
                "darkroom",
                "restore",
                task,
                str(photo),
                "--out",
                f"{tmp}/{task}",
                *extra,
            ]
            start = time.perf_counter()
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1]
            mb = int(out) / (1024 * 1024 if sys.platform == "darwin" else 1024)
            print(f"| {task} | {mb:.0f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
