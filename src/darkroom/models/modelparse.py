"""``modelparse``: model parsing and attribution of generated images (after Asnani et al., "Reverse
engineering of generative models", 2023).

A fingerprint extractor (a few full-resolution convolutions whose output is added to a fixed high-pass
residual of the image) feeds a small ResNet; one classification head per hyper-parameter of the
generator zoo (``data/zoo.py``: model type, upsampling, normalisation, activation, loss, latent size,
width) and an attribution head over the zoo's known members plus "real". Trained on ``zoo:DIR``; the
hyper-parameter heads learn only from generated images, so for a generator never seen in training they
still say how it was built, and a low top attribution probability says "unknown generator".

    model(x)          -> {"attribution": (B, K) logits, "<hyper-parameter>": (B, V) logits, ...}
    model.predict(x)  -> the same as probabilities
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.zoo import HYPERPARAMS
from darkroom.nn.resnet import GeM, SmallResNet

HIGHPASS = torch.tensor([[-1.0, 2.0, -1.0], [2.0, -4.0, 2.0], [-1.0, 2.0, -1.0]]) / 4  # SRM "square 3x3"


class Fingerprint(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 6, H, W): the image and a learned + fixed high-pass residual."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.register_buffer("highpass", HIGHPASS.expand(3, 1, 3, 3).clone())
        self.learned = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.LeakyReLU(0.2, True),
                                     nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2, True),
                                     nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2 - 1
        residual = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.highpass, groups=3) * 8
        return torch.cat([x, residual + self.learned(x)], 1)


@dataclass(frozen=True)
class ModelParseConfig:
    channels: int = 0
    image_size: int = 0
    num_classes: int = 0  # attribution classes: from the data (the zoo's known members + real)
    width: int = 32
    stages: int = 3

    def check(self):
        if self.width < 1 or self.stages < 1:
            raise ValueError("modelparse: width and stages must be >= 1")


class ModelParser(nn.Module):
    Config = ModelParseConfig
    train_defaults = {"lr": 1e-3, "batch_size": 128, "schedule": "cosine"}
    HEADS = tuple(HYPERPARAMS)

    def __init__(self, config: ModelParseConfig):
        super().__init__()
        self.config = c = config
        if c.num_classes < 2:
            raise ValueError("modelparse learns from zoo data (--data zoo:DIR), which names its classes")
        self.fingerprint = Fingerprint()
        self.body = SmallResNet(6, c.width, c.stages, stem_stride=1)
        self.pool = GeM()
        features = self.body.out_channels
        self.trunk = nn.Sequential(nn.Linear(features, 256), nn.ReLU(True), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({"attribution": nn.Linear(256, c.num_classes)})
        for name, values in HYPERPARAMS.items():
            self.heads[name] = nn.Linear(256, len(values))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h = self.trunk(self.pool(self.body(self.fingerprint(x))))
        return {name: head(h) for name, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: logits.float().softmax(1) for name, logits in self(x).items()}

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x, labels = batch["image"], batch["label"]
        target = torch.stack(batch["target"]).to(x.device) if isinstance(batch["target"], list) else batch["target"]
        out = self(x)
        metrics, total = {}, 0.0
        for i, name in enumerate(("attribution",) + self.HEADS):
            y = labels if name == "attribution" else target[:, i - 1]
            valid = y >= 0
            if valid.any():
                total = total + F.cross_entropy(out[name][valid], y[valid])
                metrics[f"{name}_acc"] = (out[name][valid].argmax(1) == y[valid]).float().mean().detach()
        return {"loss": total, **metrics}
