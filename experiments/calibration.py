"""What the calibration scripts (calibrate_tamper.py, calibrate_gendetect.py, calibrate_modelparse.py) share:
the command line, the logistic fit of one score with both classes weighted equally, and writing the result
into the model card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from darkroom.models import load_run


def open_card(description: str, example: str, options: dict | None = None):
    """Parse ``CARD [--model M] [--photos DIR]`` and ``options`` (flag -> add_argument keywords) -> (args,
    card path, card, model in eval mode)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("card", help=f"the model card (JSON) to calibrate, e.g. {example}")
    parser.add_argument("--model", help="shipped name or run folder (default: the card's name)")
    parser.add_argument("--photos", default="/usr/share/backgrounds")
    for flag, keywords in (options or {}).items():
        parser.add_argument(flag, **keywords)
    args = parser.parse_args()
    card_path = Path(args.card)
    card = json.loads(card_path.read_text())
    model, _ = load_run(args.model or card["name"])
    return args, card_path, card, model.eval()


def fit_logistic(x: np.ndarray, positive: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Scores (N,) and labels (N,) -> slope, shift and the fitted probabilities of sigmoid(slope * x + shift)."""
    fit = LogisticRegression(class_weight="balanced").fit(x[:, None], positive)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0]), fit.predict_proba(x[:, None])[:, 1]


def save_card(card_path: Path, card: dict, config: dict, summary: dict) -> None:
    """Write the fitted ``config`` values into the card's model_config and ``summary`` as its calibration."""
    config = {
        k: [round(x, 4) for x in v]
        if isinstance(v, (list, tuple))
        else v
        if isinstance(v, (str, bool))
        else round(v, 4)
        for k, v in config.items()
    }
    card["model_config"].update(config)
    card["calibration"] = summary
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    print(f"{', '.join(f'{k} {v}' for k, v in config.items())}: {json.dumps(summary)} -> {card_path}")
