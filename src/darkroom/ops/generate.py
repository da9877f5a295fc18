"""``darkroom sample``: images from a trained generator (VAE, CVAE, DCGAN, GAN, cGAN)."""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm import tqdm

from darkroom.io import grid, write_image
from darkroom.models import load_run
from darkroom.train import pick_device


def resolve_label(label, info: dict) -> int | None:
    """A label given as an index or a class name -> index; checked against the run's classes."""
    if label is None:
        return None
    names = info.get("data_info", {}).get("class_names") or []
    if str(label) in names:
        return names.index(str(label))
    try:
        index = int(label)
    except ValueError:
        raise ValueError(f"unknown label {label!r}; this model knows {', '.join(names) or 'no labels'}") from None
    if not 0 <= index < max(len(names), 1):
        raise ValueError(f"label {index} out of range: this model knows 0..{len(names) - 1}")
    return index


def class_labels(model, n: int) -> torch.Tensor:
    """Labels for ``n`` samples of every class of a class-conditional model, class by class."""
    return torch.arange(model.config.num_classes).repeat_interleave(n)


def sample_images(
    run, n: int, out, seed: int = 0, label=None, truncation: float = 1.0, device: str = "auto", batch_size: int = 64
) -> list[Path]:
    """Write ``n`` samples: a grid when ``out`` ends in .png, else ``out/sample_00000.png ...``.
    ``label="all"`` (class-conditional models): ``n`` samples of every class, one grid row per class."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    if not 0 < truncation <= 1:
        raise ValueError(f"--truncation must be in (0, 1], got {truncation}")
    model, info = load_run(run, pick_device(device))
    name = info["model"]
    if not hasattr(model, "sample"):
        raise ValueError(f"{run}: a {name} is not a generator (sample from vae, cvae, dcgan, gan or cgan runs)")
    if getattr(model, "text_conditioned", False):
        raise ValueError(f"{run}: a {name} is text-conditioned: pass --prompt TEXT or --prompts FILE")
    conditional = getattr(model, "conditional", False)
    every = str(label) == "all"
    if every and not conditional:
        raise ValueError(f"{run}: a {name} is not class-conditional; --label all needs one that is")
    index = None if every else resolve_label(label, info)
    labels = class_labels(model, n) if every else None
    if conditional and index is None and not every:
        raise ValueError(
            f"{run}: a {name} is class-conditional: pass --label (all, or one of "
            f"{', '.join(info['data_info'].get('class_names', []))})"
        )
    if not conditional and index is not None:
        raise ValueError(f"{run}: a {name} is not class-conditional; drop --label")
    generator = torch.Generator().manual_seed(seed)
    total = n if labels is None else len(labels)
    images = []
    for start in tqdm(range(0, total, batch_size), desc="sample", unit="batch", leave=False):
        count = min(batch_size, total - start)
        which = index if labels is None else labels[start : start + count]
        images.append(model.sample(count, which, truncation=truncation, generator=generator).float().cpu())
    images = torch.cat(images)
    provenance = {
        "operation": "sample",
        "model": name,
        "run": str(run),
        "seed": seed,
        "truncation": truncation,
        "label": "all" if every else index,
        "git": info.get("git"),
        "data": info.get("data"),
    }
    out = Path(out)
    if out.suffix.lower() == ".png":
        write_image(out, grid(images, ncol=n if every else min(8, n)), provenance={**provenance, "count": total})
        return [out]
    paths = []
    for i, image in enumerate(images):
        own = {"label": int(labels[i])} if every else {}
        paths.append(
            write_image(out / f"sample_{i:05d}.png", image, provenance={**provenance, "latent_index": i, **own})
        )
    return paths
