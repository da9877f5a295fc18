"""Forensics: tamper localization versus Error Level Analysis and a noise-inconsistency map, same run.

    python benchmarks/forensics.py [--quick]          (or: darkroom bench forensics)

Test images (``--photos``), each set where installed: 256 px centre crops of the 100 test photos of
../shared/photos (ImageNet samples at a 256 px short side; every edit once), then 384 px centre crops of the
test-split wallpapers (scikit-image's `coffee` plus the test split of /usr/share/backgrounds at half
resolution; every edit twice), never used for training. Edits are those of `darkroom.data.tamper`, seeded
by (photo, edit, repetition), not by the training seed; splice donors are the other test photos. Each
edited photo is scored once saved as is and once recompressed as JPEG q75; the untouched photos (also with and without JPEG) are the negatives for
the image-level AUC. Metrics per edit type: pixel F1 at threshold 0.5 and at each image's best threshold
(means over images), pixel AUC (pooled pixels) and image-level AUC (score: mean of the 1 % most
suspicious pixels, the same rule for every method). ``--model A,B`` scores several tamper models side by side.

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
from restore import PHOTO_SETS, test_images  # noqa: E402

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


def untouched_lines(model, crops, zoom: float = 1.0, photos: str = "wallpapers") -> None:
    """What the model calls untouched photos: the whole test photos at three sizes, the test crops enlarged
    or noisy all over, and camera photographs (scikit-image's; per photo: probability / pixels above 0.5)."""
    whole = [image for _, image in test_images(0, 8, photos)]
    print()
    for factor in (1, 2, 4):
        label = f"whole untouched test photos{f', scaled 1/{factor}' if factor > 1 else ''}"
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


FOREIGN = "splice, donor from another photo set"
ROTATED = "copymove rotated 15-30 deg and scaled"


def make_cases(images, reps: int, foreign=None):
    """(edit, post, image, mask) for every test photo, edit and repetition, plus the clean negatives. Beyond
    the edits of ``darkroom.data.tamper``: a splice whose donor is one of ``foreign`` (photos of another set)
    and a copy-move always rotated 15-30 degrees and scaled by 0.8-0.9 or 1.1-1.25."""
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
            rng = np.random.default_rng([i, len(EDITS), 0])
            if foreign:
                other = foreign[i % len(foreign)][1]
                edited, mask, _ = tamper(image, rng, "splice", donor=other)
                cases.append((FOREIGN, post, finish(edited), mask))
            angle = float(rng.uniform(15, 30)) * (1 if rng.random() < 0.5 else -1)
            scale = float(rng.uniform(1.1, 1.25)) if rng.random() < 0.5 else float(rng.uniform(0.8, 0.9))
            edited, mask, _ = tamper(image, rng, "copymove", warp=(angle, scale))
            cases.append((ROTATED, post, finish(edited), mask))
    return cases


def tamper_tables(models: dict, cases, threads: int, zoom: float) -> None:
    """The per-edit tables of every darkroom model in ``models`` (label -> model) beside ELA and the noise map,
    without and with JPEG q75 after the edit, then each model's calibrated image-level call."""
    methods = {f"darkroom {label}": (lambda x, m=m: localize_at(x, m, zoom)) for label, m in models.items()}
    methods.update({"ELA (q90)": ela_map, "noise inconsistency": noise_map})
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
        for edit in (*dict.fromkeys(c[0] for c in cases if c[0] != "clean"), "all"):
            chosen = [
                k
                for k, c in enumerate(cases)
                if c[1] == post and (c[0] == edit or (edit == "all" and c[0] in EDITS))  # all: tamper's edits
            ]
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
        for label, model in models.items():
            image_calls(model, label, cases, [r[1] for r in results[f"darkroom {label}"]], post)
        ela = overall["ELA (q90)"]
        print(
            "\noverall pixel F1 @0.5: "
            + ", ".join(f"darkroom {label} {overall[f'darkroom {label}']:.3f}" for label in models)
            + f" vs ELA {ela:.3f}"
        )
    print("\nseconds per image: " + ", ".join(f"{m} {seconds[m] / len(cases):.2f}" for m in methods))


def image_calls(model, label: str, cases, raw_scores, post: str) -> None:
    """How often ``model``'s calibrated image-level call (inspect's ``score``) says edited, per edit."""
    raw = np.array(raw_scores)
    prob = model.calibrate(torch.tensor(raw)).numpy()
    clean = [k for k, c in enumerate(cases) if c[0] == "clean" and c[1] == post]
    edited = [k for k, c in enumerate(cases) if c[1] == post and c[0] != "clean"]
    found = {
        e: np.mean([prob[k] > 0.5 for k in edited if cases[k][0] == e])
        for e in dict.fromkeys(cases[k][0] for k in edited)
    }
    print(
        f"\ndarkroom {label} image-level call at 0.5 (calibrated `score` of inspect): untouched photos called "
        f"edited {np.mean(prob[clean] > 0.5):.0%} of {len(clean)} (raw top-1 % rule: {np.mean(raw[clean] > 0.5):.0%}); "
        f"edited images called edited {np.mean(prob[edited] > 0.5):.0%} (raw {np.mean(raw[edited] > 0.5):.0%}): "
        + ", ".join(f"{e} {v:.0%}" for e, v in found.items())
    )


SETS = {  # photo set -> (crop size, photos, repetitions of every edit)
    "imagenet": (256, 100, 1),
    "wallpapers": (384, 8, 2),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--model", default="tamper", help="shipped names or run folders of tamper models, comma-separated"
    )
    parser.add_argument("--photos", default=",".join(SETS), help=f"photo sets, comma-separated: {', '.join(SETS)}")
    parser.add_argument("--untouched", action="store_true", help="only the lines on untouched photos")
    parser.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="run darkroom's model on each image enlarged this many times (map shrunk back)",
    )
    parser.add_argument("--runs", default="runs", help="folder with the generated-image leave-one-family-out runs")
    parser.add_argument("--no-generated", action="store_true", help="leave out the generated-image tables")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    models, infos = {}, {}
    for name in args.model.split(","):
        models[name], infos[name] = load_run(name)
    for name in args.photos.split(","):
        if name not in SETS:
            raise SystemExit(f"unknown photo set {name}; known: {', '.join(SETS)}")
        size, limit, reps = SETS[name]
        images = test_images(size, 3 if args.quick else limit, name)
        if not images:
            print(f"\n## {name}: not on this machine ({PHOTO_SETS[name][0]}), left out")
            continue
        if args.untouched:
            for label, model in models.items():
                print(f"\n## {label}, untouched photos of {name}")
                untouched_lines(model, images, args.zoom, name)
            continue
        other = next(o for o in (*SETS, "scikit-image") if o != name)
        foreign = test_images(SETS[other][0], 8, other) if other in SETS else []
        cases = make_cases(images, 1 if args.quick else reps, foreign)
        shown = f": {', '.join(n for n, _ in images)}" if len(images) <= 10 else ""
        print(
            f"\n## Tamper localization on {len(images)} held-out photos ({PHOTO_SETS[name][1]}; {size}x{size} "
            f"centre crops{shown}), {len(cases)} images; {args.threads} thread(s)"
        )
        tamper_tables(models, cases, args.threads, args.zoom)
        if not args.quick:  # untouched photos as users send them: whole, smaller, enlarged, noisy, camera photos
            for label, model in models.items():
                print(f"\n### {label} on untouched photos")
                untouched_lines(model, images, args.zoom, name)
    zoom = f", run at zoom {args.zoom:g}" if args.zoom != 1 else ""
    for name, info in infos.items():
        print(f"model: {name} ({info.get('summary', '')[:120]}){zoom}")
    if not (args.untouched or args.no_generated):
        from generated import run as bench_generated

        bench_generated("gendetect", Path(args.runs), args.quick)
    print(f"\ntotal {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
