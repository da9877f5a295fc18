"""Photo autoencoders with a spatial latent, the kind of decoder latent-diffusion generators end in.

``photoae`` squeezes a photo into a latent ``factor`` times smaller in each direction (``latent`` channels)
and draws every output pixel back from it with the chosen upsampler. Trained briefly with different
switches, they make a zoo of decoders whose outputs teach the generated-image detector what "drawn by a
network" looks like beyond darkroom's own restorers (``experiments/make_generated_set.py --autoencoders DIR``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.models.restore import psnr_tensor
from darkroom.nn.blocks import activation
from darkroom.nn.gan import UPSAMPLERS, UpStage


@dataclass(frozen=True)
class PhotoAEConfig:
    channels: int = 0
    image_size: int = 0
    factor: int = 4  # 2, 4 or 8: the latent is this many times smaller in each direction
    latent: int = 8  # latent channels
    width: int = 32
    upsample: str = "nearest"  # transposed, nearest, bilinear, pixelshuffle
    activation: str = "relu"
    convs: int = 2  # convolutions per decoder stage (the first one upsamples)

    def check(self):
        if self.factor not in (2, 4, 8):
            raise ValueError(f"photoae: factor must be 2, 4 or 8, got {self.factor}")
        if self.upsample not in UPSAMPLERS:
            raise ValueError(f"photoae: upsample must be one of {', '.join(UPSAMPLERS)}, got {self.upsample!r}")
        if self.latent < 1 or self.width < 1 or self.convs < 1:
            raise ValueError("photoae: latent, width and convs must be >= 1")
        if self.image_size and self.image_size % self.factor:
            raise ValueError(f"photoae: the image size ({self.image_size}) must be divisible by factor {self.factor}")


class PhotoAutoencoder(nn.Module):
    """Photo -> spatial latent ``factor`` times smaller -> photo redrawn by the decoder's upsamplers.

    (B, C, H, W) in [0, 1] -> latent (B, latent, H/factor, W/factor) -> (B, C, H, W); H and W must be
    divisible by ``factor``."""

    Config = PhotoAEConfig
    train_defaults = {"lr": 1e-3, "batch_size": 16, "schedule": "cosine"}

    def __init__(self, config: PhotoAEConfig):
        super().__init__()
        self.config = c = config
        stages = int(math.log2(c.factor))
        down = [nn.Conv2d(c.channels, c.width, 3, padding=1), activation(c.activation)]
        for _ in range(stages):
            down += [nn.Conv2d(c.width, c.width, 4, 2, 1), activation(c.activation)]
        self.encoder = nn.Sequential(*down, nn.Conv2d(c.width, c.latent, 1))
        self.lift = nn.Sequential(nn.Conv2d(c.latent, c.width, 3, padding=1), activation(c.activation))
        self.stages = nn.ModuleList(
            UpStage(c.width, c.width, c.upsample, "none", c.activation, convs=c.convs) for _ in range(stages)
        )
        self.out = nn.Conv2d(c.width, c.channels, 3, padding=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * 2 - 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.lift(z)
        for stage in self.stages:
            h = stage(h)
        return (self.out(h) + 1) / 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.config.factor
        if x.shape[-2] % f or x.shape[-1] % f:
            raise ValueError(f"photoae: height and width must be divisible by {f}, got {tuple(x.shape[-2:])}")
        return self.decode(self.encode(x))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["image"]
        out = self(x)
        return {"loss": F.l1_loss(out, x), "psnr": psnr_tensor(out.detach(), x)}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        x = batch["image"][:8]
        return torch.stack([x, self(x).clamp(0, 1)], 1).flatten(0, 1)
