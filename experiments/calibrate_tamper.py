"""Fit the image-level calibration of a ``tamper`` model on validation photos and write it into its card.

    python experiments/calibrate_tamper.py src/darkroom/weights/tamper.json [--photos /usr/share/backgrounds]

The raw image score (mean of the 1 % most suspicious pixels) of untouched photos is often above 0.5, so
0.5 was no threshold to read it by. Here every validation photo is scored untouched, at full size (up to
4000 px), at half size (and quarter size with ``--quarter``) and as 256 and 384 px crops, and every crop
again after each edit of ``darkroom.data.tamper``; everything once more after JPEG q75. A logistic
regression on logit(score), the two classes weighted equally, gives ``score_slope`` and ``score_shift``:
``image_prob`` = sigmoid(slope * logit(score) + shift). The test photos are never used (``darkroom bench forensics``
reports the calibrated accuracy on them).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from calibration import fit_logistic, open_card, save_card
from tqdm import tqdm

from darkroom.data import degrade, load_dataset
from darkroom.data.tamper import EDITS, tamper
from darkroom.forensics.tampermap import localize


def views(photo: torch.Tensor, rng, quarter: bool = False) -> dict[str, torch.Tensor]:
    """The untouched versions of one (3, H, W) photo that are scored."""
    out = {"full": photo} if max(photo.shape[-2:]) <= 4000 else {}
    half = F.interpolate(photo[None], scale_factor=0.5, mode="bilinear", antialias=True)[0].clamp(0, 1)
    out["half"] = half
    if quarter:
        out["quarter"] = F.interpolate(photo[None], scale_factor=0.25, mode="bilinear", antialias=True)[0].clamp(0, 1)
    for size in (256, 384):
        base = half if min(half.shape[-2:]) > size else photo
        if min(base.shape[-2:]) <= size:
            continue
        for c in range(4):
            top, left = (int(rng.integers(0, n - size)) for n in base.shape[-2:])
            out[f"crop{size}-{c}"] = base[:, top : top + size, left : left + size]
    return out


def main() -> None:
    args, card_path, card, model = open_card(
        __doc__.splitlines()[0],
        "src/darkroom/weights/tamper.json",
        {"--quarter": {"action": "store_true", "help": "score the untouched photos at quarter size too"}},
    )
    data = load_dataset(f"photos:{args.photos},split=val")
    scores, labels = [], []
    for i, key in enumerate(tqdm(data.photos, desc="val photos")):
        rng = np.random.default_rng(i)
        photo = torch.from_numpy(data._photo(key)).permute(2, 0, 1).float() / 255
        donor = torch.from_numpy(data._photo(data.photos[(i + 1) % len(data.photos)])).permute(2, 0, 1) / 255
        cases = []
        for name, view in views(photo, rng, args.quarter).items():
            cases.append((view, 0))
            if name.startswith("crop"):
                size = view.shape[-1]
                patch = F.interpolate(donor[None].float(), size=(size, size), mode="bilinear", antialias=True)[0]
                cases += [(tamper(view, rng, edit, donor=patch.clamp(0, 1))[0], 1) for edit in EDITS]
        for image, label in cases:
            for x in (image, degrade.jpeg(image, 75)[0]):
                scores.append(float(model.image_score(localize(x, model)[None])[0]))
                labels.append(label)
    scores, labels = np.array(scores), np.array(labels)
    logit = torch.logit(torch.tensor(scores).clamp(1e-4, 1 - 1e-4)).numpy()
    slope, shift, prob = fit_logistic(logit, labels)
    summary = {
        "photos": f"photos:{args.photos},split=val ({len(data.photos)} photos)",
        "untouched": int((labels == 0).sum()),
        "edited": int(labels.sum()),
        "raw_untouched_above_half": round(float((scores[labels == 0] > 0.5).mean()), 3),
        "untouched_above_half": round(float((prob[labels == 0] > 0.5).mean()), 3),
        "edited_above_half": round(float((prob[labels == 1] > 0.5).mean()), 3),
        "raw_threshold": round(1 / (1 + np.exp(shift / slope)), 4),
    }
    save_card(card_path, card, {"score_slope": slope, "score_shift": shift}, summary)


if __name__ == "__main__":
    main()
