"""A U-Net for image-to-image restoration (inpainting, colorization): an encoder of strided blocks, a
bottleneck of dilated residual convolutions for a wide receptive field, and a decoder that concatenates
the encoder's features at each scale. No normalisation layers, so tiles and batch sizes do not change
the result.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.nn.blocks import ConvBlock, DownBlock


class DilatedResidual(nn.Module):
    """x + conv(act(conv_dilated(x))): keeps (B, C, H, W), sees ``dilation`` pixels further."""

    def __init__(self, width: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpStage(nn.Module):
    """Upsample (B, cin, h, w) by 2 (nearest), join the skip (B, cskip, 2h, 2w), two conv blocks -> cout."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(ConvBlock(cin + cskip, cout, norm="none"), ConvBlock(cout, cout, norm="none"))

    def forward(self, y: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), skip], 1))


def unet_widths(width: int, levels: int, cap: int) -> list[int]:
    return [min(width * 2**i, cap) for i in range(levels + 1)]


class UNetEncoder(nn.Module):
    """(B, cin, H, W) -> features at 1, 1/2, ..., 1/2**levels of the input size (deepest last)."""

    def __init__(self, cin: int, width: int = 32, levels: int = 3, cap: int = 128, dilations=(2, 4, 8)):
        super().__init__()
        widths = unet_widths(width, levels, cap)
        self.levels, self.widths = levels, widths
        self.stem = ConvBlock(cin, widths[0], norm="none")
        self.down = nn.ModuleList(DownBlock(a, b, norm="none") for a, b in zip(widths, widths[1:]))
        self.bottleneck = nn.Sequential(*[DilatedResidual(widths[-1], d) for d in dilations])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(feats[-1]))
        feats[-1] = self.bottleneck(feats[-1])
        return feats


class UNet(nn.Module):
    """(B, cin, H, W) -> (B, cout, H, W); any H, W (padded internally to a multiple of 2**levels)."""

    def __init__(self, cin: int, cout: int, width: int = 32, levels: int = 3, cap: int = 128):
        super().__init__()
        self.encoder = UNetEncoder(cin, width, levels, cap)
        widths = self.encoder.widths
        self.up = nn.ModuleList(UpStage(widths[i + 1], widths[i], widths[i]) for i in reversed(range(levels)))
        self.head = nn.Conv2d(widths[0], cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.encoder.levels
        pad_h, pad_w = -h % m, -w % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        feats = self.encoder(x)
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = block(y, skip)
        return self.head(y)[..., :h, :w]
