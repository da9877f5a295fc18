"""A small ResNet encoder (CIFAR-style stem, for 32-128 px images) and GeM pooling."""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class SmallResNet(nn.Module):
    """CIFAR-style ResNet: 3x3 stem (stride ``stem_stride``: 1, 2, or 4 = stride 2 + max-pool as in ResNet-18), then ``stages`` stages of two basic blocks (each stage after the
    first halves the size and doubles the width). (B, C, H, W) -> (B, width * 2**(stages-1), H', W')."""

    def __init__(self, cin: int, width: int, stages: int, stem_stride: int = 1):
        super().__init__()
        widths = [width * 2**i for i in range(stages)]
        if stem_stride not in (1, 2, 4):
            raise ValueError(f"stem_stride must be 1, 2 or 4, got {stem_stride}")
        layers = [nn.Conv2d(cin, width, 3, min(stem_stride, 2), 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        if stem_stride == 4:
            layers.append(nn.MaxPool2d(3, 2, 1))
        for i, w in enumerate(widths):
            layers += [BasicBlock(widths[max(i - 1, 0)], w, 1 if i == 0 else 2), BasicBlock(w, w, 1)]
        self.body = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GeM(nn.Module):
    """Generalised-mean pooling (Radenovic et al.): (B, C, H, W) -> (B, C); p = 1 is average pooling."""

    def __init__(self, p: float = 3.0):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(1e-6).pow(self.p).mean((-2, -1)).pow(1.0 / self.p)
