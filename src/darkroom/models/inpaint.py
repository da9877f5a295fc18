"""``inpaint``: fill holes in photos. A U-Net sees the image with its holes blanked plus the mask, and
its prediction is pasted into the holes only. Trained with LaMa-style thin / medium / thick masks drawn
by the data layer (``degrade.inpainting_mask``), from a bank of masks made once per run, flipped and
rotated at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from darkroom.data import degrade
from darkroom.models.restore import random_dihedral
from darkroom.nn.unet import UNet

BANK_PER_FAMILY = 256


@dataclass(frozen=True)
class InpaintConfig:
    channels: int = 0
    image_size: int = 0
    width: int = 32
    levels: int = 3
    cap: int = 128  # widest layer
    masks: str = "thin,medium,thick"  # mask families drawn in training
    hole_weight: float = 6.0  # L1 weight inside the hole relative to outside

    def check(self):
        families = [f.strip() for f in self.masks.split(",") if f.strip()]
        unknown = set(families) - set(degrade.MASK_FAMILIES)
        if not families or unknown:
            raise ValueError(f"masks must name families among {', '.join(degrade.MASK_FAMILIES)}, got {self.masks!r}")
        if self.levels < 1 or self.width < 1:
            raise ValueError("levels and width must be >= 1")


class Inpainter(nn.Module):
    """(B, C, H, W) image in [0, 1] + (B, 1, H, W) mask (1 = hole) -> image with the holes filled."""

    Config = InpaintConfig
    train_defaults = {"lr": 5e-4, "batch_size": 16}

    def __init__(self, config: InpaintConfig):
        super().__init__()
        self.config = c = config
        self.net = UNet(c.channels + 1, c.channels, c.width, c.levels, c.cap)
        self._bank: torch.Tensor | None = None

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.fill(image, mask)[0]

    def fill(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(composite, raw prediction): the prediction pasted into the holes, and the prediction itself."""
        mask = (mask > 0.5).to(image.dtype)
        known = image * (1 - mask)
        raw = self.net(torch.cat([(known * 2 - 1) * (1 - mask), mask], 1)) + 0.5
        return known + raw * mask, raw

    def masks(self, n: int, height: int, width: int, device) -> torch.Tensor:
        """``n`` random training masks (n, 1, H, W) from the run's bank, each flipped/rotated at random."""
        if self._bank is None or self._bank.shape[-2:] != (height, width):
            families = [f.strip() for f in self.config.masks.split(",") if f.strip()]
            self._bank = torch.stack(
                [
                    degrade.inpainting_mask(height, width, family, seed=k)[0]
                    for family in families
                    for k in range(BANK_PER_FAMILY)
                ]
            )
        picks = torch.randint(len(self._bank), (n,))
        return random_dihedral(self._bank[picks], square=height == width).to(device)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        image = random_dihedral(batch["image"])
        mask = self.masks(len(image), image.shape[-2], image.shape[-1], image.device)
        composite, raw = self.fill(image, mask)
        hole = mask.expand_as(image)
        holes = hole.sum().clamp_min(1)
        l1_hole = ((raw - image).abs() * hole).sum() / holes
        l1_valid = ((raw - image).abs() * (1 - hole)).sum() / (1 - hole).sum().clamp_min(1)
        hole_mse = (((composite.detach().clamp(0, 1) - image) ** 2) * hole).sum() / holes
        return {
            "loss": self.config.hole_weight * l1_hole + l1_valid,
            "l1_hole": l1_hole,
            "psnr_hole": -10 * torch.log10(hole_mse.clamp_min(1e-10)),
        }

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        image = batch["image"][:6]
        mask = torch.stack(
            [
                degrade.inpainting_mask(image.shape[-2], image.shape[-1], "medium", seed=10**6 + k)[0]
                for k in range(len(image))
            ]
        ).to(image.device)
        return torch.stack([image * (1 - mask) + mask, self(image, mask).clamp(0, 1), image], 1).flatten(0, 1)
