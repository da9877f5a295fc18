"""A small domain classifier. Its penultimate features are darkroom's own feature space for FID, KID
and precision/recall (Inception weights cannot be downloaded), and its predictions judge mode coverage.

On ``scenes`` it also predicts the main object's colour and the background kind, so its features see
more than the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.scenes import BACKGROUNDS, COLORS
from darkroom.nn import ConvBlock, DownBlock
from darkroom.nn.convnets import widths_for
from darkroom.nn.residuals import CHANNELS, HIGHPASS, INPUTS, residual_inputs

SCENE_HEADS = {"color": list(COLORS), "background": list(BACKGROUNDS)}


@dataclass(frozen=True)
class ClassifierConfig:
    channels: int = 0
    image_size: int = 0
    num_classes: int = 0
    width: int = 32
    downsamples: int = 3
    feature_dim: int = 128
    scene_heads: bool = True  # with scenes data: also predict colour and background
    # "": the pixels; srm, npr or srm+npr: fixed high-pass residuals beside or instead of them (nn/residuals),
    # for telling generators apart by their traces (sources-scenes)
    inputs: str = ""

    def check(self):
        if self.feature_dim < 2 or self.width < 1:
            raise ValueError("feature_dim must be >= 2 and width >= 1")
        if self.inputs and (self.inputs not in INPUTS or self.channels not in (0, 3)):
            raise ValueError(f"inputs must be one of {', '.join(INPUTS)} (on RGB data), got {self.inputs!r}")


class Classifier(nn.Module):
    """(B, C, H, W) in [0, 1] -> class logits; ``features(x)`` -> (B, feature_dim)."""

    Config = ClassifierConfig
    train_defaults = {"lr": 2e-3, "batch_size": 128}

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = c = config
        if c.num_classes < 2:
            raise ValueError("a classifier needs labelled data with at least 2 classes")
        widths = widths_for(c.width, c.downsamples)
        if c.inputs:
            self.register_buffer("highpass", HIGHPASS.expand(3, 1, 3, 3).clone())
        self.body = nn.Sequential(
            ConvBlock(CHANNELS[c.inputs] if c.inputs else c.channels, widths[0]),
            *[DownBlock(a, b) for a, b in zip(widths, widths[1:])],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(widths[-1], c.feature_dim),
            nn.SiLU(),
        )
        self.head = nn.Linear(c.feature_dim, c.num_classes)
        self.aux = nn.ModuleDict(
            {k: nn.Linear(c.feature_dim, len(v)) for k, v in SCENE_HEADS.items()} if c.scene_heads else {}
        )
        self.num_features = c.feature_dim  # read by torchmetrics

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.config.channels:
            if self.config.channels == 1 and x.shape[1] == 3:
                x = x.mean(1, keepdim=True)
            elif self.config.channels == 3 and x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != self.config.image_size or x.shape[-2] != self.config.image_size:
            x = F.interpolate(
                x, size=(self.config.image_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        x = x * 2 - 1
        return self.body(residual_inputs(x, self.config.inputs, self.highpass) if self.config.inputs else x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        feats = self.features(batch["image"])
        logits = self.head(feats)
        labels = batch["label"]
        loss = F.cross_entropy(logits, labels)
        out = {"accuracy": (logits.argmax(1) == labels).float().mean()}
        params = batch.get("params")
        if self.aux and params and params[0] is not None:
            targets = {
                "color": [SCENE_HEADS["color"].index(p["objects"][0]["color_name"]) for p in params],
                "background": [SCENE_HEADS["background"].index(p["background"]) for p in params],
            }
            for name, head in self.aux.items():
                target = torch.tensor(targets[name], device=feats.device)
                aux_logits = head(feats)
                loss = loss + F.cross_entropy(aux_logits, target)
                out[f"{name}_accuracy"] = (aux_logits.argmax(1) == target).float().mean()
        return {"loss": loss, **out}
