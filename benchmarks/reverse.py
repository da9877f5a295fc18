"""Reverse engineering: how was this image made? Learned estimators versus the classical ones, same run.

    python benchmarks/reverse.py [--quick]          (or: darkroom bench reverse)

1. Processing chain of real photos (shipped `chain` model), per photo set (``--photos``): 256 px centre
   crops of the 100 test photos of ../shared/photos (ImageNet samples at a 256 px short side), then 384 px
   centre crops of the test-split wallpapers (scikit-image's `coffee` plus the test split of
   /usr/share/backgrounds, at half resolution), never used for training, each processed with known settings. Noise sigma (0-255) versus scikit-image `estimate_sigma`
   (wavelet) and the PCA estimator of Chen et al. (2015), on plain noise, noise then JPEG q75, and blur
   sigma 1.5 then noise; JPEG quality from pixels; blur sigma versus the variance of the Laplacian mapped to
   a sigma by an isotonic fit on 20 train photos of the same set; resize factor (also after JPEG q75) versus the spectral
   resampling detector of Gallagher (2005) and always answering "none"; gamma versus "none".
2. Render parameters of `scenes` (shipped `sceneparams` model) on held-out test renders, clean, JPEG q50
   and noise sigma 10; shape accuracy of the `features-scenes` classifier alongside.
3. Model parsing and attribution on the generator zoo (benchmarks/parsing.py), when runs/zoo exists.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from restore import PHOTO_SETS, test_images  # noqa: E402

from darkroom.data import collate, degrade, load_dataset  # noqa: E402
from darkroom.data.base import to_tensor  # noqa: E402
from darkroom.data.chain import IDENTITY, apply_chain  # noqa: E402
from darkroom.forensics.classical import LaplacianBlur, laplacian_variance, pca_sigma, upscale_factor, wavelet_sigma  # noqa: E402
from darkroom.forensics.processing import UPSCALE_STRENGTH, estimate_processing  # noqa: E402
from darkroom.models import load_run  # noqa: E402
from darkroom.models.sceneparams import SYMMETRY, rotation_error  # noqa: E402


def processed(image, seed, **settings):
    chain = {**IDENTITY, **settings}
    return apply_chain(image, chain, seed=seed)


def table(title, header, rows):
    print(f"\n{title}\n\n| {' | '.join(header)} |\n|{'---|' * len(header)}")
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row) + " |")


def bench_noise(images, model, sigmas):
    variants = {
        "noise": lambda x, s, seed: processed(x, seed, noise_sigma=s),
        "noise + JPEG q75": lambda x, s, seed: processed(x, seed, noise_sigma=s, jpeg_quality=75),
        "blur 1.5 + noise": lambda x, s, seed: processed(x, seed, noise_sigma=s, blur_sigma=1.5),
    }
    methods = {
        "darkroom chain": lambda x: estimate_processing(x, model)["noise_sigma"],
        "skimage estimate_sigma": wavelet_sigma,
        "PCA (Chen et al.)": pca_sigma,
    }
    errors = {(v, m): [] for v in variants for m in methods}
    seconds = {m: 0.0 for m in methods}
    for v, make in variants.items():
        for i, (_, image) in enumerate(images):
            for sigma in sigmas:
                x = make(image, sigma, 1000 * i + int(sigma))
                for m, fn in methods.items():
                    t = time.perf_counter()
                    errors[(v, m)].append(abs(fn(x) - sigma))
                    seconds[m] += time.perf_counter() - t
    rows = []
    for m in methods:
        per = [float(np.mean(errors[(v, m)])) for v in variants]
        count = len(variants) * len(images) * len(sigmas)
        rows.append([m, *per, float(np.mean(per)), seconds[m] / count])
    table(
        f"Noise sigma, mean absolute error (0-255 scale; sigma in {sigmas}, {len(images)} photos)",
        ["method", *variants, "all", "s / image"],
        rows,
    )
    return {m: r[-2] for m, r in zip(methods, rows)}


def bench_jpeg(images, model, qualities):
    errors, detected, clean_flags = [], [], []
    for i, (_, image) in enumerate(images):
        clean = estimate_processing(processed(image, i), model)
        clean_flags.append(clean["jpeg_quality"] is None)
        for q in qualities:
            est = estimate_processing(processed(image, i, jpeg_quality=q), model)
            errors.append(abs(est["jpeg_quality_from_pixels"] - q))
            detected.append(est["jpeg_quality"] is not None)
    table(
        f"JPEG from pixels ({len(images)} photos, quality in {qualities})",
        ["quality MAE", "JPEGs detected", "PNGs called JPEG"],
        [[float(np.mean(errors)), f"{100 * np.mean(detected):.1f} %", f"{100 * (1 - np.mean(clean_flags)):.1f} %"]],
    )


def fit_laplacian(train_images, sigmas):
    scores, targets = [], []
    for i, (_, image) in enumerate(train_images):
        for s in sigmas:
            scores.append(laplacian_variance(processed(image, i, blur_sigma=s)))
            targets.append(s)
    return LaplacianBlur().fit(scores, targets)


def bench_blur(images, model, sigmas, calibrated):
    variants = {"blur": {}, "blur + JPEG q75": {"jpeg_quality": 75}, "blur + noise 10": {"noise_sigma": 10}}
    rows = []
    results = {v: {"chain": [], "laplacian": []} for v in variants}
    for v, extra in variants.items():
        for i, (_, image) in enumerate(images):
            for s in sigmas:
                x = processed(image, i, blur_sigma=s, **extra)
                results[v]["chain"].append(abs(estimate_processing(x, model)["blur_sigma"] - s))
                results[v]["laplacian"].append(abs(calibrated.predict(laplacian_variance(x)) - s))
    for name, key in (("darkroom chain", "chain"), ("variance of Laplacian (isotonic fit)", "laplacian")):
        per = [float(np.mean(results[v][key])) for v in variants]
        rows.append([name, *per, float(np.mean(per))])
    table(f"Blur sigma, mean absolute error in pixels (sigma in {sigmas})", ["method", *variants, "all"], rows)


def bench_factor(images, model, field, values, jpeg=None):
    """Mean |log2 error| of darkroom's estimate, of the chain network alone, of the spectral resampling
    detector alone (1 when it sees no period) and of always answering 1; ``jpeg``: recompress after."""
    errors = {"darkroom": [], "network": [], "spectral": [], "always 1": []}
    for i, (_, image) in enumerate(images):
        for value in values:
            x = processed(image, i, **{field: value})
            x = degrade.jpeg(x, jpeg)[0] if jpeg else x
            truth = math.log2(value)
            errors["darkroom"].append(abs(math.log2(estimate_processing(x, model)[field]) - truth))
            errors["network"].append(abs(math.log2(estimate_processing(x, model, upscale=False)[field]) - truth))
            factor, strength = upscale_factor(x, jpeg_grid=bool(jpeg))  # darkroom itself skips JPEGs
            errors["spectral"].append(abs(math.log2(factor if strength >= UPSCALE_STRENGTH else 1.0) - truth))
            errors["always 1"].append(abs(truth))
    return {k: float(np.mean(v)) for k, v in errors.items()}


def match(pred_objects, true_objects):
    """Pairs (pred, true) minimising centre distance (1 or 2 objects each)."""
    if len(pred_objects) == 2 and len(true_objects) == 2:
        d = lambda a, b: math.hypot(a["x"] - b["x"], a["y"] - b["y"])  # noqa: E731
        straight = d(pred_objects[0], true_objects[0]) + d(pred_objects[1], true_objects[1])
        swapped = d(pred_objects[1], true_objects[0]) + d(pred_objects[0], true_objects[1])
        return list(zip(pred_objects[::-1] if swapped < straight else pred_objects, true_objects))
    best = min(pred_objects, key=lambda p: math.hypot(p["x"] - true_objects[0]["x"], p["y"] - true_objects[0]["y"]))
    return [(best, true_objects[0])]


def bench_scenes(count):
    model, _ = load_run("sceneparams")
    classifier, _ = load_run("features-scenes")
    conditions = {
        "clean": lambda x: x,
        "JPEG q50": lambda x: degrade.jpeg(x, 50)[0],
        "noise sigma 10": lambda x: (degrade.gaussian_noise(x, 10, generator=0)[0] * 255).round() / 255,
    }
    rows = []
    for objects in (1, 2):
        data = load_dataset(f"scenes:objects={objects}", split="test")
        batch = collate([data[i] for i in range(count)])
        for name, fn in conditions.items():
            images = fn(batch["image"])
            preds = model.predict(images)
            stats = {k: [] for k in ("shape", "pos", "color", "size", "rot", "bg", "bgc", "count")}
            for pred, truth in zip(preds, batch["params"]):
                stats["count"].append(len(pred["objects"]) == objects)
                stats["bg"].append(pred["background"] == truth["background"])
                stats["bgc"].append(np.abs(np.subtract(pred["bg_color"], truth["bg_color"])).mean() * 255)
                for p, t in match(pred["objects"], truth["objects"]):
                    stats["shape"].append(p["shape"] == t["shape"])
                    stats["pos"].append(math.hypot(p["x"] - t["x"], p["y"] - t["y"]) * 32)
                    stats["color"].append(np.abs(np.subtract(p["color"], t["color"])).mean() * 255)
                    stats["size"].append(abs(p["size"] - t["size"]) * 32)
                    if SYMMETRY[t["shape"]] and p["shape"] == t["shape"]:
                        k = torch.tensor([float(SYMMETRY[t["shape"]])])
                        stats["rot"].append(
                            float(rotation_error(torch.tensor([p["rotation"]]), torch.tensor([t["rotation"]]), k))
                        )
            with torch.no_grad():
                judge = (classifier(images).argmax(1) == batch["label"]).float().mean().item()
            rows.append(
                [
                    objects,
                    name,
                    f"{100 * np.mean(stats['shape']):.1f} %",
                    f"{100 * judge:.1f} %",
                    float(np.mean(stats["pos"])),
                    float(np.percentile(stats["pos"], 95)),
                    float(np.mean(stats["color"])),
                    float(np.percentile(stats["color"], 95)),
                    float(np.mean(stats["size"])),
                    float(np.mean(stats["rot"])),
                    f"{100 * np.mean(stats['bg']):.1f} %",
                    float(np.mean(stats["bgc"])),
                    f"{100 * np.mean(stats['count']):.1f} %",
                ]
            )
    table(
        f"Scene parameters, {count} held-out test renders per row (32 px; errors in pixels and 0-255 levels)",
        [
            "objects",
            "input",
            "shape acc",
            "shape acc (features-scenes classifier)",
            "position err px",
            "p95",
            "colour err /255",
            "p95",
            "size err px",
            "rotation err deg",
            "background acc",
            "bg colour err /255",
            "object count acc",
        ],
        rows,
    )


SETS = {  # photo set -> (crop size, test photos, train-split spec for the Laplacian's isotonic fit)
    "imagenet": (256, 100, "photos:../shared/photos,split=train,resize=256"),
    "wallpapers": (384, 8, "photos:/usr/share/backgrounds,split=train,scale=0.5"),
}


def centre_crops(spec: str, size: int, limit: int) -> list:
    data = load_dataset(spec, patch=8)
    crops = []
    for key in data.photos[:limit]:
        photo = data._photo(key)
        h, w = photo.shape[:2]
        if min(h, w) >= size:
            top, left = (h - size) // 2, (w - size) // 2
            crops.append((key, to_tensor(photo[top : top + size, left : left + size])))
    return crops


def chain_tables(images, train_images, model, quick: bool) -> None:
    """The processing-chain tables on one photo set."""
    sigmas = [0, 10, 25, 50] if quick else [0, 5, 10, 15, 20, 30, 40, 50]
    bench_noise(images, model, sigmas)
    bench_jpeg(images, model, [30, 60, 90] if quick else [20, 30, 40, 50, 60, 70, 80, 90, 95])
    blur_sigmas = [0, 0.5, 1, 1.5, 2, 3] if not quick else [0, 1, 2]
    bench_blur(images, model, blur_sigmas, fit_laplacian(train_images, [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3]))
    rows = []
    factors = [0.5, 0.7, 1.0, 1.4, 2.0]
    for field, jpeg in (("resize_factor", None), ("resize_factor", 75), ("gamma", None)):
        err = bench_factor(images[:3] if quick else images, model, field, factors, jpeg)
        rows.append(
            [
                field + (f", then JPEG q{jpeg}" if jpeg else ""),
                err["darkroom"],
                err["network"],
                err["spectral"] if field == "resize_factor" else "-",
                err["always 1"],
            ]
        )
    table(
        "Resize factor and gamma: mean absolute error of log2 (values 0.5, 0.7, 1, 1.4, 2)",
        [
            "field",
            "darkroom (inspect)",
            "chain network alone",
            "spectral resampling detector (Gallagher 2005)",
            "always 1 (no change)",
        ],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--zoo", default="runs/zoo", help="generator zoo for the model-parsing tables")
    parser.add_argument("--photos", default=",".join(SETS), help=f"photo sets, comma-separated: {', '.join(SETS)}")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    quick = args.quick
    model, _ = load_run("chain")
    print("## Reverse engineering")
    for name in args.photos.split(","):
        if name not in SETS:
            raise SystemExit(f"unknown photo set {name}; known: {', '.join(SETS)}")
        size, limit, train_spec = SETS[name]
        images = test_images(size, 3 if quick else limit, name)
        if not images:
            print(f"\n### {name}: not on this machine ({PHOTO_SETS[name][0]}), left out")
            continue
        shown = f": {', '.join(n for n, _ in images)}" if len(images) <= 10 else ""
        print(
            f"\n### Processing chain on {len(images)} held-out photos ({PHOTO_SETS[name][1]}; {size}x{size} "
            f"centre crops{shown}); {args.threads} thread(s)"
        )
        chain_tables(images, centre_crops(train_spec, size, 6 if quick else 20), model, quick)
    bench_scenes(256 if quick else 1000)
    if Path(args.zoo).is_dir():
        from parsing import run as bench_parsing

        bench_parsing(Path(args.zoo), quick=quick)
    else:
        print(f"\n(model parsing skipped: no zoo at {args.zoo}; `darkroom zoo build --out {args.zoo}` makes one)")
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
