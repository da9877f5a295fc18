"""``darkroom edit text IMAGE --mask MASK --prompt TEXT``: draw a prompt inside a mask with a textgan;
every pixel outside the mask is the input's, bit for bit.

The prompt is completed with where the mask is (its centre's position cell, in the caption generator's
words) when it names no position, and with how large (the size bin of the mask's extent) when it names
no size. Of ``candidates`` samples, the one whose pixels just outside the mask best continue the image
(least squared error over a band around it) is pasted into the mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from darkroom.data.captions import POSITION_WORDS, SIZE_WORDS, parse_caption, position_cell, size_bin
from darkroom.ops.textgen import check_prompt, text_to_image


def completed_prompt(prompt: str, mask: torch.Tensor) -> str:
    """``prompt`` with the mask's position and size added where it names none."""
    parsed = parse_caption(prompt)
    main = parsed["objects"][0] if parsed["objects"] else {}
    ys, xs = torch.nonzero(mask[0] > 0.5, as_tuple=True)
    h, w = mask.shape[-2:]
    extra = []
    if not main.get("size"):
        radius = max(float(ys.max() - ys.min() + 1) / h, float(xs.max() - xs.min() + 1) / w) / 2
        extra.append(SIZE_WORDS[size_bin(radius)][0])
    if not main.get("position"):
        cell = position_cell(float(xs.float().mean() + 0.5) / w, float(ys.float().mean() + 0.5) / h)
        return " ".join([*extra, prompt, POSITION_WORDS[cell][0]]).strip()
    return " ".join([*extra, prompt]).strip()


def text_inpaint(
    run,
    image: torch.Tensor,
    mask: torch.Tensor,
    prompt: str,
    candidates: int = 32,
    seed: int = 0,
    device: str = "auto",
    warn=print,
) -> tuple[torch.Tensor, dict]:
    """(C, H, W) image in [0, 1] and a (1, H, W) 0/1 mask (1 = draw) -> (edited image, details)."""
    if mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the image {image.shape[-1]}x"
            f"{image.shape[-2]}: they must be the same size"
        )
    inside = mask > 0.5
    if not inside.any():
        raise ValueError("the mask is empty: paint the region to fill in white")
    prompt = check_prompt(prompt, warn)
    full = completed_prompt(prompt, inside.float())
    samples = text_to_image(run, [full], candidates, seed=seed, device=device, warn=lambda *a: None)
    h, w = image.shape[-2:]
    samples = F.interpolate(
        samples, size=(h, w), mode="bilinear", antialias=samples.shape[-1] > w, align_corners=False
    ).clamp(0, 1)
    rgb = image if image.shape[0] == 3 else image.expand(3, -1, -1)
    band = (F.max_pool2d(inside.float()[None], 2 * max(2, h // 16) + 1, 1, max(2, h // 16))[0] > 0) & ~inside
    if not band.any():
        band = ~inside
    errors = ((samples - rgb[None]) ** 2 * band[None]).flatten(1).sum(1)
    best = int(errors.argmin())
    fill = samples[best] if image.shape[0] == 3 else samples[best].mean(0, keepdim=True)
    edited = torch.where(inside.expand_as(image), fill, image)  # outside the mask: the input's own values
    return edited, {"prompt": prompt, "prompt_used": full, "candidate": best, "candidates": candidates}
