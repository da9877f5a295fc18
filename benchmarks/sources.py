"""The closed loop on small images: does `darkroom inspect` call darkroom's own samples generated, and name
the generator that made them?

    python benchmarks/sources.py [--n 500] [--model RUN] [--quick]      (or: darkroom bench sources)

Test sets (darkroom.ops.sources, seed 1000: scenes, captions and samples no training set drew): real 64 px
renders of ``scenes`` and samples of ``textsprites-scenes`` (captions of random scenes) and ``sprites-scenes``
(random shape labels); then, on the 32 px path that only ``modelparse`` reads, real 32 px renders and
``cgan-scenes`` samples. Two readings side by side: ``modelparse`` alone (inspect before ``sources-scenes``)
and inspect's (``sources-scenes`` on 64 px images, ``modelparse`` on the others).
Columns: share called generated (prob >= 0.5), share named right (``source`` is the generator that made
it), share named right or given the ``family`` that holds it (darkroom's sprite generators share a renderer,
and sources-scenes rarely tells one from the other), share named as another generator.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from darkroom.data.scenes import render, sample_params
from darkroom.models import load_run
from darkroom.ops.parsing import read_generator
from darkroom.ops.sources import CLASS_NAMES, REAL, generator_samples, real_renders


def readings(images: np.ndarray, parser, sources) -> list[dict]:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return [read_generator(image, parser, sources)[0] for image in x]


def line(set_name: str, truth: str | None, reading: str, results: list[dict]) -> str:
    called = [r for r in results if r["prob"] >= 0.5]
    right = sum(r["source"] == truth for r in called) / len(results)
    family = sum(r["source"] == truth or truth in r.get("family", []) for r in called) / len(results)
    wrong = sum(r["source"] is not None and r["source"] != truth for r in called) / len(results)
    named = f"{right:.1%} | {family:.1%}" if truth else "– | –"
    return f"| {set_name} | {reading} | {len(called) / len(results):.1%} | {named} | {wrong:.1%} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="images per set")
    parser.add_argument("--model", default="sources-scenes", help="shipped name or run folder of the sources model")
    parser.add_argument("--quick", action="store_true", help="50 images per set")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = 50 if args.quick else args.n
    t0 = time.time()
    modelparse, _ = load_run("modelparse")
    model, info = load_run(args.model)
    sources = (model, info["data_info"]["class_names"])
    if tuple(sources[1]) != CLASS_NAMES:
        raise SystemExit(f"{args.model}: classes {sources[1]}, not {list(CLASS_NAMES)}")
    rng = np.random.default_rng(1000)
    sets = {f"{REAL} 64 px": (None, real_renders(n, rng))}
    sets.update({name: (name, generator_samples(name, n, rng)) for name in CLASS_NAMES[1:]})
    sets[f"{REAL} 32 px"] = (
        None,
        np.stack([(render(sample_params(rng, 32)) * 255).round().astype(np.uint8) for _ in range(n)]),
    )
    sets["cgan-scenes (32 px)"] = ("cgan-scenes", generator_samples("cgan-scenes", n, rng))
    print(f"## Which generator made it: {n} images per set; {args.threads} thread(s); sources model {args.model}\n")
    print(
        "| images | reading | called generated | named right | right or its family | named another generator |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    for set_name, (truth, images) in sets.items():
        print(line(set_name, truth, "modelparse alone", readings(images, modelparse, None)))
        print(line(set_name, truth, "inspect (sources-scenes at 64 px)", readings(images, modelparse, sources)))
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
