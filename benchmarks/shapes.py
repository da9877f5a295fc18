"""Does a class-conditional scenes generator draw the shape it is asked for?

    python benchmarks/shapes.py [--runs cgan-scenes sprites-scenes RUN ...] [--n 100] [--threads 2]
    (or: darkroom bench shapes)

For each run: ``n`` samples of each of the 8 shapes, read by the shipped `sceneparams` (99.8 % shape
accuracy on real renders): the fraction that show the requested shape, and the fraction whose object is
painted within 16/255 (each channel) of the named renderer colour the judge reads (a clean fill, not a
blend of object and background). FID against 2,000 test renders in features-scenes space. The first
row is real test renders, the ceiling. Also, for runs that still have their discriminator, how often
D's class projection alone picks the right shape of a real render (its argmax over the 8 labels):
near chance (12.5 %) means D cannot tell G which shape it drew.
"""

from __future__ import annotations

import argparse

import torch

from darkroom.data import load_dataset
from darkroom.data.scenes import SHAPES
from darkroom.metrics import generation as gm
from darkroom.metrics.scenes import palette_fraction, read_main_objects, shape_agreement
from darkroom.models import load_run
from darkroom.ops.promptjudge import load_judges


@torch.no_grad()
def projection_accuracy(model, info: dict, images: torch.Tensor, labels: torch.Tensor) -> float | None:
    """How often D's conditional logit is highest for an image's own label (None: shipped without D)."""
    D = getattr(model, "D", None)
    if D is None or getattr(D, "project", None) is None or "D." in info.get("dropped", ()):
        return None
    x = images * 2 - 1
    logits = torch.stack([D(x, torch.full((len(x),), k)) for k in range(len(SHAPES))], 1)
    return float((logits.argmax(1) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", nargs="+", default=["cgan-scenes", "sprites-scenes"])
    parser.add_argument("--n", type=int, default=100, help="samples per shape (default 100)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="25 samples per shape")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = 25 if args.quick else args.n
    judge, extractor = load_judges()
    test = load_dataset("scenes:size=32,objects=1", split="test")
    reference = torch.stack([test[i]["image"] for i in range(2000)])
    real = reference[: n * len(SHAPES)]
    real_labels = torch.tensor([test[i]["label"] for i in range(len(real))])
    readings = read_main_objects(judge, real)
    print(f"## Class-conditional scenes generators, {n} samples per shape, read by sceneparams\n")
    print(
        "| run | steps | shape as asked | clean colour | FID vs test renders | D projection picks the shape |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    print(
        f"| real test renders | - | {shape_agreement(readings, [SHAPES[i] for i in real_labels]):.1%} | "
        f"{palette_fraction(readings):.1%} | {gm.fid(reference, real, extractor):.2f} | - |"
    )
    for run in args.runs:
        model, info = load_run(run)
        model.eval()
        labels = torch.arange(len(SHAPES)).repeat_interleave(n)
        fake = torch.cat(
            [
                model.sample(len(part), part, generator=torch.Generator().manual_seed(i))
                for i, part in enumerate(labels.split(200))
            ]
        )
        readings = read_main_objects(judge, fake)
        d_acc = projection_accuracy(model, info, real, real_labels)
        print(
            f"| {run} | {info.get('step', '-')} | {shape_agreement(readings, [SHAPES[i] for i in labels]):.1%} | "
            f"{palette_fraction(readings):.1%} | {gm.fid(reference, fake, extractor):.2f} | "
            f"{'-' if d_acc is None else f'{d_acc:.1%}'} |"
        )


if __name__ == "__main__":
    main()
