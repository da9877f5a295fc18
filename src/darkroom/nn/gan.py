"""Generator and discriminator networks: the textbook DCGAN pair and a configurable pair whose
switches (upsampling, normalisation, activation, spectral norm, class conditioning) are the
hyper-parameters darkroom's model-parsing work learns to recover."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from darkroom.nn.blocks import ConvBlock, DownBlock, activation

UPSAMPLERS = ("transposed", "nearest", "bilinear", "pixelshuffle")
G_NORMS = ("batch", "instance", "none")


def dcgan_init(module: nn.Module) -> None:
    """Weights ~ N(0, 0.02), BatchNorm scale ~ N(1, 0.02), as in Radford et al."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Sequential):
    """z (B, latent) -> (B, C, S, S) in [-1, 1]. For 32 px: 100 -> 256 -> 128 -> 64 -> C with 4x4
    transposed convolutions, BatchNorm and ReLU, tanh output; each doubling of S adds a layer."""

    def __init__(self, latent_dim: int, channels: int, image_size: int, width: int = 64):
        levels = int(math.log2(image_size)) - 2  # 4x4 -> S
        widths = [width * 2**i for i in reversed(range(levels))]  # 32 px: 256, 128, 64
        layers = [
            nn.Unflatten(1, (latent_dim, 1, 1)),
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        super().__init__(*layers)
        self.apply(dcgan_init)


class DCGANDiscriminator(nn.Sequential):
    """(B, C, S, S) in [-1, 1] -> logit (B,): strided 4x4 convolutions, BatchNorm, LeakyReLU(0.2)."""

    def __init__(self, channels: int, image_size: int, width: int = 64):
        levels = int(math.log2(image_size)) - 2
        widths = [width * 2**i for i in range(levels)]  # 32 px: 64, 128, 256
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Flatten(0)]
        super().__init__(*layers)
        self.apply(dcgan_init)


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose scale and shift come from a class embedding (Dumoulin et al., Miyato & Koyama), or,
    with ``cond_dim``, from a linear map of a continuous condition such as a text embedding (the affine
    text fusion of DF-GAN)."""

    def __init__(self, channels: int, num_classes: int = 0, cond_dim: int = 0):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        make = (lambda: nn.Linear(cond_dim, channels)) if cond_dim else (lambda: nn.Embedding(num_classes, channels))
        self.gain, self.bias = make(), make()
        if cond_dim:  # start as plain BatchNorm: gain 1, shift 0, whatever the condition
            for layer in (self.gain, self.bias):
                nn.init.zeros_(layer.weight)
            nn.init.ones_(self.gain.bias)
            nn.init.zeros_(self.bias.bias)
        else:
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.gain(labels)[..., None, None] + self.bias(labels)[..., None, None]


def _g_norm(kind: str, channels: int, num_classes: int, cond_dim: int = 0) -> nn.Module:
    if num_classes or cond_dim:
        return ConditionalBatchNorm(channels, num_classes, cond_dim)
    return {
        "batch": lambda: nn.BatchNorm2d(channels),
        "instance": lambda: nn.InstanceNorm2d(channels, affine=True),
        "none": nn.Identity,
    }[kind]()


class UpStage(nn.Module):
    """Double H and W with the chosen upsampler (which carries the stage's first conv), norm, activation;
    then ``convs - 1`` more 3x3 conv, norm, activation layers at the new size."""

    def __init__(
        self,
        cin: int,
        cout: int,
        upsample: str,
        norm: str,
        act: str,
        num_classes: int = 0,
        convs: int = 1,
        cond_dim: int = 0,
    ):
        super().__init__()
        if upsample == "transposed":
            self.up = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        elif upsample == "pixelshuffle":
            self.up = nn.Sequential(nn.Conv2d(cin, cout * 4, 3, padding=1), nn.PixelShuffle(2))
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode=upsample), nn.Conv2d(cin, cout, 3, padding=1))
        self.norm = _g_norm(norm, cout, num_classes, cond_dim)
        self.act = activation(act)
        self.convs = nn.ModuleList(nn.Conv2d(cout, cout, 3, padding=1) for _ in range(convs - 1))
        self.norms = nn.ModuleList(_g_norm(norm, cout, num_classes, cond_dim) for _ in range(convs - 1))

    @staticmethod
    def _normed(norm: nn.Module, h: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return norm(h, labels) if isinstance(norm, ConditionalBatchNorm) else norm(h)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.act(self._normed(self.norm, self.up(x), labels))
        for conv, norm in zip(self.convs, self.norms):
            h = self.act(self._normed(norm, conv(h), labels))
        return h


def _to_image(cin: int, channels: int, upsample: str) -> nn.Module:
    """The lean generator's last stage: double the size straight into the image's channels."""
    if upsample == "transposed":
        return nn.ConvTranspose2d(cin, channels, 4, 2, 1)
    if upsample == "pixelshuffle":
        return nn.Sequential(nn.Conv2d(cin, channels * 4, 3, padding=1), nn.PixelShuffle(2))
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=upsample), nn.Conv2d(cin, channels, 3, padding=1))


class Generator(nn.Module):
    """z (B, latent) [+ labels] -> (B, C, S, S) in [-1, 1]: linear to 4x4, then ``log2(S) - 2`` UpStages
    and a 3x3 conv to the image. ``lean``: the DCGAN layout instead, whose last upsampling goes straight
    to the image's channels, so no layer runs at full resolution with ``width`` channels (about half the
    compute at 32 px)."""

    def __init__(
        self,
        latent_dim: int,
        channels: int,
        image_size: int,
        width: int = 64,
        upsample: str = "nearest",
        norm: str = "batch",
        act: str = "relu",
        num_classes: int = 0,
        convs: int = 1,
        lean: bool = False,
        cond_dim: int = 0,
        label_input: bool = False,
    ):
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLERS)}, got {upsample!r}")
        if norm not in G_NORMS:
            raise ValueError(f"norm must be one of {', '.join(G_NORMS)}, got {norm!r}")
        levels = int(math.log2(image_size)) - 2
        widths = [width * 2**i for i in reversed(range(levels if lean else levels + 1))]
        self.top = widths[0]
        self.label_input = num_classes if label_input else 0  # the label, one-hot, beside z at the input too
        self.embed = nn.Linear(latent_dim + self.label_input, widths[0] * 16)
        self.stages = nn.ModuleList(
            UpStage(a, b, upsample, norm, act, num_classes, convs, cond_dim) for a, b in zip(widths, widths[1:])
        )
        self.out = (
            nn.Sequential(_to_image(widths[-1], channels, upsample), nn.Tanh())
            if lean
            else nn.Sequential(activation(act), nn.Conv2d(widths[-1], channels, 3, padding=1), nn.Tanh())
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_input:
            z = torch.cat([z, F.one_hot(labels, self.label_input).to(z.dtype)], 1)
        h = self.embed(z).view(z.shape[0], self.top, 4, 4)
        for stage in self.stages:
            h = stage(h, labels)
        return self.out(h)


class Discriminator(nn.Module):
    """(B, C, S, S) in [-1, 1] [+ labels] -> logit (B,); optional spectral norm and projection
    conditioning (Miyato & Koyama: logit += <embed(y), features>, or <W c, features> for a continuous
    condition of ``cond_dim``). ``lean``: no full-resolution 3x3 stem;
    the first layer already halves the size (the DCGAN layout)."""

    def __init__(
        self,
        channels: int,
        image_size: int,
        width: int = 64,
        spectral: bool = True,
        num_classes: int = 0,
        lean: bool = False,
        cond_dim: int = 0,
        label_input: bool = False,
    ):
        super().__init__()
        sn = spectral_norm if spectral else (lambda m: m)
        self.label_input = num_classes if label_input else 0  # one-hot label planes beside the image
        channels = channels + self.label_input
        levels = int(math.log2(image_size)) - 2
        widths = [width * 2**i for i in range(levels if lean else levels + 1)]
        first = nn.Conv2d(channels, widths[0], 4, 2, 1) if lean else nn.Conv2d(channels, widths[0], 3, padding=1)
        layers = [sn(first), nn.LeakyReLU(0.2)]
        for a, b in zip(widths, widths[1:]):
            layers += [sn(nn.Conv2d(a, b, 4, 2, 1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = sn(nn.Linear(widths[-1], 1))
        if cond_dim:  # a continuous condition (text): logit += <W c, features>
            self.project = sn(nn.Linear(cond_dim, widths[-1], bias=False))
        else:
            self.project = sn(nn.Embedding(num_classes, widths[-1])) if num_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_input:
            planes = F.one_hot(labels, self.label_input).to(x.dtype)[..., None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], 1)
        features = self.body(x).sum(dim=(2, 3))  # global sum pooling
        logit = self.head(features).squeeze(1)
        if self.project is not None:
            logit = logit + (self.project(labels) * features).sum(1)
        return logit


class AttributeClassifier(nn.Module):
    """The auxiliary classifier of a conditional GAN (AC-GAN, Odena et al.), kept apart from D and trained on
    real images only: (B, C, S, S) in [-1, 1] -> one logit tensor per attribute of ``classes`` (class counts).
    An ordinary small classifier (features-scenes' layout: a full-resolution 3x3 stem, group norm, no
    spectral norm) that reads images at 32 px at most. Measured on scenes (8 shapes) in a cgan: a head
    inside D's spectrally normalised features learned nothing in 5,000 steps (its loss stayed at log 8);
    a lean strided one reached 27 % in 2,800; a frozen pretrained classifier was fooled within 1,000 steps
    by textures that are no shapes at all."""

    def __init__(self, channels: int, image_size: int, classes: tuple[int, ...], width: int = 16):
        super().__init__()
        self.classes = tuple(classes)
        self.size = min(image_size, 32)
        downsamples = int(math.log2(self.size)) - 2
        widths = [width * 2**i for i in range(downsamples + 1)]
        self.body = nn.Sequential(
            ConvBlock(channels, widths[0]),
            *[DownBlock(a, b) for a, b in zip(widths, widths[1:])],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[-1], sum(self.classes))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.body(x)).split(self.classes, dim=1)
