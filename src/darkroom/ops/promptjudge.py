"""``darkroom eval prompt``: does each generated image show what its prompt asks for?

The shipped ``sceneparams`` reads every image (at 32 px); each attribute the prompt names (the main
object's shape, colour, size bin and position cell, the background's kind and colour) is compared with
that reading. The ceiling is the same figure for real renders of the same prompts (``captions.params_for``).
Also: FID against those renders in ``features-scenes`` space, and diversity: the mean feature distance
between images of one prompt, beside the same for real renders (a collapsed model cannot win).

A prompts line may carry what it means after a tab, in the caption generator's words
("up in the left corner, a tiny crimson star<TAB>a small red star near the top left"): the model sees
the text before the tab, the judge compares with the meaning after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from darkroom.data.base import to_tensor
from darkroom.data.captions import params_for, parse_caption, position_cell, size_bin
from darkroom.data.scenes import render
from darkroom.io import IMAGE_SUFFIXES, read_image
from darkroom.metrics import generation as gm
from darkroom.metrics.scenes import read_main_objects
from darkroom.ops.textgen import read_prompts, text_to_image

FIELDS = ("shape", "color", "size", "position", "background", "bg_color")
JUDGE_SIZE = 32


def split_meaning(line: str) -> tuple[str, str]:
    """(prompt, meaning) of a prompts-file line; the meaning is the prompt itself without a tab."""
    prompt, _, meaning = line.partition("\t")
    return prompt.strip(), (meaning or prompt).strip()


def wanted(meaning: str) -> dict:
    """The attributes a prompt names, as the judge reads them (None: not named)."""
    parsed = parse_caption(meaning)
    main = parsed["objects"][0] if parsed["objects"] else {}
    return {
        "shape": main.get("shape"),
        "color": main.get("color_name"),
        "size": main.get("size"),
        "position": main.get("position"),
        "background": parsed.get("background"),
        "bg_color": parsed.get("bg_color_name"),
    }


def _reading(found: dict | None) -> dict:
    if found is None:
        return dict.fromkeys(FIELDS)
    return {
        "shape": found["shape"],
        "color": found["color_name"],
        "size": size_bin(found["size"]),
        "position": position_cell(found["x"], found["y"]),
        "background": found["background"],
        "bg_color": found["bg_color_name"],
    }


def at_judge_size(images: torch.Tensor) -> torch.Tensor:
    if images.shape[-1] == JUDGE_SIZE:
        return images
    return F.interpolate(
        images, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear", antialias=True, align_corners=False
    ).clamp(0, 1)


def agreement(judge, images: torch.Tensor, meanings: list[str]) -> dict:
    """Per attribute: the fraction of images, among those whose prompt names it, that show it; ``all``:
    the fraction that show every attribute their prompt names."""
    readings = [_reading(r) for r in read_main_objects(judge, at_judge_size(images))]
    hits = {f: [] for f in FIELDS}
    every = []
    for reading, meaning in zip(readings, meanings):
        want = wanted(meaning)
        ok = [reading[f] == want[f] for f in FIELDS if want[f] is not None]
        for f in FIELDS:
            if want[f] is not None:
                hits[f].append(reading[f] == want[f])
        every.append(all(ok))
    out = {f: float(np.mean(v)) if v else None for f, v in hits.items()}
    out["all"] = float(np.mean(every))
    return out


def real_renders(meanings: list[str], seed: int = 0, size: int = JUDGE_SIZE) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.stack([to_tensor(render(params_for(parse_caption(m), rng, size))) for m in meanings])


def diversity(extractor, images: torch.Tensor, groups: list[int]) -> float:
    """Mean pairwise feature distance between images of the same prompt (``groups``: a prompt id per image)."""
    with torch.no_grad():
        feats = torch.cat([extractor.features(at_judge_size(images[i : i + 256])) for i in range(0, len(images), 256)])
    groups = torch.as_tensor(groups)
    spreads = []
    for g in groups.unique():
        f = feats[groups == g]
        if len(f) > 1:
            spreads.append(torch.pdist(f).mean().item())
    return float(np.mean(spreads)) if spreads else float("nan")


def load_judges():
    """(sceneparams, features-scenes), in eval mode: the reader of render parameters and the feature space."""
    from darkroom.models import load_run

    return load_run("sceneparams")[0].eval(), load_run("features-scenes")[0].eval()


def judge_images(images: torch.Tensor, meanings: list[str], groups: list[int], seed: int = 0) -> dict:
    """The whole table for generated ``images`` (one meaning and prompt id each) and their real-render ceiling."""
    judge, extractor = load_judges()
    real = real_renders(meanings, seed)
    fake = at_judge_size(images.float())
    return {
        "count": len(images),
        "prompts": len(set(groups)),
        "fake": agreement(judge, fake, meanings),
        "real": agreement(judge, real, meanings),
        "fid": round(gm.fid(real, fake, extractor), 2),
        "diversity_fake": round(diversity(extractor, fake, groups), 4),
        "diversity_real": round(diversity(extractor, real, groups), 4),
    }


def evaluate_prompts(fake, prompts_file, per_prompt: int | None = None, seed: int = 0, device: str = "auto") -> dict:
    """``darkroom eval prompt``: ``fake`` is a folder of images in prompt order (``per_prompt`` of each,
    inferred from the count) or a text-conditioned run, sampled here (``per_prompt`` of each, default 1)."""
    lines, _ = read_prompts(prompts_file)
    prompts, meanings = zip(*(split_meaning(line) for line in lines))
    folder = Path(fake)
    if folder.is_dir() and not (folder / "run.json").exists():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files or len(files) % len(prompts):
            raise ValueError(
                f"{folder}: {len(files)} images for {len(prompts)} prompts; the images must be "
                "the same number per prompt, in prompt order"
            )
        if per_prompt and per_prompt * len(prompts) != len(files):
            raise ValueError(f"{folder}: {len(files)} images, not {per_prompt} for each of {len(prompts)} prompts")
        per_prompt = len(files) // len(prompts)
        images = torch.stack([at_judge_size(read_image(p)[None])[0] for p in files])  # always RGB
    else:
        per_prompt = per_prompt or 1
        images = text_to_image(fake, list(prompts), per_prompt, seed=seed, device=device)
    every = [m for m in meanings for _ in range(per_prompt)]
    groups = [i for i in range(len(meanings)) for _ in range(per_prompt)]
    return {"metric": "prompt", "per_prompt": per_prompt, **judge_images(images, every, groups, seed)}
