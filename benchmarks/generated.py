"""Generated-image detection on photographs: darkroom's `gendetect` versus the spectral baseline of Durall et
al. (azimuthal average of the log-magnitude FFT + logistic regression), retrained on the same data, same run.

    python benchmarks/generated.py [--quick] [--runs runs] [--tta]   (also run by bench forensics)

Test set: patches of the test-split photos (scikit-image's `coffee` and the test split of
/usr/share/backgrounds at half resolution; never used for training), each kept real and put through every
family of darkroom.ops.generated (denoise, sr-x2, sr-x4, colorize, inpaint), 64 px centre crops. The networks are
scored per family against the real crops: average precision (AP) and accuracy at the default threshold
0.5. "Seen" uses the detector trained on every family (shipped `gendetect`); "left out" uses the detector
trained without that family (`RUNS/gendetect-aug-no-FAMILY`: configs/gendetect.toml, then
configs/gendetect-aug.toml, both with holdout=K; `--lofo PREFIX` names other runs, `--lofo A,B` the runs
of several seeds, whose mean the table shows, each run's AP listed below it).
The spectral baseline is refitted, same run, on the detector's own training set (the npz its card names).
Then the same crops after a JPEG recompression (q90, q75) of every one, real or generated, with the
shipped detector, its JPEG expert (which `darkroom inspect` uses on JPEG files) and the baseline; last, the
test photos at their own size, whose real crops keep the JPEG traces of the files, as they are and (for the
JPEG expert) recompressed, so that their real crops are compressed twice.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.preprocessing import StandardScaler

from darkroom.data import degrade, load_dataset
from darkroom.data.spec import parse_spec
from darkroom.forensics.classical import spectrum_profile
from darkroom.io import to_uint8
from darkroom.models import load_run
from darkroom.ops.generated import FAMILIES, make_examples

TRAIN_SET = "runs/generated96/train.npz"  # when the detector's card names no npz training set
CROP = 64
LOFO_PREFIX = "gendetect-aug-no-"  # the leave-one-family-out runs of the shipped recipe
BLURS = (0.7, 1.0, 1.5, 2.0)  # out-of-focus real crops: how many are called generated
JPEGS = (90, 75)  # the robustness tables: every test crop, real or generated, recompressed at these qualities
JPEG_EXPERT = "gendetect-jpeg"  # inspect's detector for JPEG files (shipped name or run folder)
BACKGROUNDS = "/usr/share/backgrounds"  # the wallpaper photos, when installed (README)


def test_set(quick: bool, scale: float = 0.5):
    spec = f"photos:{BACKGROUNDS},split=test,scale={scale:g}" if os.path.isdir(BACKGROUNDS) else "photos:split=test"
    data = load_dataset(spec, patch=128)
    picks = range(0, len(data), 3 if quick else 1)
    return make_examples((data[i]["image"] for i in picks), CROP, per_patch=len(FAMILIES), seed=123, progress=False)


def as_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


def degraded(images: np.ndarray, op, *args) -> np.ndarray:
    """uint8 crops through a ``darkroom.data.degrade`` op, back to uint8 as a saved file would hold them."""
    return to_uint8(op(as_tensor(images), *args)[0])


def spectra(images: np.ndarray) -> np.ndarray:
    """Durall profiles of the centre CROP px (training images may be larger than the test crops; the
    profile's resolution follows the image size, so the baseline sees test-sized crops throughout)."""
    top, left = (images.shape[1] - CROP) // 2, (images.shape[2] - CROP) // 2
    return np.stack(
        [spectrum_profile(x[top : top + CROP, left : left + CROP].astype(np.float32) / 255, bins=32) for x in images]
    )


def spectral_detector(train_spectra, train_labels, holdout: int):
    keep = train_labels != holdout if holdout else np.ones(len(train_labels), bool)
    scaler = StandardScaler().fit(train_spectra[keep])
    lr = LogisticRegression(max_iter=3000, C=1.0).fit(scaler.transform(train_spectra[keep]), train_labels[keep] > 0)
    return lambda s: lr.predict_proba(scaler.transform(s))[:, 1]


@torch.no_grad()
def network_probs(model, images: np.ndarray, tta: bool = False) -> np.ndarray:
    """Calibrated probabilities for uint8 crops, as the model scores them (its ``tta`` included); ``tta``
    turns the model's own on: each crop scored by its mean logit over its 8 flips and quarter turns."""
    if tta:
        model.config = dataclasses.replace(model.config, tta=True)
    x = as_tensor(images)
    return model.probability(torch.cat([model(x[i : i + 256]) for i in range(0, len(x), 256)])).numpy()


def scores(probs, labels, family):
    pick = (labels == 0) | (labels == family)
    y = labels[pick] == family
    return average_precision_score(y, probs[pick]), float(((probs[pick] > 0.5) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", default="runs", help="folder with the leave-one-family-out runs")
    parser.add_argument("--model", default="gendetect", help="shipped name or run folder (all families)")
    parser.add_argument(
        "--lofo",
        default=LOFO_PREFIX,
        help="leave-one-family-out runs: RUNS/PREFIX + FAMILY; "
        "several prefixes, comma-separated (one per seed): their mean, and each run's AP",
    )
    parser.add_argument("--jpeg-model", default=JPEG_EXPERT, help="the JPEG expert (shipped name or run folder)")
    parser.add_argument(
        "--tta",
        action="store_true",
        help="every network scores a crop by its mean logit over "
        "the 8 flips and quarter turns (test-time augmentation; a card with tta = true does so "
        "anyway)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run(args.model, Path(args.runs), args.quick, args.lofo, args.jpeg_model, args.tta)


def run(
    model_name: str,
    runs: Path,
    quick: bool,
    lofo_prefix: str = LOFO_PREFIX,
    jpeg_model: str = JPEG_EXPERT,
    tta: bool = False,
) -> None:
    t0 = time.time()
    probs_of = partial(network_probs, tta=tta)
    model, info = load_run(model_name)
    spec = parse_spec(info["data"]) if info.get("data") else None
    train_set = spec.path if spec is not None and spec.source == "npz" else TRAIN_SET
    if not Path(train_set).is_file():
        print(f"\n(generated-image detection skipped: no {train_set}; experiments/make_generated_set.py writes it)")
        return
    images, labels = test_set(quick)
    with np.load(train_set, allow_pickle=False) as data:
        train_images, train_labels = data["images"], data["labels"]
    train_spectra, test_spectra = spectra(train_images), spectra(images)
    counts = np.bincount(labels, minlength=len(FAMILIES) + 1)
    print(
        f"\n## Generated-image detection on held-out photos\n\n{counts[0]} real 64 px crops and "
        + ", ".join(f"{counts[k + 1]} {f}" for k, f in enumerate(FAMILIES))
        + f"; spectral baseline fitted on the {len(train_labels)} training crops of {train_set} "
        f"({train_images.shape[1]} px; centre {CROP} px)"
        + ("; every network scores a crop by its mean logit over its 8 flips and quarter turns (--tta)" if tta else "")
    )
    seen_spectral = spectral_detector(train_spectra, train_labels, 0)
    seen_net, seen_spec = probs_of(model, images), seen_spectral(test_spectra)
    print(
        "\n| family | held out of training | darkroom AP | darkroom acc@0.5 | spectral AP | spectral acc@0.5 |"
        "\n|---|---|---:|---:|---:|---:|"
    )
    rows = {"seen": [], "left out": []}
    prefixes, per_run = lofo_prefix.split(","), {}
    for k, family in enumerate(FAMILIES, start=1):
        net, spec = scores(seen_net, labels, k), scores(seen_spec, labels, k)
        rows["seen"].append((*net, *spec))
        print(f"| {family} | no | {net[0]:.3f} | {net[1]:.3f} | {spec[0]:.3f} | {spec[1]:.3f} |")
        net, per_run[family] = left_out(runs, prefixes, k, images, labels, tta)
        if not per_run[family]:
            print(f"| {family} | yes | (no run at {', '.join(str(runs / (p + family)) for p in prefixes)}) | | | |")
            continue
        spec = scores(spectral_detector(train_spectra, train_labels, k)(test_spectra), labels, k)
        rows["left out"].append((*net, *spec))
        print(f"| {family} | yes | {net[0]:.3f} | {net[1]:.3f} | {spec[0]:.3f} | {spec[1]:.3f} |")
    for kind, values in rows.items():
        if values:
            mean = np.mean(values, axis=0)
            print(f"| mean | {kind} | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} | {mean[3]:.3f} |")
    per_run = {family: aps for family, aps in per_run.items() if aps}
    if len(prefixes) > 1 and per_run:
        print(f"\nLeft-out rows above: the mean over the runs of {len(prefixes)} prefixes (seeds); each run's AP:\n")
        for family, aps in per_run.items():
            print(
                f"- {family}: "
                + ", ".join(f"{name} {ap:.3f}" for name, ap in aps.items())
                + f" (spread {max(aps.values()) - min(aps.values()):.3f})"
            )
    real = labels == 0
    print(
        f"\nReal crops called generated at 0.5: darkroom {float((seen_net[real] > 0.5).mean()):.3f}, "
        f"spectral {float((seen_spec[real] > 0.5).mean()):.3f}"
    )
    blurred = {sigma: probs_of(model, degraded(images[real], degrade.gaussian_blur, sigma)) for sigma in BLURS}
    print(
        "Real crops called generated by darkroom after a Gaussian blur of sigma "
        + ", ".join(f"{sigma:g}: {float((p > 0.5).mean()):.3f}" for sigma, p in blurred.items())
        + " (soft photos must not read as network-made)"
    )
    experts = {"gendetect": model}
    try:
        experts["JPEG expert"], _ = load_run(jpeg_model)
    except ValueError:
        print(f"\n(no JPEG expert at {jpeg_model}: configs/gendetect-jpeg.toml trains one)")
    for quality in JPEGS:
        squeezed = degraded(images, degrade.jpeg, quality)
        probs = {name: probs_of(expert, squeezed) for name, expert in experts.items()}
        probs["spectral"] = seen_spectral(spectra(squeezed))
        family_table(
            f"The same test crops, every one (real or generated) recompressed as JPEG q{quality}; "
            "detectors trained on every family",
            f"Recompressed (q{quality}) real",
            probs,
            labels,
        )
    # The photos at their own size: most are JPEG files, so the real crops keep their JPEG traces, which
    # halving wipes out and a network's output lacks (`inspect` sends JPEG files to the JPEG expert).
    if os.path.isdir(BACKGROUNDS):
        images, labels = test_set(quick, scale=1)
        probs = {"gendetect": probs_of(model, images), "spectral": seen_spectral(spectra(images))}
        family_table(
            "The test photos at their own size (real crops keep the JPEG traces of the files), "
            f"{np.sum(labels == 0)} real crops",
            "Own-size real",
            probs,
            labels,
        )
        if "JPEG expert" in experts:  # its real training crops were compressed twice: does twice read as a photo?
            probs = {f"q{q}": probs_of(experts["JPEG expert"], degraded(images, degrade.jpeg, q)) for q in JPEGS}
            family_table(
                "The JPEG expert on those own-size crops recompressed (real crops now compressed twice, "
                "generated ones once)",
                "Own-size recompressed real",
                probs,
                labels,
            )
    print(f"\ngenerated: {time.time() - t0:.0f} s")


def left_out(
    runs: Path, prefixes: list[str], k: int, images, labels, tta: bool = False
) -> tuple[np.ndarray | None, dict]:
    """Family k's scores by the runs RUNS/PREFIX + family that exist, one per prefix (seed): their mean
    (AP, accuracy at 0.5), or None when there is none, and each run's AP by its folder name."""
    family, each, found = FAMILIES[k - 1], [], {}
    for prefix in prefixes:
        run_dir = runs / f"{prefix}{family}"
        if not (run_dir / "model.safetensors").is_file():
            continue
        model, _ = load_run(run_dir)
        if model.config.holdout != k:
            raise SystemExit(f"{run_dir} was trained with holdout={model.config.holdout}, expected {k} ({family})")
        each.append(scores(network_probs(model, images, tta), labels, k))
        found[run_dir.name] = each[-1][0]
    return (np.mean(each, axis=0) if each else None), found


def family_table(title: str, real_name: str, probs: dict, labels) -> None:
    """AP and accuracy at 0.5 per family for each detector's probabilities, then the real crops' false alarms."""
    print(
        f"\n{title}:\n\n| family | "
        + " | ".join(f"{n} AP | {n} acc@0.5" for n in probs)
        + " |\n|---|"
        + "---:|---:|" * len(probs)
    )
    rows = []
    for k, family in enumerate(FAMILIES, start=1):
        rows.append([v for p in probs.values() for v in scores(p, labels, k)])
        print(f"| {family} | " + " | ".join(f"{v:.3f}" for v in rows[-1]) + " |")
    print("| mean | " + " | ".join(f"{v:.3f}" for v in np.mean(rows, axis=0)) + " |")
    real = labels == 0
    print(
        f"\n{real_name} crops called generated at 0.5: "
        + ", ".join(f"{n} {float((p[real] > 0.5).mean()):.3f}" for n, p in probs.items())
    )


if __name__ == "__main__":
    main()
