"""The latent encoder behind GAN inversion: E(image) -> z with G(E(x)) close to x.

Trained against a fixed, already trained generator (``generator`` = a run folder or shipped name, not
part of this model's weights): on sampled latents, E(G(z)) should give back z (latent loss) and
G(E(G(z))) the image (pixel loss); on real images from the data, G(E(x)) should give back x (the
domain-guided term of in-domain inversion, Zhu et al. 2020), so that the encoder also lands near real
images that G cannot reproduce exactly. ``darkroom edit invert`` starts its optimisation from E(x).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.nn.resnet import SmallResNet


@dataclass(frozen=True)
class LatentEncoderConfig:
    generator: str = ""  # the GAN run folder or shipped name this encoder inverts
    channels: int = 0
    image_size: int = 0
    width: int = 32
    stages: int = 3
    latent_weight: float = 0.05
    pixel_weight: float = 1.0
    real_weight: float = 1.0

    def check(self):
        if not self.generator:
            raise ValueError("latentenc needs the generator it inverts: --set generator=RUN|NAME")
        if min(self.latent_weight, self.pixel_weight, self.real_weight) < 0:
            raise ValueError("loss weights must be >= 0")


def load_generator(run):
    from darkroom.models import load_run  # the registry imports this module

    model, info = load_run(run)
    if not hasattr(model, "G"):
        raise ValueError(f"{run}: a {info['model']} is not a GAN (inversion needs dcgan, gan or cgan)")
    return model.requires_grad_(False), info


class LatentEncoder(nn.Module):
    """Encoder for GAN inversion: image (B, C, H, W) in [0, 1] -> latent (B, latent_dim); E(G(z)) ~ z."""

    Config = LatentEncoderConfig
    train_defaults = {"lr": 1e-3, "batch_size": 64}

    def __init__(self, config: LatentEncoderConfig):
        super().__init__()
        self.config = c = config
        generator, _ = load_generator(c.generator)
        gen_config = generator.config
        if c.channels and (c.channels, c.image_size) != (gen_config.channels, gen_config.image_size):
            raise ValueError(
                f"the data gives {c.channels}x{c.image_size} px images, the generator makes "
                f"{gen_config.channels}x{gen_config.image_size} px: add size={gen_config.image_size}"
            )
        self._generator = [generator]  # a list: not a submodule, so not saved, trained or moved with E
        self.latent_dim = gen_config.latent_dim
        self.conditional = generator.conditional
        self.body = SmallResNet(gen_config.channels, c.width, c.stages)
        self.head = nn.Linear(self.body.out_channels, self.latent_dim)

    @property
    def generator(self):
        return self._generator[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x * 2 - 1).mean((-2, -1)))

    def _generate(self, z: torch.Tensor, labels) -> torch.Tensor:
        generator = self.generator
        if next(generator.parameters()).device != z.device:
            generator.to(z.device)
        return generator.generate(z, labels if self.conditional else None)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        c = self.config
        real = batch["image"]
        n = real.shape[0]
        classes = getattr(self.generator.config, "num_classes", 0)
        labels = torch.randint(0, max(classes, 1), (n,), device=real.device)
        z = torch.randn(n, self.latent_dim, device=real.device)
        with torch.no_grad():
            fake = self._generate(z, labels)
        z_hat = self(fake)
        latent = F.mse_loss(z_hat, z)
        pixel = F.mse_loss(self._generate(z_hat, labels), fake)
        out = {"latent": latent.detach(), "pixel": pixel.detach()}
        total = c.latent_weight * latent + c.pixel_weight * pixel
        if c.real_weight:
            real_labels = batch.get("label") if self.conditional else None
            if self.conditional and real_labels is None:
                raise ValueError("a conditional generator needs labelled data to invert real images")
            recon = F.mse_loss(self._generate(self(real), real_labels), real)
            total = total + c.real_weight * recon
            out["real_pixel"] = recon.detach()
        return {"loss": total, **out}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        real = batch["image"][:8]
        labels = batch.get("label")
        labels = labels[:8] if self.conditional and labels is not None else None
        if self.conditional and labels is None:
            return real
        return torch.cat([real, self._generate(self(real), labels).clamp(0, 1)])
