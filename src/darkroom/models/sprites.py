"""``sprites`` and ``textsprites``: scenes generators that first lay a scene out, then draw it.

Why not one more GAN: on CPU budgets the class-conditional ``cgan`` drew the requested shape on 18.6 % of
its samples (chance 12.5 %) and ``textgan`` agreed with 0.0 % of its prompts on every attribute, because
its discriminator never learned shapes (docs/text-to-image.md). A conditional VAE with the same generator
drew blobs after 2,300 steps: the object covers a few percent of the pixels, and the background's texture
dominates any pixel loss. Two ideas from the literature split the problem where it is easy to learn:

- **Layout first** (hierarchical text-to-image, Hong et al. 2018: text -> boxes -> masks -> image). An
  autoregressive layout model reads the condition (a shape label, or a prompt's sentence embedding) and
  draws the scene's parameters one by one: background kind and colour, object colour, shape, size,
  position, rotation, stripe angle and period. Continuous values are predicted as bins (a softmax over
  quantised values, as in PixelCNN) and dequantised uniformly within the bin: 40 for size and position,
  16 for rotation, 8 for the stripes' angle and period (with 16 position bins, some straddling a
  caption's cell boundary, prompts' position cells were drawn 72.0 % of the time; with 40, 96.0 %; real
  renders 98.0 %, `darkroom bench text --quick`). Each step sees what was drawn before, so "an object visible on its background" and "a large object stays inside the image"
  are learned, not coded. Trained by maximum likelihood on the parameters the data records.
- **Sprites placed by a spatial transformer** (LR-GAN, Yang et al. 2017; DTI-Sprites, Monnier et al. 2021).
  Each shape is a learned prototype mask in a canonical frame, warped into place by the layout's position,
  size and rotation (``affine_grid``-style sampling), filled with a learned palette colour and composited
  over a background. The background is a per-pixel network on positional (Fourier) features of the
  layout's stripe angle and period, plus one uniform noise channel (CPPN- or NeRF-style coordinate
  network). The prototypes, palette and background network learn from pixels alone (L1 between the
  drawing of a training scene's recorded layout and the scene); nobody tells them what a star looks like.
  In training the noise channel is the one the scene was rendered with (its recorded seed), in sampling
  fresh uniform noise. What is built in, not learned: the warp (position, radius, rotation as the scenes
  renderer defines them), the compositing of one object over a background, and the Fourier inputs.

The renderer is resolution-free: a model trained on 32 px scenes draws at ``render_size`` (64 by default).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.captions import attribute_indices
from darkroom.data.scenes import BACKGROUNDS, COLORS, SHAPES, SIZE_RANGE

COLOR_NAMES = tuple(COLORS)
EXTENT = 1.6  # the prototype's canonical frame covers [-1.6, 1.6]^2 of a unit-radius object
PERIOD_RANGE = (4.0, 10.0)  # stripe and checker period, pixels at 32 px (the renderer scales it with size)
# (name, classes) for categories, (name, (low, high, bins)) for continuous values, in drawing order.
LAYOUT = (
    ("background", BACKGROUNDS),
    ("bg_color", COLOR_NAMES),
    ("color", COLOR_NAMES),
    ("shape", SHAPES),
    ("size", (SIZE_RANGE[0], SIZE_RANGE[1], 40)),
    ("x", (0.0, 1.0, 40)),
    ("y", (0.0, 1.0, 40)),
    ("rotation", (0.0, 360.0, 16)),
    ("bg_angle", (0.0, 180.0, 8)),
    ("bg_period", (*PERIOD_RANGE, 8)),
)
FOURIER = 4  # harmonics of the stripe and checker phases the background network sees


def _classes(spec) -> int:
    return spec[2] if isinstance(spec[0], float) else len(spec)


def _width(spec) -> int:
    """How many numbers a drawn value takes in the layout model's input (one-hot, or a scalar in [0, 1])."""
    return 1 if isinstance(spec[0], float) else len(spec)


