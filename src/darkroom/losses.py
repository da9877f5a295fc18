"""Losses shared across models. Tensor in, scalar tensor out; shapes in each docstring."""
from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_LOSSES = ("bce", "hinge", "wgan", "lsgan")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) for real and generated images -> the discriminator's loss."""
    if kind == "bce":
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    if kind == "lsgan":
        return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits ** 2).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose {', '.join(GAN_LOSSES)}")


def generator_loss(kind: str, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) of generated images -> the generator's loss (non-saturating for bce)."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind in ("hinge", "wgan"):
        return -fake_logits.mean()
    if kind == "lsgan":
        return 0.5 * ((fake_logits - 1) ** 2).mean()
    raise ValueError(f"unknown GAN loss {kind!r}; choose {', '.join(GAN_LOSSES)}")


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient norm of D at real images (Mescheder et al.); ``real_images`` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, **kwargs) -> torch.Tensor:
    """WGAN-GP: mean (||grad critic(x_hat)|| - 1)^2 on random interpolates of real and fake (B, C, H, W)."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed, **kwargs).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def batch_diversity(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean pairwise distance of generated images over that of real ones (B, C, H, W) -> scalar.
    Near 0 means the generator has collapsed onto a few outputs."""
    def spread(x):
        flat = x.flatten(1)
        return torch.pdist(flat).mean() if len(flat) > 1 else flat.new_tensor(1.0)
    return spread(fake.detach()) / spread(real.detach()).clamp_min(1e-8)
