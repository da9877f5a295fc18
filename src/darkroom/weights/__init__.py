"""Shipped weights: ``NAME.safetensors`` beside a model card ``NAME.json`` (data, steps, time, metrics)."""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent


def shipped_weights() -> list[dict]:
    cards = []
    for card in sorted(WEIGHTS_DIR.glob("*.json")):
        data = json.loads(card.read_text())
        if (WEIGHTS_DIR / f"{card.stem}.safetensors").is_file():
            cards.append({"name": card.stem, **data})
    return cards


def is_shipped(name: str) -> bool:
    """Whether weights named ``name`` ship with the package."""
    return (WEIGHTS_DIR / f"{name}.json").is_file() and (WEIGHTS_DIR / f"{name}.safetensors").is_file()
