"""Exponential moving average of a model's weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

RAMPUP = 0.05  # the average's half-life, at most this fraction of the steps taken


class EMA(nn.Module):
    """Keeps ``shadow`` = d * shadow + (1 - d) * weights after every step; buffers are copied.

    d = min(decay, (1 + step) / (10 + step), 0.5 ** (1 / (RAMPUP * step))): early on the average forgets
    quickly, and its half-life never exceeds 5 % of the steps so far (StyleGAN2-ADA's ramp-up), so a short
    run's EMA is not an average over weights from very different points of training (for a GAN that
    average draws worse images than any of them)."""

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step), 0.5 ** (1 / max(RAMPUP * step, 1.0)))
        for ema_p, p in zip(self.shadow.parameters(), model.parameters()):
            ema_p.lerp_(p.detach(), 1 - decay)
        for ema_b, b in zip(self.shadow.buffers(), model.buffers()):
            ema_b.copy_(b)
