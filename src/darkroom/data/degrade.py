"""Degradations, each returning ``(image, applied)``: the result and a dict of what was done.

Images are float32 (C, H, W) or (B, C, H, W) in [0, 1]. Noise sigmas are on the 0-255 scale.
Randomness comes from an explicit ``torch.Generator`` (or a seed), so a degradation is reproducible.

    >>> noisy, applied = gaussian_noise(image, sigma=25, generator=g)   # applied == {"noise": "gaussian", "noise_sigma": 25.0}
"""

from __future__ import annotations

import io as _io
import math

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from darkroom.io import to_pil


def _check(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4) or image.shape[-3] not in (1, 3):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{name} must be a tensor (C, H, W) or (B, C, H, W) with 1 or 3 channels, got {shape}")
    batched = image.ndim == 4
    return (image if batched else image[None]).float(), batched


def _out(image: torch.Tensor, batched: bool) -> torch.Tensor:
    return image if batched else image[0]


def _gen(generator: torch.Generator | int | None) -> torch.Generator | None:
    if isinstance(generator, int):
        return torch.Generator().manual_seed(generator)
    return generator


def gaussian_noise(
    image: torch.Tensor, sigma: float, generator: int | torch.Generator | None = None, clip: bool = True
) -> tuple[torch.Tensor, dict]:
    """Add white Gaussian noise with standard deviation ``sigma`` / 255."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    x, batched = _check(image)
    noise = torch.randn(x.shape, generator=_gen(generator)) * (sigma / 255.0)
    y = x + noise.to(x.device)
    return _out(y.clamp(0, 1) if clip else y, batched), {"noise": "gaussian", "noise_sigma": float(sigma)}


def poisson_noise(
    image: torch.Tensor, sigma: float, generator: int | torch.Generator | None = None
) -> tuple[torch.Tensor, dict]:
    """Shot noise whose standard deviation at mid-grey (0.5) is ``sigma`` / 255.

    Photon count = intensity * peak with peak = 0.5 * (255 / sigma)^2, so darker pixels get less noise.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    x, batched = _check(image)
    if sigma == 0:
        return _out(x, batched), {"noise": "poisson", "noise_sigma": 0.0, "peak": None}
    peak = 0.5 * (255.0 / sigma) ** 2
    y = torch.poisson(x.clamp(0, 1).cpu() * peak, generator=_gen(generator)) / peak
    return _out(y.clamp(0, 1).to(x.device), batched), {
        "noise": "poisson",
        "noise_sigma": float(sigma),
        "peak": float(peak),
    }


def gaussian_blur(image: torch.Tensor, sigma: float) -> tuple[torch.Tensor, dict]:
    """Blur with an isotropic Gaussian of ``sigma`` pixels (kernel covers +-3 sigma), reflected borders."""
    if sigma < 0:
        raise ValueError(f"blur sigma must be >= 0, got {sigma}")
    x, batched = _check(image)
    if sigma > 0:
        k = 2 * math.ceil(3 * sigma) + 1
        x = kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")
    return _out(x, batched), {"blur": "gaussian", "blur_sigma": float(sigma)}


def motion_blur(image: torch.Tensor, length: int, angle: float) -> tuple[torch.Tensor, dict]:
    """Linear motion blur over ``length`` pixels (odd, >= 3) at ``angle`` degrees."""
    if length < 3 or length % 2 == 0:
        raise ValueError(f"motion blur length must be odd and >= 3, got {length}")
    x, batched = _check(image)
    angle_t = torch.full((x.shape[0],), float(angle))
    direction = torch.zeros(x.shape[0])
    x = kornia.filters.motion_blur(x, length, angle_t, direction, border_type="reflect")
    return _out(x, batched), {"blur": "motion", "blur_length": int(length), "blur_angle": float(angle)}


def downscale(image: torch.Tensor, factor: float, mode: str = "bicubic") -> tuple[torch.Tensor, dict]:
    """Shrink by ``factor`` (>= 1) with an antialiased bicubic (or bilinear/area) filter."""
    if factor < 1:
        raise ValueError(f"downscale factor must be >= 1, got {factor}")
    x, batched = _check(image)
    h, w = x.shape[-2:]
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    if mode == "area":
        y = F.interpolate(x, size=size, mode="area")
    else:
        y = F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)
    return _out(y.clamp(0, 1), batched), {"resize_factor": 1.0 / factor, "resize_mode": mode}


