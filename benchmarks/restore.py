"""Restoration versus the classical tools, on photos never used for training.

    python benchmarks/restore.py [--quick]          (or: darkroom bench restore)

Test images (``--photos``), each set where installed: 256x256 centre crops of the 100 test photos of
../shared/photos (ImageNet samples, scaled to a 256 px short side; never trained on), then of the test-split
wallpapers of /usr/share/backgrounds (half resolution) with scikit-image's `coffee`. Peers run in the same process:
BM3D (PyPI `bm3d`, colour CBM3D with the true sigma), scikit-image non-local means (sigma given), bicubic and
Lanczos upscaling, OpenCV's Telea and Navier-Stokes inpainting (`cv2.inpaint`, radius 5). Denoise PSNR/SSIM
on RGB; super-resolution PSNR/SSIM on Y with `scale` border pixels cropped; inpainting PSNR inside the hole
and SSIM of the whole image, over 3 medium masks per image; colorization PSNR on RGB versus the grayscale
input (the floor) and Hasler-Suesstrunk colourfulness versus the ground truth's.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from darkroom.data import degrade, load_dataset
from darkroom.data.base import to_tensor
from darkroom.metrics.image import colourfulness, masked_psnr, psnr, ssim
from darkroom.ops.restore import has_colour, load_restorer, restore_image
from darkroom.weights import shipped_weights

PHOTO_SETS = {  # name -> (data spec, what it is); a set whose folder is missing is left out
    "imagenet": (
        "photos:../shared/photos,split=test,resize=256",
        "the 100 test photos of ../shared/photos (ImageNet samples), short side 256",
    ),
    "wallpapers": (
        "photos:/usr/share/backgrounds,split=test,scale=0.5",
        "the test split of /usr/share/backgrounds and scikit-image's coffee, half resolution",
    ),
}


def test_images(size: int, limit: int, name: str = "wallpapers", colour: bool = False):
    """Centre ``size`` crops of the first ``limit`` photos of one of ``PHOTO_SETS`` (size 0: whole
    photos); ``colour`` leaves out grayscale photos."""
    spec = PHOTO_SETS[name][0] + (",colour=1" if colour else "")
    folder = spec.split(":", 1)[1].split(",", 1)[0]
    if not os.path.isdir(folder):
        return []
    data = load_dataset(spec, patch=8)
    images = []
    keys = [k for k in data.photos if not (name == "imagenet" and k.startswith("skimage:"))]  # its own photos only
    for key in keys[:limit]:
        photo = data._photo(key)
        h, w = photo.shape[:2]
        if min(h, w) < size:
            continue
        size_h, size_w = (size, size) if size else (h, w)
        top, left = (h - size_h) // 2, (w - size_w) // 2
        crop = to_tensor(photo[top : top + size_h, left : left + size_w])
        if colour and not has_colour(crop):  # stored as RGB, gray in fact: nothing to score a colorizer on
            continue
        images.append((key.split("/")[-1], crop))
    return images


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bm3d_denoise(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    import bm3d

    out = bm3d.bm3d_rgb(noisy.permute(1, 2, 0).numpy().astype(np.float64), sigma / 255.0)
    return torch.from_numpy(np.clip(out, 0, 1)).permute(2, 0, 1).float()


def nlm_denoise(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    from skimage.restoration import denoise_nl_means

    out = denoise_nl_means(
        noisy.permute(1, 2, 0).numpy().astype(np.float64),
        h=0.8 * sigma / 255,
        sigma=sigma / 255,
        patch_size=5,
        patch_distance=6,
        fast_mode=True,
        channel_axis=-1,
    )
    return torch.from_numpy(out).permute(2, 0, 1).float()


def bench_denoise(images, sigmas, with_bm3d: bool, extra=()):
    """The shipped denoiser, any ``extra`` denoise runs (candidates, sigma given) and the classical peers."""
    net, name = load_restorer("denoise", None, None)
    methods = {
        f"darkroom {name} (sigma given)": lambda x, s: restore_image("denoise", x, net, s)[0],
        f"darkroom {name} (sigma auto)": lambda x, s: restore_image("denoise", x, net, "auto")[0],
    }
    for candidate, run in (load_restorer("denoise", run, None) for run in extra):
        methods[f"darkroom {run} (sigma given)"] = lambda x, s, net=candidate: restore_image("denoise", x, net, s)[0]
    methods["scikit-image NL-means"] = nlm_denoise
    if with_bm3d:
        methods["BM3D (bm3d_rgb)"] = bm3d_denoise
    print("\n| sigma | method | PSNR dB | SSIM | s / megapixel |\n|---:|---|---:|---:|---:|")
    for sigma in sigmas:
        scores = {m: [] for m in ["noisy input", *methods]}
        for k, (_, clean) in enumerate(images):
            noisy, _ = degrade.gaussian_noise(clean, sigma, generator=1000 + k)
            scores["noisy input"].append((psnr(noisy, clean), ssim(noisy, clean), 0.0))
            for method, fn in methods.items():
                out, seconds = timed(lambda: fn(noisy, sigma))
                scores[method].append((psnr(out, clean), ssim(out, clean), seconds / (clean[0].numel() / 1e6)))
        for method, rows in scores.items():
            p, s, t = np.mean(rows, axis=0)
            print(f"| {sigma} | {method} | {p:.2f} | {s:.4f} | {t:.2f} |")


def bench_sr(images, scales, extra=()):
    """The shipped models of each scale and any ``extra`` runs of that scale (candidates to compare)."""
    print("\n| scale | method | PSNR-Y dB | SSIM-Y | s / megapixel (output) |\n|---:|---|---:|---:|---:|")
    shipped = {card["name"] for card in shipped_weights()}
    candidates_of = [load_restorer("sr", run, None) for run in extra]
    for scale in scales:
        nets = {
            name: load_restorer("sr", name, scale)[0]
            for name in (f"sr-x{scale}", f"sr-x{scale}-large")
            if name in shipped
        }
        nets.update({name: net for net, name in candidates_of if net.config.scale == scale})
        scores = {}
        for _, sharp in images:
            small, _ = degrade.downscale(sharp, scale)
            pil = Image.fromarray((small.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
            candidates = {
                "bicubic": lambda: F.interpolate(small[None], scale_factor=scale, mode="bicubic", align_corners=False)[
                    0
                ].clamp(0, 1),
                "Lanczos (Pillow)": lambda: to_tensor(
                    np.asarray(pil.resize((pil.width * scale, pil.height * scale), Image.LANCZOS))
                ),
            }
            for name, net in nets.items():
                candidates[f"darkroom {name}"] = lambda net=net: restore_image("sr", small, net)[0]
            if f"sr-x{scale}-large" in nets:
                candidates[f"darkroom sr-x{scale}-large --ensemble"] = lambda: restore_image(
                    "sr", small, nets[f"sr-x{scale}-large"], ensemble=True
                )[0]
            for method, fn in candidates.items():
                out, seconds = timed(fn)
                scores.setdefault(method, []).append(
                    (psnr(out, sharp, scale, True), ssim(out, sharp, scale, True), seconds / (sharp[0].numel() / 1e6))
                )
        for method, rows in scores.items():
            p, s, t = np.mean(rows, axis=0)
            print(f"| x{scale} | {method} | {p:.2f} | {s:.4f} | {t:.2f} |")


def cv2_inpaint(image: torch.Tensor, mask: torch.Tensor, flag) -> torch.Tensor:
    import cv2

    u8 = (image.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    out = cv2.inpaint(u8, (mask[0].numpy() * 255).astype(np.uint8), 5, flag)
    return torch.from_numpy(out).permute(2, 0, 1).float() / 255


def bench_inpaint(images, masks_per_image: int = 3, extra=()):
    """The shipped inpainter (plain and self-ensembled), any ``extra`` runs, and OpenCV's two methods."""
    methods = {}
    for model in (None, *extra):
        net, name = load_restorer("inpaint", model, None)
        methods[f"darkroom {name}"] = lambda x, m, net=net: restore_image("inpaint", x, net, mask=m)[0]
        methods[f"darkroom {name} --ensemble"] = lambda x, m, net=net: restore_image(
            "inpaint", x, net, mask=m, ensemble=True
        )[0]
    try:
        import cv2

        methods["OpenCV Telea"] = lambda x, m: cv2_inpaint(x, m, cv2.INPAINT_TELEA)
        methods["OpenCV Navier-Stokes"] = lambda x, m: cv2_inpaint(x, m, cv2.INPAINT_NS)
    except ImportError:
        print("\nOpenCV not installed (pip install opencv-python-headless): inpainting peers left out")
    scores = {m: [] for m in methods}
    holes = []
    for k, (_, image) in enumerate(images):
        for j in range(masks_per_image):
            mask, applied = degrade.inpainting_mask(*image.shape[1:], "medium", seed=10_000 + 10 * k + j)
            holes.append(applied["hole_fraction"])
            for method, fn in methods.items():
                out, seconds = timed(lambda: fn(image, mask))
                scores[method].append(
                    (masked_psnr(out, image, mask), ssim(out, image), seconds / (image[0].numel() / 1e6))
                )
    print(
        f"\nInpainting, medium masks (mean hole {100 * np.mean(holes):.0f} % of the image, "
        f"{len(holes)} image-mask pairs)\n\n| method | PSNR in hole dB | SSIM (image) | s / megapixel |\n|---|---:|---:|---:|"
    )
    for method, rows in scores.items():
        p, s, t = np.mean(rows, axis=0)
        print(f"| {method} | {p:.2f} | {s:.4f} | {t:.2f} |")


