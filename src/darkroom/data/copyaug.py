"""Copy-style transformations: what happens to an image that is reused on the web. Each takes a (3, H, W)
image in [0, 1] and a ``numpy.random.Generator`` and returns ``(image, applied)``; ``copy_augment``
chains a few of them. The families in ``HELD_OUT`` are never used in training, only in benchmarks, to
test transformations the descriptor has not seen.
"""
from __future__ import annotations

import string

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from darkroom.data import degrade


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray((image.permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), np.float32) / 255).permute(2, 0, 1).contiguous()


def _colour(rng) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(0, 256, 3))


def _font(size: int):
    try:
        return ImageFont.load_default(size=max(8, size))
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _words(rng, n: int) -> str:
    return " ".join("".join(rng.choice(list(string.ascii_letters + string.digits), int(rng.integers(2, 8))))
                    for _ in range(n))


def crop(image, rng, min_area: float = 0.3):
    _, h, w = image.shape
    area = rng.uniform(min_area, 1.0)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(area * h * w / aspect))))
    cw = int(min(w, round(np.sqrt(area * h * w * aspect))))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return image[:, top:top + ch, left:left + cw], {"crop_area": round(ch * cw / (h * w), 3)}


def flip(image, rng):
    vertical = bool(rng.random() < 0.3)
    return image.flip(-2 if vertical else -1), {"flip": "vertical" if vertical else "horizontal"}


def rot90(image, rng):
    k = int(rng.integers(1, 4))
    return torch.rot90(image, k, (-2, -1)), {"rot90": 90 * k}


def rotate(image, rng, max_degrees: float = 20):
    angle = float(rng.uniform(-max_degrees, max_degrees))
    out = kornia.geometry.transform.rotate(image[None], torch.tensor([angle]))[0]
    return out, {"rotate": round(angle, 1)}


def colour(image, rng):
    b, c, s, hue = rng.uniform(-0.25, 0.25), rng.uniform(0.6, 1.5), rng.uniform(0.3, 1.8), rng.uniform(-0.3, 0.3)
    x = kornia.enhance.adjust_brightness(image[None], float(b))
    x = kornia.enhance.adjust_contrast(x, float(c))
    x = kornia.enhance.adjust_saturation(x, float(s))
    x = kornia.enhance.adjust_hue(x, float(hue))
    return x[0].clamp(0, 1), {"colour": [round(float(v), 2) for v in (b, c, s, hue)]}


def gray(image, rng):
    return degrade.grayscale(image)[0], {"grayscale": True}


def blur(image, rng):
    sigma = float(rng.uniform(0.5, 3.0))
    return degrade.gaussian_blur(image, sigma)[0], {"blur_sigma": round(sigma, 2)}


def jpeg(image, rng):
    quality = int(rng.integers(20, 101))
    return degrade.jpeg(image, quality)[0], {"jpeg_quality": quality}


