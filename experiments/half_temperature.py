"""Choose ``half_temperature`` for a ``gendetect`` head whose halves combine by their (smooth) maximum, on the
validation photos and the leave-one-family-out runs, never the test photos.

    python experiments/half_temperature.py runs/PREFIX-denoise runs/PREFIX-sr-x2 ... [--temperatures 0,0.5,1,2,4]

Each run must already be fitted with ``calibrate_gendetect.py --halves max`` (its ``half_stats``). For each T
the run's left-out family is scored against the real crops of the calibration set (the validation photos'
``validation_examples``): average precision of T log(exp(r / T) + exp(p / T)) over the standardised halves
r and p (T = 0: the larger; "sum": r + p). Prints one row per run and the mean; the T with the best mean is
the one to pass to ``calibrate_gendetect.py --temperature``.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from calibrate_gendetect import in_batches, validation_examples
from sklearn.metrics import average_precision_score

from darkroom.models import load_run
from darkroom.models.gendetect import smooth_max
from darkroom.ops.generated import FAMILIES


def standardised_halves(model, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return in_batches(model.standardised_halves, torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="leave-one-family-out runs, fitted with --halves max")
    parser.add_argument("--temperatures", default="0,0.5,1,2,4")
    parser.add_argument("--photos", default="/usr/share/backgrounds")
    args = parser.parse_args()
    temperatures = [float(t) for t in args.temperatures.split(",")] + ["sum"]
    images, labels = validation_examples(args.photos)
    print(
        "| left out | "
        + " | ".join(f"T = {t:g}" if t != "sum" else "sum" for t in temperatures)
        + " |\n|---|"
        + "---:|" * len(temperatures)
    )
    rows = []
    for run in args.runs:
        model, _ = load_run(run)
        k = model.eval().config.holdout
        if not k or model.config.halves != "max":
            raise SystemExit(f"{run}: needs a run with a family left out, fitted with --halves max")
        pick = (labels == 0) | (labels == k)
        r, p = standardised_halves(model, images[pick])
        rows.append(
            [
                average_precision_score(labels[pick] == k, r + p if t == "sum" else smooth_max(r, p, t))
                for t in temperatures
            ]
        )
        print(f"| {FAMILIES[k - 1]} | " + " | ".join(f"{a:.3f}" for a in rows[-1]) + " |")
    mean = np.mean(rows, axis=0)
    print("| mean | " + " | ".join(f"{a:.3f}" for a in mean) + " |")
    best = int(np.argmax(mean[:-1]))
    print(f"\nbest mean left-out AP on the validation photos: T = {temperatures[best]:g} ({mean[best]:.3f})")


if __name__ == "__main__":
    main()