REFERENCE_ROW = "darkroom colorize --reference (a mirrored, shifted crop of the truth)"


def bench_colorize(images, extra=(), reference: bool = True):
    """The shipped colorizer, any ``extra`` runs (candidates to compare in the same table) and the
    exemplar-guided colorizer given a mirrored crop of the ground truth."""
    from darkroom.ops.refcolor import reference_colorize

    nets = dict(reversed(load_restorer("colorize", model, None)) for model in (None, *extra))
    rows = {"grayscale input (floor)": [], **{f"darkroom {name}": [] for name in nets}, "ground truth": []}
    for _, image in images:
        gray, _ = degrade.grayscale(image)
        rows["grayscale input (floor)"].append((psnr(gray, image), colourfulness(gray), 0.0))
        for name, net in nets.items():
            out, seconds = timed(lambda: restore_image("colorize", gray, net)[0])
            rows[f"darkroom {name}"].append((psnr(out, image), colourfulness(out), seconds / (image[0].numel() / 1e6)))
        if reference:  # the exemplar: the truth mirrored, cropped by an eighth at the top left
            h, w = image.shape[1:]
            out, seconds = timed(lambda: reference_colorize(gray, image.flip(-1)[:, h // 8 :, w // 8 :]))
            rows.setdefault(REFERENCE_ROW, []).append(
                (psnr(out, image), colourfulness(out), seconds / (image[0].numel() / 1e6))
            )
        rows["ground truth"].append((float("inf"), colourfulness(image), 0.0))
    rows["ground truth"] = rows.pop("ground truth")
    truth = np.mean([c for _, c, _ in rows["ground truth"]])
    floor = np.mean([p for p, _, _ in rows["grayscale input (floor)"]])
    print(
        f"\nColorization ({len(images)} colour photos)\n\n| method | PSNR dB (RGB) | over the gray floor | "
        "colourfulness | of ground truth's | s / megapixel |\n|---|---:|---:|---:|---:|---:|"
    )
    for method, values in rows.items():
        p, c, t = np.mean(values, axis=0)
        gain = "" if np.isinf(p) else f"{round(p - floor, 2) + 0.0:+.2f}"
        print(f"| {method} | {'' if np.isinf(p) else f'{p:.2f}'} | {gain} | {c:.1f} | {c / truth:.2f} | {t:.2f} |")


def bench_burst(images, frames: int = 8, extra=()):
    """8-frame hand-held bursts (rotation up to 2 degrees, shifts up to 4 px, sub-pixel): at sigma 25 against
    the shipped denoiser on the first frame and the aligned robust mean; x2 (frames shrunk twice, sigma 5)
    against single-image sr-x2 on the first frame."""
    from darkroom.ops.burst import fuse_burst, load_burst_restorer, restore_burst

    denoiser = load_restorer("denoise", None, None)[0]
    upscaler = load_restorer("sr", None, 2)[0]
    shipped = load_burst_restorer()
    restorers = {"darkroom restore burst": shipped} if shipped else {}
    restorers.update({f"darkroom restore burst ({run})": load_burst_restorer(run) for run in extra})
    rows: dict[str, list] = {}
    for k, (_, image) in enumerate(images):
        burst, truth, _ = degrade.burst(image, frames, 25, generator=2000 + k)
        mp = truth[0].numel() / 1e6
        for method, fn in {
            "first frame, noisy": lambda: burst[0],
            "darkroom denoise on the first frame": lambda: restore_image("denoise", burst[0], denoiser, "auto")[0],
            "aligned robust mean": lambda: fuse_burst(burst, warn=lambda _: None)[0].clamp(0, 1),
            "aligned robust mean + darkroom denoise": lambda: restore_burst(
                burst, 1, lambda _: None, denoiser, restorer=None
            )[0],
            **{
                method: lambda net=net: restore_burst(burst, 1, lambda _: None, denoiser, restorer=net)[0]
                for method, net in restorers.items()
            },
        }.items():
            out, seconds = timed(fn)
            rows.setdefault(("sigma 25", method), []).append((psnr(out, truth), ssim(out, truth), seconds / mp))
        small, truth, _ = degrade.burst(image, frames, 5, scale=2, generator=3000 + k)
        for method, fn in {
            "bicubic x2 of the first frame": lambda: F.interpolate(
                small[0][None], scale_factor=2, mode="bicubic", align_corners=False
            )[0].clamp(0, 1),
            "darkroom sr-x2 on the first frame": lambda: restore_image("sr", small[0], upscaler)[0],
            "aligned robust mean + darkroom denoise + sr-x2": lambda: restore_burst(
                small, 2, lambda _: None, denoiser, upscaler, restorer=None
            )[0],
            **{
                f"{method} --scale 2": lambda net=net: restore_burst(
                    small, 2, lambda _: None, denoiser, upscaler, restorer=net
                )[0]
                for method, net in restorers.items()
            },
        }.items():
            out, seconds = timed(fn)
            rows.setdefault(("x2, sigma 5", method), []).append(
                (psnr(out, truth, 2, True), ssim(out, truth, 2, True), seconds / mp)
            )
    print(
        f"\nBurst restoration ({frames} frames; x2 scored on Y)\n\n| burst | method | PSNR dB | SSIM | s / megapixel |"
        "\n|---|---|---:|---:|---:|"
    )
    for (burst_kind, method), values in rows.items():
        p, q, t = np.mean(values, axis=0)
        print(f"| {burst_kind} | {method} | {p:.2f} | {q:.4f} | {t:.2f} |")


TASKS = ("denoise", "sr", "inpaint", "colorize", "burst")


def runs(option: str) -> list[str]:
    """The run folders of a comma-separated option."""
    return [run for run in option.split(",") if run]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="3 images, sigma 25 only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tasks", default=",".join(TASKS), help="which tables, comma-separated")
    parser.add_argument("--colorize", default="", help="runs to score beside the shipped colorizer, comma-separated")
    parser.add_argument("--inpaint", default="", help="runs to score beside the shipped inpainter, comma-separated")
    parser.add_argument("--sr", default="", help="sr runs to score beside the shipped models of their scale")
    parser.add_argument("--denoise", default="", help="denoise runs to score beside the shipped denoiser")
    parser.add_argument("--burst", default="", help="burst runs to score beside the shipped burst restorer")
    parser.add_argument(
        "--photos",
        default=",".join(PHOTO_SETS),
        help=f"photo sets, comma-separated: {', '.join(PHOTO_SETS)} (each where installed)",
    )
    args = parser.parse_args()
    tasks = set(args.tasks.split(","))
    if tasks - set(TASKS):
        raise SystemExit(f"unknown task(s) {', '.join(sorted(tasks - set(TASKS)))}; known: {', '.join(TASKS)}")
    torch.set_num_threads(args.threads)
    try:
        import bm3d  # noqa: F401

        with_bm3d = True
    except ImportError:
        with_bm3d = False
    print(
        f"machine: {platform.machine()}; torch {torch.__version__}; {args.threads} thread(s)"
        + ("" if with_bm3d else "; BM3D not installed (pip install bm3d) and left out")
    )
    t0 = time.time()
    for name in args.photos.split(","):
        if name not in PHOTO_SETS:
            raise SystemExit(f"unknown photo set {name}; known: {', '.join(PHOTO_SETS)}")
        limit = 3 if args.quick else {"imagenet": 100, "wallpapers": 8}[name]
        images = test_images(256, limit, name)
        if not images:
            print(f"\n## {name}: not on this machine ({PHOTO_SETS[name][0]}), left out")
            continue
        print(
            f"\n## Restoration on {len(images)} held-out photos: {PHOTO_SETS[name][1]}, 256x256 centre crops"
            + (f" ({', '.join(n for n, _ in images)})" if len(images) <= 10 else "")
        )
        if "denoise" in tasks:
            bench_denoise(images, [25] if args.quick else [15, 25, 50], with_bm3d, runs(args.denoise))
        if "sr" in tasks:
            bench_sr(images, [2, 4], runs(args.sr))
        if "inpaint" in tasks:
            bench_inpaint(images, 1 if args.quick else 3, runs(args.inpaint))
        if "burst" in tasks:
            bench_burst(images, extra=runs(args.burst))
        if "colorize" in tasks:  # a grayscale photo has no colour to score against
            bench_colorize(test_images(256, limit, name, colour=True), runs(args.colorize))
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
