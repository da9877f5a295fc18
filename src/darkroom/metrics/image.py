"""Full-reference image quality: PSNR and SSIM, on RGB or on the luma (Y) channel as in SR papers."""
from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity


def _array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().float().permute(1, 2, 0).numpy()
    return np.clip(np.asarray(image, np.float64), 0, 1)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 Y in [16, 235] / 255, the convention of super-resolution benchmarks."""
    return (16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def _prepare(a, b, border: int, y_only: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = _array(a), _array(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if y_only and a.shape[-1] == 3:
        a, b = luma(a)[..., None], luma(b)[..., None]
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return a, b


def psnr(estimate, reference, border: int = 0, y_only: bool = False) -> float:
    """PSNR in dB of (C, H, W) tensors or (H, W, C) arrays in [0, 1]; ``border`` pixels cropped."""
    a, b = _prepare(estimate, reference, border, y_only)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(estimate, reference, border: int = 0, y_only: bool = False) -> float:
    """SSIM (Wang et al., Gaussian window as in the paper) averaged over channels."""
    a, b = _prepare(estimate, reference, border, y_only)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))
