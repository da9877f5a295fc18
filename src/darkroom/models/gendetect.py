"""``gendetect``: was this photograph made (or remade) by a network? A binary detector of restoration-network
outputs versus camera photographs, trained on the set of ``ops/generated.py`` (``npz:FILE``; label 0 =
real, k > 0 = family k).

Works at full resolution on small crops (network traces live in the finest pixels; resizing would erase
them): the image and its SRM high-pass residual (``inputs = "srm"``) or the neighbouring-pixel residual
alone (``"npr"``: each pixel minus the top-left pixel of its 2x2 block, after Tan et al. 2024, whose
upsampling traces generalise across generators), taken in RGB or (``residual_space = "ycc"``) in luma, Cb
and Cr with the chroma scaled to the luma's range, into a small ResNet with a stride-1 stem, GeM pooling, one
logit; both classes weigh the same in the loss. With ``spectrum_bins`` > 0 the head also reads the crop's
Durall spectrum profile (through a small layer of its own): the cue that finds a smoothing network that
does no upsampling, which the residual alone misses when such a family is left out; with
``spectrum_chroma``, the profiles of the two chroma channels too (a colorizer's or a denoiser's colour is
smoother than a camera's). Training crops pass
through the same random flips and rotations whatever their class and, with the probabilities of the
config, JPEG and mild blur or resizing (on a CPU budget these cost much of the accuracy on clean crops:
see configs/gendetect.toml). ``holdout`` drops one family from the loss (leave-one-family-out evaluation).

    model(crops)          -> (B,) logits (with ``tta``, outside training: the mean over the 8 ``dihedral`` views)
    model.probability(l)  -> calibrated probabilities for logits (see experiments/calibrate_gendetect.py)
    model.image_prob(x)   -> probability for a whole (3, H, W) image: mean logit over a grid of crops

``DetectorPair`` ("gendetect-pair") holds two such networks, trained by different recipes, and scores a crop
by the mean of their calibrated logits (experiments/pair_gendetect.py makes one from two runs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from darkroom.config import build_config
from darkroom.data import degrade
from darkroom.nn.residuals import (
    CHANNELS,
    CHROMA,
    CHROMA_GAIN,
    HIGHPASS,
    INPUTS,
    block_grid,
    residual_inputs,
    spectrum_profile,
    to_ycc,
)
from darkroom.nn.resnet import GeM, SmallResNet


def either(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The logit of 1 - (1 - sigmoid(a)) (1 - sigmoid(b)): that at least one of two independent detectors
    with logits a and b fires (noisy-OR)."""
    neither = (F.logsigmoid(-a) + F.logsigmoid(-b)).clamp(max=-1e-12)  # log P(neither fires)
    return torch.log(-torch.expm1(neither)) - neither


def dihedral(x: torch.Tensor) -> list[torch.Tensor]:
    """(..., H, W) -> its 8 flips and quarter turns, the identity first (the transforms every training crop
    goes through)."""
    return [torch.rot90(x.flip(-1) if flip else x, turns, (-2, -1)) for flip in (False, True) for turns in range(4)]


def mean_over_views(score, x: torch.Tensor) -> torch.Tensor:
    """``score`` (a batch -> (B,) logits) averaged over the 8 ``dihedral`` views of x (test-time augmentation)."""
    return torch.stack([score(view) for view in dihedral(x)]).mean(0)


