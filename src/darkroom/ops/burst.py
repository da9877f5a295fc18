"""``darkroom restore burst``: several frames of one scene, taken with hand shake, into one clean frame.

Every frame is aligned to the first by a rotation and a sub-pixel shift (phase correlation for a start, then
least squares on the blurred luma, coarse to fine); a frame whose aligned luma
correlates below ``MIN_CORRELATION`` with the first frame's is another scene, said and left out. The
aligned frames are fused by a robust mean (each pixel's samples weighted by their distance to the
median, so a moving object or a misregistered edge does not smear), and the fused frame, whose noise is
about 1/sqrt(N) of a frame's, goes through the shipped denoiser with its noise level estimated. With
``scale=2`` the clean frame is then enlarged by the shipped ``sr-x2``.
"""

from __future__ import annotations

import kornia
import numpy as np
import torch

from darkroom.data.degrade import rigid_warp

MIN_CORRELATION = 0.5


def _smooth_luma(image: torch.Tensor) -> np.ndarray:
    gray = kornia.color.rgb_to_grayscale(image[None]) if image.shape[0] == 3 else image[None]
    return kornia.filters.gaussian_blur2d(gray, (9, 9), (2.0, 2.0))[0, 0].numpy()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    valid = ~(np.isnan(a) | np.isnan(b))
    if valid.mean() < 0.3:
        return 0.0
    return float(np.corrcoef(a[valid], b[valid])[0, 1])


def _matrix(params: torch.Tensor, h: int, w: int, scale: float = 1.0) -> torch.Tensor:
    """(1, 2, 3) affine of (rotation degrees, shift rows, shift cols) about the centre, shifts divided by
    ``scale`` (for a frame shrunk ``scale`` times)."""
    centre = torch.tensor([[(w - 1) / 2, (h - 1) / 2]])
    matrix = kornia.geometry.transform.get_rotation_matrix2d(centre, params[:1], torch.ones(1, 2))
    return matrix + torch.stack([torch.zeros(2), torch.zeros(2), params[[2, 1]] / scale], 1)[None]