def resize(image: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> tuple[torch.Tensor, dict]:
    """Resize to (H, W), antialiased when shrinking."""
    x, batched = _check(image)
    h, w = x.shape[-2:]
    shrink = size[0] < h or size[1] < w
    y = F.interpolate(x, size=tuple(size), mode=mode, antialias=shrink, align_corners=False)
    return _out(y.clamp(0, 1), batched), {"resize_factor": size[1] / w, "resize_mode": mode}


def jpeg(image: torch.Tensor, quality: int) -> tuple[torch.Tensor, dict]:
    """Real JPEG round trip through libjpeg (Pillow) at ``quality`` 1-100, 4:2:0 chroma subsampling."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
    x, batched = _check(image)
    out = [_jpeg_one(img, int(quality)) for img in x.cpu()]
    return _out(torch.stack(out).to(x.device), batched), {"jpeg_quality": int(quality)}


def jpeg_bytes(image: torch.Tensor, quality: int) -> bytes:
    buffer = _io.BytesIO()
    to_pil(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def _jpeg_one(image: torch.Tensor, quality: int) -> torch.Tensor:
    with Image.open(_io.BytesIO(jpeg_bytes(image, quality))) as decoded:
        array = np.asarray(decoded, dtype=np.float32) / 255.0
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def tone(
    image: torch.Tensor, gamma: float = 1.0, brightness: float = 0.0, contrast: float = 1.0
) -> tuple[torch.Tensor, dict]:
    """out = clip(((x ** gamma) - 0.5) * contrast + 0.5 + brightness)."""
    if gamma <= 0 or contrast < 0:
        raise ValueError(f"gamma must be > 0 and contrast >= 0, got gamma={gamma}, contrast={contrast}")
    x, batched = _check(image)
    y = ((x.clamp(0, 1) ** gamma) - 0.5) * contrast + 0.5 + brightness
    return _out(y.clamp(0, 1), batched), {
        "gamma": float(gamma),
        "brightness": float(brightness),
        "contrast": float(contrast),
    }


def grayscale(image: torch.Tensor, keep_channels: bool = True) -> tuple[torch.Tensor, dict]:
    """BT.601 luma; kept as 3 identical channels unless ``keep_channels`` is False."""
    x, batched = _check(image)
    if x.shape[1] == 3:
        y = kornia.color.rgb_to_grayscale(x)
        x = y.expand(-1, 3, -1, -1).contiguous() if keep_channels else y
    return _out(x, batched), {"grayscale": True}


MASK_FAMILIES = {  # LaMa's thin / medium / thick; widths and lengths as fractions of the image side
    "thin": {"strokes": (4, 20), "width": (0.012, 0.04), "length": (0.1, 0.4), "boxes": (0, 0)},
    "medium": {"strokes": (1, 5), "width": (0.06, 0.16), "length": (0.2, 0.6), "boxes": (0, 2)},
    "thick": {"strokes": (1, 4), "width": (0.16, 0.4), "length": (0.3, 0.7), "boxes": (0, 3)},
}


def inpainting_mask(
    height: int, width: int, family: str = "medium", seed: int = 0, max_area: float = 0.5
) -> tuple[torch.Tensor, dict]:
    """A LaMa-style random mask (1, H, W), 1 = hole: strokes of random width and length, plus boxes.

    Drawing stops before the hole passes ``max_area`` of the image (LaMa caps masks at 50 %).
    """
    from PIL import ImageDraw

    if family not in MASK_FAMILIES:
        raise ValueError(f"mask family must be one of {', '.join(MASK_FAMILIES)}, got {family!r}")
    cfg, rng, side = MASK_FAMILIES[family], np.random.default_rng(seed), min(height, width)
    canvas = Image.new("L", (width, height), 0)
    strokes, boxes = 0, 0
    for kind in ["stroke"] * int(rng.integers(cfg["strokes"][0], cfg["strokes"][1] + 1)) + ["box"] * int(
        rng.integers(cfg["boxes"][0], cfg["boxes"][1] + 1)
    ):
        trial = canvas.copy()
        draw = ImageDraw.Draw(trial)
        if kind == "stroke":
            stroke_width = max(1, int(rng.uniform(*cfg["width"]) * side))
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            points = [(x, y)]
            for _ in range(int(rng.integers(2, 6))):
                angle, step = rng.uniform(0, 2 * np.pi), rng.uniform(*cfg["length"]) * side / 2
                x = float(np.clip(x + step * np.cos(angle), 0, width - 1))
                y = float(np.clip(y + step * np.sin(angle), 0, height - 1))
                points.append((x, y))
            draw.line(points, fill=255, width=stroke_width, joint="curve")
            r = stroke_width / 2
            for px, py in points:
                draw.ellipse((px - r, py - r, px + r, py + r), fill=255)
        else:
            bw, bh = rng.uniform(0.1, 0.35, 2) * np.array([width, height])
            x0, y0 = rng.uniform(0, width - bw), rng.uniform(0, height - bh)
            draw.rectangle((x0, y0, x0 + bw, y0 + bh), fill=255)
        if (np.asarray(trial) > 0).mean() > max_area:
            continue  # this stroke would pass the cap: skip it
        canvas = trial
        strokes, boxes = strokes + (kind == "stroke"), boxes + (kind == "box")
    mask = torch.from_numpy((np.asarray(canvas) > 127).astype(np.float32))[None]
    return mask, {
        "mask_family": family,
        "mask_seed": int(seed),
        "strokes": strokes,
        "boxes": boxes,
        "hole_fraction": float(mask.mean()),
    }


DEGRADATIONS = {
    "gaussian_noise": gaussian_noise,
    "poisson_noise": poisson_noise,
    "gaussian_blur": gaussian_blur,
    "motion_blur": motion_blur,
    "downscale": downscale,
    "jpeg": jpeg,
    "tone": tone,
    "grayscale": grayscale,
}


def burst(
    image: torch.Tensor,
    n: int,
    sigma: float,
    margin: int = 16,
    max_shift: float = 4.0,
    max_rotation: float = 2.0,
    scale: int = 1,
    generator: int | torch.Generator | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor, dict]:
    """A hand-held burst of ``image`` (C, H, W): ``n`` frames, the first unmoved, the others rotated by up to
    ``max_rotation`` degrees and shifted by up to ``max_shift`` pixels (sub-pixel), each shrunk ``scale``
    times and given its own noise of ``sigma``. Frames and the truth (the unmoved view) are the centre less
    ``margin`` pixels a side, so no frame shows what lies outside the photo."""
    g = _gen(generator)
    fine = F.interpolate(image[None], scale_factor=2, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    truth = F.avg_pool2d(fine[None], 2)[0][:, margin:-margin, margin:-margin]  # frame 0's view, as it was made
    frames, motion = [], []
    for k in range(n):
        angle = 0.0 if k == 0 else float((torch.rand((), generator=g) * 2 - 1) * max_rotation)
        shift = (0.0, 0.0) if k == 0 else tuple(float((torch.rand((), generator=g) * 2 - 1) * max_shift) for _ in "yx")
        # moved on a grid twice as fine and shrunk back (area): a camera's pixels integrate the moved scene,
        # and the warp is not the bicubic resampler that burst alignment uses
        moved = rigid_warp(fine, angle, (2 * shift[0], 2 * shift[1]), mode="bilinear").nan_to_num(0.0)
        moved = F.avg_pool2d(moved[None], 2)[0][:, margin:-margin, margin:-margin]
        if scale > 1:
            moved = downscale(moved, scale)[0]
        frames.append(gaussian_noise(moved, sigma, generator=g)[0])
        motion.append({"rotation_deg": round(angle, 3), "shift_px": [round(s, 2) for s in shift]})
    return frames, truth, {"burst": n, "noise_sigma": float(sigma), "scale": scale, "motion": motion}


def rigid_warp(image: torch.Tensor, angle: float, shift: tuple[float, float], mode: str = "bicubic") -> torch.Tensor:
    """(C, H, W) rotated by ``angle`` degrees about its centre, then moved by ``shift`` (rows, cols) pixels;
    outside the frame is NaN."""
    c, h, w = image.shape
    centre = torch.tensor([[(w - 1) / 2, (h - 1) / 2]])
    matrix = kornia.geometry.transform.get_rotation_matrix2d(
        centre, torch.tensor([float(angle)], dtype=torch.float32), torch.ones(1, 2)
    )
    matrix[:, 0, 2] += shift[1]
    matrix[:, 1, 2] += shift[0]
    both = torch.cat([image, torch.ones(1, h, w)])[None]
    warped = kornia.geometry.transform.warp_affine(both, matrix, (h, w), mode=mode, align_corners=True)[0]
    return torch.where(warped[-1:] > 0.999, warped[:-1], torch.full_like(warped[:-1], float("nan")))