def layout_of(params: dict) -> list[float]:
    """A scene's recorded parameters (``SceneParams.to_dict()``) as LAYOUT values: class indices for
    categories, numbers for continuous values (the period in 32 px units)."""
    main = params["objects"][0]
    return [
        BACKGROUNDS.index(params["background"]),
        COLOR_NAMES.index(params["bg_color_name"]),
        COLOR_NAMES.index(main["color_name"]),
        SHAPES.index(main["shape"]),
        main["size"],
        main["x"],
        main["y"],
        main["rotation"] % 360.0,
        params["bg_angle"] % 180.0,
        params["bg_period"] * 32 / params["image_size"],
    ]


@dataclass(frozen=True)
class SpritesConfig:
    channels: int = 0
    image_size: int = 0  # the training data's size
    num_classes: int = 0
    render_size: int = 64  # the size samples are drawn at (0: image_size)
    hidden: int = 256  # layout model width
    prototype: int = 64  # prototype mask resolution
    bg_hidden: int = 64  # background network width
    layout_weight: float = 0.05  # the layout's cross-entropy (nats per value) against the L1 per pixel
    held_out: str = ""  # textsprites: "red star; blue heart" (combinations dropped from training)
    encoder: str = "minilm"  # textsprites: minilm (pretrained, frozen), bow (hashed words and word pairs) or both
    drop_background: float = 0.0  # textsprites: chance a training caption loses its background clause

    def check(self):
        if self.channels and self.channels != 3:
            raise ValueError("sprites draws colour scenes: train on scenes data (3 channels)")
        if self.encoder not in ("minilm", "bow", "both"):
            raise ValueError(f"encoder must be minilm, bow or both, got {self.encoder!r}")
        if not 0 <= self.drop_background < 1:
            raise ValueError(f"drop_background must be in [0, 1), got {self.drop_background}")
        if self.render_size < 0 or self.render_size and self.render_size < 8:
            raise ValueError(f"render_size must be >= 8, got {self.render_size}")
        from darkroom.models.textgan import parse_held_out

        parse_held_out(self.held_out)


