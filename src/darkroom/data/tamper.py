"""Local edits with ground truth: the tampering that darkroom's forensics learns to find.

``tamper(image, rng, edit)`` returns ``(edited, mask, params)``: the edited image (3, H, W), the mask
(1, H, W) of pixels the edit changed (1 = tampered) and a JSON-able dict of what was done. Edits:

- ``splice``: a region of another photo (``donor``), optionally with its own processing history (noise,
  blur, JPEG), feathered edges and its colours matched to the host's;
- ``copymove``: a region of the same photo moved elsewhere, optionally scaled and rotated;
- ``removal``: a region filled from its surroundings (``fill(image, mask)``, e.g. darkroom's inpainter;
  by default a normalised-convolution fill);
- ``recolor``, ``blur``, ``sharpen``, ``noise``: a local hue/saturation change, Gaussian blur, unsharp
  mask or added noise inside the region.

``postprocess`` then applies what images meet in the wild: a global JPEG recompression and a resize.
"""
from __future__ import annotations

import math

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from darkroom.data import degrade
from darkroom.data.chain import IDENTITY, apply_chain

EDITS = ("splice", "copymove", "removal", "recolor", "blur", "sharpen", "noise")


def region_mask(height: int, width: int, rng, area: tuple[float, float] = (0.02, 0.15)) -> torch.Tensor:
    """A random region (1, H, W) in {0, 1}: an ellipse, a rectangle or a random polygon covering about a
    fraction ``area`` (a range) of the image."""
    kind = ("ellipse", "rectangle", "polygon")[int(rng.integers(3))]
    fills = {"ellipse": math.pi / 4, "rectangle": 1.0, "polygon": 0.5}  # shape area / its box's, roughly
    target = rng.uniform(*area) * height * width / fills[kind]
    aspect = math.exp(rng.uniform(-0.7, 0.7))
    rh = min(height * 0.9, math.sqrt(target / aspect))
    rw = min(width * 0.9, target / rh)
    cy, cx = rng.uniform(rh / 2, height - rh / 2), rng.uniform(rw / 2, width - rw / 2)
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    box = (cx - rw / 2, cy - rh / 2, cx + rw / 2, cy + rh / 2)
    if kind == "ellipse":
        draw.ellipse(box, fill=255)
    elif kind == "rectangle":
        draw.rectangle(box, fill=255)
    else:
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(5, 10))))
        radii = rng.uniform(0.6, 1.0, len(angles))
        draw.polygon([(cx + r * rw / 2 * math.cos(a), cy + r * rh / 2 * math.sin(a)) for a, r in zip(angles, radii)],
                     fill=255)
    mask = torch.from_numpy((np.asarray(canvas) > 127).astype(np.float32))[None]
    if mask.sum() == 0:
        mask[:, int(cy), int(cx)] = 1
    return mask


