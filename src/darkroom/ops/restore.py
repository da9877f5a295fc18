"""``darkroom restore``: denoise and super-resolve image files, tile by tile so memory stays bounded.

Tiles overlap and are blended with a tapered window, so seams do not show; a 4000x3000 photo needs
the output buffer plus one tile's activations, not the whole image's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from darkroom.io import list_images, read_image, write_image
from darkroom.models import load_run
from darkroom.train import pick_device

TASKS = {"denoise": "denoise", "sr": "sr"}  # task -> model name in the registry


def _axis_weights(size: int, start_inside: bool, end_inside: bool, overlap: int) -> torch.Tensor:
    """Blend weights along one side of a tile. At an edge inside the image, the outer quarter of the
    overlap is dropped (zero-padding artefacts live there) and the next half ramps up linearly, so two
    neighbours' weights sum to 1 across their overlap. Edges on the image border keep full weight."""
    weights = torch.ones(size)
    margin = overlap // 4
    ramp = max(overlap - 2 * margin, 0)
    rising = torch.arange(1, ramp + 1, dtype=torch.float32) / (ramp + 1)
    if start_inside:
        weights[:margin] = 0
        weights[margin:margin + ramp] = rising
    if end_inside:
        weights[size - margin:] = 0
        weights[size - margin - ramp:size - margin] = torch.minimum(weights[size - margin - ramp:size - margin],
                                                                    rising.flip(0))
    return weights


def _starts(length: int, tile: int, step: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


@torch.no_grad()
def tiled(fn, image: torch.Tensor, tile: int = 256, overlap: int = 32, scale: int = 1) -> torch.Tensor:
    """Apply ``fn`` ((1, C, h, w) -> (1, C', h*scale, w*scale)) over overlapping tiles of (C, H, W)."""
    if tile <= 2 * overlap or overlap < 4:
        raise ValueError(f"tile ({tile}) must exceed twice the overlap ({overlap}), and the overlap be >= 4")
    c, h, w = image.shape
    out, weight = None, torch.zeros(1, h * scale, w * scale)
    for top in _starts(h, tile, tile - overlap):
        for left in _starts(w, tile, tile - overlap):
            patch = image[:, top:top + tile, left:left + tile]
            result = fn(patch[None])[0].float().cpu()
            if out is None:
                out = torch.zeros(result.shape[0], h * scale, w * scale)
            ph, pw = result.shape[1:]
            win = (_axis_weights(ph, top > 0, top + tile < h, overlap * scale)[:, None]
                   * _axis_weights(pw, left > 0, left + tile < w, overlap * scale)[None])
            rows, cols = slice(top * scale, top * scale + ph), slice(left * scale, left * scale + pw)
            out[:, rows, cols] += result * win
            weight[:, rows, cols] += win
    return (out / weight).clamp(0, 1)


def estimate_noise_sigma(image: torch.Tensor) -> float:
    """Classical wavelet estimate (scikit-image, Donoho's MAD) of Gaussian noise, on the 0-255 scale."""
    from skimage.restoration import estimate_sigma

    array = image.permute(1, 2, 0).numpy().astype(np.float64)
    return float(estimate_sigma(array, channel_axis=-1, average_sigmas=True)) * 255.0


def load_restorer(task: str, model: str | None, scale: int | None):
    if task not in TASKS:
        raise ValueError(f"unknown restore task {task!r}; available: {', '.join(TASKS)}")
    name = model or ("denoise" if task == "denoise" else f"sr-x{scale or 2}")
    net, info = load_run(name)
    if info["model"] != TASKS[task]:
        raise ValueError(f"{name}: a {info['model']} model cannot {task}")
    if task == "sr" and scale and net.config.scale != scale:
        raise ValueError(f"{name} upscales x{net.config.scale}, not x{scale}")
    return net, name


def restore_image(task: str, image: torch.Tensor, net, sigma: float | str | None = None, tile: int = 256,
                  device: torch.device | None = None) -> tuple[torch.Tensor, dict]:
    """Restore one (3, H, W) image; returns the result and what was done."""
    device = device or torch.device("cpu")
    if task == "denoise":
        if sigma is None or sigma == "auto":
            level, how = estimate_noise_sigma(image), "estimated"
        else:
            level, how = float(sigma), "given"
        if not 0 <= level <= 100:
            raise ValueError(f"--sigma must be in 0..100 (0-255 scale), got {level}")
        result = tiled(lambda x: net(x.to(device), level), image, tile, overlap=min(48, tile // 4))
        return result, {"noise_sigma": round(level, 2), "sigma_source": how}
    scale = net.config.scale
    result = tiled(lambda x: net(x.to(device)), image, tile // scale, max(4, min(16, tile // scale // 4)), scale)
    return result, {"scale": scale}


def restore_files(task: str, inputs, out_dir, model: str | None = None, sigma=None, scale: int | None = None,
                  device: str = "auto", tile: int = 256) -> tuple[list[Path], list[str]]:
    """Restore every input file into ``out_dir/<stem>.png``; a bad file is reported and skipped."""
    if tile < 32:
        raise ValueError(f"--tile must be >= 32 pixels, got {tile}")
    paths, failures = list_images(inputs)
    if not paths and failures:
        raise ValueError(failures[0])
    dev = pick_device(device)
    net, name = load_restorer(task, model, scale)
    net = net.to(dev)
    out_dir = Path(out_dir)
    written = []
    for path in tqdm(paths, desc=task, unit="img"):
        try:
            image = read_image(path)
            result, applied = restore_image(task, image, net, sigma, tile, dev)
        except ValueError as err:
            failures.append(str(err))
            continue
        target = out_dir / f"{path.stem}.png"
        written.append(write_image(target, result, provenance={"operation": f"restore-{task}", "model": name,
                                                               "source": str(path), **applied}))
    return written, failures
