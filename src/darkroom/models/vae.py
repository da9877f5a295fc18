"""Variational autoencoder (and its class-conditional form) with a Gaussian or Bernoulli likelihood.

The loss is the negative ELBO per image, with the KL term weighted by ``beta`` and warmed up linearly
over ``kl_warmup`` training steps. ``nelbo_nats`` (per image) and ``bits_per_dim`` are reported at
beta = 1; for the Gaussian likelihood bits/dim follow the usual 8-bit convention
(density on [0, 256) = density on [0, 1] / 256 per dimension).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from darkroom.nn.convnets import ConvDecoder, ConvEncoder


@dataclass(frozen=True)
class VAEConfig:
    channels: int = 0  # 0: from the data
    image_size: int = 0  # 0: from the data
    num_classes: int = 0  # conditional VAE only; 0: from the data
    width: int = 32
    latent_dim: int = 32
    downsamples: int = 3
    likelihood: str = "gaussian"  # gaussian (learned scale per channel) or bernoulli
    beta: float = 1.0
    kl_warmup: int = 0  # steps over which the KL weight rises from 0 to beta

    def check(self):
        if self.likelihood not in ("gaussian", "bernoulli"):
            raise ValueError(f"likelihood must be gaussian or bernoulli, got {self.likelihood!r}")
        if self.beta < 0 or self.kl_warmup < 0:
            raise ValueError("beta and kl_warmup must be >= 0")
        if self.image_size and self.image_size % 2**self.downsamples:
            raise ValueError(f"image_size {self.image_size} is not divisible by 2**downsamples")


class VAE(nn.Module):
    """Convolutional VAE: encode to q(z|x), decode p(x|z); ``sample(n)`` draws from the prior."""

    Config = VAEConfig
    conditional = False
    train_defaults = {"lr": 1e-3}

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = c = config
        classes = c.num_classes if self.conditional else 0
        if self.conditional and classes < 2:
            raise ValueError("a conditional VAE needs labelled data with at least 2 classes")
        self.encoder = ConvEncoder(c.channels, c.image_size, c.width, c.downsamples, 2 * c.latent_dim, classes)
        self.decoder = ConvDecoder(c.latent_dim + classes, c.channels, c.image_size, c.width, c.downsamples)
        self.log_scale = nn.Parameter(torch.full((c.channels,), math.log(0.1)))
        self.register_buffer("steps_seen", torch.zeros((), dtype=torch.long))

    def _onehot(self, labels: torch.Tensor | None, n: int, device) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError("this conditional model needs labels")
        labels = torch.as_tensor(labels, device=device).long().reshape(-1)
        if labels.numel() == 1 and n > 1:
            labels = labels.expand(n)
        if labels.min() < 0 or labels.max() >= self.config.num_classes:
            raise ValueError(f"label out of range 0..{self.config.num_classes - 1}")
        return F.one_hot(labels, self.config.num_classes).float()

    def encode(self, x: torch.Tensor, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) -> mean and log-variance of q(z|x), each (B, latent_dim)."""
        stats = self.encoder(x, self._onehot(labels, x.shape[0], x.device))
        mean, logvar = stats.chunk(2, dim=1)
        return mean, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        """(B, latent_dim) -> image mean (B, C, H, W) in [0, 1]."""
        y = self._onehot(labels, z.shape[0], z.device)
        return torch.sigmoid(self.decoder(z if y is None else torch.cat([z, y], 1)))

    def _log_likelihood(self, logits_mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed per image."""
        if self.config.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits_mean, x, reduction="none").flatten(1).sum(1)
        mean = torch.sigmoid(logits_mean)
        log_scale = self.log_scale.view(1, -1, 1, 1).clamp(min=math.log(1e-3))
        nll = 0.5 * ((x - mean) / log_scale.exp()) ** 2 + log_scale + 0.5 * math.log(2 * math.pi)
        return -nll.flatten(1).sum(1)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["image"]
        labels = batch.get("label") if self.conditional else None
        mean, logvar = self.encode(x, labels)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        y = self._onehot(labels, x.shape[0], x.device)
        logits = self.decoder(z if y is None else torch.cat([z, y], 1))
        recon = -self._log_likelihood(logits, x)
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1)
        weight = self.config.beta
        if self.training:
            if self.config.kl_warmup:
                weight *= min(1.0, float(self.steps_seen) / self.config.kl_warmup)
            self.steps_seen += 1
        dims = x[0].numel()
        nelbo = recon + kl
        bpd = nelbo / (dims * math.log(2))
        if self.config.likelihood == "gaussian":
            bpd = bpd + 8  # [0, 1] density -> 256 levels
        return {
            "loss": (recon + weight * kl).mean() / dims,
            "nelbo_nats": nelbo.mean(),
            "bits_per_dim": bpd.mean(),
            "kl": kl.mean(),
            "kl_weight": torch.tensor(weight),
        }

    @torch.no_grad()
    def sample(self, n: int, labels=None, truncation: float = 1.0, generator: torch.Generator | None = None):
        device = self.log_scale.device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device) * truncation
        return self.decode(z, labels)

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        """Top: inputs and reconstructions interleaved; bottom: samples from the prior."""
        x = batch["image"][:8]
        labels = batch["label"][:8] if self.conditional else None
        recon = self.decode(self.encode(x, labels)[0], labels)
        gen = torch.Generator().manual_seed(0)
        samples = self.sample(8, labels, generator=gen)
        return torch.cat([torch.stack([x, recon], 1).flatten(0, 1), samples])


class ConditionalVAE(VAE):
    """Class-conditional VAE: the one-hot label enters the encoder head and the decoder."""

    conditional = True
