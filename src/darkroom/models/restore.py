"""Restoration models trained on clean photo patches; each makes its own degraded input with the data
layer's degradations, so ``darkroom train denoise --data photos:DIR`` needs nothing else.

- ``denoise``: FFDNet-style blind Gaussian denoiser. It works at half resolution (pixel-unshuffle), takes a
  noise-level map as an extra channel and predicts the noise. ``model(noisy, sigma)`` with sigma on the
  0-255 scale; under 1M parameters.
- ``sr``: ESPCN-class super-resolution for bicubic-downscaled images: a few convolutions and a pixel
  shuffle, added to the bicubic upscale. ``model(small)`` -> (B, C, H*scale, W*scale); under 150k parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data import degrade


def psnr_tensor(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of a batch against its reference, both in [0, 1] (a is clamped first)."""
    return -10 * torch.log10(F.mse_loss(a.clamp(0, 1), b).clamp_min(1e-10))


def random_dihedral(x: torch.Tensor, square: bool | None = None) -> torch.Tensor:
    """Each image of (B, C, H, W) flipped and rotated by a random multiple of 90 degrees (rotations by
    90 or 270 only when H == W), with the global torch RNG: training-time augmentation."""
    square = x.shape[-1] == x.shape[-2] if square is None else square
    choice = torch.randint(0, 8 if square else 4, (len(x),))
    out = torch.where((choice % 2 == 1).view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
    out = torch.where(((choice // 2) % 2 == 1).view(-1, 1, 1, 1).to(x.device), out.flip(-2), out)
    if square:
        out = torch.where((choice >= 4).view(-1, 1, 1, 1).to(x.device), out.transpose(-1, -2), out)
    return out


@dataclass(frozen=True)
class DenoiseConfig:
    channels: int = 0
    image_size: int = 0
    width: int = 64
    depth: int = 10
    max_sigma: float = 55.0  # training noise levels are uniform in [0, max_sigma]

    def check(self):
        if self.depth < 2 or self.width < 1 or self.max_sigma <= 0:
            raise ValueError("depth must be >= 2, width >= 1 and max_sigma > 0")


class ResidualPair(nn.Module):
    """x + BN(conv(ReLU(BN(conv(x))))), then ReLU; the last BN starts at zero so the pair starts as identity."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        nn.init.zeros_(self.body[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class Denoiser(nn.Module):
    """FFDNet-style denoiser: (B, C, H, W) noisy in [0, 1] + sigma (0-255: one per image, or a (B, 1, H, W)
    map) -> (B, C, H, W) estimate."""

    Config = DenoiseConfig
    train_defaults = {"lr": 1e-3, "batch_size": 32}

    def __init__(self, config: DenoiseConfig):
        super().__init__()
        self.config = c = config
        layers = [nn.Conv2d(4 * c.channels + 1, c.width, 3, padding=1), nn.ReLU(True)]
        # Residual pairs rather than FFDNet's plain stack: a plain stack of 10 layers gained 0.2 dB in its
        # first 100 CPU steps where 4 layers gained 3.9; skips let every layer learn from the start.
        layers += [ResidualPair(c.width) for _ in range((c.depth - 2) // 2)]
        layers.append(nn.Conv2d(c.width, 4 * c.channels, 3, padding=1))
        # Start as the identity: with a random last layer the network first learns to silence its own
        # output and stalls there, predicting no noise at all.
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
        self.body = nn.Sequential(*layers)

    def forward(self, noisy: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
        b, _, h, w = noisy.shape
        pad_h, pad_w = h % 2, w % 2
        x = F.pad(noisy, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else noisy
        sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
        half = F.pixel_unshuffle(x, 2)
        if sigma.dim() == 4:  # a per-pixel (B, 1, H, W) map, as the burst restorer reads
            sigma = F.pad(sigma, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else sigma
            level = F.avg_pool2d(sigma, 2) / 255.0
        else:
            level = (sigma.reshape(-1, 1, 1, 1).expand(b, 1, 1, 1) / 255.0).expand(b, 1, half.shape[2], half.shape[3])
        noise = F.pixel_shuffle(self.body(torch.cat([half, level], 1)), 2)
        return (x - noise)[:, :, :h, :w]

    def _noisy(self, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sigma = torch.rand(len(clean), device=clean.device) * self.config.max_sigma
        noisy = (clean + torch.randn_like(clean) * (sigma / 255).view(-1, 1, 1, 1)).clamp(0, 1)  # 8-bit images clip
        return noisy, sigma

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        clean = random_dihedral(batch["image"]) if self.training else batch["image"]
        noisy, sigma = self._noisy(clean)
        restored = self(noisy, sigma)
        return {
            "loss": F.mse_loss(restored, clean),
            "psnr": psnr_tensor(restored.detach(), clean),
            "psnr_noisy": psnr_tensor(noisy, clean),
        }

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        clean = batch["image"][:6]
        noisy = (clean + torch.randn_like(clean) * 25 / 255).clamp(0, 1)
        return torch.stack([noisy, self(noisy, 25.0).clamp(0, 1), clean], 1).flatten(0, 1)


@dataclass(frozen=True)
class SRConfig:
    channels: int = 0
    image_size: int = 0
    scale: int = 2
    width: int = 64
    arch: str = "espcn"  # espcn (3 convolutions) or edsr (residual blocks, no normalisation)
    blocks: int = 8  # residual blocks (edsr)
    loss: str = "l1"  # or "mse", the error PSNR measures (a fine-tuning stage after L1, as EDSR does)

    def check(self):
        if self.loss not in ("l1", "mse"):
            raise ValueError(f"sr: loss must be l1 or mse, got {self.loss!r}")
        if self.arch not in ("espcn", "edsr") or self.blocks < 1:
            raise ValueError(f"arch must be espcn or edsr and blocks >= 1, got {self.arch!r}, {self.blocks}")
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, got {self.scale}")
        if self.image_size and self.image_size % self.scale:
            raise ValueError(f"patch size {self.image_size} is not divisible by scale {self.scale}")


class EDSRBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(True), nn.Conv2d(width, width, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.body(x)


class SuperResolution(nn.Module):
    """SR of bicubic-downscaled images: (B, C, h, w) in [0, 1] -> (B, C, h*scale, w*scale) = bicubic +
    learned detail, from ESPCN's three convolutions or an EDSR-style stack of residual blocks."""

    Config = SRConfig
    train_defaults = {"lr": 1e-3, "batch_size": 32}

    def __init__(self, config: SRConfig):
        super().__init__()
        self.config = c = config
        if c.arch == "edsr":
            self.body = nn.Sequential(
                nn.Conv2d(c.channels, c.width, 3, padding=1),
                *[EDSRBlock(c.width) for _ in range(c.blocks)],
                nn.Conv2d(c.width, c.channels * c.scale**2, 3, padding=1),
                nn.PixelShuffle(c.scale),
            )
            nn.init.zeros_(self.body[-2].weight)  # start as bicubic
            nn.init.zeros_(self.body[-2].bias)
            return
        self.body = nn.Sequential(
            nn.Conv2d(c.channels, c.width, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(c.width, c.width // 2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(c.width // 2, c.width // 2, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(c.width // 2, c.channels * c.scale**2, 3, padding=1),
            nn.PixelShuffle(c.scale),
        )

    def upscale_bicubic(self, small: torch.Tensor) -> torch.Tensor:
        return F.interpolate(small, scale_factor=self.config.scale, mode="bicubic", align_corners=False)

    def forward(self, small: torch.Tensor) -> torch.Tensor:
        return self.upscale_bicubic(small) + self.body(small * 2 - 1)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        sharp = random_dihedral(batch["image"]) if self.training else batch["image"]
        small, _ = degrade.downscale(sharp, self.config.scale)
        pred = self(small)
        error = F.mse_loss if self.config.loss == "mse" else F.l1_loss
        return {
            "loss": error(pred, sharp),
            "psnr": psnr_tensor(pred.detach(), sharp),
            "psnr_bicubic": psnr_tensor(self.upscale_bicubic(small), sharp),
        }

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        sharp = batch["image"][:6]
        small, _ = degrade.downscale(sharp, self.config.scale)
        return torch.stack([self.upscale_bicubic(small).clamp(0, 1), self(small).clamp(0, 1), sharp], 1).flatten(0, 1)
