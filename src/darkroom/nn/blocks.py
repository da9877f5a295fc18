"""Small convolutional building blocks shared by darkroom's models."""

from __future__ import annotations

from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose batch, instance, group or none")


def activation(kind: str) -> nn.Module:
    layers = {"relu": nn.ReLU, "lrelu": lambda: nn.LeakyReLU(0.2), "silu": nn.SiLU, "gelu": nn.GELU}
    if kind not in layers:
        raise ValueError(f"unknown activation {kind!r}; choose {', '.join(layers)}")
    return layers[kind]()


class ConvBlock(nn.Sequential):
    """3x3 conv -> norm -> activation, keeping the spatial size (or halving it with stride 2)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, norm: str = "group", act: str = "silu"):
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=norm == "none"), norm_layer(norm, cout), activation(act)
        )


class DownBlock(nn.Sequential):
    """Halve H and W: strided conv block, then a conv block. (B, cin, H, W) -> (B, cout, H/2, W/2)."""

    def __init__(self, cin: int, cout: int, norm: str = "group", act: str = "silu"):
        super().__init__(ConvBlock(cin, cout, 2, norm, act), ConvBlock(cout, cout, 1, norm, act))


class UpBlock(nn.Sequential):
    """Double H and W: nearest upsampling then two conv blocks (no checkerboard artefacts)."""

    def __init__(self, cin: int, cout: int, norm: str = "group", act: str = "silu"):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            ConvBlock(cin, cout, 1, norm, act),
            ConvBlock(cout, cout, 1, norm, act),
        )
