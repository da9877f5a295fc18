"""``tamper``: where was this photo edited? A U-Net reads the image and a fixed high-pass residual of it
(the traces of an edit live in noise and compression statistics more than in content), pixel-unshuffled
to half resolution, and predicts a per-pixel tamper probability; the image-level score is the mean of the
1 % most suspicious pixels, and ``image_prob`` maps it through a logistic calibration fitted on untouched
and edited validation photos (experiments/calibrate_tamper.py), so that 0.5 is a fair threshold.

Trained on photo patches edited in the data loader's workers by ``darkroom.data.tamper`` (splicing,
copy-move, removal, recolouring, local blur / sharpening / noise), followed half of the time by a global
JPEG and resize; a share of patches stays untouched so that clean photos learn to score low.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.data import degrade
from darkroom.data import tamper as tampering
from darkroom.data.chain import apply_chain
from darkroom.nn.unet import UNet

# SRM-style residual filters: second-order differences, horizontal / vertical / the 3x3 "square" kernel.
_SRM = (
    torch.tensor(
        [
            [[0, 0, 0], [1, -2, 1], [0, 0, 0]],
            [[0, 1, 0], [0, -2, 0], [0, 1, 0]],
            [[-1, 2, -1], [2, -4, 2], [-1, 2, -1]],
        ],
        dtype=torch.float32,
    )
    / 4
)


class TamperSample:
    """Per-sample transform for the loader: edit a patch (or leave it clean), keep the mask. The second
    photo that splicing needs comes from the last few patches this worker has seen."""

    def __init__(
        self,
        clean_prob: float,
        keep: int = 8,
        host_prob: float = 0.0,
        gray_prob: float = 0.0,
        jpeg_prob: float = 0.5,
        frame_prob: float = 0.0,
        crop: int = 0,
    ):
        self.clean_prob, self.keep, self.seen, self.crop = clean_prob, keep, [], crop
        self.host_prob, self.gray_prob, self.jpeg_prob, self.frame_prob = host_prob, gray_prob, jpeg_prob, frame_prob

    def zoom_out(self, image: torch.Tensor, rng) -> torch.Tensor:
        """A random crop x crop window of the patch, shrunk first by a log-uniform factor from 1 to
        side / crop: the same photos at several densities of content, as users' photos come."""
        h, w = image.shape[-2:]
        most = min(h, w) / self.crop
        if most > 1:
            factor = float(np.exp(rng.uniform(0, np.log(most))))
            size = (max(self.crop, round(h / factor)), max(self.crop, round(w / factor)))
            image = (degrade.resize(image, size)[0] * 255).round() / 255
        top = int(rng.integers(image.shape[-2] - self.crop + 1))
        left = int(rng.integers(image.shape[-1] - self.crop + 1))
        return image[:, top : top + self.crop, left : left + self.crop]

    def __call__(self, sample: dict, rng) -> dict:
        image = sample["image"]
        if image.shape[0] == 1:
            image = image.expand(3, -1, -1)
        if self.crop:
            image = self.zoom_out(image, rng)
        # the photo's own past, uniform over the frame: only what differs inside it is an edit
        if rng.random() < self.gray_prob:
            image = kornia.color.rgb_to_grayscale(image[None])[0].expand(3, -1, -1)
        if rng.random() < self.host_prob:
            image = apply_chain(image, tampering.random_history(rng), seed=int(rng.integers(2**31)))
            image = ((image * 255).round() / 255).clamp(0, 1)
        if rng.random() < self.frame_prob:
            image, _ = tampering.frame_history(image, rng)
        h, w = image.shape[-2:]
        if rng.random() < self.clean_prob or not self.seen:
            edited, mask, params = image, torch.zeros(1, h, w), {"edit": None}
        else:
            donor = self.seen[int(rng.integers(len(self.seen)))]
            edited, mask, params = tampering.tamper(image, rng, donor=donor)
        self.seen = (self.seen + [image])[-self.keep :]
        # the global resize runs at a fixed output size here, so that batches stack: shrink, then pad back
        edited, mask, post = tampering.postprocess(edited, mask, rng, p_jpeg=self.jpeg_prob, p_resize=0.0)
        return {
            "image": edited.contiguous(),
            "label": int(params["edit"] is not None),
            "mask": mask,
            "edit": params["edit"] or "clean",
            **({"post": post} if post else {}),
        }


