"""``darkroom edit invert``: find the latent from which a GAN draws a given real image.

Optimisation of z (Adam) on a pixel loss plus a feature loss in darkroom's own domain feature space
(the classifier behind ``darkroom eval``; cosine distance of its features). The start is the latent
encoder's guess E(x) when one is given (``latentenc`` runs, trained so that E(G(z)) ~ z), otherwise the
best of a few hundred random latents. For a class-conditional GAN without ``--label``, the class is
chosen with the start: the one whose best candidate reconstructs the image best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import torch
import torch.nn.functional as F

from darkroom.data.base import fit_image
from darkroom.metrics.image import psnr
from darkroom.models import load_run
from darkroom.models.latentenc import load_generator
from darkroom.ops.generate import resolve_label


@dataclass
class Inversion:
    latent: torch.Tensor  # (latent_dim,)
    label: int | None
    target: torch.Tensor  # the image fitted to the generator, (C, H, W)
    start: torch.Tensor  # G(z0), (C, H, W)
    result: torch.Tensor  # G(z*), (C, H, W)
    psnr_start: float
    psnr: float
    warnings: list[str] = field(default_factory=list)


def fit_to_generator(image: torch.Tensor, generator) -> tuple[torch.Tensor, list[str]]:
    """(C, H, W) in [0, 1] -> the generator's channels and size (centre crop + resize, with a warning)."""
    size, channels = generator.config.image_size, generator.config.channels
    warnings = []
    if tuple(image.shape[1:]) != (size, size):
        warnings.append(
            f"image is {image.shape[2]}x{image.shape[1]} px; the generator makes {size}x{size}: "
            "centre-cropped and resized"
        )
    image = fit_image(image, size, grayscale=channels == 1)
    if channels == 3 and image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    return image[:3].contiguous(), warnings


@lru_cache(maxsize=8)
def _load(run: str, kind: str):
    """Loaded once per process: a benchmark inverts many images with the same models."""
    if kind == "generator":
        return load_generator(run)
    model, info = load_run(run)
    return model.requires_grad_(False), info


class _Features:
    """Cosine distance in the domain classifier's feature space (no gradient to its weights)."""

    def __init__(self, extractor):
        self.model = _load(str(extractor), "model")[0] if extractor else None

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.model is None:
            return a.new_zeros(a.shape[0])
        return 1 - F.cosine_similarity(self.model.features(a), self.model.features(b), dim=1)


@torch.no_grad()
def _random_start(generator, target: torch.Tensor, labels: list, candidates: int, seed: int):
    """The best (latent, label) among ``candidates`` random latents shared by the labels, by pixel MSE."""
    g = torch.Generator().manual_seed(seed)
    best = (float("inf"), None, None)
    for label in labels:
        z = torch.randn(max(16, candidates // len(labels)), generator.config.latent_dim, generator=g)
        errors = torch.cat(
            [((generator.generate(chunk, label) - target) ** 2).mean((1, 2, 3)) for chunk in z.split(256)]
        )
        i = int(errors.argmin())
        if float(errors[i]) < best[0]:
            best = (float(errors[i]), z[i], label)
    return best[1], best[2]


def invert(
    run,
    image: torch.Tensor,
    steps: int = 300,
    encoder=None,
    label=None,
    feature_weight: float = 0.1,
    lr: float = 0.05,
    candidates: int = 256,
    seed: int = 0,
    extractor: str | None = "auto",
) -> Inversion:
    """Invert ``image`` (C, H, W) in [0, 1] into the GAN ``run``; PSNRs are against the fitted image."""
    if steps < 0:
        raise ValueError(f"--steps must be >= 0, got {steps}")
    generator, info = _load(str(run), "generator")
    target, warnings = fit_to_generator(image, generator)
    target = target[None]
    index = resolve_label(label, info)
    classes = getattr(generator.config, "num_classes", 0) if generator.conditional else 0
    labels = [index] if index is not None or not classes else list(range(classes))
    if encoder is not None:
        enc, enc_info = _load(str(encoder), "model")
        if enc_info["model"] != "latentenc":
            raise ValueError(f"{encoder}: a {enc_info['model']} is not a latent encoder (train latentenc)")
        with torch.no_grad():
            z0 = enc(target)[0]
            errors = [float(F.mse_loss(generator.generate(z0[None], k), target)) for k in labels]
        chosen = labels[min(range(len(labels)), key=errors.__getitem__)]
    else:
        z0, chosen = _random_start(generator, target, labels, candidates, seed)
    if extractor == "auto":
        from darkroom.ops.evaluate import EXTRACTORS, default_extractor

        source = info["data"].split(":")[0]
        extractor = default_extractor(info["data"]) if source in EXTRACTORS else None
    features = _Features(extractor if feature_weight else None)
    z = z0.clone()[None].requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        made = generator.generate(z, chosen)
        loss = F.mse_loss(made, target) + feature_weight * features.distance(made, target).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        start = generator.generate(z0[None], chosen)[0].clamp(0, 1)
        result = generator.generate(z.detach(), chosen)[0].clamp(0, 1)
    return Inversion(
        z.detach()[0], chosen, target[0], start, result, psnr(start, target[0]), psnr(result, target[0]), warnings
    )


def invert_file(run, image_path, out, encoder=None, steps: int = 300, label=None, seed: int = 0):
    """Invert the image at ``image_path``; writes a strip PNG (image, start, result) with the latent and
    PSNRs in its provenance. Returns (path, Inversion)."""
    from darkroom.io import grid, read_image, write_image

    found = invert(run, read_image(image_path), steps=steps, encoder=encoder, label=label, seed=seed)
    provenance = {
        "operation": "edit-invert",
        "run": str(run),
        "source": str(image_path),
        "encoder": encoder,
        "steps": steps,
        "label": found.label,
        "psnr_start": round(found.psnr_start, 2),
        "psnr": round(found.psnr, 2),
        "latent": [round(float(v), 5) for v in found.latent],
    }
    path = write_image(out, grid(torch.stack([found.target, found.start, found.result]), ncol=3), provenance=provenance)
    return path, found
