"""Random processing chains for photographs: blur, resize, gamma and noise in random order, then JPEG.

A chain is a plain dict of what was done, in the units of DESIGN.md's ``processing`` fields (noise sigma on
the 0-255 scale, JPEG quality 1-100 or None, blur sigma in pixels, resize factor = output / input size,
gamma as in ``degrade.tone``) plus ``order``. JPEG, when present, is always last: it is how files are saved.

    >>> chain = sample_chain(np.random.default_rng(0))
    >>> out = apply_chain(photo, chain, crop=128, seed=1)     # (3, 128, 128), JPEG grid at the crop's origin
"""
from __future__ import annotations

import math

import numpy as np
import torch

from darkroom.data import degrade

STEPS = ("blur", "resize", "gamma", "noise")
CANONICAL = STEPS  # the order of a camera and an editor: optics, scaling, tone curve, sensor noise
RANGES = {"noise_sigma": (0.0, 50.0), "jpeg_quality": (10, 100), "blur_sigma": (0.4, 3.0),
          "resize_factor": (0.5, 2.0), "gamma": (0.5, 2.0)}
IDENTITY = {"noise_sigma": 0.0, "jpeg_quality": None, "blur_sigma": 0.0, "resize_factor": 1.0, "gamma": 1.0}


def sample_chain(rng: np.random.Generator, p_noise: float = 0.8, p_jpeg: float = 0.6, p_blur: float = 0.4,
                 p_resize: float = 0.4, p_gamma: float = 0.4, p_shuffle: float = 0.5) -> dict:
    """Each step applied with its probability, its strength uniform (log-uniform for factors) in RANGES."""
    def log_uniform(lo, hi):
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))

    chain = dict(IDENTITY)
    if rng.random() < p_noise:
        chain["noise_sigma"] = float(rng.uniform(*RANGES["noise_sigma"]))
    if rng.random() < p_jpeg:
        chain["jpeg_quality"] = int(rng.integers(RANGES["jpeg_quality"][0], RANGES["jpeg_quality"][1] + 1))
    if rng.random() < p_blur:
        chain["blur_sigma"] = float(rng.uniform(*RANGES["blur_sigma"]))
    if rng.random() < p_resize:
        chain["resize_factor"] = log_uniform(*RANGES["resize_factor"])
    if rng.random() < p_gamma:
        chain["gamma"] = log_uniform(*RANGES["gamma"])
    order = list(CANONICAL)
    if rng.random() < p_shuffle:
        order = [order[i] for i in rng.permutation(len(order))]
    chain["order"] = order
    return chain


def min_input_size(crop: int) -> int:
    """Side an input needs so that a ``crop`` survives the strongest shrink in RANGES."""
    return math.ceil(crop / RANGES["resize_factor"][0])


def apply_chain(image: torch.Tensor, chain: dict, crop: int | None = None, seed: int = 0,
                offset: tuple[int, int] | None = None) -> torch.Tensor:
    """Apply ``chain`` to one image (C, H, W) in [0, 1]. With ``crop``, cut a crop x crop window (at
    ``offset`` after the last resampling, else a seeded random one) before the JPEG step, so the JPEG grid
    starts at the crop's origin, as it does at a file's origin."""
    x = image.float()
    generator = torch.Generator().manual_seed(int(seed))
    for step in chain.get("order", CANONICAL):
        if step == "blur" and chain["blur_sigma"] > 0:
            x, _ = degrade.gaussian_blur(x, chain["blur_sigma"])
        elif step == "resize" and chain["resize_factor"] != 1:
            h, w = x.shape[-2:]
            size = (max(1, round(h * chain["resize_factor"])), max(1, round(w * chain["resize_factor"])))
            x, _ = degrade.resize(x, size)
        elif step == "gamma" and chain["gamma"] != 1:
            x, _ = degrade.tone(x, gamma=chain["gamma"])
        elif step == "noise" and chain["noise_sigma"] > 0:
            x, _ = degrade.gaussian_noise(x, chain["noise_sigma"], generator=generator)
    if crop:
        h, w = x.shape[-2:]
        if h < crop or w < crop:
            raise ValueError(f"a {crop} px crop needs an input of at least {min_input_size(crop)} px, "
                             f"the chain left {h}x{w}")
        if offset is None:
            top = int(torch.randint(0, h - crop + 1, (1,), generator=generator))
            left = int(torch.randint(0, w - crop + 1, (1,), generator=generator))
        else:
            top, left = offset
        x = x[..., top:top + crop, left:left + crop]
    if chain.get("jpeg_quality"):
        x, _ = degrade.jpeg(x, chain["jpeg_quality"])
    return ((x.clamp(0, 1) * 255).round() / 255).contiguous()  # saved as 8 bits, as every file is
