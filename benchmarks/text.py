"""Text-to-image, judged: does a textgan draw what its prompt asks for?

    python benchmarks/text.py --run RUN [RUN ...] [--prompts 1000] [--quick] [--threads 2]
    (or: darkroom bench text)

Three prompt sets, each judged by the shipped `sceneparams` (ops/promptjudge.py): per attribute the
fraction of samples that show what the prompt names, and all of them at once, beside the same figure for
real renders of the same prompts (the ceiling):
1. captions: the caption generator's captions of ``scenes`` test-split scenes (never trained on), one
   sample each;
2. held out: captions of scenes made only of the attribute combinations the run's config held out of
   training (``held_out``), one sample each;
3. hand-written: benchmarks/data/prompts-handwritten.tsv, 50 prompts in wording the caption generator
   never uses, 4 samples each.
FID against the real renders in features-scenes space; diversity: mean feature distance between 8
samples of one prompt (50 caption prompts) beside real renders'. For scale, the FID of the shipped
class-conditional `cgan-scenes` against test renders in the same space. Sampling speed at the end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from darkroom.data import load_dataset
from darkroom.data.captions import ATTRIBUTES, caption, params_for, parse_caption
from darkroom.metrics import generation as gm
from darkroom.models import load_run
from darkroom.models.textgan import parse_held_out
from darkroom.ops.promptjudge import (
    FIELDS,
    agreement,
    at_judge_size,
    diversity,
    load_judges,
    real_renders,
    split_meaning,
)
from darkroom.ops.textgen import text_to_image

HANDWRITTEN = Path(__file__).parent / "data" / "prompts-handwritten.tsv"
WORDS = {"color": "color_name", "shape": "shape", "size": "size", "position": "position"}


def held_out_captions(combos: list[dict], count: int, seed: int = 0) -> list[str]:
    """Captions of random scenes forced to show one held-out combination each (round robin)."""
    rng = np.random.default_rng(seed)
    ds = load_dataset("scenes:size=32,objects=1", split="test")
    out = []
    for i in range(count):
        parsed = parse_caption(ds.caption_of(i))
        obj = dict(parsed["objects"][0])
        for name, value in combos[i % len(combos)].items():
            obj[WORDS[name]] = ATTRIBUTES[name][value]
        parsed["objects"] = [obj]
        out.append(caption(params_for(parsed, rng), rng))
    return out


def row(name, judge, images, meanings, real) -> dict:
    fake = agreement(judge, images, meanings)
    ceiling = agreement(judge, real, meanings)
    return {"set": name, "n": len(images), "fake": fake, "real": ceiling}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--run", nargs="+", default=["textsprites-scenes"], help="text-conditioned runs or shipped names, a table each"
    )
    parser.add_argument("--prompts", type=int, default=1000, help="caption prompts (default 1000)")
    parser.add_argument("--quick", action="store_true", help="200 caption prompts")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    count = 200 if args.quick else args.prompts
    judge, extractor = load_judges()
    test = load_dataset("scenes:size=32,objects=1", split="test")
    captions = [test.caption_of(i) for i in range(count)]
    cgan, _ = load_run("cgan-scenes")
    labels = torch.arange(len(captions)) % 8
    cgan_fake = cgan.eval().sample(len(captions), labels, generator=torch.Generator().manual_seed(0))
    renders = torch.stack([test[i]["image"] for i in range(len(captions))])
    print(
        f"For scale: FID of the shipped cgan-scenes vs test renders (features-scenes): "
        f"{gm.fid(renders, cgan_fake, extractor):.2f}\n"
    )
    for run in args.run:
        evaluate(run, judge, extractor, captions, args.threads)


def evaluate(run: str, judge, extractor, captions: list[str], threads: int) -> None:
    _, info = load_run(run)
    combos = parse_held_out(info["model_config"].get("held_out", ""))
    count = len(captions)
    rows, fids = [], {}

    images = at_judge_size(text_to_image(run, captions, 1, seed=0, warn=lambda *a: None))
    real = real_renders(captions, seed=1)
    rows.append(row("captions (test scenes)", judge, images, captions, real))
    fids["captions"] = gm.fid(real, images, extractor)
    if combos:
        held = held_out_captions(combos, max(100, count // 5))
        images = at_judge_size(text_to_image(run, held, 1, seed=0, warn=lambda *a: None))
        rows.append(
            row(f"held out ({info['model_config']['held_out']})", judge, images, held, real_renders(held, seed=1))
        )
    lines = [split_meaning(line) for line in HANDWRITTEN.read_text().splitlines() if line.strip()]
    prompts = [p for p, _ in lines]
    meanings = [m for _, m in lines for _ in range(4)]
    images = at_judge_size(text_to_image(run, prompts, 4, seed=0, warn=lambda *a: None))
    rows.append(row("hand-written (50 x 4)", judge, images, meanings, real_renders(meanings, seed=1)))

    few = captions[:50]
    groups = [i for i in range(len(few)) for _ in range(8)]
    spread_fake = diversity(extractor, at_judge_size(text_to_image(run, few, 8, seed=0, warn=lambda *a: None)), groups)
    spread_real = diversity(extractor, real_renders([c for c in few for _ in range(8)], seed=2), groups)

    t0 = time.time()
    drawn = text_to_image(run, captions[:8], 64, seed=0, warn=lambda *a: None)
    rate = 512 / (time.time() - t0)

    config = info["model_config"]
    what = f"{info['model']}" + (f", encoder {config['encoder']}" if "encoder" in config else "")
    print(f"## Text-to-image: {run} ({what}), judged by sceneparams ({threads} threads)\n")
    print("Each cell: generated / real renders of the same prompts (the ceiling).\n")
    print("| prompts | images | " + " | ".join(FIELDS) + " | all |\n|---|---:|" + "---:|" * (len(FIELDS) + 1))
    for r in rows:
        cells = []
        for f in (*FIELDS, "all"):
            fake, ceiling = r["fake"][f], r["real"][f]
            cells.append("-" if fake is None else f"{fake:.1%} / {ceiling:.1%}")
        print(f"| {r['set']} | {r['n']} | " + " | ".join(cells) + " |")
    print(f"\nFID vs real renders of the caption prompts (features-scenes): {fids['captions']:.2f}")
    print(
        f"diversity within a prompt (50 prompts x 8): generated {spread_fake:.3f}, real renders {spread_real:.3f} "
        f"({spread_fake / spread_real:.0%})"
    )
    print(f"sampling: {rate:.0f} images/s at {drawn.shape[-1]} px (prompts encoded once)\n")


if __name__ == "__main__":
    main()