class LayoutModel(nn.Module):
    """condition (B, cond_dim) -> one LAYOUT value after another, each given the condition and the values
    before it."""

    def __init__(self, cond_dim: int, hidden: int):
        super().__init__()
        self.widths = [_width(spec) for _, spec in LAYOUT]
        total = sum(self.widths)
        self.trunk = nn.Sequential(nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden + total, hidden), nn.ReLU(), nn.Linear(hidden, _classes(spec)))
            for _, spec in LAYOUT
        )

    @staticmethod
    def _encode(k: int, value: torch.Tensor) -> torch.Tensor:
        spec = LAYOUT[k][1]
        if isinstance(spec[0], float):
            return ((value - spec[0]) / (spec[1] - spec[0])).unsqueeze(1)
        return F.one_hot(value.long(), len(spec)).float()

    @staticmethod
    def _target(k: int, value: torch.Tensor) -> torch.Tensor:
        spec = LAYOUT[k][1]
        if isinstance(spec[0], float):
            low, high, bins = spec
            return ((value - low) / (high - low) * bins).long().clamp(0, bins - 1)
        return value.long()

    def _logits(self, h: torch.Tensor, drawn: list[torch.Tensor], k: int) -> torch.Tensor:
        parts = drawn + [h.new_zeros(len(h), w) for w in self.widths[len(drawn) :]]
        return self.heads[k](torch.cat([h, *parts], 1))

    def nll(self, cond: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per value (teacher forcing) of (B, len(LAYOUT)) values."""
        h, drawn, total = self.trunk(cond), [], 0.0
        for k in range(len(LAYOUT)):
            total = total + F.cross_entropy(self._logits(h, drawn, k), self._target(k, values[:, k]))
            drawn.append(self._encode(k, values[:, k]))
        return total / len(LAYOUT)

    def sample(self, cond: torch.Tensor, temperature: float = 1.0, generator=None) -> torch.Tensor:
        h, drawn, out = self.trunk(cond), [], []
        for k, (_, spec) in enumerate(LAYOUT):
            probs = F.softmax(self._logits(h, drawn, k) / temperature, 1)
            index = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(h.device)
            if isinstance(spec[0], float):
                low, high, bins = spec
                jitter = torch.rand(len(index), generator=generator).to(h.device)
                value = low + (index.float() + jitter) * (high - low) / bins
            else:
                value = index.float()
            out.append(value)
            drawn.append(self._encode(k, value))
        return torch.stack(out, 1)


class SpriteRenderer(nn.Module):
    """LAYOUT values (B, len(LAYOUT)) [+ the background's noise channel] -> images (B, 3, S, S) in [0, 1]."""

    def __init__(self, prototype: int, hidden: int):
        super().__init__()
        axis = torch.linspace(-EXTENT, EXTENT, prototype)
        radius = torch.sqrt(axis[None, :] ** 2 + axis[:, None] ** 2)
        # Every prototype starts as the unit disk (logit 4 inside, -4 outside): the data shapes them.
        self.prototypes = nn.Parameter(((1 - radius) * 8).clamp(-4, 4).expand(len(SHAPES), 1, -1, -1).clone())
        self.palette = nn.Parameter(torch.zeros(len(COLOR_NAMES), 3))  # logits of RGB
        self.bg_embed = nn.Embedding(len(COLOR_NAMES), 8)
        features = 6 * FOURIER + 2 + len(BACKGROUNDS) + 3 + 8
        self.background = nn.Sequential(
            nn.Conv2d(features, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, 3, 1),
        )

    def colors(self) -> torch.Tensor:
        return torch.sigmoid(self.palette)

    def masks(self, layout: torch.Tensor, size: int) -> torch.Tensor:
        """The object's coverage (B, 1, S, S): its prototype warped to the layout's place, size and angle."""
        shape, radius, cx, cy, rotation = (layout[:, i] for i in (3, 4, 5, 6, 7))
        centres = (torch.arange(size, device=layout.device, dtype=layout.dtype) + 0.5) / size
        dx = centres[None, None, :] - cx[:, None, None]  # (B, 1, S): right
        dy = cy[:, None, None] - centres[None, :, None]  # (B, S, 1): up
        theta = torch.deg2rad(rotation)[:, None, None]
        c, s, r = torch.cos(theta), torch.sin(theta), radius[:, None, None]
        u, v = (c * dx + s * dy) / r, (c * dy - s * dx) / r
        grid = torch.stack(torch.broadcast_tensors(u, v), -1) / EXTENT  # (B, S, S, 2): x = u, y = v
        protos = torch.sigmoid(self.prototypes)[shape.long()]
        return F.grid_sample(protos, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def backgrounds(self, layout: torch.Tensor, size: int, noise: torch.Tensor) -> torch.Tensor:
        kind, bg_color, angle, period = layout[:, 0].long(), layout[:, 1].long(), layout[:, 8], layout[:, 9]
        pixels = torch.arange(size, device=layout.device, dtype=layout.dtype) + 0.5
        ys, xs = pixels[None, :, None].expand(1, size, size), pixels[None, None, :].expand(1, size, size)
        a = torch.deg2rad(angle)[:, None, None]
        along = xs * torch.cos(a) + ys * torch.sin(a)  # (B, S, S), pixels
        p = (period * size / 32)[:, None, None]
        waves = []
        for t in (along, xs.expand_as(along), ys.expand_as(along)):
            for k in range(1, FOURIER + 1):
                phase = 2 * math.pi * k * t / p
                waves += [torch.sin(phase), torch.cos(phase)]
        low, high = along.amin((1, 2), keepdim=True), along.amax((1, 2), keepdim=True)
        ramp = (along - low) / (high - low).clamp(min=1e-6)
        per_image = torch.cat(
            [F.one_hot(kind, len(BACKGROUNDS)).float(), self.colors()[bg_color], self.bg_embed(bg_color)], 1
        )
        inputs = torch.cat(
            [torch.stack(waves + [ramp], 1), noise, per_image[:, :, None, None].expand(-1, -1, size, size)], 1
        )
        return torch.sigmoid(self.background(inputs))

    def layers(self, layout: torch.Tensor, size: int, noise: torch.Tensor | None = None):
        """(background (B, 3, S, S), object coverage (B, 1, S, S), object colour (B, 3, 1, 1))."""
        if noise is None:  # the background's random channel: uniform, as the scenes renderer draws its noise
            noise = torch.rand(len(layout), 1, size, size, device=layout.device)
        fill = self.colors()[layout[:, 2].long()][:, :, None, None]
        return self.backgrounds(layout, size, noise), self.masks(layout, size), fill

    def forward(self, layout: torch.Tensor, size: int, noise: torch.Tensor | None = None) -> torch.Tensor:
        background, mask, fill = self.layers(layout, size, noise)
        return background * (1 - mask) + fill * mask


BOW_BUCKETS = 4096
BACKGROUND_CLAUSE = (" on a ", " against a ", " over ")  # how the caption generator starts one


def without_background(caption: str) -> str:
    """A scenes caption cut before its background clause ("a red star at the top on a plain blue
    background" -> "a red star at the top"): the layout model learns what to draw where a prompt is silent
    (a background the object shows on)."""
    cuts = [caption.find(w) for w in BACKGROUND_CLAUSE if w in caption]
    return caption[: min(cuts)] if cuts else caption


def bag_of_words(texts: list[str]) -> torch.Tensor:
    """The ablation's text features: counts of lower-case words and adjacent word pairs, hashed into
    BOW_BUCKETS (the hashing trick, Weinberger et al. 2009), (B, BOW_BUCKETS). What they mean is learned
    from scratch by the layout model; a word never seen in training is a bucket it never learned."""
    out = torch.zeros(len(texts), BOW_BUCKETS)
    for row, text in enumerate(texts):
        words = re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower())
        for gram in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
            out[row, zlib.crc32(gram.encode()) % BOW_BUCKETS] += 1
    return out


def noise_channels(batch: dict, size: int) -> torch.Tensor:
    """The noise each training scene's background was drawn with (its recorded seed), else uniform."""
    out = []
    for p in batch["params"]:
        rng = np.random.default_rng(p["noise_seed"])
        out.append(torch.from_numpy(rng.random((size, size), dtype=np.float32)))
    return torch.stack(out)[:, None]


class Sprites(nn.Module):
    """Class-conditional scenes generator (label = the main object's shape): layout model + sprite renderer."""

    Config = SpritesConfig
    conditional = True
    text_conditioned = False
    train_defaults = {"lr": 2e-3, "batch_size": 64, "grad_clip": 0.0}
    cond_dim = len(SHAPES)

    def __init__(self, config: SpritesConfig):
        super().__init__()
        self.config = c = config
        if not self.text_conditioned and c.num_classes not in (0, len(SHAPES)):
            raise ValueError(f"sprites is conditioned on the {len(SHAPES)} scenes shapes, data gives {c.num_classes}")
        self.layout = LayoutModel(self.cond_dim, c.hidden)
        self.renderer = SpriteRenderer(c.prototype, c.bg_hidden)

    @property
    def size(self) -> int:
        return self.config.render_size or self.config.image_size

    def prepare_data(self, dataset, print_fn=print) -> None:
        """The trainer calls this first: sprites learns from the parameters scenes data records."""
        if not hasattr(dataset, "caption_of"):
            raise ValueError(
                f"{type(self).__name__.lower()} learns scenes layouts: use a scenes spec, e.g. scenes:objects=1"
            )
        if getattr(dataset, "objects", 1) != 1 and not getattr(self, "_said_objects", False):
            self._said_objects = True  # the train and the val split: said once
            print_fn(
                "warning: sprites draws one object a scene; a second object is left to the pixel loss (use objects=1)"
            )

    def conditions(self, batch: dict) -> torch.Tensor:
        return F.one_hot(torch.as_tensor(batch["label"]).long(), len(SHAPES)).float()

    def _kept(self, batch: dict) -> torch.Tensor:
        return torch.ones(len(batch["params"]), dtype=torch.bool)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        keep = self._kept(batch)
        device = batch["image"].device
        real = batch["image"][keep.to(device)]
        size = real.shape[-1]
        kept = keep.tolist()
        sub = {key: [v for v, k in zip(batch[key], kept) if k] for key in ("params", "caption") if key in batch}
        sub["label"] = torch.as_tensor(batch["label"])[keep]
        layout = torch.tensor([layout_of(p) for p in sub["params"]], device=device)
        cond = self.conditions(sub)
        drawn = self.renderer(layout, size, noise_channels(sub, size).to(device))
        l1 = (drawn - real).abs().mean()
        nll = self.layout.nll(cond.to(device), layout)
        return {"loss": l1 + self.config.layout_weight * nll, "l1": l1.detach(), "layout_nll": nll.detach()}

    def _sample(self, cond: torch.Tensor, truncation: float, generator) -> torch.Tensor:
        if not 0 < truncation <= 1:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        layout = self.layout.sample(cond, truncation, generator)
        noise = torch.rand(len(cond), 1, self.size, self.size, generator=generator).to(cond.device)
        return self.renderer(layout, self.size, noise)

    @torch.no_grad()
    def sample(self, n: int, labels=None, truncation: float = 1.0, generator: torch.Generator | None = None):
        if labels is None:
            raise ValueError("this class-conditional model needs --label")
        labels = torch.as_tensor(labels).long().reshape(-1)
        labels = labels.expand(n) if labels.numel() == 1 else labels
        if labels.min() < 0 or labels.max() >= len(SHAPES):
            raise ValueError(f"label out of range: this model knows labels 0..{len(SHAPES) - 1}")
        device = self.renderer.palette.device
        return self._sample(F.one_hot(labels, len(SHAPES)).float().to(device), truncation, generator)

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        labels = torch.as_tensor(batch["label"])[:16]
        return self.sample(len(labels), labels, generator=torch.Generator().manual_seed(0))


class TextSprites(Sprites):
    """Text-to-image on scenes captions: a prompt's sentence embedding -> layout -> sprite renderer."""

    conditional = False
    text_conditioned = True

    def __init__(self, config: SpritesConfig):
        from darkroom.models.text import EMBED_DIM
        from darkroom.models.textgan import parse_held_out

        self.cond_dim = {"bow": BOW_BUCKETS, "minilm": EMBED_DIM, "both": EMBED_DIM + BOW_BUCKETS}[config.encoder]
        super().__init__(config)
        self.held_out = parse_held_out(config.held_out)

    def embed(self, texts: list[str]) -> torch.Tensor:
        from darkroom.models.text import TextEncoder

        parts = []
        if self.config.encoder in ("minilm", "both"):
            parts.append(TextEncoder.shared()(list(texts)))
        if self.config.encoder in ("bow", "both"):
            parts.append(bag_of_words(list(texts)))
        return torch.cat(parts, 1)

    def prepare_data(self, dataset, print_fn=print) -> None:
        """Encode every caption of a scenes dataset once before training (the trainer calls this)."""
        from darkroom.models.text import TextEncoder

        super().prepare_data(dataset, print_fn)
        if self.config.encoder != "bow":
            captions = [dataset.caption_of(i) for i in range(len(dataset))]
            if self.config.drop_background:
                captions += [without_background(c) for c in captions]
            TextEncoder.shared().warm(captions, print_fn)

    def _kept(self, batch: dict) -> torch.Tensor:
        from darkroom.models.textgan import held_out_mask

        targets = torch.tensor([attribute_indices(p) for p in batch["params"]])
        return held_out_mask(self.held_out, targets)

    def conditions(self, batch: dict) -> torch.Tensor:
        captions = list(batch["caption"])
        if self.training and self.config.drop_background:  # prompts that leave the background open
            drop = torch.rand(len(captions)) < self.config.drop_background
            captions = [without_background(c) if d else c for c, d in zip(captions, drop.tolist())]
        return self.embed(captions)

    @torch.no_grad()
    def sample(self, n: int, prompts, truncation: float = 1.0, generator: torch.Generator | None = None):
        """``n`` images of one prompt, or one image per prompt of a list of ``n``."""
        prompts = [prompts] * n if isinstance(prompts, str) else list(prompts)
        if len(prompts) != n:
            raise ValueError(f"{len(prompts)} prompts for {n} images")
        device = self.renderer.palette.device
        return self._sample(self.embed(prompts).to(device), truncation, generator)

    @torch.no_grad()
    def sample_object(self, n: int, prompt: str, size: int, truncation: float = 1.0, generator=None):
        """``n`` drawings of a prompt's object alone at ``size``: (coverage (n, 1, S, S), colour (n, 3, 1, 1)),
        for drawing it over another image (``darkroom edit text``)."""
        device = self.renderer.palette.device
        layout = self.layout.sample(self.embed([prompt] * n).to(device), truncation, generator)
        return self.renderer.masks(layout, size), self.renderer.colors()[layout[:, 2].long()][:, :, None, None]

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        captions = batch["caption"][:16]
        return self.sample(len(captions), captions, generator=torch.Generator().manual_seed(0))