def feather(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return mask
    k = 2 * math.ceil(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(mask[None], (k, k), (sigma, sigma), border_type="reflect")[0]


def normalized_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the masked pixels from their surroundings: averages of the known pixels over a pyramid of
    growing windows (normalised convolution), the finest window that reaches a pixel wins."""
    known = 1 - (mask > 0.5).float()
    out = image.clone()
    todo = mask > 0.5
    h, w = image.shape[-2:]
    for level in range(1, 9):
        f = 2 ** level
        if f > 2 * max(h, w):
            break
        num = F.avg_pool2d((image * known)[None], f, f, ceil_mode=True)
        den = F.avg_pool2d(known[None], f, f, ceil_mode=True)
        value = F.interpolate(num / den.clamp_min(1e-6), size=(h, w), mode="bilinear", align_corners=False)[0]
        reach = F.interpolate(den, size=(h, w), mode="bilinear", align_corners=False)[0] > 0.2
        take = reach & todo
        out = torch.where(take.expand_as(out), value, out)
        todo = todo & ~take
        if not todo.any():
            break
    return out.clamp(0, 1)


def _match_colours(patch: torch.Tensor, host: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Shift and scale each channel of ``patch`` so that, inside the mask, it has the host's statistics."""
    m = mask > 0.5
    out = patch.clone()
    for c in range(patch.shape[0]):
        p, h = patch[c][m[0]], host[c][m[0]]
        if p.numel() > 1:
            out[c] = (patch[c] - p.mean()) / p.std().clamp_min(1e-3) * h.std() + h.mean()
    return out.clamp(0, 1)


def random_history(rng) -> dict:
    """A random processing history (noise, blur, JPEG) for a spliced-in region, which makes it differ from
    its host, or for a whole photo before it is edited, as photos arrive with histories of their own."""
    chain = dict(IDENTITY)
    if rng.random() < 0.6:
        chain["noise_sigma"] = float(rng.uniform(2, 15))
    if rng.random() < 0.3:
        chain["blur_sigma"] = float(rng.uniform(0.4, 1.5))
    if rng.random() < 0.5:
        chain["jpeg_quality"] = int(rng.integers(40, 96))
    return chain


FRAME_PASTS = ("enlarged", "sharpened", "grain")


def frame_history(image: torch.Tensor, rng) -> tuple[torch.Tensor, dict]:
    """A whole-frame past that keeps the size, as untouched photos arrive with: enlarged from a smaller
    copy (nearest, bilinear or bicubic: screenshots, web images, scans), sharpened all over (an unsharp
    mask, as cameras and editors apply) or given film-like grain (noise blurred to 1-2 px grains)."""
    kind = FRAME_PASTS[int(rng.integers(len(FRAME_PASTS)))]
    x = image[None]
    h, w = image.shape[-2:]
    if kind == "enlarged":
        factor, mode = float(rng.uniform(1.3, 3.0)), ("nearest", "bilinear", "bicubic")[int(rng.integers(3))]
        small = F.interpolate(x, size=(max(1, round(h / factor)), max(1, round(w / factor))), mode="area")
        x = F.interpolate(small, size=(h, w), mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
        params = {"frame": kind, "factor": round(factor, 3), "mode": mode}
    elif kind == "sharpened":
        amount, sigma = float(rng.uniform(0.3, 1.5)), float(rng.uniform(0.8, 2.0))
        x = x + amount * (x - degrade.gaussian_blur(x, sigma)[0])
        params = {"frame": kind, "amount": round(amount, 3), "sigma": round(sigma, 3)}
    else:
        sigma, size = float(rng.uniform(3, 10)), float(rng.uniform(0.6, 1.5))
        g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
        gray = bool((image[0] == image[1]).all() and (image[1] == image[2]).all())
        channels = 1 if gray or rng.random() < 0.5 else 3  # luma grain, or grain per channel
        grain, _ = degrade.gaussian_blur(torch.randn(channels, h, w, generator=g), size)
        grain = grain / grain.std().clamp_min(1e-6) * (sigma / 255)
        x = x + grain[None]
        params = {"frame": kind, "sigma": round(sigma, 3), "grain_px": round(size, 3)}
    return ((x[0].clamp(0, 1) * 255).round() / 255), params


def _warp(image: torch.Tensor, angle: float, scale: float, shift: tuple[float, float]) -> torch.Tensor:
    """Rotate by ``angle`` degrees and scale about the centre, then shift by (dy, dx) pixels."""
    h, w = image.shape[-2:]
    centre = torch.tensor([[w / 2, h / 2]])
    matrix = kornia.geometry.transform.get_rotation_matrix2d(centre, torch.tensor([angle]),
                                                            torch.tensor([[scale, scale]]))
    matrix[:, 0, 2] += shift[1]
    matrix[:, 1, 2] += shift[0]
    return kornia.geometry.transform.warp_affine(image[None], matrix, (h, w), padding_mode="reflection")[0]


def tamper(image: torch.Tensor, rng, edit: str | None = None, donor: torch.Tensor | None = None,
           fill=None, area: tuple[float, float] = (0.02, 0.15),
           warp: tuple[float, float] | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """One local edit of ``image`` (3, H, W) in [0, 1]; see the module docstring. ``warp``: (angle in
    degrees, scale) of a copy-move, instead of drawing them."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"tamper needs an RGB image (3, H, W), got {tuple(image.shape)}")
    edit = edit or EDITS[int(rng.integers(len(EDITS)))]
    if edit not in EDITS:
        raise ValueError(f"edit must be one of {', '.join(EDITS)}, got {edit!r}")
    h, w = image.shape[-2:]
    region = region_mask(h, w, rng, area)
    params: dict = {"edit": edit}
    soft = region
    if edit == "splice":
        if donor is None:
            raise ValueError("a splice needs a donor image")
        donor = F.interpolate(donor[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0] \
            if donor.shape[-2:] != (h, w) else donor
        shift = (float(rng.uniform(-h / 3, h / 3)), float(rng.uniform(-w / 3, w / 3)))
        patch = _warp(donor, 0.0, 1.0, shift)
        history = random_history(rng)
        patch = apply_chain(patch, history, seed=int(rng.integers(2 ** 31)))
        params.update(history={k: v for k, v in history.items() if k != "order" and v != IDENTITY[k]})
        if rng.random() < 0.5:
            patch = _match_colours(patch, image, region)
            params["colour_matched"] = True
        sigma = float(rng.uniform(0, 2)) if rng.random() < 0.5 else 0.0
        soft, params["feather"] = feather(region, sigma), sigma
    elif edit == "copymove":
        angle = float(rng.uniform(-30, 30)) if rng.random() < 0.4 else 0.0
        scale = float(math.exp(rng.uniform(-0.25, 0.25))) if rng.random() < 0.4 else 1.0
        angle, scale = warp if warp is not None else (angle, scale)
        shift = (float(rng.uniform(-h / 3, h / 3)), float(rng.uniform(-w / 3, w / 3)))
        patch = _warp(image, angle, scale, shift)
        params.update(angle=angle, scale=scale, shift=list(shift))
    elif edit == "removal":
        patch = (fill or normalized_fill)(image, region)
        params["fill"] = "normalized-convolution" if fill is None else getattr(fill, "name", "custom")
    elif edit == "recolor":
        hsv = kornia.color.rgb_to_hsv(image[None])[0]
        hue = float(rng.uniform(0.5, 2 * math.pi - 0.5))
        sat = float(math.exp(rng.uniform(-0.7, 0.7)))
        hsv = torch.stack([(hsv[0] + hue) % (2 * math.pi), (hsv[1] * sat).clamp(0, 1), hsv[2]])
        patch = kornia.color.hsv_to_rgb(hsv[None])[0]
        soft = feather(region, float(rng.uniform(0, 2)))
        params.update(hue_shift=hue, saturation=sat)
    elif edit in ("blur", "sharpen"):
        sigma = float(rng.uniform(1, 3))
        blurred, _ = degrade.gaussian_blur(image, sigma)
        amount = float(rng.uniform(0.8, 2.5))
        patch = blurred if edit == "blur" else (image + amount * (image - blurred)).clamp(0, 1)
        params.update(sigma=sigma, **({"amount": amount} if edit == "sharpen" else {}))
    else:  # noise
        sigma = float(rng.uniform(5, 20))
        patch, _ = degrade.gaussian_noise(image, sigma, generator=int(rng.integers(2 ** 31)))
        params["sigma"] = sigma
    edited = image * (1 - soft) + patch * soft
    changed = ((edited - image).abs().amax(0, keepdim=True) > 1.5 / 255) & (soft > 0)
    mask = ((region > 0.5) | changed).float() if edit != "copymove" else region
    params["area"] = round(float(mask.mean()), 4)
    return ((edited * 255).round() / 255).clamp(0, 1), mask, params


def postprocess(image: torch.Tensor, mask: torch.Tensor, rng, p_jpeg: float = 0.5,
                p_resize: float = 0.3) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """A global resize and JPEG recompression after the edit, as shared images get; the mask follows."""
    params = {}
    if rng.random() < p_resize:
        factor = float(rng.uniform(0.6, 1.0))
        h, w = image.shape[-2:]
        size = (max(8, round(h * factor)), max(8, round(w * factor)))
        image, _ = degrade.resize(image, size)
        mask = (F.interpolate(mask[None], size=size, mode="bilinear", align_corners=False)[0] > 0.5).float()
        params["resize_factor"] = factor
    if rng.random() < p_jpeg:
        params["jpeg_quality"] = int(rng.integers(60, 96))
        image, _ = degrade.jpeg(image, params["jpeg_quality"])
    return image, mask, params
