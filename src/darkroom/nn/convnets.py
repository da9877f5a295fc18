"""Convolutional encoder and decoder between images and flat vectors, shared by the autoencoders."""

from __future__ import annotations

import torch
from torch import nn

from darkroom.nn.blocks import ConvBlock, DownBlock, UpBlock


def widths_for(width: int, levels: int, cap: int = 512) -> list[int]:
    return [min(cap, width * 2**i) for i in range(levels + 1)]


class ConvEncoder(nn.Module):
    """(B, C, S, S) in [0, 1] -> (B, features) after ``downsamples`` halvings."""

    def __init__(self, channels: int, image_size: int, width: int, downsamples: int, features: int, extra: int = 0):
        super().__init__()
        widths = widths_for(width, downsamples)
        bottom = image_size // 2**downsamples
        self.body = nn.Sequential(
            ConvBlock(channels, widths[0]), *[DownBlock(a, b) for a, b in zip(widths, widths[1:])], nn.Flatten()
        )
        self.head = nn.Linear(widths[-1] * bottom**2 + extra, features)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x * 2 - 1)
        return self.head(h if extra is None else torch.cat([h, extra], 1))


class ConvDecoder(nn.Module):
    """(B, latent) -> (B, C, S, S) logits (apply sigmoid for [0, 1])."""

    def __init__(self, latent: int, channels: int, image_size: int, width: int, upsamples: int):
        super().__init__()
        widths = widths_for(width, upsamples)[::-1]
        self.bottom, self.top_width = image_size // 2**upsamples, widths[0]
        self.expand = nn.Linear(latent, widths[0] * self.bottom**2)
        self.body = nn.Sequential(
            *[UpBlock(a, b) for a, b in zip(widths, widths[1:])], nn.Conv2d(widths[-1], channels, 3, padding=1)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.expand(z).view(z.shape[0], self.top_width, self.bottom, self.bottom))
