"""A small convolutional autoencoder: the reference model that tests the trainer end to end."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.nn import ConvBlock, DownBlock, UpBlock


@dataclass(frozen=True)
class AutoencoderConfig:
    channels: int = 0  # 0: taken from the data
    image_size: int = 0  # 0: taken from the data
    width: int = 32  # channels after the stem; doubled at each down-sampling
    latent_dim: int = 64
    downsamples: int = 3
    loss: str = "mse"  # mse or l1

    def check(self):
        if self.loss not in ("mse", "l1"):
            raise ValueError(f"loss must be mse or l1, got {self.loss!r}")
        if self.width < 1 or self.latent_dim < 1 or self.downsamples < 1:
            raise ValueError("width, latent_dim and downsamples must be positive")
        if self.image_size and self.image_size % 2 ** self.downsamples:
            raise ValueError(f"image_size {self.image_size} is not divisible by 2**downsamples "
                             f"({2 ** self.downsamples})")


class Autoencoder(nn.Module):
    """Convolutional autoencoder: (B, C, H, W) in [0, 1] -> latent (B, latent_dim) -> reconstruction."""

    Config = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = c = config
        widths = [c.width * 2 ** i for i in range(c.downsamples + 1)]
        self.bottom = c.image_size // 2 ** c.downsamples
        self.encoder = nn.Sequential(
            ConvBlock(c.channels, widths[0]), *[DownBlock(a, b) for a, b in zip(widths, widths[1:])],
            nn.Flatten(), nn.Linear(widths[-1] * self.bottom ** 2, c.latent_dim))
        self.expand = nn.Linear(c.latent_dim, widths[-1] * self.bottom ** 2)
        self.decoder = nn.Sequential(
            *[UpBlock(a, b) for a, b in zip(widths[::-1], widths[::-1][1:])],
            nn.Conv2d(widths[0], c.channels, 3, padding=1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * 2 - 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.expand(z).view(z.shape[0], -1, self.bottom, self.bottom)
        return torch.sigmoid(self.decoder(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["image"]
        recon = self(x)
        err = F.mse_loss(recon, x) if self.config.loss == "mse" else F.l1_loss(recon, x)
        with torch.no_grad():
            psnr = -10 * torch.log10(F.mse_loss(recon, x).clamp_min(1e-10))
        return {"loss": err, "psnr": psnr}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        """Inputs and reconstructions interleaved, for the sample grid."""
        x = batch["image"][:8]
        return torch.stack([x, self(x)], 1).flatten(0, 1)

    @staticmethod
    def largest_downsamples(image_size: int) -> int:
        return max(1, int(math.log2(image_size)) - 2)
