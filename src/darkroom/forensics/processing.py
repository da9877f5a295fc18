"""What was done to a photograph, from its pixels: the ``processing`` field of ``darkroom inspect``.

The ``chain`` model reads crops of its own size, cut at multiples of 8 pixels from the image's origin so
that a JPEG's 8x8 grid falls where it fell in training; the estimate is the median over up to
``max_tiles`` crops spread over the image. When the file itself is a JPEG, its quantisation table gives
the exact quality, which replaces the pixel estimate (both are reported).

The network does not recover the resize factor (its error equals always answering 1), so an enlargement
is read from the period interpolation leaves in the whole image (``classical.upscale_factor``) when that
period stands out clearly (``UPSCALE_STRENGTH``) and the image is no JPEG (its 8x8 grid hides and mimics
that period); the network's answer stands otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from darkroom.forensics.classical import upscale_factor
from darkroom.forensics.jpeg import jpeg_file_quality

MODEL = "chain"
# upscale_factor's peak strength from which its factor is believed: on 384 px crops of 35 train photos,
# 2.4 % of the untouched, shrunk, blurred, noisy or gamma-changed ones reach it; of the enlarged ones
# (x1.1 to x2) 31 % do, and 85 % of those get the factor within 3.5 %
UPSCALE_STRENGTH = 20.0


def tile_offsets(height: int, width: int, crop: int, max_tiles: int) -> list[tuple[int, int]]:
    """Up to ``max_tiles`` crop origins on a grid over the image, each a multiple of 8."""
    per_side = max(1, int(max_tiles**0.5))

    def positions(extent: int) -> list[int]:
        room = extent - crop
        if room <= 0:
            return [0]
        count = min(per_side, room // 8 + 1)
        return sorted({int(round(room * i / max(count - 1, 1))) // 8 * 8 for i in range(count)})

    return [(top, left) for top in positions(height) for left in positions(width)]


@torch.no_grad()
def estimate_processing(image: torch.Tensor, model, path=None, max_tiles: int = 16, upscale: bool = True) -> dict:
    """``processing`` fields for one image (3, H, W) in [0, 1]: noise_sigma, jpeg_quality (None when it
    does not look like a JPEG), blur_sigma, resize_factor, gamma, plus jpeg_prob, the pixel estimate of the
    quality, how many crops were read and notes (padding, file quantisation table). ``upscale=False``: the
    network's resize factor only."""
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image (C, H, W), got shape {tuple(image.shape)}")
    crop = model.config.crop
    if min(image.shape[-2:]) < 8:
        raise ValueError(f"image {image.shape[-1]}x{image.shape[-2]} is too small to estimate its processing")
    notes = []
    x = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    h, w = x.shape[-2:]
    if h < crop or w < crop:
        while x.shape[-2] < crop or x.shape[-1] < crop:  # mirror the image's own pixels: its noise survives
            ph, pw = min(crop - x.shape[-2], x.shape[-2] - 1), min(crop - x.shape[-1], x.shape[-1] - 1)
            x = F.pad(x[None], (0, max(pw, 0), 0, max(ph, 0)), mode="reflect")[0]
        notes.append(f"image {w}x{h} is smaller than the estimator's {crop} px crops: mirrored, less reliable")
    offsets = tile_offsets(x.shape[-2], x.shape[-1], crop, max_tiles)
    device = next(model.parameters()).device
    crops = torch.stack([x[:, t : t + crop, l : l + crop] for t, l in offsets]).to(device)
    pred = {k: v.median().item() for k, v in model.predict(crops).items()}
    pixel_quality = int(round(pred["jpeg_quality"]))
    result = {
        "noise_sigma": round(pred["noise_sigma"], 2),
        "jpeg_quality": pixel_quality if pred["jpeg_prob"] >= 0.5 else None,
        "blur_sigma": round(pred["blur_sigma"], 3),
        "resize_factor": round(pred["resize_factor"], 3),
        "gamma": round(pred["gamma"], 3),
        "jpeg_prob": round(pred["jpeg_prob"], 4),
        "jpeg_quality_from_pixels": pixel_quality,
        "tiles": len(offsets),
    }
    if path is not None:
        try:
            from_file = jpeg_file_quality(path)
        except OSError:
            from_file = None
        if from_file is not None:
            quality, exact = from_file
            result["jpeg_quality"] = quality
            notes.append(
                "JPEG quality read from the file's quantisation table"
                + ("" if exact else " (non-standard table: nearest libjpeg quality)")
            )
    if upscale and min(h, w) >= 32 and result["jpeg_quality"] is None:
        factor, strength = upscale_factor(image)
        if strength >= UPSCALE_STRENGTH:
            result["resize_factor"] = round(factor, 3)
            notes.append(f"resize factor from the interpolation period (peak {strength:.0f}x the spectrum's floor)")
    if notes:
        result["notes"] = notes
    return result
