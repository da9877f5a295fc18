"""Tamper maps: per-pixel "was this edited?" scores in [0, 1], same size as the image.

- ``ela_map``: Error Level Analysis: recompress at a fixed JPEG quality and look at what changed; regions
  with another compression history recompress differently.
- ``noise_map``: local noise-level inconsistency: the noise residual's local level (mean absolute
  residual) compared with the image's typical (median) level.
- ``localize``: darkroom's ``tamper`` network, in overlapping tiles for large images.

The two classical maps are scaled so that 0.5 means "clearly unusual for this image" (ELA: twice the
image's median error level; noise: a local level 2.7 times the typical one), so one threshold serves all.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from darkroom.data import degrade


def _gray(image: torch.Tensor) -> torch.Tensor:
    return (
        (image * torch.tensor([0.299, 0.587, 0.114], device=image.device).view(3, 1, 1)).sum(0, keepdim=True)
        if image.shape[0] == 3
        else image
    )


def _scaled(raw: torch.Tensor) -> torch.Tensor:
    """Twice the image's median value -> 0.5, clipped to [0, 1]."""
    typical = raw.flatten().median().clamp_min(1e-6)
    return (raw / (4 * typical)).clamp(0, 1)


def _smooth(x: torch.Tensor, window: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x[None], (window // 2,) * 4, mode="reflect"), window, 1)[0][
        ..., : x.shape[-2], : x.shape[-1]
    ]


def ela_map(image: torch.Tensor, quality: int = 90, window: int = 8) -> torch.Tensor:
    """(1, H, W) Error Level Analysis map of (3, H, W) in [0, 1]."""
    recompressed, _ = degrade.jpeg(image.cpu(), quality)
    diff = (image.cpu() - recompressed).abs().amax(0, keepdim=True)
    return _scaled(_smooth(diff, window))


def noise_map(image: torch.Tensor, window: int = 16) -> torch.Tensor:
    """(1, H, W) local noise inconsistency of (3, H, W) in [0, 1]: |log local sigma - log typical sigma|."""
    gray = _gray(image.cpu().float())
    residual = F.conv2d(
        F.pad(gray[None], (1, 1, 1, 1), mode="reflect"),
        torch.tensor([[[[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]]]) / 6,
    )[0]
    # mean absolute residual ~ local sigma, floored at 8-bit quantisation noise so flat areas do not explode
    local = (_smooth(residual.abs(), window) * 1.4826).clamp_min(1 / 255)
    d = local.log() - local.log().flatten().median()
    # Noisier than typical is the stronger sign (spliced or noised regions); cleaner than typical also
    # happens in flat, dark or saturated areas of untouched photos, so it counts half.
    deviation = d.clamp_min(0) + 0.5 * (-d).clamp_min(0)
    return (deviation / 2).clamp(0, 1)  # 2.7x noisier than typical -> 0.5


@torch.no_grad()
def localize(image: torch.Tensor, model, tile: int = 512, overlap: int = 64) -> torch.Tensor:
    """(1, H, W) tamper probabilities of (3, H, W) from the ``tamper`` model, tiled with linear blending."""
    device = next(model.parameters()).device
    c, h, w = image.shape
    if h <= tile and w <= tile:
        return torch.sigmoid(model(image[None].to(device)))[0].float().cpu()
    out = torch.zeros(1, h, w)
    weight = torch.zeros(1, h, w)
    step = tile - overlap
    ramp = torch.minimum(torch.arange(tile) + 1, torch.arange(tile).flip(0) + 1).clamp(max=overlap).float()
    for top in list(range(0, max(h - tile, 0), step)) + [max(h - tile, 0)]:
        for left in list(range(0, max(w - tile, 0), step)) + [max(w - tile, 0)]:
            crop = image[:, top : top + tile, left : left + tile]
            prob = torch.sigmoid(model(crop[None].to(device)))[0].float().cpu()
            th, tw = crop.shape[-2:]
            blend = (ramp[:th, None] * ramp[None, :tw])[None]
            out[:, top : top + th, left : left + tw] += prob * blend
            weight[:, top : top + th, left : left + tw] += blend
    return out / weight.clamp_min(1e-6)


def pixel_scores(prob: torch.Tensor, mask: torch.Tensor, threshold: float = 0.5) -> dict:
    """F1 at ``threshold`` of a probability map against a 0/1 mask."""
    pred = prob >= threshold
    truth = mask > 0.5
    tp = float((pred & truth).sum())
    denom = float(pred.sum() + truth.sum())
    return {"f1": 2 * tp / denom if denom else 1.0}


def best_f1(prob: np.ndarray, mask: np.ndarray) -> float:
    """F1 at the best threshold for one image (the "optimal threshold" figure of the literature)."""
    order = np.argsort(-prob.ravel())
    truth = mask.ravel()[order] > 0.5
    if not truth.any():
        return float("nan")
    tp = np.cumsum(truth)
    k = np.arange(1, len(truth) + 1)
    return float((2 * tp / (k + truth.sum())).max())
