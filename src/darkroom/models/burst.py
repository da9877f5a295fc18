"""``burst``: the restorer of an aligned, fused burst (``darkroom restore burst``).

A burst's frames, aligned to the first and fused by ``robust_mean``, are not a noisy photo the single-frame
denoiser knows: each aligned frame went through a sub-pixel resampling that blurs it and low-passes its
noise, and the noise left after fusion varies from pixel to pixel with how many frames saw it (fewer at
the borders, fewer where a frame was voted down). This model is the shipped denoiser's network (it starts
from its weights, ``init = "denoise"``) fed a per-pixel noise-level map, ``noise_map``: the first frame's
noise sigma times the fused estimate's standard-error factor sqrt(sum w^2) / sum w at each pixel. It is
trained on bursts synthesised from clean photo patches as the benchmark makes them (``degrade.burst``:
shifts and rotations on a grid twice as fine, independent noise of sigma up to ``max_sigma`` per frame,
``min_frames`` to ``max_frames`` frames), each frame brought back by the inverse of its known motion with the
aligner's own bicubic warp, so training sees what alignment leaves without paying for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from darkroom.data import degrade
from darkroom.models.restore import Denoiser, psnr_tensor, random_dihedral

MARGIN = 16  # degrade.burst cuts this much off each side, so no frame shows what lies outside the patch


def robust_weights(frames: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) aligned frames, NaN outside each frame's view -> the same-shape weights of each sample,
    from its distance to the per-pixel median in units of the frames' own spread (0 outside a view)."""
    median = frames.nanmedian(0).values
    spread = 1.4826 * (frames - median).abs().nanmedian(0).values.clamp_min(1e-3)
    weight = torch.exp(-0.5 * ((frames - median) / (2.5 * spread)) ** 2).nan_to_num(0.0)
    return torch.where(frames.isnan(), torch.zeros_like(weight), weight)


def robust_mean(frames: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) aligned frames, NaN outside each frame's view -> (C, H, W): samples weighted by their
    distance to the per-pixel median in units of the frames' own spread."""
    return fuse(frames)[0]


def fuse(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``robust_mean`` and the (1, H, W) factor by which its noise is below a single frame's:
    sqrt(sum w^2) / sum w, averaged over the channels (1 where only the first frame counts)."""
    weight = robust_weights(frames)
    total, norm = (weight * frames.nan_to_num(0.0)).sum(0), weight.sum(0)
    seen = norm > 1e-6
    mean = torch.where(seen, total / norm.clamp_min(1e-6), frames[0].nan_to_num(0.0))
    factor = torch.where(seen, (weight**2).sum(0).sqrt() / norm.clamp_min(1e-6), torch.ones_like(norm))
    return mean, factor.mean(0, keepdim=True)


def inverse_motion(angle: float, shift: tuple[float, float]) -> tuple[float, tuple[float, float]]:
    """The (angle, shift) that ``degrade.rigid_warp`` undoes a rotation by ``angle`` degrees about the centre
    followed by a move of ``shift`` (rows, cols) with: rotation -angle, shift -R^T s."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    dy, dx = shift
    return -angle, (-(s * dx + c * dy), -(c * dx - s * dy))


@dataclass(frozen=True)
class BurstConfig:
    channels: int = 3
    image_size: int = 0
    width: int = 64
    depth: int = 14
    max_sigma: float = 50.0  # training noise per frame: uniform in [min_sigma, max_sigma]
    min_sigma: float = 5.0
    min_frames: int = 2
    max_frames: int = 12
    max_shift: float = 4.0
    max_rotation: float = 2.0

    def check(self):
        if self.depth < 2 or self.width < 1 or not 0 <= self.min_sigma <= self.max_sigma:
            raise ValueError("burst: depth must be >= 2, width >= 1 and 0 <= min_sigma <= max_sigma")
        if not 2 <= self.min_frames <= self.max_frames:
            raise ValueError(f"burst: need 2 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.image_size and self.image_size <= 2 * MARGIN + 8:
            raise ValueError(f"burst: patches must be over {2 * MARGIN + 8} px (a {MARGIN} px margin a side)")


class BurstRestorer(Denoiser):
    """(B, C, H, W) fused burst in [0, 1] + (B, 1, H, W) noise-level map (0-255) -> (B, C, H, W) estimate."""

    Config = BurstConfig
    init_from = ("denoise",)  # the single-frame denoiser's weights fit this network: train.init may name it
    train_defaults = {"lr": 2e-4, "batch_size": 8}

    def synthesise(self, clean: torch.Tensor, generator: torch.Generator | None = None):
        """Clean (B, C, H, W) patches -> (fused, noise map, truth), each burst ``MARGIN`` px smaller a side."""
        c = self.config
        fused, maps, truths = [], [], []
        for image in clean:
            draw = torch.rand(3, generator=generator)
            n = c.min_frames + int(draw[0] * (c.max_frames - c.min_frames + 1))
            sigma = c.min_sigma + float(draw[1]) * (c.max_sigma - c.min_sigma)
            seed = int(draw[2] * 2**31)
            frames, truth, info = degrade.burst(image, n, sigma, MARGIN, c.max_shift, c.max_rotation, generator=seed)
            aligned = [frames[0]]
            for frame, motion in zip(frames[1:], info["motion"][1:]):
                angle, shift = inverse_motion(motion["rotation_deg"], motion["shift_px"])
                aligned.append(degrade.rigid_warp(frame, angle, shift))
            mean, factor = fuse(torch.stack(aligned))
            fused.append(mean.clamp(0, 1))
            maps.append(sigma * factor)
            truths.append(truth)
        return torch.stack(fused), torch.stack(maps), torch.stack(truths)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        clean = random_dihedral(batch["image"]) if self.training else batch["image"]
        generator = None if self.training else torch.Generator().manual_seed(0)
        with torch.no_grad():
            fused, level, truth = self.synthesise(clean, generator)
        restored = self(fused, level)
        return {
            "loss": F.mse_loss(restored, truth),
            "psnr": psnr_tensor(restored.detach(), truth),
            "psnr_fused": psnr_tensor(fused, truth),
        }

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        fused, level, truth = self.synthesise(batch["image"][:6], torch.Generator().manual_seed(0))
        return torch.stack([fused, self(fused, level).clamp(0, 1), truth], 1).flatten(0, 1)
