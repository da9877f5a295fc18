"""Forensics: tamper localization versus Error Level Analysis and a noise-inconsistency map, same run.

    python benchmarks/forensics.py [--quick]          (or: darkroom bench forensics)

Test images: 384 px centre crops of the test-split photos (scikit-image's `coffee` plus the test split of
/usr/share/backgrounds, at half resolution), never used for training. Each photo gets every edit of
`darkroom.data.tamper` twice (seeded; splice donors are the other test photos), once saved as is and
once recompressed as JPEG q75; the untouched photos (also with and without JPEG) are the negatives for
the image-level AUC. Metrics per edit type: pixel F1 at threshold 0.5 and at each image's best threshold
(means over images), pixel AUC (pooled pixels) and image-level AUC (score: mean of the 1 % most
suspicious pixels, the same rule for every method).

Then generated-image detection (benchmarks/generated.py): `gendetect` versus the Durall spectral baseline,
on seen and left-out families.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from restore import test_images  # noqa: E402

from darkroom.data import degrade  # noqa: E402
from darkroom.data.photos import SKIMAGE_PHOTOS, skimage_photo  # noqa: E402
from darkroom.data.tamper import EDITS, tamper  # noqa: E402
from darkroom.forensics.tampermap import best_f1, ela_map, localize, noise_map, pixel_scores  # noqa: E402
from darkroom.models import load_run  # noqa: E402
from darkroom.models.tamper import TamperLocalizer  # noqa: E402

# scikit-image's gray photographs: no darkroom model trains on them (data/photos.py takes its colour ones)
UNTOUCHED_GRAY = ("camera", "coins", "moon", "text", "clock", "grass", "gravel", "brick", "page")


def localize_at(image: torch.Tensor, model, zoom: float = 1.0) -> torch.Tensor:
    """The tamper map of ``image`` enlarged ``zoom`` times (bicubic) and shrunk back to its size: a test of
    whether showing photos less densely quiets the model (``--zoom``; 1 is the shipped behaviour)."""
    if zoom == 1:
        return localize(image, model)
    h, w = image.shape[-2:]
    big, _ = degrade.resize(image, (round(h * zoom), round(w * zoom)))
    return F.interpolate(localize(big, model)[None], size=image.shape[-2:], mode="area")[0]


def untouched_calls(model, images, zoom: float = 1.0) -> list[tuple[float, float, float]]:
    """For each untouched image: the calibrated probability of an edit, the share of pixels above 0.5 and the
    raw image score."""
    maps = [localize_at(image, model, zoom) for image in images]
    return [
        (
            float(model.image_prob(m[None])[0]),
            float((m > 0.5).float().mean()),
            float(TamperLocalizer.image_score(m[None])[0]),
        )
        for m in maps
    ]


def untouched_line(model, label: str, images, names=None, zoom: float = 1.0) -> None:
    calls = untouched_calls(model, images, zoom)
    detail = f" ({', '.join(f'{n} {p:.2f} / {f:.0%}' for n, (p, f, _) in zip(names, calls))})" if names else ""
    print(
        f"{label}: {sum(c[0] > 0.5 for c in calls)} of {len(calls)} called edited (raw top-1 % rule: "
        f"{sum(c[2] > 0.5 for c in calls)}), {np.mean([c[1] for c in calls]):.1%} of their pixels above 0.5{detail}"
    )


def untouched_lines(model, crops, zoom: float = 1.0) -> None:
    """What the model calls untouched photos: the whole test photos at three sizes, the test crops enlarged
    or noisy all over, and camera photographs (scikit-image's; per photo: probability / pixels above 0.5)."""
    whole = [image for _, image in test_images(0, 8)]
    print()
    for factor in (1, 2, 4):
        label = f"whole untouched test photos, {f'1/{2 * factor} of full' if factor > 1 else 'half'} resolution"
        untouched_line(model, label, [eight_bit(degrade.downscale(x, factor)[0]) for x in whole], zoom=zoom)

    def enlarged(mode):
        return lambda x, g: F.interpolate(F.avg_pool2d(x[None], 2), scale_factor=2, mode=mode)[0]

    pasts = {
        "enlarged x2 (nearest neighbour)": enlarged("nearest"),
        "enlarged x2 (bilinear)": enlarged("bilinear"),
        "Gaussian noise sigma 8": lambda x, g: x + torch.randn(x.shape, generator=g) * (8 / 255),
        "signal-dependent noise (sigma 12 at white)": lambda x, g: (
            x + torch.randn(x.shape, generator=g) * (x * (12 / 255) ** 2).sqrt()
        ),
    }
    for label, past in pasts.items():
        g = torch.Generator().manual_seed(0)
        untouched_line(
            model, f"untouched test crops {label}", [eight_bit(past(image, g)) for _, image in crops], zoom=zoom
        )
    colour = [torch.from_numpy(skimage_photo(n)).permute(2, 0, 1).float() / 255 for n in SKIMAGE_PHOTOS]
    splits = ", ".join(f"{n}: {split}" for n, split in SKIMAGE_PHOTOS.items())
    untouched_line(
        model, f"scikit-image's colour photographs, whole ({splits} split)", colour, list(SKIMAGE_PHOTOS), zoom=zoom
    )
    gray = [
        torch.from_numpy(np.asarray(getattr(skimage.data, name)(), np.float32) / 255)[None].expand(3, -1, -1)
        for name in UNTOUCHED_GRAY
    ]
    untouched_line(model, "untouched gray scikit-image photographs (never trained on)", gray, UNTOUCHED_GRAY, zoom=zoom)


def eight_bit(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def make_cases(images, reps: int):
    """(edit, post, image, mask) for every test photo, edit and repetition, plus the clean negatives."""
    cases = []
    for i, (_, image) in enumerate(images):
        donor = images[(i + 1) % len(images)][1]
        for post in ("none", "JPEG q75"):

            def finish(x):
                return degrade.jpeg(x, 75)[0] if post != "none" else x

            cases.append(("clean", post, finish(image), torch.zeros(1, *image.shape[-2:])))
            for e, edit in enumerate(EDITS):
                for r in range(reps):
                    rng = np.random.default_rng([i, e, r])
                    edited, mask, _ = tamper(image, rng, edit, donor=donor)
                    cases.append((edit, post, finish(edited), mask))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="tamper", help="shipped name or run folder of the tamper model")
    parser.add_argument("--untouched", action="store_true", help="only the lines on untouched photos")
    parser.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="run darkroom's model on each image enlarged this many times (map shrunk back)",
    )
    parser.add_argument("--runs", default="runs", help="folder with the generated-image leave-one-family-out runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    images = test_images(384, 3 if args.quick else 8)
    model, info = load_run(args.model)
    if args.untouched:
        return untouched_lines(model, images, args.zoom)
    cases = make_cases(images, 1 if args.quick else 2)
    methods = {
        "darkroom tamper": lambda x: localize_at(x, model, args.zoom),
        "ELA (q90)": ela_map,
        "noise inconsistency": noise_map,
    }
    print(
        f"## Tamper localization on {len(images)} held-out photos (384x384: {', '.join(n for n, _ in images)}), "
        f"{len(cases)} images; {args.threads} thread(s)"
    )
    results = {m: [] for m in methods}  # per case: (prob map, image score)
    seconds = {m: 0.0 for m in methods}
    for m, fn in methods.items():
        for _, _, image, _ in cases:
            start = time.perf_counter()
            prob = fn(image)
            seconds[m] += time.perf_counter() - start
            results[m].append((prob, float(TamperLocalizer.image_score(prob[None])[0])))
    for post in ("none", "JPEG q75"):
        print(f"\nRecompression after the edit: {post}\n")
        print(
            "| edit | method | pixel F1 @0.5 | pixel F1 best | pixel AUC | image AUC |\n|---|---|---:|---:|---:|---:|"
        )
        clean = [k for k, c in enumerate(cases) if c[0] == "clean" and c[1] == post]
        overall = {}
        for edit in (*EDITS, "all"):
            chosen = [k for k, c in enumerate(cases) if c[1] == post and c[0] != "clean" and edit in (c[0], "all")]
            for m in methods:
                f1 = np.mean([pixel_scores(results[m][k][0], cases[k][3])["f1"] for k in chosen])
                best = np.nanmean([best_f1(results[m][k][0].numpy(), cases[k][3].numpy()) for k in chosen])
                rng = np.random.default_rng(0)
                probs, truth = [], []
                for k in chosen:
                    p, t = results[m][k][0].flatten().numpy(), cases[k][3].flatten().numpy()
                    pick = rng.choice(len(p), min(len(p), 20000), replace=False)
                    probs.append(p[pick])
                    truth.append(t[pick])
                pixel_auc = roc_auc_score(np.concatenate(truth) > 0.5, np.concatenate(probs))
                scores = [results[m][k][1] for k in chosen + clean]
                image_auc = roc_auc_score([1] * len(chosen) + [0] * len(clean), scores)
                print(f"| {edit} | {m} | {f1:.3f} | {best:.3f} | {pixel_auc:.3f} | {image_auc:.3f} |")
                if edit == "all":
                    overall[m] = f1
        raw = np.array([results["darkroom tamper"][k][1] for k in range(len(cases))])
        prob = model.calibrate(torch.tensor(raw)).numpy()
        edited = [k for k, c in enumerate(cases) if c[1] == post and c[0] != "clean"]
        found = {e: np.mean([prob[k] > 0.5 for k in edited if cases[k][0] == e]) for e in EDITS}
        print(
            f"\ndarkroom image-level call at 0.5 (calibrated `score` of inspect): untouched photos called edited "
            f"{np.mean(prob[clean] > 0.5):.0%} of {len(clean)} (raw top-1 % rule: {np.mean(raw[clean] > 0.5):.0%}); "
            f"edited images called edited {np.mean(prob[edited] > 0.5):.0%} (raw {np.mean(raw[edited] > 0.5):.0%}): "
            + ", ".join(f"{e} {v:.0%}" for e, v in found.items())
        )
        ela = overall["ELA (q90)"]
        print(
            f"\noverall pixel F1 @0.5: darkroom {overall['darkroom tamper']:.3f} vs ELA {ela:.3f} "
            f"({overall['darkroom tamper'] / max(ela, 1e-6):.1f}x)"
        )
    if not args.quick:  # untouched photos as users send them: whole, smaller, enlarged, noisy, camera photos
        untouched_lines(model, images, args.zoom)
    print("\nseconds per image: " + ", ".join(f"{m} {seconds[m] / len(cases):.2f}" for m in methods))
    zoom = f", run at zoom {args.zoom:g}" if args.zoom != 1 else ""
    print(f"model: {args.model} ({info.get('summary', '')[:120]}){zoom}")
    from generated import run as bench_generated

    bench_generated("gendetect", Path(args.runs), args.quick)
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