@dataclass(frozen=True)
class TamperConfig:
    channels: int = 0
    image_size: int = 0
    width: int = 24
    levels: int = 4
    cap: int = 128
    clean_prob: float = 0.25  # share of training patches left untouched
    pos_weight: float = 3.0  # BCE weight of tampered pixels
    host_prob: float = 0.0  # share of training photos given a random noise / blur / JPEG history before the edit
    gray_prob: float = 0.0  # share of training photos made gray (3 equal channels) before the edit
    jpeg_prob: float = 0.5  # share of training patches recompressed (JPEG q60-95) after the edit
    frame_prob: float = 0.0  # share of training photos enlarged, sharpened or given grain all over before the edit
    crop: int = 0  # > 0: train on crop x crop windows of the patches, shrunk first by up to patch / crop
    # image_prob = sigmoid(score_slope * logit(image_score) + score_shift); 1 and 0 leave the score as is
    score_slope: float = 1.0
    score_shift: float = 0.0

    def check(self):
        if self.width < 1 or self.levels < 1 or not 0 <= self.clean_prob < 1:
            raise ValueError("width and levels must be >= 1, clean_prob in [0, 1)")
        if not all(0 <= p <= 1 for p in (self.host_prob, self.gray_prob, self.jpeg_prob, self.frame_prob)):
            raise ValueError("host_prob, gray_prob, jpeg_prob and frame_prob must be in [0, 1]")
        if self.crop and not 32 <= self.crop <= (self.image_size or self.crop):
            raise ValueError(f"crop must be 0 or from 32 to the patch size, got {self.crop}")


class TamperLocalizer(nn.Module):
    """(B, 3, H, W) in [0, 1] -> (B, 1, H, W) tamper logits; ``score`` gives the image-level probability."""

    Config = TamperConfig
    train_defaults = {"lr": 1e-3, "batch_size": 16}

    def __init__(self, config: TamperConfig):
        super().__init__()
        self.config = c = config
        self.register_buffer("srm", _SRM[:, None].repeat(3, 1, 1, 1), persistent=False)  # depthwise, 9 maps
        # at half resolution (pixel-unshuffled: the finest pixels survive as channels), 4x cheaper on a CPU
        self.net = UNet(4 * (3 + 9), 4, c.width, c.levels, c.cap)
        self.sample_transform = TamperSample(
            c.clean_prob,
            host_prob=c.host_prob,
            gray_prob=c.gray_prob,
            jpeg_prob=c.jpeg_prob,
            frame_prob=c.frame_prob,
            crop=c.crop,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h, w = x.shape[-2:]
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if h % 2 or w % 2 else x
        residual = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.srm, groups=3) * 8
        half = F.pixel_unshuffle(torch.cat([x * 2 - 1, residual], 1), 2)
        return F.pixel_shuffle(self.net(half), 2)[..., :h, :w]

    @staticmethod
    def image_score(prob: torch.Tensor, top: float = 0.01) -> torch.Tensor:
        """Mean of the ``top`` fraction most suspicious pixels of each (B, 1, H, W) map -> (B,)."""
        flat = prob.flatten(1)
        k = max(1, int(flat.shape[1] * top))
        return flat.topk(k, dim=1).values.mean(1)

    def calibrate(self, score: torch.Tensor) -> torch.Tensor:
        """Raw image scores -> calibrated probabilities: sigmoid(slope * logit(score) + shift)."""
        logit = torch.logit(score.clamp(1e-4, 1 - 1e-4))
        return torch.sigmoid(self.config.score_slope * logit + self.config.score_shift)

    def image_prob(self, prob: torch.Tensor) -> torch.Tensor:
        """Calibrated probability that each (B, 1, H, W) map's image was edited -> (B,)."""
        return self.calibrate(self.image_score(prob))

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["image"]
        mask = torch.stack(batch["mask"]).to(x.device)
        logits = self(x)
        weight = 1 + (self.config.pos_weight - 1) * mask
        bce = F.binary_cross_entropy_with_logits(logits, mask, weight=weight)
        prob = torch.sigmoid(logits)
        inter = (prob * mask).flatten(1).sum(1)
        dice = 1 - (2 * inter + 1) / (prob.flatten(1).sum(1) + mask.flatten(1).sum(1) + 1)
        tampered = (mask.flatten(1).amax(1) > 0).float()
        score = self.image_score(prob)
        image_loss = F.binary_cross_entropy(score.clamp(1e-4, 1 - 1e-4), tampered)
        loss = bce + (dice * tampered).sum() / tampered.sum().clamp_min(1) + 0.5 * image_loss
        with torch.no_grad():
            hard = (prob > 0.5).float()
            tp = (hard * mask).sum()
            f1 = 2 * tp / (hard.sum() + mask.sum()).clamp_min(1)
            accuracy = ((score > 0.5).float() == tampered).float().mean()
        return {"loss": loss, "pixel_f1": f1, "image_accuracy": accuracy, "bce": bce}

    @torch.no_grad()
    def preview(self, batch: dict) -> torch.Tensor:
        x = batch["image"][:6]
        mask = torch.stack(batch["mask"][:6]).to(x.device)
        prob = torch.sigmoid(self(x))
        return torch.stack([x, mask.expand_as(x), prob.expand_as(x)], 1).flatten(0, 1)
