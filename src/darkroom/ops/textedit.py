"""``darkroom edit text IMAGE --mask MASK --prompt TEXT``: draw a prompt inside a mask with a textgan;
every pixel outside the mask is the input's, bit for bit.

The prompt is completed with where the mask is (its centre's position cell, in the caption generator's
words) when it names no position, and with how large (the size bin of the mask's extent) when it names
no size. A model that draws its object as a layer of its own (``textsprites``) draws it over the input:
of ``candidates`` drawings, the one with most of its coverage inside the mask, and inside the mask the
input's own background stays under it. Otherwise (``textgan``), of ``candidates`` whole samples, the one
whose pixels just outside the mask best continue the image (least squared error over a band around it)
is pasted into the mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from darkroom.data.captions import POSITION_WORDS, SIZE_WORDS, parse_caption, position_cell, size_bin
from darkroom.ops.textgen import check_prompt, load_text_model, prompt_samples


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


@torch.no_grad()
def _draw_object(model, image: torch.Tensor, inside: torch.Tensor, prompt: str, candidates: int, seed: int):
    """The prompt's object drawn over ``image``, only inside the mask; the best-placed of ``candidates``."""
    h, w = image.shape[-2:]
    size = max(h, w)
    cover, fill = model.sample_object(candidates, prompt, size, generator=torch.Generator().manual_seed(seed))
    cover, fill = cover.cpu(), fill.cpu()
    if h != w:  # drawn on a square canvas, whose fractions of the width and height the prompt's cell names
        cover = F.interpolate(cover, size=(h, w), mode="bilinear", align_corners=False)
    area = cover.flatten(1).sum(1).clamp(min=1e-6)
    best = int(((cover * inside.float()).flatten(1).sum(1) / area).argmax())
    alpha = cover[best] * inside.float()
    rgb = fill[best] if image.shape[0] == 3 else fill[best].mean(0, keepdim=True)
    edited = image * (1 - alpha) + rgb * alpha
    return torch.where(inside.expand_as(image), edited, image)  # outside the mask: the input's own values


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
    model, _ = load_text_model(run, device)
    if hasattr(model, "sample_object"):
        return _draw_object(model, image, inside, full, candidates, seed), {
            "prompt": prompt,
            "prompt_used": full,
            "candidates": candidates,
            "drawn": "object layer",
        }
    samples = prompt_samples(model, [full], candidates, seed=seed, warn=lambda *a: None)
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
