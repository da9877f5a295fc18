"""``modelparse``: model parsing and attribution of generated images (after Asnani et al., "Reverse
engineering of generative models", 2023).

A fingerprint extractor (a few full-resolution convolutions whose output is added to a fixed high-pass
residual of the image; with ``inputs = "npr"`` or ``"srm+npr"`` also or only the neighbouring-pixel
residual that upsampling layers mark, nn/residuals.py) feeds a small ResNet; one classification head per
hyper-parameter of the generator zoo (``data/zoo.py``: model type, upsampling, normalisation, activation,
loss, latent size, width) and an attribution head over the zoo's known members plus "real". Trained on ``zoo:DIR``; the
hyper-parameter heads learn only from generated images, so for a generator never seen in training they
still say how it was built, and a low top attribution probability says "unknown generator".

    model(x)          -> {"attribution": (B, K) logits, "<hyper-parameter>": (B, V) logits, ...}
    model.predict(x)  -> the same as probabilities

Contrastive learning (issue: supervised vs contrastive-pretrained vs both): with ``supcon`` > 0 a
projection of the shared features is trained with a supervised contrastive loss whose positives are
images from the same generator (the attribution label). ``ce_weight = 0`` trains that alone (a
contrastive pretraining); a second run with ``train.init`` from it and ``ce_weight = 1`` then learns the
heads. ``configs/modelparse-*.toml`` are the three variants that `darkroom bench parsing` compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.zoo import HYPERPARAMS
from darkroom.losses import SupConLoss
from darkroom.nn.residuals import CHANNELS, HIGHPASS, INPUTS, residual_inputs
from darkroom.nn.resnet import GeM, SmallResNet


class Fingerprint(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, CHANNELS[inputs], H, W). "srm": the image and a learned + fixed
    high-pass residual; "npr": the neighbouring-pixel residual (nn/residuals.py) alone; "srm+npr": all."""

    def __init__(self, width: int = 16, inputs: str = "srm"):
        super().__init__()
        self.inputs = inputs
        self.register_buffer("highpass", HIGHPASS.expand(3, 1, 3, 3).clone())
        if "srm" in inputs:
            self.learned = nn.Sequential(
                nn.Conv2d(3, width, 3, padding=1),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(width, width, 3, padding=1),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(width, 3, 3, padding=1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return residual_inputs(x * 2 - 1, self.inputs, self.highpass, getattr(self, "learned", None))


@dataclass(frozen=True)
class ModelParseConfig:
    channels: int = 0
    image_size: int = 0
    num_classes: int = 0  # attribution classes: from the data (the zoo's known members + real)
    width: int = 32
    stages: int = 3
    inputs: str = "srm"  # what the network reads: nn/residuals.py INPUTS
    ce_weight: float = 1.0  # the heads' cross-entropy; 0 = contrastive pretraining (heads as linear probes)
    supcon: float = 0.0  # supervised contrastive loss on generator identity
    projection_dim: int = 0  # the contrastive projection head (needed when supcon > 0)
    temperature: float = 0.1
    # training only: this share of each batch in one of its 8 flips / quarter turns, colour channels in random
    # order (the generator's traces stay, the member's look changes); with attribution_clean the attribution
    # head learns only from the other images
    augment: float = 0.0
    attribution_clean: bool = False
    # open set: a generated image is named only when its top attribution probability among generators
    # reaches this (calibrated on known members' validation samples: experiments/calibrate_modelparse.py)
    open_set_threshold: float = 0.5

    def check(self):
        if self.width < 1 or self.stages < 1:
            raise ValueError("modelparse: width and stages must be >= 1")
        if self.inputs not in INPUTS:
            raise ValueError(f"modelparse: inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if self.supcon and not self.projection_dim:
            raise ValueError("modelparse: supcon > 0 needs projection_dim > 0")
        if self.ce_weight < 0 or self.supcon < 0 or not (self.ce_weight or self.supcon):
            raise ValueError("modelparse: ce_weight and supcon must be >= 0, and not both 0")
        if not 0 <= self.augment <= 1 or (self.attribution_clean and self.augment == 1):
            raise ValueError(
                f"modelparse: augment must be in [0, 1], and below 1 with attribution_clean, got {self.augment}"
            )
        if not 0 < self.open_set_threshold <= 1:
            raise ValueError(f"modelparse: open_set_threshold must be in (0, 1], got {self.open_set_threshold}")


def augment(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> each image in a random one of its 8 dihedral views, its channels in a random order."""
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    view = torch.randint(8, (len(x),))
    x = torch.stack([torch.rot90(img.flip(-1) if v >= 4 else img, int(v) % 4, (-2, -1)) for img, v in zip(x, view)])
    order = torch.rand(len(x), 3).argsort(1)
    return x.gather(1, order[:, :, None, None].expand_as(x))


class ModelParser(nn.Module):
    Config = ModelParseConfig
    train_defaults = {"lr": 1e-3, "batch_size": 128, "schedule": "cosine"}
    HEADS = tuple(HYPERPARAMS)

    def __init__(self, config: ModelParseConfig):
        super().__init__()
        self.config = c = config
        if c.num_classes < 2:
            raise ValueError("modelparse learns from zoo data (--data zoo:DIR), which names its classes")
        self.fingerprint = Fingerprint(inputs=c.inputs)
        self.body = SmallResNet(CHANNELS[c.inputs], c.width, c.stages, stem_stride=1)
        self.pool = GeM()
        features = self.body.out_channels
        self.trunk = nn.Sequential(nn.Linear(features, 256), nn.ReLU(True), nn.Dropout(0.2))
        self.heads = nn.ModuleDict({"attribution": nn.Linear(256, c.num_classes)})
        for name, values in HYPERPARAMS.items():
            self.heads[name] = nn.Linear(256, len(values))
        if c.projection_dim:
            self.projection = nn.Sequential(nn.Linear(256, 256), nn.ReLU(True), nn.Linear(256, c.projection_dim))
            self.supcon_loss = SupConLoss(c.temperature)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.trunk(self.pool(self.body(self.fingerprint(x))))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x)
        return {name: head(h) for name, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: logits.float().softmax(1) for name, logits in self(x).items()}

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x, labels = batch["image"], batch["label"]
        if self.training and self.config.augment:
            views = torch.rand(len(x), device=x.device) < self.config.augment
            x = torch.where(views[:, None, None, None], augment(x), x)
            if self.config.attribution_clean:
                labels = labels.masked_fill(views, -1)
        target = torch.stack(batch["target"]).to(x.device) if isinstance(batch["target"], list) else batch["target"]
        h = self.features(x)
        metrics, total = {}, 0.0
        for i, name in enumerate(("attribution",) + self.HEADS):
            y = labels if name == "attribution" else target[:, i - 1]
            valid = y >= 0
            if valid.any():
                # ce_weight 0: the heads are linear probes on frozen features (no gradient to the encoder)
                logits = self.heads[name](h if self.config.ce_weight else h.detach())
                total = total + (self.config.ce_weight or 1.0) * F.cross_entropy(logits[valid], y[valid])
                metrics[f"{name}_acc"] = (logits[valid].argmax(1) == y[valid]).float().mean().detach()
        if self.config.supcon:
            contrastive = self.supcon_loss(self.projection(h), labels)
            total = total + self.config.supcon * contrastive
            metrics["supcon"] = contrastive.detach()
        return {"loss": total, **metrics}
