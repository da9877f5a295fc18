"""Fit the probability calibration of a ``gendetect`` model on validation photos and write it into its card.

    python scripts/calibrate_gendetect.py src/darkroom/weights/gendetect.json [--model RUN]

A detector can rank well (high average precision) and still call many camera photos generated at 0.5: the
photos it was trained on are not the photos it is used on. Here 128 px patches of the validation photos
(half resolution, never trained on, never tested on) are made into 64 px examples exactly as the benchmark
makes its test set (one real crop and one per family of ``darkroom.ops.generated``), scored as they are and
after JPEG q90; a logistic regression on the network's logit, the two classes weighted equally, gives
``logit_slope`` and ``logit_shift``: probability = sigmoid(slope * logit + shift).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from darkroom.data import degrade, load_dataset
from darkroom.models import load_run
from darkroom.ops.generated import FAMILIES, make_examples

CROP = 64  # the benchmark's test crops
JPEG = 90


@torch.no_grad()
def logits(model, images: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return np.concatenate([model(x[i:i + 256]).numpy() for i in range(0, len(x), 256)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("card", help="the model card (JSON) to calibrate, e.g. src/darkroom/weights/gendetect.json")
    parser.add_argument("--model", help="shipped name or run folder (default: the card's name)")
    parser.add_argument("--photos", default="/usr/share/backgrounds")
    args = parser.parse_args()
    card_path = Path(args.card)
    card = json.loads(card_path.read_text())
    model, _ = load_run(args.model or card["name"])
    model.eval()
    data = load_dataset(f"photos:{args.photos},split=val,scale=0.5", patch=128)
    images, labels = make_examples((data[i]["image"] for i in range(len(data))), CROP, per_patch=len(FAMILIES),
                                   seed=7)
    squeezed = (degrade.jpeg(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255, JPEG)[0]
                .permute(0, 2, 3, 1) * 255).round().byte().numpy()
    raw = np.concatenate([logits(model, images), logits(model, squeezed)])[:, None]
    generated = np.concatenate([labels, labels]) > 0
    fit = LogisticRegression(class_weight="balanced").fit(raw, generated)
    slope, shift = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    prob = fit.predict_proba(raw)[:, 1]
    before = 1 / (1 + np.exp(-raw[:, 0]))
    summary = {"photos": f"photos:{args.photos},split=val,scale=0.5 (128 px patches, {CROP} px crops, "
                         f"as they are and after JPEG q{JPEG})",
               "real": int((~generated).sum()), "generated": int(generated.sum()),
               "raw_real_above_half": round(float((before[~generated] > 0.5).mean()), 3),
               "real_above_half": round(float((prob[~generated] > 0.5).mean()), 3),
               "generated_above_half": round(float((prob[generated] > 0.5).mean()), 3)}
    card["model_config"].update(logit_slope=round(slope, 4), logit_shift=round(shift, 4))
    card["calibration"] = summary
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"slope {slope:.4f}, shift {shift:.4f}: {json.dumps(summary)} -> {card_path}")


if __name__ == "__main__":
    main()