def smooth_max(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """T log(exp(a / T) + exp(b / T)): the larger of a and b at T = 0, towards their mean + T log 2 as T grows."""
    return temperature * torch.logaddexp(a / temperature, b / temperature) if temperature else torch.maximum(a, b)


class DetectSample:
    """Per-sample augmentation (the data loader's workers): dihedral transform, then with some probability
    a mild resize, a blur, a JPEG recompression; then a crop of ``crop`` px."""

    def __init__(
        self,
        crop: int,
        jpeg_prob: float = 0.3,
        blur_prob: float = 0.1,
        resize_prob: float = 0.1,
        real_blur_prob: float = 0.0,
        spectrum_only: float = 0.0,
        profile_real_jpeg: float = 0.0,
    ):
        self.crop, self.jpeg_prob, self.blur_prob, self.resize_prob = crop, jpeg_prob, blur_prob, resize_prob
        self.real_blur_prob, self.spectrum_only = real_blur_prob, spectrum_only
        self.profile_real_jpeg = profile_real_jpeg

    def __call__(self, sample: dict, rng) -> dict:
        x = sample["image"]
        k = int(rng.integers(8))
        x = torch.rot90(x, k % 4, (-2, -1))
        x = x.flip(-1) if k >= 4 else x
        if rng.random() < self.resize_prob:
            x = degrade.resize(x, [max(self.crop, round(s * rng.uniform(0.8, 1.25))) for s in x.shape[-2:]])[0]
        if rng.random() < self.blur_prob:
            x = degrade.gaussian_blur(x, float(rng.uniform(0.3, 1.0)))[0]
        if sample.get("label", 1) == 0 and rng.random() < self.real_blur_prob:  # soft photos are still photos
            x = degrade.gaussian_blur(x, float(rng.uniform(0.5, 2.0)))[0]
            x = (x * 255).round() / 255
        if rng.random() < self.jpeg_prob:
            x = degrade.jpeg(x, int(rng.integers(65, 101)))[0]
        extra = {}
        if self.profile_real_jpeg:  # the profile-only share is drawn here, so its real crops can be JPEG'd
            extra["profile_only"] = bool(rng.random() < self.spectrum_only)
            if extra["profile_only"] and sample.get("label", 1) == 0 and rng.random() < self.profile_real_jpeg:
                x = degrade.jpeg(x, int(rng.integers(60, 101)))[0]
        h, w = x.shape[-2:]
        top, left = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
        return {**sample, **extra, "image": x[:, top : top + self.crop, left : left + self.crop]}


@dataclass(frozen=True)
class GenDetectConfig:
    channels: int = 0
    image_size: int = 0
    num_classes: int = 0
    crop: int = 64
    width: int = 16
    stages: int = 4
    # srm: image + SRM high-pass residual; npr: neighbouring-pixel residual only; srm+npr: all three
    inputs: str = "srm"
    # the colour space the residual is taken in: "rgb", or "ycc" (luma, Cb, Cr, the chroma scaled to the
    # luma's range: a colorizer keeps the photo's luma and changes only the chroma, which is small in RGB)
    residual_space: str = "rgb"
    chroma_gain: float = CHROMA_GAIN  # "ycc": the factor on Cb and Cr (1: the same information as RGB)
    spectrum_bins: int = 0  # > 0: the head also reads the crop's spectrum profile with this many radii
    # and the profiles of the two chroma channels (Cb, Cr) beside it: networks smooth colour too
    spectrum_chroma: bool = False
    # and, beside the profiles, how strongly an 8 px block grid (a JPEG's) stands out across columns and rows
    spectrum_grid: bool = False
    # training: the share of crops whose residual features are zeroed, so the head reads the profile alone
    spectrum_only: float = 0.0
    # training: the chance that a real crop of the profile-only share is first recompressed as a JPEG
    # (quality 60-100), still labelled real, so the profile half learns that JPEG's smoothing is a camera
    # file's, not a network's (photos at their own size carry it; see halves = "max")
    profile_real_jpeg: float = 0.0
    # units of the profiles' own layer before the head; 0: the head reads the normalised profiles directly
    # (its profile part is then a linear model, as the spectral baseline's logistic regression)
    spectrum_hidden: int = 32
    # how the residual and the profiles make one logit: "sum", one linear head over both; "or", a logit of
    # each and the probability that either fires (noisy-OR), so one cue is enough and the other need not
    # cancel it on a family it does not know
    combine: str = "sum"
    # how a "sum" head's two halves make the logit outside training: "sum", as trained; "max", the larger of
    # the two, each standardised by ``half_stats`` (the residual half's mean and sd, then the profile
    # half's, on real validation crops: experiments/calibrate_gendetect.py --halves max). Either cue alone can
    # then call a crop network-made, and the other cannot veto it on a family neither was trained on
    halves: str = "sum"
    half_stats: tuple[float, ...] = (0.0, 1.0, 0.0, 1.0)
    # "max": 0 takes the larger half; T > 0 the smooth maximum T log(exp(r / T) + exp(p / T)), which runs
    # from the larger (T -> 0) towards the sum of the standardised halves (large T), so a crop that both
    # halves find a little suspect can outrank one that a single half finds so
    half_temperature: float = 0.0
    # outside training, score a crop by its mean logit over its 8 flips and quarter turns: training shows the
    # network every crop in a random one of them, and the residual's 2x2 grid is not symmetric under them
    tta: bool = False
    holdout: int = 0  # a family label left out of training (leave-one-family-out); 0 = none
    jpeg_prob: float = 0.3  # training augmentation, the same for both classes
    blur_prob: float = 0.1
    resize_prob: float = 0.1
    real_blur_prob: float = 0.0  # real crops only: a blur of sigma 0.5-2, still labelled real
    # probability = sigmoid(logit_slope * logit + logit_shift), fitted on validation photos
    # (experiments/calibrate_gendetect.py); 1 and 0 leave the network's logit as is
    logit_slope: float = 1.0
    logit_shift: float = 0.0

    def check(self):
        if (
            self.crop < 16
            or self.width < 1
            or self.stages < 1
            or self.holdout < 0
            or min(self.spectrum_bins, self.spectrum_hidden) < 0
        ):
            raise ValueError(
                "gendetect: crop >= 16, width and stages >= 1, holdout, spectrum_bins and spectrum_hidden >= 0"
            )
        if not 0 <= self.spectrum_only < 1 or (self.spectrum_only and not self.spectrum_bins):
            raise ValueError("gendetect: spectrum_only must be in [0, 1) and needs spectrum_bins")
        if not 0 <= self.profile_real_jpeg <= 1 or (self.profile_real_jpeg and not self.spectrum_only):
            raise ValueError("gendetect: profile_real_jpeg must be in [0, 1] and needs spectrum_only")
        if (self.spectrum_chroma or self.spectrum_grid) and not self.spectrum_bins:
            raise ValueError("gendetect: spectrum_chroma and spectrum_grid need spectrum_bins")
        if self.combine not in ("sum", "or") or (self.combine == "or" and not self.spectrum_bins):
            raise ValueError(
                f"gendetect: combine must be 'sum' or 'or' (which needs spectrum_bins), got {self.combine!r}"
            )
        if self.halves not in ("sum", "max") or (
            self.halves == "max" and (self.combine != "sum" or not self.spectrum_bins)
        ):
            raise ValueError(
                f"gendetect: halves must be 'sum' or 'max' (which needs spectrum_bins and combine "
                f"'sum'), got {self.halves!r}"
            )
        if len(self.half_stats) != 4 or min(self.half_stats[1], self.half_stats[3]) <= 0:
            raise ValueError("gendetect: half_stats is four numbers: mean, sd (> 0), mean, sd (> 0)")
        if self.half_temperature < 0:
            raise ValueError(f"gendetect: half_temperature must be >= 0, got {self.half_temperature}")
        if self.chroma_gain <= 0:
            raise ValueError(f"gendetect: chroma_gain must be > 0, got {self.chroma_gain}")
        if self.residual_space not in ("rgb", "ycc"):
            raise ValueError(f"gendetect: residual_space must be 'rgb' or 'ycc', got {self.residual_space!r}")
        if self.inputs not in INPUTS:
            raise ValueError(f"gendetect: inputs must be one of {', '.join(INPUTS)}, got {self.inputs!r}")
        if not all(0 <= p <= 1 for p in (self.jpeg_prob, self.blur_prob, self.resize_prob, self.real_blur_prob)):
            raise ValueError("gendetect: jpeg_prob, blur_prob, resize_prob and real_blur_prob must be in [0, 1]")


class GeneratedDetector(nn.Module):
    Config = GenDetectConfig
    train_defaults = {"lr": 1e-3, "batch_size": 64, "schedule": "cosine", "weight_decay": 1e-4}

    def __init__(self, config: GenDetectConfig):
        super().__init__()
        self.config = c = config
        self.register_buffer("highpass", HIGHPASS.expand(3, 1, 3, 3).clone())
        self.body = SmallResNet(CHANNELS[c.inputs], c.width, c.stages, stem_stride=1)
        self.pool = GeM()
        features = self.body.out_channels
        if c.spectrum_bins:
            profiles = c.spectrum_bins * (3 if c.spectrum_chroma else 1) + (2 if c.spectrum_grid else 0)
            hidden = c.spectrum_hidden
            layer = [nn.Linear(profiles, hidden), nn.ReLU()] if hidden else []
            self.spectrum = nn.Sequential(nn.BatchNorm1d(profiles), *layer)
            if c.combine == "or":
                self.spectrum_head = nn.Linear(hidden or profiles, 1)
            else:
                features += hidden or profiles
        self.head = nn.Linear(features, 1)
        self.sample_transform = DetectSample(
            c.crop, c.jpeg_prob, c.blur_prob, c.resize_prob, c.real_blur_prob, c.spectrum_only, c.profile_real_jpeg
        )

    def forward(self, x: torch.Tensor, profile_only: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) -> (B,) logits. In training, ``profile_only`` (B,) bool marks the crops read from
        the spectrum profile alone; without it, a ``spectrum_only`` share of them drawn here."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.config.tta and not self.training:
            return mean_over_views(self.logits, x)
        return self.logits(x, profile_only)

    def logits(self, x: torch.Tensor, profile_only: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) -> (B,) logits of the crops as they are, one view each (see ``forward``)."""
        if self.config.halves == "max" and not self.training:
            return smooth_max(*self.standardised_halves(x), self.config.half_temperature)
        features = self.residual_features(x)
        if self.training and self.config.spectrum_only:
            if profile_only is None:
                profile_only = torch.rand(len(x), device=x.device) < self.config.spectrum_only
            features = features * ~profile_only.to(x.device)[:, None]
        if not self.config.spectrum_bins:
            return self.head(features).squeeze(1)
        spectrum = self.spectrum(self.profiles(x))
        if self.config.combine == "or":
            return either(self.head(features).squeeze(1), self.spectrum_head(spectrum).squeeze(1))
        return self.head(torch.cat([features, spectrum], 1)).squeeze(1)

    def half_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> the "sum" head's logit in its two shares: the residual features' (with the bias)
        and the spectrum profiles'; their sum is the logit as trained."""
        if self.config.combine != "sum" or not self.config.spectrum_bins:
            raise ValueError("gendetect: half_logits needs spectrum_bins and combine 'sum'")
        features, spectrum = self.residual_features(x), self.spectrum(self.profiles(x))
        n = features.shape[1]
        return (
            F.linear(features, self.head.weight[:, :n], self.head.bias).squeeze(1),
            F.linear(spectrum, self.head.weight[:, n:]).squeeze(1),
        )

    def standardised_halves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``half_logits``, each standardised by its ``half_stats`` (mean and sd on real validation crops)."""
        mean_r, sd_r, mean_p, sd_p = self.config.half_stats
        residual, profile = self.half_logits(x)
        return (residual - mean_r) / sd_r, (profile - mean_p) / sd_p

    def residual_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> the pooled features of the residual half of the head."""
        x = x * 2 - 1
        if self.config.residual_space == "ycc":
            x = to_ycc(x, self.config.chroma_gain)
        return self.pool(self.body(residual_inputs(x, self.config.inputs, self.highpass)))

    def profiles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> the spectrum profiles the head reads: the luma's, then Cb's and Cr's and the block
        grid's two figures if configured."""
        bins = self.config.spectrum_bins
        mixes = CHROMA if self.config.spectrum_chroma else ()
        grid = [block_grid(x)] if self.config.spectrum_grid else []
        return torch.cat([spectrum_profile(x, bins)] + [spectrum_profile(x, bins, w) for w in mixes] + grid, 1)

    def loss(self, batch: dict) -> dict[str, torch.Tensor]:
        x, labels = batch["image"], batch["label"]
        keep = labels != self.config.holdout if self.config.holdout else torch.ones_like(labels, dtype=torch.bool)
        if not keep.any():
            zero = x.sum() * 0
            return {"loss": zero}
        profile_only = batch.get("profile_only")
        if profile_only is not None:
            profile_only = torch.tensor(profile_only, dtype=torch.bool)[keep]
        logits = self(x[keep], profile_only)
        target = (labels[keep] > 0).float()
        # the classes weigh the same, however many generated examples each real one has
        share = target.mean().clamp(0.05, 0.95)
        weight = torch.where(target > 0, 0.5 / share, 0.5 / (1 - share))
        loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
        return {"loss": loss, "accuracy": ((logits > 0).float() == target).float().mean().detach()}

    def probability(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> calibrated probabilities that the crops came out of a network."""
        return torch.sigmoid(self.config.logit_slope * logits + self.config.logit_shift)

    @torch.no_grad()
    def image_prob(self, image: torch.Tensor, max_crops: int = 64) -> float:
        """Probability that a (C, H, W) image in [0, 1] came out of a network: the mean logit over up to
        ``max_crops`` crops on a regular grid (images smaller than a crop are padded by reflection)."""
        c = self.config.crop
        x = image.float()
        if min(x.shape[-2:]) < c:
            pad_h, pad_w = max(0, c - x.shape[-2]), max(0, c - x.shape[-1])
            x = F.pad(x[None], (0, pad_w, 0, pad_h), mode="replicate")[0]
        h, w = x.shape[-2:]
        rows, cols = max(1, h // c), max(1, w // c)
        while rows * cols > max_crops:
            rows, cols = max(1, rows - (rows >= cols)), max(1, cols - (cols > rows))
        tops = np.linspace(0, h - c, rows).round().astype(int)
        lefts = np.linspace(0, w - c, cols).round().astype(int)
        crops = torch.stack([x[:, t : t + c, l : l + c] for t in tops for l in lefts])
        device = next(self.parameters()).device
        return float(self.probability(self(crops.to(device)).mean()))


@dataclass(frozen=True)
class DetectorPairConfig:
    # the two networks' GenDetectConfig, as JSON (a config does not nest): their calibrations included
    first: str = "{}"
    second: str = "{}"
    crop: int = 48  # image_prob's crops
    holdout: int = 0  # the family both members were trained without (leave-one-family-out), 0 = none
    # outside training, the mean over each crop's 8 flips and quarter turns (the members' own tta is off)
    tta: bool = False
    logit_slope: float = 1.0  # the pair's own calibration of the mean logit (experiments/calibrate_gendetect.py)
    logit_shift: float = 0.0

    def check(self):
        if self.crop < 16:
            raise ValueError(f"gendetect-pair: crop must be >= 16, got {self.crop}")


class DetectorPair(nn.Module):
    """Two generated-image detectors trained by different recipes, one crop's logit the mean of their
    calibrated logits: where one recipe is weak on a family it was not trained on, the other need not be."""

    Config = DetectorPairConfig

    def __init__(self, config: DetectorPairConfig):
        super().__init__()
        self.config = config
        members = [
            build_config(GenDetectConfig, {**json.loads(text), "tta": False}) for text in (config.first, config.second)
        ]
        self.members = nn.ModuleList(GeneratedDetector(member) for member in members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B,) logits: the mean of the members' calibrated logits (over the 8 views with tta)."""
        return mean_over_views(self.mean_logit, x) if self.config.tta and not self.training else self.mean_logit(x)

    def mean_logit(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.config.logit_slope * m(x) + m.config.logit_shift for m in self.members]).mean(0)

    def loss(self, batch: dict):
        raise ValueError("gendetect-pair is not trained: train two gendetect runs, then experiments/pair_gendetect.py")

    probability = GeneratedDetector.probability
    image_prob = GeneratedDetector.image_prob
