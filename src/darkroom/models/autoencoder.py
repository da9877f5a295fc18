"""A small convolutional autoencoder: the reference model that tests the trainer end to end."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.nn.convnets import ConvDecoder, ConvEncoder


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
        if self.image_size and self.image_size % 2**self.downsamples:
            raise ValueError(f"image_size {self.image_size} is not divisible by 2**downsamples ({2**self.downsamples})")


class Autoencoder(nn.Module):
    """Convolutional autoencoder: (B, C, H, W) in [0, 1] -> latent (B, latent_dim) -> reconstruction."""

    Config = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = c = config
        self.encoder = ConvEncoder(c.channels, c.image_size, c.width, c.downsamples, c.latent_dim)
        self.decoder = ConvDecoder(c.latent_dim, c.channels, c.image_size, c.width, c.downsamples)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

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
