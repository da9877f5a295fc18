"""``chain``: estimate what was done to a photograph from its pixels: Gaussian noise sigma, JPEG quality,
blur sigma, resize factor and gamma (the fields of DESIGN.md's ``processing``).

Trained on clean photo patches, each put through a random processing chain from the data layer
(``data/chain.py``: blur, resize, gamma and noise in random order, then JPEG), in the data loader's
workers. The network is a small ResNet at full resolution (noise and JPEG blocking live in the finest
pixels), GeM pooling and one regression output per parameter plus a "was it a JPEG" logit.

    model(crops)           -> (B, 6) raw outputs
    model.predict(crops)   -> dict of (B,) tensors in natural units
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.chain import RANGES, apply_chain, min_input_size, sample_chain
from darkroom.nn.resnet import GeM, SmallResNet

OUTPUTS = ("noise_sigma", "blur_sigma", "resize_factor", "gamma", "jpeg", "jpeg_quality")
NOISE_SCALE, BLUR_SCALE = RANGES["noise_sigma"][1], RANGES["blur_sigma"][1]
Q_MID, Q_HALF = 55.0, 45.0


def encode(chain: dict) -> torch.Tensor:
    """A chain's targets in the network's units (see OUTPUTS)."""
    q = chain["jpeg_quality"]
    return torch.tensor(
        [
            chain["noise_sigma"] / NOISE_SCALE,
            chain["blur_sigma"] / BLUR_SCALE,
            math.log2(chain["resize_factor"]),
            math.log2(chain["gamma"]),
            float(q is not None),
            ((q or Q_MID) - Q_MID) / Q_HALF,
        ]
    )


class ChainSample:
    """Per-sample transform for the data loader: a clean patch -> a processed crop and its targets."""

    def __init__(self, crop: int, gray_prob: float):
        self.crop, self.gray_prob = crop, gray_prob

    def __call__(self, sample: dict, rng) -> dict:
        image = sample["image"]
        if image.shape[-1] < min_input_size(self.crop) or image.shape[-2] < min_input_size(self.crop):
            raise ValueError(
                f"chain: training patches must be at least {min_input_size(self.crop)} px "
                f"(add patch={min_input_size(self.crop)} to the data spec), got {tuple(image.shape[-2:])}"
            )
        k = int(rng.integers(8))
        image = torch.rot90(image, k % 4, (-2, -1))
        image = image.flip(-1) if k >= 4 else image
        if rng.random() < self.gray_prob and image.shape[0] == 3:
            image = (image * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True).expand(3, -1, -1)
        chain = sample_chain(rng)
        crop = apply_chain(image, chain, self.crop, seed=int(rng.integers(2**31)))
        return {"image": crop, "label": -1, "target": encode(chain)}


@dataclass(frozen=True)
class ChainConfig:
    channels: int = 0
    image_size: int = 0
    crop: int = 128  # the network's input side; training patches need 2x this (the strongest shrink)
    width: int = 24
    stages: int = 4
    gray_prob: float = 0.1  # share of training photos turned grayscale

    def check(self):
        if self.crop < 32 or self.crop % 8 or self.width < 1 or self.stages < 1:
            raise ValueError("crop must be a multiple of 8 and >= 32; width and stages >= 1")


class ChainEstimator(nn.Module):
    """Processing-chain estimator: (B, 3, crop, crop) photo crops -> noise, JPEG, blur, resize, gamma."""

    Config = ChainConfig
    train_defaults = {"lr": 1e-3, "batch_size": 64}

    def __init__(self, config: ChainConfig):
        super().__init__()
        self.config = c = config
        self.body = SmallResNet(3, c.width, c.stages, stem_stride=1)
        self.pool = GeM()
        self.head = nn.Sequential(nn.Linear(self.body.out_channels, 128), nn.ReLU(True), nn.Linear(128, len(OUTPUTS)))
        self.sample_transform = ChainSample(c.crop, c.gray_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.head(self.pool(self.body(x * 2 - 1)))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self(x).float()
        return {
            "noise_sigma": (out[:, 0] * NOISE_SCALE).clamp_min(0),
            "blur_sigma": (out[:, 1] * BLUR_SCALE).clamp_min(0),
            "resize_factor": 2 ** out[:, 2],
            "gamma": 2 ** out[:, 3],
            "jpeg_prob": torch.sigmoid(out[:, 4]),
            "jpeg_quality": (out[:, 5] * Q_HALF + Q_MID).clamp(1, 100),
        }

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["image"]
        target = torch.stack(batch["target"]).to(x.device)
        out = self(x)
        is_jpeg = target[:, 4]
        regress = F.smooth_l1_loss(out[:, :4], target[:, :4], beta=0.02, reduction="none").sum(1)
        quality = F.smooth_l1_loss(out[:, 5], target[:, 5], beta=0.02, reduction="none") * is_jpeg
        loss = (regress + quality).mean() + 0.2 * F.binary_cross_entropy_with_logits(out[:, 4], is_jpeg)
        with torch.no_grad():
            jpeg_count = is_jpeg.sum().clamp_min(1)
            metrics = {
                "noise_mae": ((out[:, 0] - target[:, 0]).abs().mean() * NOISE_SCALE),
                "blur_mae": ((out[:, 1] - target[:, 1]).abs().mean() * BLUR_SCALE),
                "resize_log2_mae": (out[:, 2] - target[:, 2]).abs().mean(),
                "gamma_log2_mae": (out[:, 3] - target[:, 3]).abs().mean(),
                "jpeg_accuracy": ((out[:, 4] > 0).float() == is_jpeg).float().mean(),
                "quality_mae": ((out[:, 5] - target[:, 5]).abs() * is_jpeg).sum() / jpeg_count * Q_HALF,
            }
        return {"loss": loss, **metrics}
