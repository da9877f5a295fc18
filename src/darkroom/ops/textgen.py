"""Text-to-image: ``darkroom sample RUN --prompt TEXT`` and ``--prompts FILE`` for text-conditioned models.

images = text_to_image("runs/textgan", ["a small red star near the top left on a striped blue background"], n=4)
"""

from __future__ import annotations

from pathlib import Path

import torch

from darkroom.data.captions import parse_caption
from darkroom.io import grid, write_image
from darkroom.models import load_run
from darkroom.models.text import MAX_TOKENS, TextEncoder
from darkroom.train import pick_device


def read_prompts(path) -> tuple[list[str], int]:
    """Non-blank lines of a prompts file, in order, and how many blank lines were skipped."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such prompts file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file (one prompt per line)") from None
    prompts = [line.strip() for line in lines if line.strip()]
    if not prompts:
        raise ValueError(f"{path}: no prompts (one per line)")
    return prompts, len(lines) - len(prompts)


def check_prompt(prompt: str, warn=print) -> str:
    """The prompt as the encoder will read it: empty is an error; text past the encoder's limit is cut,
    with a warning; text that names no shape or colour works, with a note on what the model knows."""
    prompt = " ".join(str(prompt).split())
    if not prompt:
        raise ValueError(
            "empty prompt: describe the scene, e.g. 'a small red star near the top left on a striped blue background'"
        )
    cut = TextEncoder.shared().truncated(prompt)
    if cut is not None:
        warn(
            f"warning: prompt of {len(prompt)} characters cut to the encoder's limit of {MAX_TOKENS} word pieces "
            f"({len(cut)} characters)"
        )
        prompt = cut
    parsed = parse_caption(prompt)
    main = parsed["objects"][0] if parsed["objects"] else {}
    if not main.get("shape") and not main.get("color_name") and not parsed.get("background"):
        warn(
            f"note: {prompt[:60]!r} names no shape, colour or background this model was trained on; "
            "it knows scene captions (shapes, colours, sizes, positions, backgrounds)"
        )
    return prompt


def text_to_image(
    run, prompts: list[str], n: int = 1, seed: int = 0, truncation: float = 1.0, device: str = "auto", warn=print
) -> torch.Tensor:
    """``n`` images of each prompt, prompt by prompt: (len(prompts) * n, C, H, W) in [0, 1]."""
    return _text_to_image(run, prompts, n, seed, truncation, device, warn)[0]


def load_text_model(run, device: str = "auto"):
    """(model, info) of a text-conditioned run or shipped name; anything else is a one-line error."""
    model, info = load_run(run, pick_device(device))
    if not getattr(model, "text_conditioned", False):
        raise ValueError(f"{run}: a {info['model']} is not text-conditioned; --prompt needs a textsprites or textgan")
    return model, info


def _text_to_image(run, prompts, n, seed, truncation, device, warn) -> tuple[torch.Tensor, dict]:
    model, info = load_text_model(run, device)
    return prompt_samples(model, prompts, n, seed, truncation, warn), info


def prompt_samples(model, prompts: list[str], n: int, seed: int = 0, truncation: float = 1.0, warn=print):
    """``n`` images of each prompt from a loaded text-conditioned model, prompt by prompt."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    prompts = [check_prompt(p, warn) for p in prompts]
    generator = torch.Generator().manual_seed(seed)
    every = [p for p in prompts for _ in range(n)]
    out = [
        model.sample(len(every[i : i + 256]), every[i : i + 256], truncation=truncation, generator=generator).float()
        for i in range(0, len(every), 256)
    ]
    return torch.cat(out).cpu()


def sample_prompts(
    run, prompts: list[str], n: int, out, seed: int = 0, truncation: float = 1.0, device: str = "auto"
) -> list[Path]:
    """Write ``n`` images of each prompt: one grid (a row per prompt) when ``out`` ends in .png, else
    ``out/0000.png, 0001.png ...`` in prompt order, each with its prompt in its provenance."""
    prompts = [p.partition("\t")[0].strip() for p in prompts]  # a tab starts the judge's meaning of the line
    images, info = _text_to_image(run, prompts, n, seed, truncation, device, print)
    every = [p for p in prompts for _ in range(n)]
    provenance = {
        "operation": "sample",
        "model": info["model"],
        "run": str(run),
        "seed": seed,
        "truncation": truncation,
    }
    out = Path(out)
    if out.suffix.lower() == ".png":
        prompt_info = {"prompt": prompts[0]} if len(prompts) == 1 else {"prompts": prompts}
        write_image(
            out,
            grid(images, ncol=min(8, n) if len(prompts) == 1 else n),
            provenance={**provenance, **prompt_info, "count": len(images)},
        )
        return [out]
    return [
        write_image(out / f"{i:04d}.png", image, provenance={**provenance, "prompt": prompt, "index": i})
        for i, (image, prompt) in enumerate(zip(images, every))
    ]
