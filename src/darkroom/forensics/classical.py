"""Classical, training-free estimators: the peers darkroom's learned ones are measured against, and
usable on their own. Images are float (3, H, W) or (H, W[, C]) in [0, 1]; noise sigmas on the 0-255 scale.

- ``wavelet_sigma``: scikit-image's ``estimate_sigma`` (Donoho's median absolute deviation of the finest
  diagonal wavelet band), averaged over channels.
- ``pca_sigma``: Chen, Zhu and Heng (ICCV 2015), "An efficient statistical method for image noise level
  estimation": the noise variance is the mean of the smallest eigenvalues of the patch covariance, where
  that mean first equals their median.
- ``laplacian_variance``: the variance of the Laplacian of the luma (Pech-Pacheco et al.), a sharpness score:
  low means blurred. It has no unit; ``blur_from_laplacian`` maps it to a blur sigma with a fitted curve.
- ``upscale_factor``: resampling detection by the periodicity of interpolation (Gallagher, "Detection of
  linear and cubic interpolation in JPEG compressed images", CRV 2005): in an image enlarged by s, the mean
  absolute first and second differences along each row and column repeat every s pixels, a spectral peak
  at 1 - 1/s cycles per pixel; enlargements by 1 to 2 are read back, shrinking leaves no such trace.
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

    def fit(self, scores, sigmas) -> LaplacianBlur:
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


def _period_spectrum(y: np.ndarray, order: int, n_fft: int) -> np.ndarray:
    """Magnitude spectrum of the mean absolute ``order``-th difference along rows, plus along columns."""
    total = 0
    for a in (y, y.T):
        d = np.abs(np.diff(a, n=order, axis=1)).mean(0)
        d = (d - d.mean()) * np.hanning(len(d))
        total = total + np.abs(np.fft.rfft(d, n=n_fft))
    return total


def upscale_factor(image, jpeg_grid: bool = False, n_fft: int = 2048) -> tuple[float, float]:
    """(factor, strength): the enlargement s in (1, 2] whose interpolation period peaks the spectrum, and
    how far the peak stands above the spectrum's local floor (untouched photos: mostly under 10). ``jpeg_grid``:
    ignore the 8x8 block frequencies (k/8) of a JPEG, which also hides an enlargement by exactly 2."""
    y = _luma(_hwc(image)) * 255.0
    if min(y.shape) < 32:
        raise ValueError(f"image {y.shape[1]}x{y.shape[0]} is too small to look for resampling")
    freq = np.fft.rfftfreq(n_fft)
    band = (freq > 0.06) & (freq <= 0.5)
    if jpeg_grid:
        band &= np.min(np.abs(freq[:, None] - np.arange(1, 5) / 8), axis=1) > 0.006
    best = (1.0, 0.0)
    # A peak must stand out of the local floor (natural spectra fall with frequency): the median of the
    # bins within `reach` of it, its own main lobe (3 bins of the signal's length) left out.
    reach, lobe = int(0.03 * n_fft), int(np.ceil(3 * n_fft / min(y.shape)))
    for order in (1, 2):  # the first difference shows s = 2, the second the other factors
        spectrum = _period_spectrum(y, order, n_fft)
        floor = np.array(
            [
                np.median(
                    np.concatenate(
                        [
                            spectrum[max(0, i - lobe - reach) : max(0, i - lobe)],
                            spectrum[i + lobe + 1 : i + lobe + 1 + reach],
                        ]
                    )
                )
                for i in range(len(spectrum))
            ]
        )
        ratio = np.where(band, spectrum / np.maximum(floor, 1e-12), 0)
        peak = int(np.argmax(ratio))
        if ratio[peak] > best[1]:
            best = (float(1 / (1 - freq[peak])), float(ratio[peak]))
    return best