def align(reference: torch.Tensor, frame: torch.Tensor) -> tuple[float, tuple[float, float], float]:
    """The rotation (degrees) and shift (rows, cols) that bring ``frame`` onto ``reference``, and the
    correlation of the two blurred lumas once aligned (about 1 for the same scene, near 0 for another).
    Phase correlation gives the shift to start from; Gauss-Newton-like refinement (L-BFGS on the squared
    difference of the blurred lumas, coarse to fine at 1/4, 1/2 and full size) finds rotation and shift."""
    from skimage.registration import phase_cross_correlation

    target, moving = _smooth_luma(reference), _smooth_luma(frame)
    start, _, _ = phase_cross_correlation(target, moving, upsample_factor=10)
    params = torch.tensor([0.0, float(start[0]), float(start[1])], requires_grad=True)
    target_t, moving_t = torch.from_numpy(target)[None, None], torch.from_numpy(moving)[None, None]
    for factor in (4, 2, 1):
        small_target = torch.nn.functional.avg_pool2d(target_t, factor) if factor > 1 else target_t
        small_moving = torch.nn.functional.avg_pool2d(moving_t, factor) if factor > 1 else moving_t
        h, w = small_target.shape[-2:]
        both = torch.cat([small_moving, torch.ones_like(small_moving)], 1)
        optimizer = torch.optim.LBFGS([params], lr=1, max_iter=25, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            warped = kornia.geometry.transform.warp_affine(both, _matrix(params, h, w, factor), (h, w))
            valid = (warped[:, 1:] > 0.999).float()
            loss = ((warped[:, :1] - small_target) ** 2 * valid).sum() / valid.sum().clamp_min(1)
            loss.backward()
            return loss

        optimizer.step(closure)
    angle, shift = float(params[0].detach()), (float(params[1].detach()), float(params[2].detach()))
    aligned = rigid_warp(torch.from_numpy(moving)[None], angle, shift)[0].numpy()
    return angle, shift, _correlation(target, aligned)


def robust_mean(frames: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) aligned frames, NaN outside each frame's view -> (C, H, W): samples weighted by their
    distance to the per-pixel median in units of the frames' own spread."""
    median = frames.nanmedian(0).values
    spread = 1.4826 * (frames - median).abs().nanmedian(0).values.clamp_min(1e-3)
    weight = torch.exp(-0.5 * ((frames - median) / (2.5 * spread)) ** 2).nan_to_num(0.0)
    weight = torch.where(frames.isnan(), torch.zeros_like(weight), weight)
    total = (weight * frames.nan_to_num(0.0)).sum(0)
    return torch.where(weight.sum(0) > 1e-6, total / weight.sum(0).clamp_min(1e-6), frames[0].nan_to_num(0.0))


def fuse_burst(frames: list[torch.Tensor], warn=print) -> tuple[torch.Tensor, dict]:
    """Align every frame to the first and fuse them (no denoising yet); returns the fused frame and what
    was done (per-frame rotation, shift and correlation, frames left out)."""
    kept, report = [frames[0]], {"frames": len(frames), "left_out": [], "alignment": []}
    for k, frame in enumerate(frames[1:], start=1):
        angle, shift, correlation = align(frames[0], frame)
        report["alignment"].append(
            {
                "frame": k,
                "rotation_deg": round(angle, 3),
                "shift_px": [round(s, 2) for s in shift],
                "correlation": round(correlation, 3),
            }
        )
        if correlation < MIN_CORRELATION:
            warn(f"alignment failed for frame {k} (correlation {correlation:.2f}): left out")
            report["left_out"].append(k)
            continue
        kept.append(rigid_warp(frame, angle, shift))
    report["fused"] = len(kept)
    return robust_mean(torch.stack(kept)), report


def restore_burst(frames: list[torch.Tensor], scale: int = 1, warn=print, denoiser=None, upscaler=None):
    """Frames (C, H, W) of one scene -> one clean frame (``scale`` 1) or one x2 frame, and a report."""
    from darkroom.ops.restore import load_restorer, restore_image

    if scale not in (1, 2):
        raise ValueError(f"burst --scale must be 1 or 2, got {scale}")
    if len(frames) == 1:
        warn("one frame: single-frame restoration")
        fused, report = frames[0], {"frames": 1, "fused": 1, "left_out": [], "alignment": []}
    else:
        fused, report = fuse_burst(frames, warn)
    denoiser = denoiser or load_restorer("denoise", None, None)[0]
    clean, applied = restore_image("denoise", fused.clamp(0, 1), denoiser, "auto")
    report["noise_sigma_after_fusion"] = applied["noise_sigma"]
    if scale == 2:
        upscaler = upscaler or load_restorer("sr", None, 2)[0]
        clean, _ = restore_image("sr", clean, upscaler)
    return clean, {**report, "scale": scale}


def read_burst(inputs) -> tuple[list[torch.Tensor], list]:
    """The frames named by files, folders or globs (sorted as ``list_images`` gives them); frames of another
    size than the first are an error naming them."""
    from darkroom.io import list_images, read_image

    paths, failures = list_images(inputs)
    if failures:
        raise ValueError(failures[0])
    if not paths:
        raise ValueError("burst needs at least one frame")
    if len(paths) > 64:
        raise ValueError(f"burst takes at most 64 frames, got {len(paths)}")
    frames = [read_image(p) for p in paths]
    odd = [f"{p} ({f.shape[2]}x{f.shape[1]})" for p, f in zip(paths, frames) if f.shape != frames[0].shape]
    if odd:
        raise ValueError(
            f"frames must share one size ({frames[0].shape[2]}x{frames[0].shape[1]}, as {paths[0]}): " + ", ".join(odd)
        )
    return frames, paths


def burst_file(inputs, out, scale: int = 1, warn=print):
    """``darkroom restore burst``: the frames named by ``inputs`` into the one image ``out``."""
    from pathlib import Path

    from darkroom.io import IMAGE_SUFFIXES, write_image

    if Path(out).suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"burst writes one image: --out must name an image file (.png), got {out}")
    frames, paths = read_burst(inputs)
    result, report = restore_burst(frames, scale, warn)
    report["left_out"] = [str(paths[k]) for k in report["left_out"]]
    provenance = {"operation": "restore-burst", "sources": [str(p) for p in paths], **report}
    return write_image(out, result, provenance=provenance), report
