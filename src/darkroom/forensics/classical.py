"""Classical, training-free estimators: the peers darkroom's learned ones are measured against, and
usable on their own. Images are float (3, H, W) or (H, W[, C]) in [0, 1]; noise sigmas on the 0-255 scale.

- ``wavelet_sigma``: scikit-image's ``estimate_sigma`` (Donoho's median absolute deviation of the finest
  diagonal wavelet band), averaged over channels.
- ``pca_sigma``: Chen, Zhu and Heng (ICCV 2015), "An efficient statistical method for image noise level
  estimation": the noise variance is the mean of the smallest eigenvalues of the patch covariance, where
  that mean first equals their median.
- ``laplacian_variance``: the variance of the Laplacian of the luma (Pech-Pacheco et al.), a sharpness score:
  low means blurred. It has no unit; ``blur_from_laplacian`` maps it to a blur sigma with a fitted curve.
"""
from __future__ import annotations

import numpy as np
import torch


def _hwc(image) -> np.ndarray:
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an image (C, H, W) or (H, W[, C]), got shape {array.shape}")
    return array.astype(np.float64)


def _luma(array: np.ndarray) -> np.ndarray:
    return array[..., 0] if array.shape[-1] == 1 else array[..., :3] @ np.array([0.299, 0.587, 0.114])


def wavelet_sigma(image) -> float:
    from skimage.restoration import estimate_sigma

    array = _hwc(image)
    return float(estimate_sigma(array, channel_axis=-1, average_sigmas=True)) * 255.0


def pca_sigma(image, patch: int = 7, stride: int = 3, max_patches: int = 200_000) -> float:
    """Noise sigma from the eigenvalues of the covariance of ``patch`` x ``patch`` patches of each channel."""
    array = _hwc(image)
    estimates = []
    for c in range(array.shape[-1]):
        windows = np.lib.stride_tricks.sliding_window_view(array[..., c], (patch, patch))[::stride, ::stride]
        data = windows.reshape(-1, patch * patch)
        if len(data) < patch * patch * 4:
            raise ValueError(f"image too small for {patch}x{patch} patch statistics")
        if len(data) > max_patches:
            data = data[np.random.default_rng(0).choice(len(data), max_patches, replace=False)]
        eig = np.sort(np.linalg.eigvalsh(np.cov(data, rowvar=False)))[::-1]
        sigma2 = eig[-1]
        for i in range(len(eig)):
            tail = eig[i:]
            tau = tail.mean()
            if np.sum(tail > tau) == np.sum(tail < tau):
                sigma2 = tau
                break
        estimates.append(np.sqrt(max(sigma2, 0.0)))
    return float(np.mean(estimates)) * 255.0


def laplacian_variance(image) -> float:
    """Variance of the 4-neighbour Laplacian of the luma on the 0-255 scale (borders excluded)."""
    y = _luma(_hwc(image)) * 255.0
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4 * y[1:-1, 1:-1]
    return float(lap.var())


class LaplacianBlur:
    """Maps log(variance of the Laplacian) to a Gaussian blur sigma with an isotonic fit on photos of
    known blur (``fit``), as a user of the classical score would calibrate it."""

    def __init__(self):
        from sklearn.isotonic import IsotonicRegression

        self.fit_ = IsotonicRegression(increasing=False, out_of_bounds="clip")

    def fit(self, scores, sigmas) -> "LaplacianBlur":
        self.fit_.fit(np.log(np.asarray(scores) + 1e-6), np.asarray(sigmas))
        return self

    def predict(self, score: float) -> float:
        return float(self.fit_.predict([np.log(score + 1e-6)])[0])


def spectrum_profile(image, bins: int = 64) -> np.ndarray:
    """Durall et al. (CVPR 2020): the azimuthal average of the log-magnitude 2-D FFT of the luma, a 1-D
    profile (``bins`` radii from the centre to the corner) that exposes upsampling artefacts of generators.
    Their detector is a logistic regression on this profile."""
    y = _luma(_hwc(image))
    spectrum = np.log(np.abs(np.fft.fftshift(np.fft.fft2(y - y.mean()))) + 1e-8)
    h, w = spectrum.shape
    yy, xx = np.indices((h, w))
    radius = np.hypot(yy - h / 2, xx - w / 2) / np.hypot(h / 2, w / 2)  # 0 at the centre, 1 at a corner
    index = np.minimum((radius * bins).astype(int), bins - 1)
    sums = np.bincount(index.ravel(), spectrum.ravel(), bins)
    counts = np.bincount(index.ravel(), minlength=bins)
    profile = sums / np.maximum(counts, 1)
    return (profile - profile.min()) / max(profile.max() - profile.min(), 1e-8)  # scaled to [0, 1], as in the paper
