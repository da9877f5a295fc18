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


def psnr(estimate: torch.Tensor, reference: torch.Tensor, border: int = 0, y_only: bool = False) -> float:
    """PSNR in dB of (C, H, W) tensors or (H, W, C) arrays in [0, 1]; ``border`` pixels cropped."""
    a, b = _prepare(estimate, reference, border, y_only)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def ssim(estimate: torch.Tensor, reference: torch.Tensor, border: int = 0, y_only: bool = False) -> float:
    """SSIM (Wang et al., Gaussian window as in the paper) averaged over channels."""
    a, b = _prepare(estimate, reference, border, y_only)
    return float(
        structural_similarity(
            a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def masked_psnr(estimate: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR over the pixels where ``mask`` (H, W or 1, H, W; 1 = counted) is set, all channels."""
    a, b = _array(estimate), _array(reference)
    m = np.asarray(mask.detach().cpu() if isinstance(mask, torch.Tensor) else mask, np.float64).reshape(a.shape[:2])
    if m.sum() == 0:
        raise ValueError("mask selects no pixel")
    mse = (((a - b) ** 2) * m[..., None]).sum() / (m.sum() * a.shape[-1])
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def colourfulness(image: torch.Tensor) -> float:
    """Hasler and Suesstrunk's colourfulness of an RGB image (0 for gray; ~40-60 for vivid photos),
    from the opponent channels rg = R - G and yb = (R + G) / 2 - B on the 0-255 scale."""
    rgb = _array(image) * 255.0
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
