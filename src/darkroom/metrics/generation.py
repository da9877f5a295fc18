"""Sample-quality metrics in a feature space darkroom trains itself (never Inception's).

Every function takes images (N, C, H, W) in [0, 1] and a feature extractor (a classifier with a
``features(x)`` method); FID and KID are torchmetrics' implementations fed with those features.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance


class Features(nn.Module):
    """Adapter for torchmetrics: forward = the extractor's penultimate features, in float64-safe float32."""

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor.eval()
        self.num_features = extractor.num_features

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.extractor.features(images.float())


def _batches(images: torch.Tensor, size: int = 256):
    for start in range(0, len(images), size):
        yield images[start : start + size]


def _check(real: torch.Tensor, fake: torch.Tensor, minimum: int = 2) -> None:
    for name, x in (("real", real), ("fake", fake)):
        if x.ndim != 4 or len(x) < minimum:
            raise ValueError(f"{name} images must be (N, C, H, W) with N >= {minimum}, got {tuple(x.shape)}")


def fid(real: torch.Tensor, fake: torch.Tensor, extractor: nn.Module) -> float:
    """Frechet distance between Gaussian fits of the real and fake feature distributions."""
    _check(real, fake)
    metric = FrechetInceptionDistance(feature=Features(extractor), normalize=True)
    for batch in _batches(real):
        metric.update(batch, real=True)
    for batch in _batches(fake):
        metric.update(batch, real=False)
    return float(metric.compute())


def kid(
    real: torch.Tensor, fake: torch.Tensor, extractor: nn.Module, subsets: int = 50, subset_size: int = 500
) -> tuple[float, float]:
    """Kernel distance (unbiased MMD^2, cubic polynomial kernel): mean and std over random subsets."""
    _check(real, fake)
    subset_size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # torchmetrics warns that it keeps the features (a few thousand here)
        warnings.filterwarnings("ignore", message=".*will save all extracted features")
        metric = KernelInceptionDistance(
            feature=Features(extractor), normalize=True, subsets=subsets, subset_size=subset_size
        )
    for batch in _batches(real):
        metric.update(batch, real=True)
    for batch in _batches(fake):
        metric.update(batch, real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


@torch.no_grad()
def features_of(images: torch.Tensor, extractor: nn.Module) -> torch.Tensor:
    return torch.cat([extractor.eval().features(b.float()) for b in _batches(images)])


def precision_recall(real: torch.Tensor, fake: torch.Tensor, extractor: nn.Module, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): a sample counts as covered when it
    falls inside the k-nearest-neighbour ball of some sample of the other set."""
    _check(real, fake, minimum=k + 1)
    fr, ff = features_of(real, extractor), features_of(fake, extractor)

    def covered(points, support):
        radii = torch.cdist(support, support).kthvalue(k + 1, dim=1).values  # +1: distance to itself is 0
        return (torch.cdist(points, support) <= radii[None]).any(1).float().mean()

    return float(covered(ff, fr)), float(covered(fr, ff))


@torch.no_grad()
def predicted_labels(images: torch.Tensor, classifier: nn.Module) -> torch.Tensor:
    return torch.cat([classifier.eval()(b.float()).argmax(1) for b in _batches(images)])


def label_histogram(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(labels, minlength=num_classes).float() / max(len(labels), 1)


def label_total_variation(
    real: torch.Tensor, fake: torch.Tensor, classifier: nn.Module, num_classes: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mode coverage of an unconditional generator: the total variation distance between the histograms
    of labels ``classifier`` predicts for ``real`` and ``fake`` images (0: the same mix of classes; 1: no
    class in common), with the two histograms."""
    real_hist = label_histogram(predicted_labels(real, classifier), num_classes)
    fake_hist = label_histogram(predicted_labels(fake, classifier), num_classes)
    return float((real_hist - fake_hist).abs().sum() / 2), real_hist, fake_hist
