"""``colorize``: colour for grayscale photos. A U-Net reads the BT.601 luma and predicts the Lab colour
(the a and b channels, plus a small correction of L, since Lab's lightness is not the luma of the
sRGB values), starting from the gray image's own Lab. Trained on colour photos with an L1 loss in Lab
(``loss = "l1-lab"``, the shipped weights) or a squared error in RGB (``"mse-rgb"``, the error PSNR
measures).

``chroma_scale`` k > 1 runs the U-Net on the luma shrunk k times and enlarges its colour back
(bilinear): colour in photographs is smooth (JPEG keeps it at half resolution), so the network spends its
pixels on context, seeing k times more of the scene for the same cost. ``keep_luma`` then shifts the
three channels of each output pixel equally so that its BT.601 luma is exactly the input's: the gray
input is the one part of the answer that is known.

``pretrained`` names a ``simclr`` run with a ``unet`` backbone trained on grayscale photos: its encoder
then starts the colorizer's, the contrastive-pretraining variant of colorization.
"""
from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.models.restore import psnr_tensor, random_dihedral
from darkroom.nn.unet import UNet


@dataclass(frozen=True)
class ColorizeConfig:
    channels: int = 0
    image_size: int = 0
    width: int = 32
    levels: int = 3
    cap: int = 128
    pretrained: str = ""  # a simclr run (unet backbone) whose encoder starts this one's
    loss: str = "l1-lab"  # or "mse-rgb"
    chroma_scale: int = 1  # the U-Net reads the luma shrunk this many times; its colour is enlarged back
    keep_luma: bool = False  # shift each output pixel so that its luma is the input's
    upright: bool = False  # train with mirrored photos only, not rotated ones (colour depends on what is up)

    def check(self):
        if self.chroma_scale < 1:
            raise ValueError(f"colorize: chroma_scale must be >= 1, got {self.chroma_scale}")
        if self.loss not in ("l1-lab", "mse-rgb"):
            raise ValueError(f"colorize: loss must be l1-lab or mse-rgb, got {self.loss!r}")
        if self.channels not in (0, 3):
            raise ValueError(f"colorize trains on colour photos (3 channels), data gives {self.channels}")


def luma(image: torch.Tensor) -> torch.Tensor:
    """(B, 3 or 1, H, W) -> (B, 1, H, W) BT.601 luma; a 1-channel input is already gray."""
    return kornia.color.rgb_to_grayscale(image) if image.shape[1] == 3 else image


class Colorizer(nn.Module):
    """(B, 1 or 3, H, W) gray (or gray-looking RGB) in [0, 1] -> (B, 3, H, W) colour image."""

    Config = ColorizeConfig
    train_defaults = {"lr": 5e-4, "batch_size": 16}

    def __init__(self, config: ColorizeConfig):
        super().__init__()
        self.config = c = config
        self.net = UNet(1, 3, c.width, c.levels, c.cap)
        nn.init.zeros_(self.net.head.weight)  # start from the gray image itself
        nn.init.zeros_(self.net.head.bias)

    def initialize(self) -> None:
        """Called by the trainer on a fresh run: copy a pretrained encoder when ``pretrained`` names one."""
        if not self.config.pretrained:
            return
        from darkroom.models import load_run

        source, info = load_run(self.config.pretrained)
        if info["model"] != "simclr" or not hasattr(source, "encoder") or source.config.backbone != "unet":
            raise ValueError(f"{self.config.pretrained}: pretrained must be a simclr run with a unet backbone")
        try:
            self.net.encoder.load_state_dict(source.encoder.state_dict())
        except RuntimeError as err:
            raise ValueError(f"{self.config.pretrained}: its encoder does not fit this colorizer "
                             f"(width/levels/cap must match): {str(err).splitlines()[0]}") from None

    def lab(self, gray: torch.Tensor) -> torch.Tensor:
        """Predicted Lab (B, 3, H, W) for a (B, 1, H, W) luma image."""
        base = kornia.color.rgb_to_lab(gray.expand(-1, 3, -1, -1))
        k = self.config.chroma_scale
        if k == 1:
            return base + 100 * self.net(gray * 2 - 1)
        size = gray.shape[-2:]
        small = F.interpolate(gray, size=(-(-size[0] // k), -(-size[1] // k)), mode="area")
        colour = F.interpolate(self.net(small * 2 - 1), size=size, mode="bilinear", align_corners=False)
        return base + 100 * colour

    def rgb(self, gray: torch.Tensor, lab: torch.Tensor, clip: bool = True) -> torch.Tensor:
        """The (B, 3, H, W) RGB image of predicted ``lab``, its luma set to ``gray``'s when ``keep_luma``."""
        rgb = kornia.color.lab_to_rgb(lab, clip=clip and not self.config.keep_luma)
        if self.config.keep_luma:  # BT.601's weights sum to 1: an equal shift moves the luma by as much
            rgb = rgb + gray - luma(rgb)
        return rgb.clamp(0, 1) if clip else rgb

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        gray = luma(image)
        return self.rgb(gray, self.lab(gray))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        image = batch["image"]
        if self.training and self.config.upright:  # mirrored at most: the sky stays above
            image = image.flip(-1) if torch.rand(()) < 0.5 else image
        elif self.training:
            image = random_dihedral(image)
        gray = luma(image)
        pred = self.lab(gray)
        target = kornia.color.rgb_to_lab(image)
        if self.config.loss == "mse-rgb":
            loss = F.mse_loss(self.rgb(gray, pred, clip=False), image)
        else:
            loss = F.l1_loss(pred / 100, target / 100)
        with torch.no_grad():
            rgb = self.rgb(gray, pred)
            out = {"psnr": psnr_tensor(rgb, image), "psnr_gray": psnr_tensor(gray.expand_as(image), image),
                   "chroma_ratio": pred[:, 1:].norm(dim=1).mean() / target[:, 1:].norm(dim=1).mean().clamp_min(1e-6)}
        return {"loss": loss, **out}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        image = batch["image"][:6]
        gray = luma(image).expand_as(image)
        return torch.stack([gray, self(gray).clamp(0, 1), image], 1).flatten(0, 1)
