"""Training and test sets for the generated-image detector: camera photographs versus the outputs of
darkroom's restoration networks on the same photographs (one *family* per network).

Each photo patch (twice the crop size) gives a real example and generated ones. A real example is the
photo itself, a third
of them resized by a random factor with bicubic interpolation (a resized photo is still not made by a
network: those are the hard negatives). A generated example is a network's output on a degraded copy:

    denoise   Gaussian noise sigma 5-50, then darkroom's denoiser at that sigma
    sr-x2     bicubic downscale x1/2, then sr-x2 or sr-x2-large
    sr-x4     bicubic downscale x1/4, then sr-x4 or sr-x4-large
    colorize  the luma only, then the colorizer
    inpaint   a random LaMa-style mask (thin, medium or thick), then the inpainter's raw prediction: every
              pixel redrawn by the network, inside the holes and out

and, for training only (``EXTRA_FAMILIES``: not shipped, so not in the benchmark's test set),

    autoencode  a photo autoencoder of a zoo (``photoae`` runs: spatial latents, every upsampler), the
                photo redrawn from its latent, as latent-diffusion decoders draw theirs

Labels: 0 real, 1.. the index in ALL_FAMILIES (FAMILIES + EXTRA_FAMILIES) plus one. Stored as an ``npz``
(``images`` uint8, ``labels``), readable by the ``npz:`` dataset spec, so ``darkroom train gendetect --data
npz:FILE`` trains on it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from darkroom.data import degrade
from darkroom.io import write_npz_atomic
from darkroom.models import load_run

FAMILIES = ("denoise", "sr-x2", "sr-x4", "colorize", "inpaint")
EXTRA_FAMILIES = ("autoencode",)
ALL_FAMILIES = FAMILIES + EXTRA_FAMILIES
_MODELS = {
    "denoise": ["denoise"],
    "sr-x2": ["sr-x2", "sr-x2-large"],
    "sr-x4": ["sr-x4", "sr-x4-large"],
    "colorize": ["colorize"],
    "inpaint": ["inpaint"],
}


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    return degrade.resize(x, [max(8, round(s * factor)) for s in x.shape[-2:]])[0]


def _center(x: torch.Tensor, crop: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    return x[:, (h - crop) // 2 : (h - crop) // 2 + crop, (w - crop) // 2 : (w - crop) // 2 + crop]


class Generators:
    """The shipped restoration networks, loaded once; ``make(family, patch, rng)`` runs one on a patch.
    ``autoencoders``: ``photoae`` runs for the autoencode family (needed only when it is asked for)."""

    def __init__(self, autoencoders=()):
        self.nets = {name: load_run(name)[0].eval() for names in _MODELS.values() for name in names}
        self.autoencoders = [load_run(run)[0].eval() for run in autoencoders]

    @torch.no_grad()
    def make(self, family: str, patch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if family == "autoencode":
            if not self.autoencoders:
                raise ValueError("the autoencode family needs photoae runs (--autoencoders)")
            net = self.autoencoders[int(rng.integers(len(self.autoencoders)))]
            f = net.config.factor
            h, w = (s - s % f for s in patch.shape[-2:])
            return net(patch[None, :, :h, :w])[0].clamp(0, 1)
        net = self.nets[_MODELS[family][int(rng.integers(len(_MODELS[family])))]]
        if family == "denoise":
            sigma = float(rng.uniform(5, 50))
            noisy = (patch + torch.from_numpy(rng.normal(0, sigma / 255, patch.shape)).float()).clamp(0, 1)
            return net(noisy[None], sigma)[0].clamp(0, 1)
        if family == "colorize":
            return net(patch[None])[0].clamp(0, 1)
        if family == "inpaint":
            shape = rng.choice(list(degrade.MASK_FAMILIES))
            mask, _ = degrade.inpainting_mask(*patch.shape[-2:], shape, seed=int(rng.integers(2**31)))
            return net.fill(patch[None], mask[None])[1][0].clamp(0, 1)
        scale = 2 if family == "sr-x2" else 4
        return net(_resize(patch, 1 / scale)[None])[0].clamp(0, 1)


def real_example(patch: torch.Tensor, rng: np.random.Generator, crop: int = 0) -> torch.Tensor:
    """The photo, or a third of the time the photo resized by a factor in [0.55, 1.6] (never so small that
    it no longer holds a ``crop``)."""
    if rng.random() >= 1 / 3:
        return patch
    return _resize(patch, float(rng.uniform(max(0.55, crop / min(patch.shape[-2:])), 1.6)))


def detail(patch: torch.Tensor) -> float:
    """Standard deviation of the luma's Laplacian: ~0 on flat graphics, where no detector can tell."""
    luma = patch.mean(0, keepdim=True)[None]
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3)
    return float(F.conv2d(luma, kernel).std())


def make_examples(
    patches,
    crop: int,
    families=FAMILIES,
    per_patch: int = 2,
    seed: int = 0,
    min_detail: float = 0.01,
    progress: bool = True,
    autoencoders=(),
) -> tuple[np.ndarray, np.ndarray]:
    """``patches``: an iterable of (3, P, P) photo patches, P > crop -> (images (N, crop, crop, 3) uint8,
    labels (N,)). Every patch gives one real example and ``per_patch`` generated ones (families in turn),
    so both classes show the same content. Patches flatter than ``min_detail`` (see ``detail``) are skipped."""
    rng = np.random.default_rng(seed)
    generators = Generators(autoencoders)
    images, labels, turn = [], [], 0
    for patch in tqdm(patches, disable=not progress, unit="patch", desc="generated set"):
        if detail(patch) < min_detail:
            continue
        made = [(real_example(patch, rng, crop), 0)]
        for _ in range(per_patch):
            family = families[turn % len(families)]
            turn += 1
            made.append((generators.make(family, patch, rng), ALL_FAMILIES.index(family) + 1))
        for out, label in made:
            if min(out.shape[-2:]) >= crop:
                images.append((_center(out, crop).permute(1, 2, 0) * 255).round().byte().numpy())
                labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


def write_set(path, images: np.ndarray, labels: np.ndarray) -> Path:
    return write_npz_atomic(path, images=images, labels=labels)
