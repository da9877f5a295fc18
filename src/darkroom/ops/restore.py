"""``darkroom restore``: denoise, super-resolve, inpaint and colorize image files, tile by tile so memory
stays bounded.

Tiles overlap and are blended with a tapered window, so seams do not show; a 4000x3000 photo needs
the output buffer plus one tile's activations, not the whole image's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from darkroom.io import Failure, frame_count, list_images, output_names, read_image, write_image
from darkroom.models import load_run
from darkroom.train import pick_device

TASKS = {"denoise": "denoise", "sr": "sr", "inpaint": "inpaint", "colorize": "colorize"}  # -> registry name
CONTEXT_TILE = 512  # inpainting and colorization need context: their tiles are at least this big


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
        weights[margin : margin + ramp] = rising
    if end_inside:
        weights[size - margin :] = 0
        weights[size - margin - ramp : size - margin] = torch.minimum(
            weights[size - margin - ramp : size - margin], rising.flip(0)
        )
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
            patch = image[:, top : top + tile, left : left + tile]
            result = fn(patch[None])[0].float().cpu()
            if out is None:
                out = torch.zeros(result.shape[0], h * scale, w * scale)
            ph, pw = result.shape[1:]
            win = (
                _axis_weights(ph, top > 0, top + tile < h, overlap * scale)[:, None]
                * _axis_weights(pw, left > 0, left + tile < w, overlap * scale)[None]
            )
            rows, cols = slice(top * scale, top * scale + ph), slice(left * scale, left * scale + pw)
            out[:, rows, cols] += result * win
            weight[:, rows, cols] += win
    return out.div_(weight).clamp_(0, 1)  # in place: a 12k x 12k photo is 1.7 GB a copy


def self_ensemble(fn):
    """``fn`` averaged over the 8 flips and transposes of its (B, C, H, W) input, each undone on the
    output (the "self-ensemble" of EDSR+): ~0.1-0.3 dB more for 8x the time."""

    def ensembled(x: torch.Tensor) -> torch.Tensor:
        total = None
        for transpose in (False, True):
            for dims in ((), (-1,), (-2,), (-2, -1)):
                y = x.transpose(-1, -2) if transpose else x
                y = fn(y.flip(dims) if dims else y)
                y = y.flip(dims) if dims else y
                y = (y.transpose(-1, -2) if transpose else y).float()
                total = y if total is None else total + y
        return total / 8

    return ensembled


def estimate_noise_sigma(image: torch.Tensor) -> float:
    """Classical wavelet estimate (scikit-image, Donoho's MAD) of Gaussian noise, on the 0-255 scale."""
    from skimage.restoration import estimate_sigma

    if min(image.shape[-2:]) < 8:
        raise ValueError(
            f"image is {image.shape[-1]}x{image.shape[-2]} pixels: too small to estimate its noise level; give --sigma"
        )
    array = image.permute(1, 2, 0).numpy().astype(np.float64)
    with warnings.catch_warnings():  # on a tiny image, scikit-image guesses its width is a channel axis
        warnings.simplefilter("ignore", UserWarning)
        return float(estimate_sigma(array, channel_axis=-1, average_sigmas=True)) * 255.0


def default_model(task: str, scale: int | None = None) -> str:
    return f"sr-x{scale or 2}" if task == "sr" else task


def load_restorer(task: str, model: str | None, scale: int | None):
    if task not in TASKS:
        raise ValueError(f"unknown restore task {task!r}; available: {', '.join(TASKS)}")
    if task == "sr" and scale not in (None, 2, 4):
        raise ValueError(f"--scale must be 2 or 4, got {scale}")
    name = model or default_model(task, scale)
    net, info = load_run(name)
    if info["model"] != TASKS[task]:
        raise ValueError(f"{name}: a {info['model']} model cannot {task}")
    if task == "sr" and scale and net.config.scale != scale:
        raise ValueError(f"{name} upscales x{net.config.scale}, not x{scale}")
    return net, name


def scribble_mask(image: torch.Tensor, colour: str = "white") -> torch.Tensor:
    """(1, H, W) mask of pure-white (or pure-black) scribbles painted over a (C, H, W) image, grown by
    2 pixels to take in anti-aliased stroke edges."""
    if colour not in ("white", "black"):
        raise ValueError(f"scribble colour must be white or black, got {colour!r}")
    hit = (image >= 254 / 255).all(0) if colour == "white" else (image <= 1 / 255).all(0)
    return F.max_pool2d(hit[None, None].float(), 5, 1, 2)[0]


MASK_GRAY_WARN = 0.05  # share of grey pixels above which a mask is not black and white (JPEG edges stay below)


def prepare_mask(mask: torch.Tensor, image: torch.Tensor, warn=None) -> torch.Tensor:
    """A (1, H, W) 0/1 mask for ``image`` from a mask image (white = fill); a mask of another size is
    resized (nearest) with a warning; one that is not black and white (a photo given as the mask, say) draws a
    warning too. Every mask is thresholded at half grey."""
    mask = mask.mean(0, keepdim=True) if mask.shape[0] > 1 else mask
    gray = float(((mask > 0.1) & (mask < 0.9)).float().mean())
    if warn and gray > MASK_GRAY_WARN:
        warn(f"mask is not black and white ({gray:.0%} of its pixels are grey): white = fill, thresholded at half grey")
    if mask.shape[-2:] != image.shape[-2:]:
        if warn:
            warn(f"mask is {mask.shape[2]}x{mask.shape[1]}, image {image.shape[2]}x{image.shape[1]}: mask resized")
        mask = F.interpolate(mask[None], size=image.shape[-2:], mode="nearest")[0]
    return (mask > 0.5).float()


@torch.no_grad()
def restore_image(
    task: str,
    image: torch.Tensor,
    net,
    sigma: float | str | None = None,
    tile: int = 256,
    device: torch.device | None = None,
    mask: torch.Tensor | None = None,
    half: bool = False,
    ensemble: bool = False,
) -> tuple[torch.Tensor, dict]:
    """Restore one (3, H, W) image; returns the result and what was done. ``mask`` (1, H, W), 1 = fill,
    is for inpainting; ``half`` runs the network in float16 (GPU only); ``ensemble`` averages the 8
    flips and transposes (8x slower, slightly better)."""
    device = device or torch.device("cpu")
    dtype = torch.float16 if half else torch.float32
    if half and device.type != "cuda":
        raise ValueError("half precision needs a CUDA GPU; on a CPU darkroom runs float32")
    net = net.to(device, dtype)
    done = {"self_ensemble": True} if ensemble else {}
    wrap = self_ensemble if ensemble else (lambda fn: fn)
    if task == "inpaint":
        if mask is None:
            raise ValueError("inpaint needs a mask (1 = fill)")
        fraction = float(mask.mean())
        if fraction == 0:
            return image.clone(), {"hole_fraction": 0.0}
        size = max(tile, CONTEXT_TILE)
        both = torch.cat([image, mask], 0)
        result = tiled(
            wrap(lambda x: net(x[:, :3].to(device, dtype), x[:, 3:].to(device, dtype))), both, size, overlap=size // 4
        )
        return image * (1 - mask) + result * mask, {"hole_fraction": round(fraction, 4), **done}
    if task == "colorize":
        size = max(tile, CONTEXT_TILE)  # the network reads the luma of RGB input, gray or not
        if getattr(net.config, "work_size", 0):  # it colours a shrunk copy itself: one pass, whole scene
            result = wrap(lambda x: net(x.to(device, dtype)))(image[None])[0].float().cpu()
        else:
            result = tiled(wrap(lambda x: net(x.to(device, dtype))), image, size, overlap=size // 4)
        spread = float((image.max(0).values - image.min(0).values).mean()) if image.shape[0] == 3 else 0.0
        return result, {"input_colour_spread": round(spread, 4), **done}
    if task == "denoise":
        if sigma is None or sigma == "auto":
            level, how = estimate_noise_sigma(image), "estimated"
        else:
            level, how = float(sigma), "given"
        if not 0 <= level <= 100:
            raise ValueError(
                f"--sigma must be in 0..100 (0-255 scale), got {level}"
                if how == "given"
                else f"estimated noise sigma {level:.0f} is beyond 0..100 (0-255 scale): this looks like "
                "noise rather than a noisy photo; give --sigma to denoise it anyway"
            )
        result = tiled(wrap(lambda x: net(x.to(device, dtype), level)), image, tile, overlap=min(48, tile // 4))
        return result, {"noise_sigma": round(level, 2), "sigma_source": how, **done}
    scale = net.config.scale
    if min(image.shape[-2:]) < 4:
        raise ValueError(f"image is {image.shape[2]}x{image.shape[1]} pixels: too small to super-resolve")
    result = tiled(
        wrap(lambda x: net(x.to(device, dtype))), image, tile // scale, max(4, min(16, tile // scale // 4)), scale
    )
    return result, {"scale": scale, **done}


def _mask_for(path: Path, image: torch.Tensor, mask, warn) -> torch.Tensor:
    """The mask for one input: ``auto``/``auto-black`` find scribbles; a folder holds masks by stem."""
    if mask in (None, "auto", "auto-white", "auto-black"):
        return scribble_mask(image, "black" if mask == "auto-black" else "white")
    source = Path(mask)
    if source.is_dir():
        matches = sorted(p for p in source.iterdir() if p.stem == path.stem and p.is_file())
        if not matches:
            raise ValueError(f"{path}: no mask named {path.stem}.* in {source}")
        source = matches[0]
    return prepare_mask(read_image(source, alpha="drop"), image, warn)


def restore_files(
    task: str,
    inputs,
    out_dir,
    model: str | None = None,
    sigma=None,
    scale: int | None = None,
    device: str = "auto",
    tile: int = 256,
    mask=None,
    half: bool = False,
    ensemble: bool = False,
    warn=print,
    reference=None,
    workers: int = 1,
    ray_address: str | None = None,
) -> tuple[list[Path], list[str]]:
    """Restore every input file into ``out_dir/<stem>.png`` (``<stem>-2.png``... where stems repeat); a bad
    file is reported and skipped.
    ``mask`` (inpaint): a mask image (white = fill), a folder of masks named like the inputs, or
    ``auto`` / ``auto-black`` to fill pure-white / pure-black scribbles.
    ``reference`` (colorize): a colour photo whose colours are transferred (``darkroom.ops.refcolor``).
    ``workers`` > 1 or ``ray_address``: the files are shared among processes or Ray actors
    (:mod:`darkroom.ops.parallel`), and outputs already written are skipped, so a stopped job resumes."""
    from darkroom.ops.parallel import check_parallel, map_items

    if tile < 32:
        raise ValueError(f"--tile must be >= 32 pixels, got {tile}")
    check_parallel(workers, ray_address)
    paths, failures = list_images(inputs)
    if not paths and failures:
        raise ValueError(failures[0])
    if mask is not None and task != "inpaint":
        raise ValueError("--mask is for inpaint only")
    if mask not in (None, "auto", "auto-white", "auto-black") and not Path(mask).exists():
        raise ValueError(f"--mask {mask}: no such file or folder")
    if reference is not None and task != "colorize":
        raise ValueError("--reference is for colorize only")
    if reference is not None and not has_colour(read_image(reference)):
        raise ValueError(f"--reference {reference}: a grayscale image; the reference must be a colour photo")
    if half and pick_device(device).type != "cuda":
        raise ValueError("--half needs a CUDA GPU; on a CPU darkroom runs float32")
    out_dir = Path(out_dir)
    items = [{"path": str(p), "out": str(out_dir / name)} for p, name in zip(paths, output_names(paths))]
    done = []
    if workers > 1 or ray_address is not None:
        done = [Path(item["out"]) for item in items if Path(item["out"]).is_file()]
        items = [item for item in items if not Path(item["out"]).is_file()]
        if done:
            warn(f"{len(done)} output(s) already written: skipped")
    factory = RestoreWorker(task, model, sigma, scale, device, tile, mask, half, ensemble, reference, warn)
    results = map_items(factory, items, workers, ray_address, desc=task)
    written = done + [Path(r["out"]) for r in results if "error" not in r]
    failures += [Failure(Path(r["path"]), r["error"]) for r in results if "error" in r]
    colour = next((r["path"] for r in results if r.get("had_colour")), None)
    if task == "colorize" and colour:
        warn(f"{colour} has colour: colorized from its luma (said once)")
    return written, failures


@dataclass(frozen=True)
class RestoreWorker:
    """The work of ``restore_files`` on one file, for :func:`darkroom.ops.parallel.map_items`: calling it
    loads the restorer once and returns the per-file function."""

    task: str
    model: str | None
    sigma: object
    scale: int | None
    device: str
    tile: int
    mask: object
    half: bool
    ensemble: bool
    reference: object
    warn: object = print

    def __call__(self):
        colours = read_image(self.reference) if self.reference is not None else None
        dev = pick_device(self.device)
        net, net_name = load_restorer(self.task, self.model, self.scale) if colours is None else (None, "reference")
        net = net.to(dev) if net is not None else None

        def one(item: dict) -> dict:
            path = Path(item["path"])
            try:
                image = read_image(path)
                note = lambda text: self.warn(f"{path}: {text}")  # noqa: E731
                frames = frame_count(path)
                if frames > 1:
                    note(f"{frames} frames; only the first is restored")
                hole = _mask_for(path, image, self.mask, note) if self.task == "inpaint" else None
                if hole is not None and not hole.any():
                    note("mask has nothing to fill; image copied unchanged")
                if colours is not None:
                    from darkroom.ops.refcolor import reference_colorize

                    result, applied = reference_colorize(image, colours), {"reference": str(self.reference)}
                else:
                    result, applied = restore_image(
                        self.task,
                        image,
                        net,
                        self.sigma,
                        self.tile,
                        dev,
                        mask=hole,
                        half=self.half,
                        ensemble=self.ensemble,
                    )
            except ValueError as err:
                return {"path": str(path), "error": str(err)}
            provenance = {"operation": f"restore-{self.task}", "model": net_name, "source": str(path), **applied}
            write_image(Path(item["out"]), result, provenance=provenance)
            return {"path": str(path), "out": item["out"], "had_colour": self.task == "colorize" and has_colour(image)}

        return one


def has_colour(image: torch.Tensor) -> bool:
    """Whether an RGB image is more than gray (its channels differ by over 2 levels in 1 % of its pixels)."""
    return image.shape[0] == 3 and float(((image.max(0).values - image.min(0).values) > 2 / 255).float().mean()) > 0.01


@lru_cache(maxsize=8)
def _cached_restorer(task: str, model: str | None, scale: int | None):
    return load_restorer(task, model, scale)


def restore(
    task: str,
    image: torch.Tensor,
    model: str | None = None,
    *,
    sigma=None,
    scale: int | None = None,
    mask: torch.Tensor | None = None,
    tile: int = 256,
    device: str = "auto",
    half: bool = False,
    ensemble: bool = False,
) -> tuple[torch.Tensor, dict]:
    """The Python side of ``darkroom restore``: a (3, H, W) image in [0, 1] -> (restored, what was done).
    ``mask`` (1, H, W), 1 = fill, is required by inpaint; models are loaded once and kept."""
    net, name = _cached_restorer(task, model, scale)
    result, applied = restore_image(
        task, image, net, sigma, tile, pick_device(device), mask=mask, half=half, ensemble=ensemble
    )
    return result, {"model": name, **applied}
