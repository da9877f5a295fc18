"""Losses shared across models. Tensor in, scalar tensor out; shapes in each docstring."""

from __future__ import annotations

import torch
import torch.nn.functional as F

GAN_LOSSES = ("bce", "hinge", "wgan", "lsgan")


def discriminator_loss(kind: str, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logits (B,) for real and generated images -> the discriminator's loss."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(
            real_logits, torch.ones_like(real_logits)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "wgan":
        return fake_logits.mean() - real_logits.mean()
    if kind == "lsgan":
        return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * (fake_logits**2).mean()
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


# --- contrastive losses -------------------------------------------------------------------------


class NTXentLoss(torch.nn.Module):
    """NT-Xent / InfoNCE (SimCLR) for two views.

    ``forward(z1, z2)``: embeddings (B, D) of two views of the same B images -> scalar. Each of the 2B
    embeddings must pick its partner out of the other 2B - 1 (plus the memory bank's negatives, when
    ``memory_bank_size`` > 0: the most recent second views of earlier batches, MoCo-style).
    All 2B embeddings identical gives log(2B - 1).
    """

    def __init__(self, temperature: float = 0.5, memory_bank_size: int = 0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if memory_bank_size < 0:
            raise ValueError(f"memory_bank_size must be >= 0, got {memory_bank_size}")
        self.temperature, self.memory_bank_size = temperature, memory_bank_size
        self.register_buffer("bank", torch.zeros(0, 0), persistent=False)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if z1.ndim != 2 or z1.shape != z2.shape or len(z1) < 2:
            raise ValueError(f"expected two views (B, D) with B >= 2, got {tuple(z1.shape)} and {tuple(z2.shape)}")
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        n = len(z1)
        logits = z @ z.T / self.temperature
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        if self.memory_bank_size and self.bank.numel():
            logits = torch.cat([logits, z @ self.bank.T / self.temperature], dim=1)
        targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        loss = F.cross_entropy(logits, targets)
        if self.memory_bank_size:
            fresh = F.normalize(z2.detach(), dim=1)
            older = self.bank.to(fresh) if self.bank.numel() else fresh[:0]
            self.bank = torch.cat([fresh, older])[: self.memory_bank_size]
        return loss


class SupConLoss(torch.nn.Module):
    """Supervised contrastive loss (Khosla et al. 2020, the "out" form): every embedding with the same
    label is a positive.

    ``forward(z, labels)``: embeddings (B, D) and labels (B,) -> scalar. For each anchor with at least
    one positive: minus the mean, over its positives, of the log-softmax of its similarities (divided by
    the temperature) to the other B - 1 embeddings. All B embeddings identical gives log(B - 1).
    """

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or labels.shape != z.shape[:1] or len(z) < 2:
            raise ValueError(
                f"expected embeddings (B, D) with B >= 2 and labels (B,), got {tuple(z.shape)} "
                f"and {tuple(labels.shape)}"
            )
        z = F.normalize(z, dim=1)
        self_mask = torch.eye(len(z), dtype=torch.bool, device=z.device)
        log_prob = (z @ z.T / self.temperature).masked_fill(self_mask, float("-inf")).log_softmax(1)
        positives = (labels[:, None] == labels[None]) & ~self_mask
        count = positives.sum(1)
        anchors = count > 0
        if not anchors.any():
            return z.sum() * 0.0
        mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1)[anchors] / count[anchors]
        return -mean_log_prob.mean()


def _pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """(B, D) -> (B, B) Euclidean distances, with a gradient-safe zero diagonal."""
    squared = (x[:, None] - x[None]).pow(2).sum(-1)
    return squared.clamp_min(1e-12).sqrt() * (1 - torch.eye(len(x), device=x.device))


class TripletLoss(torch.nn.Module):
    """Triplet margin loss over a labelled batch with online mining.

    ``forward(embeddings (B, D), labels (B,))`` -> scalar, with ``mining``:
    - ``all``: mean over all valid triplets with a positive loss;
    - ``semi-hard``: per (anchor, positive), the closest negative farther than the positive (FaceNet);
      when none is, the farthest negative;
    - ``batch-hard``: per anchor, the farthest positive and the closest negative (Hermans et al.).
    """

    MININGS = ("all", "semi-hard", "batch-hard")

    def __init__(self, margin: float = 0.2, mining: str = "batch-hard"):
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if mining not in self.MININGS:
            raise ValueError(f"mining must be one of {', '.join(self.MININGS)}, got {mining!r}")
        self.margin, self.mining = margin, mining

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
            raise ValueError(
                f"expected embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
            )
        d = _pairwise_distances(embeddings)
        same = labels[:, None] == labels[None]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive, negative = same & ~eye, ~same
        if self.mining == "batch-hard":
            hardest_pos = (d * positive).max(1).values
            hardest_neg = d.masked_fill(~negative, float("inf")).min(1).values
            valid = positive.any(1) & negative.any(1)
            return F.relu(hardest_pos - hardest_neg + self.margin)[valid].mean() if valid.any() else d.sum() * 0
        triplet = d[:, :, None] - d[:, None, :] + self.margin  # anchor a, positive p, negative n
        valid = positive[:, :, None] & negative[:, None, :]
        if self.mining == "all":
            losses = F.relu(triplet)[valid]
            active = losses > 1e-16
            return losses[active].mean() if active.any() else d.sum() * 0
        d_an = d[:, None, :].expand_as(triplet)
        d_ap = d[:, :, None].expand_as(triplet)
        semi = valid & (d_an > d_ap)
        inf = torch.full_like(d_an, float("inf"))
        closest = torch.where(semi, d_an, inf).min(2).values
        farthest = torch.where(valid, d_an, -inf).max(2).values
        chosen = torch.where(torch.isfinite(closest), closest, farthest)
        losses = F.relu(d - chosen + self.margin)[positive & negative.any(1, keepdim=True)]
        return losses.mean() if losses.numel() else d.sum() * 0


class MarginContrastiveLoss(torch.nn.Module):
    """Contrastive loss for pairs (Hadsell et al.): ``forward(x1 (B, D), x2 (B, D), same (B,))`` ->
    mean of same * d^2 + (1 - same) * max(0, margin - d)^2 with d the Euclidean distance."""

    def __init__(self, margin: float = 1.0):
        super().__init__()
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = margin

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        if x1.shape != x2.shape or x1.ndim != 2 or same.shape != (len(x1),):
            raise ValueError(
                f"expected x1, x2 (B, D) and same (B,), got {tuple(x1.shape)}, {tuple(x2.shape)}, {tuple(same.shape)}"
            )
        d = (x1 - x2).pow(2).sum(1).clamp_min(1e-12).sqrt()
        same = same.float()
        return (same * d.pow(2) + (1 - same) * F.relu(self.margin - d).pow(2)).mean()


class KoLeoLoss(torch.nn.Module):
    """KoLeo entropy regulariser (Sablayrolles et al. 2019), used for copy descriptors:
    ``forward(x (B, D))`` -> -mean log(distance of each L2-normalised row to its nearest neighbour).
    Spreading descriptors uniformly lowers it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"expected (B, D) with B >= 2, got {tuple(x.shape)}")
        z = F.normalize(x, dim=1)
        d = _pairwise_distances(z) + torch.eye(len(z), device=z.device) * 1e6
        return -torch.log(d.min(1).values + 1e-8).mean()
