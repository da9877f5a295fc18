"""Latent edits and GAN inversion, checked by darkroom's own judges.

    python benchmarks/edits.py [--quick] [--run cgan-scenes] [--digits cgan-digits]   (or: darkroom bench edits)

1. Directions in the scenes GAN (``cgan-scenes``), read by ``sceneparams``. For each direction v and
   each of N sampled latents z, the images G(z - s v) and G(z + s v) are read; for size, x and y the
   table gives mean |change| in standard deviations of that parameter over the base samples (the target
   column also signed: a direction should move it one way), rotation as mean |change| / the shape's
   symmetry period, and how often shape, colour name and background kind change. Directions: InterFaceGAN
   (linear SVM on 2,000 latents labelled by sceneparams, one per parameter), the top SeFa and GANSpace
   directions, the size direction made orthogonal to the x and y ones (InterFaceGAN's conditional
   manipulation), a random unit direction, and, as the ceiling of "changes everything", two unrelated
   samples. "Make it bigger" is good when |size| is large and the others stay near zero.
2. Inversion of held-out real images (test split, never seen by the generator): PSNR of G(z) after 0 or
   200 steps from the best random latent or from the ``latentenc`` encoder, with and without the feature
   loss, seconds per image; for scenes also how often sceneparams reads the inverted image's shape as the
   true shape.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from darkroom.data import load_dataset
from darkroom.metrics.scenes import read_main_objects
from darkroom.models import load_run, weights_path
from darkroom.models.sceneparams import SYMMETRY
from darkroom.ops.edit import _decode, conditioned, latents, pca_directions, sefa_directions, svm_direction
from darkroom.ops.invert import invert

CONTINUOUS = ("size", "x", "y")


def rotation_change(a: dict, b: dict) -> float | None:
    k = SYMMETRY[a["shape"]]
    if not k or a["shape"] != b["shape"]:
        return None
    period = 360 / k
    d = abs(a["rotation"] - b["rotation"]) % period
    return min(d, period - d) / period


def effects(minus: list, plus: list, spread: dict, target: str | None) -> dict:
    pairs = [(a, b) for a, b in zip(minus, plus) if a and b]
    row = {"n": len(pairs)}
    for f in CONTINUOUS:
        deltas = np.array([b[f] - a[f] for a, b in pairs]) / spread[f]
        row[f] = float(np.abs(deltas).mean())
        if f == target:
            row["signed"] = float(deltas.mean())
    rotations = [r for r in (rotation_change(a, b) for a, b in pairs) if r is not None]
    row["rotation"] = float(np.mean(rotations)) if rotations else float("nan")
    for f in ("shape", "color_name", "background"):
        row[f] = float(np.mean([a[f] != b[f] for a, b in pairs]))
    return row


def directions_table(run: str, n: int, strength: float, seed: int = 0) -> None:
    model = load_run(run)[0]
    judge = load_run("sceneparams")[0]
    z, labels = latents(model, n, seed + 1)
    base = read_main_objects(judge, _decode(model, z, labels))
    found = [b for b in base if b]
    spread = {f: float(np.std([b[f] for b in found])) for f in CONTINUOUS}
    print(
        f"\n## Directions in {run}: {n} latents, moved by -{strength} and +{strength} along each unit "
        f"direction, read by sceneparams\n"
    )
    print(
        f"sceneparams finds an object in {len(found) / n:.1%} of the base samples; std over them: "
        + ", ".join(f"{f} {spread[f]:.3f}" for f in CONTINUOUS)
        + "\n"
    )
    rows = []
    for field in ("size", "x", "y", "rotation"):
        t = time.perf_counter()
        vector, accuracy = svm_direction(model, run, f"scene:{field}", n=2000, seed=seed)
        rows.append(
            (f"InterFaceGAN svm: {field} (svm acc {accuracy:.2f})", field if field != "rotation" else None, vector)
        )
        print(f"  svm {field}: {time.perf_counter() - t:.1f} s", flush=True)
    normals = {row[1]: row[2] for row in rows if row[1]}
    rows.append(
        (
            "InterFaceGAN svm: size, x and y kept (conditional)",
            "size",
            conditioned(normals["size"], [normals["x"], normals["y"]]),
        )
    )
    for i, v in enumerate(sefa_directions(model, 3)[0]):
        rows.append((f"SeFa #{i + 1}", None, v))
    for i, v in enumerate(pca_directions(model, 3, seed=seed)[0]):
        rows.append((f"GANSpace PCA #{i + 1}", None, v))
    g = torch.Generator().manual_seed(seed + 7)
    random_vector = torch.randn(model.config.latent_dim, generator=g)
    rows.append(("random direction", None, random_vector / random_vector.norm()))
    print(
        "| direction | target signed | size | x | y | rotation | shape changed | colour changed | background changed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, target, v in rows:
        minus = read_main_objects(judge, _decode(model, z - strength * v, labels))
        plus = read_main_objects(judge, _decode(model, z + strength * v, labels))
        _print_row(name, effects(minus, plus, spread, target))
    other, other_labels = latents(model, n, seed + 2)
    _print_row(
        "two unrelated samples (ceiling)",
        effects(base, read_main_objects(judge, _decode(model, other, other_labels)), spread, None),
    )
    print(
        "\nsize, x, y: mean |change| in standard deviations; rotation: mean |change| / symmetry period "
        "(unrelated: 0.25); the rest: share of pairs."
    )


def _print_row(name: str, row: dict) -> None:
    signed = f"{row['signed']:+.2f}" if "signed" in row else ""
    print(
        f"| {name} | {signed} | {row['size']:.2f} | {row['x']:.2f} | {row['y']:.2f} | {row['rotation']:.2f} | "
        f"{row['shape']:.0%} | {row['color_name']:.0%} | {row['background']:.0%} |",
        flush=True,
    )


def _available(run: str) -> bool:
    try:
        weights_path(run)  # finds the run folder or shipped weights without building the model
    except ValueError:
        return False
    return True


def inversion_table(runs: dict, n: int, steps: int) -> None:
    print(f"\n## Inversion of {n} held-out test images per dataset ({steps} optimisation steps)\n")
    print("| generator | start | steps | feature loss | PSNR dB | s / image | shape kept |")
    print("|---|---|---:|---|---:|---:|---:|")
    judge = load_run("sceneparams")[0]
    for spec, (run, encoder) in runs.items():
        data = load_dataset(spec)
        picks = [data[i] for i in range(0, len(data), max(1, len(data) // n))[:n]]
        settings = [
            ("random best of 256", None, 0, 0.1),
            ("random best of 256", None, steps, 0.0),
            ("random best of 256", None, steps, 0.1),
        ]
        if encoder and not _available(encoder):
            print(
                f"| {run} | encoder {encoder}: not found (train one with `darkroom train latentenc`), skipped "
                "| | | | | |"
            )
        elif encoder:
            settings += [(f"encoder {encoder}", encoder, 0, 0.1), (f"encoder {encoder}", encoder, steps, 0.1)]
        for start, enc, k, weight in settings:
            t = time.perf_counter()
            found = [invert(run, s["image"], steps=k, encoder=enc, feature_weight=weight) for s in picks]
            seconds = (time.perf_counter() - t) / len(picks)
            kept = ""
            if "params" in picks[0]:
                inverted = torch.stack([f.result for f in found])
                reads = read_main_objects(judge, inverted)
                truth = [s["params"]["objects"][0]["shape"] for s in picks]
                kept = f"{np.mean([r is not None and r['shape'] == t for r, t in zip(reads, truth)]):.0%}"
            print(
                f"| {run} | {start} | {k} | {'yes' if weight else 'no'} | "
                f"{np.mean([f.psnr for f in found]):.2f} | {seconds:.2f} | {kept} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--run", default="cgan-scenes")
    parser.add_argument("--encoder", default="latentenc-scenes")
    parser.add_argument("--digits", default="cgan-digits")
    parser.add_argument("--digits-encoder", default="latentenc-digits")
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--part", default="all", choices=["all", "directions", "inversion"])
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    n = 100 if args.quick else 500
    if args.part in ("all", "directions"):
        directions_table(args.run, n, args.strength)
    if args.part in ("all", "inversion"):
        inversion_table(
            {
                "scenes:size=32,split=test": (args.run, args.encoder),
                "digits:size=32,split=test": (args.digits, args.digits_encoder),
            },
            n=10 if args.quick else 50,
            steps=200,
        )


if __name__ == "__main__":
    main()