def text(image, rng):
    img = _pil(image)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):
        size = int(img.height * rng.uniform(0.06, 0.18))
        xy = (int(rng.integers(0, max(1, img.width // 2))), int(rng.integers(0, max(1, img.height - size))))
        draw.text(xy, _words(rng, int(rng.integers(1, 4))), fill=_colour(rng), font=_font(size),
                  stroke_width=int(rng.integers(0, 3)), stroke_fill=_colour(rng))
    return _tensor(img), {"text": True}


def emoji(image, rng):
    """Emoji-like stickers: filled faces, stars and blobs pasted over the picture."""
    img = _pil(image)
    draw = ImageDraw.Draw(img)
    side = min(img.size)
    for _ in range(int(rng.integers(1, 4))):
        r = side * rng.uniform(0.06, 0.2)
        cx, cy = rng.uniform(0, img.width), rng.uniform(0, img.height)
        if rng.random() < 0.5:  # a face
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 204, 0), outline=(0, 0, 0))
            for dx in (-0.35, 0.35):
                draw.ellipse((cx + dx * r - r / 8, cy - r / 3 - r / 8, cx + dx * r + r / 8, cy - r / 3 + r / 8), fill=0)
            draw.arc((cx - r / 2, cy - r / 4, cx + r / 2, cy + r / 2), 20, 160, fill=0, width=max(1, int(r / 10)))
        else:  # a star or blob
            n = int(rng.integers(5, 9))
            angles = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)
            radii = np.where(np.arange(2 * n) % 2 == 0, r, r * rng.uniform(0.4, 0.9))
            draw.polygon([(cx + q * np.cos(a), cy + q * np.sin(a)) for q, a in zip(radii, angles)], fill=_colour(rng))
    return _tensor(img), {"emoji": True}


def banner(image, rng):
    img = _pil(image)
    draw = ImageDraw.Draw(img)
    height = int(img.height * rng.uniform(0.1, 0.25))
    top = 0 if rng.random() < 0.5 else img.height - height
    draw.rectangle((0, top, img.width, top + height), fill=_colour(rng))
    draw.text((int(img.width * 0.05), top + height // 6), _words(rng, 3), fill=_colour(rng), font=_font(int(height * 0.6)))
    return _tensor(img), {"banner": "top" if top == 0 else "bottom"}


def pad(image, rng):
    _, h, w = image.shape
    amounts = [int(v) for v in rng.uniform(0, 0.25, 4) * np.array([w, w, h, h])]
    fill = torch.tensor(_colour(rng), dtype=torch.float32).view(3, 1, 1) / 255
    out = F.pad(image - fill, amounts) + fill
    return out, {"pad": amounts}


def mix(image, rng, other: torch.Tensor | None = None):
    """Blend with another picture, or paste this one into it (picture in picture)."""
    if other is None:
        other = torch.rand(3, 8, 8).repeat_interleave(image.shape[1] // 8 + 1, 1).repeat_interleave(
            image.shape[2] // 8 + 1, 2)[:, :image.shape[1], :image.shape[2]]
    if rng.random() < 0.5:
        other = F.interpolate(other[None], size=image.shape[1:], mode="bilinear", align_corners=False)[0]
        alpha = float(rng.uniform(0.1, 0.35))
        return (1 - alpha) * image + alpha * other, {"mix": "blend", "alpha": round(alpha, 2)}
    scale = rng.uniform(0.5, 0.85)
    _, h, w = image.shape
    canvas = F.interpolate(other[None], size=(h, w), mode="bilinear", align_corners=False)[0].clone()
    ph, pw = max(1, int(h * scale)), max(1, int(w * scale))
    small = F.interpolate(image[None], size=(ph, pw), mode="bilinear", antialias=True, align_corners=False)[0]
    top, left = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    canvas[:, top:top + ph, left:left + pw] = small
    return canvas, {"mix": "paste", "scale": round(float(scale), 2)}


def perspective(image, rng):
    """Held out: a perspective warp (a photo of a screen or a print)."""
    _, h, w = image.shape
    src = torch.tensor([[[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]], dtype=torch.float32)
    jitter = torch.from_numpy(rng.uniform(-0.15, 0.15, (1, 4, 2)).astype(np.float32)) * torch.tensor([w, h])
    matrix = kornia.geometry.transform.get_perspective_transform(src, src + jitter)
    out = kornia.geometry.transform.warp_perspective(image[None], matrix, (h, w))[0]
    return out, {"perspective": True}


def pixelate(image, rng):
    """Held out: mosaic pixelation of the whole picture."""
    _, h, w = image.shape
    factor = int(rng.integers(4, 9))
    small = F.interpolate(image[None], size=(max(1, h // factor), max(1, w // factor)), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")[0], {"pixelate": factor}


TRAIN_FAMILIES = {"crop": crop, "flip": flip, "rot90": rot90, "rotate": rotate, "colour": colour, "gray": gray,
                  "blur": blur, "jpeg": jpeg, "text": text, "emoji": emoji, "banner": banner, "pad": pad, "mix": mix}
HELD_OUT = {"perspective": perspective, "pixelate": pixelate}
FAMILIES = {**TRAIN_FAMILIES, **HELD_OUT}


def apply(family: str, image: torch.Tensor, rng, other: torch.Tensor | None = None):
    if family not in FAMILIES:
        raise ValueError(f"unknown copy transformation {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family](image, rng, other) if family == "mix" else FAMILIES[family](image, rng)


def copy_augment(image: torch.Tensor, rng, n: tuple[int, int] = (1, 4), other: torch.Tensor | None = None,
                 families=None) -> tuple[torch.Tensor, dict]:
    """``n`` random distinct families from ``families`` (default: the training ones), in random order."""
    names = list(families or TRAIN_FAMILIES)
    chosen = rng.choice(names, size=min(len(names), int(rng.integers(n[0], n[1] + 1))), replace=False)
    applied = {"transforms": [str(c) for c in chosen]}
    for family in chosen:
        image, info = apply(str(family), image, rng, other)
        applied.update(info)
    return image.clamp(0, 1), applied
