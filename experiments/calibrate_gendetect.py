"""Fit the probability calibration of a ``gendetect`` model on validation photos and write it into its card.

    python experiments/calibrate_gendetect.py src/darkroom/weights/gendetect.json [--model RUN]
    python experiments/calibrate_gendetect.py src/darkroom/weights/gendetect-jpeg.json --versions 90,75

A detector can rank well (high average precision) and still call many camera photos generated at 0.5: the
photos it was trained on are not the photos it is used on. Here 128 px patches of the validation photos
(half resolution, never trained on, never tested on) are made into 64 px examples exactly as the benchmark
makes its test set (one real crop and one per family of ``darkroom.ops.generated``), scored as they are
(``--versions``: ``clean`` and/or JPEG qualities; the JPEG expert is fitted on q90 and q75 crops alone, as
it reads JPEG files alone, and ``gendetect`` on clean crops alone, as ``inspect`` sends it the images
without JPEG traces: fitted on clean and q90 crops, where it cannot tell the classes apart, the slope
flattens and it calls more real crops generated everywhere, README); a logistic regression on the
network's logit, the two classes weighted equally, gives ``logit_slope`` and ``logit_shift``: probability =
sigmoid(slope * logit + shift). The card also gets the share of real and generated crops above 0.5 for each version.

``--max-false-alarm F`` then lowers the shift, where the equal-weight fit calls more than a share F of the
real validation crops generated, until at most F of them are above 0.5 (the slope stays): the ranking (AP) is
unchanged, the threshold trades recall for fewer camera photos called generated.

``--halves max`` first standardises the two halves of the head (the residual's logit and the spectrum
profiles') by their mean and sd on the real clean crops and makes the logit the larger of the two
(``halves``, ``half_stats`` in the model's config); ``--temperature T`` makes it the smooth maximum
(``half_temperature``; ``experiments/half_temperature.py`` chooses T on the validation photos). A run trained
with a family left out (``holdout``) is fitted without that family's crops, so the left-out family never
shapes its own score:
    python experiments/calibrate_gendetect.py runs/RUN/run.json --model runs/RUN --halves max

``--tta`` turns on the model's test-time augmentation (``tta``: each crop scored by its mean logit over its 8
flips and quarter turns, as ``inspect`` will then score it) before the fit; ``--no-tta`` turns it off.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from calibration import fit_logistic, open_card, save_card

from darkroom.data import degrade, load_dataset
from darkroom.io import to_uint8
from darkroom.ops.generated import FAMILIES, make_examples

CROP = 64  # the benchmark's test crops


@torch.no_grad()
def in_batches(fn, x: torch.Tensor, size: int = 256) -> tuple[torch.Tensor, ...]:
    """``fn`` (a batch -> a tensor or a tuple of them) over x in batches, the outputs joined along the batch."""
    outs = [fn(x[i : i + size]) for i in range(0, len(x), size)]
    return tuple(torch.cat(h) for h in zip(*outs)) if isinstance(outs[0], tuple) else (torch.cat(outs),)


def logits(model, x: torch.Tensor) -> np.ndarray:
    return in_batches(model, x)[0].numpy()


def main() -> None:
    args, card_path, card, model = open_card(
        __doc__.splitlines()[0],
        "src/darkroom/weights/gendetect.json",
        {
            "--versions": {"default": "clean", "help": "comma-separated: clean and/or JPEG qualities"},
            "--halves": {"choices": ["sum", "max"], "help": "how the head's halves make the logit (default: as is)"},
            "--temperature": {"type": float, "default": 0.0, "help": "with --halves max: the smooth maximum's T"},
            "--max-false-alarm": {"type": float, "help": "at most this share of real validation crops above 0.5"},
            "--tta": {
                "action": argparse.BooleanOptionalAction,
                "help": "score each crop by its mean logit over its 8 "
                "flips and quarter turns (default: as the card says)",
            },
        },
    )
    fitted, summary = calibrate(
        model,
        *validation_examples(args.photos),
        args.versions.split(","),
        args.halves,
        photos=args.photos,
        temperature=args.temperature,
        max_false_alarm=args.max_false_alarm,
        tta=args.tta,
    )
    save_card(card_path, card, fitted, summary)


def validation_examples(photos: str) -> tuple[np.ndarray, np.ndarray]:
    """The calibration set: 128 px patches of the validation photos at half resolution, made into CROP px
    examples as the benchmark makes its test set -> (images (N, CROP, CROP, 3) uint8, labels)."""
    data = load_dataset(f"photos:{photos},split=val,scale=0.5", patch=128)
    return make_examples((data[i]["image"] for i in range(len(data))), CROP, per_patch=len(FAMILIES), seed=7)


def calibrate(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    versions: list[str],
    halves: str | None = None,
    photos: str = "/usr/share/backgrounds",
    temperature: float = 0.0,
    max_false_alarm: float | None = None,
    tta: bool | None = None,
):
    """Fit the model's calibration (and with ``halves``, how its halves combine) on ``validation_examples``
    of ``photos`` -> (fitted config values, summary); the model's config is updated in place."""
    keep = labels != model.config.holdout if model.config.holdout else np.ones(len(labels), bool)
    images, labels = images[keep], labels[keep]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    fitted = {} if tta is None else {"tta": tta}
    if halves:
        fitted["halves"] = halves
        if halves == "max":
            parts = [h.numpy() for h in in_batches(model.half_logits, x)]
            fitted["half_stats"] = [float(s) for h in parts for s in (h[labels == 0].mean(), h[labels == 0].std())]
            fitted["half_temperature"] = temperature
    model.config = dataclasses.replace(model.config, **fitted)
    raw = np.concatenate(
        [
            logits(
                model,
                x if v == "clean" else torch.from_numpy(to_uint8(degrade.jpeg(x, int(v))[0])).permute(0, 3, 1, 2) / 255,
            )
            for v in versions
        ]
    )
    generated = np.concatenate([labels] * len(versions)) > 0
    slope, shift, prob = fit_logistic(raw, generated)
    uncapped = float((prob[~generated] > 0.5).mean())
    if max_false_alarm is not None:
        shift, prob = capped_shift(slope, shift, raw, generated, max_false_alarm)
    model.config = dataclasses.replace(model.config, logit_slope=slope, logit_shift=shift)
    before = 1 / (1 + np.exp(-raw))
    summary = {
        "photos": f"photos:{photos},split=val,scale=0.5 (128 px patches, {CROP} px crops, "
        + ", ".join("as they are" if v == "clean" else f"JPEG q{v}" for v in versions)
        + ")",
        "real": int((~generated).sum()),
        "generated": int(generated.sum()),
        "raw_real_above_half": round(float((before[~generated] > 0.5).mean()), 3),
        "real_above_half": round(float((prob[~generated] > 0.5).mean()), 3),
        "generated_above_half": round(float((prob[generated] > 0.5).mean()), 3),
    }
    if max_false_alarm is not None:
        summary["max_false_alarm"] = max_false_alarm
        summary["real_above_half_uncapped"] = round(uncapped, 3)
    if model.config.holdout:
        summary["left_out_family"] = FAMILIES[model.config.holdout - 1] + " (not in the fit)"
    for v in versions:  # how each version fares at 0.5
        rows = np.repeat(versions, len(labels)) == v
        summary[f"at_{v}"] = {
            "real_above_half": round(float((prob[rows & ~generated] > 0.5).mean()), 3),
            "generated_above_half": round(float((prob[rows & generated] > 0.5).mean()), 3),
        }
    return {**fitted, "logit_slope": slope, "logit_shift": shift}, summary


def capped_shift(
    slope: float, shift: float, raw: np.ndarray, generated: np.ndarray, cap: float
) -> tuple[float, np.ndarray]:
    """The shift, lowered where needed so that at most ``cap`` of the real crops' sigmoid(slope * raw + shift)
    is above 0.5 -> (shift, the probabilities of every crop)."""
    if not 0 <= cap < 1:
        raise ValueError(f"--max-false-alarm must be in [0, 1), got {cap}")
    z = slope * raw[~generated]
    real = np.sort(z)[::-1]  # the real crops' calibrated logits before the shift, highest first
    k = int(np.floor(cap * len(real)))  # this many may stay above 0.5
    if k < len(real) and real[k] + shift > 0:
        shift = float(-real[k]) - 1e-6
    return shift, 1 / (1 + np.exp(-(slope * raw + shift)))


if __name__ == "__main__":
    main()
