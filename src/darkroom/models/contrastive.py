"""``simclr``: a self-supervised encoder trained with NT-Xent on two augmented views of each image
(random resized crop, flip, colour jitter, grayscale, blur; batched on tensors with kornia).

Backbones: ``resnet`` (a small ResNet with a CIFAR-style stem, for 32-64 px images) and ``unet`` (the
encoder of darkroom's U-Net, so a colorizer or inpainter can start from it). Features are GeM-pooled;
a projection head feeds the loss and is dropped afterwards. ``features(x)`` -> (B, D) L2-normalised.
On labelled data the validation batches report ``knn_accuracy``, a leave-one-out kNN monitor.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.losses import NTXentLoss
from darkroom.nn.resnet import GeM, SmallResNet
from darkroom.nn.unet import UNetEncoder


@dataclass(frozen=True)
class SimCLRConfig:
    channels: int = 0
    image_size: int = 0
    backbone: str = "resnet"  # resnet or unet
    width: int = 32
    levels: int = 3  # unet: downsamplings; resnet: stages
    cap: int = 128  # unet: widest layer
    projection: int = 128
    temperature: float = 0.2
    min_crop: float = 0.2  # smallest crop, as a fraction of the image area

    def check(self):
        if self.backbone not in ("resnet", "unet"):
            raise ValueError(f"backbone must be resnet or unet, got {self.backbone!r}")
        if not 0 < self.min_crop <= 1 or self.temperature <= 0:
            raise ValueError("min_crop must be in (0, 1] and temperature > 0")


def view_augmentation(channels: int, size: int, min_crop: float) -> nn.Module:
    colour = (
        [K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2)]
        if channels == 3
        else [K.ColorJitter(0.4, 0.4, p=0.8)]
    )
    return nn.Sequential(
        K.RandomResizedCrop((size, size), scale=(min_crop, 1.0)),
        K.RandomHorizontalFlip(),
        *colour,
        K.RandomGaussianBlur((5, 5), (0.1, 2.0), p=0.5),
    )


@torch.no_grad()
def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Leave-one-out k-nearest-neighbour (cosine, majority vote) accuracy within one labelled batch."""
    sims = features @ features.T
    sims.fill_diagonal_(-float("inf"))
    neighbours = labels[sims.topk(min(k, len(labels) - 1), dim=1).indices]
    votes = F.one_hot(neighbours, int(labels.max()) + 1).sum(1)
    return (votes.argmax(1) == labels).float().mean()


class SimCLR(nn.Module):
    """Contrastive encoder: ``features(x)`` (B, C, H, W) in [0, 1] -> (B, D) unit vectors."""

    Config = SimCLRConfig
    train_defaults = {"lr": 1e-3, "batch_size": 128}

    def __init__(self, config: SimCLRConfig):
        super().__init__()
        self.config = c = config
        if c.backbone == "unet":
            self.encoder = UNetEncoder(c.channels, c.width, c.levels, c.cap)
            dim = self.encoder.widths[-1]
        else:
            self.encoder = SmallResNet(c.channels, c.width, c.levels)
            dim = self.encoder.out_channels
        self.pool = GeM()
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(True), nn.Linear(dim, c.projection))
        self.criterion = NTXentLoss(c.temperature)
        self.augment = view_augmentation(c.channels, c.image_size, c.min_crop)
        self.num_features = dim

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x * 2 - 1)
        feats = feats[-1] if isinstance(feats, list) else feats
        return self.pool(F.relu(feats) if self.config.backbone == "unet" else feats)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embed(x), dim=1)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        image = batch["image"]
        with torch.no_grad():
            v1, v2 = self.augment(image), self.augment(image)
        z1, z2 = self.head(self.embed(v1)), self.head(self.embed(v2))
        loss = self.criterion(z1, z2)
        with torch.no_grad():
            sims = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T
            accuracy = (sims.argmax(1) == torch.arange(len(z1), device=z1.device)).float().mean()
        out = {"loss": loss, "pair_accuracy": accuracy}
        labels = batch.get("label")
        if not self.training and torch.is_tensor(labels) and bool((labels >= 0).all()) and len(labels) > 5:
            out["knn_accuracy"] = knn_accuracy(self.features(image), labels)  # the kNN monitor, on val batches
        return out

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        image = batch["image"][:8]
        return torch.stack([image, self.augment(image), self.augment(image)], 1).flatten(0, 1)
