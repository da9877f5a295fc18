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

``loss = "classify"`` is Zhang, Isola and Efros's Colorful Image Colorization: the network predicts, at a
quarter of the resolution, a distribution over the in-gamut ab bins of a 10-unit grid (``ab_bins``), trained
by cross-entropy against a soft encoding of the true colour (its 5 nearest bins, Gaussian, sigma 5), each
pixel weighted by the inverse of its bin's smoothed frequency in the training photos mixed half-and-half
with uniform (class rebalancing: rare, saturated colours count). It is decoded by the annealed mean
(``temperature`` 0.38): the mean colour of the distribution sharpened by 1/T, vivid where L1 averages to brown.

``work_size`` S > 0 colours an image whose short side is over S pixels at that size and enlarges the colour
only: the network sees the scene at the scale it was trained at, and the luma keeps every detail.

``pretrained`` names a ``simclr`` run with a ``unet`` backbone trained on grayscale photos: its encoder
then starts the colorizer's, the contrastive-pretraining variant of colorization.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data.base import readable_images
from darkroom.models.restore import psnr_tensor, random_dihedral
from darkroom.nn.unet import UNet

LOSSES = ("l1-lab", "mse-rgb", "classify")
BIN = 10.0  # ab grid step
CLASS_STRIDE = 4  # "classify" predicts at 1/4 of the resolution


def ab_bins() -> torch.Tensor:
    """(Q, 2) centres of the 10-unit ab grid cells that hold an sRGB colour at some lightness (Q = 313
    in Zhang et al.; here the cells whose centre is in gamut at one of 41 lightness levels)."""
    grid = torch.arange(-110.0, 111.0, BIN)
    a, b = torch.meshgrid(grid, grid, indexing="ij")
    ab = torch.stack([a.flatten(), b.flatten()], 1)
    lightness = torch.linspace(2.5, 97.5, 41)
    lab = torch.cat([lightness.repeat_interleave(len(ab))[:, None], ab.repeat(len(lightness), 1)], 1)
    rgb = kornia.color.lab_to_rgb(lab.T[None, :, :, None], clip=False)[0, :, :, 0].T
    inside = ((rgb >= -1e-3) & (rgb <= 1 + 1e-3)).all(1).view(len(lightness), len(ab)).any(0)
    return ab[inside]


