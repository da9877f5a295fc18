"""``darkroom restore burst``: several frames of one scene, taken with hand shake, into one clean frame.

Every frame is aligned to the first by a rotation and a sub-pixel shift (phase correlation for a start, then
least squares on the blurred luma, coarse to fine); a frame whose aligned luma
correlates below ``MIN_CORRELATION`` with the first frame's is another scene, said and left out. The
aligned frames are fused by a robust mean (each pixel's samples weighted by their distance to the
median, so a moving object or a misregistered edge does not smear). The fused frame, whose noise is about
1/sqrt(N) of a frame's, then goes through the trained ``burst`` restorer (models/burst.py) with a per-pixel
noise-level map: the first frame's estimated sigma times each pixel's standard-error factor. Where no
``burst`` model ships, or as the benchmark's baseline row, it goes through the single-frame denoiser with its
noise level estimated. With ``scale=2`` the clean frame is then enlarged by the shipped ``sr-x2``.
"""

from __future__ import annotations

import kornia
import numpy as np
import torch

from darkroom.data.degrade import rigid_warp
from darkroom.models.burst import fuse

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


def fuse_burst(frames: list[torch.Tensor], warn=print) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Align every frame to the first and fuse them (no denoising yet); returns the fused frame, the
    (1, H, W) factor by which its noise is below one frame's, and what was done (per-frame rotation, shift
    and correlation, frames left out)."""
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
    fused, factor = fuse(torch.stack(kept))
    return fused, factor, report


def load_burst_restorer(model: str | None = None):
    """The trained restorer of fused bursts: ``model`` (a run or shipped name), else the shipped ``burst``,
    else None (the shipped single-frame denoiser then restores the fused frame)."""
    from darkroom.models import load_run
    from darkroom.weights import is_shipped

    if model is None and not is_shipped("burst"):
        return None
    net, info = load_run(model or "burst")
    if info["model"] != "burst":
        raise ValueError(f"{model}: a {info['model']} model cannot restore a burst")
    return net


def restore_fused(fused: torch.Tensor, level: torch.Tensor, restorer) -> torch.Tensor:
    """The trained restorer over tiles of a fused (C, H, W) frame and its (1, H, W) noise-level map."""
    from darkroom.ops.restore import tiled

    net = restorer.to(torch.device("cpu"), torch.float32)
    with torch.no_grad():
        out = tiled(lambda x: net(x[:, :-1], x[:, -1:]), torch.cat([fused.clamp(0, 1), level]), 256, 48)
    return out.clamp(0, 1)


def restore_burst(
    frames: list[torch.Tensor], scale: int = 1, warn=print, denoiser=None, upscaler=None, restorer="shipped"
):
    """Frames (C, H, W) of one scene -> one clean frame (``scale`` 1) or one x2 frame, and a report.
    ``restorer``: the trained restorer of fused bursts ("shipped": ``burst`` where it ships; None: the
    classical baseline, the fused frame through the single-frame denoiser)."""
    from darkroom.ops.restore import estimate_noise_sigma, load_restorer, restore_image

    if scale not in (1, 2):
        raise ValueError(f"burst --scale must be 1 or 2, got {scale}")
    restorer = load_burst_restorer() if restorer == "shipped" else restorer
    if len(frames) == 1:
        warn("one frame: single-frame restoration")
        fused, report = frames[0], {"frames": 1, "fused": 1, "left_out": [], "alignment": []}
    else:
        fused, factor, report = fuse_burst(frames, warn)
    if len(frames) > 1 and restorer is not None:
        sigma = estimate_noise_sigma(frames[0])
        clean = restore_fused(fused, sigma * factor, restorer)
        report["noise_sigma_per_frame"] = round(sigma, 2)
        report["restorer"] = "burst"
    else:
        denoiser = denoiser or load_restorer("denoise", None, None)[0]
        clean, applied = restore_image("denoise", fused.clamp(0, 1), denoiser, "auto")
        report["noise_sigma_after_fusion"] = applied["noise_sigma"]
        report["restorer"] = "denoise"
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