def soft_encode(ab: torch.Tensor, centres: torch.Tensor, k: int = 5, sigma: float = 5.0):
    """(B, 2, h, w) ab -> (B, Q, h, w) weights on the ``k`` nearest bin centres (Gaussian) and the
    (B, h, w) index of the nearest."""
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2)
    dist, index = torch.cdist(flat, centres).topk(k, dim=1, largest=False)
    weights = torch.softmax(-(dist**2) / (2 * sigma**2), dim=1)
    soft = torch.zeros(len(flat), len(centres), device=ab.device).scatter_(1, index, weights)
    b, _, h, w = ab.shape
    return soft.view(b, h, w, -1).permute(0, 3, 1, 2), index[:, 0].view(b, h, w)


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
    temperature: float = 0.38  # loss = "classify": the annealed mean's T
    rebalance: float = 0.5  # loss = "classify": the uniform share mixed into the prior (Zhang's lambda)
    work_size: int = 0  # colour at most this short side, enlarge the colour (0: the input's own size)

    def check(self):
        if self.chroma_scale < 1:
            raise ValueError(f"colorize: chroma_scale must be >= 1, got {self.chroma_scale}")
        if self.loss == "classify" and self.chroma_scale not in (1, 2, 4):
            raise ValueError(f"colorize: loss classify takes chroma_scale 1, 2 or 4, got {self.chroma_scale}")
        if self.loss not in LOSSES:
            raise ValueError(f"colorize: loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not 0 < self.temperature <= 1:
            raise ValueError(f"colorize: temperature must be in (0, 1], got {self.temperature}")
        if not 0 <= self.rebalance <= 1:
            raise ValueError(f"colorize: rebalance must be in [0, 1], got {self.rebalance}")
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
        if c.loss == "classify":
            self.register_buffer("centres", ab_bins())
            self.register_buffer("class_weights", torch.ones(len(self.centres)))
            self.net = UNet(1, c.width, c.width, c.levels, c.cap)
            self.classes = nn.Sequential(nn.SiLU(), nn.Conv2d(c.width, len(self.centres), 1))
        else:
            self.net = UNet(1, 3, c.width, c.levels, c.cap)
            nn.init.zeros_(self.net.head.weight)  # start from the gray image itself
            nn.init.zeros_(self.net.head.bias)

    def prepare_data(self, dataset, print_fn=print, samples: int = 600) -> None:
        """``classify``: the rebalancing weights from the ab histogram of (up to) ``samples`` training
        patches (the trainer calls this with the train split first; later calls keep them)."""
        if self.config.loss != "classify" or getattr(self, "_prepared", False):
            return
        self._prepared = True
        images = readable_images(dataset, samples)
        counts = torch.zeros(len(self.centres))
        for image in images:
            ab = F.avg_pool2d(kornia.color.rgb_to_lab(image[None])[:, 1:], CLASS_STRIDE)
            counts += torch.bincount(soft_encode(ab, self.centres)[1].flatten(), minlength=len(counts)).float()
        prior = counts / counts.sum().clamp_min(1)
        near = torch.exp(-(torch.cdist(self.centres, self.centres) ** 2) / (2 * 5.0**2))
        prior = near @ prior / near.sum(1)  # smoothed with a Gaussian of sigma 5 in ab
        prior = prior / prior.sum()
        weights = 1 / ((1 - self.config.rebalance) * prior + self.config.rebalance / len(prior))
        self.class_weights.copy_(weights / (prior * weights).sum())
        print_fn(
            f"colorize: ab prior from {len(images)} patches; {int((counts > 0).sum())} of "
            f"{len(counts)} bins seen, weights {float(self.class_weights.min()):.2f}-"
            f"{float(self.class_weights.max()):.2f}"
        )

    def logits(self, gray: torch.Tensor) -> torch.Tensor:
        """``classify``: (B, Q, H/4, W/4) bin logits for a (B, 1, H, W) luma image (the U-Net reads it
        ``chroma_scale`` times smaller)."""
        k = self.config.chroma_scale
        if k > 1:
            gray = F.avg_pool2d(gray, k, ceil_mode=True)
        features = self.net(gray * 2 - 1)
        return self.classes(F.avg_pool2d(features, CLASS_STRIDE // k, ceil_mode=True) if k < CLASS_STRIDE else features)

    def decode(self, logits: torch.Tensor, size) -> torch.Tensor:
        """Annealed mean: (B, Q, h, w) logits -> (B, 2, *size) ab."""
        p = torch.softmax(logits / self.config.temperature, dim=1)
        ab = torch.einsum("bqhw,qc->bchw", p, self.centres)
        return F.interpolate(ab, size=size, mode="bilinear", align_corners=False)

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
            raise ValueError(
                f"{self.config.pretrained}: its encoder does not fit this colorizer "
                f"(width/levels/cap must match): {str(err).splitlines()[0]}"
            ) from None

    def lab(self, gray: torch.Tensor) -> torch.Tensor:
        """Predicted Lab (B, 3, H, W) for a (B, 1, H, W) luma image."""
        base = kornia.color.rgb_to_lab(gray.expand(-1, 3, -1, -1))
        if self.config.loss == "classify":
            return torch.cat([base[:, :1], self.decode(self.logits(gray), gray.shape[-2:])], 1)
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
        size, work = gray.shape[-2:], self.config.work_size
        if not work or min(size) <= work:
            return self.rgb(gray, self.lab(gray))
        factor = work / min(size)
        small = F.interpolate(gray, size=(round(size[0] * factor), round(size[1] * factor)), mode="area")
        ab = F.interpolate(self.lab(small)[:, 1:], size=size, mode="bilinear", align_corners=False)
        base = kornia.color.rgb_to_lab(gray.expand(-1, 3, -1, -1))
        return self.rgb(gray, torch.cat([base[:, :1], ab], 1))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        image = batch["image"]
        if self.training and self.config.upright:  # mirrored at most: the sky stays above
            image = image.flip(-1) if torch.rand(()) < 0.5 else image
        elif self.training:
            image = random_dihedral(image)
        gray = luma(image)
        target = kornia.color.rgb_to_lab(image)
        if self.config.loss == "classify":
            logits = self.logits(gray)
            soft, nearest = soft_encode(F.avg_pool2d(target[:, 1:], CLASS_STRIDE, ceil_mode=True), self.centres)
            cross = -(soft * F.log_softmax(logits, dim=1)).sum(1)
            loss = (cross * self.class_weights[nearest]).mean()
            with torch.no_grad():
                pred = torch.cat(
                    [kornia.color.rgb_to_lab(gray.expand_as(image))[:, :1], self.decode(logits, gray.shape[-2:])], 1
                )
        elif self.config.loss == "mse-rgb":
            pred = self.lab(gray)
            loss = F.mse_loss(self.rgb(gray, pred, clip=False), image)
        else:
            pred = self.lab(gray)
            loss = F.l1_loss(pred / 100, target / 100)
        with torch.no_grad():
            rgb = self.rgb(gray, pred)
            out = {
                "psnr": psnr_tensor(rgb, image),
                "psnr_gray": psnr_tensor(gray.expand_as(image), image),
                "chroma_ratio": pred[:, 1:].norm(dim=1).mean() / target[:, 1:].norm(dim=1).mean().clamp_min(1e-6),
            }
        return {"loss": loss, **out}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        image = batch["image"][:6]
        gray = luma(image).expand_as(image)
        return torch.stack([gray, self(gray).clamp(0, 1), image], 1).flatten(0, 1)
